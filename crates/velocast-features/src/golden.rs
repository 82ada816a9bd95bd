//! Golden rows: requests with the predictions the trainer's own model gave them, shipped in the
//! model card. A runtime that loads the exported model replays them through [`crate::features`]
//! and must reproduce every prediction within the card's tolerance before it serves: that proves
//! the whole path (request → features → artifact → runtime), not only the artifact's bytes.

use serde::{Deserialize, Serialize};

use crate::request::DemandRequest;

/// One request and the prediction the trained model gave it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenRow {
    pub request: DemandRequest,
    pub prediction: f64,
}

/// The rows and how close a runtime must come: |served − expected| / max(1, |expected|) ≤
/// `tolerance` on every row (the trainer's parity rule).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GoldenSet {
    pub tolerance: f64,
    pub rows: Vec<GoldenRow>,
}

/// The largest deviation seen, and where.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Deviation {
    pub row: usize,
    pub expected: f64,
    pub served: f64,
    pub abs_error: f64,
    /// `abs_error / max(1, |expected|)`.
    pub scaled_error: f64,
}

/// Why served values do not reproduce the expected ones.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum GoldenError {
    #[error("{served} values served for {expected} rows")]
    RowCount { expected: usize, served: usize },
    #[error(
        "row {}: served {} where {} was expected (scaled error {:.3e} > tolerance {:.1e})",
        worst.row, worst.served, worst.expected, worst.scaled_error, tolerance
    )]
    Mismatch { worst: Deviation, tolerance: f64 },
    #[error("served value {served} at row {row} is not a finite number")]
    NotFinite { row: usize, served: f64 },
    #[error("the golden set is empty or its tolerance {0} is not a positive finite number")]
    Invalid(f64),
}

/// The worst deviation of `served` from `expected` (`None` for no rows). Non-finite values are
/// errors: a NaN would compare as "within" any tolerance.
pub fn worst_deviation(expected: &[f64], served: &[f64]) -> Result<Option<Deviation>, GoldenError> {
    if expected.len() != served.len() {
        return Err(GoldenError::RowCount {
            expected: expected.len(),
            served: served.len(),
        });
    }
    let mut worst: Option<Deviation> = None;
    for (row, (&expected, &served)) in expected.iter().zip(served).enumerate() {
        if !served.is_finite() {
            return Err(GoldenError::NotFinite { row, served });
        }
        let abs_error = (served - expected).abs();
        let scaled_error = abs_error / expected.abs().max(1.0);
        if worst.is_none_or(|w| scaled_error > w.scaled_error) {
            worst = Some(Deviation {
                row,
                expected,
                served,
                abs_error,
                scaled_error,
            });
        }
    }
    Ok(worst)
}

impl GoldenSet {
    pub fn expected(&self) -> Vec<f64> {
        self.rows.iter().map(|row| row.prediction).collect()
    }

    /// Checks `served` (one value per row, in order) against the set.
    pub fn check(&self, served: &[f64]) -> Result<Deviation, GoldenError> {
        if self.rows.is_empty() || !(self.tolerance.is_finite() && self.tolerance > 0.0) {
            return Err(GoldenError::Invalid(self.tolerance));
        }
        let worst = worst_deviation(&self.expected(), served)?
            .ok_or(GoldenError::Invalid(self.tolerance))?;
        if worst.scaled_error > self.tolerance {
            return Err(GoldenError::Mismatch {
                worst,
                tolerance: self.tolerance,
            });
        }
        Ok(worst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn set(predictions: &[f64]) -> GoldenSet {
        let request = DemandRequest {
            timestamp: NaiveDate::from_ymd_opt(2012, 9, 3)
                .and_then(|d| d.and_hms_opt(8, 0, 0))
                .unwrap_or_default(),
            weather: 1,
            temperature_c: 20.0,
            feels_like_c: 21.0,
            humidity_pct: 50.0,
            wind_speed_kmh: 10.0,
            holiday: false,
        };
        GoldenSet {
            tolerance: 1e-3,
            rows: predictions
                .iter()
                .map(|&prediction| GoldenRow {
                    request: request.clone(),
                    prediction,
                })
                .collect(),
        }
    }

    #[test]
    fn values_within_the_scaled_tolerance_pass_and_report_the_worst_row() {
        let golden = set(&[100.0, 0.2, 500.0]);
        // 100 ± 0.09 is 9e-4 scaled; 0.2 + 0.0005 is scaled by 1, not by 0.2.
        let worst = golden.check(&[100.09, 0.2005, 500.1]).unwrap();
        assert_eq!(worst.row, 0);
        assert!((worst.scaled_error - 9e-4).abs() < 1e-9);
    }

    #[test]
    fn a_value_past_the_tolerance_names_its_row() {
        let golden = set(&[100.0, 200.0]);
        let error = golden.check(&[100.0, 200.3]).unwrap_err();
        match error {
            GoldenError::Mismatch { worst, .. } => {
                assert_eq!(worst.row, 1);
                assert!((worst.abs_error - 0.3).abs() < 1e-9);
            }
            other => panic!("{other:?}"),
        }
        assert!(error.to_string().starts_with("row 1: served 200.3"));
    }

    #[test]
    fn nan_wrong_counts_and_empty_sets_are_errors() {
        let golden = set(&[1.0, 2.0]);
        assert!(matches!(
            golden.check(&[1.0, f64::NAN]),
            Err(GoldenError::NotFinite { row: 1, .. })
        ));
        assert!(matches!(
            golden.check(&[1.0]),
            Err(GoldenError::RowCount {
                expected: 2,
                served: 1
            })
        ));
        assert!(matches!(set(&[]).check(&[]), Err(GoldenError::Invalid(_))));
        let mut loose = set(&[1.0]);
        loose.tolerance = f64::NAN;
        assert!(matches!(loose.check(&[1.0]), Err(GoldenError::Invalid(_))));
    }
}
