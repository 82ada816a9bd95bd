# velocast-gateway: multi-stage, locked build. The runtime image holds the binary, the ONNX
# Runtime 1.31 shared library (from the official PyPI wheel, hash-checked by pip against the
# index), CA roots and nothing else, and runs as an unprivileged user.
#   docker build -f docker/gateway.Dockerfile -t velocast/gateway .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p velocast-gateway \
 && cp target/release/velocast-gateway /velocast-gateway

FROM python:3.11-slim-bookworm AS onnxruntime
RUN pip download --no-deps --only-binary=:all: --dest /wheel onnxruntime==1.31.1 \
 && python -c "import glob, zipfile; zipfile.ZipFile(glob.glob('/wheel/onnxruntime-*.whl')[0]).extract('onnxruntime/capi/libonnxruntime.so.1.31.1', '/ort')"

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin velocast
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
