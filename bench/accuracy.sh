#!/usr/bin/env bash
# Holdout accuracy of the default pipeline over 5 search seeds, on the temporal split and on a
# random 80/20 split (split seed 2013, fixed and stated). Writes bench/results/accuracy.{md,json}.
#   SEEDS="1 2 3 4 5"  which search seeds to run
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SEEDS="${SEEDS:-1 2 3 4 5}"
OUT="${BENCH_OUT:-out/bench/accuracy}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/.velocast/lib/libonnxruntime.so}"
cargo build --release --locked -p velocast-trainer
BIN="${CARGO_TARGET_DIR:-target}/release/velocast-trainer"
rm -rf "$OUT"; mkdir -p "$OUT"
for split in temporal random; do
  for seed in $SEEDS; do
    echo "accuracy: $split split, seed $seed"
    "$BIN" train --data .velocast/data/hour.csv --out "$OUT/$split-$seed" --split "$split" --seed "$seed" \
      >"$OUT/$split-$seed.out" 2>"$OUT/$split-$seed.log"
  done
done
python3 bench/summarize.py accuracy "$OUT" bench/results/accuracy
