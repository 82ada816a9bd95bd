//! The registry's routes, one file per resource, and the one `router()` with its layer order.

mod aliases;
mod convert;
mod models;
mod ops;
pub mod params;
mod runs;
mod versions;
mod watch;

use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use velocast_http::openapi::{BearerAuth, complete};
use velocast_http::service::{self, RouterSettings};

use crate::state::{AppState, Limits};

/// What the routes do not declare themselves: title, security scheme, tags. The paths come
/// from the routes (see [`documented_routes`]).
#[derive(Debug, OpenApi)]
#[openapi(
    info(title = "Velocast registry", description = "Models, immutable versions with verified artifacts and lineage, aliases with an audit log, training runs, and a watch stream."),
    components(schemas(velocast_http::ErrorBody, versions::VersionUpload)),
    modifiers(&BearerAuth),
    tags(
        (name = "models"), (name = "versions"), (name = "aliases"), (name = "runs"),
        (name = "watch", description = "Server-sent events for alias moves and new versions"),
        (name = "operations", description = "Health and Prometheus metrics"),
    )
)]
pub struct ApiDoc;

/// Every route, declared once: the API routes (which shed load past the concurrency limit) and
/// the operations routes (which never do), each with its OpenAPI description.
fn documented_routes(limits: Limits) -> (OpenApiRouter<AppState>, OpenApiRouter<AppState>) {
    // An upload carries an artifact and a profile, each up to the artifact limit.
    let upload_limit = limits
        .max_artifact_bytes
        .saturating_mul(2)
        .saturating_add(limits.max_json_bytes)
        .saturating_add(64 * 1024);
    let uploads = OpenApiRouter::new()
        .routes(routes!(versions::list, versions::create))
        .layer(DefaultBodyLimit::max(upload_limit));
    let api = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(models::list, models::create))
        .routes(routes!(models::get, models::update, models::delete))
        .merge(uploads)
        .routes(routes!(versions::get, versions::delete))
        .routes(routes!(versions::artifact))
        .routes(routes!(versions::profile))
        .routes(routes!(aliases::list))
        .routes(routes!(aliases::get, aliases::set, aliases::delete))
        .routes(routes!(aliases::audit))
        .routes(routes!(runs::list, runs::create))
        .routes(routes!(runs::get))
        .routes(routes!(runs::log_metrics))
        .routes(routes!(runs::end))
        .routes(routes!(watch::watch));
    let operations = OpenApiRouter::new()
        .routes(routes!(ops::live))
        .routes(routes!(ops::ready))
        .routes(routes!(ops::metrics));
    (api, operations)
}

/// The OpenAPI document the routes describe.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let (api, operations) = documented_routes(Limits::default());
    complete(api.into_openapi(), operations.into_openapi())
}

/// The OpenAPI document as pretty JSON (served, and committed as `openapi.json`).
pub fn openapi_json() -> Result<String, serde_json::Error> {
    openapi().to_pretty_json()
}

/// The registry's one router, with the standard layer order (`velocast_http::layers`).
pub fn router(state: AppState, request_timeout: Duration) -> Router {
    let (api, operations) = documented_routes(state.limits);
    let settings = RouterSettings {
        metrics: state.http_metrics.clone(),
        auth: state.auth.clone(),
        max_in_flight: state.limits.max_in_flight,
        max_body_bytes: state.limits.max_json_bytes,
        request_timeout,
    };
    service::assemble(api, operations, state, settings)
}
