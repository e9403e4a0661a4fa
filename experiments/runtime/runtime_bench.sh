#!/usr/bin/env bash
# End-to-end generation benchmark at real expert shapes: the shipped models' experts are tiny
# (128x192), so their runtime rows say little about the kernel. This builds a Switch model with
# switch-base-8's block shapes (d_model 768, d_ff 3072, 12 heads, 8 experts, MoE every other block;
# LAYERS+LAYERS blocks, the project's 8128-row vocabulary), random weights (`qmoe train` with one
# step: timing needs shapes, not skill), compresses its experts to the dictionary format, and runs
# the `runtime` experiment against the dense model and the shared-expert baseline in one sweep.
# The overhead (compressed vs baseline, same run) lands in the database and is printed.
#
#   experiments/runtime/runtime_bench.sh [QMOE] [DB] [LAYERS] [TOKENS]
#     QMOE    the binary (default build/release/qmoe)
#     DB      results database (default results/qmoe.db)
#     LAYERS  encoder = decoder blocks (default 4: 2 MoE layers per stack)
#     TOKENS  new tokens per prompt (default 64)
# Takes ~5-10 min on 2 cores. Work files go to a temporary folder, removed at the end.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
QMOE=$(realpath "${1:-$ROOT/build/release/qmoe}")
DB=$(realpath -m "${2:-$ROOT/results/qmoe.db}")
LAYERS=${3:-4}
TOKENS=${4:-64}
[[ -x $QMOE ]] || { echo "runtime_bench: no qmoe binary at $QMOE (build first)" >&2; exit 2; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
name=synthetic-base-8-l$LAYERS

# A config directory with one more model entry; everything else is the project's.
cp -r "$ROOT/configs" "$tmp/configs"
arch="d_model: 768
d_ff: 3072
num_heads: 12
d_kv: 64
num_layers: $LAYERS
num_decoder_layers: $LAYERS
num_experts: 8
encoder_sparse_step: 2
decoder_sparse_step: 2
vocab_size: 8128
tie_word_embeddings: true
dtype: float32
relative_attention_num_buckets: 32
relative_attention_max_distance: 128
expert_capacity: 0"
printf 'name: %s\npath: %s\n%s\nlayer_norm_epsilon: 1.0e-06\nis_full_sparse: false\npad_token_id: 0\neos_token_id: 1\n' \
  "$name" "$tmp/models/$name" "$arch" >"$tmp/configs/model/$name.yaml"
# One training step from the seed: random weights in Hugging Face layout.
sed -n '/^data:/,$p' "$ROOT/configs/train/switch-tiny-8.yaml" |
  sed -e 's/^  max_steps:.*/  max_steps: 1/' -e 's/^  time_budget_s:.*/  time_budget_s: 0/' \
      -e 's/^  batch_tokens:.*/  batch_tokens: 1024/' -e 's/^  eval_samples_per_domain:.*/  eval_samples_per_domain: 1/' \
      -e "s|^  out_dir:.*|  out_dir: $tmp/runs|" -e "s|^  export_dir:.*|  export_dir: $tmp/models|" \
      -e 's/^  max_shard_mb:.*/  max_shard_mb: 2000/' >"$tmp/recipe.tail"
{ printf 'model:\n  name: %s\n' "$name"; sed 's/^/  /' <<<"$arch"; cat "$tmp/recipe.tail"; } >"$tmp/recipe.yaml"
cd "$ROOT"
echo "runtime_bench: building $name (random weights)"
"$QMOE" train --recipe "$tmp/recipe.yaml" >"$tmp/train.log" 2>&1 || { cat "$tmp/train.log"; exit 1; }

echo "runtime_bench: compressing its experts to the dictionary format (ternary RTN inside)"
"$QMOE" run --configs "$tmp/configs" experiment=compress model="$name" method=dict method.quantizer=rtn \
  experiment.calibration_samples=16 data.n_validation_per_domain=2 experiment.save="$tmp/dict" \
  results.dir="$tmp/runs" --db "$tmp/compress.db" >"$tmp/compress.log" 2>&1 || { cat "$tmp/compress.log"; exit 1; }

echo "runtime_bench: generating $TOKENS tokens per prompt, compressed vs dense and vs shared expert"
"$QMOE" sweep --configs "$tmp/configs" experiment=runtime model="$name" experiment.compressed="$tmp/dict" \
  experiment.baseline=dense,shared experiment.tokens="$TOKENS" results.dir="$tmp/runs" --db "$DB" |
  grep -v '^ ' || true
sqlite3 -header -column "$DB" "
  SELECT r.id AS run, p.value AS baseline, m.name, printf('%.4f', m.value) AS value, m.unit
  FROM runs r JOIN metrics m ON m.run_id = r.id
  JOIN run_params p ON p.run_id = r.id AND p.key = 'experiment.baseline'
  WHERE r.experiment = 'runtime' AND r.status = 'done'
    AND r.id IN (SELECT run_id FROM run_params WHERE key = 'model.name' AND value = '$name')
    AND (m.name LIKE 'runtime_overhead%' OR m.name LIKE 'tokens_per_second%')
  ORDER BY r.id DESC, m.name LIMIT 12"
