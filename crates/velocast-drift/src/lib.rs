//! Drift statistics as Evidently 0.7.23 computes them (issue 9), so that a verdict here is the
//! verdict an Evidently user would get on the same data.
//!
//! Covered so far: the default pick of `DataDriftPreset` except the K-S test (references of
//! more than 1,000 rows: the normed Wasserstein distance for numerical columns with more than
//! five distinct values, the Jensen-Shannon distance otherwise; at most 1,000 rows: chi-square
//! for more than two values, the two-proportion Z-test for two or fewer), and, forced, PSI and
//! Kullback-Leibler with Evidently's binning and zero-fill, Hellinger, the energy distance,
//! chi-square and Z. K-S (numerical columns, small references) comes next; [`default_test`]
//! says so with an error rather than pick something else.
//!
//! Inputs are finite numbers: Evidently drops NaN and ±inf before it tests a column, and the
//! monitor's ingest refuses them, so here they are an error, never silently skipped.

mod binning;
mod distances;
pub mod special;
pub mod tests;

pub use binning::{binned, hellinger, sturges_edges};
pub use distances::{
    energy_distance, jensen_shannon, kl_divergence, psi, wasserstein_distance, wasserstein_normed,
};

use thiserror::Error;

/// How Evidently treats a column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    Numerical,
    Categorical,
}

/// Most distinct values an integer column may hold and still be categorical (Evidently's
/// `INTEGER_CARDINALITY_LIMIT`).
pub const INTEGER_CARDINALITY_LIMIT: usize = 10;

/// The kind Evidently's `infer_column_type` gives a numeric column of a dataset (`Report.run`
/// infers it on the current one): floating-point columns are numerical; integer columns are
/// categorical with at most [`INTEGER_CARDINALITY_LIMIT`] distinct values, numerical above.
pub fn infer_kind(values: &[f64], integer: bool) -> ColumnKind {
    if integer && distinct(values, &[]) <= INTEGER_CARDINALITY_LIMIT {
        ColumnKind::Categorical
    } else {
        ColumnKind::Numerical
    }
}

/// One column's values in one window. `integer` says the column is stored as integers (numpy
/// then never makes histogram bins narrower than 1).
#[derive(Debug, Clone, Copy)]
pub struct Column<'a> {
    pub values: &'a [f64],
    pub kind: ColumnKind,
    pub integer: bool,
}

/// The tests of this part, by Evidently's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatTest {
    /// `wasserstein`: the first Wasserstein distance over the reference's standard deviation.
    Wasserstein,
    /// `jensenshannon`: the Jensen-Shannon distance of the binned shares.
    JensenShannon,
    /// `psi`: the population stability index of the binned shares, zeros filled.
    Psi,
    /// `kl_div`: the Kullback-Leibler divergence of the binned shares, zeros filled.
    KlDiv,
    /// `hellinger`: the Hellinger distance of the shares (categorical) or densities.
    Hellinger,
    /// `ed`: the energy distance (numerical columns).
    EnergyDistance,
    /// `chisquare`: Pearson's chi-square test of the current counts against the reference's
    /// shares; the score is the p-value.
    ChiSquare,
    /// `z`: the two-proportion Z-test (the smallest value against the rest); the score is the
    /// two-sided p-value, computed as Evidently does (`2 · (1 − Φ(|z|))`).
    Z,
}

impl StatTest {
    /// Evidently's name (`stattest_name` in its JSON).
    pub fn name(self) -> &'static str {
        match self {
            StatTest::Wasserstein => "wasserstein",
            StatTest::JensenShannon => "jensenshannon",
            StatTest::Psi => "psi",
            StatTest::KlDiv => "kl_div",
            StatTest::Hellinger => "hellinger",
            StatTest::EnergyDistance => "ed",
            StatTest::ChiSquare => "chisquare",
            StatTest::Z => "z",
        }
    }

    /// Evidently's default threshold: 0.05 for the p-value tests, 0.1 for the distances.
    pub fn default_threshold(self) -> f64 {
        if self.is_p_value() { 0.05 } else { 0.1 }
    }

    /// Whether the score is a p-value (drift below the threshold) rather than a distance.
    pub fn is_p_value(self) -> bool {
        matches!(self, StatTest::ChiSquare | StatTest::Z)
    }

    /// Whether `score` is drift at `threshold`: at or above it, except for the energy distance,
    /// which Evidently flags only strictly above.
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            StatTest::ChiSquare | StatTest::Z => score < threshold,
            StatTest::EnergyDistance => score > threshold,
            _ => score >= threshold,
        }
    }
}

/// A column's verdict, named as Evidently's JSON names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDrift {
    pub stattest_name: &'static str,
    pub drift_score: f64,
    pub stattest_threshold: f64,
    pub drift_detected: bool,
}

