#!/usr/bin/env bash
# device=cuda through the CLI: where no GPU is usable (a CPU-only LibTorch, no driver = CUDA error
# 35), `qmoe run` and `qmoe sweep` stop with ONE error naming what is missing, exit non-zero and
# record nothing: the database keeps exactly what it had. Where a GPU is usable the same command
# must simply succeed. Bad spellings and experiments without a device fail at planning.
# Usage: device_cli_test.sh QMOE
set -uo pipefail
QMOE=$1
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
db=$tmp/qmoe.db
small=(experiment=matrix experiment.rows=8 experiment.cols=16 experiment.count=1 results.dir=$tmp/runs)
"$QMOE" run "${small[@]}" --db "$db" >/dev/null 2>&1 || { echo "FAIL: a valid CPU run failed"; exit 1; }
snapshot() { sqlite3 "$db" "SELECT id, key, status FROM runs ORDER BY id; SELECT count(*) FROM metrics"; }
before=$(snapshot)

expect_one_error() {  # what needle cmd...
  local what=$1 needle=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc -eq 0 ]]; then echo "FAIL ($what): exit 0"; fail=1; return 1; fi
  if [[ $out != *"$needle"* ]]; then echo "FAIL ($what): message lacks '$needle': $out"; fail=1; return 1; fi
  if [[ $(grep -c "$needle" <<<"$out") -ne 1 ]]; then echo "FAIL ($what): the error appears more than once: $out"; fail=1; return 1; fi
  echo "ok ($what): $out"
}

eval_cuda=(experiment=eval model=switch-tiny-8 device=cuda results.dir=$tmp/runs)
if out=$("$QMOE" run "${eval_cuda[@]}" --db "$db" 2>&1); then
  echo "note: a GPU is usable here; device=cuda ran"
  [[ $(sqlite3 "$db" "SELECT count(*) FROM runs r JOIN run_params p ON p.run_id = r.id AND p.key = 'device'
       WHERE r.experiment = 'eval' AND p.value = 'cuda' AND r.status = 'done'") == 1 ]] ||
    { echo "FAIL: the device=cuda run was not recorded as done"; fail=1; }
else
  for needle in "device=cuda:0: no usable GPU: " "docs/gpu.md"; do
    [[ $out == *"$needle"* ]] || { echo "FAIL (run): message lacks '$needle': $out"; fail=1; }
  done
  # What is missing, by name: the CPU-only LibTorch, and/or the driver (CUDA error 35) where the
  # CUDA runtime is compiled in.
  [[ $out == *"CPU-only LibTorch"* || $out == *"CUDA error"* ]] || { echo "FAIL (run): names nothing missing: $out"; fail=1; }
  [[ $(grep -c "no usable GPU" <<<"$out") -eq 1 ]] || { echo "FAIL (run): not one error: $out"; fail=1; }
  echo "ok (run): $out"
  expect_one_error "sweep" "no usable GPU" "$QMOE" sweep experiment=eval model=switch-tiny-8 device=cuda,cpu \
    results.dir=$tmp/runs --db "$db"
  [[ $(snapshot) == "$before" ]] || { echo "FAIL: the database changed: $(snapshot) (was $before)"; fail=1; }
fi

expect_one_error "spelling" "device = 'gpu'" "$QMOE" run experiment=eval device=gpu --db "$db"
expect_one_error "duplicate GPU" "listed twice" "$QMOE" run experiment=eval device=cuda:1,1 --db "$db"
expect_one_error "experiment without a device" "runs on the CPU only" "$QMOE" run "${small[@]}" device=cuda --db "$db"
exit $fail
