//! Histogram gradient boosting with leaf-wise growth.
//!
//! The learner follows LightGBM's recipe where it matters on this data: quantile bins of the
//! f32 features, leaf-wise growth capped by leaves and depth, Newton leaf values with L2
//! regularization, row bagging and feature subsampling per tree, and the histogram-subtraction
//! trick (build the smaller child, derive the larger). It is single-threaded by design: the
//! trainer runs folds and trials in parallel instead, which scales better on few cores.

use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::binning::BinnedMatrix;
use crate::model::{Ensemble, Link, Matrix, Node, Tree};

/// What the trees fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Objective {
    /// Squared error on the count.
    SquaredError,
    /// Squared error on `ln(1 + count)`.
    Log1pSquaredError,
    /// Poisson deviance with a log link.
    Poisson,
}

impl Objective {
    pub fn link(self) -> Link {
        match self {
            Objective::SquaredError => Link::Identity,
            Objective::Log1pSquaredError => Link::Log1p,
            Objective::Poisson => Link::Log,
        }
    }
}

/// LightGBM's safeguard for Poisson: the Hessian is inflated by `exp(max_delta_step)` so early
/// leaf steps stay small while scores are far from the data.
const POISSON_MAX_DELTA_STEP: f64 = 0.7;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GbdtParams {
    pub objective: Objective,
    pub rounds: usize,
    pub learning_rate: f64,
    /// Leaf-wise growth stops at this many leaves.
    pub max_leaves: usize,
    /// 0 means unlimited.
    pub max_depth: usize,
    pub min_data_in_leaf: usize,
    pub min_hessian_in_leaf: f64,
    pub lambda_l2: f64,
    pub min_gain_to_split: f64,
    /// Share of features each tree may split on.
    pub feature_fraction: f64,
    /// Share of rows each tree is grown on.
    pub bagging_fraction: f64,
    /// Bins per feature, at most 256.
    pub max_bins: usize,
    pub seed: u64,
}

impl Default for GbdtParams {
    fn default() -> Self {
        GbdtParams {
            objective: Objective::Poisson,
            rounds: 300,
            learning_rate: 0.05,
            max_leaves: 31,
            max_depth: 0,
            min_data_in_leaf: 20,
            min_hessian_in_leaf: 1e-3,
            lambda_l2: 0.0,
            min_gain_to_split: 0.0,
            feature_fraction: 0.9,
            bagging_fraction: 0.8,
            max_bins: 255,
            seed: 0,
        }
    }
}

#[derive(Debug, Error, PartialEq)]
pub enum FitError {
    #[error("no training rows")]
    Empty,
    #[error("{features} rows of features but {targets} targets")]
    LengthMismatch { features: usize, targets: usize },
    #[error("target value {value} at row {row} is not allowed for {objective:?}")]
    BadTarget {
        row: usize,
        value: f64,
        objective: Objective,
    },
    #[error("parameter `{name}` = {value} is outside {rule}")]
    BadParam {
        name: &'static str,
        value: f64,
        rule: &'static str,
    },
}

impl GbdtParams {
    fn check(&self) -> Result<(), FitError> {
        let bad = |name, value: f64, rule| Err(FitError::BadParam { name, value, rule });
        if self.rounds == 0 {
            return bad("rounds", 0.0, ">= 1");
        }
        if !(self.learning_rate > 0.0 && self.learning_rate <= 1.0) {
            return bad("learning_rate", self.learning_rate, "(0, 1]");
        }
        if self.max_leaves < 2 {
            return bad("max_leaves", self.max_leaves as f64, ">= 2");
        }
        if !(self.feature_fraction > 0.0 && self.feature_fraction <= 1.0) {
            return bad("feature_fraction", self.feature_fraction, "(0, 1]");
        }
        if !(self.bagging_fraction > 0.0 && self.bagging_fraction <= 1.0) {
            return bad("bagging_fraction", self.bagging_fraction, "(0, 1]");
        }
        if !(self.lambda_l2 >= 0.0 && self.min_hessian_in_leaf >= 0.0) {
            return bad("lambda_l2", self.lambda_l2, ">= 0");
        }
        if !(2..=256).contains(&self.max_bins) {
            return bad("max_bins", self.max_bins as f64, "2..=256");
        }
        Ok(())
    }
}

/// A histogram cell: gradient sum, Hessian sum, row count.
#[derive(Debug, Clone, Copy, Default)]
struct Cell {
    g: f64,
    h: f64,
    n: u32,
}

/// The best way found to split one leaf.
#[derive(Debug, Clone, Copy)]
struct Split {
    gain: f64,
    feature: usize,
    /// Bins `0..=bin` go left.
    bin: usize,
    left: Cell,
    right: Cell,
}

