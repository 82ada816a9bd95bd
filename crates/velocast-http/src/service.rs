//! A service's router assembled the one way: its API routes behind load shedding, its
//! operations routes (never shed), the OpenAPI document both describe at `/openapi.json` with
//! the offline Swagger UI at `/docs`, a JSON 404 for everything else, the body limit, and the
//! standard layer stack; and the readiness answer of a service backed by a database.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use prometheus::IntGauge;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::ApiError;
use crate::auth::AuthConfig;
use crate::layers::{self, StandardLayers};
use crate::metrics::HttpMetrics;
use crate::openapi::complete;
use crate::shutdown::Lifecycle;

/// What the assembly needs beside the routes and the state.
#[derive(Debug, Clone)]
pub struct RouterSettings {
    pub metrics: HttpMetrics,
    pub auth: AuthConfig,
    pub max_in_flight: usize,
    pub max_body_bytes: usize,
    pub request_timeout: Duration,
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// The router of a service whose routes are `api` (shed past `max_in_flight`) and `operations`.
pub fn assemble<S>(
    api: OpenApiRouter<S>,
    operations: OpenApiRouter<S>,
    state: S,
    settings: RouterSettings,
) -> Router
where
    S: Clone + Send + Sync + 'static,
{
    let (api, document) = api.split_for_parts();
    let (operations, operations_document) = operations.split_for_parts();
    let document = complete(document, operations_document);
    let api = layers::shed_load(api, settings.max_in_flight, settings.metrics.clone());
    let standard = StandardLayers {
        metrics: settings.metrics,
        auth: settings.auth,
        request_timeout: settings.request_timeout,
    };
    let routes = Router::new()
        .merge(api)
        .merge(operations)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .with_state(state);
    layers::apply(routes, standard)
}

/// Readiness of a service backed by a database: not while draining; else whether `ping`
/// answered within a second (recorded in `database_up`). Returns the status, the readiness
/// word and the database's state, for the service's own health body.
pub async fn database_readiness(
    lifecycle: &Lifecycle,
    ping: impl Future<Output = bool>,
    database_up: &IntGauge,
) -> (StatusCode, &'static str, &'static str) {
    if lifecycle.is_draining() {
        return (StatusCode::SERVICE_UNAVAILABLE, "not_ready", "draining");
    }
    // A ping that does not answer within a second is a database that is down.
    let up = tokio::time::timeout(Duration::from_secs(1), ping)
        .await
        .unwrap_or(false);
    database_up.set(i64::from(up));
    if up {
        (StatusCode::OK, "ready", "up")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready", "down")
    }
}
