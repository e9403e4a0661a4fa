"""Verifies downloaded archives, extracts them, cleans each domain, splits documents by a hash
of their id and writes data/cache/{clean,splits}/, data/valid/ and data/manifest.json.

Called by scripts/fetch_corpora.sh; run it directly only for debugging.
Without --update-manifest every SHA-256 (archives, clean text, committed validation files) must
match data/manifest.json, else it exits non-zero naming the file and both hashes.
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clean  # noqa: E402

SPLIT_SALT = "qmoe-split-v1|"
SPLIT_RULE = ("bucket = (first 4 bytes of sha256('qmoe-split-v1|' + doc_id), big-endian) % 100; "
              "bucket < 80: train, < 90: calibration, else validation")
VALID_CAP_BYTES = 480_000  # committed validation text per domain (6 domains, ~3 MB in all)


def split_of(doc_id):
    """Must equal qmoe::data::SplitOf() in framework/data/corpus.cpp."""
    h = hashlib.sha256((SPLIT_SALT + doc_id).encode("utf-8")).digest()
    b = int.from_bytes(h[:4], "big") % 100
    return "train" if b < 80 else ("calibration" if b < 90 else "validation")


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def fail(msg):
    print(f"fetch_corpora: ERROR: {msg}", file=sys.stderr)
    sys.exit(1)


def check(kind, path, got, manifest_value, update):
    if update or manifest_value is None:
        if not update:
            fail(f"{path}: no pinned sha256 in data/manifest.json; run with --update-manifest to pin it")
        return
    if got != manifest_value:
        fail(f"{kind} {path}: sha256 {got} but data/manifest.json pins {manifest_value}")


def write_jsonl(path, docs):
    with open(path, "w", encoding="utf-8") as f:
        for d in docs:
            f.write(json.dumps(d, ensure_ascii=False, sort_keys=True) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archives", required=True, help="JSON list written by fetch_corpora.sh")
    ap.add_argument("--cache", required=True)
    ap.add_argument("--valid-dir", required=True)
    ap.add_argument("--manifest", required=True)
    ap.add_argument("--update-manifest", action="store_true")
    a = ap.parse_args()

    old = {}
    if os.path.exists(a.manifest):
        with open(a.manifest) as f:
            old = json.load(f)
    old_arch = {x["file"]: x for x in old.get("archives", [])}
    old_dom = old.get("domains", {})

    archives = json.load(open(a.archives))
    extract_root = os.path.join(a.cache, "extract")
    shutil.rmtree(extract_root, ignore_errors=True)
    for x in archives:
        path = os.path.join(a.cache, "archives", x["file"])
        x["sha256"] = sha256_file(path)
        check("archive", path, x["sha256"], old_arch.get(x["file"], {}).get("sha256"), a.update_manifest)
        dest = os.path.join(extract_root, x["domain"])
        os.makedirs(dest, exist_ok=True)
        if x["registry"] == "npm":
            with tarfile.open(path) as t:
                t.extractall(dest, filter="data") if hasattr(tarfile, "data_filter") else t.extractall(dest)
        else:
            subprocess.run(["dpkg-deb", "-x", path, dest], check=True)

    for sub in ("clean", "splits"):
        os.makedirs(os.path.join(a.cache, sub), exist_ok=True)
    os.makedirs(a.valid_dir, exist_ok=True)
    domains = {}
    for dom in sorted({x["domain"] for x in archives}):
        docs, seen = [], set()
        for doc_id, text in clean.DOMAINS[dom](os.path.join(extract_root, dom)):
            if doc_id in seen:
                fail(f"{dom}: duplicate document id {doc_id}")
            seen.add(doc_id)
            docs.append({"id": doc_id, "domain": dom, "text": text, "split": split_of(doc_id)})
        clean_path = os.path.join(a.cache, "clean", f"{dom}.jsonl")
        write_jsonl(clean_path, docs)
        by_split = {s: [d for d in docs if d["split"] == s] for s in ("train", "calibration", "validation")}
        for s, ds in by_split.items():
            write_jsonl(os.path.join(a.cache, "splits", f"{dom}.{s}.jsonl"), ds)
        # Committed subset: validation documents taken in hash order until the cap, written in
        # dataset order, so the subset is deterministic yet spread over the whole corpus.
        val = by_split["validation"]
        order = sorted(range(len(val)), key=lambda i: hashlib.sha256(val[i]["id"].encode()).hexdigest())
        keep, used = set(), 0
        for i in order:
            n = len(val[i]["text"].encode("utf-8"))
            if used + n > VALID_CAP_BYTES and keep:
                continue
            keep.add(i)
            used += n
        valid_path = os.path.join(a.valid_dir, f"{dom}.jsonl")
        write_jsonl(valid_path, [val[i] for i in sorted(keep)])
        # The whole calibration split is committed too (a few MB), so compression runs offline.
        calib_dir = os.path.join(os.path.dirname(a.valid_dir), "calibration")
        os.makedirs(calib_dir, exist_ok=True)
        calib_path = os.path.join(calib_dir, f"{dom}.jsonl")
        write_jsonl(calib_path, by_split["calibration"])
        info = {
            "sources": [x["file"] for x in archives if x["domain"] == dom],
            "docs": len(docs),
            "train_docs": len(by_split["train"]),
            "calibration_docs": len(by_split["calibration"]),
            "validation_docs": len(by_split["validation"]),
            "validation_committed_docs": len(keep),
            "clean_bytes": sum(len(d["text"].encode("utf-8")) for d in docs),
            "clean_words": sum(len(d["text"].split()) for d in docs),
            "clean_sha256": sha256_file(clean_path),
            "valid_file": os.path.relpath(valid_path, os.path.dirname(a.manifest)),
            "valid_sha256": sha256_file(valid_path),
            "calibration_file": os.path.relpath(calib_path, os.path.dirname(a.manifest)),
            "calibration_sha256": sha256_file(calib_path),
        }
        prev = old_dom.get(dom, {})
        check("clean text", clean_path, info["clean_sha256"], prev.get("clean_sha256"), a.update_manifest)
        check("validation file", valid_path, info["valid_sha256"], prev.get("valid_sha256"), a.update_manifest)
        check("calibration file", calib_path, info["calibration_sha256"], prev.get("calibration_sha256"), a.update_manifest)
        domains[dom] = info
        print(f"  {dom:9s} {info['docs']:6d} docs {info['clean_bytes'] / 1e6:6.2f} MB  "
              f"train {info['train_docs']} / calib {info['calibration_docs']} / valid "
              f"{info['validation_docs']} ({len(keep)} committed, {used / 1e3:.0f} kB)")

    manifest = {
        "format": "qmoe-corpora-v1",
        "split_rule": SPLIT_RULE,
        "archives": [{k: x[k] for k in ("registry", "package", "version", "file", "domain", "sha256")}
                     for x in archives],
        "domains": domains,
    }
    if a.update_manifest:
        with open(a.manifest, "w") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        print(f"fetch_corpora: wrote {a.manifest}")
    else:
        print("fetch_corpora: all checksums match data/manifest.json")


if __name__ == "__main__":
    main()
