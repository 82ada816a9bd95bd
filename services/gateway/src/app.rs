//! Building and running the gateway: `build` loads ONNX Runtime, connects the registry client
//! and binds (port 0 allowed); `App::run` serves until the shutdown future resolves, then
//! drains: readiness false, no new connections, in-flight requests finish within the grace
//! period, background work stops.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use velocast_http::metrics::HttpMetrics;
use velocast_registry_client::RegistryClient;
use velocast_runtime::{Runtime, resolve_dylib_path};

use crate::api;
use crate::cache::ArtifactCache;
use crate::config::GatewayConfig;
use crate::fleet::Fleet;
use crate::follow;
use crate::metrics::GatewayMetrics;
use crate::model::LoadSettings;
use crate::pool::BatchPolicy;
use crate::ratelimit;
use crate::state::{AppState, Lifecycle, Limits, Shared};

/// The task that delivers prediction events (boxed: its type is unnameable).
struct EventDelivery(std::pin::Pin<Box<dyn Future<Output = ()> + Send + 'static>>);

impl std::fmt::Debug for EventDelivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EventDelivery")
    }
}

/// A gateway whose background work runs: the router to serve and what stops it.
struct Started {
    listener: TcpListener,
    router: axum::Router,
    tasks: TaskTracker,
    lifecycle: Lifecycle,
    config: GatewayConfig,
    /// Lambda waits on it for the cold start's models.
    #[cfg(feature = "lambda")]
    fleet: Arc<Fleet>,
}

/// A bound, ready-to-run gateway.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: AppState,
    delivery: Option<EventDelivery>,
    client: RegistryClient,
    config: GatewayConfig,
    config_file: Option<PathBuf>,
}

/// Loads the runtime, prepares the registry client and the model fleet, and binds.
/// `registry_token` is the gateway's own token for reading the registry; `config_file`, when
/// given, is watched for route table changes.
pub async fn build(
    config: &GatewayConfig,
    config_file: Option<PathBuf>,
    registry_token: SecretString,
) -> anyhow::Result<App> {
    let table = config.route_table().map_err(|e| anyhow::anyhow!("{e}"))?;
    let runtime = Runtime::load(&resolve_dylib_path(config.onnxruntime_path.as_deref()))?;
    let client = RegistryClient::new(&config.registry_url, registry_token.clone())?;
    let http_metrics = HttpMetrics::new().context("metrics")?;
    let metrics = GatewayMetrics::register(http_metrics.registry()).context("metrics")?;
    let auth = config
        .auth
        .load(http_metrics.registry())
        .await
        .map_err(|e| anyhow::anyhow!("auth: {e}"))?;
    let fleet = Fleet::new(
        table,
        client.clone(),
        runtime,
        ArtifactCache::new(config.cache_dir.clone()),
        LoadSettings {
            backend: config.backend,
            explain: config.explain.enabled,
            sessions: config.sessions,
            batching: BatchPolicy {
                max_batch_rows: config.batching.max_batch_rows,
                max_wait: Duration::from_micros(config.batching.max_wait_us),
            },
            cache: config.response_cache.enabled.then(|| {
                (
                    config.response_cache.max_entries,
                    config.response_cache.max_bytes,
                    metrics.response_cache.clone(),
                )
            }),
        },
        Duration::from_secs(config.resync_interval_seconds),
        metrics.clone(),
    );
    let lifecycle = Lifecycle::default();
    let events = match &config.events {
        Some(settings) => {
            let (sink, delivery) = crate::events::start(
                crate::events::EventSettings {
                    url: settings.url.clone(),
                    buffer: settings.buffer,
                    batch: settings.batch,
                    flush_interval: Duration::from_millis(settings.flush_interval_ms),
                    max_retries: settings.max_retries,
                    timeout: Duration::from_millis(settings.timeout_ms),
                },
                registry_token.clone(),
                http_metrics.registry(),
                lifecycle.stopping.clone(),
            )
            .context("event metrics")?;
            Some((sink, delivery))
        }
        None => None,
    };
    let (events, delivery) = match events {
        Some((sink, delivery)) => (Some(sink), Some(EventDelivery(Box::pin(delivery)))),
        None => (None, None),
    };
    let shadow =
        crate::shadow::ShadowRunner::register(http_metrics.registry(), config.shadow_max_in_flight)
            .context("shadow metrics")?;
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let state = AppState::new(Shared {
        fleet: Arc::new(fleet),
        http_metrics,
        metrics,
        auth: auth.with_public(&api::PUBLIC_PATHS),
        lifecycle,
        limits: Limits {
            max_instances: config.max_instances,
            max_body_bytes: config.max_body_bytes,
            max_in_flight: config.max_in_flight,
            max_explain_instances: config.explain.max_instances,
        },
        registry_url: config.registry_url.clone(),
        events,
        shadow,
    });
    Ok(App {
        listener,
        state,
        delivery,
        client,
        config: config.clone(),
        config_file,
    })
}

