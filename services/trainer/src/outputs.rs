//! Writing a run's outputs. Files go to a fresh sibling directory first and replace the output
//! directory only when all of them are written: a failed run never leaves half a model behind.

use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::card::{self, Artifacts, ModelCard};
use crate::chart;
use crate::markdown;
use crate::pipeline::Outcome;
use crate::profile;

#[derive(Debug, Error)]
pub enum OutputError {
    #[error("cannot write {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize {what}: {source}")]
    Json {
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> OutputError + '_ {
    move |source| OutputError::Io {
        path: path.to_owned(),
        source,
    }
}

fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> Result<(), OutputError> {
    let path = dir.join(name);
    let mut file = std::fs::File::create(&path).map_err(io_error(&path))?;
    file.write_all(bytes).map_err(io_error(&path))?;
    file.sync_all().map_err(io_error(&path))
}

fn json<T: serde::Serialize>(what: &'static str, value: &T) -> Result<Vec<u8>, OutputError> {
    serde_json::to_vec_pretty(value).map_err(|source| OutputError::Json { what, source })
}

/// Writes the quality report alone (also done when the quality gate stops training).
pub fn write_quality_report(
    dir: &Path,
    report: &velocast_dataset::QualityReport,
) -> Result<PathBuf, OutputError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let name = Artifacts::default().quality_report;
    write_file(dir, &name, &json("quality report", report)?)?;
    Ok(dir.join(name))
}

/// Writes every output of a finished run into `dir` (replacing it). Returns the card.
pub fn write(outcome: &Outcome, dir: &Path) -> Result<ModelCard, OutputError> {
    let artifacts = Artifacts::default();
    let onnx_sha256 = hex::encode(Sha256::digest(&outcome.onnx));
    let card = card::card(outcome, &onnx_sha256);

    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".velocast-trainer-")
        .tempdir_in(parent)
        .map_err(io_error(parent))?;
    let stage = staging.path();

    write_file(stage, &artifacts.model, &outcome.onnx)?;
    write_file(stage, "model_card.json", &json("model card", &card)?)?;
    write_file(
        stage,
        &artifacts.card_markdown,
        markdown::render(&card).as_bytes(),
    )?;
    write_file(
        stage,
        &artifacts.quality_report,
        &json("quality report", &outcome.quality)?,
    )?;
    let reference = profile::build(
        &outcome.train.features,
        &outcome.train.target,
        &outcome.train_predictions,
    );
    write_file(
        stage,
        &artifacts.reference_profile,
        &serde_json::to_vec(&reference).map_err(|source| OutputError::Json {
            what: "reference profile",
            source,
        })?,
    )?;
    write_file(
        stage,
        &artifacts.resolved_config,
        outcome.config.to_toml().as_bytes(),
    )?;

    let mut csv = String::from("timestamp,actual,predicted\n");
    for ((t, actual), predicted) in outcome
        .holdout
        .timestamps
        .iter()
        .zip(&outcome.holdout.target)
        .zip(&outcome.holdout_predictions)
    {
        csv.push_str(&format!(
            "{},{actual},{predicted:.4}\n",
            t.format("%Y-%m-%dT%H:%M:%S")
        ));
    }
    write_file(stage, &artifacts.holdout_predictions, csv.as_bytes())?;
    let s = &outcome.holdout_scores;
    let headline = format!(
        "{} on the holdout: MAE {:.1}, RMSLE {:.3}, R² {:.3} ({} hours)",
        outcome.chosen, s.mae, s.rmsle, s.r2, s.rows
    );
    let svg = chart::holdout_svg(
        &outcome.holdout.timestamps,
        &outcome.holdout.target,
        &outcome.holdout_predictions,
        &headline,
    );
    write_file(stage, &artifacts.holdout_chart, svg.as_bytes())?;

    // Swap the staged directory into place.
    if dir.exists() {
        std::fs::remove_dir_all(dir).map_err(io_error(dir))?;
    }
    let staged = staging.keep();
    std::fs::rename(&staged, dir).map_err(io_error(dir))?;
    Ok(card)
}
