#!/usr/bin/env bash
# The README's test command: install (with the test extra), lint, run the test suite:
# the fast tests first (seconds each), then the ones that train or start Ray (marked slow).
# Arguments go to pytest as one run, e.g. scripts/test.sh tests/cv -x
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install.sh test
.venv/bin/ruff check .
if [ "$#" -gt 0 ]; then
  exec .venv/bin/python -m pytest "$@"
fi
.venv/bin/python -m pytest -m "not slow"
.venv/bin/python -m pytest -m slow
