# velocast-monitor: multi-stage, locked build; the runtime image holds the binary, CA roots (for
# the registry, webhooks and SMTP over TLS) and nothing else, and runs as an unprivileged user.
#   docker build -f docker/monitor.Dockerfile -t velocast/monitor .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p velocast-monitor \
 && cp target/release/velocast-monitor /velocast-monitor

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin velocast
COPY --from=build /velocast-monitor /usr/local/bin/velocast-monitor
USER 10001:10001
EXPOSE 8082
# DATABASE_URL, the registry token and the token keys come from the environment (Kubernetes
# Secret/ConfigMap).
ENV VELOCAST_MONITOR__BIND=0.0.0.0:8082 \
    VELOCAST_MONITOR__JSON_LOGS=true
ENTRYPOINT ["/usr/local/bin/velocast-monitor"]
CMD ["serve"]
