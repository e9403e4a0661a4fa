#!/usr/bin/env bash
# Everything of qmoe's GPU path on one GPU, in one go (docs/gpu.md says what each check compares):
#   cuda_tests  the CUDA kernels against the CPU reference, and the host-side tests of the GPU path
#   kernels     fused dict kernel vs cuBLAS bf16 at the paper's six shapes; the GEMM-route threshold
#   eval        switch-tiny-8 loss on cuda vs cpu
#   compress    switch-tiny-8 dict compression on cuda vs cpu (and a CPU replicate for the bound)
#   runtime     generation with the packed experts on the GPU vs dense bf16 and the shared baseline
# Every run is recorded in $QMOE_GPU_DB (default results/gpu_check.db). Prints one verdict line per
# check; exit 0 only when all pass, 1 when one fails, 2 when there is no usable GPU (with the reason).
# Usage: scripts/gpu_check.sh [BUILD_DIR]      (default build/cuda; see docs/gpu.md to build it)
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build/cuda}
QMOE=$BUILD/qmoe
DB=${QMOE_GPU_DB:-results/gpu_check.db}
WORK=${QMOE_GPU_WORK:-results/gpu_check}
LOG=$WORK/log.txt
mkdir -p "$WORK"
: >"$LOG"
T0=$(date +%s)

no_gpu() { echo "gpu_check: NO GPU: $*" >&2; exit 2; }
failed=0
verdict() {  # NAME PASS|FAIL DETAILS
  printf '%-11s %-4s  %s\n' "$1" "$2" "$3"
  [ "$2" = PASS ] || failed=1
}
run() { echo "+ $*" >>"$LOG"; "$@" >>"$LOG" 2>&1; }
sql() { "$QMOE" results query "$1" --csv --db "$DB" 2>>"$LOG" | tail -n +2; }
# The id of the newest finished run of EXPERIMENT on DEVICE with SEED (and an extra run_params filter).
run_id() {
  sql "SELECT max(r.id) FROM runs r JOIN run_params d ON d.run_id = r.id AND d.key = 'device' AND d.value = '$2'
       WHERE r.experiment = '$1' AND r.status = 'done' AND r.seed = ${3:-0} ${4:-}"
}
metric() {  # RUN_ID NAME -> the run-level value
  sql "SELECT value FROM metrics WHERE run_id = $1 AND name = '$2' AND layer = '' AND expert = -1 AND matrix = ''
       AND domain = ''"
}
# |a - b| <= bound, in awk (prints the numbers either way).
within() { awk -v a="$1" -v b="$2" -v t="$3" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= t) }'; }

# ---- 0. A GPU, a CUDA build, and a LibTorch that sees the GPU ----
command -v nvidia-smi >/dev/null || no_gpu "nvidia-smi not found: no NVIDIA driver on this machine"
nvidia-smi -L >>"$LOG" 2>&1 || no_gpu "nvidia-smi -L failed (driver not loaded?): $(nvidia-smi -L 2>&1 | head -1)"
[ -x "$QMOE" ] || no_gpu "no qmoe binary at $QMOE: build it first (docs/gpu.md)"
[ -x "$BUILD/kernels/dict_matvec/dict_matvec_cuda_test" ] ||
  no_gpu "$BUILD has no CUDA kernels (configured without nvcc): docs/gpu.md"
# The smallest GPU run: qmoe's own device check names a CPU-only LibTorch or a driver error.
if ! probe=$("$QMOE" run experiment=kernels device=cuda experiment.shapes=64x64 experiment.batches=1 \
               experiment.gemm_batches= experiment.repeats=1 experiment.calls=1 --db "$WORK/probe.db" 2>&1); then
  echo "$probe" >>"$LOG"
  no_gpu "$(grep -m1 -E 'device=|error' <<<"$probe" || tail -1 <<<"$probe")"
fi
echo "gpu_check: $(nvidia-smi -L | head -1); build $BUILD; results in $DB; log $LOG"

# ---- 1. CUDA tests (none may skip on a GPU machine) ----
tests_ok=1 skipped=0 detail=""
for t in kernels/dict_matvec/dict_matvec_cuda_test kernels/dict_matvec/dict_matvec_test \
         kernels/dict_matvec/launch_plan_test framework/device/device_test serving/dict_arena_test \
         serving/placement_test methods/gptq/gptq_test; do
  out=$("$BUILD/$t" 2>&1); rc=$?
  echo "$out" >>"$LOG"
  n=$(grep -c '^\[  SKIPPED \]' <<<"$out" || true)
  [ "$rc" -eq 0 ] || { tests_ok=0; detail+=" $(basename "$t"):failed"; }
  [ "$n" -eq 0 ] || { skipped=$((skipped + n)); detail+=" $(basename "$t"):${n}skipped"; }
done
run ctest --test-dir "$BUILD" -R '^cuda_arch$' --output-on-failure || { tests_ok=0; detail+=" cuda_arch:failed"; }
if [ "$tests_ok" = 1 ] && [ "$skipped" = 0 ]; then verdict cuda_tests PASS "all passed, none skipped"
else verdict cuda_tests FAIL "${detail# }"; fi

