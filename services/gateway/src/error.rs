//! The gateway's errors and their one mapping to HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use thiserror::Error;
use velocast_http::ApiError;

use crate::pool::PoolError;

#[derive(Debug, Error)]
pub enum GatewayError {
    /// Neither a route nor a served model has this name.
    #[error("no route or served model is named `{0}`")]
    UnknownRoute(String),
    /// `/v1/predict` with several routes and none named `default`.
    #[error("no default route: name one in the path, /v1/models/<route>:predict")]
    NoDefaultRoute,
    /// The arm a request was assigned to has no model loaded (yet).
    #[error("route `{route}` arm `{arm}` has no model loaded yet; retry shortly")]
    ArmNotLoaded { route: String, arm: String },
    #[error("route `{0}` has no arm with a positive weight")]
    NoArm(String),
    /// `/v2/models/{name}/versions/{v}` names a version no arm of the route serves.
    #[error("route `{route}` serves no version {version} now")]
    VersionNotServed { route: String, version: u64 },
    #[error("{0}")]
    Invalid(ApiError),
    #[error("inference failed: {0}")]
    Inference(#[from] PoolError),
    /// The version that would answer cannot be explained (see the reason).
    #[error("{model} version {version} cannot be explained: {reason}")]
    NotExplainable {
        model: String,
        version: u32,
        reason: String,
    },
    #[error("explanation failed: {0}")]
    Explain(String),
}

impl From<ApiError> for GatewayError {
    fn from(error: ApiError) -> Self {
        GatewayError::Invalid(error)
    }
}

impl GatewayError {
    /// Whether the caller is at fault (for metrics by outcome class).
    pub fn is_client_error(&self) -> bool {
        match self {
            GatewayError::UnknownRoute(_)
            | GatewayError::NoDefaultRoute
            | GatewayError::VersionNotServed { .. }
            | GatewayError::NotExplainable { .. } => true,
            GatewayError::Invalid(error) => error.status().is_client_error(),
            _ => false,
        }
    }
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> ApiError {
        match error {
            GatewayError::UnknownRoute(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_route", error.to_string())
                    .with_field("name")
            }
            GatewayError::NoDefaultRoute => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_route", error.to_string())
            }
            GatewayError::VersionNotServed { .. } => ApiError::new(
                StatusCode::NOT_FOUND,
                "version_not_served",
                error.to_string(),
            )
            .with_field("version"),
            GatewayError::ArmNotLoaded { .. } | GatewayError::NoArm(_) => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "model_unavailable",
                error.to_string(),
            )
            .with_retry_after(1),
            GatewayError::Invalid(api) => api,
            // A pool closes only when its model is unloaded, which a request holding it
            // prevents; should it happen anyway, the client may retry.
            GatewayError::Inference(PoolError::Closed) => {
                ApiError::unavailable(&"the model was unloaded").with_retry_after(1)
            }
            GatewayError::Inference(other) => ApiError::internal(&other),
            GatewayError::NotExplainable { .. } => {
                ApiError::new(StatusCode::CONFLICT, "not_explainable", error.to_string())
            }
            GatewayError::Explain(message) => ApiError::internal(&message),
        }
    }
}

impl IntoResponse for GatewayError {
    fn into_response(self) -> Response {
        ApiError::from(self).into_response()
    }
}
