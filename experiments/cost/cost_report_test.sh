#!/usr/bin/env bash
# `qmoe report cost` end to end at toy sizes: a clear error without a cost run; after a quick cost
# run (tiny shape only, small token counts) and a compress run of the shipped switch-tiny-8, with
# GPTQ and again with RTN inside dict, one projection row per configs/model entry (unmeasured shapes
# marked as scaled) and one projected-vs-measured row per compress run, each at its method's rates. Timings are not checked (a shared machine's
# load sets them); docs/cost-model.md and experiments/cost/cost_check.sh cover accuracy.
# Usage: cost_report_test.sh QMOE REPO_ROOT
set -euo pipefail
QMOE=$1
ROOT=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/qmoe.db
fail() { echo "FAIL: $*"; exit 1; }

if "$QMOE" report cost --db "$db" >"$tmp/empty.log" 2>&1; then fail "report cost succeeded without a cost run"; fi
grep -q "no finished cost run" "$tmp/empty.log" || { cat "$tmp/empty.log"; fail "unclear error without a cost run"; }
if "$QMOE" report cost --db "$db" --gpu-tflops x >"$tmp/bad.log" 2>&1; then fail "report cost accepted --gpu-tflops x"; fi
grep -q "gpu-tflops expects a positive number" "$tmp/bad.log" || { cat "$tmp/bad.log"; fail "unclear error for a bad flag"; }

"$QMOE" run experiment=cost experiment.models=switch-tiny-8 experiment.tokens=64 experiment.repeats=1 \
  experiment.io_mib=1 experiment.samples=4 results.dir="$tmp/runs" --db "$db" >"$tmp/cost.log" 2>&1 ||
  { cat "$tmp/cost.log"; fail "cost run failed"; }
"$QMOE" run experiment=compress model=switch-tiny-8 method=dict experiment.calibration_samples=8 \
  data.n_validation_per_domain=2 results.dir="$tmp/runs" --db "$db" >"$tmp/compress.log" 2>&1 ||
  { cat "$tmp/compress.log"; fail "compress run failed"; }
# The same with RTN inside dict: its compress run is checked against the RTN cost run's rates.
"$QMOE" run experiment=cost method=dict method.quantizer=rtn experiment.models=switch-tiny-8 experiment.tokens=64 \
  experiment.repeats=1 experiment.io_mib=1 experiment.samples=4 results.dir="$tmp/runs" --db "$db" >"$tmp/cost-rtn.log" 2>&1 ||
  { cat "$tmp/cost-rtn.log"; fail "RTN cost run failed"; }
"$QMOE" run experiment=compress model=switch-tiny-8 method=dict method.quantizer=rtn data.n_validation_per_domain=2 \
  results.dir="$tmp/runs" --db "$db" >"$tmp/compress-rtn.log" 2>&1 || { cat "$tmp/compress-rtn.log"; fail "RTN compress run failed"; }
"$QMOE" report cost --db "$db" >"$tmp/report.log" 2>&1 || { cat "$tmp/report.log"; fail "report cost failed"; }
cat "$tmp/report.log"

for f in "$ROOT"/configs/model/*.yaml; do
  name=$(basename "$f" .yaml)
  grep -q "^$name " "$tmp/report.log" || fail "no projection row for $name"
done
grep -q "^switch-tiny-8 .* measured *$" "$tmp/report.log" || fail "switch-tiny-8's rates are not marked measured"
grep -q "^switch-c-2048 .*scaled from 128x192:float32" "$tmp/report.log" || fail "switch-c-2048 is not marked as scaled"
# The check table: run 2 (the GPTQ compress run), switch-tiny-8, 4+4 blocks, 8 calibration samples,
# at cost run 1's rates; run 4 (RTN, no calibration) at cost run 3's.
grep -Eq "^2 +switch-tiny-8 +4\+4 +8 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +1 \(dict/gptq\)" "$tmp/report.log" ||
  fail "no projected-vs-measured row for the GPTQ compress run at the GPTQ cost run's rates"
grep -Eq "^4 +switch-tiny-8 +4\+4 +0 +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ +3 \(dict/rtn\)" "$tmp/report.log" ||
  fail "no projected-vs-measured row for the RTN compress run at the RTN cost run's rates"
echo PASS
