//! `POST /v1/models/{name}:predict` and `POST /v1/predict`: demand predictions from named
//! physical fields, one object or `{"instances": [...]}`.
//!
//! The path is routed as `/v1/models/{target}` (axum cannot match a parameter followed by a
//! literal in one segment) and documented as `/v1/models/{name}:predict`.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use velocast_auth::Principal;
use velocast_auth::Scope;
use velocast_features::{DemandRequest, FEATURE_COUNT};
use velocast_http::ApiError;
use velocast_http::auth::{Authenticated, Authorized, Predict};

use crate::api::infer;
use crate::error::GatewayError;
use crate::fleet::RouteState;
use crate::state::AppState;

/// A batch of requests.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Instances {
    /// One to `max_instances` (default 1,024) hours.
    #[schema(min_items = 1, max_items = 1024)]
    pub instances: Vec<DemandRequest>,
}

/// One hour or a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documentation only: the body is parsed by `parse_body`.
pub enum PredictBody {
    One(DemandRequest),
    Many(Instances),
}

/// The answer: one prediction for one hour, or predictions for a batch.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documentation only: handlers answer one of the two.
pub enum PredictAnswer {
    One(Prediction),
    Many(Predictions),
}

/// The answer to one hour.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Prediction {
    /// Predicted rentals in the hour.
    pub prediction: f64,
    pub model: String,
    pub version: u32,
    pub route: String,
    pub arm: String,
    pub request_id: String,
}

/// The answer to a batch, predictions in the order of the instances.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Predictions {
    pub predictions: Vec<f64>,
    pub model: String,
    pub version: u32,
    pub route: String,
    pub arm: String,
    pub request_id: String,
}

/// The rows of a body: `(requests, batch?)`, with errors naming the field (`instances[3].weather`).
pub(crate) fn parse_body(
    body: &[u8],
    max_instances: usize,
) -> Result<(Vec<DemandRequest>, bool), ApiError> {
    // A cheap look for the batch key; a body that has it and is not a valid batch is refused
    // with the batch's error, which names the offending field either way.
    let batch = memchr_instances(body);
    if !batch {
        let request: DemandRequest = velocast_http::parse_json(body)?;
        return Ok((vec![request], false));
    }
    let Instances { instances } = velocast_http::parse_json(body)?;
    if instances.is_empty() {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "`instances` breaks the rule: must hold at least one instance",
        )
        .with_field("instances"));
    }
    if instances.len() > max_instances {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            format!(
                "`instances` breaks the rule: at most {max_instances} instances per request, got {}",
                instances.len()
            ),
        )
        .with_field("instances"));
    }
    Ok((instances, true))
}

fn memchr_instances(body: &[u8]) -> bool {
    const KEY: &[u8] = b"\"instances\"";
    body.windows(KEY.len()).any(|w| w == KEY)
}

/// The feature rows of valid requests; the first broken rule names its row and field.
pub(crate) fn feature_rows(requests: &[DemandRequest], batch: bool) -> Result<Vec<f32>, ApiError> {
    let mut rows = Vec::with_capacity(requests.len() * FEATURE_COUNT);
    for (index, request) in requests.iter().enumerate() {
        match velocast_features::features(request) {
            Ok(vector) => rows.extend_from_slice(&vector),
            Err(errors) => {
                let (field, rule) = velocast_config::broken_rules(&errors)
                    .first()
                    .map(|(field, error)| (field.clone(), velocast_config::rule_text(error)))
                    .unwrap_or_else(|| ("body".to_owned(), errors.to_string()));
                let field = if batch {
                    format!("instances[{index}].{field}")
                } else {
                    field
                };
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "validation_failed",
                    format!("{field}: {rule}"),
                )
                .with_field(field));
            }
        }
    }
    Ok(rows)
}

