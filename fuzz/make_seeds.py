#!/usr/bin/env python3
"""Writes the seed corpora of the reader fuzz targets into fuzz/corpus/<target>/ (small files).

Run from the repository root: python3 fuzz/make_seeds.py. Plain Python (no torch): the pickles
are written opcode by opcode, as torch.save and LibTorch's pickler emit them.
"""
import io
import json
import os
import struct
import zipfile

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def put(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def u(s):
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def python_state_dict():
    """torch.save-style data.pkl: OrderedDict of a float [2,3] and a bf16 [4,65] tensor."""
    p = b"\x80\x02ccollections\nOrderedDict\nq\x00)Rq\x01("
    p += (u("w") + b"q\x02ctorch._utils\n_rebuild_tensor_v2\nq\x03((" + u("storage") +
          b"ctorch\nFloatStorage\nq\x04" + u("0") + u("cpu") + b"K\x06tQK\x00K\x02K\x03\x86K\x03K\x01\x86\x89"
          b"ccollections\nOrderedDict\n)RtRq\x05")
    p += (u("b") + b"h\x03((" + u("storage") + b"ctorch\nBFloat16Storage\n" + u("1") + u("cpu") +
          b"M\x04\x01tQK\x00K\x04K\x41\x86K\x41K\x01\x86\x89h\x00)RtR")
    p += b"u}q\x06" + u("_metadata") + b"ccollections\nOrderedDict\n)R(" + u("") + b"}" + u("version") + b"K\x01susb."
    return p


def jit_style_state_dict():
    """LibTorch pickle_save style: protocol 2, STACK_GLOBAL-free, restore_type_tag around the dict."""
    p = b"\x80\x02ctorch.jit._pickle\nrestore_type_tag\nq\x00}q\x01("
    p += (u("a") + b"ctorch._utils\n_rebuild_tensor_v2\nq\x02((" + u("storage") + b"ctorch\nLongStorage\n" +
          u("0") + u("cpu") + b"K\x04tQK\x00K\x04\x85K\x01\x85\x89ccollections\nOrderedDict\n)RtR")
    p += b"u" + u("Dict[str, Tensor]") + b"\x86R."
    return p


def torch_zip(pkl, storages):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for k, v in storages.items():
            z.writestr("archive/data/" + k, v)
        z.writestr("archive/version", "3\n")
    return buf.getvalue()


def pickle_seeds():
    py, jit = python_state_dict(), jit_style_state_dict()
    put("pickle_fuzz", "python_state_dict", b"\x00" + py)
    put("pickle_fuzz", "jit_state_dict", b"\x00" + jit)
    # Mode 6 wraps into a zip whose storages are data/0 (64 B), data/1 (256 B), data/2 (0 B), data/3.
    put("pickle_fuzz", "wrapped_python", b"\x06" + py.replace(b"M\x04\x01", b"K\x80"))
    put("pickle_fuzz", "wrapped_jit", b"\x06" + jit.replace(b"LongStorage", b"LongStorage").replace(b"K\x04tQ", b"K\x08tQ"))
    put("pickle_fuzz", "archive", b"\x07" + torch_zip(py, {"0": bytes(24), "1": bytes(520)}))
    # Hostile ones (each must be refused with an Error).
    put("pickle_fuzz", "os_system", b"\x00\x80\x02cos\nsystem\n" + u("touch /tmp/pwned") + b"\x85R.")
    put("pickle_fuzz", "builtins_eval", b"\x00\x80\x04" + b"\x8c\x08builtins\x8c\x04eval\x93" + u("1") + b"\x85R.")
    put("pickle_fuzz", "self_append", b"\x00\x80\x02]q\x00h\x00a.")
    put("pickle_fuzz", "huge_string", b"\x00\x80\x02\x8d" + struct.pack("<Q", 1 << 40) + b"x.")


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    return struct.pack("<Q", len(h)) + h + data


def safetensors_seeds():
    f = safetensors({"x": ("F32", [2, 3], struct.pack("<6f", *range(6))), "y": ("BF16", [4], bytes(8)),
                     "e": ("I64", [0, 5], b"")}, {"format": "pt"})
    put("safetensors_fuzz", "three_tensors", b"\x00" + f)
    put("safetensors_fuzz", "empty", b"\x00" + safetensors({}))
    put("safetensors_fuzz", "overlap", b"\x00" + f.replace(b"[0, 24]", b"[0, 32]"))
    put("safetensors_fuzz", "huge_header_len", b"\x00" + struct.pack("<Q", 1 << 62) + b"{}")
    index = {"metadata": {"total_size": 72}, "weight_map": {"x": "a.safetensors", "y": "a.safetensors", "z": "b.safetensors"}}
    put("safetensors_fuzz", "index", b"\x01" + json.dumps(index).encode())
    put("safetensors_fuzz", "index_escape", b"\x01" + json.dumps({"weight_map": {"x": "../a.safetensors"}}).encode())


HF_CONFIG = {
    "architectures": ["SwitchTransformersForConditionalGeneration"], "model_type": "switch_transformers",
    "d_model": 768, "d_ff": 3072, "num_heads": 12, "d_kv": 64, "num_layers": 12, "num_decoder_layers": 12,
    "num_experts": 8, "encoder_sparse_step": 2, "decoder_sparse_step": 2, "vocab_size": 32128,
    "tie_word_embeddings": True, "torch_dtype": "float32", "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128, "layer_norm_epsilon": 1e-6, "expert_capacity": 64,
    "pad_token_id": 0, "eos_token_id": 1,
}


def hf_config_seeds():
    put("hf_config_fuzz", "switch_base_8", json.dumps(HF_CONFIG, indent=2))
    c2048 = dict(HF_CONFIG, d_model=2080, d_ff=6144, num_experts=2048, num_layers=15, num_decoder_layers=16,
                 num_heads=30, torch_dtype="bfloat16")
    del c2048["encoder_sparse_step"], c2048["decoder_sparse_step"]
    c2048.update(num_sparse_encoder_layers=15, num_sparse_decoder_layers=15)
    put("hf_config_fuzz", "c2048", json.dumps(c2048))
    put("hf_config_fuzz", "huge_d_ff", json.dumps(dict(HF_CONFIG, d_ff=1 << 40)))
    put("hf_config_fuzz", "float_d_model", json.dumps(dict(HF_CONFIG, d_model=768.5)))


def config_seeds():
    primary = ("defaults:\n  - method: a\n  - model: m\n  - _self_\n\nseed: 0\nname: run_${method.bits}_${model.name}\n"
               "results:\n  dir: ${oc.env:QMOE_FUZZ_NO_SUCH_VAR,out}/runs\n")
    a = "name: a\nbits: 4\ngroup: [1, 2, 3]\nnested: {x: 1, y: ${.x}}\n"
    b = "# @package _global_\nmethod:\n  name: b\n  bits: 2\n"
    m = "name: m\nd_model: 8\nalias: &anchor {k: v}\nother: *anchor\nescaped: \\${not.this}\n"
    sep = "\0"
    put("config_fuzz", "compose", sep.join([primary, a, b, m, "method.bits=3", "+extra.key=[1,2]", "~seed"]))
    put("config_fuzz", "group_choice", sep.join([primary, a, b, m, "method=b", "++model.d_model=16"]))
    put("config_fuzz", "cycle", sep.join(["a: ${b}\nb: ${a}\n", "", "", ""]))
    put("config_fuzz", "laughs", sep.join(["a: &a [x, x, x, x]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\n"
                                           "d: [*c, *c, *c, *c]\n", "", "", ""]))


def compressed_seeds():
    qmoe_json = {"format": "qmoe-compressed-v1", "method": "rtn", "method_version": 1, "method_params": {},
                 "expert_matrices": {
                     "encoder.block.1.layer.1.mlp.experts.expert_0.wi.weight":
                         {"file": "experts-encoder-1.safetensors", "rows": 8, "cols": 16, "storage_bits": 800},
                     "encoder.block.1.layer.1.mlp.experts.expert_1.wi.weight":
                         {"file": "experts-encoder-1.safetensors", "rows": 8, "cols": 16, "storage_bits": 800}}}
    put("compressed_fuzz", "qmoe_json", b"\x00" + json.dumps(qmoe_json, indent=1).encode())
    put("compressed_fuzz", "qmoe_json_escape", b"\x00" + json.dumps(
        dict(qmoe_json, expert_matrices={"w": {"file": "../../etc/passwd", "rows": 1, "cols": 1, "storage_bits": 1}})).encode())
    put("compressed_fuzz", "expert_file", b"\x01" + safetensors({"w.codes": ("U8", [4], bytes(4))}))
    put("compressed_fuzz", "patch", b"\x02" + struct.pack("<I", 200) + bytes(range(64)))
    # Published layout: counts of row_off / minmax / codes entries, then their values.
    put("compressed_fuzz", "published", b"\x03" + bytes([9, 16, 8]) + bytes(9 * 4 + 16 * 2 + 8 * 2) + bytes([9, 8, 16]))


def shard_file(runs, page_size=512, edit=None):
    """A results shard as a cluster task publishes it (results/schema.sql, rollback journal), with a
    small page size so that the fuzzer's mutations land on headers, pages and records."""
    import sqlite3
    import tempfile
    schema = open(os.path.join(os.path.dirname(ROOT), "..", "results", "schema.sql")).read()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "shard.db")
        c = sqlite3.connect(path)
        c.execute("PRAGMA page_size=%d" % page_size)
        c.executescript(schema)
        for i, (key, status, metrics) in enumerate(runs, 1):
            ended = None if status == "running" else "2026-01-0%dT00:00:00Z" % i
            c.execute("INSERT INTO runs(id, key, experiment, method, started_at, ended_at, status, error) "
                      "VALUES (?, ?, 'matrix', 'rtn', '2026-01-01T00:00:00Z', ?, ?, ?)",
                      (i, key, ended, status, "boom" if status == "failed" else ""))
            c.execute("INSERT INTO run_params VALUES (?, 'method.bits', '2')", (i,))
            for j, (name, value) in enumerate(metrics):
                c.execute("INSERT INTO metrics(run_id, name, value, unit, layer, expert) VALUES (?, ?, ?, 'nats', ?, ?)",
                          (i, name, value, "encoder.block.1" if j else "", j - 1))
            if i == 1:
                c.execute("INSERT INTO kernel_timings(run_id, kernel, device, rows, cols, batch, seconds, "
                          "gbytes_per_s, weights_per_s) VALUES (1, 'k', 'cpu', 32, 64, 1, 0.5, 1.0, 2.0)")
        c.commit()
        if edit:
            c.executescript(edit)
        c.execute("VACUUM")
        c.close()
        return open(path, "rb").read()


