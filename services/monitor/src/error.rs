//! The monitor's one error type, mapped to HTTP in one place.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use thiserror::Error;
use velocast_drift_report::ReportError;
use velocast_http::ApiError;
use velocast_registry_client::ClientError;

use crate::store::StoreError;

#[derive(Debug, Error)]
pub enum MonitorError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no reference for {model} version {version}: {reason}")]
    Reference {
        model: String,
        version: u32,
        reason: String,
    },
    #[error("{model} version {version} is not in the registry")]
    UnknownVersion { model: String, version: u32 },
    #[error("the registry cannot be reached: {0}")]
    RegistryUnavailable(String),
    #[error("the window holds no events of {model}{}", version.map(|v| format!(" version {v}")).unwrap_or_default())]
    EmptyWindow { model: String, version: Option<u32> },
    #[error("the window holds more than {limit} events; ask for a shorter range")]
    WindowTooLarge { limit: u32 },
    #[error("{field}: {rule}")]
    BadQuery { field: &'static str, rule: String },
    #[error("no training hours share the window's hours of the week")]
    NoSeasonalReference,
    #[error("the drift report failed: {0}")]
    Report(#[from] ReportError),
}

impl MonitorError {
    /// A registry failure while fetching a version's reference: the version missing is the
    /// caller's problem (404), the registry down is ours (503).
    pub fn from_registry(model: &str, version: u32, error: &ClientError) -> Self {
        match error {
            ClientError::Api { status: 404, .. } => MonitorError::UnknownVersion {
                model: model.to_owned(),
                version,
            },
            ClientError::Transport(_) => MonitorError::RegistryUnavailable(error.to_string()),
            ClientError::Api { status, .. } if *status >= 500 => {
                MonitorError::RegistryUnavailable(error.to_string())
            }
            _ => MonitorError::Reference {
                model: model.to_owned(),
                version,
                reason: error.to_string(),
            },
        }
    }
}

impl From<MonitorError> for ApiError {
    fn from(error: MonitorError) -> Self {
        match &error {
            MonitorError::Store(StoreError::Unavailable(_))
            | MonitorError::RegistryUnavailable(_) => ApiError::unavailable(&error),
            MonitorError::Store(_) => ApiError::internal(&error),
            MonitorError::UnknownVersion { .. } => ApiError::not_found(error.to_string()),
            MonitorError::Reference { .. } => {
                ApiError::new(StatusCode::CONFLICT, "no_reference", error.to_string())
            }
            // Nothing to report on: the report of that window does not exist.
            MonitorError::EmptyWindow { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "empty_window", error.to_string())
            }
            MonitorError::NoSeasonalReference => ApiError::new(
                StatusCode::CONFLICT,
                "no_seasonal_reference",
                error.to_string(),
            ),
            MonitorError::WindowTooLarge { .. } => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "window_too_large",
                error.to_string(),
            )
            .with_field("from"),
            MonitorError::BadQuery { field, .. } => {
                ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", error.to_string())
                    .with_field(*field)
            }
            MonitorError::Report(_) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "drift_failed",
                error.to_string(),
            ),
        }
    }
}

impl IntoResponse for MonitorError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
