//! Stored records → wire views.

use velocast_registry_api::{
    AliasMoveView, AliasView, ArtifactView, MetricView, ModelView, RunView, Tags, VersionView,
};
use velocast_registry_store::{AliasMove, AliasRecord, ModelRecord, RunRecord, VersionRecord};

pub fn model(record: ModelRecord, aliases: Option<&[AliasRecord]>) -> ModelView {
    ModelView {
        name: record.name.to_string(),
        description: record.description,
        tags: Tags(record.tags),
        latest_version: record.latest_version.map(|v| v.get()),
        aliases: aliases.map(|list| {
            list.iter()
                .map(|a| (a.alias.to_string(), a.version.get()))
                .collect()
        }),
        created_by: record.created_by,
        created_at_ms: record.created_at_ms,
    }
}

/// `with_card`: lists leave the (large) model card out.
pub fn version(record: VersionRecord, with_card: bool) -> Result<VersionView, serde_json::Error> {
    use serde_json::Value;
    // Built by moving the stored documents in (the card can be large, and this runs on every
    // read); the keys are `VersionMetadata`'s.
    let stored = record.metadata;
    let mut metadata = velocast_registry_api::Document::new();
    metadata.insert("signature".into(), Value::Object(stored.signature));
    metadata.insert("metrics".into(), serde_json::to_value(&stored.metrics)?);
    metadata.insert("params".into(), Value::Object(stored.params));
    metadata.insert("tags".into(), serde_json::to_value(&stored.tags)?);
    metadata.insert("lineage".into(), serde_json::to_value(&stored.lineage)?);
    if with_card && let Some(card) = stored.card {
        metadata.insert("card".into(), Value::Object(card));
    }
    Ok(VersionView {
        model: record.model.to_string(),
        version: record.version.get(),
        artifact: ArtifactView {
            sha256: record.artifact_digest.to_string(),
            size: record.artifact_size,
        },
        profile_sha256: record.profile_digest.map(|d| d.to_string()),
        metadata,
        run_id: record.run_id,
        created_by: record.created_by,
        created_at_ms: record.created_at_ms,
    })
}

/// The validated wire lineage as the store keeps it.
pub fn lineage(wire: velocast_registry_api::Lineage) -> velocast_registry_store::Lineage {
    velocast_registry_store::Lineage {
        dataset_sha256: wire.dataset_sha256,
        dataset_rows: wire.dataset_rows,
        dataset_first: wire.dataset_first,
        dataset_last: wire.dataset_last,
        config_hash: wire.config_hash,
        git_commit: wire.git_commit,
        trainer_version: wire.trainer_version,
    }
}

pub fn alias(record: AliasRecord) -> AliasView {
    AliasView {
        alias: record.alias.to_string(),
        version: record.version.get(),
        updated_by: record.updated_by,
        updated_at_ms: record.updated_at_ms,
    }
}

pub fn alias_move(change: AliasMove) -> AliasMoveView {
    AliasMoveView {
        alias: change.alias.to_string(),
        from: change.from.map(|v| v.get()),
        to: change.to.map(|v| v.get()),
        actor: change.actor,
        reason: change.reason,
        at_ms: change.at_ms,
    }
}

pub fn run(run: RunRecord) -> RunView {
    RunView {
        id: run.id,
        model: run.model.to_string(),
        status: run.status.as_str().to_owned(),
        params: run.params,
        created_by: run.created_by,
        started_at_ms: run.started_at_ms,
        ended_at_ms: run.ended_at_ms,
        metrics: run
            .metrics
            .into_iter()
            .map(|m| MetricView {
                key: m.key,
                step: m.step,
                value: m.value,
            })
            .collect(),
        versions: run.versions.into_iter().map(|v| v.get()).collect(),
    }
}
