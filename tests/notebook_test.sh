#!/usr/bin/env bash
# Runs sweeps into a fresh database, executes notebooks/<name>.ipynb headless against it, and
# checks that the notebook wrote its figure. Usage: notebook_test.sh QMOE SRC NAME "sweep args"...
set -euo pipefail
QMOE=$1; SRC=$2; NAME=$3; shift 3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for sweep in "$@"; do
  # shellcheck disable=SC2086
  "$QMOE" sweep $sweep results.dir="$tmp/runs" --db "$tmp/qmoe.db" >>"$tmp/sweep.log" 2>&1 || { cat "$tmp/sweep.log"; exit 1; }
done
export QMOE_DB=$tmp/qmoe.db QMOE_FIGURES=$tmp/figures MPLBACKEND=Agg
cp "$SRC/notebooks/$NAME.ipynb" "$tmp/"
# Debian's jupyter, not whatever python3 is first on PATH (docs/build-notes.md#notebooks).
PATH=/usr/bin:$PATH jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=300 \
  --output "$tmp/executed.ipynb" "$tmp/$NAME.ipynb" >"$tmp/nb.log" 2>&1 || { cat "$tmp/nb.log"; exit 1; }
fig=$tmp/figures/$NAME.png
[[ -s $fig ]] || { echo "FAIL: $fig was not written"; exit 1; }
echo "PASS: $NAME executed and wrote $(stat -c %s "$fig") bytes of figure"
