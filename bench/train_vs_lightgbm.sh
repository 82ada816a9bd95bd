#!/usr/bin/env bash
# The trainer's default pipeline against LightGBM + Optuna doing the same job with the same
# budget (50 TPE trials, 3 expanding-window folds, median pruning, final fit, ONNX export,
# parity in ONNX Runtime), run alternately on this machine. Wall time and peak memory per run.
# Writes bench/results/train_vs_lightgbm.{md,json}.
#   RUNS=3  runs of each
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUNS="${RUNS:-3}"
OUT="${BENCH_OUT:-out/bench/train}"
VENV=.velocast/bench-py
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$PWD/.velocast/lib/libonnxruntime.so}"

if ! "$VENV/bin/python" -c "import lightgbm, optuna, onnxmltools, onnxruntime" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet lightgbm==4.7.0 optuna==5.0.0 pandas numpy \
    onnxmltools==1.16.0 onnx==1.23.2 onnxruntime==1.31.1
fi
cargo build --release --locked -p velocast-trainer
BIN="${CARGO_TARGET_DIR:-target}/release/velocast-trainer"
rm -rf "$OUT"; mkdir -p "$OUT"
for run in $(seq 1 "$RUNS"); do
  echo "run $run: velocast-trainer"
  /usr/bin/time -f '{"wall_seconds": %e, "max_rss_kb": %M}' -o "$OUT/velocast-$run.time" \
    "$BIN" train --data .velocast/data/hour.csv --out "$OUT/velocast-$run" --seed "$run" \
    >"$OUT/velocast-$run.out" 2>"$OUT/velocast-$run.log"
  echo "run $run: lightgbm + optuna"
  /usr/bin/time -f '{"wall_seconds": %e, "max_rss_kb": %M}' -o "$OUT/lightgbm-$run.time" \
    "$VENV/bin/python" bench/lightgbm_optuna.py --data .velocast/data/hour.csv --seed "$run" \
    >"$OUT/lightgbm-$run.json" 2>"$OUT/lightgbm-$run.log"
done
python3 bench/summarize.py train "$OUT" bench/results/train_vs_lightgbm
