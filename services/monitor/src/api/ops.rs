//! Routes for operators: liveness, readiness (the database answers and we are not draining),
//! Prometheus metrics.

use std::time::Duration;

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
    if state.lifecycle.is_draining() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not_ready",
                database: Some("draining"),
            }),
        );
    }
    let up = tokio::time::timeout(Duration::from_secs(1), state.store.ping())
        .await
        .unwrap_or(false);
    state.metrics.database_up.set(i64::from(up));
    if up {
        (
            StatusCode::OK,
            Json(Health {
                status: "ready",
                database: Some("up"),
            }),
        )
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(Health {
                status: "not_ready",
                database: Some("down"),
            }),
        )
    }
}
