//! Routes for operators: liveness, readiness, Prometheus metrics, and what serves where.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use velocast_http::auth::{Authorized, ModelsRead};
use velocast_routing::ArmTarget;

use crate::fleet::FleetEvent;
use crate::model::epoch_seconds;
use crate::state::AppState;

/// Liveness or readiness.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct GatewayHealth {
    /// `live`, `ready` or `not_ready`.
    pub status: String,
    /// Why not ready: `draining`, or the arms still without a model.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub waiting_for: Vec<String>,
}

/// Prometheus metrics in the text exposition format.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus text exposition format", content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>) -> axum::response::Response {
    velocast_http::metrics::exposition(State(state.http_metrics.clone())).await
}

/// The process is up.
#[utoipa::path(get, path = "/health/live", tag = "operations",
    responses((status = 200, body = GatewayHealth)))]
pub async fn live() -> Json<GatewayHealth> {
    Json(GatewayHealth {
        status: "live".to_owned(),
        waiting_for: Vec::new(),
    })
}

/// Ready when every arm with a positive weight serves a warmed model, and not shutting down.
#[utoipa::path(get, path = "/health/ready", tag = "operations",
    responses((status = 200, body = GatewayHealth), (status = 503, body = GatewayHealth)))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<GatewayHealth>) {
    let (ready, waiting_for) = readiness(&state);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        Json(GatewayHealth {
            status: if ready { "ready" } else { "not_ready" }.to_owned(),
            waiting_for,
        }),
    )
}

/// Whether the gateway takes traffic, and if not, what it waits for.
pub fn readiness(state: &AppState) -> (bool, Vec<String>) {
    if state.lifecycle.is_draining() {
        return (false, vec!["draining".to_owned()]);
    }
    let serving = state.fleet.serving();
    let waiting: Vec<String> = serving
        .routes
        .values()
        .flat_map(|route| {
            route
                .arms
                .iter()
                .filter(|arm| arm.arm.weight > 0 && arm.model.is_none())
                .map(move |arm| format!("{}/{}", route.route.name, arm.arm.name))
        })
        .collect();
    if serving.routes.is_empty() {
        return (false, vec!["the first reconcile".to_owned()]);
    }
    (waiting.is_empty(), waiting)
}

/// One arm of a route, as it serves now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ArmStatus {
    pub name: String,
    /// `alias:<name>` or `version:<n>`.
    pub target: String,
    pub weight: u32,
    /// The arm's share of the route's sticky keys (its buckets / 10,000).
    pub share: f64,
    /// The version it serves; absent until one has loaded.
    pub version: Option<u32>,
    pub sha256: Option<String>,
    /// Seconds since the epoch.
    pub loaded_at: Option<f64>,
    /// `onnxruntime` or `native`; absent until a version has loaded.
    pub backend: Option<String>,
    /// Whether `:explain` can explain the version (absent until one has loaded).
    pub explainable: Option<bool>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RouteStatus {
    pub name: String,
    pub model: String,
    /// `sub`, `request_id` or `header:<name>`.
    pub sticky: String,
    pub arms: Vec<ArmStatus>,
}

/// What serves where.
#[derive(Debug, Serialize, ToSchema)]
pub struct Status {
    pub ready: bool,
    pub waiting_for: Vec<String>,
    pub registry: String,
    pub registry_watch_connected: bool,
    pub routes: Vec<RouteStatus>,
    /// Recent loads, failures and fallbacks to the cache, oldest first.
    pub events: Vec<FleetEvent>,
}

fn bucket_shares(arms: &[velocast_routing::Arm]) -> Vec<f64> {
    let mut counts = vec![0_u32; arms.len()];
    for bucket in 0..velocast_routing::BUCKETS {
        if let Some(arm) = velocast_routing::arm_of_bucket(bucket, arms) {
            counts[arm] += 1;
        }
    }
    counts
        .into_iter()
        .map(|c| f64::from(c) / f64::from(velocast_routing::BUCKETS))
        .collect()
}

/// The routes, the versions their arms serve, and recent model events.
#[utoipa::path(get, path = "/v1/status", tag = "operations",
    responses((status = 200, body = Status)),
    security(("bearer" = ["models:read"])))]
pub async fn status(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
) -> Json<Status> {
    let (ready, waiting_for) = readiness(&state);
    let serving = state.fleet.serving();
    let routes = serving
        .routes
        .values()
        .map(|route| {
            let arms: Vec<velocast_routing::Arm> =
                route.arms.iter().map(|a| a.arm.clone()).collect();
            let shares = bucket_shares(&arms);
            RouteStatus {
                name: route.route.name.to_string(),
                model: route.route.model.to_string(),
                sticky: match &route.route.sticky {
                    velocast_routing::StickyKey::Subject => "sub".to_owned(),
                    velocast_routing::StickyKey::RequestId => "request_id".to_owned(),
                    velocast_routing::StickyKey::Header(name) => format!("header:{name}"),
                },
                arms: route
                    .arms
                    .iter()
                    .zip(shares)
                    .map(|(arm, share)| ArmStatus {
                        name: arm.arm.name.to_string(),
                        target: match &arm.arm.target {
                            ArmTarget::Alias(alias) => format!("alias:{alias}"),
                            ArmTarget::Version(version) => format!("version:{version}"),
                        },
                        weight: arm.arm.weight,
                        share,
                        version: arm.model.as_ref().map(|m| m.version),
                        sha256: arm.model.as_ref().map(|m| m.sha256.clone()),
                        loaded_at: arm.model.as_ref().map(|m| epoch_seconds(m.loaded_at)),
                        backend: arm
                            .model
                            .as_ref()
                            .map(|m| m.backend.kind().name().to_owned()),
                        explainable: arm.model.as_ref().map(|m| m.explainer.is_ok()),
                    })
                    .collect(),
            }
        })
        .collect();
    Json(Status {
        ready,
        waiting_for,
        registry: state.registry_url.clone(),
        registry_watch_connected: state.metrics.watch_connected.get() == 1,
        routes,
        events: state.fleet.events(),
    })
}
