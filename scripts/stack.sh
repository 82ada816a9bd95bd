#!/usr/bin/env bash
# Shared by demo.sh and up.sh: the development secret, and starting the registry, the monitor and
# the gateway on the embedded defaults (SQLite under .velocast/, ports 8081, 8082 and 8080).
# Source it.

STATE=.velocast
BIN="${CARGO_TARGET_DIR:-target}/release"
REGISTRY_PORT="${VELOCAST_REGISTRY_PORT:-8081}"
GATEWAY_PORT="${VELOCAST_GATEWAY_PORT:-8080}"
MONITOR_PORT="${VELOCAST_MONITOR_PORT:-8082}"
REGISTRY="http://127.0.0.1:$REGISTRY_PORT"
GATEWAY="http://127.0.0.1:$GATEWAY_PORT"
MONITOR="http://127.0.0.1:$MONITOR_PORT"
PIDS=()

stack_stop() {
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
}

stack_secret() {
  mkdir -p "$STATE"
  umask 077
  # A development signing secret, made once and kept beside the embedded registry.
  if [ ! -s "$STATE/dev-jwt-secret" ]; then
    od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$STATE/dev-jwt-secret"
  fi
  VELOCAST_JWT_SECRET="$(cat "$STATE/dev-jwt-secret")"
  export VELOCAST_JWT_SECRET
}

# wait_for NAME URL PID LOG [TRIES]: polls URL until it answers 2xx, or fails showing the log.
wait_for() {
  local name=$1 url=$2 pid=$3 log=$4 tries=${5:-100}
  for _ in $(seq 1 "$tries"); do
    curl -fsS "$url" >/dev/null 2>&1 && return 0
    kill -0 "$pid" 2>/dev/null || { echo "$name did not start:" >&2; cat "$log" >&2; return 1; }
    sleep 0.1
  done
  echo "$name not ready after $((tries / 10)) s (log: $log):" >&2
  tail -n 20 "$log" >&2
  return 1
}

free_port() {
  if curl -fsS "http://127.0.0.1:$1/health/live" >/dev/null 2>&1; then
    echo "something already answers on port $1; set $2" >&2
    return 1
  fi
}

start_registry() {
  free_port "$REGISTRY_PORT" VELOCAST_REGISTRY_PORT
  DATABASE_URL="sqlite://$STATE/registry.db?mode=rwc" \
    "$BIN/velocast-registry" serve --bind "127.0.0.1:$REGISTRY_PORT" 2> "$STATE/registry.log" &
  PIDS+=($!)
  wait_for registry "$REGISTRY/health/ready" "$!" "$STATE/registry.log"
  echo "registry ready at $REGISTRY (SQLite: $STATE/registry.db, log: $STATE/registry.log)"
}

# The monitor on SQLite ($STATE/monitor.db), reading reference profiles from the registry with
# its own token (models:read) in .velocast/monitor.token.
start_monitor() {
  free_port "$MONITOR_PORT" VELOCAST_MONITOR_PORT
  "$BIN/velocast" token --sub monitor --scope models:read --ttl 30d > "$STATE/monitor.token"
  VELOCAST_TOKEN_FILE="$STATE/monitor.token" DATABASE_URL="sqlite://$STATE/monitor.db?mode=rwc" \
    VELOCAST_REGISTRY_URL="$REGISTRY" \
    "$BIN/velocast-monitor" serve --bind "127.0.0.1:$MONITOR_PORT" 2> "$STATE/monitor.log" &
  PIDS+=($!)
  wait_for monitor "$MONITOR/health/ready" "$!" "$STATE/monitor.log"
  echo "monitor ready at $MONITOR (SQLite: $STATE/monitor.db, log: $STATE/monitor.log)"
}

# launch_gateway / start_gateway (which waits until it is ready): serves the `champion` alias
# of bike-demand on the default route and sends its prediction events to the monitor. Its own
# token (models:read for the registry, monitor:write for the events) lives in
# .velocast/gateway.token.
launch_gateway() {
  free_port "$GATEWAY_PORT" VELOCAST_GATEWAY_PORT
  "$BIN/velocast" token --sub gateway --scope models:read,monitor:write --ttl 30d > "$STATE/gateway.token"
  VELOCAST_TOKEN_FILE="$STATE/gateway.token" VELOCAST_GATEWAY__CACHE_DIR="$STATE/gateway-cache" \
    VELOCAST_GATEWAY__EVENTS__URL="$MONITOR/v1/events" \
    "$BIN/velocast-gateway" serve --bind "127.0.0.1:$GATEWAY_PORT" --registry "$REGISTRY" \
    --route default=bike-demand@champion 2> "$STATE/gateway.log" &
  PIDS+=($!)
}

start_gateway() {
  launch_gateway
  wait_for gateway "$GATEWAY/health/ready" "${PIDS[-1]}" "$STATE/gateway.log" 300
  echo "gateway ready at $GATEWAY (log: $STATE/gateway.log)"
}
