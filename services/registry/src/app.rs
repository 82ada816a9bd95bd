//! Building and running the service (CONVENTIONS 3, 13): `build` connects, migrates and binds
//! (port 0 allowed); `App::run` serves until the shutdown future resolves, then drains.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use velocast_http::metrics::HttpMetrics;
use velocast_registry_store::Store;

use crate::api;
use crate::config::RegistryConfig;
use crate::state::{AppState, Lifecycle, Limits, RegistryMetrics};

/// A bound, ready-to-run registry.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: AppState,
    request_timeout: Duration,
    grace: Duration,
}

/// Connects to the database (applying migrations), builds the router and binds the listener.
pub async fn build(config: &RegistryConfig) -> anyhow::Result<App> {
    let store = Store::connect(
        config.database_url.expose(),
        config.max_connections,
        config.max_artifact_bytes,
    )
    .await
    .context("connecting to the registry database")?;
    let http_metrics = HttpMetrics::new().context("metrics")?;
    let metrics = RegistryMetrics::register(http_metrics.registry()).context("metrics")?;
    let auth = config
        .auth
        .load(http_metrics.registry())
        .await
        .map_err(|e| anyhow::anyhow!("auth: {e}"))?;
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let state = AppState {
        store,
        http_metrics,
        metrics,
        auth,
        lifecycle: Lifecycle::default(),
        limits: Limits {
            max_artifact_bytes: config.max_artifact_bytes,
            max_json_bytes: config.max_json_bytes,
            max_in_flight: config.max_in_flight,
        },
    };
    Ok(App {
        listener,
        state,
        request_timeout: Duration::from_secs(config.request_timeout_seconds),
        grace: Duration::from_secs(config.shutdown_grace_seconds),
    })
}

impl App {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; then readiness turns false, watch streams end, new
    /// connections are refused, in-flight requests get the grace period, background tasks are
    /// stopped and the pool is closed.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            listener,
            state,
            request_timeout,
            grace,
        } = self;
        let address = listener.local_addr()?;
        tracing::info!(%address, backend = ?state.store.backend(), "registry listening");
        let lifecycle = state.lifecycle.clone();
        let store = state.store.clone();
        let tasks = TaskTracker::new();
        let relay_up = state.metrics.relay_up.clone();
        let on_connection = move |up: bool| relay_up.set(i64::from(up));
        if let Some(relay) = store.notification_relay(lifecycle.stopping.clone(), on_connection) {
            tasks.spawn(relay);
        }
        let router = api::router(state, request_timeout);
        let outcome = velocast_http::shutdown::serve_until(
            listener,
            router,
            lifecycle.clone(),
            shutdown,
            velocast_http::shutdown::Drain {
                delay: Duration::ZERO,
                grace,
            },
        )
        .await
        .context("serving");
        tasks.close();
        tasks.wait().await;
        store.close().await;
        tracing::info!("registry stopped");
        outcome
    }
}
