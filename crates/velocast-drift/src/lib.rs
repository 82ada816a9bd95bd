//! Drift statistics as Evidently 0.7.23 computes them (issue 9), so that a verdict here is the
//! verdict an Evidently user would get on the same data.
//!
//! The default pick of `DataDriftPreset` (references of more than 1,000 rows: the normed
//! Wasserstein distance for numerical columns with more than five distinct values, the
//! Jensen-Shannon distance otherwise; at most 1,000 rows: the two-sample K-S test for numerical
//! columns with more than five values, chi-square for more than two values, the two-proportion
//! Z-test for two or fewer), and every test forced: PSI and Kullback-Leibler with Evidently's
//! binning and zero-fill, Hellinger, the energy distance, chi-square, Z, K-S, Anderson-Darling
//! and Cramér-von Mises.
//!
//! Inputs are finite numbers: Evidently drops NaN and ±inf before it tests a column, and the
//! monitor's ingest refuses them, so here they are an error, never silently skipped.

mod binning;
mod distances;
pub mod ks;
pub mod rank;
pub mod special;
pub mod tests;

pub use binning::{binned, hellinger, sturges_edges};
pub use distances::{
    energy_distance, jensen_shannon, kl_divergence, psi, wasserstein_distance, wasserstein_normed,
};

use std::borrow::Cow;

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
    /// `ks`: the two-sample Kolmogorov-Smirnov test (scipy's `ks_2samp`, exact up to 10,000
    /// values per sample); the score is the p-value, drift at or below the threshold.
    Ks,
    /// `anderson`: the k-sample Anderson-Darling test (scipy's `anderson_ksamp`); the score is
    /// its p-value, interpolated and capped to [0.001, 0.25] as scipy does.
    AndersonDarling,
    /// `cramer_von_mises`: the two-sample Cramér-von Mises test; the score is the p-value,
    /// drift at or below the threshold.
    CramerVonMises,
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
            StatTest::Ks => "ks",
            StatTest::AndersonDarling => "anderson",
            StatTest::CramerVonMises => "cramer_von_mises",
        }
    }

    /// Evidently's display name (`stattest_name` in its reports).
    pub fn display_name(self) -> &'static str {
        match self {
            StatTest::Wasserstein => "Wasserstein distance (normed)",
            StatTest::JensenShannon => "Jensen-Shannon distance",
            StatTest::Psi => "PSI",
            StatTest::KlDiv => "Kullback-Leibler divergence",
            StatTest::Hellinger => "Hellinger distance",
            StatTest::EnergyDistance => "Energy-distance",
            StatTest::ChiSquare => "chi-square p_value",
            StatTest::Z => "Z-test p_value",
            StatTest::Ks => "K-S p_value",
            StatTest::AndersonDarling => "Anderson-Darling",
            StatTest::CramerVonMises => "Cramer-von Mises",
        }
    }

    /// Every test, in the order the reports list them.
    pub const ALL: [StatTest; 11] = [
        StatTest::Wasserstein,
        StatTest::JensenShannon,
        StatTest::Psi,
        StatTest::KlDiv,
        StatTest::Hellinger,
        StatTest::EnergyDistance,
        StatTest::ChiSquare,
        StatTest::Z,
        StatTest::Ks,
        StatTest::AndersonDarling,
        StatTest::CramerVonMises,
    ];

    /// The test Evidently calls `name`.
    pub fn from_name(name: &str) -> Option<StatTest> {
        StatTest::ALL.into_iter().find(|test| test.name() == name)
    }

    /// Evidently's default threshold: 0.05 for chi-square, Z and K-S, 0.1 for the distances,
    /// Anderson-Darling and Cramér-von Mises.
    pub fn default_threshold(self) -> f64 {
        match self {
            StatTest::ChiSquare | StatTest::Z | StatTest::Ks => 0.05,
            _ => 0.1,
        }
    }

    /// Whether the score is a p-value (drift below the threshold) rather than a distance.
    pub fn is_p_value(self) -> bool {
        matches!(
            self,
            StatTest::ChiSquare
                | StatTest::Z
                | StatTest::Ks
                | StatTest::AndersonDarling
                | StatTest::CramerVonMises
        )
    }

    /// Whether `score` is drift at `threshold`, with each test's own comparison in Evidently:
    /// p-values strictly below (chi-square, Z, Anderson-Darling) or at or below (K-S,
    /// Cramér-von Mises); distances at or above, except the energy distance, strictly above.
    pub fn drifted(self, score: f64, threshold: f64) -> bool {
        match self {
            StatTest::ChiSquare | StatTest::Z | StatTest::AndersonDarling => score < threshold,
            StatTest::Ks | StatTest::CramerVonMises => score <= threshold,
            StatTest::EnergyDistance => score > threshold,
            _ => score >= threshold,
        }
    }

    /// Whether Evidently accepts the test forced on a column of `kind`.
    pub fn applies_to(self, kind: ColumnKind) -> bool {
        match self {
            StatTest::Wasserstein
            | StatTest::EnergyDistance
            | StatTest::Ks
            | StatTest::AndersonDarling
            | StatTest::CramerVonMises => kind == ColumnKind::Numerical,
            StatTest::ChiSquare | StatTest::Z => kind == ColumnKind::Categorical,
            StatTest::JensenShannon | StatTest::Psi | StatTest::KlDiv | StatTest::Hellinger => true,
        }
    }
}

