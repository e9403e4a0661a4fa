#!/usr/bin/env bash
# Benchmark (not a test: timings depend on the machine's load): measures the cost model's rates,
# compresses tests/synth_scale_test.sh's model (a SYNTHETIC switch-base-8-shaped checkpoint, 2+2
# blocks, ternary GPTQ + dict, 64 calibration samples), and prints `qmoe report cost`, whose last
# table puts the projected wall time and peak RSS of that run beside the measured ones.
# Usage: experiments/cost/cost_check.sh [QMOE] [DB]   (defaults: build/release/qmoe, a temporary DB)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
QMOE=${1:-$root/build/release/qmoe}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
db=${2:-$tmp/qmoe.db}
"$QMOE" run experiment=cost results.dir="$tmp/runs" --db "$db"
"$QMOE" synth model=switch-base-8 out="$tmp/b8" layers=2 seed=1 >/dev/null
"$QMOE" run experiment=compress model=switch-base-8 model.path="$tmp/b8" model.num_layers=2 model.num_decoder_layers=2 \
  method=dict experiment.calibration_samples=64 data.n_validation_per_domain=4 results.dir="$tmp/runs" \
  experiment.save="$tmp/b8-dict" --db "$db"
"$QMOE" report cost --db "$db"
