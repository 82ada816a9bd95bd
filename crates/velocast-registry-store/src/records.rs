//! What the store keeps, as typed records, and how rows become them. Stored JSON that does not
//! parse is an error ([`StoreError::Invalid`]), never a silent default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sqlx::Row;
use sqlx::any::AnyRow;
use velocast_catalog::{AliasName, Digest, ModelName, VersionNumber};

use crate::StoreError;

/// Tags: key → value.
pub type Tags = BTreeMap<String, String>;

/// A JSON object whose shape belongs to another component (a signature, a model card, a run's
/// parameters): kept as an object, never as an arbitrary JSON value.
pub type Document = serde_json::Map<String, serde_json::Value>;

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    pub name: ModelName,
    pub description: String,
    pub tags: Tags,
    /// The highest version number handed out (deleted versions keep their number).
    pub latest_version: Option<VersionNumber>,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// What describes a version, as the trainer uploads it. Tags and metrics are typed (search
/// filters on them, in SQL); the documents other components own stay JSON objects.
/// Where a version came from: the exact data, configuration, code and trainer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lineage {
    /// sha256 of the training data file.
    pub dataset_sha256: String,
    pub dataset_rows: u64,
    /// First and last timestamp in the data (ISO 8601).
    pub dataset_first: String,
    pub dataset_last: String,
    pub config_hash: String,
    pub git_commit: String,
    pub trainer_version: String,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VersionMetadata {
    /// Feature names, types and ranges the model expects.
    pub signature: Document,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    /// Versions registered before parameters were required to be an object stored `null`
    /// for "none"; that reads back as the empty object it meant.
    #[serde(default, deserialize_with = "object_or_null")]
    pub params: Document,
    #[serde(default)]
    pub tags: Tags,
    /// Where the version came from (data, config, commit, trainer).
    pub lineage: Lineage,
    /// The model card (absent from the JSON when there is none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub card: Option<Document>,
}

fn object_or_null<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Document, D::Error> {
    Ok(Option::<Document>::deserialize(deserializer)?.unwrap_or_default())
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub model: ModelName,
    pub version: VersionNumber,
    pub artifact_digest: Digest,
    pub artifact_size: u64,
    pub profile_digest: Option<Digest>,
    pub metadata: VersionMetadata,
    pub run_id: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// One alias change, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasMove {
    pub alias: AliasName,
    /// `None`: the alias was created.
    pub from: Option<VersionNumber>,
    /// `None`: the alias was deleted.
    pub to: Option<VersionNumber>,
    pub actor: String,
    pub reason: String,
    pub at_ms: i64,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::Finished, RunStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One logged value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub step: i64,
    pub value: f64,
}

/// A training run: its parameters, status, metrics and the versions it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub model: ModelName,
    pub status: RunStatus,
    pub params: Document,
    pub created_by: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub metrics: Vec<Metric>,
    pub versions: Vec<VersionNumber>,
}

/// An upload: the bytes, the digest the client declares, and what describes them.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub model: &'a ModelName,
    pub artifact: &'a [u8],
    pub declared_digest: &'a Digest,
    /// The reference profile and its declared digest, checked like the artifact.
    pub profile: Option<(&'a [u8], &'a Digest)>,
    pub metadata: &'a VersionMetadata,
    pub run_id: Option<&'a str>,
    pub created_by: &'a str,
}

/// The alias a model has and the version it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasRecord {
    pub alias: AliasName,
    pub version: VersionNumber,
    pub updated_by: String,
    pub updated_at_ms: i64,
}

pub(crate) const MODEL_COLUMNS: &str =
    "name, description, tags, next_version, created_by, created_at";

pub(crate) fn model_record(row: &AnyRow) -> Result<ModelRecord, StoreError> {
    let next: i64 = row.try_get("next_version")?;
    Ok(ModelRecord {
        name: row.try_get::<String, _>("name")?.parse()?,
        description: row.try_get("description")?,
        tags: serde_json::from_str(&row.try_get::<String, _>("tags")?)?,
        // `next_version` starts at 1: nothing handed out yet is `None`, not an error.
        latest_version: (next > 1)
            .then(|| VersionNumber::try_from(next - 1))
            .transpose()?,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

pub(crate) const VERSION_COLUMNS: &str = "m.name, v.version, v.artifact_digest, v.artifact_size, v.profile_digest, v.metadata, v.run_id, v.created_by, v.created_at \
     FROM model_versions v JOIN registered_models m ON m.id = v.model_id";

pub(crate) fn version_record(row: &AnyRow) -> Result<VersionRecord, StoreError> {
    let size: i64 = row.try_get("artifact_size")?;
    Ok(VersionRecord {
        model: row.try_get::<String, _>("name")?.parse()?,
        version: VersionNumber::try_from(row.try_get::<i64, _>("version")?)?,
        artifact_digest: row.try_get::<String, _>("artifact_digest")?.parse()?,
        artifact_size: u64::try_from(size)
            .map_err(|_| StoreError::Invalid(format!("negative artifact size {size}")))?,
        profile_digest: row
            .try_get::<Option<String>, _>("profile_digest")?
            .map(|d| d.parse())
            .transpose()?,
        metadata: serde_json::from_str(&row.try_get::<String, _>("metadata")?)?,
        run_id: row.try_get("run_id")?,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

pub(crate) fn alias_record(row: &AnyRow) -> Result<AliasRecord, StoreError> {
    Ok(AliasRecord {
        alias: row.try_get::<String, _>("alias")?.parse()?,
        version: VersionNumber::try_from(row.try_get::<i64, _>("version")?)?,
        updated_by: row.try_get("updated_by")?,
        updated_at_ms: row.try_get("updated_at")?,
    })
}
