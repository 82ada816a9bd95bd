# syntax=docker/dockerfile:1
# velocast-gateway: multi-stage, locked build. Dependencies are compiled in their own layer (cargo-chef),
# so a change to our code rebuilds only our crates. The runtime image is distroless (glibc, as
# ONNX Runtime needs; no shell) with CA roots, the binary and the ONNX Runtime library and nothing else,
# running as an unprivileged user.
#   docker build -f docker/gateway.Dockerfile -t velocast/gateway .
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.77
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p velocast-gateway
COPY . .
RUN cargo build --release --locked -p velocast-gateway --bin velocast-gateway \
 && cp target/release/velocast-gateway /velocast-gateway

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

# Distroless: glibc, libgcc, libstdc++ (ONNX Runtime needs it) and CA roots; no shell, no
# package manager, nothing the service does not run.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="velocast-gateway" \
      org.opencontainers.image.description="The Velocast inference gateway: predictions and explanations over ONNX Runtime or the native evaluator" \
      org.opencontainers.image.source="https://github.com/velocast/velocast" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /velocast-gateway /usr/local/bin/velocast-gateway
COPY --from=onnxruntime /ort/onnxruntime/capi/libonnxruntime.so.1.31.1 /usr/local/lib/libonnxruntime.so.1.31.1
USER 10001:10001
EXPOSE 8080
# The token keys and the gateway's registry token come from the environment or mounted files
# (Kubernetes Secrets); the route table from the configuration file (a ConfigMap).
ENV ORT_DYLIB_PATH=/usr/local/lib/libonnxruntime.so.1.31.1 \
    VELOCAST_GATEWAY__BIND=0.0.0.0:8080 \
    VELOCAST_GATEWAY__JSON_LOGS=true \
    VELOCAST_GATEWAY__CACHE_DIR=/var/cache/velocast
ENTRYPOINT ["/usr/local/bin/velocast-gateway"]
CMD ["serve"]