def results_shard_seeds():
    t = "results_shard_fuzz"
    # Raw mode (first byte even): the bytes of a shard file.
    put(t, "raw_done", b"\0" + shard_file([("k1", "done", [("loss", 1.5), ("zero_fraction", 0.25)])]))
    put(t, "raw_three", b"\0" + shard_file([("main-failed", "failed", [("loss", None)]), ("k2", "running", []),
                                            ("main-done", "done", [("loss", 3.0)])]))
    put(t, "raw_empty", b"\0" + shard_file([]))
    # Structured mode (first byte odd): bytes that drive the shard writer.
    put(t, "structured_two", bytes([1, 2, 0, 2, 0x72, 0x74, 1, 0x61, 0, 0, 0, 0, 1, 1, 0x62, 1, 0x63, 2, 1, 0,
                                    0, 5, 0, 0, 0, 0, 0, 1, 1, 0x78, 0, 1, 0, 2, 0, 1, 3, 1, 1, 0, 0, 0, 4, 1, 2,
                                    1, 0x41, 0, 0]))
    put(t, "structured_edit", bytes([3, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 4]))
    # Regression cases: each was merged, mis-merged or hung before the shard reader checked it.
    put(t, "regression_view", bytes([1, 0, 4]))      # structured, no runs, metrics swapped for a view
    put(t, "regression_version", bytes([1, 0, 5]))   # structured, schema_version 2^32 + 1 (read as 1)
    one = [("k1", "done", [("loss", 1.5)])]
    put(t, "regression_real_key", b"\0" + shard_file(one, edit=(  # merged once; the 2nd merge failed
        "ALTER TABLE runs RENAME TO r0; CREATE TABLE runs(id INTEGER PRIMARY KEY, key, experiment, started_at, "
        "ended_at, status); INSERT INTO runs SELECT id, 1.5, experiment, started_at, ended_at, status FROM r0")))
    put(t, "regression_column_sql", b"\0" + shard_file(one, edit=(  # a column name that was run as SQL: hung
        'ALTER TABLE runs ADD COLUMN "(WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) '
        'SELECT max(x) FROM c)" TEXT')))
    put(t, "regression_recursive_view", b"\0" + shard_file(one, edit=(  # a view that never ends: hung
        "ALTER TABLE run_params RENAME TO p2; CREATE VIEW run_params AS WITH RECURSIVE c(x) AS "
        "(SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT 1 AS run_id, x AS key, '' AS value FROM c")))


if __name__ == "__main__":
    pickle_seeds()
    safetensors_seeds()
    hf_config_seeds()
    config_seeds()
    compressed_seeds()
    results_shard_seeds()
