#!/usr/bin/env bash
# Shared by the contract runs (source it after setting ROOT): messages, a work directory and the
# processes started, stopped on exit, and the address a service logged it bound.

say() { printf 'contract: %s\n' "$*"; }
fail() { printf 'contract: FAILED: %s\n' "$*" >&2; exit 1; }

PY="$ROOT/.velocast/py/bin"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
BIN="$TARGET_DIR/debug"
[[ -x "$PY/schemathesis" ]] || fail "schemathesis is not installed: run make setup"

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

# start_registry: a registry on SQLite in the work directory; sets $registry.
start_registry() {
  DATABASE_URL="sqlite://$work/registry.db?mode=rwc" "$BIN/velocast-registry" serve --bind 127.0.0.1:0 --json-logs 2>"$work/registry.log" &
  pids+=($!)
  # shellcheck disable=SC2034 # read by the scripts that source this file
  registry="http://$(address_of "$work/registry.log" registry)"
}

# wait_ready URL NAME LOG: until URL/health/ready answers 200.
wait_ready() {
  for _ in $(seq 1 300); do
    curl -fsS "$1/health/ready" >/dev/null 2>&1 && return
    sleep 0.1
  done
  curl -fsS "$1/health/ready" >/dev/null || { cat "$3" >&2; fail "the $2 never became ready"; }
}
