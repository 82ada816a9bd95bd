//! Deny-by-default bearer authentication and per-route scopes.
//!
//! [`authenticate`] runs on every route: public paths (health, metrics, the API description)
//! pass; every other request needs a valid token, and its [`Principal`] is put in the request
//! extensions. Handlers then state the scope they need in their signature with
//! [`Authorized`], so the requirement is visible where the route is written and a handler that
//! forgets to ask still gets only authenticated callers.

use std::marker::PhantomData;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use validator::Validate;
use velocast_auth::{AuthError, Principal, Scope, Verifier};
use velocast_config::Redacted;

use crate::ApiError;
use crate::jwks::JwksSource;

/// How a service verifies tokens: the `[auth]` table of every service's configuration.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct AuthSettings {
    /// HS256 shared secret (development); at least 32 bytes.
    pub jwt_secret: Option<Redacted>,
    /// A JWKS document with the public keys of RS256/ES256/EdDSA tokens (production).
    pub jwks_file: Option<PathBuf>,
    /// The identity provider's JWKS URL (production): fetched at start, again on a token with
    /// an unknown `kid` (at most once per `jwks_refresh_seconds`) and in the background once
    /// the keys are `jwks_max_age_seconds` old.
    pub jwks_url: Option<String>,
    #[validate(range(min = 1, max = 3600))]
    pub jwks_refresh_seconds: u64,
    #[validate(range(min = 60, max = 86400))]
    pub jwks_max_age_seconds: u64,
    #[validate(range(min = 1, max = 60))]
    pub jwks_timeout_seconds: u64,
    #[validate(length(min = 1, max = 256))]
    pub issuer: String,
    #[validate(length(min = 1, max = 256))]
    pub audience: String,
}

impl Default for AuthSettings {
    fn default() -> Self {
        AuthSettings {
            jwt_secret: None,
            jwks_file: None,
            jwks_url: None,
            jwks_refresh_seconds: 30,
            jwks_max_age_seconds: 600,
            jwks_timeout_seconds: 5,
            issuer: "velocast".to_owned(),
            audience: "velocast".to_owned(),
        }
    }
}

