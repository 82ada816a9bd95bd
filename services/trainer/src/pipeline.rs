//! The default training pipeline: load → quality gate → split → folds → search → candidates →
//! final fit → ONNX export → parity in ONNX Runtime. Writing the outputs is [`crate::outputs`].

use std::path::PathBuf;
use std::time::Instant;

use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use thiserror::Error;
use tracing::info;
use velocast_dataset::{
    Dataset, FeatureColumns, LoadError, QualityReport, TrainingTable, assess, load,
};
use velocast_features::{FEATURE_COUNT, Signature};
use velocast_onnx::ExportOptions;
use velocast_runtime::{Runtime, RuntimeError, resolve_dylib_path};
use velocast_trees::ridge::fit_ridge;
use velocast_trees::{Blend, Ensemble, FitError, Matrix, Member, Objective, fit};

use crate::candidates::{self, Candidate, Spec};
use crate::config::{SplitKind, TrainerConfig};
use crate::folds::{Fold, FoldError, folds};
use crate::metrics::Scores;
use crate::progress::Progress;
use crate::search::{self, FoldData, SearchResult};

#[derive(Debug, Error)]
pub enum TrainError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("data quality check failed:\n{}", .0.join("\n"))]
    Quality(Vec<String>, Box<QualityReport>),
    #[error("the {part} part of the {kind:?} split is empty")]
    EmptySplit { part: &'static str, kind: SplitKind },
    #[error(transparent)]
    Folds(#[from] FoldError),
    #[error("no candidate could be trained: every trial failed")]
    NoCandidate,
    #[error("final fit of `{name}` failed")]
    Fit {
        name: String,
        #[source]
        source: FitError,
    },
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("ONNX Runtime returned {served} predictions for {native} holdout rows")]
    ParityRows { served: usize, native: usize },
    #[error("explaining the exported model: {0}")]
    Explain(String),
    #[error("ONNX Runtime parity: {0}")]
    ParityValue(String),
    #[error(
        "ONNX Runtime does not reproduce the model: max |onnx - native| = {max_abs_error} at holdout row {row} (native {native}), allowed {allowed}"
    )]
    Parity {
        max_abs_error: f64,
        row: usize,
        native: f64,
        allowed: f64,
    },
}

/// The ONNX Runtime check on the holdout.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Parity {
    pub rows: usize,
    pub max_abs_error: f64,
    /// max over rows of |onnx − native| / max(1, |native|).
    pub max_scaled_error: f64,
    pub tolerance: f64,
    pub passed: bool,
    pub onnxruntime: String,
}

/// A candidate's results on the holdout (reported; never used to choose).
#[derive(Debug, Clone, Serialize)]
pub struct HoldoutResult {
    pub name: String,
    pub scores: Scores,
}

#[derive(Debug, Clone, Serialize)]
pub struct SplitSummary {
    pub kind: SplitKind,
    pub train_rows: usize,
    pub holdout_rows: usize,
    pub holdout_from: Option<chrono::NaiveDateTime>,
    pub holdout_to: Option<chrono::NaiveDateTime>,
    /// For the random split: the share and seed that drew it.
    pub random_test_fraction: Option<f64>,
    pub random_seed: Option<u64>,
}

