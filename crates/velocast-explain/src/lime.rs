//! LIME for tabular regression, as the `lime` package's `LimeTabularExplainer` does it with
//! `discretize_continuous=False` (Ribeiro et al. 2016):
//!
//! - perturbations: a numeric feature is drawn from a normal with the training mean and
//!   standard deviation (`sample_around_instance=False`); a categorical one from its training
//!   frequencies; the first sample is the instance itself;
//! - the interpretable representation: numeric features standardized by the training mean and
//!   standard deviation, categorical ones as 1 where the sample equals the instance;
//! - weights: the exponential kernel `sqrt(exp(−d² / width²))` of the Euclidean distance to the
//!   instance in that representation, width `0.75 · sqrt(features)` by default;
//! - the local model: ridge regression (α = 1, intercept unpenalized) on the weighted samples.
//!
//! Seeded (ChaCha8), so an explanation is reproducible. Coefficients are per standard
//! deviation for numeric features (as `lime` reports them) and also given per unit.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What LIME knows of a feature: its training statistics.
#[derive(Debug, Clone, PartialEq)]
pub enum FeatureStats {
    /// Mean and population standard deviation (a constant column gets 1, as sklearn's scaler
    /// does).
    Numeric { mean: f64, std: f64 },
    /// The values seen in training and how often.
    Categorical { values: Vec<f32>, counts: Vec<f64> },
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimeOptions {
    pub samples: usize,
    /// `None`: `0.75 · sqrt(features)`.
    pub kernel_width: Option<f64>,
    pub ridge_alpha: f64,
    pub seed: u64,
}

impl Default for LimeOptions {
    fn default() -> Self {
        LimeOptions {
            samples: 5000,
            kernel_width: None,
            ridge_alpha: 1.0,
            seed: 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct LimeExplanation {
    pub intercept: f64,
    /// In the interpretable representation: per standard deviation (numeric), for "equals the
    /// instance's value" (categorical).
    pub coefficients: Vec<f64>,
    /// Numeric coefficients per unit of the feature (categorical: as above).
    pub per_unit: Vec<f64>,
    /// The local model at the instance.
    pub local_prediction: f64,
    /// Weighted R² of the local model on the samples.
    pub score: f64,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum LimeError {
    #[error("expected {expected} feature statistics, got {got}")]
    Shape { expected: usize, got: usize },
    #[error("feature {0}: no training values to sample from")]
    NoValues(usize),
    #[error("LIME needs at least two samples")]
    TooFewSamples,
    #[error("the local model's equations are singular")]
    Singular,
    #[error("the model returned {got} predictions for {samples} samples")]
    Predictions { samples: usize, got: usize },
}

/// Explains `predict` at `instance`. `predict` scores row-major rows (one value per row).
pub fn explain(
    instance: &[f32],
    stats: &[FeatureStats],
    options: &LimeOptions,
    predict: impl Fn(&[f32]) -> Vec<f64>,
) -> Result<LimeExplanation, LimeError> {
    let n = instance.len();
    if stats.len() != n {
        return Err(LimeError::Shape {
            expected: n,
            got: stats.len(),
        });
    }
    if options.samples < 2 {
        return Err(LimeError::TooFewSamples);
    }
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let samples = options.samples;
    let mut data = Vec::with_capacity(samples * n);
    data.extend_from_slice(instance);
    for _ in 1..samples {
        for (f, stat) in stats.iter().enumerate() {
            data.push(match stat {
                FeatureStats::Numeric { mean, std } => {
                    (mean + standard_normal(&mut rng) * std) as f32
                }
                FeatureStats::Categorical { values, counts } => {
                    draw_category(&mut rng, values, counts).ok_or(LimeError::NoValues(f))?
                }
            });
        }
    }
    // The interpretable representation.
    let represent = |row: &[f32]| -> Vec<f64> {
        row.iter()
            .zip(stats)
            .zip(instance)
            .map(|((value, stat), own)| match stat {
                FeatureStats::Numeric { mean, std } => (f64::from(*value) - mean) / std,
                FeatureStats::Categorical { .. } => f64::from(u8::from(value == own)),
            })
            .collect()
    };
    let x: Vec<Vec<f64>> = data.chunks_exact(n).map(represent).collect();
    let width = options
        .kernel_width
        .unwrap_or_else(|| 0.75 * (n as f64).sqrt());
    let weights: Vec<f64> = x
        .iter()
        .map(|row| {
            let d2: f64 = row.iter().zip(&x[0]).map(|(a, b)| (a - b) * (a - b)).sum();
            (-d2 / (width * width)).exp().sqrt()
        })
        .collect();
    let y = predict(&data);
    if y.len() != samples {
        return Err(LimeError::Predictions {
            samples,
            got: y.len(),
        });
    }
    let (intercept, coefficients) = weighted_ridge(&x, &y, &weights, options.ridge_alpha)?;
    let fitted = |row: &[f64]| {
        intercept
            + row
                .iter()
                .zip(&coefficients)
                .map(|(a, b)| a * b)
                .sum::<f64>()
    };
    let total_weight: f64 = weights.iter().sum();
    let mean_y = y.iter().zip(&weights).map(|(v, w)| v * w).sum::<f64>() / total_weight;
    let (mut residual, mut spread) = (0.0, 0.0);
    for ((row, v), w) in x.iter().zip(&y).zip(&weights) {
        residual += w * (v - fitted(row)).powi(2);
        spread += w * (v - mean_y).powi(2);
    }
    let per_unit = coefficients
        .iter()
        .zip(stats)
        .map(|(c, stat)| match stat {
            FeatureStats::Numeric { std, .. } => c / std,
            FeatureStats::Categorical { .. } => *c,
        })
        .collect();
    Ok(LimeExplanation {
        intercept,
        local_prediction: fitted(&x[0]),
        coefficients,
        per_unit,
        score: if spread > 0.0 {
            1.0 - residual / spread
        } else {
            1.0
        },
    })
}

/// Box-Muller.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u1: f64 = 1.0 - rng.random::<f64>(); // (0, 1]
    let u2: f64 = rng.random::<f64>();
    (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
}

fn draw_category(rng: &mut ChaCha8Rng, values: &[f32], counts: &[f64]) -> Option<f32> {
    let total: f64 = counts.iter().sum();
    // A NaN total is refused too.
    if values.is_empty() || total.is_nan() || total <= 0.0 {
        return None;
    }
    let mut target = rng.random::<f64>() * total;
    for (value, count) in values.iter().zip(counts) {
        if target < *count {
            return Some(*value);
        }
        target -= count;
    }
    values.last().copied()
}

/// Ridge with sample weights and an unpenalized intercept (sklearn's `Ridge` with
/// `sample_weight`): centre by the weighted means, solve `(XᵀWX + αI) β = XᵀW y`.
fn weighted_ridge(
    x: &[Vec<f64>],
    y: &[f64],
    w: &[f64],
    alpha: f64,
) -> Result<(f64, Vec<f64>), LimeError> {
    let p = x.first().map_or(0, Vec::len);
    let total: f64 = w.iter().sum();
    let mut x_mean = vec![0.0; p];
    for (row, weight) in x.iter().zip(w) {
        for (m, v) in x_mean.iter_mut().zip(row) {
            *m += weight * v;
        }
    }
    x_mean.iter_mut().for_each(|m| *m /= total);
    let y_mean = y.iter().zip(w).map(|(v, weight)| v * weight).sum::<f64>() / total;
    let mut a = vec![0.0; p * p];
    let mut b = vec![0.0; p];
    for ((row, v), weight) in x.iter().zip(y).zip(w) {
        let centred: Vec<f64> = row.iter().zip(&x_mean).map(|(r, m)| r - m).collect();
        for i in 0..p {
            b[i] += weight * centred[i] * (v - y_mean);
            for j in 0..p {
                a[i * p + j] += weight * centred[i] * centred[j];
            }
        }
    }
    for i in 0..p {
        a[i * p + i] += alpha;
    }
    let beta =
        velocast_trees::ridge::cholesky_solve(&mut a, &mut b, p).ok_or(LimeError::Singular)?;
    let intercept = y_mean - x_mean.iter().zip(&beta).map(|(m, c)| m * c).sum::<f64>();
    Ok((intercept, beta))
}
