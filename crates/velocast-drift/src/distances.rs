//! The distances, computed as scipy computes them.

use crate::{next_value, sorted};

/// The mean of `values` (numpy's `mean`).
fn mean(values: &[f64]) -> f64 {
    values.iter().sum::<f64>() / values.len() as f64
}

/// The population standard deviation (numpy's `std`, `ddof = 0`).
fn std(values: &[f64]) -> f64 {
    let m = mean(values);
    (values.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / values.len() as f64).sqrt()
}

/// scipy's `_cdf_distance(p, u, v)`: the `p`-th power distance between the two empirical
/// CDFs (`p` = 1: Wasserstein; `p` = 2: the energy distance over √2), walking both sorted
/// samples together: between consecutive distinct values the CDFs are constant.
fn cdf_distance(p: i32, u: &[f64], v: &[f64]) -> f64 {
    let (u, v) = (sorted(u), sorted(v));
    let (nu, nv) = (u.len() as f64, v.len() as f64);
    let (mut i, mut j) = (0, 0);
    let mut total = 0.0;
    let mut at = match next_value(&u, &v) {
        Some(first) => first,
        None => return 0.0,
    };
    loop {
        while i < u.len() && u[i] <= at {
            i += 1;
        }
        while j < v.len() && v[j] <= at {
            j += 1;
        }
        let Some(next) = next_value(&u[i..], &v[j..]) else {
            break;
        };
        let gap = (i as f64 / nu - j as f64 / nv).abs();
        total += if p == 1 { gap } else { gap.powi(p) } * (next - at);
        at = next;
    }
    total.powf(1.0 / f64::from(p))
}

/// scipy's `wasserstein_distance(u, v)`: the area between the two empirical CDFs.
pub fn wasserstein_distance(u: &[f64], v: &[f64]) -> f64 {
    cdf_distance(1, u, v)
}

/// scipy's `energy_distance(u, v)`: √2 times the L² distance between the empirical CDFs.
pub fn energy_distance(u: &[f64], v: &[f64]) -> f64 {
    std::f64::consts::SQRT_2 * cdf_distance(2, u, v)
}

/// Evidently's `wasserstein`: the distance over the reference's standard deviation (at least
/// 0.001, so a constant reference does not divide by zero).
pub fn wasserstein_normed(reference: &[f64], current: &[f64]) -> f64 {
    wasserstein_distance(reference, current) / std(reference).max(0.001)
}

/// scipy's `rel_entr(x, y)`.
fn rel_entr(x: f64, y: f64) -> f64 {
    if x > 0.0 && y > 0.0 {
        x * (x / y).ln()
    } else if x == 0.0 && y >= 0.0 {
        0.0
    } else {
        f64::INFINITY
    }
}

fn normalized(shares: &[f64]) -> Vec<f64> {
    let total: f64 = shares.iter().sum();
    shares.iter().map(|s| s / total).collect()
}

/// scipy's `distance.jensenshannon(p, q)` (natural logarithm).
pub fn jensen_shannon(p: &[f64], q: &[f64]) -> f64 {
    let (p, q) = (normalized(p), normalized(q));
    let divergence: f64 = p
        .iter()
        .zip(&q)
        .map(|(&a, &b)| {
            let m = (a + b) / 2.0;
            rel_entr(a, m) + rel_entr(b, m)
        })
        .sum();
    (divergence / 2.0).sqrt()
}

/// Evidently's PSI: Σ (r − c) · ln(r / c) over the (zero-filled) shares.
pub fn psi(reference: &[f64], current: &[f64]) -> f64 {
    reference
        .iter()
        .zip(current)
        .map(|(&r, &c)| (r - c) * (r / c).ln())
        .sum()
}

/// scipy's `stats.entropy(reference, current)`: the Kullback-Leibler divergence of the
/// normalized shares.
pub fn kl_divergence(reference: &[f64], current: &[f64]) -> f64 {
    let (p, q) = (normalized(reference), normalized(current));
    p.iter().zip(&q).map(|(&a, &b)| rel_entr(a, b)).sum()
}
