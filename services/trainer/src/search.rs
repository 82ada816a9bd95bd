//! Hyperparameter search over the boosting parameters, scored by cross-validation.
//!
//! - The sampler is seeded: random for the first `startup_trials`, then a tree-structured
//!   Parzen estimator (TPE) with one independent density per parameter, as Optuna's default.
//! - A trial is pruned after a fold when its score there is worse than the median of earlier
//!   trials at the same fold (Optuna's `MedianPruner`), once enough trials have completed.
//! - Up to `parallelism` trials run at once. Trial `i` is sampled from, and pruned against,
//!   exactly trials `0..=i - parallelism` (it starts only once those are complete), and draws
//!   from its own random stream: the outcome never depends on thread timing, and no core waits
//!   for a slow partner the way a batch barrier would make it.

use std::time::Instant;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use velocast_trees::{GbdtParams, Matrix, Objective, fit};

use crate::config::{Metric, Range, Sampler, SearchConfig};
use crate::metrics::Scores;

/// Features and targets of one fold, copied out once and shared by every trial.
#[derive(Debug, Clone)]
pub struct FoldData {
    pub train_x: Vec<f32>,
    pub train_y: Vec<f64>,
    pub validate_x: Vec<f32>,
    pub validate_y: Vec<f64>,
    pub n_features: usize,
    /// Timestamps of the rows (the seasonal-naive baseline looks values up by hour of week).
    pub train_t: Vec<chrono::NaiveDateTime>,
    pub validate_t: Vec<chrono::NaiveDateTime>,
}

impl FoldData {
    /// `None` only for a malformed fold (ragged rows or no columns).
    pub fn train(&self) -> Option<Matrix<'_>> {
        Matrix::new(&self.train_x, self.n_features)
    }

    pub fn validate(&self) -> Option<Matrix<'_>> {
        Matrix::new(&self.validate_x, self.n_features)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TrialState {
    Complete,
    Pruned,
}

/// One evaluated point of the search.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub number: usize,
    pub params: GbdtParams,
    pub state: TrialState,
    /// Scores of the folds evaluated (all of them unless pruned).
    pub fold_scores: Vec<Scores>,
    /// Mean of the selection metric over folds, when complete.
    pub cv_score: Option<f64>,
    pub seconds: f64,
    /// Out-of-fold predictions, folds concatenated in order (complete trials only).
    #[serde(skip)]
    pub out_of_fold: Vec<f64>,
}

/// The search result: every trial, in number order.
#[derive(Debug, Clone, Serialize)]
pub struct SearchResult {
    pub trials: Vec<Trial>,
    pub seconds: f64,
}

impl SearchResult {
    /// The best complete trial for `objective`.
    pub fn best_for(&self, objective: Objective) -> Option<&Trial> {
        self.trials
            .iter()
            .filter(|t| t.params.objective == objective)
            .filter_map(|t| t.cv_score.map(|s| (t, s)))
            .min_by(|a, b| a.1.total_cmp(&b.1))
            .map(|(t, _)| t)
    }

    pub fn pruned(&self) -> usize {
        self.trials
            .iter()
            .filter(|t| t.state == TrialState::Pruned)
            .count()
    }
}