/// Everything a run produced, before it is written out.
#[derive(Debug)]
pub struct Outcome {
    pub config: TrainerConfig,
    pub dataset: Dataset,
    pub quality: QualityReport,
    pub split: SplitSummary,
    pub train: TrainingTable,
    pub holdout: TrainingTable,
    pub folds: Vec<Fold>,
    pub search: SearchResult,
    pub candidates: Vec<Candidate>,
    pub chosen: String,
    pub model: Blend,
    pub holdout_predictions: Vec<f64>,
    pub holdout_scores: Scores,
    pub holdout_by_candidate: Vec<HoldoutResult>,
    pub train_predictions: Vec<f64>,
    pub onnx: Vec<u8>,
    pub card_digest: String,
    pub parity: Parity,
    /// TreeSHAP of the exported file on every holdout row.
    pub explanations: HoldoutExplanations,
    pub timings: Vec<(&'static str, f64)>,
}

/// Path-dependent TreeSHAP of the exported file on the holdout, in output space (each member's
/// exact score-space values rescaled through its link): what the card's global view is made of.
#[derive(Debug, Clone)]
pub struct HoldoutExplanations {
    /// Row-major: one contribution per feature per holdout row.
    pub contributions: Vec<f64>,
    /// The base value (the same for every row; none without rows).
    pub base_value: Option<f64>,
    /// Mean |contribution| per feature, in signature order.
    pub mean_abs: Vec<f64>,
}

/// Explains `holdout_x` on the exported `onnx` bytes: the model the registry will hold.
fn explain_holdout(onnx: &[u8], holdout_x: &[f32]) -> Result<HoldoutExplanations, TrainError> {
    let problem = |what: String| TrainError::Explain(what);
    let info = velocast_onnx::read(onnx).map_err(|e| problem(e.to_string()))?;
    let explainer = velocast_explain::Explainer::new(info.blend, FEATURE_COUNT, info.covers)
        .map_err(|e| problem(e.to_string()))?;
    let explained = explainer
        .explain(holdout_x, &velocast_explain::Mode::PathDependent)
        .map_err(|e| problem(e.to_string()))?;
    let rows = explained.len().max(1) as f64;
    let mut mean_abs = vec![0.0; FEATURE_COUNT];
    let mut contributions = Vec::with_capacity(explained.len() * FEATURE_COUNT);
    for explanation in &explained {
        for (total, value) in mean_abs.iter_mut().zip(&explanation.contributions) {
            *total += value.abs() / rows;
        }
        contributions.extend_from_slice(&explanation.contributions);
    }
    Ok(HoldoutExplanations {
        contributions,
        base_value: explained.first().map(|e| e.base_value),
        mean_abs,
    })
}

/// Metadata keys written into the ONNX model.
pub mod metadata_keys {
    pub const SIGNATURE: &str = "velocast.signature";
    pub const SIGNATURE_HASH: &str = "velocast.signature_hash";
    pub const CARD_DIGEST: &str = "velocast.model_card_digest";
    pub const CONFIG_HASH: &str = "velocast.config_hash";
    pub const DATA_SHA256: &str = "velocast.data_sha256";
}

struct Stopwatch {
    timings: Vec<(&'static str, f64)>,
    last: Instant,
}

impl Stopwatch {
    fn new() -> Self {
        Stopwatch {
            timings: Vec::new(),
            last: Instant::now(),
        }
    }

