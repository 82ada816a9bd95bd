# syntax=docker/dockerfile:1
# velocast-trainer: multi-stage, locked build. Dependencies are compiled in their own layer (cargo-chef),
# so a change to our code rebuilds only our crates. The runtime image is Debian slim (glibc, as
# ONNX Runtime needs) with CA roots, the binary and the ONNX Runtime library and nothing else,
# running as an unprivileged user.
#   docker build -f docker/trainer.Dockerfile -t velocast/trainer .
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.77
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p velocast-trainer -p velocast-cli
COPY . .
# The CLI comes along: one-shot tasks beside training (minting development tokens in
# deploy/compose.yaml, `velocast models`) need no image of their own.
RUN cargo build --release --locked -p velocast-trainer --bin velocast-trainer -p velocast-cli --bin velocast \
 && cp target/release/velocast-trainer target/release/velocast /

# The UCI Bike Sharing data, the default a training Job runs on when no volume brings fresher
# data; hour.csv's sha256 is the one scripts/setup.sh checks.
FROM python:3.11-slim-bookworm AS data
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG UCI_ARCHIVE_URL=https://archive.ics.uci.edu/static/public/275/bike+sharing+dataset.zip
ARG HOUR_CSV_SHA256=e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f
WORKDIR /data
RUN python -c "import io, sys, urllib.request, zipfile; zipfile.ZipFile(io.BytesIO(urllib.request.urlopen(sys.argv[1], timeout=120).read())).extract('hour.csv', '/data')" "${UCI_ARCHIVE_URL}" \
 && echo "${HOUR_CSV_SHA256}  /data/hour.csv" | sha256sum -c -

# ONNX Runtime 1.31.1 from the PyPI wheel, both hashes checked (the same as scripts/setup.sh).
FROM python:3.11-slim-bookworm AS onnxruntime
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ARG ORT_WHEEL=onnxruntime-1.31.1-cp311-cp311-manylinux_2_28_x86_64.whl
ARG ORT_WHEEL_SHA256=5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f
ARG ORT_LIB_SHA256=fc44112fbe06d7d689c57e11d3862031f64711007e4ee020f8eed5185fd2c1d3
WORKDIR /ort
RUN pip download --no-cache-dir --no-deps --only-binary=:all: --dest /ort "onnxruntime==1.31.1" \
 && echo "${ORT_WHEEL_SHA256}  /ort/${ORT_WHEEL}" | sha256sum -c - \
 && python -c "import zipfile; zipfile.ZipFile('/ort/${ORT_WHEEL}').extract('onnxruntime/capi/libonnxruntime.so.1.31.1', '/ort')" \
 && echo "${ORT_LIB_SHA256}  /ort/onnxruntime/capi/libonnxruntime.so.1.31.1" | sha256sum -c -

# Debian slim, not distroless: this is also the operators' tools image (the velocast CLI), whose
# one-off tasks (deploy/compose.yaml's token minting) run in its shell.
FROM debian:bookworm-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="velocast-trainer" \
      org.opencontainers.image.description="The Velocast trainer: validates, tunes, trains, exports ONNX with parity, registers" \
      org.opencontainers.image.source="https://github.com/velocast/velocast" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
# Pinned by the Debian release; ca-certificates is the only package the services need.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin velocast
COPY --from=build /velocast-trainer /velocast /usr/local/bin/
COPY --from=data /data/hour.csv /usr/share/velocast/data/hour.csv
COPY --from=onnxruntime /ort/onnxruntime/capi/libonnxruntime.so.1.31.1 /usr/local/lib/libonnxruntime.so.1.31.1
USER 10001:10001
# Runs to completion (a Kubernetes Job/CronJob): the data path (default: the bundled UCI data),
# registry URL and token come from the Job's arguments and Secret.
ENV ORT_DYLIB_PATH=/usr/local/lib/libonnxruntime.so.1.31.1
ENTRYPOINT ["/usr/local/bin/velocast-trainer"]
CMD ["--help"]
