//! The registry's wire types. Requests carry their `validator` rules and refuse unknown fields;
//! responses are what the service sends and what clients read. No HTTP or SQL here.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::{PartialSchema, ToSchema};
use validator::{Validate, ValidationError};

use velocast_features::json::integral;

/// A JSON object owned by another component (a signature, a card, parameters).
pub type Document = serde_json::Map<String, serde_json::Value>;

/// Tags: at most 64, keys 1–128 characters, values up to 256. Its schema says so
/// (`propertyNames`, `maxProperties`), so generated clients know the rules.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Tags(pub BTreeMap<String, String>);

impl std::ops::Deref for Tags {
    type Target = BTreeMap<String, String>;
    fn deref(&self) -> &Self::Target {
        &self.0
    }
}

impl std::ops::DerefMut for Tags {
    fn deref_mut(&mut self) -> &mut Self::Target {
        &mut self.0
    }
}

impl FromIterator<(String, String)> for Tags {
    fn from_iter<I: IntoIterator<Item = (String, String)>>(pairs: I) -> Self {
        Tags(pairs.into_iter().collect())
    }
}

impl PartialSchema for Tags {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(Type::Object)
            .description(Some(
                "Tags: at most 64; keys 1 to 128 characters, values up to 256",
            ))
            .property_names(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .min_length(Some(1))
                    .max_length(Some(128))
                    .pattern(Some(NO_NUL)),
            ))
            .additional_properties(Some(
                ObjectBuilder::new()
                    .schema_type(Type::String)
                    .max_length(Some(256))
                    .pattern(Some(NO_NUL)),
            ))
            .max_properties(Some(64))
            .into()
    }
}

impl ToSchema for Tags {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Tags")
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ModelView {
    pub name: String,
    pub description: String,
    pub tags: Tags,
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
    pub metadata: Document,
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
    #[schema(pattern = "^(running|finished|failed)$")]
    pub status: String,
    /// The run's parameters (an empty object when it has none).
    #[schema(value_type = Object)]
    pub params: Document,
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

/// Text without NUL characters: Postgres `text` cannot hold one, so such a string could never
/// be stored; the schema says so, and the rule refuses it with a 422 before it reaches SQL.
pub const NO_NUL: &str = "^[^\\u0000]*$";

pub fn no_nul(text: &str) -> Result<(), ValidationError> {
    if text.contains('\0') {
        let mut error = ValidationError::new("no_nul");
        error.message = Some("must not contain NUL characters".into());
        Err(error)
    } else {
        Ok(())
    }
}

/// Metric names: 1–128 characters without NUL.
fn metric_names(metrics: &BTreeMap<String, f64>) -> Result<(), ValidationError> {
    for name in metrics.keys() {
        if name.is_empty() || name.chars().count() > 128 {
            let mut error = ValidationError::new("metrics");
            error.message = Some("metric names are 1 to 128 characters".into());
            return Err(error);
        }
        no_nul(name)?;
    }
    Ok(())
}

/// Tags: at most 64, keys 1–128 characters, values up to 256 (characters, as the schema
/// counts them), no NUL.
fn tag_rules(tags: &Tags) -> Result<(), ValidationError> {
    let tags = &tags.0;
    for (key, value) in tags {
        no_nul(key)?;
        no_nul(value)?;
    }
    let bad = |rule: &'static str| {
        let mut error = ValidationError::new("tags");
        error.message = Some(rule.into());
        Err(error)
    };
    if tags.len() > 64 {
        return bad("at most 64 tags");
    }
    if tags.keys().any(|k| k.is_empty() || k.chars().count() > 128) {
        return bad("tag keys are 1 to 128 characters");
    }
    if tags.values().any(|v| v.chars().count() > 256) {
        return bad("tag values are at most 256 characters");
    }
    Ok(())
}

/// `POST /v1/models`
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateModel {
    /// Lowercase letters, digits, `-` and `_`, starting with a letter; at most 64.
    #[schema(pattern = "^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub name: String,
    #[serde(default)]
    #[schema(max_length = 4096, pattern = "^[^\\u0000]*$")]
    #[validate(length(max = 4096), custom(function = "no_nul"))]
    pub description: String,
    #[serde(default)]
    #[validate(custom(function = "tag_rules"))]
    pub tags: Tags,
}

/// `PATCH /v1/models/{model}`: what is absent stays as it is.
#[derive(Debug, Clone, Default, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateModel {
    #[serde(default)]
    #[schema(max_length = 4096, pattern = "^[^\\u0000]*$")]
    #[validate(length(max = 4096), custom(function = "no_nul"))]
    pub description: Option<String>,
    /// Replaces the whole tag set.
    #[serde(default)]
    #[validate(custom(function = "tag_rules"))]
    pub tags: Option<Tags>,
}

/// Where a version came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Lineage {
    /// sha256 of the training data file.
    #[schema(pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)]
    #[validate(length(equal = 64), custom(function = "hex_digest"))]
    pub dataset_sha256: String,
    pub dataset_rows: u64,
    /// First and last timestamp in the data (ISO 8601).
    #[schema(min_length = 1, max_length = 64)]
    #[validate(length(min = 1, max = 64))]
    pub dataset_first: String,
    #[schema(min_length = 1, max_length = 64)]
    #[validate(length(min = 1, max = 64))]
    pub dataset_last: String,
    #[schema(min_length = 1, max_length = 128)]
    #[validate(length(min = 1, max = 128))]
    pub config_hash: String,
    #[schema(min_length = 1, max_length = 64)]
    #[validate(length(min = 1, max = 64))]
    pub git_commit: String,
    #[schema(min_length = 1, max_length = 64)]
    #[validate(length(min = 1, max = 64))]
    pub trainer_version: String,
}

