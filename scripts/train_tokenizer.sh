#!/usr/bin/env bash
# Trains the project tokenizer data/tokenizer/spiece.model with spm_train (out of process; see
# framework/data/README.md) on the TRAIN split of every domain in data/cache/splits/.
# Needs scripts/fetch_corpora.sh first. Writes spiece.model, spiece.vocab and vocab.json.
#
# T5 conventions: pad 0, eos 1, unk 2, no bos; unigram; nmt_nfkc normalization. The 100 T5
# sentinels <extra_id_k> are NOT pieces of the .model (as in T5's own spiece.model): the loader
# appends them as ids pieces+99-k. vocab.json records the sizes and the embedding rows (padded to
# a multiple of 64).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/data/tokenizer"
PIECES=${PIECES:-8000}
SENTINELS=100
mkdir -p "$OUT" "$ROOT/data/cache/tokenizer"
TXT="$ROOT/data/cache/tokenizer/train.txt"
start=$(date +%s)

# One line per paragraph; paragraphs over 2000 bytes are cut after sentence ends because
# spm_train skips lines over max_sentence_length (4192 bytes).
/usr/bin/python3 - "$ROOT/data/cache/splits" "$TXT" <<'PY'
import glob, json, re, sys
src, out = sys.argv[1], sys.argv[2]
n = 0
with open(out, "w", encoding="utf-8") as f:
    for path in sorted(glob.glob(f"{src}/*.train.jsonl")):
        for line in open(path, encoding="utf-8"):
            for para in json.loads(line)["text"].split("\n"):
                parts, cur = re.split(r"(?<=[.!?])\s+", para), ""
                for p in parts:
                    if cur and len((cur + " " + p).encode()) > 2000:
                        f.write(cur + "\n"); n += 1; cur = p
                    else:
                        cur = (cur + " " + p) if cur else p
                if cur.strip():
                    f.write(cur + "\n"); n += 1
print(f"train_tokenizer: {n} training lines in {out}")
PY

# Relative paths: spm_train records them in the model's TrainerSpec, so the bytes stay
# independent of where the repository is checked out.
cd "$ROOT"
spm_train --input=data/cache/tokenizer/train.txt --model_prefix=data/tokenizer/spiece --model_type=unigram \
  --vocab_size="$PIECES" --character_coverage=0.9995 --normalization_rule_name=nmt_nfkc \
  --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 --pad_piece="<pad>" --eos_piece="</s>" \
  --unk_piece="<unk>" --input_sentence_size=0 --num_threads=2 --minloglevel=1 \
  > "$ROOT/data/cache/tokenizer/spm_train.log" 2>&1

VOCAB=$((PIECES + SENTINELS))
PADDED=$(( (VOCAB + 63) / 64 * 64 ))
SHA=$(sha256sum "$OUT/spiece.model" | cut -d' ' -f1)
cat > "$OUT/vocab.json" <<JSON
{
  "model": "spiece.model",
  "model_sha256": "$SHA",
  "pieces": $PIECES,
  "sentinels": $SENTINELS,
  "vocab_size": $VOCAB,
  "embedding_rows": $PADDED,
  "pad_id": 0,
  "eos_id": 1,
  "unk_id": 2,
  "first_sentinel_id": $((VOCAB - 1))
}
JSON
echo "train_tokenizer: $OUT/spiece.model ($PIECES pieces + $SENTINELS sentinels = $VOCAB, embedding rows $PADDED) in $(( $(date +%s) - start )) s"
