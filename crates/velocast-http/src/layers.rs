//! The layers every Velocast router wears, in one order written once (CONVENTIONS 11, 12).
//!
//! From the outside in, as a request meets them:
//!
//! 1. a request id (the caller's `x-request-id`, or a new UUID), echoed on the response;
//! 2. a tracing span per request carrying method, path and that id;
//! 3. [`json_errors`]: any error response that is not already the one JSON body (axum's own
//!    405, an extractor's `text/plain` rejection, a panic's 500) becomes one, headers kept;
//! 4. [`crate::metrics::track`]: counts every request, cancelled and timed-out ones included,
//!    and keeps the in-flight gauge honest with a drop guard;
//! 5. [`timeout`]: 503 + `Retry-After` when no response head comes in time (streams, once
//!    started, are not cut);
//! 6. a panic in a handler becomes an opaque 500, logged once;
//! 7. [`crate::auth::authenticate`]: deny by default, public paths listed.
//!
//! Routes that do real work add [`shed_load`] themselves, so health and metrics are never
//! starved by a flood of API calls.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::error_handling::HandleErrorLayer;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::load_shed::LoadShedLayer;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::trace::TraceLayer;

use crate::ApiError;
use crate::auth::{self, AuthConfig};
use crate::metrics::{self, HttpMetrics, RouteLabels};

/// What the standard layers need.
#[derive(Debug, Clone)]
pub struct StandardLayers {
    pub metrics: HttpMetrics,
    pub auth: AuthConfig,
    /// Time allowed to produce a response head.
    pub request_timeout: Duration,
}

/// Wraps every route of `router` in the standard layers, in the order the module describes.
pub fn apply(router: Router, layers: StandardLayers) -> Router {
    let StandardLayers {
        metrics,
        auth,
        request_timeout,
    } = layers;
    // `Router::layer` wraps each route; the last call is the outermost layer.
    router
        .layer(middleware::from_fn_with_state(auth, auth::authenticate))
        .layer(CatchPanicLayer::custom(panic_response))
        // Steps 3 to 5 in one middleware: every `from_fn` layer clones the service stack
        // beneath it and boxes a future per request, which the gateway's request path felt.
        .layer(middleware::from_fn_with_state(
            RequestTimeout {
                limit: request_timeout,
                metrics,
            },
            observe,
        ))
        .layer(PropagateRequestIdLayer::x_request_id())
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::x_request_id(SequentialRequestIds::new()))
}

/// Request ids unique across replicas and restarts without a system call per request: a random
/// 64-bit prefix drawn once per process (UUID v4 reads the OS's random source on every call)
/// and a counter, written as a UUID.
#[derive(Debug, Clone)]
pub struct SequentialRequestIds {
    prefix: u64,
    counter: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialRequestIds {
    pub fn new() -> Self {
        SequentialRequestIds {
            prefix: uuid::Uuid::new_v4().as_u64_pair().0,
            counter: std::sync::Arc::default(),
        }
    }
}

impl Default for SequentialRequestIds {
    fn default() -> Self {
        Self::new()
    }
}

impl MakeRequestId for SequentialRequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self
            .counter
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Shaped as a UUID (what tools that read request ids expect): the prefix, then the count.
        let id = uuid::Uuid::from_u64_pair(self.prefix, n);
        axum::http::HeaderValue::from_str(
            id.hyphenated()
                .encode_lower(&mut uuid::Uuid::encode_buffer()),
        )
        .ok()
        .map(RequestId::new)
    }
}

/// Refuses (503 + `Retry-After`, counted in `velocast_http_requests_shed_total`) any request
/// arriving while `max_in_flight` requests to these routes are being handled, instead of
/// queueing it behind them. One limit for all of `router`'s routes together.
pub fn shed_load<S>(router: Router<S>, max_in_flight: usize, metrics: HttpMetrics) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    router.layer(
        ServiceBuilder::new()
            .layer(HandleErrorLayer::new(
                move |matched: Option<MatchedPath>,
                      method: Method,
                      _overloaded: tower::BoxError| {
                    let metrics = metrics.clone();
                    async move {
                        metrics.shed(&RouteLabels {
                            matched,
                            method: metrics::method_label(&method),
                        });
                        ApiError::overloaded()
                    }
                },
            ))
            .layer(LoadShedLayer::new())
            .layer(GlobalConcurrencyLimitLayer::new(max_in_flight)),
    )
}

