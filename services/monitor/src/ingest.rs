//! Batches as they arrive: each item parsed and checked on its own, so a malformed one is
//! named (its index, the field, the rule) and the rest of its batch is kept.

use chrono::{NaiveDateTime, Timelike};
use serde::de::DeserializeOwned;
use velocast_features::{DemandRequest, FEATURE_COUNT};
use velocast_monitor_api::{Outcome, PredictionEvent, Rejected};

use crate::store::{OutcomeKey, StoredEvent};

/// The longest request id stored (the gateway's are far shorter).
const MAX_ID_LENGTH: usize = 128;

fn rejected(index: usize, field: String, error: impl Into<String>) -> Rejected {
    Rejected {
        index,
        field,
        error: error.into(),
    }
}

/// Parses one item, naming the field a type error is in (`events[3].features[2]`).
fn parse<T: DeserializeOwned>(
    list: &str,
    index: usize,
    value: serde_json::Value,
) -> Result<T, Rejected> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let field = if path == "." {
            format!("{list}[{index}]")
        } else {
            format!("{list}[{index}].{path}")
        };
        rejected(index, field, error.into_inner().to_string())
    })
}

/// The hour a request predicts, as epoch milliseconds of its wall-clock time.
pub fn hour_ms(timestamp: NaiveDateTime) -> Option<i64> {
    let hour = timestamp
        .with_minute(0)?
        .with_second(0)?
        .with_nanosecond(0)?;
    Some(hour.and_utc().timestamp_millis())
}

fn check_id(list: &str, index: usize, field: &str, id: &str) -> Result<(), Rejected> {
    if id.is_empty() || id.len() > MAX_ID_LENGTH {
        return Err(rejected(
            index,
            format!("{list}[{index}].{field}"),
            format!("must be 1 to {MAX_ID_LENGTH} characters"),
        ));
    }
    Ok(())
}

/// One event, checked: a non-empty id, model and arm; a version ≥ 1; the signature's number of
/// features, all finite; a finite prediction; a valid request when one is given.
pub fn event(index: usize, value: serde_json::Value) -> Result<StoredEvent, Rejected> {
    let event: PredictionEvent = parse("events", index, value)?;
    let field = |name: &str| format!("events[{index}].{name}");
    check_id("events", index, "request_id", &event.request_id)?;
    for (name, text) in [
        ("model", &event.model),
        ("arm", &event.arm),
        ("route", &event.route),
    ] {
        check_id("events", index, name, text)?;
    }
    if let Err(error) = event.model.parse::<velocast_catalog::ModelName>() {
        return Err(rejected(index, field("model"), error.to_string()));
    }
    if event.version == 0 {
        return Err(rejected(index, field("version"), "must be at least 1"));
    }
    if event.features.len() != FEATURE_COUNT {
        return Err(rejected(
            index,
            field("features"),
            format!(
                "must hold {FEATURE_COUNT} values (the signature's features), not {}",
                event.features.len()
            ),
        ));
    }
    if let Some(position) = event.features.iter().position(|v| !v.is_finite()) {
        return Err(rejected(
            index,
            field(&format!("features[{position}]")),
            "must be finite",
        ));
    }
    if !event.prediction.is_finite() {
        return Err(rejected(index, field("prediction"), "must be finite"));
    }
    let hour = match &event.request {
        Some(request) => Some(request_hour(index, request)?),
        None => None,
    };
    Ok(StoredEvent {
        request_id: event.request_id,
        row: event.row,
        at_ms: event.at_ms,
        hour_ms: hour,
        route: event.route,
        arm: event.arm,
        model: event.model,
        version: event.version,
        features: event.features,
        prediction: event.prediction,
    })
}

fn request_hour(index: usize, request: &DemandRequest) -> Result<i64, Rejected> {
    use validator::Validate as _;
    if let Err(errors) = request.validate() {
        // The first broken rule by field, as every Velocast API names it.
        return Err(match velocast_config::broken_rules(&errors).first() {
            Some((field, error)) => rejected(
                index,
                format!("events[{index}].request.{field}"),
                velocast_config::rule_text(error),
            ),
            None => rejected(
                index,
                format!("events[{index}].request"),
                errors.to_string(),
            ),
        });
    }
    hour_ms(request.timestamp).ok_or_else(|| {
        rejected(
            index,
            format!("events[{index}].request.timestamp"),
            "is not a time of day",
        )
    })
}

/// One outcome, checked: exactly one of `hour` or `request_id`; `row` only with `request_id`;
/// a finite, non-negative count.
pub fn outcome(index: usize, value: serde_json::Value) -> Result<(OutcomeKey, f64), Rejected> {
    let outcome: Outcome = parse("outcomes", index, value)?;
    let field = |name: &str| format!("outcomes[{index}].{name}");
    if !outcome.actual.is_finite() || outcome.actual < 0.0 {
        return Err(rejected(
            index,
            field("actual"),
            "must be a finite count ≥ 0",
        ));
    }
    let key = match (&outcome.hour, &outcome.request_id) {
        (Some(hour), None) => {
            if outcome.row.is_some() {
                return Err(rejected(
                    index,
                    field("row"),
                    "is only meaningful with request_id",
                ));
            }
            let parsed = NaiveDateTime::parse_from_str(hour, "%Y-%m-%dT%H:%M:%S")
                .or_else(|_| NaiveDateTime::parse_from_str(hour, "%Y-%m-%dT%H:%M"))
                .map_err(|_| {
                    rejected(
                        index,
                        field("hour"),
                        "must be a station time like 2012-09-01T08:00:00",
                    )
                })?;
            let hour = hour_ms(parsed)
                .ok_or_else(|| rejected(index, field("hour"), "is not a time of day"))?;
            OutcomeKey::Hour(hour)
        }
        (None, Some(request_id)) => {
            check_id("outcomes", index, "request_id", request_id)?;
            OutcomeKey::Request {
                request_id: request_id.clone(),
                // A request of one row: its only row is row 0 (the events' own default).
                row: outcome.row.unwrap_or_default(),
            }
        }
        _ => {
            return Err(rejected(
                index,
                format!("outcomes[{index}]"),
                "needs exactly one of `hour` and `request_id`",
            ));
        }
    };
    Ok((key, outcome.actual))
}
