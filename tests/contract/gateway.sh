#!/usr/bin/env bash
# The gateway's OpenAPI contract, checked from outside by schemathesis (every check, bounded
# examples), then the Open Inference Protocol spoken by tritonclient[http] and kserve
# (tests/contract/oip_clients.py), against the real gateway serving a real (constant) model
# from a real registry.
# Zero failures or this fails. Needs `make setup` (schemathesis in .velocast/py, ONNX Runtime).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
export ORT_DYLIB_PATH="${ORT_DYLIB_PATH:-$ROOT/.velocast/lib/libonnxruntime.so}"
source "$ROOT/tests/contract/common.sh"

cargo build --locked -q -p velocast-registry -p velocast-cli -p velocast-gateway --bins --example seed_constant_model

start_registry
VELOCAST_TOKEN="$("$BIN/velocast" token --sub seed --scope models:read,models:write,models:admin --ttl 1h)" \
  "$BIN/examples/seed_constant_model" "$registry"

VELOCAST_TOKEN="$("$BIN/velocast" token --sub gateway --scope models:read --ttl 2h)" \
VELOCAST_GATEWAY__CACHE_DIR="$work/cache" \
  "$BIN/velocast-gateway" serve --bind 127.0.0.1:0 --registry "$registry" \
  --route default=bike-demand@champion --json-logs 2>"$work/gateway.log" &
pids+=($!)
gateway="http://$(address_of "$work/gateway.log" gateway)"
wait_ready "$gateway" gateway "$work/gateway.log"
say "gateway at $gateway, serving the constant model from $registry"

TOKEN="$("$BIN/velocast" token --sub schemathesis --scope predict,explain,models:read --ttl 2h)"
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
