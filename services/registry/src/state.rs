//! What every handler can reach, through `State` (CONVENTIONS 9).

use axum::extract::FromRef;
use prometheus::{IntCounterVec, IntGauge, Opts};
use velocast_http::auth::AuthConfig;
use velocast_http::metrics::HttpMetrics;
pub use velocast_http::shutdown::Lifecycle;
use velocast_registry_store::Store;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: Store,
    pub http_metrics: HttpMetrics,
    pub metrics: RegistryMetrics,
    pub auth: AuthConfig,
    pub lifecycle: Lifecycle,
    pub limits: Limits,
}

impl FromRef<AppState> for HttpMetrics {
    fn from_ref(state: &AppState) -> Self {
        state.http_metrics.clone()
    }
}

impl FromRef<AppState> for AuthConfig {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// Sizes the handlers enforce themselves (the router enforces the whole body's size), and how
/// many API requests may be in flight before more are shed.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_artifact_bytes: usize,
    pub max_json_bytes: usize,
    pub max_in_flight: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let config = crate::RegistryConfig::default();
        Limits {
            max_artifact_bytes: config.max_artifact_bytes,
            max_json_bytes: config.max_json_bytes,
            max_in_flight: config.max_in_flight,
        }
    }
}

/// The registry's own metrics, beside the HTTP ones.
#[derive(Debug, Clone)]
pub struct RegistryMetrics {
    pub database_up: IntGauge,
    pub watchers: IntGauge,
    /// 1 while the Postgres notification listener is connected (watch events flow).
    pub relay_up: IntGauge,
    pub writes: IntCounterVec,
    pub artifact_bytes_served: prometheus::IntCounter,
}

impl RegistryMetrics {
    pub fn register(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let database_up = IntGauge::new(
            "velocast_registry_database_up",
            "1 when the last readiness check reached the database",
        )?;
        let watchers = IntGauge::new("velocast_registry_watchers", "Open watch streams")?;
        let relay_up = IntGauge::new(
            "velocast_registry_watch_relay_up",
            "1 while the database notification listener feeding watchers is connected",
        )?;
        let writes = IntCounterVec::new(
            Opts::new(
                "velocast_registry_writes_total",
                "Acknowledged writes by kind",
            ),
            &["kind"],
        )?;
        let artifact_bytes_served = prometheus::IntCounter::new(
            "velocast_registry_artifact_bytes_served_total",
            "Artifact and profile bytes sent to clients",
        )?;
        registry.register(Box::new(database_up.clone()))?;
        registry.register(Box::new(watchers.clone()))?;
        registry.register(Box::new(relay_up.clone()))?;
        registry.register(Box::new(writes.clone()))?;
        registry.register(Box::new(artifact_bytes_served.clone()))?;
        Ok(RegistryMetrics {
            database_up,
            watchers,
            relay_up,
            writes,
            artifact_bytes_served,
        })
    }

    /// Counts an acknowledged write (`kind` from a closed set chosen by the handler).
    pub fn wrote(&self, kind: &'static str) {
        self.writes.with_label_values(&[kind]).inc();
    }
}
