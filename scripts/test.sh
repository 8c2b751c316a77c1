#!/usr/bin/env bash
# The README's test command: install (with the test extra), lint, run the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
.venv/bin/ruff check .
.venv/bin/python -m pytest "$@"