/// The `metadata` part of `POST /v1/models/{model}/versions` (multipart, with `artifact` and
/// optionally `profile` parts).
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewVersionMetadata {
    /// Hex sha256 the client computed over the `artifact` part; the server checks it.
    #[schema(pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)]
    #[validate(custom(function = "hex_digest"))]
    pub artifact_sha256: String,
    /// Hex sha256 of the `profile` part, when one is sent.
    #[serde(default)]
    #[schema(pattern = "^[0-9a-f]{64}$", min_length = 64, max_length = 64)]
    #[validate(custom(function = "hex_digest"))]
    pub profile_sha256: Option<String>,
    /// The training run that produced this version.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$", min_length = 1, max_length = 64)]
    #[validate(length(min = 1, max = 64), custom(function = "run_id_rule"))]
    pub run_id: Option<String>,
    /// Feature names, types and ranges the model expects (the features crate's signature:
    /// the artifact's inputs must agree with it).
    #[schema(value_type = Object)]
    pub signature: Document,
    #[serde(default)]
    #[validate(custom(function = "metric_names"))]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Document,
    #[serde(default)]
    #[validate(custom(function = "tag_rules"))]
    pub tags: Tags,
    #[validate(nested)]
    pub lineage: Lineage,
    /// The model card (JSON), kept with the version.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub card: Option<Document>,
}

/// `PUT /v1/models/{model}/aliases/{alias}`
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetAlias {
    #[schema(minimum = 1, maximum = 4294967295_u64)]
    #[serde(deserialize_with = "integral")]
    #[validate(range(min = 1))]
    pub version: u32,
    /// Why: recorded in the audit log.
    #[schema(min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    #[validate(length(min = 1, max = 1024), custom(function = "no_nul"))]
    pub reason: String,
}

/// `POST /v1/runs`
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateRun {
    /// Client-chosen id (letters, digits, `-`, `_`; at most 64); the server picks a UUID when
    /// absent.
    #[serde(default)]
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$", min_length = 1, max_length = 64)]
    #[validate(length(min = 1, max = 64), custom(function = "run_id_rule"))]
    pub id: Option<String>,
    /// The registered model the run trains.
    #[schema(pattern = "^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub model: String,
    #[serde(default)]
    #[schema(value_type = Object)]
    pub params: Document,
}

fn hex_digest(digest: &str) -> Result<(), ValidationError> {
    if digest.len() == 64
        && digest
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    {
        Ok(())
    } else {
        let mut error = ValidationError::new("sha256");
        error.message = Some("64 lowercase hexadecimal characters".into());
        Err(error)
    }
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
    #[schema(min_length = 1, max_length = 128, pattern = "^[^\\u0000]*$")]
    #[validate(length(min = 1, max = 128), custom(function = "no_nul"))]
    pub key: String,
    /// Fold, trial or epoch number.
    #[serde(default, deserialize_with = "integral")]
    pub step: i64,
    pub value: f64,
}

/// `POST /v1/runs/{id}/metrics`: all or nothing.
#[derive(Debug, Clone, Serialize, Deserialize, Validate, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LogMetrics {
    /// At most 1,000 per request, MLflow's `log-batch` limit: a transaction of 10,000 upserts
    /// held Postgres for over ten seconds (schemathesis timed out on it); a trainer logs a trial's
    /// handful of metrics per call.
    #[schema(min_items = 1, max_items = 1000)]
    #[validate(length(min = 1, max = 1000), nested)]
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
            params: Document::new(),
        };
        assert!(run.validate().is_err());
        let tags = Tags((0..65).map(|i| (format!("k{i}"), String::new())).collect());
        assert!(tag_rules(&tags).is_err());
        // Lengths count characters, as the schema does.
        let tags = Tags([("é".repeat(128), "ü".repeat(256))].into_iter().collect());
        assert!(tag_rules(&tags).is_ok());
        let tags = Tags([("k".to_owned(), "a\0b".to_owned())].into_iter().collect());
        assert!(tag_rules(&tags).is_err());
        assert!(no_nul("fine").is_ok() && no_nul("not\0fine").is_err());
        assert!(serde_json::from_str::<CreateRun>(r#"{"model": "m", "params": 5}"#).is_err());
        // Integers as JSON Schema has them: 3.0 is one, 3.5 and 2^32 are not.
        let alias: SetAlias = serde_json::from_str(r#"{"version": 3.0, "reason": "r"}"#).unwrap();
        assert_eq!(alias.version, 3);
        for bad in [
            r#"{"version": 3.5, "reason": "r"}"#,
            r#"{"version": 4294967296, "reason": "r"}"#,
            r#"{"version": -1, "reason": "r"}"#,
        ] {
            assert!(serde_json::from_str::<SetAlias>(bad).is_err(), "{bad}");
        }
        let metric: NewMetric =
            serde_json::from_str(r#"{"key": "k", "step": -7.0, "value": 1}"#).unwrap();
        assert_eq!(metric.step, -7);
    }
}
