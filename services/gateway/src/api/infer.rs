//! The prediction path both dialects share (`/v1` named features, `/v2` Open Inference
//! Protocol): choosing the arm, running rows on its model off the async workers, and the
//! arm's metrics.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, HeaderValue};
use velocast_auth::Principal;
use velocast_routing::StickyKey;

use crate::error::GatewayError;
use crate::fleet::{ArmState, RouteState};
use crate::model::LoadedModel;
use crate::pool::PoolError;

/// The request id the request-id layer put on the request.
pub fn request_id(headers: &HeaderMap) -> &str {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
}

/// The key that keeps a caller on one arm.
pub fn sticky_key<'a>(
    sticky: &StickyKey,
    principal: &'a Principal,
    headers: &'a HeaderMap,
) -> &'a str {
    match sticky {
        StickyKey::Subject => principal.subject.as_str(),
        StickyKey::Header(name) => headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| request_id(headers)),
        StickyKey::RequestId => request_id(headers),
    }
}

/// The arm a request goes to: by its sticky key, or the arm serving `pinned_version`.
pub fn choose_arm<'a>(
    route: &'a RouteState,
    principal: &Principal,
    headers: &HeaderMap,
    pinned_version: Option<u64>,
) -> Result<&'a ArmState, GatewayError> {
    if let Some(version) = pinned_version {
        return route
            .arms
            .iter()
            .find(|arm| {
                arm.model
                    .as_ref()
                    .is_some_and(|m| u64::from(m.version) == version)
            })
            .ok_or(GatewayError::VersionNotServed {
                route: route.route.name.to_string(),
                version,
            });
    }
    let key = sticky_key(&route.route.sticky, principal, headers);
    let assignment = velocast_routing::assign(key, &route.route.arms)
        .ok_or_else(|| GatewayError::NoArm(route.route.name.to_string()))?;
    route
        .arms
        .get(assignment.arm)
        .ok_or_else(|| GatewayError::NoArm(route.route.name.to_string()))
}

/// The version an arm serves (held by the request until it is answered).
pub fn arm_model(route: &RouteState, arm: &ArmState) -> Result<Arc<LoadedModel>, GatewayError> {
    arm.model
        .as_ref()
        .map(Arc::clone)
        .ok_or_else(|| GatewayError::ArmNotLoaded {
            route: route.route.name.to_string(),
            arm: arm.arm.name.to_string(),
        })
}

