//! Routes for operators: liveness, readiness (the database answers and we are not draining),
//! Prometheus metrics, and the API description.

use std::time::Duration;

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
    if state.lifecycle.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not_ready".to_owned(),
                database: Some("draining".to_owned()),
            }),
        );
    }
    let up = tokio::time::timeout(Duration::from_secs(1), state.store.ping())
        .await
        .unwrap_or(false);
    state.metrics.database_up.set(i64::from(up));
    let (status, text, database) = if up {
        (StatusCode::OK, "ready", "up")
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, "not_ready", "down")
    };
    (
        status,
        Json(Health {
            status: text.to_owned(),
            database: Some(database.to_owned()),
        }),
    )
}