#[derive(Debug, Error, PartialEq)]
pub enum DriftError {
    #[error("the {window} window is empty")]
    Empty { window: &'static str },
    #[error("the {window} window holds a value that is not finite (NaN or ±inf) at row {row}")]
    NotFinite { window: &'static str, row: usize },
    #[error("`{test}` does not apply to {kind:?} columns")]
    NotApplicable {
        test: &'static str,
        kind: ColumnKind,
    },
    #[error(
        "a numerical column with more than five values and at most 1,000 reference rows is tested with K-S, which is not implemented yet"
    )]
    SmallReference,
    #[error("reference and current windows disagree on the column's kind")]
    KindMismatch,
}

pub(crate) fn check(window: &'static str, values: &[f64]) -> Result<(), DriftError> {
    if values.is_empty() {
        return Err(DriftError::Empty { window });
    }
    match values.iter().position(|v| !v.is_finite()) {
        Some(row) => Err(DriftError::NotFinite { window, row }),
        None => Ok(()),
    }
}

/// Distinct values of both windows together (pandas' `nunique` on the concatenation).
fn distinct(reference: &[f64], current: &[f64]) -> usize {
    binning::distinct_sorted(reference.iter().chain(current).copied()).len()
}

/// The test `DataDriftPreset` picks for a column when none is forced.
pub fn default_test(reference: Column<'_>, current: Column<'_>) -> Result<StatTest, DriftError> {
    if reference.kind != current.kind {
        return Err(DriftError::KindMismatch);
    }
    let n_values = distinct(reference.values, current.values);
    if reference.values.len() <= 1000 {
        return match reference.kind {
            ColumnKind::Numerical if n_values > 5 => Err(DriftError::SmallReference),
            _ if n_values > 2 => Ok(StatTest::ChiSquare),
            _ => Ok(StatTest::Z),
        };
    }
    Ok(match reference.kind {
        ColumnKind::Numerical if n_values > 5 => StatTest::Wasserstein,
        ColumnKind::Numerical | ColumnKind::Categorical => StatTest::JensenShannon,
    })
}

/// Runs `test` (the default one when `None`) on a column at its threshold (the test's default
/// when `None`).
pub fn column_drift(
    reference: Column<'_>,
    current: Column<'_>,
    test: Option<StatTest>,
    threshold: Option<f64>,
) -> Result<ColumnDrift, DriftError> {
    check("reference", reference.values)?;
    check("current", current.values)?;
    if reference.kind != current.kind {
        return Err(DriftError::KindMismatch);
    }
    let forced = test;
    let test = match test {
        Some(test) => test,
        None => default_test(reference, current)?,
    };
    // What Evidently allows a forced test on; its own default picks may go beyond (chi-square
    // and Z on numerical columns of few values).
    let allowed = match test {
        StatTest::Wasserstein | StatTest::EnergyDistance => reference.kind == ColumnKind::Numerical,
        StatTest::ChiSquare | StatTest::Z => {
            forced.is_none() || reference.kind == ColumnKind::Categorical
        }
        _ => true,
    };
    if !allowed {
        return Err(DriftError::NotApplicable {
            test: test.name(),
            kind: reference.kind,
        });
    }
    let score = match test {
        StatTest::Wasserstein => wasserstein_normed(reference.values, current.values),
        StatTest::EnergyDistance => energy_distance(reference.values, current.values),
        StatTest::Hellinger => hellinger(reference, current),
        StatTest::ChiSquare => tests::chi_square(reference.values, current.values)?.1,
        StatTest::Z => tests::z_test(reference.values, current.values)?.1,
        StatTest::JensenShannon => {
            let (r, c) = binned(reference, current, false);
            jensen_shannon(&r, &c)
        }
        StatTest::Psi => {
            let (r, c) = binned(reference, current, true);
            psi(&r, &c)
        }
        StatTest::KlDiv => {
            let (r, c) = binned(reference, current, true);
            kl_divergence(&r, &c)
        }
    };
    let threshold = threshold.unwrap_or_else(|| test.default_threshold());
    Ok(ColumnDrift {
        stattest_name: test.name(),
        drift_score: score,
        stattest_threshold: threshold,
        drift_detected: test.drifted(score, threshold),
    })
}

/// The dataset's verdict: drift when at least `share` (Evidently: 0.5) of the columns drift.
pub fn dataset_drift(columns: &[ColumnDrift], share: f64) -> (usize, f64, bool) {
    let drifted = columns.iter().filter(|c| c.drift_detected).count();
    let fraction = if columns.is_empty() {
        0.0
    } else {
        drifted as f64 / columns.len() as f64
    };
    (drifted, fraction, fraction >= share)
}
