//! What every handler can reach, through `State`.

use std::sync::Arc;

use axum::extract::FromRef;
use velocast_http::auth::AuthConfig;
use velocast_http::metrics::HttpMetrics;
pub use velocast_http::shutdown::Lifecycle;

use crate::fleet::Fleet;
use crate::metrics::GatewayMetrics;

/// Cheap to clone (one reference count): axum hands every handler its own copy.
#[derive(Debug, Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        AppState(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;
    fn deref(&self) -> &Shared {
        &self.0
    }
}

#[derive(Debug)]
pub struct Shared {
    pub fleet: Arc<Fleet>,
    pub http_metrics: HttpMetrics,
    pub metrics: GatewayMetrics,
    pub auth: AuthConfig,
    pub lifecycle: Lifecycle,
    pub limits: Limits,
    pub registry_url: String,
    /// Prediction events for the monitor, when configured.
    pub events: Option<crate::events::EventSink>,
    pub shadow: crate::shadow::ShadowRunner,
}

impl FromRef<AppState> for HttpMetrics {
    fn from_ref(state: &AppState) -> Self {
        state.http_metrics.clone()
    }
}

/// Sizes the handlers enforce.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_instances: usize,
    pub max_body_bytes: usize,
    pub max_in_flight: usize,
    pub max_explain_instances: usize,
}

impl Default for Limits {
    fn default() -> Self {
        let config = crate::GatewayConfig::default();
        Limits {
            max_instances: config.max_instances,
            max_body_bytes: config.max_body_bytes,
            max_in_flight: config.max_in_flight,
            max_explain_instances: config.explain.max_instances,
        }
    }
}