/// Runs the search. `on_trial` sees each trial, in number order, as soon as it and every
/// earlier trial are complete (progress, logs).
pub fn run(
    folds: &[FoldData],
    config: &SearchConfig,
    mut on_trial: impl FnMut(&Trial),
) -> SearchResult {
    let started = Instant::now();
    let lag = config.parallelism.max(1);
    let total = config.trials;
    let mut done: Vec<Option<Trial>> = (0..total).map(|_| None).collect();
    let (sender, receiver) = std::sync::mpsc::channel::<Trial>();
    std::thread::scope(|scope| {
        let (mut next, mut running, mut reported) = (0, 0, 0);
        while reported < total {
            // Start every trial whose visible history (trials 0..seen) is complete.
            while running < lag && next < total {
                let seen = (next + 1).saturating_sub(lag);
                let Some(history) = done[..seen]
                    .iter()
                    .map(Option::as_ref)
                    .collect::<Option<Vec<&Trial>>>()
                else {
                    break;
                };
                let mut params = sample(&history, config, &mut trial_rng(config.seed, next));
                // The trial's own randomness (bagging, features) from the search seed and its number.
                params.seed = config
                    .seed
                    .wrapping_mul(1_000_003)
                    .wrapping_add(next as u64);
                let reference = PruningReference::new(&history, config, folds.len());
                let sender = sender.clone();
                let number = next;
                scope.spawn(move || {
                    // The receiver outlives every worker; a failed send cannot happen.
                    let _ = sender.send(evaluate(
                        number,
                        params,
                        folds,
                        config.selection_metric,
                        &reference,
                    ));
                });
                next += 1;
                running += 1;
            }
            let Ok(trial) = receiver.recv() else { break };
            running -= 1;
            let number = trial.number;
            done[number] = Some(trial);
            while let Some(Some(trial)) = done.get(reported) {
                on_trial(trial);
                reported += 1;
            }
        }
    });
    SearchResult {
        trials: done.into_iter().flatten().collect(),
        seconds: started.elapsed().as_secs_f64(),
    }
}

/// Trial `number`'s own random stream: the same whichever thread or order it runs in.
fn trial_rng(seed: u64, number: usize) -> ChaCha8Rng {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    rng.set_stream(number as u64);
    rng
}

/// Median of earlier trials' scores at each fold, or `None` while pruning is not yet allowed.
struct PruningReference {
    medians: Vec<Option<f64>>,
}

impl PruningReference {
    fn new(trials: &[&Trial], config: &SearchConfig, folds: usize) -> Self {
        let complete = trials
            .iter()
            .filter(|t| t.state == TrialState::Complete)
            .count();
        let active = config.prune && complete >= config.pruning_warmup_trials;
        let medians = (0..folds)
            .map(|fold| {
                if !active {
                    return None;
                }
                let mut values: Vec<f64> = trials
                    .iter()
                    .filter_map(|t| t.fold_scores.get(fold))
                    .map(|s| s.get(config.selection_metric))
                    .collect();
                median(&mut values)
            })
            .collect();
        PruningReference { medians }
    }

    /// The last fold is never pruned: by then the work is done.
    fn prunes(&self, fold: usize, score: f64) -> bool {
        fold + 1 < self.medians.len() && self.medians[fold].is_some_and(|m| score > m)
    }
}

fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let mid = values.len() / 2;
    Some(if values.len() % 2 == 1 {
        values[mid]
    } else {
        (values[mid - 1] + values[mid]) / 2.0
    })
}

fn evaluate(
    number: usize,
    params: GbdtParams,
    folds: &[FoldData],
    metric: Metric,
    reference: &PruningReference,
) -> Trial {
    let started = Instant::now();
    let mut fold_scores = Vec::with_capacity(folds.len());
    let mut out_of_fold = Vec::new();
    let mut state = TrialState::Complete;
    for (k, fold) in folds.iter().enumerate() {
        let fitted = fold
            .train()
            .zip(fold.validate())
            .and_then(|(train, validate)| {
                Some((fit(train, &fold.train_y, &params).ok()?, validate))
            });
        let predictions = match fitted {
            Some((ensemble, validate)) => (0..validate.rows())
                .map(|r| ensemble.predict(validate.row(r)))
                .collect::<Vec<f64>>(),
            // A parameter point the learner refuses scores as worst; it cannot win.
            None => vec![f64::INFINITY; fold.validate_y.len()],
        };
        let scores = Scores::of(&predictions, &fold.validate_y);
        fold_scores.push(scores);
        out_of_fold.extend(predictions);
        if reference.prunes(k, scores.get(metric)) {
            state = TrialState::Pruned;
            out_of_fold.clear();
            break;
        }
    }
    let cv_score = (state == TrialState::Complete)
        .then(|| fold_scores.iter().map(|s| s.get(metric)).sum::<f64>() / fold_scores.len() as f64);
    Trial {
        number,
        params,
        state,
        fold_scores,
        cv_score,
        seconds: started.elapsed().as_secs_f64(),
        out_of_fold,
    }
}

// ---------------------------------------------------------------------------------------------
// Sampling

