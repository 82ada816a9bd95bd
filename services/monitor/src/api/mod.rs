//! The monitor's routes and the one `router()` with the standard layer order.

mod ingest;
mod ops;
mod reports;

use std::time::Duration;

use axum::Router;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use velocast_http::openapi::{BearerAuth, complete};
use velocast_http::service::{self, RouterSettings};

use crate::state::AppState;

/// What the routes do not declare themselves.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Velocast monitor", description = "Prediction events and outcomes in; drift as Evidently 0.7.23's DataDriftPreset decides it, data quality and realized accuracy per model version and A/B arm out."),
    components(schemas(velocast_http::ErrorBody, crate::store::TimeBasis)),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Prediction events from the gateway, observed outcomes"),
        (name = "reports", description = "Drift, quality and accuracy of a window"),
        (name = "alerts", description = "The configured alert rules, evaluated on demand"),
        (name = "operations", description = "Health and Prometheus metrics"),
    )
)]
pub struct ApiDoc;

fn documented_routes() -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(ingest::events))
        .routes(routes!(ingest::outcomes))
        .routes(routes!(reports::drift))
        .routes(routes!(reports::drift_page))
        .routes(routes!(reports::quality))
        .routes(routes!(reports::accuracy))
        .routes(routes!(reports::evaluate_alerts));
    let operations = OpenApiRouter::new()
        .routes(routes!(ops::live))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics));
    (api, operations)
}

/// The OpenAPI document the routes describe.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (api, operations) = documented_routes();
    complete(api.into_openapi(), operations.into_openapi())
}

pub fn openapi_json() -> Result<String, serde_json::Error> {
    openapi().to_pretty_json()
}

pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let (api, operations) = documented_routes();
    let settings = RouterSettings {
        metrics: state.http_metrics.clone(),
        auth: state.auth.clone(),
        max_in_flight: state.settings.max_in_flight,
        max_body_bytes: state.settings.max_body_bytes,
        request_timeout,
    };
    service::assemble(api, operations, state, settings)
}
