//! The registry's wire types. Requests carry their `validator` rules and refuse unknown fields;
//! responses are what the service sends and what clients read. No HTTP or SQL here.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use validator::{Validate, ValidationError};

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelView {
    pub name: String,
    pub description: String,
    #[schema(value_type = Object)]
    pub tags: serde_json::Value,
    /// The highest version number handed out, if any.
    pub latest_version: Option<u32>,
    /// Alias → version (on single-model reads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliases: Option<BTreeMap<String, u32>>,
    pub created_by: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ArtifactView {
    /// Hex sha256 of the bytes; also the download's `ETag`.
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    pub model: String,
    pub version: u32,
    pub artifact: ArtifactView,
    pub profile_sha256: Option<String>,
    /// Signature, metrics, params, tags, lineage and (on single reads) the model card, as
    /// uploaded.
    #[schema(value_type = Object)]
    pub metadata: serde_json::Value,
    pub run_id: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct VersionList {
    pub versions: Vec<VersionView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasView {
    pub alias: String,
    pub version: u32,
    pub updated_by: String,
    pub updated_at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasList {
    pub aliases: Vec<AliasView>,
}

/// One alias change; `from` is null when the alias was created, `to` when it was deleted.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AliasMoveView {
    pub alias: String,
    pub from: Option<u32>,
    pub to: Option<u32>,
    pub actor: String,
    pub reason: String,
    pub at_ms: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AuditLog {
    pub model: String,
    pub moves: Vec<AliasMoveView>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MetricView {
    pub key: String,
    pub step: i64,
    pub value: f64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    pub id: String,
    pub model: String,
    /// `running`, `finished` or `failed`.
    pub status: String,
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    pub created_by: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub metrics: Vec<MetricView>,
    pub versions: Vec<u32>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunList {
    pub runs: Vec<RunView>,
}

/// Tags: at most 64, keys 1–128 characters, values up to 256.
fn tag_rules(tags: &BTreeMap<String, String>) -> Result<(), ValidationError> {
    let bad = |rule: &'static str| {
        let mut error = ValidationError::new("tags");
        error.message = Some(rule.into());
        Err(error)
    };
    if tags.len() > 64 {
        return bad("at most 64 tags");
    }
    if tags.keys().any(|k| k.is_empty() || k.len() > 128) {
        return bad("tag keys are 1 to 128 characters");
    }
    if tags.values().any(|v| v.len() > 256) {
        return bad("tag values are at most 256 characters");
    }
    Ok(())
}

/// `POST /v1/models`
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    /// Lowercase letters, digits, `-` and `_`, starting with a letter; at most 64.
    pub name: String,
    #[serde(default)]
    #[validate(length(max = 4096))]
    pub description: String,
    #[serde(default)]
    #[validate(custom(function = "tag_rules"))]
    pub tags: BTreeMap<String, String>,
}

/// `PATCH /v1/models/{model}`: what is absent stays as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateModel {
    #[serde(default)]
    #[validate(length(max = 4096))]
    pub description: Option<String>,
    /// Replaces the whole tag set.
    #[serde(default)]
    #[validate(custom(function = "tag_rules"))]
    pub tags: Option<BTreeMap<String, String>>,
}

/// Where a version came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    /// sha256 of the training data file.
    #[validate(length(equal = 64))]
    pub dataset_sha256: String,
    pub dataset_rows: u64,
    /// First and last timestamp in the data (ISO 8601).
    #[validate(length(min = 1, max = 64))]
    pub dataset_first: String,
    #[validate(length(min = 1, max = 64))]
    pub dataset_last: String,
    #[validate(length(min = 1, max = 128))]
    pub config_hash: String,
    #[validate(length(min = 1, max = 64))]
    pub git_commit: String,
    #[validate(length(min = 1, max = 64))]
    pub trainer_version: String,
}

/// The `metadata` part of `POST /v1/models/{model}/versions` (multipart, with `artifact` and
/// optionally `profile` parts).
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersionMetadata {
    /// Hex sha256 the client computed over the `artifact` part; the server checks it.
    pub artifact_sha256: String,
    /// Hex sha256 of the `profile` part, when one is sent.
    #[serde(default)]
    pub profile_sha256: Option<String>,
    /// The training run that produced this version.
    #[serde(default)]
    #[validate(length(min = 1, max = 64))]
    pub run_id: Option<String>,
    /// Feature names, types and ranges the model expects.
    #[schema(value_type = Object)]
    pub signature: serde_json::Value,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
    #[serde(default)]
    #[validate(custom(function = "tag_rules"))]
    pub tags: BTreeMap<String, String>,
    #[validate(nested)]
    pub lineage: Lineage,
    /// The model card (JSON), kept with the version.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub card: Option<serde_json::Value>,
}

/// `PUT /v1/models/{model}/aliases/{alias}`
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    #[validate(range(min = 1))]
    pub version: u32,
    /// Why: recorded in the audit log.
    #[validate(length(min = 1, max = 1024))]
    pub reason: String,
}

/// `POST /v1/runs`
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    /// Client-chosen id (letters, digits, `-`, `_`; at most 64); the server picks a UUID when
    /// absent.
    #[serde(default)]
    #[validate(length(min = 1, max = 64), custom(function = "run_id_rule"))]
    pub id: Option<String>,
    pub model: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: serde_json::Value,
}

fn run_id_rule(id: &str) -> Result<(), ValidationError> {
    if id
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        Ok(())
    } else {
        let mut error = ValidationError::new("run_id");
        error.message = Some("letters, digits, `-` and `_` only".into());
        Err(error)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMetric {
    #[validate(length(min = 1, max = 128))]
    pub key: String,
    /// Fold, trial or epoch number.
    #[serde(default)]
    pub step: i64,
    pub value: f64,
}

/// `POST /v1/runs/{id}/metrics`: all or nothing.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogMetrics {
    #[validate(length(min = 1, max = 10000), nested)]
    pub metrics: Vec<NewMetric>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EndStatus {
    Finished,
    Failed,
}

/// `POST /v1/runs/{id}/end`
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EndRun {
    pub status: EndStatus,
}

/// `GET /health/ready` and `/health/live`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `live`, `ready` or `not_ready`.
    pub status: String,
    /// `up`, `down`, or `draining` during shutdown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_refuse_unknown_fields_and_check_rules() {
        let error = serde_json::from_str::<SetAlias>(r#"{"version": 1, "reason": "x", "by": "y"}"#)
            .unwrap_err();
        assert!(error.to_string().contains("unknown field `by`"), "{error}");
        let alias: SetAlias = serde_json::from_str(r#"{"version": 0, "reason": ""}"#).unwrap();
        let errors = alias.validate().unwrap_err();
        let fields: Vec<_> = errors
            .field_errors()
            .keys()
            .map(|k| k.to_string())
            .collect();
        assert!(fields.contains(&"version".to_owned()) && fields.contains(&"reason".to_owned()));
        let run = CreateRun {
            id: Some("has space".into()),
            model: "m".into(),
            params: serde_json::Value::Null,
        };
        assert!(run.validate().is_err());
        let tags: BTreeMap<String, String> =
            (0..65).map(|i| (format!("k{i}"), String::new())).collect();
        assert!(tag_rules(&tags).is_err());
    }
}