/// The searched dimensions, in a fixed order.
#[derive(Debug, Clone, Copy)]
enum Dimension {
    Objective,
    LearningRate,
    Rounds,
    MaxLeaves,
    MaxDepth,
    MinDataInLeaf,
    LambdaL2,
    FeatureFraction,
    BaggingFraction,
    MaxBins,
}

const DIMENSIONS: [Dimension; 10] = [
    Dimension::Objective,
    Dimension::LearningRate,
    Dimension::Rounds,
    Dimension::MaxLeaves,
    Dimension::MaxDepth,
    Dimension::MinDataInLeaf,
    Dimension::LambdaL2,
    Dimension::FeatureFraction,
    Dimension::BaggingFraction,
    Dimension::MaxBins,
];

/// A coordinate: position in [0, 1] for ranges, index for choices.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Coordinate {
    Unit(f64),
    Choice(usize),
}

impl Dimension {
    fn range(self, config: &SearchConfig) -> Option<Range> {
        let space = &config.space;
        Some(match self {
            Dimension::LearningRate => space.learning_rate,
            Dimension::Rounds => space.rounds,
            Dimension::MaxLeaves => space.max_leaves,
            Dimension::MinDataInLeaf => space.min_data_in_leaf,
            Dimension::LambdaL2 => space.lambda_l2,
            Dimension::FeatureFraction => space.feature_fraction,
            Dimension::BaggingFraction => space.bagging_fraction,
            Dimension::Objective | Dimension::MaxDepth | Dimension::MaxBins => return None,
        })
    }

    fn choices(self, config: &SearchConfig) -> usize {
        match self {
            Dimension::Objective => config.objectives.len(),
            Dimension::MaxDepth => config.space.max_depth.len(),
            Dimension::MaxBins => config.space.max_bins.len(),
            _ => 0,
        }
    }

    /// Where a trial's parameters sit on this dimension.
    #[expect(
        clippy::expect_used,
        reason = "trial parameters are drawn from the configured, non-empty lists"
    )]
    fn coordinate(self, params: &GbdtParams, config: &SearchConfig) -> Coordinate {
        // Every trial's parameters were drawn from these lists (validated non-empty), so the
        // value is always found; position 0 would silently mislabel a trial.
        let index_of = |list: &[usize], value: usize| {
            list.iter()
                .position(|v| *v == value)
                .expect("a sampled value is in its list")
        };
        match self {
            Dimension::Objective => Coordinate::Choice(
                config
                    .objectives
                    .iter()
                    .position(|o| *o == params.objective)
                    .expect("a sampled objective is in the configured list"),
            ),
            Dimension::MaxDepth => {
                Coordinate::Choice(index_of(&config.space.max_depth, params.max_depth))
            }
            Dimension::MaxBins => {
                Coordinate::Choice(index_of(&config.space.max_bins, params.max_bins))
            }
            _ => {
                let value = match self {
                    Dimension::LearningRate => params.learning_rate,
                    Dimension::Rounds => params.rounds as f64,
                    Dimension::MaxLeaves => params.max_leaves as f64,
                    Dimension::MinDataInLeaf => params.min_data_in_leaf as f64,
                    Dimension::LambdaL2 => params.lambda_l2,
                    Dimension::FeatureFraction => params.feature_fraction,
                    _ => params.bagging_fraction,
                };
                Coordinate::Unit(self.range(config).map_or(0.5, |r| to_unit(r, value)))
            }
        }
    }
}

fn to_unit(range: Range, value: f64) -> f64 {
    let (low, high, value) = if range.log {
        (range.low.ln(), range.high.ln(), value.max(range.low).ln())
    } else {
        (range.low, range.high, value)
    };
    if high > low {
        ((value - low) / (high - low)).clamp(0.0, 1.0)
    } else {
        0.5
    }
}

fn from_unit(range: Range, unit: f64) -> f64 {
    let unit = unit.clamp(0.0, 1.0);
    if range.log {
        (range.low.ln() + unit * (range.high.ln() - range.low.ln())).exp()
    } else {
        range.low + unit * (range.high - range.low)
    }
}

