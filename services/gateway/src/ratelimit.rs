//! Rate limits through `tower_governor`, keyed by the verified token's subject or one of its
//! claims (the layer sits inside authentication, so every key is one the issuer vouched for),
//! with quotas by the value of a claim (tiers): one governor per tier, the request steered to
//! its tier's.
//!
//! Refused requests get the one JSON error body, status 429, `Retry-After`, and the IETF
//! `RateLimit-Limit` / `RateLimit-Remaining` / `RateLimit-Reset` fields; answered ones carry
//! `RateLimit-Limit` and `RateLimit-Remaining`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, Response, StatusCode};
use axum::response::IntoResponse;
use governor::middleware::StateInformationMiddleware;
use tower::Layer;
use tower_governor::governor::{GovernorConfig, GovernorConfigBuilder};
use tower_governor::key_extractor::KeyExtractor;
use tower_governor::{GovernorError, GovernorLayer};
use velocast_auth::Principal;
use velocast_http::ApiError;

use crate::config::{Quota, RateLimitSettings};
use crate::metrics::GatewayMetrics;

/// Who shares a bucket: holders of one value of the key claim, or, for a token without that
/// claim (and when the key is the subject), one subject. The two never collide.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum LimitKey {
    Claim(String),
    Subject(String),
}

/// Extracts the [`LimitKey`]: `claim` names the key claim, `None` for the subject.
#[derive(Debug, Clone)]
pub struct ClaimKey {
    claim: Option<Arc<str>>,
}

impl KeyExtractor for ClaimKey {
    type Key = LimitKey;

    fn extract<T>(&self, request: &axum::http::Request<T>) -> Result<LimitKey, GovernorError> {
        let principal = request
            .extensions()
            .get::<Principal>()
            // Authentication runs first; a request without a principal never gets here.
            .ok_or(GovernorError::UnableToExtractKey)?;
        let claim = self
            .claim
            .as_deref()
            .and_then(|name| principal.claims.get(name));
        Ok(match claim {
            Some(value) => LimitKey::Claim(value.clone()),
            None => LimitKey::Subject(principal.subject.clone()),
        })
    }
}

pub type Governor = GovernorConfig<ClaimKey, StateInformationMiddleware>;

/// The governors of every tier: `default` first, then one per listed value of `tier_claim`.
#[derive(Debug, Clone)]
pub struct Tiers {
    pub default: Arc<Governor>,
    pub tier_claim: Option<Arc<str>>,
    pub tiers: Vec<(String, Arc<Governor>)>,
}

impl Tiers {
    /// Every governor, the default first (for the task that forgets idle keys).
    pub fn all(&self) -> impl Iterator<Item = &Arc<Governor>> {
        std::iter::once(&self.default).chain(self.tiers.iter().map(|(_, g)| g))
    }
}

fn governor(quota: Quota, key: &ClaimKey) -> Option<Arc<Governor>> {
    let period = Duration::from_nanos((1_000_000_000 / quota.per_second.max(1)).max(1));
    GovernorConfigBuilder::default()
        .period(period)
        .burst_size(quota.burst)
        .key_extractor(key.clone())
        .use_headers()
        .finish()
        .map(Arc::new)
}

/// The limiters the settings describe (`None` for a quota governor cannot express).
pub fn tiers(settings: &RateLimitSettings) -> Option<Tiers> {
    let key = ClaimKey {
        claim: (settings.key != "sub").then(|| Arc::from(settings.key.as_str())),
    };
    let default = governor(
        Quota {
            per_second: settings.per_second,
            burst: settings.burst,
        },
        &key,
    )?;
    let tiers = settings
        .tiers
        .iter()
        .map(|(value, quota)| Some((value.clone(), governor(*quota, &key)?)))
        .collect::<Option<Vec<_>>>()?;
    Some(Tiers {
        default,
        tier_claim: settings.tier_claim.as_deref().map(Arc::from),
        tiers,
    })
}

/// Picks a request's tier: the position of its `tier_claim` value among the listed ones.
#[derive(Debug, Clone)]
struct TierPicker {
    tier_claim: Option<Arc<str>>,
    values: Arc<[String]>,
}

impl TierPicker {
    fn pick(&self, request: &Request) -> Option<usize> {
        let claim = self.tier_claim.as_deref()?;
        let value = request.extensions().get::<Principal>()?.claims.get(claim)?;
        self.values.iter().position(|v| v == value)
    }
}

/// The layer: each request meets the governor of its tier.
#[derive(Clone)]
pub struct TieredLimitLayer {
    default: GovernorLayer<ClaimKey, StateInformationMiddleware, Body>,
    tiers: Vec<GovernorLayer<ClaimKey, StateInformationMiddleware, Body>>,
    picker: TierPicker,
}

impl TieredLimitLayer {
    pub fn new(tiers: &Tiers, metrics: &GatewayMetrics) -> Self {
        let layer = |governor: &Arc<Governor>| {
            let metrics = metrics.clone();
            GovernorLayer::new(Arc::clone(governor))
                .error_handler(move |error| refusal(error, &metrics))
        };
        TieredLimitLayer {
            default: layer(&tiers.default),
            tiers: tiers.tiers.iter().map(|(_, g)| layer(g)).collect(),
            picker: TierPicker {
                tier_claim: tiers.tier_claim.clone(),
                values: tiers.tiers.iter().map(|(value, _)| value.clone()).collect(),
            },
        }
    }
}

impl std::fmt::Debug for TieredLimitLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredLimitLayer")
            .field("tiers", &self.picker.values)
            .finish_non_exhaustive()
    }
}

impl<S> std::fmt::Debug for TieredLimit<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TieredLimit")
            .field("tiers", &self.picker.values)
            .finish_non_exhaustive()
    }
}

type TierGovernor<S> =
    tower_governor::governor::Governor<ClaimKey, StateInformationMiddleware, S, Body>;

impl<S: Clone> Layer<S> for TieredLimitLayer {
    type Service = TieredLimit<S>;

    fn layer(&self, inner: S) -> TieredLimit<S> {
        TieredLimit {
            default: self.default.layer(inner.clone()),
            tiers: self
                .tiers
                .iter()
                .map(|layer| layer.layer(inner.clone()))
                .collect(),
            picker: self.picker.clone(),
        }
    }
}

/// The service: the governor of the request's tier, or the default one.
#[derive(Clone)]
pub struct TieredLimit<S> {
    default: TierGovernor<S>,
    tiers: Vec<TierGovernor<S>>,
    picker: TierPicker,
}

impl<S> tower::Service<Request> for TieredLimit<S>
where
    TierGovernor<S>: tower::Service<Request>,
{
    type Response = <TierGovernor<S> as tower::Service<Request>>::Response;
    type Error = <TierGovernor<S> as tower::Service<Request>>::Error;
    type Future = <TierGovernor<S> as tower::Service<Request>>::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        // Each governor is as ready as the inner service it wraps.
        for governor in std::iter::once(&mut self.default).chain(self.tiers.iter_mut()) {
            std::task::ready!(governor.poll_ready(cx))?;
        }
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self
            .picker
            .pick(&request)
            .and_then(|i| self.tiers.get_mut(i))
        {
            Some(governor) => governor.call(request),
            None => self.default.call(request),
        }
    }
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
                format!("rate limit exceeded; retry in {wait} s"),
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
pub fn rename_headers(response: &mut axum::response::Response) {
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
}
