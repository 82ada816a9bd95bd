#!/usr/bin/env bash
# `make up`: the registry, the monitor and the gateway on the embedded defaults, in the
# foreground until Ctrl-C (then all drain and stop). The gateway serves `champion` of bike-demand; `make demo`
# trains and registers one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/stack.sh

cargo build --release --locked -p velocast-registry -p velocast-cli -p velocast-gateway -p velocast-monitor
stack_secret
trap stack_stop EXIT
start_registry
if ! VELOCAST_TOKEN="$("$BIN/velocast" token --sub up --scope models:read --ttl 5m)" \
    "$BIN/velocast" versions bike-demand --registry "$REGISTRY" 2>/dev/null | grep -q champion; then
  echo "no champion of bike-demand in the registry yet: run \`make demo\` first (the gateway waits for one)" >&2
fi
start_monitor
launch_gateway
echo "gateway starting at $GATEWAY (log: $STATE/gateway.log; ready once a champion is loaded: $GATEWAY/health/ready)"
"$BIN/velocast" token --sub you --scope predict --ttl 8h > "$STATE/predict.token"
echo "predict with: VELOCAST_TOKEN_FILE=$STATE/predict.token $BIN/velocast predict --at 2012-10-01T08:00 --temp 18 --humidity 60 --wind 10"
echo "Ctrl-C stops all three."
wait
