#!/usr/bin/env bash
# The main job (`make demo`): start the registry on the embedded default (SQLite under
# .velocast/), train the default model, register it as a new version of `bike-demand` with its
# card, reference profile and lineage, point `champion` at it, start the monitor and the gateway
# serving `champion`, ask it for a prediction with `velocast predict`; then replay September
# 2012 through the gateway (its events reach the monitor), post the true counts, and print the
# monitor's drift verdict and realized MAE with the path of its HTML drift report. The services
# are stopped at the end (`make up` serves them again).
#
# Environment: VELOCAST_REGISTRY_PORT (8081), VELOCAST_GATEWAY_PORT (8080),
# VELOCAST_MONITOR_PORT (8082), DATA, OUT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/stack.sh

DATA="${DATA:-.velocast/data/hour.csv}"
OUT="${OUT:-out/model}"

cargo build --release --locked -p velocast-registry -p velocast-trainer -p velocast-cli -p velocast-gateway -p velocast-monitor
stack_secret
trap stack_stop EXIT
start_registry

"$BIN/velocast" token --sub demo --scope models:read,models:write,models:admin --ttl 2h > "$STATE/demo.token"
VELOCAST_TOKEN_FILE="$STATE/demo.token" \
  "$BIN/velocast-trainer" train --data "$DATA" --out "$OUT" --register "$REGISTRY" --alias champion

echo
VELOCAST_TOKEN_FILE="$STATE/demo.token" "$BIN/velocast" models --registry "$REGISTRY"
echo
VELOCAST_TOKEN_FILE="$STATE/demo.token" "$BIN/velocast" versions bike-demand --registry "$REGISTRY"
echo

start_monitor
start_gateway
"$BIN/velocast" token --sub demo-client --scope predict --ttl 2h > "$STATE/predict.token"
echo
echo "velocast predict --at 2012-10-01T08:00 --weather clear --temp 18 --humidity 60 --wind 10"
VELOCAST_TOKEN_FILE="$STATE/predict.token" "$BIN/velocast" predict --gateway "$GATEWAY" \
  --at 2012-10-01T08:00 --weather clear --temp 18 --humidity 60 --wind 10

# September 2012 as the gateway's clients would have asked for it, then its true counts.
"$BIN/velocast" token --sub demo-replay --scope predict,monitor:read,monitor:write --ttl 2h > "$STATE/replay.token"
echo
echo "velocast replay --data $DATA --from 2012-09-01 --to 2012-10-01"
VELOCAST_TOKEN_FILE="$STATE/replay.token" "$BIN/velocast" replay --data "$DATA" \
  --from 2012-09-01 --to 2012-10-01 --gateway "$GATEWAY" --monitor "$MONITOR"
echo
echo "velocast monitor --from 2012-09-01T00:00:00Z --to 2012-10-01T00:00:00Z"
VELOCAST_TOKEN_FILE="$STATE/replay.token" "$BIN/velocast" monitor --monitor "$MONITOR" \
  --from 2012-09-01T00:00:00Z --to 2012-10-01T00:00:00Z --html "$OUT/drift-2012-09.html"
cat <<CURL

Ask it yourself while it runs (\`make up\` serves registry, monitor and gateway until Ctrl-C; the token
below is valid for 2 hours):

curl -s $GATEWAY/v1/predict \\
  -H "Authorization: Bearer $(cat "$STATE/predict.token")" \\
  -H 'Content-Type: application/json' \\
  -d '{"timestamp":"2012-10-01T08:00:00","weather":1,"temperature_c":18,"feels_like_c":18,"humidity_pct":60,"wind_speed_kmh":10,"holiday":false}'
CURL
