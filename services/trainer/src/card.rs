//! The model card: what was trained, on what, how it was chosen and how well it does.
//!
//! Its `digest` is the sha256 of the parts that describe the model (listed in `digest.covers`),
//! serialized as compact JSON with sorted keys. The ONNX file carries the same digest in its
//! metadata, so a card and a model can be matched without trusting file names. Wall-clock times
//! are kept out of the covered parts: the same data, config and seed give the same digest.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use velocast_features::{FEATURE_COUNT, GoldenRow, GoldenSet, Signature};
use velocast_trees::{GbdtParams, Link};

use crate::candidates::{Candidate, Spec};
use crate::config::{Metric, Sampler};
use crate::folds::Fold;
use crate::metrics::Scores;
use crate::pipeline::{DigestInput, HoldoutResult, Outcome, Parity, SplitSummary};
use crate::search::{Trial, TrialState};

/// 2: golden rows. 3: global explanations (mean |SHAP| and dependence charts).
pub const CARD_VERSION: u32 = 3;
pub const MODEL_NAME: &str = "bike-demand";

/// The keys of the card the digest covers, in the order listed in the card.
pub const COVERED: [&str; 12] = [
    "name",
    "trainer",
    "config_hash",
    "data",
    "split",
    "signature",
    "model",
    "cv",
    "holdout",
    "holdout_by_candidate",
    "search",
    "feature_importance",
];

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrainerInfo {
    pub version: String,
    pub git_commit: String,
}