impl App {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves (see the module documentation).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Started {
            listener,
            router,
            tasks,
            lifecycle,
            config,
            ..
        } = self.start()?;
        let address = listener.local_addr()?;
        tracing::info!(%address, registry = %config.registry_url, "gateway listening");
        let grace = Duration::from_secs(config.shutdown_grace_seconds);
        let outcome = velocast_http::shutdown::serve_until(
            listener,
            router,
            lifecycle.clone(),
            shutdown,
            velocast_http::shutdown::Drain {
                delay: Duration::from_millis(config.shutdown_delay_ms),
                grace,
            },
        )
        .await
        .context("serving");
        tasks.close();
        tasks.wait().await;
        tracing::info!("gateway stopped");
        outcome
    }

    /// The background work (model reconciliation, the registry watch, route reloads, event
    /// delivery, limiter housekeeping) spawned, and the router built: what serving over a
    /// listener and serving Lambda invocations share.
    fn start(self) -> anyhow::Result<Started> {
        let App {
            listener,
            state,
            delivery,
            client,
            config,
            config_file,
        } = self;
        let lifecycle = state.lifecycle.clone();
        let tasks = TaskTracker::new();
        let fleet = Arc::clone(&state.fleet);
        if let Some(EventDelivery(delivery)) = delivery {
            tasks.spawn(delivery);
        }
        tasks.spawn(follow::reconcile_loop(
            Arc::clone(&fleet),
            Duration::from_secs(config.resync_interval_seconds),
            lifecycle.stopping.clone(),
        ));
        tasks.spawn(follow::watch_registry(
            Arc::clone(&fleet),
            client,
            state.metrics.clone(),
            lifecycle.stopping.clone(),
        ));
        if let Some(file) = config_file {
            tasks.spawn(follow::reload_routes(
                Arc::clone(&fleet),
                file,
                Duration::from_millis(config.reload_interval_ms),
                state.metrics.clone(),
                lifecycle.stopping.clone(),
            ));
        }
        let limits = if config.rate_limit.enabled {
            let tiers = ratelimit::tiers(&config.rate_limit)
                .context("the rate limit needs a positive burst and rate")?;
            // Forget keys idle long enough to have a full bucket again.
            let limiters: Vec<_> = tiers.all().map(|g| Arc::clone(g.limiter())).collect();
            let stopping = lifecycle.stopping.clone();
            tasks.spawn(async move {
                loop {
                    tokio::select! {
                        () = stopping.cancelled() => return,
                        () = tokio::time::sleep(Duration::from_secs(60)) => {
                            for limiter in &limiters {
                                limiter.retain_recent();
                            }
                        }
                    }
                }
            });
            Some(tiers)
        } else {
            None
        };
        let router = api::router(
            state,
            Duration::from_secs(config.request_timeout_seconds),
            limits,
        );
        Ok(Started {
            listener,
            router,
            tasks,
            lifecycle,
            config,
            #[cfg(feature = "lambda")]
            fleet,
        })
    }
}

#[cfg(feature = "lambda")]
impl App {
    /// Serves AWS Lambda invocations (API Gateway HTTP API events, payload v2) with the same
    /// router, auth, limits and errors as over HTTP, until the Lambda runtime stops. A cold start
    /// waits up to `cold_start` for the routed models to load (downloaded and verified from the
    /// registry, or found in the bundled cache directory when the registry is away), so the
    /// first invocation is answered by a model rather than refused as not ready.
    pub async fn run_lambda(self, cold_start: Duration) -> anyhow::Result<()> {
        let Started {
            router,
            tasks,
            lifecycle,
            fleet,
            ..
        } = self.start()?;
        let deadline = tokio::time::Instant::now() + cold_start;
        while !fleet.serving().ready() && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if fleet.serving().ready() {
            tracing::info!("lambda: models loaded, taking invocations");
        } else {
            tracing::warn!(
                ?cold_start,
                "lambda: models not loaded in time; invocations get 503 until they are"
            );
        }
        let outcome = lambda_http::run(router)
            .await
            .map_err(|error| anyhow::anyhow!("the Lambda runtime stopped: {error}"));
        lifecycle.stopping.cancel();
        tasks.close();
        tasks.wait().await;
        outcome
    }
}
