#!/usr/bin/env bash
# The drift report against Evidently 0.7.23's `Report.run` with `DataDriftPreset`, side by side
# in one run on the same files: hour.csv's 2011 (8,645 rows) against January 2012 (741 rows),
# and 1 M rows against 1 M rows (2011's and 2012's rows drawn with replacement, seeded), the
# same 11 columns. Writes bench/results/drift.{json,md}.
#
#   bench/drift.sh              (MONTH_REPEATS=30, MILLION_REPEATS=3)
#
# Each side reads the CSV files first (timed apart), then makes the report `repeats` times in
# one process; the report time is the median. Peak memory is the process's VmHWM. Ours runs
# with both cores (it tests columns in parallel) and again pinned to one core; Evidently is
# single-threaded. Whole-process times (start, imports, reading, report, exit) are measured too.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MONTH_REPEATS="${MONTH_REPEATS:-30}"
MILLION_REPEATS="${MILLION_REPEATS:-3}"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
VENV=.velocast/drift-venv
DATA=.velocast/bench-drift
RESULTS=bench/results

say() { printf 'bench: %s\n' "$*"; }

scripts/setup.sh
if ! "$VENV/bin/python" -c "import evidently; assert evidently.__version__ == '0.7.23'" 2>/dev/null; then
  say "installing Evidently 0.7.23 into $VENV"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "evidently==0.7.23" "pandas<3" "scipy==1.17.1"
fi
mkdir -p "$DATA"
if [[ ! -s "$DATA/million_current.csv" ]]; then
  say "writing the benchmark's CSV files into $DATA"
  "$VENV/bin/python" bench/drift_evidently.py prepare .velocast/data/hour.csv "$DATA"
fi
cargo build --release --locked -p velocast-drift-report --example drift_bench
cargo build --release --locked -p velocast-cli --bin velocast
OURS="$TARGET_DIR/release/examples/drift_bench"
CLI="$TARGET_DIR/release/velocast"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# Wall seconds of a whole command, output discarded.
wall() {
  local started ended
  started="$(date +%s.%N)"
  "$@" >/dev/null
  ended="$(date +%s.%N)"
  python3 -c "print($ended - $started)"
}

for case in month million; do
  repeats="$MONTH_REPEATS"
  [[ "$case" == million ]] && repeats="$MILLION_REPEATS"
  reference="$DATA/${case}_reference.csv"
  current="$DATA/${case}_current.csv"
  say "$case: Evidently, $repeats reports"
  "$VENV/bin/python" bench/drift_evidently.py run "$reference" "$current" "$repeats" >"$work/${case}_evidently.json"
  say "$case: ours, $repeats reports on two cores, then on one"
  "$OURS" "$reference" "$current" "$repeats" >"$work/${case}_ours.json"
  taskset -c 0 "$OURS" "$reference" "$current" "$repeats" >"$work/${case}_ours_one_core.json"
  say "$case: whole processes (velocast drift; python: import, read, one report)"
  {
    printf '{"ours": [%s, %s, %s], ' \
      "$(wall "$CLI" drift --reference "$reference" --current "$current" --json "$work/out.json")" \
      "$(wall "$CLI" drift --reference "$reference" --current "$current" --json "$work/out.json")" \
      "$(wall "$CLI" drift --reference "$reference" --current "$current" --json "$work/out.json")"
    printf '"evidently": [%s]}\n' \
      "$(wall "$VENV/bin/python" bench/drift_evidently.py run "$reference" "$current" 1)"
  } >"$work/${case}_process.json"
done

python3 bench/summarize_drift.py "$work" "$RESULTS"
say "wrote $RESULTS/drift.md"