/// The whole prediction path for one resolved route.
async fn predict_on(
    state: &AppState,
    route: &RouteState,
    principal: &Principal,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GatewayError> {
    let arm = infer::choose_arm(route, principal, headers, None)?;
    let max_instances = state.limits.max_instances;
    let keep = infer::keep_rows(state, route);
    let mut batch = false;
    let mut kept_requests = None;
    let outcome = infer::run_on_arm(route, arm, keep, || {
        let (requests, is_batch) = parse_body(body, max_instances)?;
        batch = is_batch;
        let rows = feature_rows(&requests, is_batch)?;
        if keep {
            kept_requests = Some(requests);
        }
        Ok(rows)
    })
    .await?;
    let model = &outcome.model;
    let request_id = infer::request_id(headers).to_owned();
    infer::after_answer(
        state,
        route,
        arm,
        &outcome,
        &request_id,
        kept_requests.as_deref(),
    );
    let (name, version, route_name, arm_name) = (
        model.model.clone(),
        model.version,
        route.route.name.to_string(),
        arm.arm.name.to_string(),
    );
    let body = if batch {
        serde_json::to_vec(&Predictions {
            predictions: outcome.predictions,
            model: name,
            version,
            route: route_name,
            arm: arm_name,
            request_id,
        })
    } else {
        serde_json::to_vec(&Prediction {
            prediction: *outcome.predictions.first().ok_or(GatewayError::Inference(
                crate::pool::PoolError::Outputs { rows: 1, got: 0 },
            ))?,
            model: name,
            version,
            route: route_name,
            arm: arm_name,
            request_id,
        })
    }
    .map_err(|e| GatewayError::Invalid(ApiError::internal(&e)))?;
    Ok(infer::served_json(body, model.version, arm))
}

/// Predict demand on a named route (or the one route serving a model of that name).
#[utoipa::path(post, path = "/v1/models/{name}:predict", tag = "predict",
    params(("name" = String, Path, description = "A route name, or the name of a model one route serves", pattern = "^[a-z][a-z0-9_-]{0,63}$", example = "default")),
    request_body(content = PredictBody, description = "One hour, or `{\"instances\": [...]}`"),
    responses(
        (status = 200, description = "The prediction (one object in) or predictions (a batch in)", body = PredictAnswer,
            headers(("x-model-version" = u32, description = "The model version that answered"),
                    ("x-route-arm" = String, description = "The arm the request was assigned to"))),
        (status = 404, description = "No such route or model", body = velocast_http::ErrorBody),
        (status = 429, description = "Rate limit exceeded (`Retry-After`, `RateLimit-*`)", body = velocast_http::ErrorBody),
    ),
    security(("bearer" = ["predict"])))]
#[allow(dead_code)] // Documentation only: `model_action` serves the path.
pub async fn predict_named() {}

/// Explain the prediction of a named route (or the one route serving a model of that name).
#[utoipa::path(post, path = "/v1/models/{name}:explain", tag = "explain",
    params(("name" = String, Path, description = "A route name, or the name of a model one route serves", pattern = "^[a-z][a-z0-9_-]{0,63}$", example = "default")),
    request_body(content = PredictBody, description = "One hour, or `{\"instances\": [...]}` (up to the explanation limit, default 256)"),
    responses(
        (status = 200, description = "Exact TreeSHAP of the version the request is routed to", body = crate::api::explain::ExplainAnswer,
            headers(("x-model-version" = u32, description = "The model version explained"),
                    ("x-route-arm" = String, description = "The arm the request was assigned to"))),
        (status = 404, description = "No such route or model", body = velocast_http::ErrorBody),
        (status = 409, description = "The version cannot be explained (no node covers in its file, or explanations off)", body = velocast_http::ErrorBody),
        (status = 429, description = "Rate limit exceeded (`Retry-After`, `RateLimit-*`)", body = velocast_http::ErrorBody),
    ),
    security(("bearer" = ["explain"])))]
#[allow(dead_code)] // Documentation only: `model_action` serves the path.
pub async fn explain_named() {}

/// `/v1/models/{target}`: `<name>:predict` (scope `predict`) or `<name>:explain` (scope
/// `explain`), one handler because axum routes a path segment whole.
pub async fn model_action(
    caller: Authenticated,
    State(state): State<AppState>,
    Path(target): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let (name, explain) = if let Some(name) = target.strip_suffix(":predict") {
        (name, false)
    } else if let Some(name) = target.strip_suffix(":explain") {
        (name, true)
    } else {
        return Err(ApiError::not_found(
            "no such route: use /v1/models/<name>:predict or /v1/models/<name>:explain",
        ));
    };
    let scope = if explain {
        Scope::EXPLAIN
    } else {
        Scope::PREDICT
    };
    caller
        .principal
        .require(scope)
        .map_err(|e| ApiError::auth(&e))?;
    let serving = state.fleet.serving();
    let route = serving
        .find(name)
        .ok_or_else(|| GatewayError::UnknownRoute(name.to_owned()))?;
    let principal = &caller.principal;
    Ok(if explain {
        crate::api::explain::explain_on(&state, route, principal, &headers, &body).await?
    } else {
        predict_on(&state, route, principal, &headers, &body).await?
    })
}

