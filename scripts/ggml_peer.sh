#!/usr/bin/env bash
# The peer comparison: ggml's own `test-quantize-perf` tool (vec_dot of one long row, one thread)
# for TQ1_0, TQ2_0 (ggml's ternary formats) and BF16, recorded in the kernel_timings table of a
# qmoe results database beside qmoe's `kernels` runs (notebooks/codec_kernels.ipynb plots both).
#
#   GGML_DIR=/path/to/ggml scripts/ggml_peer.sh [DB]      # DB: default results/qmoe.db
#
# Builds only the test-quantize-perf target (cmake + ninja, Release) in $GGML_DIR/build-qmoe-<flavor>:
# native flags, or AVX2 only under QMOE_CPU_ISA=avx2 (as qmoe's kernels are capped). Runs
# `test-quantize-perf --op vec_dot_q --type T --size $GGML_SIZE` (default 65536000 values, the
# tool's 250 MB "MEM" size) and parses its "float32 throughput" (GiB/s of 4-byte values, so
# weights/s = GiB/s * 2^30 / 4) and "quantized throughput" (bytes of the format; bits per weight from
# ggml's block sizes, else 32 * quantized / float32). One run row (experiment 'ggml_peer', params: ggml commit, CPU, ISA,
# size) and one kernel_timings row per type: kernel ggml_<type>_vec_dot, rows 1, cols = size,
# batch 1, threads 1, seconds per call. Note: the tool's quantized data (TQ1_0: 14 MB at the
# default size) fits a large last-level cache; the run records the LLC so readers can tell.
# Each type runs GGML_REPEATS times (default 3), the best kept. Without GGML_DIR it says it skips
# and exits 0. Needs cmake, ninja, a C/C++ compiler, sqlite3.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DB="${1:-$ROOT/results/qmoe.db}"
SIZE="${GGML_SIZE:-65536000}"
REPEATS="${GGML_REPEATS:-3}"
TYPES=(tq1_0 tq2_0 bf16)

if [[ -z "${GGML_DIR:-}" ]]; then
  echo "ggml_peer: GGML_DIR is not set (a ggml checkout, e.g. git clone https://github.com/ggml-org/ggml); skipping"
  exit 0
fi
[[ -f "$GGML_DIR/tests/test-quantize-perf.cpp" ]] ||
  { echo "ggml_peer: GGML_DIR=$GGML_DIR has no tests/test-quantize-perf.cpp (not a ggml checkout?)" >&2; exit 1; }
for tool in cmake ninja sqlite3; do
  command -v "$tool" >/dev/null || { echo "ggml_peer: '$tool' is not installed" >&2; exit 1; }
done
(( SIZE % 256 == 0 )) || { echo "ggml_peer: GGML_SIZE=$SIZE must be a multiple of 256 (ggml's k-quant block)" >&2; exit 1; }

# --- the results database: created from results/schema.sql, or an existing one of that version.
schema_version() { sed -n 's/^INSERT INTO schema_version(version) VALUES (\([0-9]*\));$/\1/p' "$ROOT/results/schema.sql"; }
want=$(schema_version)
if [[ ! -s "$DB" ]]; then
  mkdir -p "$(dirname "$DB")"
  sqlite3 "$DB" < "$ROOT/results/schema.sql"
fi
have=$(sqlite3 "$DB" "SELECT version FROM schema_version" 2>/dev/null || echo "none")
[[ "$have" == "$want" ]] || {
  echo "ggml_peer: $DB has schema version '$have', this checkout's results/schema.sql is version $want;" \
       "open it once with this checkout's qmoe (e.g. 'qmoe results list --db $DB') to migrate it" >&2
  exit 1
}

# --- build only test-quantize-perf.
isa=$(grep -qw avx512f /proc/cpuinfo && echo avx512 || echo avx2)  # what a native build uses
flags=(-DGGML_NATIVE=ON)
flavor=native
if [[ "${QMOE_CPU_ISA:-}" == "avx2" ]]; then
  isa="avx2"
  flavor=avx2
  flags=(-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
         -DGGML_AVX512=OFF -DGGML_AVX512_VBMI=OFF -DGGML_AVX512_VNNI=OFF -DGGML_AVX512_BF16=OFF -DGGML_AVX_VNNI=OFF)
fi
build="$GGML_DIR/build-qmoe-$flavor"
cmake -S "$GGML_DIR" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release -DGGML_BUILD_TESTS=ON \
  -DGGML_BUILD_EXAMPLES=OFF "${flags[@]}" >"$build.configure.log" 2>&1 ||
  { echo "ggml_peer: cmake configure failed, see $build.configure.log" >&2; exit 1; }
cmake --build "$build" --target test-quantize-perf -j "${GGML_JOBS:-2}" >"$build.build.log" 2>&1 ||
  { echo "ggml_peer: build failed, see $build.build.log" >&2; exit 1; }
bin=$(find "$build" -type f -name test-quantize-perf -perm -u+x | head -1)
[[ -n "$bin" ]] || { echo "ggml_peer: no test-quantize-perf binary under $build" >&2; exit 1; }