    fn lap(&mut self, step: &'static str) {
        let now = Instant::now();
        let seconds = (now - self.last).as_secs_f64();
        info!(step, seconds, "step finished");
        self.timings.push((step, seconds));
        self.last = now;
    }
}

/// Runs the pipeline. `card_digest` computes the model card digest from the pieces known
/// before export (it is written into the ONNX metadata).
/// `on_trial` sees every search trial as it completes (the registry run logs them).
pub fn run(
    config: &TrainerConfig,
    progress: &Progress,
    card_digest: impl FnOnce(&DigestInput<'_>) -> String,
    on_trial: &mut dyn FnMut(&search::Trial),
) -> Result<Outcome, TrainError> {
    let mut clock = Stopwatch::new();
    let dataset = load(&config.data.path)?;
    info!(rows = dataset.fingerprint.rows, sha256 = %dataset.fingerprint.sha256, "data loaded");
    clock.lap("load");

    let quality = assess(&dataset, &FeatureColumns::of_records(&dataset.records));
    for violation in &quality.violations {
        info!(severity = ?violation.severity, check = violation.check, "{}", violation.message);
    }
    if !quality.passed {
        let messages = quality
            .hard_violations()
            .map(|v| format!("  {}: {}", v.check, v.message))
            .collect();
        return Err(TrainError::Quality(messages, Box::new(quality)));
    }
    clock.lap("quality");

    let table = TrainingTable::from_records(&dataset.records);
    let (train, holdout, split) = split(&table, config)?;
    info!(train = train.len(), holdout = holdout.len(), kind = ?split.kind, "split");
    let folds = folds(&train, &config.cv, config.split.kind, config.search.seed)?;
    let fold_data: Vec<FoldData> = folds.iter().map(|f| fold_data(&train, f)).collect();
    clock.lap("features");

    let bar = progress.bar("search", config.search.trials as u64);
    let search = search::run(&fold_data, &config.search, |trial| {
        bar.inc(1);
        info!(
            trial = trial.number,
            objective = ?trial.params.objective,
            state = ?trial.state,
            cv_score = trial.cv_score,
            seconds = trial.seconds,
            "trial"
        );
        on_trial(trial);
    });
    bar.finish();
    info!(
        trials = search.trials.len(),
        pruned = search.pruned(),
        seconds = search.seconds,
        "search finished"
    );
    clock.lap("search");

    let metric = config.search.selection_metric;
    let mut candidates: Vec<Candidate> = config
        .search
        .objectives
        .iter()
        .filter_map(|&objective| search.best_for(objective))
        .map(|trial| {
            Candidate::new(
                &gbdt_name(trial.params.objective),
                Spec::Gbdt {
                    params: trial.params.clone(),
                },
                true,
                trial.out_of_fold.clone(),
                &fold_data,
                metric,
            )
        })
        .collect();
    if candidates.is_empty() {
        return Err(TrainError::NoCandidate);
    }
    candidates.push(candidates::ridge(
        &fold_data,
        config.baselines.ridge_alpha,
        &config.baselines.ridge_features,
        metric,
    ));
    candidates.push(candidates::seasonal_naive(&fold_data, metric));
    if config.blend.enabled {
        let members: Vec<&Candidate> = candidates.iter().filter(|c| c.servable).collect();
        if let Some(blend) = candidates::blend(&members, &fold_data, config.blend.steps, metric) {
            candidates.push(blend);
        }
    }
    let chosen = candidates
        .iter()
        .filter(|c| c.servable)
        .min_by(|a, b| a.cv_score.total_cmp(&b.cv_score))
        .ok_or(TrainError::NoCandidate)?
        .clone();
    info!(chosen = %chosen.name, cv_score = chosen.cv_score, "selected on cross-validation");
    clock.lap("candidates");

    // Refit every servable single candidate on the whole training part (two at a time).
    let train_x = train.features.as_flattened();
    let train_matrix = Matrix::new(train_x, FEATURE_COUNT).ok_or(TrainError::NoCandidate)?;
    let singles: Vec<&Candidate> = candidates
        .iter()
        .filter(|c| c.servable && !matches!(c.spec, Spec::Blend { .. }))
        .collect();
    let fitted = refit(&singles, train_matrix, &train.target, config)?;
    clock.lap("final_fit");

    let model = match &chosen.spec {
        Spec::Blend { weights } => Blend {
            members: weights
                .iter()
                .filter_map(|(name, weight)| {
                    fitted
                        .iter()
                        .find(|(n, _)| n == name)
                        .map(|(name, ensemble)| Member {
                            name: name.clone(),
                            weight: *weight,
                            ensemble: ensemble.clone(),
                        })
                })
                .collect(),
        },
        _ => fitted
            .iter()
            .find(|(name, _)| *name == chosen.name)
            .map(|(name, ensemble)| Blend::single(name, ensemble.clone()))
            .ok_or(TrainError::NoCandidate)?,
    };

    let holdout_x = holdout.features.as_flattened();
    let holdout_matrix = Matrix::new(holdout_x, FEATURE_COUNT).ok_or(TrainError::NoCandidate)?;
    let holdout_predictions = model.predict_all(holdout_matrix);
    let holdout_scores = Scores::of(&holdout_predictions, &holdout.target);
    let mut holdout_by_candidate: Vec<HoldoutResult> = fitted
        .iter()
        .map(|(name, ensemble)| HoldoutResult {
            name: name.clone(),
            scores: Scores::of(
                &Blend::single(name, ensemble.clone()).predict_all(holdout_matrix),
                &holdout.target,
            ),
        })
        .collect();
    holdout_by_candidate.push(HoldoutResult {
        name: "seasonal_naive".into(),
        scores: Scores::of(
            &candidates::seasonal_naive_predict(
                &train.timestamps,
                &train.target,
                &holdout.timestamps,
            ),
            &holdout.target,
        ),
    });
    if matches!(chosen.spec, Spec::Blend { .. }) {
        holdout_by_candidate.push(HoldoutResult {
            name: chosen.name.clone(),
            scores: holdout_scores,
        });
    }
    let train_predictions = model.predict_all(train_matrix);
    info!(
        mae = holdout_scores.mae,
        rmsle = holdout_scores.rmsle,
        r2 = holdout_scores.r2,
        "holdout"
    );
    clock.lap("evaluate");

    let signature = Signature::current();
    let digest = card_digest(&DigestInput {
        config,
        dataset: &dataset,
        split: &split,
        folds: &folds,
        search: &search,
        candidates: &candidates,
        chosen: &chosen.name,
        model: &model,
        holdout_scores: &holdout_scores,
        holdout_by_candidate: &holdout_by_candidate,
    });
    let onnx = velocast_onnx::export(
        &model,
        &export_options(config, &dataset, &signature, &digest),
    );
    clock.lap("export");

    let parity = parity(config, &onnx, holdout_x, &holdout_predictions)?;
    info!(
        max_abs_error = parity.max_abs_error,
        max_scaled_error = parity.max_scaled_error,
        "ONNX Runtime parity"
    );
    clock.lap("parity");

    let explanations = explain_holdout(&onnx, holdout_x)?;
    clock.lap("explain");

    Ok(Outcome {
        config: config.clone(),
        dataset,
        quality,
        split,
        train,
        holdout,
        folds,
        search,
        chosen: chosen.name.clone(),
        candidates,
        model,
        holdout_predictions,
        holdout_scores,
        holdout_by_candidate,
        train_predictions,
        onnx,
        card_digest: digest,
        parity,
        explanations,
        timings: clock.timings,
    })
}

impl Outcome {
    /// The same view of the results the digest was computed from.
    pub fn digest_input(&self) -> DigestInput<'_> {
        DigestInput {
            config: &self.config,
            dataset: &self.dataset,
            split: &self.split,
            folds: &self.folds,
            search: &self.search,
            candidates: &self.candidates,
            chosen: &self.chosen,
            model: &self.model,
            holdout_scores: &self.holdout_scores,
            holdout_by_candidate: &self.holdout_by_candidate,
        }
    }
}

/// What the model card digest covers, available before export.
#[derive(Debug)]
pub struct DigestInput<'a> {
    pub config: &'a TrainerConfig,
    pub dataset: &'a Dataset,
    pub split: &'a SplitSummary,
    pub folds: &'a [Fold],
    pub search: &'a SearchResult,
    pub candidates: &'a [Candidate],
    pub chosen: &'a str,
    pub model: &'a Blend,
    pub holdout_scores: &'a Scores,
    pub holdout_by_candidate: &'a [HoldoutResult],
}

pub fn gbdt_name(objective: Objective) -> String {
    match objective {
        Objective::SquaredError => "gbdt_raw",
        Objective::Log1pSquaredError => "gbdt_log1p",
        Objective::Poisson => "gbdt_poisson",
    }
    .to_owned()
}

fn split(
    table: &TrainingTable,
    config: &TrainerConfig,
) -> Result<(TrainingTable, TrainingTable, SplitSummary), TrainError> {
    let kind = config.split.kind;
    let (train, holdout) = match kind {
        SplitKind::Temporal => table.split_at_time(config.split.holdout_start),
        SplitKind::Random => {
            let mut order: Vec<usize> = (0..table.len()).collect();
            order.shuffle(&mut ChaCha8Rng::seed_from_u64(config.split.random_seed));
            let test_rows =
                (table.len() as f64 * config.split.random_test_fraction).round() as usize;
            let (test, train) = order.split_at(test_rows.min(order.len()));
            let (mut test, mut train) = (test.to_vec(), train.to_vec());
            test.sort_unstable();
            train.sort_unstable();
            (table.select(&train), table.select(&test))
        }
    };
    for (part, rows) in [("training", &train), ("holdout", &holdout)] {
        if rows.is_empty() {
            return Err(TrainError::EmptySplit { part, kind });
        }
    }
    let random = kind == SplitKind::Random;
    let summary = SplitSummary {
        kind,
        train_rows: train.len(),
        holdout_rows: holdout.len(),
        holdout_from: holdout.timestamps.first().copied(),
        holdout_to: holdout.timestamps.last().copied(),
        random_test_fraction: random.then_some(config.split.random_test_fraction),
        random_seed: random.then_some(config.split.random_seed),
    };
    Ok((train, holdout, summary))
}

fn fold_data(table: &TrainingTable, fold: &Fold) -> FoldData {
    let rows = |indices: &[usize]| -> (Vec<f32>, Vec<f64>, Vec<chrono::NaiveDateTime>) {
        let part = table.select(indices);
        (
            part.features.as_flattened().to_vec(),
            part.target,
            part.timestamps,
        )
    };
    let (train_x, train_y, train_t) = rows(&fold.train);
    let (validate_x, validate_y, validate_t) = rows(&fold.validate);
    FoldData {
        train_x,
        train_y,
        validate_x,
        validate_y,
        n_features: FEATURE_COUNT,
        train_t,
        validate_t,
    }
}

fn refit(
    singles: &[&Candidate],
    features: Matrix<'_>,
    target: &[f64],
    config: &TrainerConfig,
) -> Result<Vec<(String, Ensemble)>, TrainError> {
    let fit_one = |candidate: &Candidate| -> Result<(String, Ensemble), TrainError> {
        let result = match &candidate.spec {
            Spec::Gbdt { params } => fit(features, target, params),
            Spec::Ridge {
                alpha,
                features: names,
            } => fit_ridge(features, target, &candidates::ridge_params(*alpha, names)),
            Spec::SeasonalNaive | Spec::Blend { .. } => return Err(TrainError::NoCandidate),
        };
        result
            .map(|ensemble| (candidate.name.clone(), ensemble))
            .map_err(|source| TrainError::Fit {
                name: candidate.name.clone(),
                source,
            })
    };
    let workers = config.search.parallelism.max(1);
    let mut results: Vec<Option<Result<(String, Ensemble), TrainError>>> =
        singles.iter().map(|_| None).collect();
    for (chunk_index, chunk) in singles.chunks(workers).enumerate() {
        let outcomes: Vec<Result<(String, Ensemble), TrainError>> = std::thread::scope(|scope| {
            let handles: Vec<_> = chunk
                .iter()
                .map(|c| scope.spawn(move || fit_one(c)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or(Err(TrainError::NoCandidate)))
                .collect()
        });
        for (i, outcome) in outcomes.into_iter().enumerate() {
            results[chunk_index * workers + i] = Some(outcome);
        }
    }
    results
        .into_iter()
        .map(|r| r.unwrap_or(Err(TrainError::NoCandidate)))
        .collect()
}

/// The signature as the JSON the ONNX metadata carries.
#[expect(
    clippy::expect_used,
    reason = "the signature is plain data and always serializes"
)]
fn signature_json(signature: &Signature) -> String {
    serde_json::to_string(signature).expect("the signature serializes")
}

