//! The p-value tests, computed as Evidently and scipy compute them. Windows must be
//! non-empty and finite, as for every test.

use crate::binning::{distinct_sorted, value_counts};
use crate::special::{chi2_sf, normal_cdf};
use crate::{DriftError, check};

/// Evidently's `chisquare`: the current counts of every value seen in either window against the
/// reference counts scaled to the current window's size (scipy's `chisquare`), as
/// `(statistic, p-value)`. A value the reference never showed expects nothing: the statistic is
/// infinite and the p-value 0, as in scipy. A single value in both windows leaves no degree of
/// freedom (scipy's p-value is NaN): an error.
pub fn chi_square(reference: &[f64], current: &[f64]) -> Result<(f64, f64), DriftError> {
    check("reference", reference)?;
    check("current", current)?;
    let keys = distinct_sorted(reference.iter().chain(current).copied());
    if keys.len() < 2 {
        return Err(DriftError::Constant);
    }
    let scale = current.len() as f64 / reference.len() as f64;
    let expected = value_counts(reference, &keys);
    let observed = value_counts(current, &keys);
    let statistic: f64 = observed
        .iter()
        .zip(&expected)
        .map(|(&o, &e)| {
            let e = e as f64 * scale;
            let diff = o as f64 - e;
            diff * diff / e
        })
        .sum();
    let df = keys.len().saturating_sub(1) as f64;
    Ok((statistic, chi2_sf(statistic, df)))
}

/// Evidently's `z`: the share of values other than the smallest one, reference against current,
/// as `(z, two-sided p-value)`; both windows holding the same single value is `p = 1`.
pub fn z_test(reference: &[f64], current: &[f64]) -> Result<(f64, f64), DriftError> {
    check("reference", reference)?;
    check("current", current)?;
    let reference_values = distinct_sorted(reference.iter().copied());
    let current_values = distinct_sorted(current.iter().copied());
    if reference_values.len() == 1
        && current_values.len() == 1
        && reference_values == current_values
    {
        return Ok((0.0, 1.0));
    }
    // Both windows are non-empty (checked above), so there is a smallest value.
    let smallest = reference
        .iter()
        .chain(current)
        .copied()
        .fold(f64::INFINITY, f64::min);
    let others = |values: &[f64]| values.iter().filter(|&&v| v != smallest).count() as f64;
    let (n1, n2) = (reference.len() as f64, current.len() as f64);
    let (p1, p2) = (others(reference) / n1, others(current) / n2);
    let pooled = (p1 * n1 + p2 * n2) / (n1 + n2);
    let z = (p1 - p2) / (pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2)).sqrt();
    Ok((z, 2.0 * (1.0 - normal_cdf(z.abs()))))
}
