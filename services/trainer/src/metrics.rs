//! Regression metrics on counts.

use serde::{Deserialize, Serialize};

use crate::config::Metric;

/// MAE, RMSE, RMSLE and R² of predictions against actual counts.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Scores {
    pub mae: f64,
    pub rmse: f64,
    pub rmsle: f64,
    pub r2: f64,
    pub rows: usize,
}

impl Scores {
    /// Predictions below zero are scored as zero (as the model serves them); RMSLE needs it.
    pub fn of(predicted: &[f64], actual: &[f64]) -> Scores {
        let n = actual.len().min(predicted.len());
        if n == 0 {
            return Scores {
                mae: f64::NAN,
                rmse: f64::NAN,
                rmsle: f64::NAN,
                r2: f64::NAN,
                rows: 0,
            };
        }
        let (mut abs, mut sq, mut sq_log) = (0.0, 0.0, 0.0);
        for (&p, &a) in predicted.iter().zip(actual) {
            let p = p.max(0.0);
            abs += (p - a).abs();
            sq += (p - a) * (p - a);
            let d = p.ln_1p() - a.max(0.0).ln_1p();
            sq_log += d * d;
        }
        let mean = actual.iter().take(n).sum::<f64>() / n as f64;
        let total: f64 = actual.iter().take(n).map(|a| (a - mean) * (a - mean)).sum();
        let nf = n as f64;
        Scores {
            mae: abs / nf,
            rmse: (sq / nf).sqrt(),
            rmsle: (sq_log / nf).sqrt(),
            r2: if total > 0.0 {
                1.0 - sq / total
            } else {
                f64::NAN
            },
            rows: n,
        }
    }

    /// The value of `metric` (lower is better for all of them).
    pub fn get(&self, metric: Metric) -> f64 {
        match metric {
            Metric::Mae => self.mae,
            Metric::Rmse => self.rmse,
            Metric::Rmsle => self.rmsle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values() {
        let s = Scores::of(&[2.0, 4.0, 6.0], &[1.0, 4.0, 9.0]);
        assert!((s.mae - 4.0 / 3.0).abs() < 1e-12);
        assert!((s.rmse - (10.0_f64 / 3.0).sqrt()).abs() < 1e-12);
        // mean 14/3; total SS = 98/3·... computed directly:
        let mean = 14.0 / 3.0;
        let total: f64 = [1.0, 4.0, 9.0]
            .iter()
            .map(|a: &f64| (a - mean).powi(2))
            .sum();
        assert!((s.r2 - (1.0 - 10.0 / total)).abs() < 1e-12);
        let rmsle = (((3.0_f64.ln() - 2.0_f64.ln()).powi(2)
            + 0.0
            + (7.0_f64.ln() - 10.0_f64.ln()).powi(2))
            / 3.0)
            .sqrt();
        assert!((s.rmsle - rmsle).abs() < 1e-12);
    }

    #[test]
    fn perfect_predictions_and_negative_floor() {
        let s = Scores::of(&[5.0, 7.0], &[5.0, 7.0]);
        assert_eq!((s.mae, s.rmse, s.rmsle, s.r2), (0.0, 0.0, 0.0, 1.0));
        let floored = Scores::of(&[-3.0], &[0.0]);
        assert_eq!(floored.mae, 0.0);
        assert_eq!(Scores::of(&[], &[]).rows, 0);
    }
}
