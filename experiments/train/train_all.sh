#!/usr/bin/env bash
# Trains the shipped models concurrently in the background (one LibTorch thread each), logs to
# build/train/logs/<name>.log. Usage: experiments/train/train_all.sh [--resume] [names...]
# Env: OpenBLAS misdetects this VM's CPU as Prescott (SSE3 kernels, ~2x slower), so the core type
# is forced; glibc's malloc is kept from returning big tensors to the OS each step (page faults).
set -euo pipefail
cd "$(dirname "$0")/../.."
TOOL=${QMOE_TRAIN_TOOL:-build/train/experiments/train/qmoe_train_tool}
RESUME=""
if [[ "${1:-}" == "--resume" ]]; then RESUME=--resume; shift; fi
NAMES=("$@")
[[ ${#NAMES[@]} -gt 0 ]] || NAMES=(switch-tiny-8 switch-tiny-32 switch-tiny-128)
mkdir -p build/train/logs
if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-SKYLAKEX}; fi
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export MALLOC_MMAP_THRESHOLD_=33554432 MALLOC_TRIM_THRESHOLD_=4294967296 MALLOC_TOP_PAD_=268435456
for n in "${NAMES[@]}"; do
  nohup "$TOOL" --recipe "configs/train/$n.yaml" $RESUME > "build/train/logs/$n.log" 2>&1 &
  echo "$n: pid $! -> build/train/logs/$n.log"
done
