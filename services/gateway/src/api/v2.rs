//! The Open Inference Protocol v2 over REST (see [`crate::oip`]): server and model metadata,
//! health and readiness, and inference, so KServe, Triton and MLServer clients work unchanged.
//! `{name}` is a route name, or the name of a model one route serves.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde::Deserialize;
use utoipa::IntoParams;
use velocast_http::ApiError;
use velocast_http::auth::{Authorized, ModelsRead, Predict};

use crate::api::infer;
use crate::error::GatewayError;
use crate::fleet::{RouteState, Serving};
use crate::oip::{
    self, InferRequest, InferResponse, ModelMetadata, ModelReady, ProtocolError, ResponseOutput,
    ServerMetadata,
};
use crate::state::AppState;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ModelPath {
    /// A route name, or the name of a model one route serves.
    #[param(pattern = "^[a-z][a-z0-9_-]{0,63}$", example = "default")]
    pub name: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    /// A route name, or the name of a model one route serves.
    #[param(pattern = "^[a-z][a-z0-9_-]{0,63}$")]
    pub name: String,
    /// A version one of the route's arms serves now.
    #[param(pattern = "^[1-9][0-9]{0,9}$", example = "1")]
    pub version: String,
}

fn protocol_error(error: ProtocolError) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "invalid_inference_request",
        error.message,
    )
    .with_field(error.field)
}

fn route<'a>(serving: &'a Serving, name: &str) -> Result<&'a RouteState, GatewayError> {
    serving
        .find(name)
        .ok_or_else(|| GatewayError::UnknownRoute(name.to_owned()))
}

/// A requested version. Wider than the registry's `u32` so that every path
/// the documented pattern admits parses: one beyond `u32` is simply not served.
fn version_number(text: &str) -> Result<u64, ApiError> {
    text.parse::<u64>().ok().filter(|v| *v > 0).ok_or_else(|| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_path",
            "the version is a positive integer",
        )
        .with_field("version")
    })
}

/// The versions the route's arms serve now, oldest first.
fn served_versions(route: &RouteState) -> Vec<u64> {
    let mut versions: Vec<u64> = route
        .arms
        .iter()
        .filter_map(|arm| arm.model.as_ref().map(|m| u64::from(m.version)))
        .collect();
    versions.sort_unstable();
    versions.dedup();
    versions
}

/// Server metadata.
#[utoipa::path(get, path = "/v2", tag = "inference protocol v2",
    responses((status = 200, body = ServerMetadata)), security(("bearer" = ["models:read"])))]
pub async fn server(_caller: Authorized<ModelsRead>) -> Json<ServerMetadata> {
    Json(ServerMetadata {
        name: "velocast-gateway".to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        extensions: vec!["binary_tensor_data".to_owned()],
    })
}

/// The server is live.
#[utoipa::path(get, path = "/v2/health/live", tag = "inference protocol v2",
    responses((status = 200, description = "Live")))]
pub async fn live() -> Json<serde_json::Value> {
    Json(serde_json::json!({ "live": true }))
}

/// The server is ready: every route serves a warmed model and it is not shutting down.
#[utoipa::path(get, path = "/v2/health/ready", tag = "inference protocol v2",
    responses((status = 200, description = "Ready"), (status = 503, description = "Not ready")))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<serde_json::Value>) {
    let (ready, _) = crate::api::ops::readiness(&state);
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(serde_json::json!({ "ready": ready })))
}

fn metadata(state: &AppState, name: &str, version: Option<u64>) -> Result<ModelMetadata, ApiError> {
    let serving = state.fleet.serving();
    let route = route(&serving, name)?;
    let versions = served_versions(route);
    if let Some(version) = version
        && !versions.contains(&version)
    {
        return Err(GatewayError::VersionNotServed {
            route: name.to_owned(),
            version,
        }
        .into());
    }
    let versions = version.map_or(versions, |v| vec![v]);
    Ok(oip::model_metadata(
        name,
        versions.iter().map(u64::to_string).collect(),
    ))
}

