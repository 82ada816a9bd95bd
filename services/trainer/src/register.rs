//! `train --register <url>`: the run is recorded in the registry while it happens, and the
//! trained model becomes a new version with its card, reference profile and lineage.
//!
//! Order: the model and a run are created before training starts (so a failed training shows
//! up as a failed run); each search trial's CV scores are logged as it completes; after the
//! outputs are written, the version is uploaded (the registry checks the digests), the alias
//! moves if asked, and the run is closed. The token comes from `VELOCAST_TOKEN` or the file
//! `VELOCAST_TOKEN_FILE` names, never from a flag.

use std::path::Path;

use anyhow::Context as _;
use secrecy::SecretString;
use tracing::{info, warn};
use velocast_registry_api::{
    CreateModel, CreateRun, EndStatus, Lineage, NewMetric, NewVersionMetadata, Tags, VersionView,
};
use velocast_registry_client::{RegistryClient, Upload};

use crate::TrainerConfig;
use crate::card::ModelCard;
use crate::search::Trial;

/// Where to register and under which names.
#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub model: String,
    /// Alias to point at the new version (`champion`, …), if any.
    pub alias: Option<String>,
}

/// A registry run in progress.
#[derive(Debug)]
pub struct LiveRun {
    runtime: tokio::runtime::Runtime,
    client: RegistryClient,
    target: Target,
    run_id: String,
    /// Trials the registry did not take (logged once at the end rather than per trial).
    failed_logs: usize,
}

impl LiveRun {
    /// Ensures the model exists and starts a run with the resolved configuration as params.
    pub fn start(
        target: Target,
        token: SecretString,
        config: &TrainerConfig,
    ) -> anyhow::Result<Self> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the registry client runtime")?;
        let client = RegistryClient::new(&target.url, token)?;
        let mut params = json_object(config, "the configuration")?;
        params.insert("config_hash".to_owned(), config.hash().into());
        let run = runtime
            .block_on(async {
                client
                    .ensure_model(&CreateModel {
                        name: target.model.clone(),
                        description: "Hourly bike-share demand (UCI Bike Sharing)".to_owned(),
                        tags: Tags::default(),
                    })
                    .await?;
                client
                    .create_run(&CreateRun {
                        id: None,
                        model: target.model.clone(),
                        params,
                    })
                    .await
            })
            .with_context(|| format!("starting a run in the registry at {}", target.url))?;
        info!(run = %run.id, model = %target.model, registry = %target.url, "registry run started");
        Ok(LiveRun {
            runtime,
            client,
            target,
            run_id: run.id,
            failed_logs: 0,
        })
    }

    pub fn run_id(&self) -> &str {
        &self.run_id
    }

    /// Logs a trial's CV score and fold scores (`step` = trial number). A registry hiccup
    /// here does not stop training; the final upload decides the outcome.
    pub fn log_trial(&mut self, trial: &Trial) {
        let step = i64::try_from(trial.number).unwrap_or(i64::MAX);
        let mut metrics = Vec::new();
        if let Some(score) = trial.cv_score {
            metrics.push(NewMetric {
                key: "trial.cv_score".to_owned(),
                step,
                value: score,
            });
        }
        for (fold, scores) in trial.fold_scores.iter().enumerate() {
            for (name, value) in [
                ("mae", scores.mae),
                ("rmse", scores.rmse),
                ("rmsle", scores.rmsle),
            ] {
                metrics.push(NewMetric {
                    key: format!("trial.fold{}.{name}", fold + 1),
                    step,
                    value,
                });
            }
        }
        let metrics: Vec<NewMetric> = metrics
            .into_iter()
            .filter(|m| m.value.is_finite())
            .collect();
        if metrics.is_empty() {
            return;
        }
        if let Err(error) = self
            .runtime
            .block_on(self.client.log_metrics(&self.run_id, metrics))
        {
            self.failed_logs += 1;
            if self.failed_logs == 1 {
                warn!(%error, "registry did not take a trial's metrics; training continues");
            }
        }
    }

    /// Uploads the version from the written outputs, moves the alias and closes the run.
    pub fn finish(self, card: &ModelCard, out_dir: &Path) -> anyhow::Result<VersionView> {
        let outcome = self.runtime.block_on(self.publish(card, out_dir));
        let status = if outcome.is_ok() {
            EndStatus::Finished
        } else {
            EndStatus::Failed
        };
        if let Err(error) = self
            .runtime
            .block_on(self.client.end_run(&self.run_id, status))
        {
            warn!(%error, run = %self.run_id, "could not close the registry run");
        }
        if self.failed_logs > 0 {
            warn!(
                count = self.failed_logs,
                "trials whose metrics the registry did not take"
            );
        }
        outcome
    }

    /// Closes the run as failed (training did not finish).
    pub fn fail(self) {
        if let Err(error) = self
            .runtime
            .block_on(self.client.end_run(&self.run_id, EndStatus::Failed))
        {
            warn!(%error, run = %self.run_id, "could not mark the registry run failed");
        }
    }

    async fn publish(&self, card: &ModelCard, out_dir: &Path) -> anyhow::Result<VersionView> {
        let read = |name: &str| {
            let path = out_dir.join(name);
            std::fs::read(&path).with_context(|| format!("reading {}", path.display()))
        };
        let artifact = read(&card.artifacts.model)?;
        let profile = read(&card.artifacts.reference_profile)?;
        let final_metrics = final_metrics(card);
        self.client
            .log_metrics(
                &self.run_id,
                final_metrics
                    .iter()
                    .map(|(key, value)| NewMetric {
                        key: (*key).to_owned(),
                        step: 0,
                        value: *value,
                    })
                    .collect(),
            )
            .await?;
        let metadata = version_metadata(card, Some(self.run_id.clone()))?;
        let version = self
            .client
            .upload_version(
                &self.target.model,
                metadata,
                Upload {
                    artifact: &artifact,
                    profile: Some(&profile),
                },
            )
            .await
            .context("uploading the version")?;
        info!(model = %version.model, version = version.version, sha256 = %version.artifact.sha256, "version registered");
        if let Some(alias) = &self.target.alias {
            self.client
                .set_alias(
                    &self.target.model,
                    alias,
                    version.version,
                    &format!(
                        "trainer run {}: holdout MAE {:.2}",
                        self.run_id, card.core.holdout.mae
                    ),
                )
                .await
                .with_context(|| format!("moving alias `{alias}`"))?;
            info!(alias = %alias, version = version.version, "alias moved");
        }
        Ok(version)
    }
}

