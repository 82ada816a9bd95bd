#!/usr/bin/env bash
# The registry's OpenAPI contract, checked from outside by schemathesis (every check, bounded
# examples) against the real service on SQLite and on Postgres. Zero failures or this fails.
#
#   tests/contract/registry.sh [sqlite|postgres]...   (default: both)
#
# Needs `make setup` (schemathesis in .velocast/py) and, for Postgres, a server at
# VELOCAST_TEST_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PY="$ROOT/.velocast/py/bin"
ADMIN_URL="${VELOCAST_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
backends=("$@")
[[ ${#backends[@]} -gt 0 ]] || backends=(sqlite postgres)

say() { printf 'contract: %s\n' "$*"; }
fail() { printf 'contract: FAILED: %s\n' "$*" >&2; exit 1; }
[[ -x "$PY/schemathesis" ]] || fail "schemathesis is not installed: run make setup"

cargo build --locked -q -p velocast-registry -p velocast-cli
REGISTRY="$TARGET_DIR/debug/velocast-registry"
VELOCAST="$TARGET_DIR/debug/velocast"

work="$(mktemp -d)"
pids=()
databases=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  for database in "${databases[@]}"; do
    psql -q "$ADMIN_URL" -c "DROP DATABASE IF EXISTS $database WITH (FORCE)" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

export VELOCAST_JWT_SECRET="contract-test-secret-of-at-least-32-bytes"
TOKEN="$("$VELOCAST" token --sub schemathesis --scope models:read,models:write,models:admin --ttl 2h)"

run_against() {
  local backend="$1" url
  case "$backend" in
    sqlite) url="sqlite://$work/registry.db?mode=rwc" ;;
    postgres)
      local database="velocast_contract_$$_${RANDOM}"
      psql -q "$ADMIN_URL" -c "CREATE DATABASE $database" >/dev/null || fail "cannot create a Postgres database at $ADMIN_URL"
      databases+=("$database")
      url="${ADMIN_URL%/*}/$database"
      ;;
    *) fail "unknown backend $backend (sqlite or postgres)" ;;
  esac
  local log="$work/$backend.log"
  DATABASE_URL="$url" "$REGISTRY" serve --bind 127.0.0.1:0 --json-logs 2>"$log" &
  pids+=($!)
  local address=""
  for _ in $(seq 1 100); do
    address="$(grep -o '"address":"[0-9.:]*"' "$log" | head -n1 | cut -d'"' -f4 || true)"
    [[ -n "$address" ]] && break
    sleep 0.1
  done
  [[ -n "$address" ]] || { cat "$log" >&2; fail "the registry did not start on $backend"; }
  say "$backend: registry at http://$address"
  # Something to find: a model with a version behind an alias, so positive cases reach data.
  "$PY/python" "$ROOT/tests/contract/seed.py" "http://$address" "$TOKEN"
  # Every check runs (schemathesis' default; the config file turns one off for one operation,
  # which an explicit `--checks all` would override). The watch stream never ends by design;
  # its contract is tested by the registry's own tests.
  if ! "$PY/schemathesis" --config-file "$ROOT/tests/contract/schemathesis.toml" run \
      "http://$address/openapi.json" -H "Authorization: Bearer $TOKEN" \
      --exclude-path /v1/watch --workers 1 --request-timeout 10 --seed 42; then
    tail -n 20 "$log" >&2
    fail "schemathesis found failures against the registry on $backend"
  fi
  say "$backend: schemathesis clean"
}

for backend in "${backends[@]}"; do run_against "$backend"; done
