//! The boosting learner on synthetic data with known structure.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use velocast_trees::{FitError, GbdtParams, Matrix, Objective, fit, fit_with};

/// Counts driven by an hour-like categorical and a temperature-like numeric feature.
fn synthetic(rows: usize, seed: u64) -> (Vec<f32>, Vec<f64>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut data = Vec::with_capacity(rows * 3);
    let mut target = Vec::with_capacity(rows);
    for _ in 0..rows {
        let hour = rng.random_range(0..24) as f32;
        let temp: f32 = rng.random_range(0.0..1.0);
        let noise: f32 = rng.random_range(0.0..1.0);
        data.extend([hour, temp, noise]);
        let peak = if (7.0..=9.0).contains(&hour) || (17.0..=19.0).contains(&hour) {
            4.0
        } else {
            1.0
        };
        let mean = 20.0 * peak * (0.3 + f64::from(temp));
        target.push((mean + rng.random_range(-3.0..3.0_f64)).max(0.0).round());
    }
    (data, target)
}

fn mae(predicted: &[f64], actual: &[f64]) -> f64 {
    predicted
        .iter()
        .zip(actual)
        .map(|(p, a)| (p - a).abs())
        .sum::<f64>()
        / actual.len() as f64
}

fn params(objective: Objective) -> GbdtParams {
    GbdtParams {
        objective,
        rounds: 150,
        learning_rate: 0.1,
        ..GbdtParams::default()
    }
}

#[test]
fn every_objective_learns_the_structure_out_of_sample() {
    let (train_x, train_y) = synthetic(4000, 1);
    let (test_x, test_y) = synthetic(2000, 2);
    let train = Matrix::new(&train_x, 3).unwrap();
    let test = Matrix::new(&test_x, 3).unwrap();
    let mean = train_y.iter().sum::<f64>() / train_y.len() as f64;
    let baseline = mae(&vec![mean; test_y.len()], &test_y);
    for objective in [
        Objective::SquaredError,
        Objective::Log1pSquaredError,
        Objective::Poisson,
    ] {
        let ensemble = fit(train, &train_y, &params(objective)).unwrap();
        let predicted: Vec<f64> = (0..test.rows())
            .map(|r| ensemble.predict(test.row(r)))
            .collect();
        let error = mae(&predicted, &test_y);
        // Noise is uniform ±3 (MAE 1.5 at best); the mean predictor is far worse.
        assert!(
            error < 3.0,
            "{objective:?}: MAE {error} (mean predictor {baseline})"
        );
        assert!(baseline > 15.0);
    }
}

#[test]
fn same_seed_same_model_other_seed_other_model() {
    let (x, y) = synthetic(2000, 3);
    let m = Matrix::new(&x, 3).unwrap();
    let p = params(Objective::Poisson);
    let a = fit(m, &y, &p).unwrap();
    let b = fit(m, &y, &p).unwrap();
    let c = fit(m, &y, &GbdtParams { seed: 7, ..p }).unwrap();
    assert_eq!(a, b);
    assert_ne!(a, c);
}

#[test]
fn native_prediction_matches_the_scores_boosting_tracked_on_bins() {
    let (x, y) = synthetic(3000, 4);
    let m = Matrix::new(&x, 3).unwrap();
    let mut last_scores = Vec::new();
    let ensemble = fit_with(m, &y, &params(Objective::Log1pSquaredError), |_, scores| {
        last_scores = scores.to_vec();
        true
    })
    .unwrap();
    assert_eq!(last_scores.len(), m.rows());
    for (r, tracked) in last_scores.iter().enumerate() {
        // Same paths, same f32 leaves; only the order of f64 additions differs.
        assert!((ensemble.score(m.row(r)) - tracked).abs() < 1e-9, "row {r}");
    }
}

#[test]
fn trees_respect_leaf_and_depth_caps_and_data_minimum() {
    let (x, y) = synthetic(3000, 5);
    let m = Matrix::new(&x, 3).unwrap();
    let by_leaves = fit(
        m,
        &y,
        &GbdtParams {
            max_leaves: 7,
            rounds: 20,
            ..params(Objective::SquaredError)
        },
    )
    .unwrap();
    assert!(by_leaves.trees.iter().all(|t| t.leaves() <= 7));
    let by_depth = fit(
        m,
        &y,
        &GbdtParams {
            max_leaves: 255,
            max_depth: 3,
            rounds: 20,
            ..params(Objective::SquaredError)
        },
    )
    .unwrap();
    assert!(
        by_depth
            .trees
            .iter()
            .all(|t| t.depth() <= 3 && t.leaves() <= 8)
    );
    let coarse = fit(
        m,
        &y,
        &GbdtParams {
            min_data_in_leaf: 500,
            rounds: 5,
            bagging_fraction: 1.0,
            ..params(Objective::SquaredError)
        },
    )
    .unwrap();
    for tree in &coarse.trees {
        for node in &tree.nodes {
            if let velocast_trees::Node::Leaf { count, .. } = node {
                assert!(*count >= 500);
            }
        }
    }
}

#[test]
fn pruning_hook_stops_boosting() {
    let (x, y) = synthetic(500, 6);
    let m = Matrix::new(&x, 3).unwrap();
    let ensemble = fit_with(m, &y, &params(Objective::Poisson), |round, _| round < 9).unwrap();
    assert_eq!(ensemble.trees.len(), 10);
}

#[test]
fn bad_inputs_are_typed_errors() {
    let (x, y) = synthetic(100, 7);
    let m = Matrix::new(&x, 3).unwrap();
    assert_eq!(
        fit(m, &y[..10], &params(Objective::Poisson)),
        Err(FitError::LengthMismatch {
            features: 100,
            targets: 10
        })
    );
    let mut negative = y.clone();
    negative[3] = -1.0;
    assert!(matches!(
        fit(m, &negative, &params(Objective::Poisson)),
        Err(FitError::BadTarget { row: 3, .. })
    ));
    assert!(matches!(
        fit(
            m,
            &y,
            &GbdtParams {
                learning_rate: 0.0,
                ..params(Objective::Poisson)
            }
        ),
        Err(FitError::BadParam {
            name: "learning_rate",
            ..
        })
    ));
    assert!(matches!(
        fit(
            Matrix::new(&[], 3).unwrap(),
            &[],
            &params(Objective::Poisson)
        ),
        Err(FitError::Empty)
    ));
}
