//! The gateway's routes and the one `router()` with its layer order.

pub mod explain;
pub mod infer;
pub mod ops;
pub mod predict;
pub mod v2;

use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::middleware;
use axum::routing::post;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;
use velocast_http::ApiError;
use velocast_http::layers::{self, StandardLayers};
use velocast_http::openapi::{BearerAuth, complete};

use crate::ratelimit;
use crate::state::AppState;

/// Served without a token beside the standard public paths: the protocol's health checks.
pub const PUBLIC_PATHS: [&str; 2] = ["/v2/health/live", "/v2/health/ready"];

/// What the routes do not declare themselves. `predict_named` is listed here because its
/// documented path (`/v1/models/{name}:predict`) is not one axum can route.
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Velocast gateway", description = "Hourly bike-share demand predictions from the registry's models over ONNX Runtime: named-feature JSON, A/B routing from config, hot model swaps."),
    paths(predict::predict_named, predict::explain_named),
    components(schemas(velocast_http::ErrorBody, predict::Prediction, predict::Predictions, predict::Instances,
        explain::ExplanationAnswer, explain::ExplanationsAnswer, explain::RowExplanation, explain::MemberAttributions)),
    modifiers(&BearerAuth),
    tags(
        (name = "predict", description = "Demand predictions"),
        (name = "explain", description = "Exact TreeSHAP explanations of the predictions"),
        (name = "inference protocol v2", description = "The Open Inference Protocol (KServe V2, Triton) over REST"),
        (name = "operations", description = "Health, Prometheus metrics and what serves where"),
    )
)]
pub struct ApiDoc;

/// The prediction routes (rate-limited, shed past the concurrency limit) and the operations
/// routes (never shed), each with its OpenAPI description.
fn documented_routes() -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(predict::predict_default))
        .routes(routes!(predict::explain_default))
        .route("/v1/models/{target}", post(predict::model_action))
        .routes(routes!(v2::infer))
        .routes(routes!(v2::infer_version));
    let operations = OpenApiRouter::new()
        .routes(routes!(ops::live))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics))
        .routes(routes!(ops::status))
        .routes(routes!(v2::server))
        .routes(routes!(v2::live))
        .routes(routes!(v2::ready))
        .routes(routes!(v2::model))
        .routes(routes!(v2::model_version))
        .routes(routes!(v2::model_ready))
        .routes(routes!(v2::model_version_ready));
    (api, operations)
}

/// The OpenAPI document the routes describe.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (api, operations) = documented_routes();
    complete(api.into_openapi(), operations.into_openapi())
}

/// The OpenAPI document as pretty JSON (served, and committed as `openapi.json`).
pub fn openapi_json() -> Result<String, serde_json::Error> {
    openapi().to_pretty_json()
}

async fn prediction_edge(
    State(max_body_bytes): State<usize>,
    request: axum::extract::Request,
    next: middleware::Next,
) -> axum::response::Response {
    let mut response = layers::read_body_first(State(max_body_bytes), request, next).await;
    ratelimit::rename_headers(&mut response);
    response
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

/// The gateway's one router. Inside the standard layers (`velocast_http::layers`, which
/// authenticate), prediction routes meet, in order: the `RateLimit-*` header names, the
/// rate limit (per subject or claim, quotas by tier), then the concurrency limit that sheds load.
pub fn router(
    state: AppState,
    request_timeout: Duration,
    limits: Option<ratelimit::Tiers>,
) -> Router {
    let (api, operations) = documented_routes();
    let (api, document) = api.split_for_parts();
    let (operations, operations_document) = operations.split_for_parts();
    let document = complete(document, operations_document);
    let mut api = layers::shed_load(api, state.limits.max_in_flight, state.http_metrics.clone());
    if let Some(tiers) = limits {
        api = api.layer(ratelimit::TieredLimitLayer::new(&tiers, &state.metrics));
    }
    // Outermost of the prediction layers: the body is read first, so refusals below answer on
    // a clean connection; the limiter's headers get their IETF names on the way out (one
    // middleware for both: each `from_fn` layer costs a stack clone per request).
    let api = api.layer(middleware::from_fn_with_state(
        state.limits.max_body_bytes,
        prediction_edge,
    ));
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
        .layer(DefaultBodyLimit::max(state.limits.max_body_bytes))
        .with_state(state);
    layers::apply(routes, standard)
}