#[expect(
    clippy::expect_used,
    reason = "choice coordinates index the configured lists, which validation keeps non-empty"
)]
fn params_of(coordinates: &[Coordinate], config: &SearchConfig) -> GbdtParams {
    let unit = |i: usize| match coordinates[i] {
        Coordinate::Unit(u) => u,
        Coordinate::Choice(_) => 0.5,
    };
    let choice = |i: usize| match coordinates[i] {
        Coordinate::Choice(c) => c,
        Coordinate::Unit(_) => 0,
    };
    let value = |i: usize| {
        DIMENSIONS[i]
            .range(config)
            .map_or(0.0, |r| from_unit(r, unit(i)))
    };
    let space = &config.space;
    GbdtParams {
        objective: config
            .objectives
            .get(choice(0))
            .copied()
            .expect("a choice indexes its non-empty list"),
        learning_rate: value(1),
        rounds: value(2).round().max(1.0) as usize,
        max_leaves: value(3).round().max(2.0) as usize,
        max_depth: space
            .max_depth
            .get(choice(4))
            .copied()
            .expect("a choice indexes its non-empty list"),
        min_data_in_leaf: value(5).round().max(1.0) as usize,
        lambda_l2: value(6),
        feature_fraction: value(7),
        bagging_fraction: value(8),
        max_bins: space.max_bins.get(choice(9)).copied().unwrap_or(255),
        ..GbdtParams::default()
    }
}

/// TPE's split: the best quarter of observed trials are "good".
const TPE_GAMMA: f64 = 0.25;
/// Candidates drawn from the good density per dimension; the best ratio wins.
const TPE_CANDIDATES: usize = 24;

fn sample(history: &[&Trial], config: &SearchConfig, rng: &mut ChaCha8Rng) -> GbdtParams {
    let use_tpe = config.sampler == Sampler::Tpe && history.len() >= config.startup_trials;
    let coordinates: Vec<Coordinate> = if use_tpe {
        tpe_sample(history, config, rng)
    } else {
        DIMENSIONS
            .iter()
            .map(|d| match d.range(config) {
                Some(_) => Coordinate::Unit(rng.random_range(0.0..=1.0)),
                None => Coordinate::Choice(rng.random_range(0..d.choices(config).max(1))),
            })
            .collect()
    };
    params_of(&coordinates, config)
}

fn tpe_sample(history: &[&Trial], config: &SearchConfig, rng: &mut ChaCha8Rng) -> Vec<Coordinate> {
    // Rank: complete trials by score, then pruned ones by how far they got (deeper is better)
    // and their last score. Pruned trials were worse than the median, so they rank below.
    let metric = config.selection_metric;
    let mut ranked: Vec<(usize, f64, &Trial)> = history
        .iter()
        .copied()
        .map(|t| match t.cv_score {
            Some(score) => (0, score, t),
            None => (
                usize::MAX - t.fold_scores.len(),
                t.fold_scores
                    .last()
                    .map_or(f64::INFINITY, |s| s.get(metric)),
                t,
            ),
        })
        .collect();
    ranked.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let n_good = ((history.len() as f64 * TPE_GAMMA).ceil() as usize).clamp(1, history.len());
    let (good, bad) = ranked.split_at(n_good);

    DIMENSIONS
        .iter()
        .map(|&dimension| {
            let good: Vec<Coordinate> = good
                .iter()
                .map(|t| dimension.coordinate(&t.2.params, config))
                .collect();
            let bad: Vec<Coordinate> = bad
                .iter()
                .map(|t| dimension.coordinate(&t.2.params, config))
                .collect();
            match dimension.range(config) {
                Some(_) => {
                    let good: Vec<f64> = good.iter().filter_map(unit_value).collect();
                    let bad: Vec<f64> = bad.iter().filter_map(unit_value).collect();
                    let good_bw = bandwidth(&good);
                    let bad_bw = bandwidth(&bad);
                    let best = (0..TPE_CANDIDATES)
                        .map(|_| {
                            // Draw from the good mixture (its prior component is uniform).
                            let pick = rng.random_range(0..=good.len());
                            let x = match good.get(pick) {
                                Some(center) => center + good_bw * standard_normal(rng),
                                None => rng.random_range(0.0..=1.0),
                            };
                            x.clamp(0.0, 1.0)
                        })
                        .map(|x| {
                            (
                                x,
                                parzen(&good, good_bw, x).ln() - parzen(&bad, bad_bw, x).ln(),
                            )
                        })
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map_or(0.5, |(x, _)| x);
                    Coordinate::Unit(best)
                }
                None => {
                    let choices = dimension.choices(config).max(1);
                    let weight = |list: &[Coordinate], c: usize| {
                        let count = list.iter().filter(|v| **v == Coordinate::Choice(c)).count();
                        (count as f64 + 1.0) / (list.len() as f64 + choices as f64)
                    };
                    let best = (0..TPE_CANDIDATES)
                        .map(|_| {
                            // Sample a choice proportionally to the good weights.
                            let total: f64 = (0..choices).map(|c| weight(&good, c)).sum();
                            let mut u = rng.random_range(0.0..total);
                            let mut picked = choices - 1;
                            for c in 0..choices {
                                u -= weight(&good, c);
                                if u < 0.0 {
                                    picked = c;
                                    break;
                                }
                            }
                            picked
                        })
                        .map(|c| (c, weight(&good, c).ln() - weight(&bad, c).ln()))
                        .max_by(|a, b| a.1.total_cmp(&b.1))
                        .map_or(0, |(c, _)| c);
                    Coordinate::Choice(best)
                }
            }
        })
        .collect()
}

