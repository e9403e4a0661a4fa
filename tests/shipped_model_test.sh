#!/usr/bin/env bash
# The paper's Table 4 relations on the shipped switch-tiny-8, at reduced sample counts so it stays a
# test: GPTQ beats RTN at ternary and at 2-bit, BF16 is best, and the compress notebook and
# `qmoe report table4` render the runs. Usage: shipped_model_test.sh QMOE SRC
set -euo pipefail
QMOE=$1; SRC=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=$tmp/qmoe.db
# Workers share the database: no run may hold its write lock for long (a 2 s timeout makes a
# regression fail deterministically instead of after 30 s of contention).
export QMOE_DB_BUSY_TIMEOUT_MS=2000
common=(experiment=compress model=switch-tiny-8 data.n_validation_per_domain=24
        experiment.calibration_samples=256 results.dir=$tmp/runs)
"$QMOE" sweep "${common[@]}" method=bf16,ternary --db "$db" -j 2 >"$tmp/sweep1.log" 2>&1 || { cat "$tmp/sweep1.log"; exit 1; }
"$QMOE" sweep "${common[@]}" method=rtn method.bits=2 --db "$db" >"$tmp/sweep2.log" 2>&1 || { cat "$tmp/sweep2.log"; exit 1; }
"$QMOE" sweep "${common[@]}" method=gptq method.grid=minmax,ternary method.bits=2 --db "$db" -j 2 >"$tmp/sweep3.log" 2>&1 || { cat "$tmp/sweep3.log"; exit 1; }

loss() {  # loss METHOD [GRID]
  local grid_clause=""
  [[ -n ${2:-} ]] && grid_clause="AND r.id IN (SELECT run_id FROM run_params WHERE key='method.grid' AND value='$2')"
  sqlite3 "$db" "SELECT m.value FROM runs r JOIN metrics m ON m.run_id = r.id WHERE r.status='done'
                 AND r.method='$1' AND m.name='loss_nats' AND m.domain='' $grid_clause"
}
bf16=$(loss bf16); rtn2=$(loss rtn); rtn3=$(loss ternary); q2=$(loss gptq minmax); q3=$(loss gptq ternary)
echo "loss: bf16 $bf16  rtn-2bit $rtn2  rtn-tern $rtn3  gptq-2bit $q2  gptq-tern $q3"
check() { awk "BEGIN { exit !($1) }" || { echo "FAIL: $2"; exit 1; }; }
check "$q3 < $rtn3" "ternary GPTQ ($q3) is not below ternary RTN ($rtn3)"
check "$q2 < $rtn2" "2-bit GPTQ ($q2) is not below 2-bit RTN ($rtn2)"
check "$q2 < $q3" "2-bit GPTQ ($q2) is not below ternary GPTQ ($q3)"
check "$bf16 <= $q2" "BF16 ($bf16) is above 2-bit GPTQ ($q2)"

# The compressed model written by the pipeline evaluates standalone to the loss the pass computed:
# the same weights and samples; only fp32 summation order differs (the pass runs one sample at a
# time, eval pads batches), so agreement to 1e-4 relative is expected.
"$QMOE" run "${common[@]}" method=dict experiment.save="$tmp/dict" --db "$db" >"$tmp/dict.log" 2>&1 || { cat "$tmp/dict.log"; exit 1; }
"$QMOE" run experiment=eval model=switch-tiny-8 model.path="$tmp/dict" data.n_validation_per_domain=24 \
  results.dir="$tmp/runs" --db "$db" >"$tmp/eval.log" 2>&1 || { cat "$tmp/eval.log"; exit 1; }
in_pass=$(loss dict)
standalone=$(sqlite3 "$db" "SELECT m.value FROM runs r JOIN metrics m ON m.run_id = r.id WHERE r.experiment='eval'
                            AND m.name='loss_nats' AND m.domain=''")
echo "dict: in-pass loss $in_pass, standalone eval of the saved model $standalone"
check "($in_pass - $standalone)^2 < (1e-4 * $in_pass)^2" "saved compressed model evaluates to $standalone, the pass said $in_pass"

"$QMOE" report table4 --db "$db" | tee "$tmp/table4.txt"
grep -q "QMoE" "$tmp/table4.txt" || { echo "FAIL: report table4 has no QMoE row"; exit 1; }

export QMOE_DB=$db QMOE_FIGURES=$tmp/figures MPLBACKEND=Agg
cp "$SRC/notebooks/compress_tables.ipynb" "$tmp/"
PATH=/usr/bin:$PATH jupyter nbconvert --to notebook --execute --ExecutePreprocessor.timeout=300 \
  --output "$tmp/executed.ipynb" "$tmp/compress_tables.ipynb" >"$tmp/nb.log" 2>&1 || { cat "$tmp/nb.log"; exit 1; }
[[ -s $tmp/figures/compress_tables.png ]] || { echo "FAIL: the notebook wrote no figure"; exit 1; }
echo "PASS"