/// Explain the prediction of the default route.
#[utoipa::path(post, path = "/v1/explain", tag = "explain",
    request_body(content = PredictBody, description = "One hour, or `{\"instances\": [...]}`"),
    responses(
        (status = 200, description = "Exact TreeSHAP of the version the request is routed to", body = crate::api::explain::ExplainAnswer,
            headers(("x-model-version" = u32), ("x-route-arm" = String))),
        (status = 404, description = "No default route", body = velocast_http::ErrorBody),
        (status = 409, description = "The version cannot be explained", body = velocast_http::ErrorBody),
        (status = 429, description = "Rate limit exceeded (`Retry-After`, `RateLimit-*`)", body = velocast_http::ErrorBody),
    ),
    security(("bearer" = ["explain"])))]
pub async fn explain_default(
    caller: Authorized<velocast_http::auth::Explain>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let serving = state.fleet.serving();
    let route = serving
        .default_route()
        .ok_or(GatewayError::NoDefaultRoute)?;
    Ok(crate::api::explain::explain_on(&state, route, &caller.principal, &headers, &body).await?)
}

/// Predict demand on the default route.
#[utoipa::path(post, path = "/v1/predict", tag = "predict",
    request_body(content = PredictBody, description = "One hour, or `{\"instances\": [...]}`"),
    responses(
        (status = 200, description = "The prediction (one object in) or predictions (a batch in)", body = PredictAnswer,
            headers(("x-model-version" = u32), ("x-route-arm" = String))),
        (status = 404, description = "No default route", body = velocast_http::ErrorBody),
        (status = 429, description = "Rate limit exceeded (`Retry-After`, `RateLimit-*`)", body = velocast_http::ErrorBody),
    ),
    security(("bearer" = ["predict"])))]
pub async fn predict_default(
    caller: Authorized<Predict>,
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let serving = state.fleet.serving();
    let route = serving
        .default_route()
        .ok_or(GatewayError::NoDefaultRoute)?;
    Ok(predict_on(&state, route, &caller.principal, &headers, &body).await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: &str = r#"{"timestamp":"2012-10-01T08:00:00","weather":1,"temperature_c":18,"feels_like_c":18,"humidity_pct":60,"wind_speed_kmh":10,"holiday":false}"#;

    #[test]
    fn one_object_or_a_batch() {
        let (rows, batch) = parse_body(HOUR.as_bytes(), 4).unwrap();
        assert_eq!((rows.len(), batch), (1, false));
        let body = format!(r#"{{"instances":[{HOUR},{HOUR}]}}"#);
        let (rows, batch) = parse_body(body.as_bytes(), 4).unwrap();
        assert_eq!((rows.len(), batch), (2, true));
    }

    #[test]
    fn errors_name_the_row_and_field() {
        let bad = HOUR.replace("\"humidity_pct\":60", "\"humidity_pct\":160");
        let body = format!(r#"{{"instances":[{HOUR},{HOUR},{HOUR},{bad}]}}"#);
        let (rows, batch) = parse_body(body.as_bytes(), 8).unwrap();
        let error = feature_rows(&rows, batch).unwrap_err();
        assert_eq!(error.status(), StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(
            error.body().field.as_deref(),
            Some("instances[3].humidity_pct")
        );
        assert_eq!(
            error.body().error,
            "instances[3].humidity_pct: must be within 0..=100"
        );

        let typo = HOUR.replace("\"weather\":1", "\"weather\":\"sunny\"");
        let body = format!(r#"{{"instances":[{HOUR},{typo}]}}"#);
        let error = parse_body(body.as_bytes(), 8).unwrap_err();
        assert_eq!(error.body().field.as_deref(), Some("instances[1].weather"));

        let error = parse_body(HOUR.replace(",\"holiday\":false", "").as_bytes(), 8).unwrap_err();
        assert_eq!(error.body().field.as_deref(), Some("holiday"));
        let error = parse_body(
            HOUR.replace("\"holiday\":false", "\"holiday\":false,\"x\":1")
                .as_bytes(),
            8,
        )
        .unwrap_err();
        assert_eq!(error.body().field.as_deref(), Some("x"));
    }

    #[test]
    fn batch_bounds_are_enforced() {
        let error = parse_body(br#"{"instances":[]}"#, 4).unwrap_err();
        assert_eq!(error.body().field.as_deref(), Some("instances"));
        let body = format!(r#"{{"instances":[{HOUR},{HOUR},{HOUR}]}}"#);
        let error = parse_body(body.as_bytes(), 2).unwrap_err();
        assert!(
            error.body().error.contains("at most 2"),
            "{}",
            error.body().error
        );
    }
}
