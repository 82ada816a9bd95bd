//! The registry's errors and the one place they become HTTP responses (CONVENTIONS 5): an
//! exhaustive match, so a new store error must be placed before the service compiles.

use std::str::FromStr;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use velocast_catalog::ParseError;
use velocast_http::ApiError;
use velocast_registry_store::StoreError;

#[derive(Debug)]
pub enum RegistryError {
    Store(StoreError),
    /// A path, query or body value that does not parse; `field` names where it came from.
    Invalid {
        field: &'static str,
        error: ParseError,
    },
    /// Already an HTTP answer (multipart problems and the like).
    Api(ApiError),
}

impl From<StoreError> for RegistryError {
    fn from(error: StoreError) -> Self {
        RegistryError::Store(error)
    }
}

/// Serializing what we built ourselves failed: a bug, answered with an opaque 500.
impl From<serde_json::Error> for RegistryError {
    fn from(error: serde_json::Error) -> Self {
        RegistryError::Api(ApiError::internal(&error))
    }
}

impl From<ApiError> for RegistryError {
    fn from(error: ApiError) -> Self {
        RegistryError::Api(error)
    }
}

/// Attaches the field name to a parse failure: `"x".parse().field("model")?`.
pub trait FieldContext<T> {
    fn field(self, field: &'static str) -> Result<T, RegistryError>;
}

impl<T> FieldContext<T> for Result<T, ParseError> {
    fn field(self, field: &'static str) -> Result<T, RegistryError> {
        self.map_err(|error| RegistryError::Invalid { field, error })
    }
}

/// Parses an optional value (a query parameter, an optional body field), naming the field
/// when it does not parse.
pub fn parse_optional<T: FromStr<Err = ParseError>>(
    value: Option<&str>,
    field: &'static str,
) -> Result<Option<T>, RegistryError> {
    value.map(str::parse).transpose().field(field)
}

impl RegistryError {
    pub fn into_api(self) -> ApiError {
        let conflict = |code: &str, message: String, field: &str| {
            ApiError::new(StatusCode::CONFLICT, code, message).with_field(field)
        };
        match self {
            RegistryError::Api(error) => error,
            RegistryError::Invalid { field, error } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_value", error.to_string())
                    .with_field(field)
            }
            RegistryError::Store(error) => {
                let message = error.to_string();
                match error {
                    StoreError::ModelExists(_) => conflict("model_exists", message, "name"),
                    StoreError::RunExists(_) => conflict("run_exists", message, "id"),
                    StoreError::RunClosed { .. } => conflict("run_closed", message, "run"),
                    StoreError::ModelInUse { .. } => conflict("model_in_use", message, "model"),
                    StoreError::VersionInUse { .. } => {
                        conflict("version_in_use", message, "version")
                    }
                    StoreError::ModelNotFound(_) => {
                        ApiError::new(StatusCode::NOT_FOUND, "model_not_found", message)
                            .with_field("model")
                    }
                    StoreError::VersionNotFound { .. } | StoreError::NoVersions(_) => {
                        ApiError::new(StatusCode::NOT_FOUND, "version_not_found", message)
                            .with_field("version")
                    }
                    StoreError::AliasNotFound { .. } => {
                        ApiError::new(StatusCode::NOT_FOUND, "alias_not_found", message)
                            .with_field("alias")
                    }
                    StoreError::RunNotFound(_) => {
                        ApiError::new(StatusCode::NOT_FOUND, "run_not_found", message)
                            .with_field("run_id")
                    }
                    StoreError::DigestMismatch { part, .. } => {
                        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "digest_mismatch", message)
                            .with_field(format!("{part}_sha256"))
                    }
                    StoreError::TooLarge { part, .. } => {
                        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
                            .with_field(part)
                    }
                    StoreError::BadMetric { .. } => ApiError::new(
                        StatusCode::UNPROCESSABLE_ENTITY,
                        "validation_failed",
                        message,
                    )
                    .with_field("metrics"),
                    StoreError::Unavailable { .. } => ApiError::unavailable(&error),
                    StoreError::Database { .. }
                    | StoreError::Corrupt(_)
                    | StoreError::Invalid(_)
                    | StoreError::Migrate { .. }
                    | StoreError::UnsupportedUrl => ApiError::internal(&error),
                }
            }
        }
    }
}

impl IntoResponse for RegistryError {
    fn into_response(self) -> Response {
        self.into_api().into_response()
    }
}