fn export_options(
    config: &TrainerConfig,
    dataset: &Dataset,
    signature: &Signature,
    digest: &str,
) -> ExportOptions {
    use metadata_keys as keys;
    ExportOptions {
        graph_name: "velocast_bike_demand".into(),
        input_name: "features".into(),
        output_name: "demand".into(),
        n_features: FEATURE_COUNT,
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: "Hourly bike-share demand (count) from velocast-features v1 inputs.".into(),
        metadata: vec![
            (keys::SIGNATURE.into(), signature_json(signature)),
            (keys::SIGNATURE_HASH.into(), signature.hash.clone()),
            (keys::CARD_DIGEST.into(), digest.to_owned()),
            (keys::CONFIG_HASH.into(), config.hash()),
            (keys::DATA_SHA256.into(), dataset.fingerprint.sha256.clone()),
        ],
    }
}

fn max_abs(expected: &[f64], served: &[f64]) -> f64 {
    expected
        .iter()
        .zip(served)
        .map(|(e, s)| (e - s).abs())
        .fold(0.0, f64::max)
}

fn parity(
    config: &TrainerConfig,
    onnx: &[u8],
    holdout_x: &[f32],
    native: &[f64],
) -> Result<Parity, TrainError> {
    let path: PathBuf = resolve_dylib_path(config.runtime.onnxruntime_path.as_deref());
    let runtime = Runtime::load(&path)?;
    let mut session = runtime.session(onnx, 1)?;
    let served: Vec<f64> = session
        .predict(holdout_x)?
        .into_iter()
        .map(f64::from)
        .collect();
    if served.len() != native.len() {
        return Err(TrainError::ParityRows {
            served: served.len(),
            native: native.len(),
        });
    }
    let tolerance = config.runtime.parity_tolerance;
    let deviation = velocast_features::golden::worst_deviation(native, &served)
        .map_err(|e| TrainError::ParityValue(e.to_string()))?;
    let (max_abs_error, max_scaled_error) =
        deviation.map_or((0.0, 0.0), |d| (max_abs(native, &served), d.scaled_error));
    if let Some(worst) = deviation
        && worst.scaled_error > tolerance
    {
        return Err(TrainError::Parity {
            max_abs_error,
            row: worst.row,
            native: worst.expected,
            allowed: tolerance * worst.expected.abs().max(1.0),
        });
    }
    Ok(Parity {
        rows: served.len(),
        max_abs_error,
        max_scaled_error,
        tolerance,
        passed: true,
        onnxruntime: path.display().to_string(),
    })
}
