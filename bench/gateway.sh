#!/usr/bin/env bash
# The gateway against (a) the FastAPI stack it replaces and (b) a bare axum + ort handler, side
# by side in one run: the same trained model (out/model, the default blend), the same load
# generator (oha), each server pinned to CPU 0 and oha to CPU 1. Writes
# bench/results/gateway.{json,md}.
#
#   bench/gateway.sh            (DURATION=10 seconds per measurement)
#
# The gateway runs with JWT auth, the per-subject rate limit (quota far above the offered
# load, so it is checked on every request and never refuses) and metrics on, once with ONNX
# Runtime (the default backend) and once with `backend = "native"`; FastAPI with PyJWT, a
# `limits` token bucket and prometheus_client; the bare handler with none of them (but the
# gateway's allocator, mimalloc: an advantage the gateway has that is not what it is measured
# on).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
DURATION="${DURATION:-10}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/release"
VENV=.velocast/bench-venv
OHA=.velocast/tools/bin/oha
MODEL_DIR="${MODEL_DIR:-out/model}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$ROOT/.velocast/lib/libonnxruntime.so}"
export VELOCAST_JWT_SECRET="bench-secret-bench-secret-bench-secret-00"

say() { printf 'bench: %s\n' "$*"; }
[[ "$(nproc)" -ge 2 ]] || { say "needs two CPUs (server and load generator pinned apart)"; exit 1; }

scripts/setup.sh
if [[ ! -x "$VENV/bin/uvicorn" ]] || ! "$VENV/bin/python" -c "import fastapi, jwt, limits, prometheus_client, onnxruntime, uvloop, httptools" 2>/dev/null; then
  say "installing the FastAPI stack into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q fastapi "uvicorn[standard]" onnxruntime==1.31.1 pyjwt limits prometheus_client numpy
fi
if [[ ! -x "$OHA" ]]; then
  say "building the load generator (oha)"
  cargo install oha --locked --root .velocast/tools
fi
if [[ ! -s "$MODEL_DIR/model_card.json" ]]; then
  say "training the default model into $MODEL_DIR"
  make train OUT="$MODEL_DIR"
fi
cargo build --release --locked -p velocast-registry -p velocast-cli -p velocast-gateway \
  --bins --example bare_axum_ort --example register_trained

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

wait_ready() {
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  say "not ready: $1"; exit 1
}

# The registry the gateway loads the model from (not measured; on CPU 1).
DATABASE_URL="sqlite://$work/registry.db?mode=rwc" taskset -c 1 "$BIN/velocast-registry" serve --bind 127.0.0.1:18081 2>"$work/registry.log" &
pids+=($!)
wait_ready http://127.0.0.1:18081/health/ready
VELOCAST_TOKEN="$("$BIN/velocast" token --sub bench --scope models:read,models:write,models:admin --ttl 2h)" \
  "$BIN/examples/register_trained" http://127.0.0.1:18081 "$MODEL_DIR"
TOKEN="$("$BIN/velocast" token --sub bench-client --scope predict --ttl 2h)"

# Request bodies: one hour, and 256 hours of the holdout period.
"$VENV/bin/python" - "$work" <<'PY'
import json, sys, datetime as dt
work = sys.argv[1]
def hour(i):
    t = dt.datetime(2012, 9, 1) + dt.timedelta(hours=i)
    return {"timestamp": t.isoformat(), "weather": 1 + i % 3, "temperature_c": 10 + i % 20,
            "feels_like_c": 9 + i % 22, "humidity_pct": 40 + i % 50, "wind_speed_kmh": 5 + i % 30,
            "holiday": False}
json.dump(hour(8), open(f"{work}/one.json", "w"))
json.dump({"instances": [hour(i) for i in range(256)]}, open(f"{work}/batch.json", "w"))
PY

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# measure NAME PID URL BODY CONNECTIONS ROWS
measure() {
  local name=$1 pid=$2 url=$3 body=$4 connections=$5 rows=$6
  taskset -c 1 "$OHA" --no-tui -z 2s -c "$connections" -m POST -H "authorization: Bearer $TOKEN" \
    -H "content-type: application/json" -D "$body" "$url" >/dev/null
  local before after
  before=$(cpu_ticks "$pid")
  taskset -c 1 "$OHA" --no-tui --output-format json -z "${DURATION}s" -c "$connections" -m POST \
    -H "authorization: Bearer $TOKEN" -H "content-type: application/json" -D "$body" "$url" \
    > "$work/$name-$connections-$rows.json"
  after=$(cpu_ticks "$pid")
  "$VENV/bin/python" - "$work/$name-$connections-$rows.json" "$name" "$connections" "$rows" \
    "$((after - before))" "$(getconf CLK_TCK)" >> "$work/results.jsonl" <<'PY'
import json, sys
path, name, connections, rows, ticks, hz = sys.argv[1:]
report = json.load(open(path))
summary = report["summary"]
statuses = report.get("statusCodeDistribution", {})
ok = int(statuses.get("200", 0))
total = sum(int(v) for v in statuses.values())
seconds = summary["total"]
cpu = int(ticks) / int(hz)
print(json.dumps({
    "server": name, "connections": int(connections), "rows": int(rows),
    "requests_per_second": ok / seconds, "rows_per_second": ok * int(rows) / seconds,
    "non_200": total - ok, "errors": sum(int(v) for v in report.get("errorDistribution", {}).values()),
    "p50_ms": report["latencyPercentiles"]["p50"] * 1000,
    "p99_ms": report["latencyPercentiles"]["p99"] * 1000,
    "cpu_us_per_request": cpu / ok * 1e6 if ok else None,
}))
PY
  say "$(tail -n1 "$work/results.jsonl")"
}