commit=$(git -C "$GGML_DIR" rev-parse HEAD 2>/dev/null || echo unknown)
cpu=$(sed -n 's/^model name[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo | head -1)
llc=""
for d in /sys/devices/system/cpu/cpu0/cache/index*; do
  [[ "$(cat "$d/level" 2>/dev/null)" == 3 ]] && llc=$(cat "$d/size")
done
now=$(date -u +%Y-%m-%dT%H:%M:%SZ)
q() { printf "%s" "$1" | sed "s/'/''/g"; }  # SQL string literal body

# --- run and parse: "float32 throughput : X GB/s" and "quantized throughput : Y GB/s" (GiB/s).
sql="BEGIN;
INSERT INTO runs(key, experiment, config_yaml, host, started_at, ended_at, status, code_version)
  VALUES ('ggml_peer:$(q "$commit"):$isa:$now', 'ggml_peer',
          '$(q "ggml_dir: $GGML_DIR, size: $SIZE, types: ${TYPES[*]}")', '$(q "$(hostname)")', '$now', '@ENDED@', 'done',
          'ggml $(q "$commit")');
"
params=("measured.ggml_commit=$commit" "measured.cpu_model=$cpu" "measured.cpu_isa=$isa"
        "measured.cpu_isa_cap=${QMOE_CPU_ISA:-}" "measured.threads=1" "measured.llc=$llc"
        "measured.size=$SIZE" "measured.tool=test-quantize-perf --op vec_dot_q")
for kv in "${params[@]}"; do
  sql+="INSERT INTO run_params(run_id, key, value) VALUES (last_insert_rowid_run(), '$(q "${kv%%=*}")', '$(q "${kv#*=}")');
"
done
printf "ggml_peer: %s (%s), ggml %s, %s values, LLC %s\n" "$cpu" "$isa" "${commit:0:12}" "$SIZE" "${llc:-?}"
printf "  %-8s %12s %12s %14s %8s\n" type "f32 GiB/s" "q GiB/s" "G weights/s" "bits/w"
for t in "${TYPES[@]}"; do
  f32=""; qt=""
  for ((rep = 0; rep < REPEATS; ++rep)); do  # best of REPEATS (the tool reports the mean of its iterations)
    out=$("$bin" --op vec_dot_q --type "$t" --size "$SIZE" 2>&1) ||
      { echo "ggml_peer: $bin --type $t failed:" >&2; echo "$out" >&2; exit 1; }
    f=$(sed -n 's/.*float32 throughput[[:space:]]*:[[:space:]]*\([0-9.]*\) GB\/s.*/\1/p' <<<"$out" | tail -1)
    qq=$(sed -n 's/.*quantized throughput[[:space:]]*:[[:space:]]*\([0-9.]*\) GB\/s.*/\1/p' <<<"$out" | tail -1)
    [[ -n "$f" && -n "$qq" ]] || { echo "ggml_peer: cannot parse the throughput of $t from:" >&2; echo "$out" >&2; exit 1; }
    if [[ -z "$f32" ]] || awk -v a="$f" -v b="$f32" 'BEGIN { exit !(a > b) }'; then f32=$f; qt=$qq; fi
  done
  # Bits per weight: ggml's block sizes (TQ1_0 54 B, TQ2_0 66 B per 256 weights; BF16 2 B), else
  # the ratio of the two printed (rounded) throughputs.
  case "$t" in tq1_0) bits=1.6875 ;; tq2_0) bits=2.0625 ;; bf16) bits=16 ;; *) bits="" ;; esac
  read -r wps gbs sec bpw < <(awk -v f="$f32" -v qq="$qt" -v n="$SIZE" -v b="$bits" 'BEGIN {
    w = f * 1073741824 / 4; if (b == "") b = 32 * qq / f
    printf "%.6g %.6g %.6g %.4f\n", w, w * b / 8 / 1e9, n / w, b }')
  printf "  %-8s %12s %12s %14.2f %8s\n" "$t" "$f32" "$qt" "$(awk -v w="$wps" 'BEGIN{print w/1e9}')" "$bpw"
  sql+="INSERT INTO kernel_timings(run_id, kernel, device, rows, cols, batch, seconds, gbytes_per_s, weights_per_s,
  baseline, ratio, threads) VALUES (last_insert_rowid_run(), 'ggml_${t}_vec_dot', 'cpu:$(q "$cpu")', 1, $SIZE, 1,
  $sec, $gbs, $wps, '', 1, 1);
"
done
sql+="COMMIT;"
sql=${sql//@ENDED@/$(date -u +%Y-%m-%dT%H:%M:%SZ)}
# last_insert_rowid() changes after each insert: resolve the run id by its key instead.
run_key="ggml_peer:$(q "$commit"):$isa:$now"
sql=${sql//last_insert_rowid_run()/(SELECT id FROM runs WHERE key = \'$run_key\')}
sqlite3 -cmd ".timeout 30000" "$DB" "PRAGMA foreign_keys = ON; $sql"
id=$(sqlite3 "$DB" "SELECT id FROM runs WHERE key = '$run_key'")
echo "ggml_peer: recorded run $id in $DB (kernel_timings: ggml_{tq1_0,tq2_0,bf16}_vec_dot)"
