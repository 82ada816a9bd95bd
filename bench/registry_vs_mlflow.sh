#!/usr/bin/env bash
# Registry benchmark: Velocast's registry beside an MLflow tracking server (PyPI `mlflow`, SQL
# backend), both on the local Postgres, on this machine, one after the other.
#   1. register + download of a 1.5 MB model, 20 times, sequentially;
#   2. metadata reads (one model version by name and number) from 32 concurrent clients for
#      15 s after a 3 s warm-up: throughput and latency percentiles, same load generator;
#   3. (Velocast only) time from an alias move to the watch event a gateway would receive.
# Results: bench/results/registry_vs_mlflow.{json,md}. Needs a Postgres that lets
# postgres@127.0.0.1 create databases (VELOCAST_BENCH_POSTGRES, default the local one).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PG="${VELOCAST_BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
OURS_PORT=18081
MLFLOW_PORT=18082
CONCURRENCY="${CONCURRENCY:-32}"
SECONDS_PER_RUN="${SECONDS_PER_RUN:-15}"
ITERATIONS="${ITERATIONS:-20}"
BYTES=1572864
VENV=.velocast/bench-venv
WORK="$(mktemp -d)"
RESULTS=bench/results
mkdir -p "$RESULTS"

if [ ! -x "$VENV/bin/mlflow" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "mlflow==3.*" psycopg2-binary
fi
# `--bins` too: naming an example alone builds only the example.
cargo build --release --locked -p velocast-registry -p velocast-cli --bins --example registry_load
BIN="${CARGO_TARGET_DIR:-target}/release"

for db in velocast_bench mlflow_bench; do
  psql -q "$PG/postgres" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db"
done

VELOCAST_JWT_SECRET="$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')"
export VELOCAST_JWT_SECRET
DATABASE_URL="$PG/velocast_bench" "$BIN/velocast-registry" serve --bind "127.0.0.1:$OURS_PORT" --json-logs \
  2> "$WORK/velocast.log" &
OURS_PID=$!
"$VENV/bin/mlflow" server --backend-store-uri "postgresql+psycopg2://${PG#postgres://}/mlflow_bench" \
  --artifacts-destination "$WORK/mlartifacts" --host 127.0.0.1 --port "$MLFLOW_PORT" \
  > "$WORK/mlflow.log" 2>&1 &
MLFLOW_PID=$!
cleanup() {
  kill "$OURS_PID" "$MLFLOW_PID" 2>/dev/null || true
  pkill -f "mlflow.*$MLFLOW_PORT" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_for() {
  for _ in $(seq 1 300); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "bench: $1 did not come up" >&2; for f in "$WORK"/*.log; do echo "== $f" >&2; tail -n 20 "$f" >&2; done; exit 1
}
wait_for "http://127.0.0.1:$OURS_PORT/health/ready"
wait_for "http://127.0.0.1:$MLFLOW_PORT/health"

VELOCAST_TOKEN="$("$BIN/velocast" token --sub bench --scope models:read,models:write,models:admin --ttl 1h)"
export VELOCAST_TOKEN
OURS="http://127.0.0.1:$OURS_PORT"
MLFLOW="http://127.0.0.1:$MLFLOW_PORT"

echo "bench: register + download, $ITERATIONS x $BYTES bytes"
"$BIN/examples/registry_load" register --registry "$OURS" --model bike-demand --bytes "$BYTES" \
  --iterations "$ITERATIONS" > "$WORK/ours_register.json"
"$VENV/bin/python" bench/mlflow_registry.py --tracking-uri "$MLFLOW" --model bike-demand \
  --bytes "$BYTES" --iterations "$ITERATIONS" --out "$WORK/mlflow_register.json" > "$WORK/mlflow_client.log" 2>&1

echo "bench: metadata reads, $CONCURRENCY clients, ${SECONDS_PER_RUN}s each"
"$BIN/examples/registry_load" read --url "$OURS/v1/models/bike-demand/versions/1" \
  --header "authorization: Bearer $VELOCAST_TOKEN" --concurrency "$CONCURRENCY" \
  --seconds "$SECONDS_PER_RUN" --warmup 3 > "$WORK/ours_read.json"
"$BIN/examples/registry_load" read \
  --url "$MLFLOW/api/2.0/mlflow/model-versions/get?name=bike-demand&version=1" \
  --concurrency "$CONCURRENCY" --seconds "$SECONDS_PER_RUN" --warmup 3 > "$WORK/mlflow_read.json"

# Memory after the load: peak RSS of our one process; MLflow's current RSS summed over its
# process tree (the server and its workers).
descendants() { local child; for child in $(pgrep -P "$1" || true); do echo "$child"; descendants "$child"; done; }
memory_kb() {
  local ours mlflow=0 pid
  ours=$(awk '/VmHWM/ {print $2}' "/proc/$OURS_PID/status")
  for pid in "$MLFLOW_PID" $(descendants "$MLFLOW_PID"); do
    mlflow=$((mlflow + $(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)))
  done
  printf '{"velocast_peak_rss_kb": %s, "mlflow_rss_kb": %s}\n' "$ours" "$mlflow"
}
memory_kb > "$WORK/memory.json"

echo "bench: alias move -> watch event"
"$BIN/examples/registry_load" watch --registry "$OURS" --model bike-demand --moves 50 > "$WORK/ours_watch.json"

python3 bench/summarize_registry.py "$WORK" "$RESULTS/registry_vs_mlflow"
cat "$RESULTS/registry_vs_mlflow.md"
