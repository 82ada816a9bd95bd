//! What travels to the monitor: the gateway's prediction events, in batches, and observed
//! outcomes (the actual count of an hour, or of one answered row), and what the monitor answers
//! about each batch. One definition for the sender and the receiver.

use serde::{Deserialize, Serialize};
use velocast_features::DemandRequest;

/// One answered row. `(request_id, row)` names it: a retried batch carries the same pairs, and
/// the monitor stores each pair once.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct PredictionEvent {
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub request_id: String,
    /// The row's position in its request (0 for a single row).
    #[serde(default)]
    #[cfg_attr(feature = "openapi", schema(value_type = u64, maximum = 4_294_967_295_u64))]
    pub row: u32,
    /// Milliseconds since the epoch, when the answer was made.
    pub at_ms: i64,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub route: String,
    #[cfg_attr(feature = "openapi", schema(min_length = 1, max_length = 128))]
    pub arm: String,
    /// A registered model's name.
    #[cfg_attr(
        feature = "openapi",
        schema(pattern = r"^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)
    )]
    pub model: String,
    #[cfg_attr(
        feature = "openapi",
        schema(value_type = u64, minimum = 1, maximum = 4_294_967_295_u64)
    )]
    pub version: u32,
    /// The request in physical units, when the client sent one (absent for a feature tensor).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<DemandRequest>,
    /// The feature vector the model saw, in its signature's order (15 finite values).
    #[cfg_attr(feature = "openapi", schema(min_items = 15, max_items = 15))]
    pub features: Vec<f32>,
    pub prediction: f64,
}

/// A batch of events: `POST /v1/events`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    pub events: Vec<PredictionEvent>,
}

/// What actually happened: the count of an hour (every prediction for that hour is scored
/// against it), or of one answered row.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct Outcome {
    /// The hour, as the request's `timestamp` names it (`2012-09-01T08:00:00`, station time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hour: Option<String>,
    /// Or the answered request and row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "openapi", schema(value_type = Option<u64>, maximum = 4_294_967_295_u64))]
    pub row: Option<u32>,
    /// Rentals counted (≥ 0).
    pub actual: f64,
}

/// A batch of outcomes: `POST /v1/outcomes`.
#[derive(Debug, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(deny_unknown_fields)]
pub struct OutcomeBatch {
    pub outcomes: Vec<Outcome>,
}

/// One item of a batch that was not stored, and why.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Rejected {
    /// Its position in the batch.
    pub index: usize,
    /// The field at fault (`events[3].features`), when one is.
    pub field: String,
    pub error: String,
}

/// The monitor's answer to a batch: how many items were stored, how many it already held (a
/// retried batch), and which it refused. Refusals make the answer a 422; the rest of the batch
/// is kept either way.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct IngestReport {
    pub accepted: usize,
    pub duplicates: usize,
    pub rejected: Vec<Rejected>,
}
