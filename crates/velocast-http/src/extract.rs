//! Extractors whose every rejection is an [`ApiError`] naming the field and the rule.

use axum::extract::multipart::{Multipart, MultipartRejection};
use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Path, Query, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use validator::{Validate, ValidationErrors};

use crate::ApiError;

/// A JSON body: `application/json`, within the body limit, well-formed, no unknown fields
/// (types opt in with `deny_unknown_fields`), every `validator` rule met.
#[derive(Debug, Clone)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned + Validate,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        let is_json = request
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|v| {
                let v = v.trim();
                v.eq_ignore_ascii_case("application/json")
                    || (v.starts_with("application/") && v.ends_with("+json"))
            });
        if !is_json {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "unsupported_media_type",
                "expected a body with `Content-Type: application/json`",
            )
            .with_field("content-type"));
        }
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(body_rejection)?;
        let value = parse_json::<T>(&bytes)?;
        value.validate().map_err(|e| validation_error(&e))?;
        Ok(ApiJson(value))
    }
}

/// Maps a failure to read the body: over the limit is a 413, anything else a 400.
pub(crate) fn body_rejection(rejection: BytesRejection) -> ApiError {
    if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "the request body exceeds this endpoint's size limit",
        )
        .with_field("body")
    } else {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "unreadable_body",
            rejection.body_text(),
        )
        .with_field("body")
    }
}

/// Deserializes JSON, naming the failing field: syntax errors are 400 `malformed_json`,
/// well-formed JSON of the wrong shape is 422 `invalid_field`.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    let malformed = |inner: &serde_json::Error| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "malformed_json",
            format!("malformed JSON: {inner}"),
        )
        .with_field("body")
    };
    // Every request body is a JSON object. serde would also read a struct from an array
    // (`[null, null]` as the fields in order), which no client means.
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        return Err(
            match serde_json::from_slice::<serde::de::IgnoredAny>(bytes) {
                Ok(_) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "invalid_field",
                    "the body must be a JSON object",
                )
                .with_field("body"),
                Err(error) => malformed(&error),
            },
        );
    }
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize::<_, T>(&mut deserializer).map_err(|error| {
        let inner = error.inner();
        if inner.is_syntax() || inner.is_eof() || inner.is_io() {
            return malformed(inner);
        }
        let path = error.path().to_string();
        let message = inner.to_string();
        // serde reports a missing field at its parent's path, with the name in backticks: name
        // the field itself.
        let named = ["unknown field `", "missing field `"]
            .iter()
            .find_map(|prefix| message.strip_prefix(prefix))
            .and_then(|rest| rest.split('`').next());
        let field = match (named, path.as_str()) {
            (Some(name), ".") => name.to_owned(),
            // Unknown fields come with their own name as the last segment already.
            (Some(name), path) if path == name || path.ends_with(&format!(".{name}")) => {
                path.to_owned()
            }
            (Some(name), parent) => format!("{parent}.{name}"),
            (None, path) => path.to_owned(),
        };
        let message = message
            .split(" at line ")
            .next()
            .unwrap_or(&message)
            .to_owned();
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_field", message).with_field(field)
    })?;
    deserializer.end().map_err(|e| malformed(&e))?;
    Ok(value)
}

/// The first broken rule (by field path, so the answer is stable), as a 422.
pub fn validation_error(errors: &ValidationErrors) -> ApiError {
    match velocast_config::broken_rules(errors).first() {
        Some((field, error)) => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!(
                "`{field}` breaks the rule: {}",
                velocast_config::rule_text(error)
            ),
        )
        .with_field(field.clone()),
        None => ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            errors.to_string(),
        ),
    }
}

/// A `multipart/form-data` body. A request of another content type, or one without a
/// boundary, is a 415 naming `content-type` (axum answers a `text/plain` 400).
#[derive(Debug)]
pub struct ApiMultipart(pub Multipart);

impl<S> FromRequest<S> for ApiMultipart
where
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        Multipart::from_request(request, state)
            .await
            .map(ApiMultipart)
            .map_err(|rejection: MultipartRejection| {
                ApiError::new(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "unsupported_media_type",
                    format!(
                        "expected `Content-Type: multipart/form-data` with a boundary ({})",
                        rejection.body_text()
                    ),
                )
                .with_field("content-type")
            })
    }
}

/// Path parameters; a rejection is a 400 naming the parameter when axum knows it.
#[derive(Debug, Clone)]
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Path::<T>::from_request_parts(parts, state)
            .await
            .map(|Path(value)| ApiPath(value))
            .map_err(|rejection: PathRejection| {
                ApiError::new(
                    StatusCode::BAD_REQUEST,
                    "invalid_path",
                    rejection.body_text(),
                )
                .with_field("path")
            })
    }
}

/// Query parameters (`deny_unknown_fields` on `T` refuses unknown ones) meeting every
/// `validator` rule (a `limit` above its maximum is refused, not clamped); a rejection is a 400
/// naming the parameter.
#[derive(Debug, Clone)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Validate + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let Query(value) = Query::<T>::from_request_parts(parts, state).await.map_err(
            |rejection: QueryRejection| {
                let text = rejection.body_text();
                let field = text
                    .split('`')
                    .nth(1)
                    .map_or_else(|| "query".to_owned(), str::to_owned);
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", text).with_field(field)
            },
        )?;
        value.validate().map_err(|errors| {
            let error = validation_error(&errors);
            let field = error.body().field.clone().unwrap_or_else(|| "query".into());
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_query",
                error.body().error.clone(),
            )
            .with_field(field)
        })?;
        Ok(ApiQuery(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, Validate)]
    #[serde(deny_unknown_fields)]
    struct Body {
        #[validate(length(min = 1, max = 8))]
        name: String,
        #[allow(dead_code)]
        inner: Option<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        #[allow(dead_code)]
        size: u32,
    }

    #[test]
    fn json_errors_name_the_field_and_rule() {
        let e = parse_json::<Body>(b"{\"name\": ").unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.body().error_type.as_str()),
            (400, "malformed_json")
        );
        let e = parse_json::<Body>(b"[\"a\", null]").unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.body().field.as_deref()),
            (422, Some("body"))
        );
        let e = parse_json::<Body>(b"]").unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        let e = parse_json::<Body>(b"{\"name\": \"a\"} trailing").unwrap_err();
        assert_eq!(e.status().as_u16(), 400);
        let e = parse_json::<Body>(b"{\"name\": \"a\", \"extra\": 1}").unwrap_err();
        assert_eq!(
            (e.status().as_u16(), e.body().field.as_deref()),
            (422, Some("extra"))
        );
        assert!(
            e.body().error.contains("unknown field"),
            "{}",
            e.body().error
        );
        let e = parse_json::<Body>(b"{}").unwrap_err();
        assert_eq!(e.body().field.as_deref(), Some("name"));
        let e = parse_json::<Body>(b"{\"name\": \"a\", \"inner\": {\"size\": -1}}").unwrap_err();
        assert_eq!(e.body().field.as_deref(), Some("inner.size"));
        let e = parse_json::<Body>(b"{\"name\": \"a\", \"inner\": {\"size\": 1, \"x\": 0}}")
            .unwrap_err();
        assert_eq!(e.body().field.as_deref(), Some("inner.x"));
        let long = parse_json::<Body>(b"{\"name\": \"far too long\"}").unwrap();
        let e = validation_error(&long.validate().unwrap_err());
        assert_eq!(
            (
                e.status().as_u16(),
                e.body().error_type.as_str(),
                e.body().field.as_deref()
            ),
            (422, "validation_failed", Some("name"))
        );
    }
}
