//! Per-subject rate limits through `tower_governor`, keyed by the verified token's subject (the
//! layer sits inside authentication, so every key is a subject the issuer vouched for).
//!
//! Refused requests get the one JSON error body, status 429, `Retry-After`, and the IETF
//! `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` fields; answered ones carry
//! `RateLimit-Limit` and `RateLimit-Remaining`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};
use axum::middleware::Next;
use axum::response::IntoResponse;
use governor::middleware::StateInformationMiddleware;
use tower_governor::GovernorError;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use velocast_auth::Principal;
use velocast_http::ApiError;

use crate::config::RateLimitSettings;
use crate::metrics::GatewayMetrics;

/// The key: the token's subject.
#[derive(Debug, Clone, Copy)]
pub struct SubjectKey;

impl KeyExtractor for SubjectKey {
    type Key = String;

    fn extract<T>(&self, request: &axum::http::Request<T>) -> Result<String, GovernorError> {
        request
            .extensions()
            .get::<Principal>()
            .map(|principal| principal.subject.clone())
            // Authentication runs first; a request without a principal never gets here.
            .ok_or(GovernorError::UnableToExtractKey)
    }
}

pub type SubjectGovernor = GovernorConfig<SubjectKey, StateInformationMiddleware>;

/// The limiter's configuration: a bucket of `burst` refilled at `per_second`.
pub fn governor(settings: &RateLimitSettings) -> Option<Arc<SubjectGovernor>> {
    let period = Duration::from_nanos((1_000_000_000 / settings.per_second.max(1)).max(1));
    GovernorConfigBuilder::default()
        .period(period)
        .burst_size(settings.burst)
        .key_extractor(SubjectKey)
        .use_headers()
        .finish()
        .map(Arc::new)
}

/// The 429 (or, should a key be missing, a 500 that never leaks why).
pub fn refusal(error: GovernorError, metrics: &GatewayMetrics) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, headers } => {
            metrics.rate_limited.inc();
            let wait = u32::try_from(wait_time.max(1)).unwrap_or(u32::MAX);
            let mut response = ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("rate limit exceeded for this subject; retry in {wait} s"),
            )
            .with_retry_after(wait)
            .into_response();
            if let Some(headers) = headers {
                for (name, value) in &headers {
                    if name.as_str() != "retry-after" {
                        response.headers_mut().insert(name.clone(), value.clone());
                    }
                }
            }
            response
        }
        other => ApiError::internal(&other).into_response(),
    }
}

/// Renames the governor's `x-ratelimit-*` headers to the IETF `RateLimit-*` fields.
pub async fn ietf_headers(request: Request, next: Next) -> axum::response::Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    for (from, to) in [
        ("x-ratelimit-limit", "ratelimit-limit"),
        ("x-ratelimit-remaining", "ratelimit-remaining"),
        ("x-ratelimit-after", "ratelimit-reset"),
    ] {
        if let Some(value) = headers.remove(from) {
            headers.insert(HeaderName::from_static(to), value);
        }
    }
    if !headers.contains_key("ratelimit-reset") && headers.contains_key("ratelimit-limit") {
        headers.insert(
            HeaderName::from_static("ratelimit-reset"),
            HeaderValue::from_static("0"),
        );
    }
    response
}
