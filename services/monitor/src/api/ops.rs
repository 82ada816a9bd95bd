//! Routes for operators: liveness, readiness (the database answers and we are not draining),
//! Prometheus metrics.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;

use crate::state::AppState;

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<&'static str>,
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    velocast_http::metrics::exposition(State(state.http_metrics)).await
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, body = Health)))]
pub async fn live() -> Json<Health> {
    Json(Health {
        status: "live",
        database: None,
    })
}

/// Ready: the database answered within a second and shutdown has not begun.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, body = Health), (status = 503, body = Health)))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let (code, status, database) = velocast_http::service::database_readiness(
        &state.lifecycle,
        state.store.ping(),
        &state.metrics.database_up,
    )
    .await;
    (
        code,
        Json(Health {
            status,
            database: Some(database),
        }),
    )
}
