#!/usr/bin/env bash
# Supply-chain gate: advisories (offline, from the RustSec snapshot beside the repository),
# licenses, bans and sources. Installs cargo-deny 0.20 when it is missing.
#   VELOCAST_ADVISORY_DB  a RustSec advisory-db checkout (default: ../shared/advisory-db)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SOURCE="${VELOCAST_ADVISORY_DB:-$ROOT/../shared/advisory-db}"
DB_ROOT="$ROOT/target/advisory-db"
# cargo-deny looks for <db-path>/<name derived from its default database URL>.
DB="$DB_ROOT/advisory-db-3157b0e258782691"

if ! cargo deny --version 2>/dev/null | grep -q '^cargo-deny 0\.20'; then
  echo "deny: installing cargo-deny 0.20.2"
  cargo install --locked --quiet cargo-deny --version 0.20.2
fi
[[ -d "$SOURCE" ]] || { echo "deny: FAILED: no advisory database at $SOURCE (set VELOCAST_ADVISORY_DB)" >&2; exit 1; }
# cargo-deny reads the database as a git repository: copy the snapshot and commit it once.
stamp="$(cat "$SOURCE/SNAPSHOT" 2>/dev/null || echo unknown)"
if [[ ! -f "$DB/.velocast-snapshot" ]] || [[ "$(cat "$DB/.velocast-snapshot")" != "$stamp" ]]; then
  rm -rf "$DB"
  mkdir -p "$DB_ROOT"
  cp -r "$SOURCE" "$DB"
  chmod -R u+w "$DB"
  (cd "$DB" && git init -q && git add -A && git -c user.name=velocast -c user.email=ci@velocast.invalid commit -qm snapshot)
  echo "$stamp" > "$DB/.velocast-snapshot"
fi
# Every locked crate, for every target, must be in the local cache for an offline check.
cargo fetch --locked --quiet
cargo deny --offline check advisories licenses bans sources
