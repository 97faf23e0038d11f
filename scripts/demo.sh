#!/usr/bin/env bash
# Main job, one command on a fresh machine: set up (venv + editable install, CPU torch) and run the demo
# (`acoustic-ssl demo --preset tiny --out demo_out` unless told otherwise). Extra arguments go to
# `acoustic-ssl demo`, e.g. `bash scripts/demo.sh --preset small --out small_out`. Rerunning resumes after the
# last finished stage.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/acoustic-ssl ]; then
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -e .
fi
OUT=demo_out
args=("$@")
for ((i = 0; i < ${#args[@]}; i++)); do
    case "${args[$i]}" in
        --out) OUT="${args[$((i + 1))]:-$OUT}" ;;
        --out=*) OUT="${args[$i]#--out=}" ;;
    esac
done
# Without --preset/--config the demo uses the preset DIR was started with, else tiny.
.venv/bin/acoustic-ssl demo --out "$OUT" "$@"
echo "Report: $(cd "$OUT" && pwd)/report.html (also report.md and report.json; one-by-one commands: $OUT/commands.sh)"
