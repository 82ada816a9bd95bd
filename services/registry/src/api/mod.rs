//! The registry's routes, one file per resource, and the one `router()` with its layer order.

mod aliases;
mod convert;
mod models;
mod ops;
mod runs;
mod versions;
mod watch;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware;
use axum::routing::get;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa_scalar::{Scalar, Servable};
use velocast_http::{ApiError, auth, metrics};

use crate::state::AppState;

/// Served without a token. Everything else is denied unless a valid token comes with it.
pub const PUBLIC_PATHS: [&str; 5] = [
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
];

#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Velocast registry", description = "Models, immutable versions with verified artifacts and lineage, aliases with an audit log, training runs, and a watch stream."),
    paths(
        models::list, models::create, models::get, models::update, models::delete,
        versions::list, versions::create, versions::get, versions::delete, versions::artifact, versions::profile,
        aliases::list, aliases::get, aliases::set, aliases::delete, aliases::audit,
        runs::create, runs::list, runs::get, runs::log_metrics, runs::end,
        watch::watch,
        ops::live, ops::ready,
    ),
    components(schemas(velocast_http::ErrorBody, versions::VersionUpload)),
    modifiers(&BearerAuth),
    tags(
        (name = "models"), (name = "versions"), (name = "aliases"), (name = "runs"),
        (name = "watch", description = "Server-sent events for alias moves and new versions"),
        (name = "operations", description = "Health; `/metrics` serves Prometheus text"),
    )
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The OpenAPI document as pretty JSON (served, and committed as `openapi.json`).
pub fn openapi_json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".to_owned())
}

async fn openapi_route() -> impl axum::response::IntoResponse {
    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        openapi_json(),
    )
}

/// The span every request's logs sit in: method, path and request id.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let id = request
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-");
    tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %id,
    )
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let upload_limit = state
        .limits
        .max_artifact_bytes
        .saturating_mul(2)
        .saturating_add(state.limits.max_json_bytes)
        .saturating_add(64 * 1024);
    let v1 = Router::new()
        .route("/v1/models", get(models::list).post(models::create))
        .route(
            "/v1/models/{model}",
            get(models::get)
                .patch(models::update)
                .delete(models::delete),
        )
        .route(
            "/v1/models/{model}/versions",
            get(versions::list)
                .post(versions::create)
                // An upload carries an artifact and a profile, each up to the artifact limit.
                .layer(DefaultBodyLimit::max(upload_limit)),
        )
        .route(
            "/v1/models/{model}/versions/{version}",
            get(versions::get).delete(versions::delete),
        )
        .route(
            "/v1/models/{model}/versions/{version}/artifact",
            get(versions::artifact),
        )
        .route(
            "/v1/models/{model}/versions/{version}/profile",
            get(versions::profile),
        )
        .route("/v1/models/{model}/aliases", get(aliases::list))
        .route(
            "/v1/models/{model}/aliases/{alias}",
            get(aliases::get).put(aliases::set).delete(aliases::delete),
        )
        .route("/v1/models/{model}/audit", get(aliases::audit))
        .route("/v1/runs", get(runs::list).post(runs::create))
        .route("/v1/runs/{id}", get(runs::get))
        .route(
            "/v1/runs/{id}/metrics",
            axum::routing::post(runs::log_metrics),
        )
        .route("/v1/runs/{id}/end", axum::routing::post(runs::end))
        .route("/v1/watch", get(watch::watch));
    let operations = Router::new()
        .route("/health/live", get(ops::live))
        .route("/health/ready", get(ops::ready))
        .route("/metrics", get(metrics::exposition))
        .route("/openapi.json", get(openapi_route))
        .merge(Scalar::with_url("/docs", ApiDoc::openapi()));
    let auth_config = state.auth.clone();
    // Layers run outside-in in the reverse of the order written: the request id, then tracing
    // (a span per request carrying that id), then the timeout, then metrics (so rejected
    // requests are counted), then authentication (deny by default), then the per-route body
    // limits inside the routes.
    Router::new()
        .merge(v1)
        .merge(operations)
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.limits.max_json_bytes))
        .layer(middleware::from_fn_with_state(
            auth_config,
            auth::authenticate,
        ))
        .layer(middleware::from_fn_with_state(
            state.http_metrics.clone(),
            metrics::track,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            request_timeout,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        // Outermost: every request has an id (the caller's `x-request-id`, or a new UUID)
        // before its span opens, and the response carries it back.
        .layer(SetRequestIdLayer::x_request_id(MakeRequestUuid))
        .with_state(state)
}
