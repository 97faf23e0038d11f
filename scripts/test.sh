#!/usr/bin/env bash
# Set up (venv + editable install, CPU torch) and run the whole test suite: the README's test command.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -e '.[test]'
.venv/bin/ruff check src tests benchmarks scripts
.venv/bin/python -m pytest -q "$@"
