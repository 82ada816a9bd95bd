//! `POST /v1/events` and `POST /v1/outcomes`: batches checked item by item; malformed items are
//! named in a 422 while the rest of the batch is stored; a retried batch stores nothing twice.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use velocast_http::ApiError;
use velocast_http::auth::{Authorized, MonitorWrite};
use velocast_http::extract::parse_json;
use velocast_monitor_api::{EventBatch, IngestReport, OutcomeBatch, Rejected};

use crate::error::MonitorError;
use crate::ingest;
use crate::state::AppState;

/// The envelope alone; items are read one by one so that one bad item does not sink the rest.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Events {
    events: Vec<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Outcomes {
    outcomes: Vec<serde_json::Value>,
}

fn too_many(list: &'static str, count: usize, limit: u32) -> Result<(), ApiError> {
    if count > limit as usize {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{count} items; at most {limit} per batch"),
        )
        .with_field(list));
    }
    Ok(())
}

/// A body that is not a batch at all is a 400 whatever was wrong with it: a 422 from these
/// routes always carries the [`IngestReport`] of a batch that was read.
fn not_a_batch(error: ApiError) -> ApiError {
    let body = error.body();
    let refused = ApiError::new(
        StatusCode::BAD_REQUEST,
        &body.error_type,
        body.error.clone(),
    );
    match &body.field {
        Some(field) => refused.with_field(field.clone()),
        None => refused,
    }
}

fn answer(report: IngestReport) -> Response {
    let status = if report.rejected.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    (status, Json(report)).into_response()
}

/// Store prediction events (the gateway's batches).
///
/// Each event is checked on its own: a malformed one is listed in `rejected` with its index,
/// field and rule, and the answer is 422; every other event of the batch is stored either way.
/// `(request_id, row)` names an event: a retried batch is counted in `duplicates`, not stored
/// twice.
#[utoipa::path(post, path = "/v1/events", tag = "ingest", request_body = EventBatch,
    responses(
        (status = 200, description = "Every event stored (or already held)", body = IngestReport),
        (status = 422, description = "Some events refused; the rest stored", body = IngestReport),
        (status = 400, description = "Not a batch (malformed JSON, not an object, no `events` list, unknown keys)", body = velocast_http::ErrorBody),
        (status = 413, description = "Too many events", body = velocast_http::ErrorBody)),
    security(("bearer" = ["monitor:write"])))]
pub async fn events(
    _caller: Authorized<MonitorWrite>,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Events { events } = parse_json(&body).map_err(not_a_batch)?;
    too_many("events", events.len(), state.settings.max_batch)?;
    let mut valid = Vec::with_capacity(events.len());
    let mut rejected: Vec<Rejected> = Vec::new();
    for (index, value) in events.into_iter().enumerate() {
        match ingest::event(index, value) {
            Ok(event) => valid.push(event),
            Err(refusal) => rejected.push(refusal),
        }
    }
    let (stored, duplicates) = state
        .store
        .insert_events(&valid)
        .await
        .map_err(MonitorError::from)?;
    if !rejected.is_empty() {
        // At most `max_batch` (≤ 1,000,000) items: fits u32.
        state
            .store
            .record_rejections(rejected.len() as u32)
            .await
            .map_err(MonitorError::from)?;
    }
    let counts = [
        ("stored", stored),
        ("duplicate", duplicates),
        ("rejected", rejected.len()),
    ];
    for (outcome, count) in counts {
        state
            .metrics
            .ingested
            .with_label_values(&["event", outcome])
            .inc_by(count as u64);
    }
    Ok(answer(IngestReport {
        accepted: stored,
        duplicates,
        rejected,
    }))
}

/// Store observed outcomes: the count of an hour (`hour`), or of one answered row
/// (`request_id`, `row`).
///
/// Checked item by item like events. An outcome already held is a duplicate and keeps its
/// first value.
#[utoipa::path(post, path = "/v1/outcomes", tag = "ingest", request_body = OutcomeBatch,
    responses(
        (status = 200, description = "Every outcome stored (or already held)", body = IngestReport),
        (status = 422, description = "Some outcomes refused; the rest stored", body = IngestReport),
        (status = 400, description = "Not a batch (malformed JSON, not an object, no `outcomes` list, unknown keys)", body = velocast_http::ErrorBody),
        (status = 413, description = "Too many outcomes", body = velocast_http::ErrorBody)),
    security(("bearer" = ["monitor:write"])))]
pub async fn outcomes(
    _caller: Authorized<MonitorWrite>,
    State(state): State<AppState>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let Outcomes { outcomes } = parse_json(&body).map_err(not_a_batch)?;
    too_many("outcomes", outcomes.len(), state.settings.max_batch)?;
    let mut valid = Vec::with_capacity(outcomes.len());
    let mut rejected = Vec::new();
    for (index, value) in outcomes.into_iter().enumerate() {
        match ingest::outcome(index, value) {
            Ok(outcome) => valid.push(outcome),
            Err(refusal) => rejected.push(refusal),
        }
    }
    let (stored, duplicates) = state
        .store
        .insert_outcomes(&valid)
        .await
        .map_err(MonitorError::from)?;
    for (outcome, count) in [
        ("stored", stored),
        ("duplicate", duplicates),
        ("rejected", rejected.len()),
    ] {
        state
            .metrics
            .ingested
            .with_label_values(&["outcome", outcome])
            .inc_by(count as u64);
    }
    Ok(answer(IngestReport {
        accepted: stored,
        duplicates,
        rejected,
    }))
}
