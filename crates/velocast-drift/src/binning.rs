//! Evidently's `get_binned_data`: numerical columns with more than 20 distinct reference values
//! are cut at numpy's Sturges edges over both windows; every other column is counted by value.
//! Shares are counts over the window's length; with `fill_zeroes`, an empty bin gets
//! (smallest non-zero share) / 10⁶ when that share is ≤ 0.0001, else 0.0001.

use crate::{Column, ColumnKind, sorted};

/// numpy's `histogram_bin_edges(values, bins="sturges")`: `ceil(range / width)` equal bins of
/// width `range / (log2(n) + 1)` (at least 1 for integer data), spanning min to max (±0.5 when
/// they are equal), placed as `linspace` places them.
pub fn sturges_edges(values: &[f64], integer: bool) -> Vec<f64> {
    let (mut first, mut last) = values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| {
            (lo.min(v), hi.max(v))
        });
    if values.is_empty() {
        (first, last) = (0.0, 1.0);
    }
    let range = last - first;
    if first == last {
        first -= 0.5;
        last += 0.5;
    }
    let mut width = range / ((values.len() as f64).log2() + 1.0);
    let bins = if width > 0.0 {
        if integer && width < 1.0 {
            width = 1.0;
        }
        ((last - first) / width).ceil() as usize
    } else {
        1
    };
    linspace(first, last, bins + 1)
}

/// numpy's `linspace(start, stop, num)` with its endpoint: `i * step + start`, the last exactly
/// `stop`.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    let div = (num - 1) as f64;
    let step = (stop - start) / div;
    let mut edges: Vec<f64> = (0..num)
        .map(|i| {
            if step == 0.0 {
                (i as f64 / div) * (stop - start) + start
            } else {
                i as f64 * step + start
            }
        })
        .collect();
    if let Some(end) = edges.last_mut() {
        *end = stop;
    }
    edges
}

/// numpy's `histogram(values, edges)` for explicit edges: bin `i` holds `edges[i] <= v <
/// edges[i + 1]`, the last bin also its right edge; values outside are not counted.
pub(crate) fn histogram(values: &[f64], edges: &[f64]) -> Vec<u64> {
    let sorted = sorted(values);
    let below = |edge: f64| sorted.partition_point(|&v| v < edge) as u64;
    let at_most = |edge: f64| sorted.partition_point(|&v| v <= edge) as u64;
    let n = edges.len();
    let cumulative: Vec<u64> = edges
        .iter()
        .enumerate()
        .map(|(i, &e)| if i + 1 == n { at_most(e) } else { below(e) })
        .collect();
    cumulative.windows(2).map(|w| w[1] - w[0]).collect()
}

/// The distinct values, ascending. A stable sort: it finds the sorted runs of windows chained
/// together and merges them in linear time.
pub(crate) fn distinct_sorted(values: impl Iterator<Item = f64>) -> Vec<f64> {
    let mut all: Vec<f64> = values.collect();
    all.sort_by(f64::total_cmp);
    all.dedup_by(|a, b| a == b);
    all
}

/// How often each of `keys` occurs in `values` (pandas' `value_counts`, in the keys' order).
pub(crate) fn value_counts(values: &[f64], keys: &[f64]) -> Vec<u64> {
    let sorted = sorted(values);
    keys.iter()
        .map(|&k| (sorted.partition_point(|&v| v <= k) - sorted.partition_point(|&v| v < k)) as u64)
        .collect()
}

/// The shares of both windows per bin (see the module documentation).
pub fn binned(
    reference: Column<'_>,
    current: Column<'_>,
    fill_zeroes: bool,
) -> (Vec<f64>, Vec<f64>) {
    let distinct_reference = distinct_sorted(reference.values.iter().copied()).len();
    let (reference_counts, current_counts) =
        if reference.kind == ColumnKind::Numerical && distinct_reference > 20 {
            let combined: Vec<f64> = reference
                .values
                .iter()
                .chain(current.values)
                .copied()
                .collect();
            let edges = sturges_edges(&combined, reference.integer && current.integer);
            (
                histogram(reference.values, &edges),
                histogram(current.values, &edges),
            )
        } else {
            let keys = distinct_sorted(reference.values.iter().chain(current.values).copied());
            (
                value_counts(reference.values, &keys),
                value_counts(current.values, &keys),
            )
        };
    let shares = |counts: Vec<u64>, n: usize| -> Vec<f64> {
        let mut shares: Vec<f64> = counts.iter().map(|&c| c as f64 / n as f64).collect();
        if fill_zeroes {
            let smallest = shares
                .iter()
                .copied()
                .filter(|&s| s != 0.0)
                .fold(f64::INFINITY, f64::min);
            let fill = if smallest <= 0.0001 {
                smallest / 1e6
            } else {
                0.0001
            };
            for share in shares.iter_mut().filter(|s| **s == 0.0) {
                *share = fill;
            }
        }
        shares
    };
    (
        shares(reference_counts, reference.values.len()),
        shares(current_counts, current.values.len()),
    )
}

/// Evidently's `hellinger`: for categorical columns 1 − Σ √(r·c) over the shares of each value;
/// for numerical ones the same over numpy's density histograms on Sturges edges of the distinct
/// values of both windows, times the bin width; clipped to [0, 1] before the square root.
pub fn hellinger(reference: Column<'_>, current: Column<'_>) -> f64 {
    let keys = distinct_sorted(reference.values.iter().chain(current.values).copied());
    let overlap: f64 = match reference.kind {
        ColumnKind::Categorical => {
            let shares = |values: &[f64]| -> Vec<f64> {
                value_counts(values, &keys)
                    .iter()
                    .map(|&n| n as f64 / values.len() as f64)
                    .collect()
            };
            let (r, c) = (shares(reference.values), shares(current.values));
            r.iter().zip(&c).map(|(a, b)| (a * b).sqrt()).sum()
        }
        ColumnKind::Numerical => {
            let edges = sturges_edges(&keys, reference.integer && current.integer);
            let density = |values: &[f64]| -> Vec<f64> {
                let counts = histogram(values, &edges);
                let total: u64 = counts.iter().sum();
                counts
                    .iter()
                    .zip(edges.windows(2))
                    .map(|(&n, w)| n as f64 / (w[1] - w[0]) / total as f64)
                    .collect()
            };
            let (r, c) = (density(reference.values), density(current.values));
            // numpy's `max(bins) - min(bins)` over the number of bins (edges are never fewer
            // than two).
            let (first, last) = edges
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &e| {
                    (lo.min(e), hi.max(e))
                });
            let width = (last - first) / (edges.len() - 1) as f64;
            r.iter().zip(&c).map(|(a, b)| (a * b).sqrt() * width).sum()
        }
    };
    (1.0 - overlap.clamp(0.0, 1.0)).sqrt()
}
