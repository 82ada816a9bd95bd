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
    #[error("cannot write {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot serialize {what}")]
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

fn parent_of(dir: &Path) -> &Path {
    dir.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Checks, before any long work, that `dir` can be replaced when the run succeeds: it is a
/// directory or absent, and its parent takes new entries.
pub fn check_writable(dir: &Path) -> Result<(), OutputError> {
    if dir.exists() && !dir.is_dir() {
        return Err(OutputError::Io {
            path: dir.to_owned(),
            source: std::io::Error::new(
                std::io::ErrorKind::AlreadyExists,
                "exists and is not a directory",
            ),
        });
    }
    let parent = parent_of(dir);
    std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    tempfile::Builder::new()
        .prefix(".velocast-trainer-check-")
        .tempdir_in(parent)
        .map_err(io_error(parent))?;
    Ok(())
}

/// Where the quality report of a run stopped by the quality gate goes: beside the output
/// directory (`out/model` → `out/model.quality_report.json`), so the directory itself, and any
/// good model in it, stays as it was.
pub fn failed_report_path(dir: &Path) -> PathBuf {
    let name = dir
        .file_name()
        .map_or_else(|| "out".into(), |n| n.to_string_lossy().into_owned());
    parent_of(dir).join(format!("{name}.quality_report.json"))
}

/// Writes the report of a run the quality gate stopped (see [`failed_report_path`]).
pub fn write_failed_quality_report(
    dir: &Path,
    report: &velocast_dataset::QualityReport,
) -> Result<PathBuf, OutputError> {
    let path = failed_report_path(dir);
    let parent = parent_of(dir);
    std::fs::create_dir_all(parent).map_err(io_error(parent))?;
    let name = path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    write_file(parent, &name, &json("quality report", report)?)?;
    Ok(path)
}

/// The mean |SHAP| bars and the dependence charts the card's summary names.
fn write_explanation_charts(
    outcome: &Outcome,
    summary: &card::ExplanationSummary,
    stage: &Path,
) -> Result<(), OutputError> {
    let bars: Vec<(String, f64)> = summary
        .mean_abs
        .iter()
        .map(|f| (f.feature.clone(), f.mean_abs))
        .collect();
    let title = format!(
        "Mean |SHAP| per feature over the {} holdout hours (rentals per hour; TreeSHAP, path-dependent)",
        summary.rows
    );
    write_file(
        stage,
        &summary.importance_chart,
        chart::importance_svg(&bars, &title).as_bytes(),
    )?;
    let names = velocast_features::Signature::current();
    let names = names.feature_names();
    let contributions = &outcome.explanations.contributions;
    for chart_spec in &summary.dependence_charts {
        let Some(column) = names.iter().position(|n| *n == chart_spec.feature) else {
            continue;
        };
        let values: Vec<f64> = outcome
            .holdout
            .features
            .iter()
            .map(|row| f64::from(row[column]))
            .collect();
        let shap: Vec<f64> = contributions
            .chunks_exact(velocast_features::FEATURE_COUNT)
            .map(|row| row[column])
            .collect();
        let title = format!(
            "SHAP dependence of {} over the holdout: its contribution against its value",
            chart_spec.feature
        );
        write_file(
            stage,
            &chart_spec.file,
            chart::dependence_svg(&chart_spec.feature, &values, &shap, &title).as_bytes(),
        )?;
    }
    Ok(())
}

/// Writes every output of a finished run into `dir` (replacing it). Returns the card.
pub fn write(outcome: &Outcome, dir: &Path) -> Result<ModelCard, OutputError> {
    let artifacts = Artifacts::default();
    let onnx_sha256 = hex::encode(Sha256::digest(&outcome.onnx));
    let card = card::card(outcome, &onnx_sha256);

    let parent = parent_of(dir);
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
    if let Some(summary) = &card.explanations {
        write_explanation_charts(outcome, summary, stage)?;
    }

    // Swap the staged directory into place: the old one is moved aside first and removed only
    // once the new one is in, so a failure here leaves the old outputs where they were.
    let staged = staging.keep();
    let previous = parent.join(format!(".velocast-trainer-previous-{}", std::process::id()));
    let had_previous = dir.exists();
    if had_previous {
        std::fs::rename(dir, &previous).map_err(io_error(dir))?;
    }
    if let Err(error) = std::fs::rename(&staged, dir) {
        if had_previous {
            // Put the old outputs back; the new ones stay in the staging directory.
            let _restored = std::fs::rename(&previous, dir);
        }
        return Err(io_error(dir)(error));
    }
    if had_previous {
        std::fs::remove_dir_all(&previous).map_err(io_error(&previous))?;
    }
    Ok(card)
}