impl TrainerInfo {
    pub fn current() -> Self {
        TrainerInfo {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            git_commit: env!("VELOCAST_GIT_COMMIT").to_owned(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DataInfo {
    pub sha256: String,
    pub rows: usize,
    pub first: Option<chrono::NaiveDateTime>,
    pub last: Option<chrono::NaiveDateTime>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MemberInfo {
    pub name: String,
    pub weight: f64,
    pub link: Link,
    pub trees: usize,
    pub nodes: usize,
    pub max_depth: usize,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelInfo {
    /// The candidate that won on cross-validation.
    pub chosen: String,
    pub members: Vec<MemberInfo>,
    /// How each member was built (boosting parameters, ridge settings, blend weights).
    pub specs: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CandidateInfo {
    pub name: String,
    pub servable: bool,
    pub spec: serde_json::Value,
    /// Mean of the selection metric over folds (lower is better).
    pub cv_score: f64,
    /// Fold scores averaged.
    pub cv_mean: Scores,
    pub folds: Vec<Scores>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CvInfo {
    pub kind: String,
    pub selection_metric: Metric,
    pub folds: Vec<serde_json::Value>,
    pub candidates: Vec<CandidateInfo>,
}

/// A trial as the card records it (no wall-clock time: see the module note).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TrialRecord {
    pub number: usize,
    pub state: TrialState,
    pub params: GbdtParams,
    pub cv_score: Option<f64>,
    pub fold_scores: Vec<f64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SearchInfo {
    pub sampler: Sampler,
    pub seed: u64,
    pub trials: usize,
    pub pruned: usize,
    pub history: Vec<TrialRecord>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureImportance {
    pub feature: String,
    /// Share of total split gain (weighted by blend weight), summing to 1.
    pub importance: f64,
}

/// One feature's mean |SHAP| over the holdout.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FeatureShap {
    pub feature: String,
    /// In rentals per hour (output space).
    pub mean_abs: f64,
}

/// A dependence chart: one feature's contribution against its value, every holdout row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DependenceChart {
    pub feature: String,
    pub file: String,
}

/// The global view of the model: TreeSHAP of the exported file on every holdout row.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ExplanationSummary {
    /// `tree_shap_path_dependent`.
    pub algorithm: String,
    /// `output`: each member's exact score-space values rescaled through its link.
    pub space: String,
    pub rows: usize,
    pub base_value: Option<f64>,
    /// Largest first.
    pub mean_abs: Vec<FeatureShap>,
    pub importance_chart: String,
    pub dependence_charts: Vec<DependenceChart>,
}

/// Features with a dependence chart in the card: the largest by mean |SHAP|.
pub const DEPENDENCE_CHARTS: usize = 4;

/// The summary of `outcome`'s holdout explanations, with the chart files it names.
pub fn explanation_summary(outcome: &Outcome) -> ExplanationSummary {
    let names = Signature::current();
    let mut mean_abs: Vec<FeatureShap> = names
        .feature_names()
        .iter()
        .zip(&outcome.explanations.mean_abs)
        .map(|(feature, value)| FeatureShap {
            feature: (*feature).to_owned(),
            mean_abs: *value,
        })
        .collect();
    mean_abs.sort_by(|a, b| b.mean_abs.total_cmp(&a.mean_abs));
    let dependence_charts = mean_abs
        .iter()
        .take(DEPENDENCE_CHARTS)
        .map(|f| DependenceChart {
            feature: f.feature.clone(),
            file: format!("shap_dependence_{}.svg", f.feature),
        })
        .collect();
    ExplanationSummary {
        algorithm: "tree_shap_path_dependent".into(),
        space: "output".into(),
        rows: outcome.explanations.contributions.len() / FEATURE_COUNT,
        base_value: outcome.explanations.base_value,
        mean_abs,
        importance_chart: "shap_importance.svg".into(),
        dependence_charts,
    }
}

/// The covered part of the card.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardCore {
    pub name: String,
    pub trainer: TrainerInfo,
    pub config_hash: String,
    pub data: DataInfo,
    pub split: serde_json::Value,
    pub signature: Signature,
    pub model: ModelInfo,
    pub cv: CvInfo,
    pub holdout: Scores,
    pub holdout_by_candidate: Vec<serde_json::Value>,
    pub search: SearchInfo,
    pub feature_importance: Vec<FeatureImportance>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CardDigest {
    pub algorithm: String,
    pub covers: Vec<String>,
    pub value: String,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnnxInfo {
    pub file: String,
    pub sha256: String,
    pub bytes: usize,
    pub ir_version: i64,
    pub opset: i64,
    pub ml_opset: i64,
}

/// Files written beside the card, relative to it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Artifacts {
    pub model: String,
    pub card_markdown: String,
    pub reference_profile: String,
    pub quality_report: String,
    pub holdout_predictions: String,
    pub holdout_chart: String,
    pub resolved_config: String,
}

impl Default for Artifacts {
    fn default() -> Self {
        Artifacts {
            model: "model.onnx".into(),
            card_markdown: "model_card.md".into(),
            reference_profile: "reference_profile.json".into(),
            quality_report: "quality_report.json".into(),
            holdout_predictions: "holdout_predictions.csv".into(),
            holdout_chart: "holdout_chart.svg".into(),
            resolved_config: "config.resolved.toml".into(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ModelCard {
    pub card_version: u32,
    pub created_at: String,
    pub digest: CardDigest,
    #[serde(flatten)]
    pub core: CardCore,
    pub data_path: String,
    pub quality: QualitySummary,
    pub onnx: OnnxInfo,
    pub parity: Parity,
    /// Holdout requests with the trained model's predictions: a runtime must reproduce them
    /// within the parity tolerance before it serves the model (the gateway replays them).
    pub golden: GoldenSet,
    /// TreeSHAP on the holdout (cards before version 3 have none).
    #[serde(default)]
    pub explanations: Option<ExplanationSummary>,
    pub timings_seconds: BTreeMap<String, f64>,
    pub artifacts: Artifacts,
    /// The resolved configuration (its hash is `config_hash`).
    pub config: serde_json::Value,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QualitySummary {
    pub passed: bool,
    pub hard: usize,
    pub soft: usize,
    pub findings: Vec<String>,
}

fn to_json<T: Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or(serde_json::Value::Null)
}

fn spec_json(spec: &Spec) -> serde_json::Value {
    to_json(spec)
}

/// How many holdout rows the card carries as golden rows.
pub const GOLDEN_ROWS: usize = 48;

/// [`GOLDEN_ROWS`] holdout rows spread evenly over the holdout (every hour of the day and both
/// working and free days show up), with the native model's predictions.
fn golden_rows(outcome: &Outcome) -> GoldenSet {
    let requests = &outcome.holdout.requests;
    let n = requests.len().min(outcome.holdout_predictions.len());
    let step = (n / GOLDEN_ROWS).max(1);
    // An odd stride walks through the hours of the day instead of sampling one hour.
    let step = if step.is_multiple_of(2) {
        step + 1
    } else {
        step
    };
    let rows = (0..n)
        .step_by(step)
        .take(GOLDEN_ROWS)
        .map(|i| GoldenRow {
            request: requests[i].clone(),
            prediction: outcome.holdout_predictions[i],
        })
        .collect();
    GoldenSet {
        tolerance: outcome.parity.tolerance,
        rows,
    }
}

/// Builds the covered part from the pipeline's results.
pub fn core(input: &DigestInput<'_>) -> CardCore {
    let signature = Signature::current();
    let importance = input.model.feature_importance(FEATURE_COUNT);
    let mut feature_importance: Vec<FeatureImportance> = signature
        .feature_names()
        .iter()
        .zip(importance)
        .map(|(name, importance)| FeatureImportance {
            feature: (*name).to_owned(),
            importance,
        })
        .collect();
    feature_importance.sort_by(|a, b| {
        b.importance
            .total_cmp(&a.importance)
            .then(a.feature.cmp(&b.feature))
    });

    let members = input
        .model
        .members
        .iter()
        .map(|m| MemberInfo {
            name: m.name.clone(),
            weight: m.weight,
            link: m.ensemble.link,
            trees: m.ensemble.trees.len(),
            nodes: m.ensemble.node_count(),
            max_depth: m
                .ensemble
                .trees
                .iter()
                .map(|t| t.depth())
                .max()
                .unwrap_or(0),
        })
        .collect();
    let specs = input
        .candidates
        .iter()
        .filter(|c| c.name == input.chosen || input.model.members.iter().any(|m| m.name == c.name))
        .map(|c| (c.name.clone(), spec_json(&c.spec)))
        .collect();

    CardCore {
        name: MODEL_NAME.to_owned(),
        trainer: TrainerInfo::current(),
        config_hash: input.config.hash(),
        data: DataInfo {
            sha256: input.dataset.fingerprint.sha256.clone(),
            rows: input.dataset.fingerprint.rows,
            first: input.dataset.fingerprint.first,
            last: input.dataset.fingerprint.last,
        },
        split: to_json::<SplitSummary>(input.split),
        signature,
        model: ModelInfo {
            chosen: input.chosen.to_owned(),
            members,
            specs,
        },
        cv: CvInfo {
            kind: match input.split.kind {
                crate::config::SplitKind::Temporal => "expanding_window".into(),
                crate::config::SplitKind::Random => "shuffled_k_fold".into(),
            },
            selection_metric: input.config.search.selection_metric,
            folds: input.folds.iter().map(to_json::<Fold>).collect(),
            candidates: input.candidates.iter().map(candidate_info).collect(),
        },
        holdout: *input.holdout_scores,
        holdout_by_candidate: input
            .holdout_by_candidate
            .iter()
            .map(to_json::<HoldoutResult>)
            .collect(),
        search: SearchInfo {
            sampler: input.config.search.sampler,
            seed: input.config.search.seed,
            trials: input.search.trials.len(),
            pruned: input.search.pruned(),
            history: input.search.trials.iter().map(trial_record).collect(),
        },
        feature_importance,
    }
}

fn candidate_info(candidate: &Candidate) -> CandidateInfo {
    let n = candidate.fold_scores.len().max(1) as f64;
    let mean = |f: fn(&Scores) -> f64| candidate.fold_scores.iter().map(f).sum::<f64>() / n;
    CandidateInfo {
        name: candidate.name.clone(),
        servable: candidate.servable,
        spec: spec_json(&candidate.spec),
        cv_score: candidate.cv_score,
        cv_mean: Scores {
            mae: mean(|s| s.mae),
            rmse: mean(|s| s.rmse),
            rmsle: mean(|s| s.rmsle),
            r2: mean(|s| s.r2),
            rows: candidate.fold_scores.iter().map(|s| s.rows).sum(),
        },
        folds: candidate.fold_scores.clone(),
    }
}

fn trial_record(trial: &Trial) -> TrialRecord {
    TrialRecord {
        number: trial.number,
        state: trial.state,
        params: trial.params.clone(),
        cv_score: trial.cv_score,
        fold_scores: trial.fold_scores.iter().map(|s| s.mae).collect(),
    }
}

/// sha256 over the covered parts as compact JSON with sorted keys.
pub fn digest(core: &CardCore) -> String {
    digest_of_value(&to_json(core))
}

/// The digest of a card read back from JSON (for verification): the covered keys only.
pub fn digest_of_value(card: &serde_json::Value) -> String {
    let covered: serde_json::Map<String, serde_json::Value> = COVERED
        .iter()
        .filter_map(|key| card.get(*key).map(|v| ((*key).to_owned(), v.clone())))
        .collect();
    // A `Value` has string keys only, so it always serializes; a digest of empty bytes would
    // silently vouch for nothing.
    #[expect(clippy::expect_used, reason = "a serde_json::Value always serializes")]
    let bytes =
        serde_json::to_vec(&serde_json::Value::Object(covered)).expect("a JSON value serializes");
    hex::encode(Sha256::digest(bytes))
}

/// The full card for a finished run.
pub fn card(outcome: &Outcome, onnx_sha256: &str) -> ModelCard {
    let core = core(&outcome.digest_input());
    let findings = outcome
        .quality
        .violations
        .iter()
        .map(|v| format!("{:?} {}: {}", v.severity, v.check, v.message).to_lowercase())
        .collect();
    ModelCard {
        card_version: CARD_VERSION,
        created_at: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        digest: CardDigest {
            algorithm: "sha256".into(),
            covers: COVERED.iter().map(|s| (*s).to_owned()).collect(),
            value: outcome.card_digest.clone(),
        },
        core,
        data_path: outcome.config.data.path.display().to_string(),
        quality: QualitySummary {
            passed: outcome.quality.passed,
            hard: outcome.quality.hard_violations().count(),
            soft: outcome.quality.violations.len() - outcome.quality.hard_violations().count(),
            findings,
        },
        onnx: OnnxInfo {
            file: Artifacts::default().model,
            sha256: onnx_sha256.to_owned(),
            bytes: outcome.onnx.len(),
            ir_version: velocast_onnx::export::IR_VERSION,
            opset: velocast_onnx::export::DEFAULT_OPSET,
            ml_opset: velocast_onnx::export::ML_OPSET,
        },
        parity: outcome.parity.clone(),
        golden: golden_rows(outcome),
        explanations: Some(explanation_summary(outcome)),
        timings_seconds: outcome
            .timings
            .iter()
            .map(|(k, v)| ((*k).to_owned(), *v))
            .collect(),
        artifacts: Artifacts::default(),
        config: to_json(&outcome.config),
    }
}
