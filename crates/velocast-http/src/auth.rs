//! Deny-by-default bearer authentication and per-route scopes.
//!
//! [`authenticate`] runs on every route: public paths (health, metrics, the API description)
//! pass; every other request needs a valid token, and its [`Principal`] is put in the request
//! extensions. Handlers then state the scope they need in their signature with
//! [`Authorized`], so the requirement is visible where the route is written and a handler that
//! forgets to ask still gets only authenticated callers.

use std::marker::PhantomData;
use std::sync::Arc;

use axum::extract::{FromRequestParts, Request, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use velocast_auth::{AuthError, Principal, Scope, Verifier};

use crate::ApiError;

/// What the authentication middleware needs.
#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub verifier: Arc<Verifier>,
    /// Paths served without a token (exact matches).
    pub public_paths: Arc<[&'static str]>,
    /// Path prefixes served without a token (an API browser's assets under `/docs/`).
    pub public_prefixes: Arc<[&'static str]>,
}

impl AuthConfig {
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
    let header = request
        .headers()
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    match auth.verifier.verify_header(header) {
        Ok(principal) => {
            request.extensions_mut().insert(principal);
            next.run(request).await
        }
        Err(error) => ApiError::auth(&error).into_response(),
    }
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

/// The authenticated caller, holding scope `S` (else 403; no token at all, 401).
#[derive(Debug)]
pub struct Authorized<S> {
    pub principal: Principal,
    scope: PhantomData<S>,
}

impl<S: RequiredScope + Send + Sync, St: Send + Sync> FromRequestParts<St> for Authorized<S> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &St) -> Result<Self, ApiError> {
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or_else(|| ApiError::auth(&AuthError::MissingToken))?;
        principal
            .require(S::SCOPE)
            .map_err(|e| ApiError::auth(&e))?;
        Ok(Authorized {
            principal,
            scope: PhantomData,
        })
    }
}
