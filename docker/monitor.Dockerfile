# syntax=docker/dockerfile:1
# velocast-monitor: multi-stage, locked build. Dependencies are compiled in their own layer (cargo-chef),
# so a change to our code rebuilds only our crates. The runtime image is distroless (glibc, as
# ONNX Runtime needs; no shell) with CA roots, the binary and nothing else,
# running as an unprivileged user.
#   docker build -f docker/monitor.Dockerfile -t velocast/monitor .
FROM rust:1.95-bookworm AS chef
RUN cargo install cargo-chef --locked --version 0.1.77
WORKDIR /src

FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json -p velocast-monitor
COPY . .
RUN cargo build --release --locked -p velocast-monitor --bin velocast-monitor \
 && cp target/release/velocast-monitor /velocast-monitor

# Distroless: glibc, libgcc, libstdc++ (ONNX Runtime needs it) and CA roots; no shell, no
# package manager, nothing the service does not run.
FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=0.1.0
ARG REVISION=unknown
LABEL org.opencontainers.image.title="velocast-monitor" \
      org.opencontainers.image.description="The Velocast monitor: drift, data quality and realized accuracy, with alerts" \
      org.opencontainers.image.source="https://github.com/velocast/velocast" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=build /velocast-monitor /usr/local/bin/velocast-monitor
USER 10001:10001
EXPOSE 8082
# DATABASE_URL, the registry token and the token keys come from the environment (Kubernetes
# Secret/ConfigMap).
ENV VELOCAST_MONITOR__BIND=0.0.0.0:8082 \
    VELOCAST_MONITOR__JSON_LOGS=true
ENTRYPOINT ["/usr/local/bin/velocast-monitor"]
CMD ["serve"]
