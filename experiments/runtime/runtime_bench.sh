#!/usr/bin/env bash
# End-to-end generation benchmark at real expert shapes: the shipped models' experts are tiny
# (128x192), so their runtime rows say little about the kernel. This writes a SYNTHETIC checkpoint
# with switch-base-8's shapes (d_model 768, d_ff 3072, 12 heads, 8 experts, vocab 32128, MoE every
# other block; LAYERS+LAYERS blocks) with `qmoe synth` (timing needs shapes, not skill), compresses
# its experts to the dictionary format, and runs the `runtime` experiment against the dense model
# and the shared-expert baseline in one sweep. The overhead (compressed vs baseline, same run) lands
# in the database and is printed. Needs only the README's build: no fetched corpora.
#
#   experiments/runtime/runtime_bench.sh [QMOE] [DB] [LAYERS] [TOKENS] [DTYPE]
#     QMOE    the binary (default build/release/qmoe)
#     DB      results database (default results/qmoe.db)
#     LAYERS  encoder = decoder blocks (default 4: 2 MoE layers per stack)
#     TOKENS  new tokens per prompt (default 64)
#     DTYPE   compute dtype of the generation runs, compressed and baseline alike (default float32;
#             bfloat16 compares against the dense model in bf16)
#     more arguments are overrides of the runtime sweep, e.g. experiment.kernel_path=avx512_bf16dot
# Takes ~5-10 min on 2 cores. Work files go to a temporary folder, removed at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QMOE=$(realpath "${1:-$ROOT/build/release/qmoe}")
DB=$(realpath -m "${2:-$ROOT/results/qmoe.db}")
LAYERS=${3:-4}
TOKENS=${4:-64}
DTYPE=${5:-float32}
[[ -x $QMOE ]] || { echo "runtime_bench: no qmoe binary at $QMOE (build first: the README's first command)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cd "$ROOT"
model=(model=switch-base-8 model.path="$tmp/b8" model.num_layers="$LAYERS" model.num_decoder_layers="$LAYERS")

echo "runtime_bench: writing a synthetic switch-base-8-shaped checkpoint, $LAYERS+$LAYERS blocks"
"$QMOE" synth model=switch-base-8 out="$tmp/b8" layers="$LAYERS" >"$tmp/synth.log" 2>&1 || { cat "$tmp/synth.log"; exit 1; }

echo "runtime_bench: compressing its experts to the dictionary format (ternary RTN inside)"
"$QMOE" run experiment=compress "${model[@]}" method=dict method.quantizer=rtn \
  experiment.calibration_samples=16 data.n_validation_per_domain=2 experiment.save="$tmp/dict" \
  results.dir="$tmp/runs" --db "$tmp/compress.db" >"$tmp/compress.log" 2>&1 || { cat "$tmp/compress.log"; exit 1; }

echo "runtime_bench: generating $TOKENS tokens per prompt in $DTYPE, compressed vs dense and vs shared expert"
"$QMOE" sweep experiment=runtime "${model[@]}" model.dtype="$DTYPE" experiment.compressed="$tmp/dict" \
  experiment.baseline=dense,shared experiment.tokens="$TOKENS" results.dir="$tmp/runs" "${@:6}" --db "$DB" |
  grep -v '^ ' || true
sqlite3 -header -column "$DB" "
  SELECT r.id AS run, p.value AS baseline, m.name, printf('%.4f', m.value) AS value, m.unit
  FROM runs r JOIN metrics m ON m.run_id = r.id
  JOIN run_params p ON p.run_id = r.id AND p.key = 'experiment.baseline'
  WHERE r.experiment = 'runtime' AND r.status = 'done'
    AND r.id IN (SELECT run_id FROM run_params WHERE key = 'model.path' AND value = '$tmp/b8')
    AND (m.name LIKE 'runtime_overhead%' OR m.name LIKE 'tokens_per_second%')
  ORDER BY r.id DESC, m.name LIMIT 12"
