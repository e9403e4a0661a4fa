#!/usr/bin/env bash
# Builds the libFuzzer targets of fuzz/ with clang (ASan + UBSan) into build/fuzz and runs each for
# $QMOE_FUZZ_SECONDS (default 30) seconds on its committed corpus fuzz/corpus/<target>/ (new inputs go
# to a temp folder; the committed corpus is only read). Exits non-zero on the first crash, leak,
# timeout or violated invariant and prints the reproducer's path.
# Needs clang and libclang-rt-dev (libFuzzer); see fuzz/README.md.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
secs=${QMOE_FUZZ_SECONDS:-30}
build=$root/build/fuzz
command -v clang++ >/dev/null || { echo "fuzz_ci: clang++ not found (apt-get install clang libclang-rt-dev)"; exit 1; }
# compressed_fuzz links the method and kernel libraries of the gcc build (fuzz/README.md): built and
# run when build/release holds them, as it does after the README's commands.
gcc_build=$root/build/release
gcc_flag=() extra=()
if [[ -f $gcc_build/serving/libqmoe_serving.a ]]; then gcc_flag=(-DQMOE_FUZZ_GCC_BUILD="$gcc_build") extra=(compressed_fuzz)
else echo "fuzz_ci: no gcc build at $gcc_build: compressed_fuzz skipped"; fi
CC=clang CXX=clang++ cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DQMOE_FUZZ=ON \
  -DQMOE_CUDA=OFF -DQMOE_BUILD_TESTS=OFF -DQMOE_BUILD_BENCH=OFF "${gcc_flag[@]}" >/dev/null
targets=(safetensors_fuzz pickle_fuzz hf_config_fuzz config_fuzz results_shard_fuzz codec_decode_fuzz "${extra[@]}")
cmake --build "$build" -j 2 --target "${targets[@]}"
export LSAN_OPTIONS=suppressions=$root/fuzz/lsan.supp
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in "${targets[@]}"; do
  work=$(mktemp -d)
  corpus=$root/fuzz/corpus/$t
  [[ -d $corpus ]] || corpus=
  if ! (cd "$work" && "$build/fuzz/$t" -max_total_time="$secs" -timeout=10 -rss_limit_mb=4096 -print_final_stats=1 \
          "$work" $corpus >"$work/log" 2>&1); then
    echo "fuzz_ci: $t FAILED; reproducer and log in $work:"; tail -40 "$work/log"; exit 1
  fi
  echo "fuzz_ci: $t ok, $(grep -o 'number_of_executed_units: [0-9]*' "$work/log" | grep -o '[0-9]*') runs in ${secs}s"
  rm -rf "$work"
done
