# velocast-registry: multi-stage, locked build; the runtime image holds the binary, CA roots
# and nothing else, and runs as an unprivileged user.
#   docker build -f docker/registry.Dockerfile -t velocast/registry .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p velocast-registry \
 && cp target/release/velocast-registry /velocast-registry

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin velocast
COPY --from=build /velocast-registry /usr/local/bin/velocast-registry
USER 10001:10001
EXPOSE 8081
# DATABASE_URL and the token keys come from the environment (Kubernetes Secret/ConfigMap).
ENV VELOCAST_REGISTRY__BIND=0.0.0.0:8081 \
    VELOCAST_REGISTRY__JSON_LOGS=true
ENTRYPOINT ["/usr/local/bin/velocast-registry"]
CMD ["serve"]
