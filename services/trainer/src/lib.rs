//! The Velocast trainer: `hour.csv` to a tuned, honest tree model in ONNX that ONNX Runtime
//! reproduces, with its model card, reference profile and holdout evidence.
//!
//! [`pipeline::run`] does the work; [`outputs::write`] puts the results on disk; `main.rs` is
//! the command line around them.

pub mod candidates;
pub mod card;
pub mod chart;
pub mod config;
pub mod folds;
pub mod markdown;
pub mod metrics;
pub mod outputs;
pub mod pipeline;
pub use velocast_features::profile;
pub mod progress;
pub mod register;
pub mod search;

use std::path::PathBuf;

pub use config::{FlagOverrides, TrainerConfig};
pub use pipeline::{Outcome, TrainError};

/// Runs the default pipeline and writes its outputs. Returns the written card and where.
pub fn train(
    config: &TrainerConfig,
    progress: &progress::Progress,
) -> anyhow::Result<(card::ModelCard, PathBuf)> {
    train_observed(config, progress, &mut |_| {})
}

/// As [`train`], showing every search trial to `on_trial` as it completes.
pub fn train_observed(
    config: &TrainerConfig,
    progress: &progress::Progress,
    on_trial: &mut dyn FnMut(&search::Trial),
) -> anyhow::Result<(card::ModelCard, PathBuf)> {
    use anyhow::Context;
    let digest = |input: &pipeline::DigestInput<'_>| card::digest(&card::core(input));
    // Found now, not after minutes of training.
    outputs::check_writable(&config.output.dir).with_context(|| {
        format!(
            "the output directory {} cannot be written",
            config.output.dir.display()
        )
    })?;
    let outcome = match pipeline::run(config, progress, digest, on_trial) {
        Ok(outcome) => outcome,
        Err(TrainError::Quality(messages, report)) => {
            let path = outputs::write_failed_quality_report(&config.output.dir, &report)?;
            anyhow::bail!(
                "data quality check failed; training stopped and {} was left as it was \
                 (quality report: {}):\n{}",
                config.output.dir.display(),
                path.display(),
                messages.join("\n")
            );
        }
        Err(other) => return Err(other.into()),
    };
    let card = outputs::write(&outcome, &config.output.dir)
        .with_context(|| format!("writing outputs to {}", config.output.dir.display()))?;
    Ok((card, config.output.dir.join("model_card.md")))
}