# ---- 2. Kernel benchmark vs cuBLAS at the six paper shapes ----
if run "$QMOE" run experiment=kernels device=cuda experiment.batches=1,2,4,8,16 experiment.repeats=5 --db "$DB"; then
  id=$(run_id kernels cuda)
  ratios=$(sql "SELECT rows || 'x' || cols || ':' || printf('%.2f', ratio) FROM kernel_timings
                WHERE run_id = $id AND kernel = 'sub1_matvec_cuda' AND batch = 1 ORDER BY id" | tr '\n' ' ')
  slower=$(sql "SELECT count(*) FROM kernel_timings WHERE run_id = $id AND kernel = 'sub1_matvec_cuda'
                AND batch = 1 AND ratio <= 1")
  thr=$(metric "$id" cuda_gemm_threshold_tokens)
  if [ -n "$ratios" ] && [ "$slower" = 0 ]; then s=PASS; else s=FAIL; fi
  verdict kernels $s "speed-up vs cuBLAS bf16 at 1 token: ${ratios}; GEMM route pays from > ${thr} tokens"
else
  verdict kernels FAIL "experiment=kernels device=cuda failed (see $LOG)"
fi

# ---- 3. eval: the same model on both devices ----
if run "$QMOE" run experiment=eval model=switch-tiny-8 device=cuda --db "$DB" &&
   run "$QMOE" run experiment=eval model=switch-tiny-8 device=cpu --db "$DB"; then
  lg=$(metric "$(run_id eval cuda)" loss_nats) lc=$(metric "$(run_id eval cpu)" loss_nats)
  bound=$(awk -v l="$lc" 'BEGIN { printf "%.6f", l / 256 }')
  if within "$lg" "$lc" "$bound"; then s=PASS; else s=FAIL; fi
  verdict eval $s "loss cuda $lg vs cpu $lc (bound 2^-8 x loss = $bound)"
else
  verdict eval FAIL "experiment=eval failed (see $LOG)"
fi

# ---- 4. compress + eval in one pass: cuda vs cpu, and a CPU replicate for the bound ----
C="experiment=compress model=switch-tiny-8 method=dict experiment.calibration_mul=0.5"
SAVE=$WORK/tiny8-dict-cuda
rm -rf "$SAVE"
if run "$QMOE" run $C device=cuda experiment.save="$SAVE" --db "$DB" &&
   run "$QMOE" run $C device=cpu --db "$DB" && run "$QMOE" run $C device=cpu seed=1 --db "$DB"; then
  lg=$(metric "$(run_id compress cuda)" loss_nats) lc=$(metric "$(run_id compress cpu)" loss_nats)
  l1=$(metric "$(run_id compress cpu 1)" loss_nats)
  bound=$(awk -v l="$lc" -v r="$l1" 'BEGIN { d = l - r; if (d < 0) d = -d; b = l / 256; if (d > b) b = d; printf "%.6f", b }')
  if within "$lg" "$lc" "$bound"; then s=PASS; else s=FAIL; fi
  verdict compress $s "loss cuda $lg vs cpu $lc (cpu seed 1: $l1; bound $bound)"
else
  verdict compress FAIL "experiment=compress failed (see $LOG)"
fi

# ---- 5. runtime: generation with packed experts on the GPU vs dense bf16 and the shared baseline ----
R="experiment=runtime model=switch-tiny-8 experiment.compressed=$SAVE experiment.tokens=64 experiment.samples=6"
if [ -f "$SAVE/qmoe.json" ] &&
   run "$QMOE" run $R device=cuda experiment.baseline=dense --db "$DB" &&
   run "$QMOE" run $R device=cuda experiment.baseline=shared --db "$DB" &&
   run "$QMOE" run $R device=cpu experiment.baseline=dense --db "$DB"; then
  dense=$(run_id runtime cuda 0 "AND EXISTS (SELECT 1 FROM run_params b WHERE b.run_id = r.id AND b.key = 'experiment.baseline' AND b.value = 'dense')")
  shared=$(run_id runtime cuda 0 "AND EXISTS (SELECT 1 FROM run_params b WHERE b.run_id = r.id AND b.key = 'experiment.baseline' AND b.value = 'shared')")
  ag=$(metric "$dense" simulated_token_agreement) ac=$(metric "$(run_id runtime cpu)" simulated_token_agreement)
  od=$(metric "$dense" runtime_overhead) os=$(metric "$shared" runtime_overhead)
  if awk -v g="$ag" -v c="$ac" 'BEGIN { exit !(g >= c) }'; then s=PASS; else s=FAIL; fi
  verdict runtime $s "overhead vs dense bf16 $od, vs shared expert $os; kernel-vs-dequantized token agreement cuda $ag, cpu $ac"
else
  verdict runtime FAIL "experiment=runtime failed or no compressed model at $SAVE (see $LOG)"
fi

echo "gpu_check: $(( $(date +%s) - T0 )) s; $([ $failed = 0 ] && echo 'all checks passed' || echo 'some checks FAILED')"
exit $failed
