#!/usr/bin/env bash
# Install raycxr and run the main job on the built-in synthetic dataset with a local Ray:
# a small Ray Tune + Optuna search of the Mobile Freeze-Net (python -m raycxr.tune).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh
.venv/bin/python -m raycxr.tune --storage runs "$@"