/// Model metadata: the versions served and the tensors the model takes and gives.
#[utoipa::path(get, path = "/v2/models/{name}", tag = "inference protocol v2", params(ModelPath),
    responses((status = 200, body = ModelMetadata), (status = 404, body = velocast_http::ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn model(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    Path(path): Path<ModelPath>,
) -> Result<Json<ModelMetadata>, ApiError> {
    Ok(Json(metadata(&state, &path.name, None)?))
}

/// Metadata of one served version.
#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}", tag = "inference protocol v2", params(VersionPath),
    responses((status = 200, body = ModelMetadata), (status = 404, body = velocast_http::ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn model_version(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    Path(path): Path<VersionPath>,
) -> Result<Json<ModelMetadata>, ApiError> {
    let version = version_number(&path.version)?;
    Ok(Json(metadata(&state, &path.name, Some(version))?))
}

fn readiness(
    state: &AppState,
    name: &str,
    version: Option<u64>,
) -> Result<(StatusCode, Json<ModelReady>), ApiError> {
    let serving = state.fleet.serving();
    let route = route(&serving, name)?;
    let ready = !state.lifecycle.is_draining()
        && match version {
            Some(version) => served_versions(route).contains(&version),
            None => route
                .arms
                .iter()
                .all(|arm| arm.arm.weight == 0 || arm.model.is_some()),
        };
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    Ok((
        status,
        Json(ModelReady {
            name: name.to_owned(),
            ready,
        }),
    ))
}

/// Whether the model (every arm of its route) is ready.
#[utoipa::path(get, path = "/v2/models/{name}/ready", tag = "inference protocol v2", params(ModelPath),
    responses((status = 200, body = ModelReady), (status = 503, body = ModelReady), (status = 404, body = velocast_http::ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn model_ready(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    Path(path): Path<ModelPath>,
) -> Result<(StatusCode, Json<ModelReady>), ApiError> {
    readiness(&state, &path.name, None)
}

/// Whether this version is served now.
#[utoipa::path(get, path = "/v2/models/{name}/versions/{version}/ready", tag = "inference protocol v2", params(VersionPath),
    responses((status = 200, body = ModelReady), (status = 503, body = ModelReady), (status = 404, body = velocast_http::ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn model_version_ready(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    Path(path): Path<VersionPath>,
) -> Result<(StatusCode, Json<ModelReady>), ApiError> {
    readiness(&state, &path.name, Some(version_number(&path.version)?))
}

async fn infer_on(
    state: &AppState,
    caller: &Authorized<Predict>,
    name: &str,
    version: Option<u64>,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, ApiError> {
    let header_length = headers
        .get("inference-header-content-length")
        .map(|v| v.to_str().unwrap_or("?"));
    let (json, binary) = oip::split_binary(body, header_length).map_err(protocol_error)?;
    let request: InferRequest = velocast_http::parse_json(json).map_err(|error| {
        // The protocol's errors are 400s.
        let body = error.body();
        ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_inference_request",
            body.error.clone(),
        )
        .with_field(body.field.clone().unwrap_or_else(|| "body".to_owned()))
    })?;
    oip::check_outputs(&request).map_err(protocol_error)?;
    if let Some(body_name) = &request.model_name
        && body_name != name
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_inference_request",
            format!("the body names model `{body_name}`, the path `{name}`"),
        )
        .with_field("model_name"));
    }
    let version = match (&request.model_version, version) {
        (Some(text), None) if !text.is_empty() => Some(version_number(text)?),
        (Some(text), Some(path)) if !text.is_empty() && version_number(text)? != path => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "invalid_inference_request",
                format!("the body names version {text}, the path {path}"),
            )
            .with_field("model_version"));
        }
        (_, version) => version,
    };
    let serving = state.fleet.serving();
    let route = route(&serving, name)?;
    let arm = infer::choose_arm(route, &caller.principal, headers, version)?;
    let max_rows = state.limits.max_instances;
    let outcome = infer::run_on_arm(route, arm, infer::keep_rows(state, route), || {
        oip::decode_rows(&request, binary, max_rows)
            .map_err(|e| GatewayError::Invalid(protocol_error(e)))
    })
    .await?;
    infer::after_answer(
        state,
        route,
        arm,
        &outcome,
        request
            .id
            .as_deref()
            .unwrap_or_else(|| infer::request_id(headers)),
        None,
    );
    let values: Vec<f32> = outcome.predictions.iter().map(|v| *v as f32).collect();
    let binary_output = oip::binary_output(&request);
    let mut output = ResponseOutput {
        name: oip::OUTPUT.to_owned(),
        datatype: "FP32".to_owned(),
        shape: vec![values.len(), 1],
        parameters: None,
        data: None,
    };
    let mut raw = Vec::new();
    if binary_output {
        raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        output.parameters = Some(
            [(
                "binary_data_size".to_owned(),
                serde_json::Value::from(raw.len()),
            )]
            .into_iter()
            .collect(),
        );
    } else {
        output.data = Some(values);
    }
    let answer = InferResponse {
        model_name: name.to_owned(),
        model_version: outcome.model.version.to_string(),
        id: request.id.clone(),
        parameters: None,
        outputs: vec![output],
    };
    let json = serde_json::to_vec(&answer).map_err(|e| ApiError::internal(&e))?;
    let mut response = if binary_output {
        let length = json.len();
        let mut body = json;
        body.extend_from_slice(&raw);
        let mut response = body.into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        response
            .headers_mut()
            .insert("inference-header-content-length", HeaderValue::from(length));
        response
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            )],
            json,
        )
            .into_response()
    };
    infer::served_headers(response.headers_mut(), outcome.model.version, arm);
    Ok(response)
}

/// Inference: `features` [N, 15] (FP32), the named fields as tensors, or one BYTES tensor of
/// JSON requests; binary tensor data both ways.
#[utoipa::path(post, path = "/v2/models/{name}/infer", tag = "inference protocol v2", params(ModelPath),
    request_body(content = InferRequest),
    responses((status = 200, body = InferResponse), (status = 400, body = velocast_http::ErrorBody),
        (status = 404, body = velocast_http::ErrorBody), (status = 429, body = velocast_http::ErrorBody)),
    security(("bearer" = ["predict"])))]
pub async fn infer(
    caller: Authorized<Predict>,
    State(state): State<AppState>,
    Path(path): Path<ModelPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    infer_on(&state, &caller, &path.name, None, &headers, &body).await
}

/// Inference on one served version.
#[utoipa::path(post, path = "/v2/models/{name}/versions/{version}/infer", tag = "inference protocol v2", params(VersionPath),
    request_body(content = InferRequest),
    responses((status = 200, body = InferResponse), (status = 400, body = velocast_http::ErrorBody),
        (status = 404, body = velocast_http::ErrorBody), (status = 429, body = velocast_http::ErrorBody)),
    security(("bearer" = ["predict"])))]
pub async fn infer_version(
    caller: Authorized<Predict>,
    State(state): State<AppState>,
    Path(path): Path<VersionPath>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let version = version_number(&path.version)?;
    infer_on(&state, &caller, &path.name, Some(version), &headers, &body).await
}