/// Reads the whole request body (up to `limit` bytes; past it, 413) before the request goes on.
///
/// Layers that refuse a request early (a rate limit, load shedding) would otherwise answer
/// while the client is still sending, and the connection would be closed under it: the client
/// sees a broken pipe instead of the 429 or 503. For routes with bounded JSON bodies, reading
/// first keeps every refusal a clean answer on a reusable connection.
pub async fn read_body_first(State(limit): State<usize>, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    match axum::body::to_bytes(body, limit).await {
        Ok(bytes) => {
            next.run(Request::from_parts(parts, Body::from(bytes)))
                .await
        }
        Err(error) => {
            let too_large = std::error::Error::source(&error)
                .is_some_and(|source| source.is::<http_body_util::LengthLimitError>());
            if too_large {
                let mut response = ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("the request body exceeds {limit} bytes"),
                )
                .with_field("body")
                .into_response();
                // The rest of the body stays unread, so this connection cannot carry another
                // request; saying so keeps the client from reusing it.
                response.headers_mut().insert(
                    header::CONNECTION,
                    axum::http::HeaderValue::from_static("close"),
                );
                response
            } else {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "unreadable_body",
                    format!("the request body could not be read: {error}"),
                )
                .with_field("body")
                .into_response()
            }
        }
    }
}

#[derive(Debug, Clone)]
struct RequestTimeout {
    limit: Duration,
    metrics: HttpMetrics,
}

/// [`json_errors`] around [`crate::metrics::track`] around the timeout: 503 + `Retry-After`
/// in the one error body when the response head takes longer than the limit; the handler's
/// future is dropped (and counted) rather than left running.
async fn observe(State(config): State<RequestTimeout>, request: Request, next: Next) -> Response {
    let labels = RouteLabels::of(&request);
    let limited = async {
        match tokio::time::timeout(config.limit, next.run(request)).await {
            Ok(response) => response,
            Err(_elapsed) => {
                config.metrics.timed_out(&labels);
                tracing::warn!(route = %labels.route(), timeout_seconds = config.limit.as_secs_f64(), "request timed out");
                ApiError::timed_out(config.limit).into_response()
            }
        }
    };
    let response = metrics::tracked(&config.metrics, labels.clone(), limited).await;
    as_json_error(response).await
}

fn panic_response(_payload: Box<dyn std::any::Any + Send + 'static>) -> Response {
    ApiError::internal(&"a request handler panicked").into_response()
}

/// The stable code for an error status that reached us without one.
fn error_type(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "bad_request",
        401 => "unauthorized",
        403 => "forbidden",
        404 => "not_found",
        405 => "method_not_allowed",
        406 => "not_acceptable",
        408 => "request_timeout",
        409 => "conflict",
        411 => "length_required",
        413 => "payload_too_large",
        414 => "uri_too_long",
        415 => "unsupported_media_type",
        416 => "range_not_satisfiable",
        422 => "invalid_request",
        429 => "rate_limited",
        431 => "headers_too_large",
        503 => "unavailable",
        500..=599 => "internal",
        _ => "client_error",
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| {
            let v = v.trim();
            v.eq_ignore_ascii_case("application/json") || v.ends_with("+json")
        })
}

/// Longest rejection text carried into a JSON body; axum's are one line.
const MAX_REJECTION_TEXT: usize = 4096;

/// Turns every error response that is not JSON yet into the one error body: axum's empty 405
/// (its `Allow` header kept), extractor rejections in `text/plain`, layers' bare statuses.
/// Client-error text is kept as the message; server-error text never leaves (it is logged).
pub async fn json_errors(request: Request, next: Next) -> Response {
    as_json_error(next.run(request).await).await
}

async fn as_json_error(response: Response) -> Response {
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) || is_json(response.headers()) {
        return response;
    }
    let (parts, body) = response.into_parts();
    let text = match axum::body::to_bytes(body, MAX_REJECTION_TEXT).await {
        Ok(bytes) => String::from_utf8_lossy(&bytes).trim().to_owned(),
        Err(error) => {
            tracing::debug!(%error, "rejection body unreadable");
            String::new()
        }
    };
    let message = if status.is_server_error() {
        if !text.is_empty() {
            tracing::error!(status = status.as_u16(), body = %text, "server error without a JSON body");
        }
        match status {
            StatusCode::SERVICE_UNAVAILABLE => {
                "the service is unavailable; retry shortly".to_owned()
            }
            _ => "internal error; see the server log".to_owned(),
        }
    } else if text.is_empty() {
        status
            .canonical_reason()
            .unwrap_or("request refused")
            .to_owned()
    } else {
        text
    };
    let mut fresh = ApiError::new(status, error_type(status), message).into_response();
    for (name, value) in &parts.headers {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            fresh.headers_mut().insert(name.clone(), value.clone());
        }
    }
    fresh
}

/// The span every request's logs sit in: method, path and request id.
pub fn request_span(request: &axum::http::Request<Body>) -> tracing::Span {
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
