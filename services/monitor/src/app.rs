//! Building and running the service: `build` connects, migrates and binds (port 0 allowed);
//! `App::run` serves and evaluates the tumbling windows until the shutdown future resolves,
//! then drains. Every batch is committed before it is acknowledged, so what was accepted is
//! stored when the process exits.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context as _;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio_util::task::TaskTracker;
use velocast_http::metrics::HttpMetrics;
use velocast_registry_client::RegistryClient;

use crate::alerts::Alerter;
use crate::api;
use crate::config::MonitorConfig;
use crate::error::MonitorError;
use crate::reference::References;
use crate::state::{AppState, Lifecycle, MonitorMetrics, Settings};
use crate::store::{MonitorStore, TimeBasis};
use crate::window::{self, Window};

/// A bound, ready-to-run monitor.
#[derive(Debug)]
pub struct App {
    listener: TcpListener,
    state: AppState,
    request_timeout: Duration,
    grace: Duration,
}

fn registry_token(config: &MonitorConfig) -> anyhow::Result<SecretString> {
    match &config.registry_token_file {
        Some(path) => velocast_registry_client::read_token_file(path)
            .with_context(|| format!("the registry token file {}", path.display())),
        None => velocast_registry_client::token_from_env().context("the registry token"),
    }
}

pub async fn build(config: &MonitorConfig) -> anyhow::Result<App> {
    let store = MonitorStore::connect(config.database_url.expose(), config.max_connections)
        .await
        .context("connecting to the monitor database")?;
    let client = RegistryClient::new(&config.registry_url, registry_token(config)?)
        .context("the registry client")?;
    let http_metrics = HttpMetrics::new().context("metrics")?;
    let metrics = MonitorMetrics::register(http_metrics.registry()).context("metrics")?;
    let auth = config
        .auth
        .load(http_metrics.registry())
        .await
        .map_err(|e| anyhow::anyhow!("auth: {e}"))?;
    let listener = TcpListener::bind(config.bind)
        .await
        .with_context(|| format!("binding {}", config.bind))?;
    let alerter = Alerter::new(config.alerts.clone(), metrics.alerts.clone());
    let state = AppState {
        store,
        alerter,
        references: References::new(client),
        http_metrics,
        metrics,
        auth,
        lifecycle: Lifecycle::default(),
        settings: Settings {
            model: config.model.clone(),
            window_seconds: config.window_seconds,
            drift_share: config.drift_share,
            max_window_events: config.max_window_events,
            max_batch: config.max_batch,
            max_body_bytes: config.max_body_bytes,
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

/// Every `window_seconds`: drift and accuracy of the window just closed, into the gauges.
async fn tumbling_windows(state: AppState) {
    let length = Duration::from_secs(state.settings.window_seconds);
    let mut ticks = tokio::time::interval(length);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // The first tick is immediate: there is no closed window yet.
    ticks.tick().await;
    loop {
        tokio::select! {
            () = state.lifecycle.stopping.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let window = match Window::resolve(
            None,
            TimeBasis::Answered,
            None,
            None,
            &state.settings.model,
            state.settings.window_seconds,
        ) {
            Ok(window) => window,
            Err(error) => {
                tracing::error!(%error, "cannot form the tumbling window");
                continue;
            }
        };
        let (drift, quality, accuracy) = match window::reports(&state, &window, None, false).await {
            Ok(reports) => reports,
            Err(error) => {
                tracing::warn!(%error, model = %window.model, "window not read");
                state.metrics.windows.with_label_values(&["failed"]).inc();
                continue;
            }
        };
        window::alert(
            &state,
            drift.as_ref().ok(),
            quality.as_ref().ok(),
            accuracy.as_ref().ok(),
        )
        .await;
        let outcome = match (&drift, &accuracy) {
            (Err(MonitorError::EmptyWindow { .. }), _) => "empty",
            (Err(error), _) | (_, Err(error)) => {
                tracing::warn!(%error, model = %window.model, "window not reported");
                "failed"
            }
            (Ok(drift), Ok(accuracy)) => {
                tracing::info!(
                    model = %drift.model,
                    version = drift.version,
                    events = drift.current_rows,
                    drifted = drift.report.number_of_drifted_columns,
                    dataset_drift = drift.report.dataset_drift,
                    scored = accuracy.accuracy.scored,
                    "window reported"
                );
                "reported"
            }
        };
        state.metrics.windows.with_label_values(&[outcome]).inc();
    }
}

impl App {
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` resolves; then readiness turns false, new connections are
    /// refused, in-flight batches finish within the grace period (each is committed before it
    /// is acknowledged), the window task stops and the pool is closed.
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
        tracing::info!(%address, model = %state.settings.model, "monitor listening");
        let lifecycle = state.lifecycle.clone();
        let store = state.store.clone();
        let tasks = TaskTracker::new();
        tasks.spawn(tumbling_windows(state.clone()));
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
        lifecycle.stopping.cancel();
        tasks.close();
        tasks.wait().await;
        store.close().await;
        tracing::info!("monitor stopped");
        outcome
    }
}