/// Where the keys that verify tokens come from.
enum KeySource<'a> {
    Secret(&'a Redacted),
    File(&'a PathBuf),
    Url(&'a str),
}

impl AuthSettings {
    /// The one configured source of keys; none, or more than one, is an error.
    fn key_source(&self) -> Result<KeySource<'_>, String> {
        let mut sources = Vec::new();
        if let Some(secret) = &self.jwt_secret {
            sources.push(KeySource::Secret(secret));
        }
        if let Some(path) = &self.jwks_file {
            sources.push(KeySource::File(path));
        }
        if let Some(url) = &self.jwks_url {
            sources.push(KeySource::Url(url));
        }
        match sources.len() {
            0 => Err(
                "no way to verify tokens: set VELOCAST_JWT_SECRET (or auth.jwt_secret), auth.jwks_file or auth.jwks_url"
                    .to_owned(),
            ),
            1 => Ok(sources.remove(0)),
            _ => Err(
                "set one of auth.jwt_secret, auth.jwks_file and auth.jwks_url, not several"
                    .to_owned(),
            ),
        }
    }

    /// Checks the settings without fetching anything: a secret or key file is loaded; a key
    /// set URL is checked for form only (it is fetched at start).
    pub fn check(&self) -> Result<(), String> {
        match self.key_source()? {
            KeySource::Url(url) => crate::jwks::parse_url(url).map(drop),
            _ => self.verifier().map(drop),
        }
    }

    /// The token verifier of a secret or a key file (a key set URL needs [`AuthSettings::load`]).
    pub fn verifier(&self) -> Result<Verifier, String> {
        match self.key_source()? {
            KeySource::Secret(secret) => {
                Verifier::hs256(secret.secret(), &self.issuer, &self.audience)
                    .map_err(|e| format!("jwt_secret: {e}"))
            }
            KeySource::File(path) => {
                let document = std::fs::read_to_string(path)
                    .map_err(|e| format!("jwks_file {}: {e}", path.display()))?;
                Verifier::jwks(&document, &self.issuer, &self.audience)
                    .map_err(|e| format!("jwks_file {}: {e}", path.display()))
            }
            KeySource::Url(url) => Err(format!(
                "jwks_url {url}: a key set URL is fetched at start, not read here"
            )),
        }
    }

    /// The authentication every service runs with: the verifier, and for a key set URL the
    /// source that keeps it fresh (fetched here once; its counters go to `registry`).
    pub async fn load(&self, registry: &prometheus::Registry) -> Result<AuthConfig, String> {
        match self.key_source()? {
            KeySource::Url(url) => {
                let timing = crate::jwks::JwksTiming {
                    min_interval: Duration::from_secs(self.jwks_refresh_seconds),
                    max_age: Duration::from_secs(self.jwks_max_age_seconds),
                    timeout: Duration::from_secs(self.jwks_timeout_seconds),
                };
                let (verifier, source) =
                    JwksSource::start(url, &self.issuer, &self.audience, timing, registry).await?;
                let mut config = AuthConfig::standard(verifier);
                config.jwks = Some(source);
                Ok(config)
            }
            _ => self.verifier().map(AuthConfig::standard),
        }
    }
}

/// Served without a token by every service (exact paths): health, metrics, the API
/// description and its browser.
pub const PUBLIC_PATHS: [&str; 5] = [
    "/health/live",
    "/health/ready",
    "/metrics",
    "/openapi.json",
    "/docs",
];

/// Served without a token under these prefixes: the API browser's page and assets.
pub const PUBLIC_PREFIXES: [&str; 1] = ["/docs/"];

/// What the authentication middleware needs.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub verifier: Arc<Verifier>,
    /// Paths served without a token (exact matches).
    pub public_paths: Arc<[&'static str]>,
    /// Path prefixes served without a token (an API browser's assets under `/docs/`).
    pub public_prefixes: Arc<[&'static str]>,
    /// Where the verifier's keys are fetched again from, when they come from a URL.
    pub jwks: Option<Arc<JwksSource>>,
}

impl AuthConfig {
    /// Deny by default; only [`PUBLIC_PATHS`] and [`PUBLIC_PREFIXES`] are open.
    pub fn standard(verifier: Verifier) -> Self {
        AuthConfig {
            verifier: Arc::new(verifier),
            public_paths: Arc::from(PUBLIC_PATHS.as_slice()),
            public_prefixes: Arc::from(PUBLIC_PREFIXES.as_slice()),
            jwks: None,
        }
    }

    /// Also serves `paths` without a token.
    pub fn with_public(mut self, paths: &[&'static str]) -> Self {
        let mut all: Vec<&'static str> = self.public_paths.to_vec();
        all.extend_from_slice(paths);
        self.public_paths = Arc::from(all);
        self
    }

    /// Whether `path` is served without a token.
    pub fn is_public(&self, path: &str) -> bool {
        self.public_paths.contains(&path)
            || self
                .public_prefixes
                .iter()
                .any(|prefix| path.starts_with(prefix))
    }
}

/// The middleware: see the module documentation.
pub async fn authenticate(
    State(auth): State<AuthConfig>,
    mut request: Request,
    next: Next,
) -> Response {
    if auth.is_public(request.uri().path()) {
        return next.run(request).await;
    }
    let verified = verify(&auth.verifier, &request);
    let verified = match (verified, &auth.jwks) {
        (Err(AuthError::UnknownKey), Some(source))
            if source.refresh_after_unknown_kid(&auth.verifier).await =>
        {
            verify(&auth.verifier, &request)
        }
        (verified, source) => {
            if let Some(source) = source {
                source.refresh_if_stale(&auth.verifier);
            }
            verified
        }
    };
    match verified {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => ApiError::auth(&error).into_response(),
    }
}

fn verify(verifier: &Verifier, request: &Request) -> Result<Principal, AuthError> {
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    verifier.verify_header(header)
}

/// A scope a route requires.
pub trait RequiredScope {
    const SCOPE: &'static str;
}

/// `models:read`
#[derive(Debug)]
pub struct ModelsRead;
impl RequiredScope for ModelsRead {
    const SCOPE: &'static str = Scope::MODELS_READ;
}

/// `models:write`
#[derive(Debug)]
pub struct ModelsWrite;
impl RequiredScope for ModelsWrite {
    const SCOPE: &'static str = Scope::MODELS_WRITE;
}

/// `models:admin`
#[derive(Debug)]
pub struct ModelsAdmin;
impl RequiredScope for ModelsAdmin {
    const SCOPE: &'static str = Scope::MODELS_ADMIN;
}

/// `predict`
#[derive(Debug)]
pub struct Predict;
impl RequiredScope for Predict {
    const SCOPE: &'static str = Scope::PREDICT;
}

/// `explain`
#[derive(Debug)]
pub struct Explain;
impl RequiredScope for Explain {
    const SCOPE: &'static str = Scope::EXPLAIN;
}

/// `monitor:read`
#[derive(Debug)]
pub struct MonitorRead;
impl RequiredScope for MonitorRead {
    const SCOPE: &'static str = Scope::MONITOR_READ;
}

/// `monitor:write`
#[derive(Debug)]
pub struct MonitorWrite;
impl RequiredScope for MonitorWrite {
    const SCOPE: &'static str = Scope::MONITOR_WRITE;
}

/// The authenticated caller, whatever its scopes: for a handler that decides the scope it
/// needs from the request itself (then it calls [`Principal::require`]).
#[derive(Debug)]
pub struct Authenticated {
    pub principal: Principal,
}

impl<St: Send + Sync> FromRequestParts<St> for Authenticated {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, ApiError> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::auth(&AuthError::MissingToken))?;
        Ok(Authenticated { principal })
    }
}

/// The authenticated caller, holding scope `S` (else 403; no token at all, 401).
#[derive(Debug)]
pub struct Authorized<S> {
    pub principal: Principal,
    scope: PhantomData<S>,
}

impl<S: RequiredScope + Send + Sync, St: Send + Sync> FromRequestParts<St> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &St) -> Result<Self, ApiError> {
        let Authenticated { principal } = Authenticated::from_request_parts(parts, state).await?;
        principal
            .require(S::SCOPE)
            .map_err(|e| ApiError::auth(&e))?;
        Ok(Authorized {
            principal,
            scope: PhantomData,
        })
    }
}
