#!/usr/bin/env bash
# The main job (`make demo`): start the registry on the embedded default (SQLite under
# .velocast/), train the default model, register it as a new version of `bike-demand` with its
# card, reference profile and lineage, point `champion` at it, and list what the registry holds.
# The registry is stopped at the end (`make registry` serves it again).
#
# Environment: VELOCAST_REGISTRY_PORT (default 8081), DATA, OUT (see the Makefile).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

DATA="${DATA:-.velocast/data/hour.csv}"
OUT="${OUT:-out/model}"
PORT="${VELOCAST_REGISTRY_PORT:-8081}"
STATE=.velocast
BIN="${CARGO_TARGET_DIR:-target}/release"

cargo build --release --locked -p velocast-registry -p velocast-trainer -p velocast-cli

mkdir -p "$STATE"
umask 077
# A development signing secret, made once and kept beside the embedded registry.
if [ ! -s "$STATE/dev-jwt-secret" ]; then
  od -An -tx1 -N32 /dev/urandom | tr -d ' \n' > "$STATE/dev-jwt-secret"
fi
export VELOCAST_JWT_SECRET="$(cat "$STATE/dev-jwt-secret")"
export DATABASE_URL="sqlite://$STATE/registry.db?mode=rwc"
REGISTRY="http://127.0.0.1:$PORT"

if curl -fsS "$REGISTRY/health/live" >/dev/null 2>&1; then
  echo "demo: something already answers on port $PORT; set VELOCAST_REGISTRY_PORT" >&2
  exit 1
fi
"$BIN/velocast-registry" serve --bind "127.0.0.1:$PORT" 2> "$STATE/registry.log" &
REGISTRY_PID=$!
trap 'kill "$REGISTRY_PID" 2>/dev/null; wait "$REGISTRY_PID" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  curl -fsS "$REGISTRY/health/ready" >/dev/null 2>&1 && break
  kill -0 "$REGISTRY_PID" 2>/dev/null || { echo "demo: the registry did not start:" >&2; cat "$STATE/registry.log" >&2; exit 1; }
  sleep 0.1
done
echo "demo: registry ready at $REGISTRY (SQLite: $STATE/registry.db, log: $STATE/registry.log)"

"$BIN/velocast" token --sub demo --scope models:read,models:write,models:admin --ttl 2h > "$STATE/demo.token"
export VELOCAST_TOKEN_FILE="$STATE/demo.token"

"$BIN/velocast-trainer" train --data "$DATA" --out "$OUT" --register "$REGISTRY" --alias champion

echo
"$BIN/velocast" models --registry "$REGISTRY"
echo
"$BIN/velocast" versions bike-demand --registry "$REGISTRY"