fn unit_value(coordinate: &Coordinate) -> Option<f64> {
    match coordinate {
        Coordinate::Unit(u) => Some(*u),
        Coordinate::Choice(_) => None,
    }
}

/// Scott's rule on [0, 1], kept between a twentieth and half of the range.
fn bandwidth(points: &[f64]) -> f64 {
    if points.len() < 2 {
        return 0.25;
    }
    let n = points.len() as f64;
    let mean = points.iter().sum::<f64>() / n;
    let std = (points.iter().map(|p| (p - mean).powi(2)).sum::<f64>() / (n - 1.0)).sqrt();
    (1.06 * std * n.powf(-0.2)).clamp(0.05, 0.5)
}

/// Density of a Gaussian mixture on the points plus a uniform prior component, so no region
/// has zero density.
fn parzen(points: &[f64], bandwidth: f64, x: f64) -> f64 {
    let norm = 1.0 / (bandwidth * (2.0 * std::f64::consts::PI).sqrt());
    let kernels: f64 = points
        .iter()
        .map(|p| norm * (-0.5 * ((x - p) / bandwidth).powi(2)).exp())
        .sum();
    (kernels + 1.0) / (points.len() as f64 + 1.0)
}

fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    // Box–Muller; `1 - u` keeps the logarithm finite.
    let u: f64 = rng.random_range(0.0..1.0);
    let v: f64 = rng.random_range(0.0..1.0);
    (-2.0 * (1.0 - u).ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_folds() -> Vec<FoldData> {
        // y = 10·[x0 > 5] + x1; three folds of growing training sets.
        let make = |rows: usize, offset: usize| {
            let mut x = Vec::new();
            let mut y = Vec::new();
            for i in 0..rows {
                let a = ((i + offset) % 10) as f32;
                let b = ((i * 7 + offset) % 13) as f32;
                x.extend([a, b]);
                y.push(if a > 5.0 { 10.0 } else { 0.0 } + f64::from(b));
            }
            (x, y)
        };
        [300, 400, 500]
            .iter()
            .map(|&n| {
                let (train_x, train_y) = make(n, 0);
                let (validate_x, validate_y) = make(100, n);
                FoldData {
                    train_x,
                    train_y,
                    validate_x,
                    validate_y,
                    n_features: 2,
                    train_t: vec![],
                    validate_t: vec![],
                }
            })
            .collect()
    }

    fn config(trials: usize) -> SearchConfig {
        let mut config = SearchConfig {
            trials,
            startup_trials: 4,
            pruning_warmup_trials: 3,
            ..SearchConfig::default()
        };
        config.space.rounds = Range {
            low: 10.0,
            high: 40.0,
            log: false,
        };
        config.space.min_data_in_leaf = Range {
            low: 1.0,
            high: 10.0,
            log: true,
        };
        config
    }

    #[test]
    fn same_seed_same_trials_whatever_the_parallelism() {
        let folds = toy_folds();
        let a = run(&folds, &config(10), |_| {});
        let b = run(
            &folds,
            &SearchConfig {
                parallelism: 2,
                ..config(10)
            },
            |_| {},
        );
        let serial = run(
            &folds,
            &SearchConfig {
                parallelism: 1,
                ..config(10)
            },
            |_| {},
        );
        let summary = |r: &SearchResult| {
            r.trials
                .iter()
                .map(|t| (t.params.clone(), t.state, t.cv_score))
                .collect::<Vec<_>>()
        };
        assert_eq!(summary(&a), summary(&b));
        // Batching changes what each trial could learn from, so serial differs only after the
        // random start-up trials, which are identical.
        assert_eq!(summary(&a)[..2], summary(&serial)[..2]);
        let other = run(
            &folds,
            &SearchConfig {
                seed: 7,
                ..config(10)
            },
            |_| {},
        );
        assert_ne!(summary(&a), summary(&other));
    }

    #[test]
    fn sampled_parameters_stay_inside_the_space() {
        let folds = toy_folds();
        let config = config(16);
        let result = run(&folds, &config, |_| {});
        assert_eq!(result.trials.len(), 16);
        for trial in &result.trials {
            let p = &trial.params;
            assert!(
                (config.space.learning_rate.low..=config.space.learning_rate.high)
                    .contains(&p.learning_rate)
            );
            assert!((10..=40).contains(&p.rounds));
            assert!((15..=63).contains(&p.max_leaves));
            assert!(config.space.max_depth.contains(&p.max_depth));
            assert!(config.space.max_bins.contains(&p.max_bins));
            assert!(config.objectives.contains(&p.objective));
        }
    }

    #[test]
    fn pruned_trials_stop_early_and_complete_ones_have_out_of_fold_predictions() {
        let folds = toy_folds();
        let result = run(&folds, &config(20), |_| {});
        for trial in &result.trials {
            match trial.state {
                TrialState::Complete => {
                    assert_eq!(trial.fold_scores.len(), 3);
                    assert_eq!(trial.out_of_fold.len(), 300);
                    assert!(trial.cv_score.is_some());
                }
                TrialState::Pruned => {
                    assert!(trial.fold_scores.len() < 3);
                    assert!(trial.number >= 3, "pruned during warm-up");
                }
            }
        }
        // No pruning when it is off.
        let unpruned = run(
            &folds,
            &SearchConfig {
                prune: false,
                ..config(12)
            },
            |_| {},
        );
        assert_eq!(unpruned.pruned(), 0);
    }

    #[test]
    fn median_pruner_prunes_only_above_the_median_and_never_at_the_last_fold() {
        let reference = PruningReference {
            medians: vec![Some(5.0), Some(4.0), Some(3.0)],
        };
        assert!(reference.prunes(0, 5.5));
        assert!(!reference.prunes(0, 5.0));
        assert!(!reference.prunes(2, 100.0));
        assert_eq!(median(&mut [3.0, 1.0, 2.0, 10.0]), Some(2.5));
    }

    #[test]
    fn tpe_concentrates_on_the_better_region() {
        // With a history where low learning rates won, TPE proposes low ones more often.
        let config = config(0);
        let trial = |lr: f64, score: f64| Trial {
            number: 0,
            params: GbdtParams {
                learning_rate: lr,
                ..GbdtParams::default()
            },
            state: TrialState::Complete,
            fold_scores: vec![],
            cv_score: Some(score),
            seconds: 0.0,
            out_of_fold: vec![],
        };
        let owned: Vec<Trial> = (0..20)
            .map(|i| {
                let lr = from_unit(config.space.learning_rate, f64::from(i) / 19.0);
                trial(lr, f64::from(i))
            })
            .collect();
        let history: Vec<&Trial> = owned.iter().collect();
        let mut rng = ChaCha8Rng::seed_from_u64(1);
        let proposals: Vec<f64> = (0..200)
            .map(|_| tpe_sample(&history, &config, &mut rng))
            .filter_map(|c| unit_value(&c[1]))
            .collect();
        let low = proposals.iter().filter(|u| **u < 0.5).count();
        assert!(low > 150, "{low} of 200 proposals in the good half");
    }
}
