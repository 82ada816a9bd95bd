//! Routes for operators: liveness, readiness (the database answers and we are not draining),
//! Prometheus metrics, and the API description.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use velocast_registry_api::Health;

use crate::state::AppState;

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
        status: "live".to_owned(),
        database: None,
    })
}

/// Ready to serve: the database answered within a second and shutdown has not begun.
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
            status: status.to_owned(),
            database: Some(database.to_owned()),
        }),
    )
}
