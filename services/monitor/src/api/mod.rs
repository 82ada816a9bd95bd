//! The monitor's routes and the one `router()` with the standard layer order.

mod ingest;
mod ops;
mod reports;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;
use velocast_http::ApiError;
use velocast_http::layers::{self, StandardLayers};
use velocast_http::openapi::{BearerAuth, complete};

use crate::state::{AppState, Settings};

/// What the routes do not declare themselves.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Velocast monitor", description = "Prediction events and outcomes in; drift as Evidently 0.7.23's DataDriftPreset decides it, data quality and realized accuracy per model version and A/B arm out."),
    components(schemas(velocast_http::ErrorBody)),
    modifiers(&BearerAuth),
    tags(
        (name = "ingest", description = "Prediction events from the gateway, observed outcomes"),
        (name = "reports", description = "Drift, quality and accuracy of a window"),
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
        .routes(routes!(reports::accuracy));
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

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let Settings {
        max_in_flight,
        max_body_bytes,
        ..
    } = state.settings;
    let (api, operations) = documented_routes();
    let (api, document) = api.split_for_parts();
    let (operations, operations_document) = operations.split_for_parts();
    let document = complete(document, operations_document);
    let api = layers::shed_load(api, max_in_flight, state.http_metrics.clone());
    let standard = StandardLayers {
        metrics: state.http_metrics.clone(),
        auth: state.auth.clone(),
        request_timeout,
    };
    let routes = Router::new()
        .merge(api)
        .merge(operations)
        .merge(SwaggerUi::new("/docs").url("/openapi.json", document))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .with_state(state);
    layers::apply(routes, standard)
}
