#!/usr/bin/env bash
# Bad input gets one clear error naming the file/key, a non-zero exit, and loses nothing written.
set -uo pipefail
QMOE=$1
SRC=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
expect_error() {  # expect_error "what" "message substring" cmd...
  local what=$1 needle=$2; shift 2
  local out rc
  out=$("$@" 2>&1); rc=$?
  if [[ $rc -eq 0 ]]; then echo "FAIL ($what): exit 0"; fail=1; return; fi
  if [[ $out != *"$needle"* ]]; then echo "FAIL ($what): message lacks '$needle': $out"; fail=1; return; fi
  if [[ $(grep -c "error" <<<"$out") -gt 2 ]]; then echo "FAIL ($what): more than one error: $out"; fail=1; return; fi
  echo "ok ($what): $out"
}
db=$tmp/qmoe.db
small=(experiment=matrix experiment.rows=8 experiment.cols=16 experiment.count=1 results.dir=$tmp/runs)
"$QMOE" run "${small[@]}" --db "$db" >/dev/null 2>&1 || { echo "FAIL: a valid run failed"; exit 1; }
rows_before=$(sqlite3 "$db" "SELECT count(*) FROM metrics")

expect_error "unknown key" "did you mean 'method.bits'" "$QMOE" run experiment=matrix method=rtn method.bitz=2 --db "$db"
expect_error "wrong type" "bits" "$QMOE" run experiment=matrix method=rtn method.bits=two --db "$db"
expect_error "unknown option" "did you mean 'rtn'" "$QMOE" run method=rtm --db "$db"
expect_error "bad override" "=" "$QMOE" run "=3" --db "$db"
expect_error "missing file" "nope.safetensors" "$QMOE" run experiment.source=safetensors experiment.weights=$tmp/nope.safetensors "${small[@]}" --db "$db"

cp -r "$SRC/configs" "$tmp/configs"
printf 'experiment:\n  type: matrix\n   rows: [1, 2\n' >"$tmp/configs/experiment/broken.yaml"
expect_error "malformed yaml" "broken.yaml" "$QMOE" run experiment=broken --configs "$tmp/configs" --db "$db"
printf 'name: rtn\nbitz: 3\n' >"$tmp/configs/method/typo.yaml"
expect_error "unknown key in a file" "typo.yaml" "$QMOE" run method=typo --configs "$tmp/configs" --db "$db"

head -c 4096 /dev/urandom >"$tmp/corrupt.db"
expect_error "corrupt database" "corrupt.db" "$QMOE" run "${small[@]}" --db "$tmp/corrupt.db"

# A database locked by another writer for longer than the busy timeout.
/usr/bin/python3 - "$db" <<'PY' &
import sqlite3, sys, time
c = sqlite3.connect(sys.argv[1], isolation_level=None)
c.execute("BEGIN EXCLUSIVE")
time.sleep(float(__import__("os").environ.get("QMOE_LOCK_SECONDS", "45")))
PY
locker=$!
sleep 1
QMOE_DB_BUSY_TIMEOUT_MS=2000 expect_error "locked database" "qmoe.db" "$QMOE" run seed=7 "${small[@]}" --db "$db"
kill $locker 2>/dev/null; wait $locker 2>/dev/null

# A real checkpoint takes its own tokenizer (model.tokenizer = ${model.path}/spiece.model): a missing
# one, or one whose vocabulary and sentinels do not fit the model, is one error naming both.
ckpt=$tmp/switch-base-8
mkdir -p "$ckpt"
/usr/bin/python3 - "$ckpt" <<'PY'
import json, struct, sys
d = sys.argv[1]
json.dump({"model_type": "switch_transformers", "d_model": 768, "d_ff": 3072, "num_heads": 12, "d_kv": 64,
           "num_layers": 12, "num_decoder_layers": 12, "num_experts": 8, "encoder_sparse_step": 2,
           "decoder_sparse_step": 2, "vocab_size": 32128, "tie_word_embeddings": True, "pad_token_id": 0,
           "eos_token_id": 1, "relative_attention_num_buckets": 32, "relative_attention_max_distance": 128,
           "layer_norm_epsilon": 1e-6}, open(d + "/config.json", "w"))
h = json.dumps({"__metadata__": {"format": "pt"}}).encode()
open(d + "/model.safetensors", "wb").write(struct.pack("<Q", len(h)) + h)
PY
expect_error "checkpoint without spiece.model" "$ckpt/spiece.model" \
  "$QMOE" run experiment=compress model=switch-base-8 model.path="$ckpt" --db "$db" results.dir=$tmp/runs
cp "$SRC/data/tokenizer/spiece.model" "$ckpt/spiece.model"  # qmoe's 8k tokenizer: ids fit, sentinels do not
expect_error "tokenizer that does not fit" "does not fit model 'switch-base-8' ($ckpt) with 32128 embedding rows" \
  "$QMOE" run experiment=compress model=switch-base-8 model.path="$ckpt" --db "$db" results.dir=$tmp/runs

# --help after any command prints the overview (naming every public command) and exits 0.
for cmd in run train eval forward codec; do
  out=$("$QMOE" $cmd --help 2>&1) || { echo "FAIL (help): qmoe $cmd --help exited non-zero: $out"; fail=1; continue; }
  for name in run sweep results report codec eval train forward; do
    [[ $out == *"  $name "* ]] || { echo "FAIL (help): qmoe $cmd --help does not list '$name'"; fail=1; }
  done
done

rows_after=$(sqlite3 "$db" "SELECT count(*) FROM metrics")
[[ $rows_after -eq $rows_before ]] || { echo "FAIL: metrics rows changed $rows_before -> $rows_after"; fail=1; }
exit $fail
