#!/usr/bin/env bash
# The monitor's OpenAPI contract, checked from outside by schemathesis (every check, bounded
# examples), against the real monitor on SQLite beside a real registry holding a version with
# its reference profile. Zero failures or this fails. Needs `make setup`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
source "$ROOT/tests/contract/common.sh"

cargo build --locked -q -p velocast-registry -p velocast-cli -p velocast-monitor --bins
start_registry

VELOCAST_TOKEN="$("$BIN/velocast" token --sub monitor --scope models:read --ttl 2h)" \
DATABASE_URL="sqlite://$work/monitor.db?mode=rwc" VELOCAST_REGISTRY_URL="$registry" \
  "$BIN/velocast-monitor" serve --bind 127.0.0.1:0 --json-logs 2>"$work/monitor.log" &
pids+=($!)
monitor="http://$(address_of "$work/monitor.log" monitor)"
wait_ready "$monitor" monitor "$work/monitor.log"
say "monitor at $monitor, registry at $registry"

TOKEN="$("$BIN/velocast" token --sub schemathesis --scope monitor:read,monitor:write --ttl 2h)"
if ! "$PY/schemathesis" --config-file "$ROOT/tests/contract/schemathesis-monitor.toml" run \
    "$monitor/openapi.json" -H "Authorization: Bearer $TOKEN" \
    --workers 1 --request-timeout 10 --seed 42; then
  tail -n 20 "$work/monitor.log" >&2
  fail "schemathesis found failures against the monitor"
fi
say "monitor: schemathesis clean"