# (1) The gateway: auth, rate limit, metrics on. The servers start one after another and are
# measured together below.
cat > "$work/gateway.toml" <<TOML
[rate_limit]
per_second = 10000000
burst = 10000000
[routes.default]
model = "bike-demand"
sticky = "request_id"
arms = [{ name = "champion", alias = "champion", weight = 1 }]
TOML
VELOCAST_TOKEN="$("$BIN/velocast" token --sub gateway --scope models:read --ttl 2h)" \
VELOCAST_GATEWAY__CACHE_DIR="$work/cache" \
  taskset -c 0 "$BIN/velocast-gateway" serve --config "$work/gateway.toml" --bind 127.0.0.1:18080 \
  --registry http://127.0.0.1:18081 2>"$work/gateway.log" &
gateway_pid=$!
pids+=("$gateway_pid")
wait_ready http://127.0.0.1:18080/health/ready
gateway_answer=$(curl -fsS -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d @"$work/one.json" http://127.0.0.1:18080/v1/predict)

# (1b) The same gateway with the native evaluator.
VELOCAST_TOKEN="$("$BIN/velocast" token --sub gateway --scope models:read --ttl 2h)" \
VELOCAST_GATEWAY__CACHE_DIR="$work/cache-native" VELOCAST_GATEWAY__BACKEND=native \
  taskset -c 0 "$BIN/velocast-gateway" serve --config "$work/gateway.toml" --bind 127.0.0.1:18082 \
  --registry http://127.0.0.1:18081 2>"$work/gateway-native.log" &
native_pid=$!
pids+=("$native_pid")
wait_ready http://127.0.0.1:18082/health/ready
native_answer=$(curl -fsS -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d @"$work/one.json" http://127.0.0.1:18082/v1/predict)

# (2) Bare axum + ort.
taskset -c 0 "$BIN/examples/bare_axum_ort" "$MODEL_DIR/model.onnx" 127.0.0.1:18090 2>"$work/bare.log" &
bare_pid=$!
pids+=("$bare_pid")
wait_ready_post() {
  for _ in $(seq 1 600); do
    curl -fsS -o /dev/null -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d @"$work/one.json" "$1" 2>/dev/null && return 0
    sleep 0.1
  done
  say "not ready: $1"; exit 1
}
wait_ready_post http://127.0.0.1:18090/v1/predict
bare_answer=$(curl -fsS -H 'content-type: application/json' -d @"$work/one.json" http://127.0.0.1:18090/v1/predict)

# (3) FastAPI + uvicorn + onnxruntime + PyJWT + limits + prometheus_client, one worker.
MODEL="$MODEL_DIR/model.onnx" taskset -c 0 "$VENV/bin/uvicorn" --app-dir bench fastapi_app:app \
  --host 127.0.0.1 --port 18070 --loop uvloop --http httptools --no-access-log --log-level warning 2>"$work/fastapi.log" &
fastapi_pid=$!
pids+=("$fastapi_pid")
wait_ready_post http://127.0.0.1:18070/v1/predict
fastapi_answer=$(curl -fsS -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d @"$work/one.json" http://127.0.0.1:18070/v1/predict)

# All three serve side by side (idle ones cost nothing), and each scenario measures them back to
# back: this machine's speed drifts by ±20 % over minutes, and ratios of runs taken seconds
# apart are what the bars compare.
for connections in 1 16 64; do
  measure gateway "$gateway_pid" http://127.0.0.1:18080/v1/predict "$work/one.json" "$connections" 1
  measure gateway-native "$native_pid" http://127.0.0.1:18082/v1/predict "$work/one.json" "$connections" 1
  measure bare "$bare_pid" http://127.0.0.1:18090/v1/predict "$work/one.json" "$connections" 1
  measure fastapi "$fastapi_pid" http://127.0.0.1:18070/v1/predict "$work/one.json" "$connections" 1
done
measure gateway "$gateway_pid" http://127.0.0.1:18080/v1/predict "$work/batch.json" 16 256
measure gateway-native "$native_pid" http://127.0.0.1:18082/v1/predict "$work/batch.json" 16 256
measure bare "$bare_pid" http://127.0.0.1:18090/v1/predict "$work/batch.json" 16 256
measure fastapi "$fastapi_pid" http://127.0.0.1:18070/v1/predict_batch "$work/batch.json" 16 256
curl -fsS http://127.0.0.1:18080/metrics > "$work/gateway.metrics"

"$VENV/bin/python" bench/summarize_gateway.py "$work/results.jsonl" "$gateway_answer" "$bare_answer" "$fastapi_answer" "$work/gateway.metrics" "$native_answer"