/// A leaf while a tree grows: its rows are `order[start..end]`.
struct GrowingLeaf {
    node: usize,
    start: usize,
    end: usize,
    depth: usize,
    sum: Cell,
    histogram: Vec<Cell>,
    best: Option<Split>,
}

/// Trains an ensemble on `features` (row-major f32) and `target` counts.
pub fn fit(
    features: Matrix<'_>,
    target: &[f64],
    params: &GbdtParams,
) -> Result<Ensemble, FitError> {
    fit_with(features, target, params, |_, _| true)
}

/// Like [`fit`], calling `on_round(round, train_scores)` after every tree; returning `false`
/// stops boosting early (the caller's pruning hook).
pub fn fit_with(
    features: Matrix<'_>,
    target: &[f64],
    params: &GbdtParams,
    mut on_round: impl FnMut(usize, &[f64]) -> bool,
) -> Result<Ensemble, FitError> {
    params.check()?;
    let rows = check_shape(features, target)?;
    let label = transformed_target(target, params.objective)?;
    let binned = BinnedMatrix::fit(features, params.max_bins);
    let base = base_score(&label, params.objective);
    let mut scores = vec![base; rows];
    let mut gradients = vec![(0.0_f64, 0.0_f64); rows];
    let mut rng = ChaCha8Rng::seed_from_u64(params.seed);
    let mut trees = Vec::with_capacity(params.rounds);
    let mut order: Vec<u32> = Vec::with_capacity(rows);
    let mut in_bag = vec![false; rows];
    let bag_size = ((rows as f64 * params.bagging_fraction).round() as usize).clamp(1, rows);
    let n_features = binned.n_features;
    let allowed_count =
        ((n_features as f64 * params.feature_fraction).round() as usize).clamp(1, n_features);

    for round in 0..params.rounds {
        compute_gradients(&label, &scores, params.objective, &mut gradients);
        order.clear();
        if bag_size == rows {
            order.extend(0..rows as u32);
        } else {
            let mut bag: Vec<u32> = sample(&mut rng, rows, bag_size)
                .into_iter()
                .map(|i| i as u32)
                .collect();
            bag.sort_unstable();
            order.extend(bag);
        }
        let mut allowed = vec![allowed_count == n_features; n_features];
        if allowed_count < n_features {
            for f in sample(&mut rng, n_features, allowed_count) {
                allowed[f] = true;
            }
        }
        let (mut tree, split_bins, leaf_rows) =
            grow_tree(&binned, &gradients, &mut order, &allowed, params);
        // Consume one random number per round whatever the sampling did, so a change in one
        // fraction does not shift every later tree's draws.
        let _: u32 = rng.random();
        shrink_and_round(&mut tree, params.learning_rate);
        if round == 0 {
            // The base score rides in the first tree's leaves (the export then needs no extra
            // node). Folding it in before scoring keeps the tracked scores equal to the sum of
            // the exported f32 leaves.
            for node in &mut tree.nodes {
                if let Node::Leaf { value, .. } = node {
                    *value = (f64::from(*value) + base) as f32;
                }
            }
            scores.fill(0.0);
        }
        update_scores(
            &tree,
            &split_bins,
            &leaf_rows,
            &order,
            &binned,
            &mut scores,
            &mut in_bag,
        );
        trees.push(tree);
        if !on_round(round, &scores) {
            break;
        }
    }
    Ok(Ensemble {
        trees,
        link: params.objective.link(),
    })
}

/// The number of rows, when there are some and each has a target.
pub(crate) fn check_shape(features: Matrix<'_>, target: &[f64]) -> Result<usize, FitError> {
    let rows = features.rows();
    if rows == 0 {
        return Err(FitError::Empty);
    }
    if rows != target.len() {
        return Err(FitError::LengthMismatch {
            features: rows,
            targets: target.len(),
        });
    }
    Ok(rows)
}

fn transformed_target(target: &[f64], objective: Objective) -> Result<Vec<f64>, FitError> {
    target
        .iter()
        .enumerate()
        .map(|(row, &value)| {
            let ok = value.is_finite() && (objective == Objective::SquaredError || value >= 0.0);
            if !ok {
                return Err(FitError::BadTarget {
                    row,
                    value,
                    objective,
                });
            }
            Ok(match objective {
                Objective::Log1pSquaredError => value.ln_1p(),
                Objective::SquaredError | Objective::Poisson => value,
            })
        })
        .collect()
}

fn base_score(label: &[f64], objective: Objective) -> f64 {
    let mean = label.iter().sum::<f64>() / label.len() as f64;
    match objective {
        Objective::SquaredError | Objective::Log1pSquaredError => mean,
        Objective::Poisson => mean.max(1e-9).ln(),
    }
}