/// A column's verdict, named as Evidently's JSON names it.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDrift {
    pub test: StatTest,
    /// The test's short name (`wasserstein`, `ks`, ...).
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
    #[error("the column holds a single value in both windows; the test needs at least two")]
    Constant,
    #[error("`{test}` needs more values than the windows hold")]
    TooFew { test: &'static str },
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

/// A window's values after [`check`], sorted ascending.
pub(crate) fn checked_sorted<'a>(
    window: &'static str,
    values: &'a [f64],
) -> Result<Cow<'a, [f64]>, DriftError> {
    check(window, values)?;
    Ok(sorted(values))
}

/// The values in ascending order: borrowed when they already are (every test sorts, and
/// [`column_drift`] sorts each window once before it runs one), else a sorted copy.
pub(crate) fn sorted(values: &[f64]) -> Cow<'_, [f64]> {
    if values.is_sorted_by(|a, b| a.total_cmp(b).is_le()) {
        Cow::Borrowed(values)
    } else {
        let mut sorted = values.to_vec();
        sorted.sort_unstable_by(f64::total_cmp);
        Cow::Owned(sorted)
    }
}

/// The smallest value not yet consumed at the heads of two sorted samples.
pub(crate) fn next_value(first: &[f64], second: &[f64]) -> Option<f64> {
    match (first.first(), second.first()) {
        (Some(&a), Some(&b)) => Some(a.min(b)),
        (Some(&a), None) | (None, Some(&a)) => Some(a),
        (None, None) => None,
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
            ColumnKind::Numerical if n_values > 5 => Ok(StatTest::Ks),
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
    // Each window sorted once: every test below finds its input in order and sorts nothing.
    let reference_sorted = checked_sorted("reference", reference.values)?;
    let current_sorted = checked_sorted("current", current.values)?;
    let reference = Column {
        values: &reference_sorted,
        ..reference
    };
    let current = Column {
        values: &current_sorted,
        ..current
    };
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
    let allowed = forced.is_none() || test.applies_to(reference.kind);
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
        StatTest::Ks => ks::ks_2samp(reference.values, current.values)?.1,
        StatTest::AndersonDarling => rank::anderson_darling(reference.values, current.values)?.1,
        StatTest::CramerVonMises => rank::cramer_von_mises(reference.values, current.values)?.1,
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
        test,
        stattest_name: test.name(),
        drift_score: score,
        stattest_threshold: threshold,
        drift_detected: test.drifted(score, threshold),
    })
}

/// The dataset's verdict: drift when at least `share` (Evidently: 0.5) of the columns drift.
pub fn dataset_drift(columns: &[ColumnDrift], share: f64) -> (usize, f64, bool) {
    dataset_verdict(columns.iter().map(|c| c.drift_detected), share)
}

/// [`dataset_drift`] from each column's verdict alone: (drifted columns, their share, drift).
pub fn dataset_verdict(drifted: impl IntoIterator<Item = bool>, share: f64) -> (usize, f64, bool) {
    let (mut columns, mut count) = (0, 0);
    for column_drifted in drifted {
        columns += 1;
        count += usize::from(column_drifted);
    }
    let fraction = if columns == 0 {
        0.0
    } else {
        count as f64 / columns as f64
    };
    (count, fraction, fraction >= share)
}