/// A JSON answer of `version` on `arm`, with the headers that say which.
pub fn served_json(body: Vec<u8>, version: u32, arm: &ArmState) -> axum::response::Response {
    use axum::response::IntoResponse;
    let mut response = (
        [(
            axum::http::header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response();
    served_headers(response.headers_mut(), version, arm);
    response
}

/// What a model answered, and which version it was.
#[derive(Debug)]
pub struct Outcome {
    pub predictions: Vec<f64>,
    pub model: Arc<LoadedModel>,
    /// The feature rows, when asked for (prediction events need them).
    pub rows: Option<Vec<f32>>,
}

/// Runs the feature rows `parse` produces on the arm's model. The request is announced to the
/// model's sessions before parsing (so a session about to run can wait for it), and the arm's
/// metrics record the outcome either way.
pub async fn run_on_arm<F>(
    route: &RouteState,
    arm: &ArmState,
    keep_rows: bool,
    parse: F,
) -> Result<Outcome, GatewayError>
where
    F: FnOnce() -> Result<Vec<f32>, GatewayError>,
{
    let started = Instant::now();
    let outcome = run(route, arm, keep_rows, parse).await;
    let metrics = &arm.metrics;
    metrics.duration.observe(started.elapsed().as_secs_f64());
    match &outcome {
        Ok(_) => metrics.ok.inc(),
        Err(error) if error.is_client_error() => metrics.client_error.inc(),
        Err(_) => metrics.server_error.inc(),
    }
    outcome
}

async fn run<F>(
    route: &RouteState,
    arm: &ArmState,
    keep_rows: bool,
    parse: F,
) -> Result<Outcome, GatewayError>
where
    F: FnOnce() -> Result<Vec<f32>, GatewayError>,
{
    let model = arm_model(route, arm)?;
    let arrival = model.backend.arriving();
    let rows = parse()?;
    let kept = keep_rows.then(|| rows.clone());
    let cached = model.cache.as_ref().map(|cache| cache.lookup(&rows));
    let values = match cached {
        // Every row answered from the cache: no inference at all.
        Some(found) if found.iter().all(Option::is_some) => {
            drop(arrival);
            found.into_iter().flatten().collect()
        }
        Some(found) => {
            // Only the rows the cache lacks go to ONNX Runtime.
            let missing: Vec<f32> = rows
                .chunks_exact(velocast_features::FEATURE_COUNT)
                .zip(&found)
                .filter(|(_, hit)| hit.is_none())
                .flat_map(|(row, _)| row.iter().copied())
                .collect();
            let scored = score(arm, &model, missing.clone(), arrival).await?;
            let wanted = missing.len() / velocast_features::FEATURE_COUNT;
            if scored.len() != wanted {
                return Err(PoolError::Outputs {
                    rows: wanted,
                    got: scored.len(),
                }
                .into());
            }
            if let Some(cache) = &model.cache {
                cache.store(&missing, &scored);
            }
            let mut fresh = scored.into_iter();
            // Exactly one fresh value per miss (checked above).
            found
                .into_iter()
                .filter_map(|hit| hit.or_else(|| fresh.next()))
                .collect()
        }
        None => score(arm, &model, rows, arrival).await?,
    };
    arm.metrics.rows.inc_by(values.len() as u64);
    let predictions: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
    if let Some(values) = &arm.values {
        for value in &predictions {
            values.observe(*value);
        }
    }
    Ok(Outcome {
        predictions,
        model,
        rows: kept,
    })
}

/// Runs rows through the model's backend, recording queue, inference and batch metrics.
async fn score(
    arm: &ArmState,
    model: &LoadedModel,
    rows: Vec<f32>,
    arrival: Option<crate::pool::Arrival>,
) -> Result<Vec<f32>, GatewayError> {
    let scored = model.backend.score(rows, arrival).await?;
    let metrics = &arm.metrics;
    metrics.queue.observe(scored.queued.as_secs_f64());
    metrics.inference.observe(scored.inference.as_secs_f64());
    metrics.batch_rows.observe(scored.batch_rows as f64);
    Ok(scored.values)
}

/// Milliseconds since the Unix epoch, negative for a clock set before it (an event keeps the
/// time the clock gave, wrong as it may be, rather than a made-up zero).
fn unix_millis(now: std::time::SystemTime) -> i64 {
    // Saturates only 292 million years from 1970.
    let signed = |d: std::time::Duration| i64::try_from(d.as_millis()).unwrap_or(i64::MAX);
    match now.duration_since(std::time::UNIX_EPOCH) {
        Ok(after) => signed(after),
        Err(before) => -signed(before.duration()),
    }
}

/// Whether the answered rows are needed after the answer (events, a shadow).
pub fn keep_rows(state: &crate::state::AppState, route: &RouteState) -> bool {
    state.events.is_some() || route.shadow.is_some()
}

/// After the answer: copy to the shadow, hand the answered rows to the prediction-event
/// pipeline if there is one. Neither waits.
pub fn after_answer(
    state: &crate::state::AppState,
    route: &RouteState,
    arm: &ArmState,
    outcome: &Outcome,
    request_id: &str,
    requests: Option<&[velocast_features::DemandRequest]>,
) {
    let Some(rows) = &outcome.rows else {
        return;
    };
    state
        .shadow
        .offer(route, request_id, rows, &outcome.predictions);
    let Some(sink) = &state.events else {
        return;
    };
    let at_ms = unix_millis(std::time::SystemTime::now());
    let common = crate::events::PredictionEvent {
        request_id: request_id.to_owned(),
        row: 0,
        at_ms,
        route: route.route.name.to_string(),
        arm: arm.arm.name.to_string(),
        model: outcome.model.model.clone(),
        version: outcome.model.version,
        request: None,
        features: Vec::new(),
        prediction: 0.0,
    };
    sink.offer(crate::events::events_of(
        &common,
        requests,
        rows,
        &outcome.predictions,
    ));
}

/// `x-model-version` and `x-route-arm` on a prediction's response.
pub fn served_headers(headers: &mut axum::http::HeaderMap, version: u32, arm: &ArmState) {
    headers.insert("x-model-version", HeaderValue::from(version));
    if let Ok(arm) = HeaderValue::from_str(arm.arm.name.as_str()) {
        headers.insert("x-route-arm", arm);
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn event_times_keep_their_sign() {
        assert_eq!(
            super::unix_millis(UNIX_EPOCH + Duration::from_millis(1_500)),
            1_500
        );
        assert_eq!(
            super::unix_millis(UNIX_EPOCH - Duration::from_millis(2_000)),
            -2_000
        );
    }
}