fn compute_gradients(label: &[f64], scores: &[f64], objective: Objective, out: &mut [(f64, f64)]) {
    match objective {
        Objective::SquaredError | Objective::Log1pSquaredError => {
            for ((g, y), s) in out.iter_mut().zip(label).zip(scores) {
                *g = (s - y, 1.0);
            }
        }
        Objective::Poisson => {
            let inflate = POISSON_MAX_DELTA_STEP.exp();
            for ((g, y), s) in out.iter_mut().zip(label).zip(scores) {
                let mu = s.exp();
                *g = (mu - y, mu * inflate);
            }
        }
    }
}

fn leaf_value(cell: Cell, lambda: f64) -> f64 {
    -cell.g / (cell.h + lambda)
}

fn leaf_objective(cell: Cell, lambda: f64) -> f64 {
    cell.g * cell.g / (cell.h + lambda)
}

/// Histogram of `rows` over the features this tree may split on (the others stay zero: they
/// are never read, and subtraction keeps them zero).
fn build_histogram(
    binned: &BinnedMatrix,
    gradients: &[(f64, f64)],
    rows: &[u32],
    features: &[usize],
) -> Vec<Cell> {
    let mut histogram = vec![Cell::default(); binned.total_bins];
    let offsets = &binned.offsets;
    for &r in rows {
        let (g, h) = gradients[r as usize];
        let row = binned.row(r as usize);
        for &f in features {
            let cell = &mut histogram[offsets[f] + usize::from(row[f])];
            cell.g += g;
            cell.h += h;
            cell.n += 1;
        }
    }
    histogram
}

fn best_split(
    binned: &BinnedMatrix,
    histogram: &[Cell],
    sum: Cell,
    allowed: &[bool],
    params: &GbdtParams,
) -> Option<Split> {
    let lambda = params.lambda_l2;
    let parent = leaf_objective(sum, lambda);
    let min_n = params.min_data_in_leaf.max(1) as u32;
    let mut best: Option<Split> = None;
    for (f, feature) in binned.features.iter().enumerate() {
        if !allowed[f] || feature.bin_count() < 2 {
            continue;
        }
        let cells = &histogram[binned.offsets[f]..binned.offsets[f] + feature.bin_count()];
        let mut left = Cell::default();
        for (bin, cell) in cells[..cells.len() - 1].iter().enumerate() {
            left.g += cell.g;
            left.h += cell.h;
            left.n += cell.n;
            if left.n < min_n || left.h < params.min_hessian_in_leaf {
                continue;
            }
            let right = Cell {
                g: sum.g - left.g,
                h: sum.h - left.h,
                n: sum.n - left.n,
            };
            if right.n < min_n || right.h < params.min_hessian_in_leaf {
                break;
            }
            let gain = leaf_objective(left, lambda) + leaf_objective(right, lambda) - parent;
            if gain > params.min_gain_to_split && best.is_none_or(|b| gain > b.gain) {
                best = Some(Split {
                    gain,
                    feature: f,
                    bin,
                    left,
                    right,
                });
            }
        }
    }
    best
}