/// The headline metrics of a card (holdout scores, the chosen candidate's CV score), finite only.
pub fn final_metrics(card: &ModelCard) -> Vec<(&'static str, f64)> {
    let core = &card.core;
    let mut final_metrics = vec![
        ("holdout.mae", core.holdout.mae),
        ("holdout.rmse", core.holdout.rmse),
        ("holdout.rmsle", core.holdout.rmsle),
        ("holdout.r2", core.holdout.r2),
    ];
    if let Some(chosen) = core
        .cv
        .candidates
        .iter()
        .find(|c| c.name == core.model.chosen)
    {
        final_metrics.push(("cv.score", chosen.cv_score));
    }
    // The registry refuses non-finite values; a metric that is not a number is left out.
    final_metrics.retain(|(_, value)| value.is_finite());
    final_metrics
}

/// What the registry records for a version trained into `card` (the digests are filled in by
/// the upload).
pub fn version_metadata(
    card: &ModelCard,
    run_id: Option<String>,
) -> anyhow::Result<NewVersionMetadata> {
    let core = &card.core;
    let final_metrics = final_metrics(card);
    let format_time = |t: Option<chrono::NaiveDateTime>| {
        t.map_or_else(
            || "unknown".to_owned(),
            |t| t.format("%Y-%m-%dT%H:%M:%S").to_string(),
        )
    };
    Ok(NewVersionMetadata {
        artifact_sha256: String::new(),
        profile_sha256: None,
        run_id,
        signature: json_object(&core.signature, "the signature")?,
        metrics: final_metrics
            .iter()
            .map(|(k, v)| ((*k).replace('.', "_"), *v))
            .collect(),
        params: json_object(&core.model.specs, "the model parameters")?,
        tags: [
            ("chosen".to_owned(), core.model.chosen.clone()),
            (
                "split".to_owned(),
                core.split
                    .get("kind")
                    .and_then(|k| k.as_str())
                    .unwrap_or("unknown")
                    .to_owned(),
            ),
        ]
        .into_iter()
        .collect(),
        lineage: Lineage {
            dataset_sha256: core.data.sha256.clone(),
            dataset_rows: core.data.rows as u64,
            dataset_first: format_time(core.data.first),
            dataset_last: format_time(core.data.last),
            config_hash: core.config_hash.clone(),
            git_commit: core.trainer.git_commit.clone(),
            trainer_version: core.trainer.version.clone(),
        },
        card: Some(json_object(card, "the model card")?),
    })
}

/// `value` as a JSON object: what the registry stores for signatures, parameters and cards.
fn json_object<T: serde::Serialize>(
    value: &T,
    what: &str,
) -> anyhow::Result<serde_json::Map<String, serde_json::Value>> {
    match serde_json::to_value(value).with_context(|| format!("serializing {what}"))? {
        serde_json::Value::Object(map) => Ok(map),
        other => anyhow::bail!("{what} serializes to {other}, not a JSON object"),
    }
}
