#!/usr/bin/env bash
# Runs the given test binaries with the CPU capped to AVX2: qmoe's own dispatch (QMOE_CPU_ISA,
# kernels/common/cpu_features.h) and LibTorch's vectorized kernels (ATEN_CPU_CAPABILITY). A machine
# with AVX-512 thereby also checks the paths an AVX2-only CPU (e.g. AMD Zen 3) takes.
# Usage: isa_capped.sh TEST_BINARY...   (ctest passes the kernel and model tests, see CMakeLists.txt)
set -uo pipefail
export QMOE_CPU_ISA=${QMOE_CPU_ISA:-avx2} ATEN_CPU_CAPABILITY=${ATEN_CPU_CAPABILITY:-avx2}
[[ $# -gt 0 ]] || { echo "isa_capped.sh: no test binaries given" >&2; exit 2; }
fail=0
for bin in "$@"; do
  if out=$("$bin" --gtest_brief=1 2>&1); then
    echo "ok ($(basename "$bin"), QMOE_CPU_ISA=$QMOE_CPU_ISA ATEN_CPU_CAPABILITY=$ATEN_CPU_CAPABILITY): $(grep -E '^\[  PASSED' <<<"$out")"
  else
    echo "FAIL ($(basename "$bin"), QMOE_CPU_ISA=$QMOE_CPU_ISA ATEN_CPU_CAPABILITY=$ATEN_CPU_CAPABILITY):"
    echo "$out"
    fail=1
  fi
done
exit $fail