fn grow_tree(
    binned: &BinnedMatrix,
    gradients: &[(f64, f64)],
    order: &mut [u32],
    allowed: &[bool],
    params: &GbdtParams,
) -> (Tree, Vec<u8>, Vec<(usize, usize, usize)>) {
    let mut sum = Cell::default();
    for &r in order.iter() {
        let (g, h) = gradients[r as usize];
        sum.g += g;
        sum.h += h;
        sum.n += 1;
    }
    let features: Vec<usize> = (0..binned.n_features).filter(|&f| allowed[f]).collect();
    let histogram = build_histogram(binned, gradients, order, &features);
    let best = best_split(binned, &histogram, sum, allowed, params);
    let mut nodes = vec![Node::Leaf {
        value: leaf_value(sum, params.lambda_l2) as f32,
        count: sum.n,
    }];
    // The bin each split node cuts after (bins `0..=b` go left), for scoring binned rows.
    let mut split_bins = vec![0_u8];
    let mut leaves = vec![GrowingLeaf {
        node: 0,
        start: 0,
        end: order.len(),
        depth: 0,
        sum,
        histogram,
        best,
    }];

    while leaves.len() < params.max_leaves {
        // Leaf-wise: split the leaf whose best split gains the most.
        let Some((index, split)) = leaves
            .iter()
            .enumerate()
            .filter(|(_, l)| params.max_depth == 0 || l.depth < params.max_depth)
            .filter_map(|(i, l)| l.best.map(|s| (i, s)))
            .max_by(|a, b| a.1.gain.total_cmp(&b.1.gain))
        else {
            break;
        };
        let parent = leaves.swap_remove(index);
        let rows = &mut order[parent.start..parent.end];
        let mid = parent.start + partition(rows, binned, split.feature, split.bin);

        let left_node = nodes.len();
        let right_node = left_node + 1;
        nodes.push(Node::Leaf {
            value: leaf_value(split.left, params.lambda_l2) as f32,
            count: split.left.n,
        });
        nodes.push(Node::Leaf {
            value: leaf_value(split.right, params.lambda_l2) as f32,
            count: split.right.n,
        });
        split_bins.extend([0, 0]);
        split_bins[parent.node] = split.bin as u8;
        nodes[parent.node] = Node::Split {
            feature: split.feature as u32,
            threshold: binned.features[split.feature].threshold_after(split.bin),
            left: left_node as u32,
            right: right_node as u32,
            gain: split.gain as f32,
            count: parent.sum.n,
        };

        // Histogram subtraction: build the smaller child, derive the larger from the parent.
        let (left_range, right_range) = ((parent.start, mid), (mid, parent.end));
        let left_smaller = split.left.n <= split.right.n;
        let small_range = if left_smaller {
            left_range
        } else {
            right_range
        };
        let small = build_histogram(
            binned,
            gradients,
            &order[small_range.0..small_range.1],
            &features,
        );
        let mut large = parent.histogram;
        for (l, s) in large.iter_mut().zip(&small) {
            l.g -= s.g;
            l.h -= s.h;
            l.n -= s.n;
        }
        let (left_hist, right_hist) = if left_smaller {
            (small, large)
        } else {
            (large, small)
        };
        for (node, range, sum, histogram) in [
            (left_node, left_range, split.left, left_hist),
            (right_node, right_range, split.right, right_hist),
        ] {
            let best = if sum.n >= 2 * params.min_data_in_leaf.max(1) as u32 {
                best_split(binned, &histogram, sum, allowed, params)
            } else {
                None
            };
            leaves.push(GrowingLeaf {
                node,
                start: range.0,
                end: range.1,
                depth: parent.depth + 1,
                sum,
                histogram,
                best,
            });
        }
    }
    // Each final leaf's node and its rows `order[start..end]`, for scoring in-bag rows.
    let leaf_rows = leaves.iter().map(|l| (l.node, l.start, l.end)).collect();
    (Tree { nodes }, split_bins, leaf_rows)
}

/// Moves rows whose bin is `<= bin` to the front; returns how many there are.
fn partition(rows: &mut [u32], binned: &BinnedMatrix, feature: usize, bin: usize) -> usize {
    let goes_left =
        |r: u32| usize::from(binned.bins[r as usize * binned.n_features + feature]) <= bin;
    let mut left = 0;
    for i in 0..rows.len() {
        if goes_left(rows[i]) {
            rows.swap(left, i);
            left += 1;
        }
    }
    left
}

/// Applies the learning rate and rounds leaf values to f32 once, so training scores, native
/// predictions and ONNX Runtime all add the same numbers.
fn shrink_and_round(tree: &mut Tree, learning_rate: f64) {
    for node in &mut tree.nodes {
        if let Node::Leaf { value, .. } = node {
            *value = (f64::from(*value) * learning_rate) as f32;
        }
    }
}

/// Adds the new tree to every row's score: in-bag rows take their leaf from the partition
/// growth already made; only out-of-bag rows walk the tree (on bins, which route exactly as the
/// f32 thresholds do).
fn update_scores(
    tree: &Tree,
    split_bins: &[u8],
    leaf_rows: &[(usize, usize, usize)],
    order: &[u32],
    binned: &BinnedMatrix,
    scores: &mut [f64],
    in_bag: &mut [bool],
) {
    in_bag.fill(false);
    for &(node, start, end) in leaf_rows {
        if let Node::Leaf { value, .. } = tree.nodes[node] {
            for &r in &order[start..end] {
                scores[r as usize] += f64::from(value);
                in_bag[r as usize] = true;
            }
        }
    }
    if order.len() == scores.len() {
        return;
    }
    for (r, score) in scores.iter_mut().enumerate() {
        if in_bag[r] {
            continue;
        }
        let row = binned.row(r);
        let mut index = 0;
        loop {
            match tree.nodes[index] {
                Node::Leaf { value, .. } => {
                    *score += f64::from(value);
                    break;
                }
                Node::Split {
                    feature,
                    left,
                    right,
                    ..
                } => {
                    index = if row[feature as usize] <= split_bins[index] {
                        left
                    } else {
                        right
                    } as usize;
                }
            }
        }
    }
}
