#!/usr/bin/env bash
# The gateway's OpenAPI contract, checked from outside by schemathesis (every check, bounded
# examples), then the Open Inference Protocol spoken by tritonclient[http] and kserve
# (tests/contract/oip_clients.py), against the real gateway serving a real (constant) model
# from a real registry.
# Zero failures or this fails. Needs `make setup` (schemathesis in .velocast/py, ONNX Runtime).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="$ROOT/.velocast/py/bin"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$ROOT/.velocast/lib/libonnxruntime.so}"

say() { printf 'contract: %s\n' "$*"; }
fail() { printf 'contract: FAILED: %s\n' "$*" >&2; exit 1; }
[[ -x "$PY/schemathesis" ]] || fail "schemathesis is not installed: run make setup"

cargo build --locked -q -p velocast-registry -p velocast-cli -p velocast-gateway --bins --example seed_constant_model
BIN="$TARGET_DIR/debug"

work="$(mktemp -d)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

export VELOCAST_JWT_SECRET="contract-test-secret-of-at-least-32-bytes"

# address_of LOG NAME: the address a service logged it bound.
address_of() {
  local address=""
  touch "$1"
  for _ in $(seq 1 300); do
    address="$(grep -o '"address":"[0-9.:]*"' "$1" | head -n1 | cut -d'"' -f4 || true)"
    [[ -n "$address" ]] && { echo "$address"; return; }
    sleep 0.1
  done
  cat "$1" >&2
  fail "$2 did not start"
}

DATABASE_URL="sqlite://$work/registry.db?mode=rwc" "$BIN/velocast-registry" serve --bind 127.0.0.1:0 --json-logs 2>"$work/registry.log" &
pids+=($!)
registry="http://$(address_of "$work/registry.log" registry)"
VELOCAST_TOKEN="$("$BIN/velocast" token --sub seed --scope models:read,models:write,models:admin --ttl 1h)" \
  "$BIN/examples/seed_constant_model" "$registry"

VELOCAST_TOKEN="$("$BIN/velocast" token --sub gateway --scope models:read --ttl 2h)" \
VELOCAST_GATEWAY__CACHE_DIR="$work/cache" \
  "$BIN/velocast-gateway" serve --bind 127.0.0.1:0 --registry "$registry" \
  --route default=bike-demand@champion --json-logs 2>"$work/gateway.log" &
pids+=($!)
gateway="http://$(address_of "$work/gateway.log" gateway)"
for _ in $(seq 1 300); do
  curl -fsS "$gateway/health/ready" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$gateway/health/ready" >/dev/null || { cat "$work/gateway.log" >&2; fail "the gateway never became ready"; }
say "gateway at $gateway, serving the constant model from $registry"

TOKEN="$("$BIN/velocast" token --sub schemathesis --scope predict,models:read --ttl 2h)"
if ! "$PY/schemathesis" --config-file "$ROOT/tests/contract/schemathesis-gateway.toml" run \
    "$gateway/openapi.json" -H "Authorization: Bearer $TOKEN" \
    --workers 1 --request-timeout 10 --seed 42; then
  tail -n 20 "$work/gateway.log" >&2
  fail "schemathesis found failures against the gateway"
fi
say "gateway: schemathesis clean"
# The inference protocol as tritonclient[http] and kserve build their requests.
"$PY/python" "$ROOT/tests/contract/oip_clients.py" "$gateway" "$TOKEN" \
  || { tail -n 20 "$work/gateway.log" >&2; fail "the Open Inference Protocol clients found a fault"; }
