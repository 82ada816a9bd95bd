//! The rank tests Evidently can be asked for on numerical columns: Anderson-Darling (scipy's
//! `anderson_ksamp`, midrank variant, p-value interpolated from its table and capped to
//! [0.001, 0.25]) and Cramér-von Mises (Evidently's own two-sample version: exact up to 20
//! values per sample, Anderson's asymptotic distribution above).

use crate::special::ln_gamma;
use crate::{DriftError, checked_sorted, next_value};

/// `anderson_ksamp([reference, current])` as `(standardized statistic, p-value)`.
pub fn anderson_darling(reference: &[f64], current: &[f64]) -> Result<(f64, f64), DriftError> {
    let samples = [
        checked_sorted("reference", reference)?,
        checked_sorted("current", current)?,
    ];
    let mut all: Vec<f64> = samples.concat();
    all.sort_by(f64::total_cmp);
    let total = all.len();
    let distinct = crate::binning::distinct_sorted(all.iter().copied());
    if distinct.len() < 2 {
        return Err(DriftError::Constant);
    }
    if total < 4 {
        return Err(DriftError::TooFew { test: "anderson" });
    }
    let n_total = total as f64;
    let mut statistic = 0.0;
    for sample in &samples {
        let n = sample.len() as f64;
        let mut sum = 0.0;
        let (mut below_all, mut below_sample) = (0, 0);
        for &value in &distinct {
            let ties_all = count_equal(&all[below_all..], value);
            let ties_sample = count_equal(&sample[below_sample..], value);
            let lj = ties_all as f64;
            let bj = below_all as f64 + lj / 2.0;
            let mij = (below_sample + ties_sample) as f64 - ties_sample as f64 / 2.0;
            let spread = n_total * mij - bj * n;
            sum += lj / n_total * spread * spread / (bj * (n_total - bj) - n_total * lj / 4.0);
            below_all += ties_all;
            below_sample += ties_sample;
        }
        statistic += sum / n;
    }
    statistic *= (n_total - 1.0) / n_total;

    // Standardize with the variance of Scholz and Stephens (1987), for k = 2 samples.
    let k = 2.0;
    let h_inverse: f64 = samples.iter().map(|s| 1.0 / s.len() as f64).sum();
    let mut harmonic = 0.0; // Σ_{j=2}^{N−1} 1/j, built from the top as scipy's cumsum is
    let mut g = 0.0;
    for (i, j) in (2..total).rev().enumerate() {
        harmonic += 1.0 / j as f64;
        g += harmonic / (i + 2) as f64;
    }
    let h = harmonic + 1.0;
    let a = (4.0 * g - 6.0) * (k - 1.0) + (10.0 - 6.0 * g) * h_inverse;
    let b = (2.0 * g - 4.0) * k * k + 8.0 * h * k + (2.0 * g - 14.0 * h - 4.0) * h_inverse
        - 8.0 * h
        + 4.0 * g
        - 6.0;
    let c = (6.0 * h + 2.0 * g - 2.0) * k * k
        + (4.0 * h - 4.0 * g + 6.0) * k
        + (2.0 * h - 6.0) * h_inverse
        + 4.0 * h;
    let d = (2.0 * h + 6.0) * k * k - 4.0 * h * k;
    let n3 = (total as u64).pow(3) as f64;
    let n2 = (total as u64).pow(2) as f64;
    let variance =
        (a * n3 + b * n2 + c * n_total + d) / ((n_total - 1.0) * (n_total - 2.0) * (n_total - 3.0));
    let standardized = (statistic - (k - 1.0)) / variance.sqrt();

    // scipy's table for k − 1 = 1 degree of freedom, and its log-quadratic interpolation.
    const B0: [f64; 7] = [0.675, 1.281, 1.645, 1.96, 2.326, 2.573, 3.085];
    const B1: [f64; 7] = [-0.245, 0.25, 0.678, 1.149, 1.822, 2.364, 3.615];
    const B2: [f64; 7] = [-0.105, -0.305, -0.362, -0.391, -0.396, -0.345, -0.154];
    const SIGNIFICANCE: [f64; 7] = [0.25, 0.1, 0.05, 0.025, 0.01, 0.005, 0.001];
    let critical: Vec<f64> = (0..7).map(|i| B0[i] + B1[i] / 1.0 + B2[i] / 1.0).collect();
    let lowest = critical.iter().copied().fold(f64::INFINITY, f64::min);
    let highest = critical.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let p = if standardized < lowest {
        0.25
    } else if standardized > highest {
        0.001
    } else {
        let log_significance: Vec<f64> = SIGNIFICANCE.iter().map(|s| s.ln()).collect();
        let [c2, c1, c0] = quadratic_fit(&critical, &log_significance);
        ((c2 * standardized + c1) * standardized + c0).exp()
    };
    if !p.is_finite() || !standardized.is_finite() {
        return Err(DriftError::TooFew { test: "anderson" });
    }
    Ok((standardized, p))
}

fn count_equal(sorted: &[f64], value: f64) -> usize {
    sorted.iter().take_while(|&&v| v == value).count()
}

/// Least-squares coefficients [x², x, 1] of a quadratic through the points (numpy's `polyfit`
/// of degree 2: columns scaled to unit norm, then solved by Householder QR).
fn quadratic_fit(x: &[f64], y: &[f64]) -> [f64; 3] {
    let rows = x.len();
    // Column-major: a[column][row].
    let mut a: Vec<Vec<f64>> = vec![
        x.iter().map(|v| v * v).collect(),
        x.to_vec(),
        vec![1.0; rows],
    ];
    let mut scale = [0.0; 3];
    for (values, s) in a.iter_mut().zip(scale.iter_mut()) {
        *s = values.iter().map(|v| v * v).sum::<f64>().sqrt();
        values.iter_mut().for_each(|v| *v /= *s);
    }
    let mut b = y.to_vec();
    // Householder reflections v vᵀ / |v|² zero each column below its diagonal.
    let reflect = |v: &[f64], target: &mut [f64], from: usize| {
        let v_norm2: f64 = v.iter().map(|e| e * e).sum();
        if v_norm2 == 0.0 {
            return;
        }
        let dot: f64 = v.iter().zip(&target[from..]).map(|(x, y)| x * y).sum();
        for (t, e) in target[from..].iter_mut().zip(v) {
            *t -= 2.0 * dot / v_norm2 * e;
        }
    };
    for column in 0..3 {
        let norm = a[column][column..]
            .iter()
            .map(|e| e * e)
            .sum::<f64>()
            .sqrt();
        let alpha = if a[column][column] > 0.0 { -norm } else { norm };
        let mut v = a[column][column..].to_vec();
        v[0] -= alpha;
        for target in a.iter_mut().skip(column) {
            reflect(&v, target, column);
        }
        reflect(&v, &mut b, column);
    }
    let mut coefficients = [0.0; 3];
    for row in (0..3).rev() {
        let known: f64 = (row + 1..3).map(|c| a[c][row] * coefficients[c]).sum();
        coefficients[row] = (b[row] - known) / a[row][row];
    }
    for (c, s) in coefficients.iter_mut().zip(scale) {
        *c /= s;
    }
    coefficients
}

/// Evidently's `_cvm_2samp` as `(T, p-value)`: T from the average ranks; the p-value exact when
/// neither sample has more than 20 values, else 1 − the limiting CDF at the standardized T
/// (1 below 0.003, never negative).
pub fn cramer_von_mises(reference: &[f64], current: &[f64]) -> Result<(f64, f64), DriftError> {
    let x = checked_sorted("reference", reference)?;
    let y = checked_sorted("current", current)?;
    if x.len() < 2 || y.len() < 2 {
        return Err(DriftError::TooFew {
            test: "cramer_von_mises",
        });
    }
    let (nx, ny) = (x.len(), y.len());
    // Σ (rank − position)² per sample, average ranks for ties, walking both sorted samples.
    let (mut sum_x, mut sum_y) = (0.0, 0.0);
    let (mut i, mut j) = (0, 0);
    while let Some(value) = next_value(&x[i..], &y[j..]) {
        let ties_x = count_equal(&x[i..], value);
        let ties_y = count_equal(&y[j..], value);
        let first_rank = (i + j + 1) as f64;
        let rank = first_rank + (ties_x + ties_y - 1) as f64 / 2.0;
        for position in i + 1..=i + ties_x {
            sum_x += (rank - position as f64).powi(2);
        }
        for position in j + 1..=j + ties_y {
            sum_y += (rank - position as f64).powi(2);
        }
        i += ties_x;
        j += ties_y;
    }
    let u = nx as f64 * sum_x + ny as f64 * sum_y;
    let (k, n) = ((nx * ny) as u128, (nx + ny) as u128);
    let t = u / (k * n) as f64 - (4 * k - 1) as f64 / (6 * n) as f64;
    let p = if nx.max(ny) <= 20 {
        cvm_exact_p(u, nx as u64, ny as u64)
    } else {
        let nf = n as f64;
        let expected = (1.0 + 1.0 / nf) / 6.0;
        let spread = (4 * k * n) as i128 - (3 * (nx * nx + ny * ny)) as i128 - 2 * k as i128;
        let variance = (nf + 1.0) * spread as f64 / (45 * n * n * 4 * k) as f64;
        let standardized = 1.0 / 6.0 + (t - expected) / (45.0 * variance).sqrt();
        if standardized < 0.003 {
            1.0
        } else {
            (1.0 - cvm_limit_cdf(standardized)).max(0.0)
        }
    };
    Ok((t, p))
}

/// The limiting CDF of the Cramér-von Mises statistic (Anderson and Darling 1952), summed
/// until a term falls below 1e-7 as Evidently does.
fn cvm_limit_cdf(x: f64) -> f64 {
    use std::f64::consts::PI;
    let mut total = 0.0;
    let mut k = 0.0_f64;
    loop {
        let u = (ln_gamma(k + 0.5) - ln_gamma(k + 1.0)).exp() / (PI.powf(1.5) * x.sqrt());
        let y = 4.0 * k + 1.0;
        let q = y * y / (16.0 * x);
        let term = u * y.sqrt() * (-q).exp() * bessel_k(0.25, q);
        total += term;
        if term.abs() < 1e-7 {
            return total;
        }
        k += 1.0;
    }
}

/// The modified Bessel function of the second kind K_ν(x), x > 0, from its integral
/// ∫₀^∞ e^(−x cosh t) cosh(νt) dt by the trapezoidal rule, whose error for this analytic,
/// doubly exponentially decaying integrand falls like e^(−π²/h): h = 1/32 is far below double
/// precision.
pub fn bessel_k(nu: f64, x: f64) -> f64 {
    const STEP: f64 = 1.0 / 32.0;
    // Beyond t_max the integrand is below e^(−745) relative to its value at 0.
    let t_max = ((745.0 + x) / x).acosh().max(1.0);
    let steps = (t_max / STEP).ceil() as usize;
    let mut sum = 0.5 * (-x).exp();
    for i in 1..=steps {
        let t = i as f64 * STEP;
        sum += (-x * t.cosh()).exp() * (nu * t).cosh();
    }
    sum * STEP
}

/// P(U ≥ u) for samples of m and n values under the null: the share of the C(m+n, n) lattice
/// paths whose sum of (a·v − b·w)² over the points they visit reaches Evidently's threshold,
/// counted exactly by dynamic programming over (w, v) with each point's distribution of sums.
fn cvm_exact_p(u: f64, m: u64, n: u64) -> f64 {
    let lcm = m / gcd(m, n) * n;
    let mn = m * n;
    let zeta = ((lcm * lcm * (m + n)) as f64 * (6.0 * u - (mn * (4 * mn - 1)) as f64)
        / (6 * mn * mn) as f64)
        .floor();
    let reaching: u64 = path_sums(m, n)
        .iter()
        .filter(|&(&sum, _)| sum as f64 >= zeta)
        .map(|(_, &count)| count)
        .sum();
    reaching as f64 / binomial(m + n, n)
}

/// The distribution (sum → number of paths) of Σ (a·v − b·w)² over the points a lattice path
/// from (0, 0) to (n, m) visits, a = lcm/m, b = lcm/n.
fn path_sums(m: u64, n: u64) -> std::collections::BTreeMap<u64, u64> {
    use std::collections::BTreeMap;
    let lcm = m / gcd(m, n) * n;
    let (a, b) = (lcm / m, lcm / n);
    // sums[v]: distribution (sum → number of paths) of paths reaching (w, v).
    let mut sums: Vec<BTreeMap<u64, u64>> = vec![BTreeMap::new(); m as usize + 1];
    for w in 0..=n {
        let mut carried: BTreeMap<u64, u64> = BTreeMap::new();
        for v in 0..=m {
            // Paths arrive from (w − 1, v) (kept in sums[v]) and from (w, v − 1) (carried).
            let mut here = std::mem::take(&mut sums[v as usize]);
            if w == 0 && v == 0 {
                here.insert(0, 1);
            }
            for (sum, count) in carried {
                *here.entry(sum).or_insert(0) += count;
            }
            let step = (a * v).abs_diff(b * w).pow(2);
            carried = here.into_iter().map(|(s, c)| (s + step, c)).collect();
            sums[v as usize] = carried.clone();
        }
    }
    std::mem::take(&mut sums[m as usize])
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// C(n, k) as a double, exact while it fits 53 bits (n ≤ 40 here).
fn binomial(n: u64, k: u64) -> f64 {
    let mut value: u128 = 1;
    for i in 0..k {
        value = value * (n - i) as u128 / (i + 1) as u128;
    }
    value as f64
}

#[cfg(test)]
mod unit {
    use super::*;

    #[test]
    fn bessel_k_matches_its_closed_form_at_one_half() {
        // K_{1/2}(x) = √(π / 2x) e^(−x).
        for x in [1e-3, 0.05, 0.5, 1.0, 3.0, 10.0, 40.0] {
            let expected = (std::f64::consts::PI / (2.0 * x)).sqrt() * (-x).exp();
            let got = bessel_k(0.5, x);
            assert!(
                (got / expected - 1.0).abs() < 1e-13,
                "x={x}: {got} vs {expected}"
            );
        }
    }

    #[test]
    fn the_quadratic_fit_recovers_a_quadratic() {
        let x = [0.3, 1.0, 1.7, 2.2, 3.1];
        let y: Vec<f64> = x.iter().map(|v| 2.0 * v * v - 3.0 * v + 0.5).collect();
        let [c2, c1, c0] = quadratic_fit(&x, &y);
        assert!((c2 - 2.0).abs() < 1e-12 && (c1 + 3.0).abs() < 1e-12 && (c0 - 0.5).abs() < 1e-12);
    }

    #[test]
    fn the_path_sums_are_those_of_every_path_enumerated() {
        for (m, n) in [(5_u64, 4_u64), (8, 6), (6, 6), (3, 7)] {
            let lcm = m / gcd(m, n) * n;
            let (a, b) = (lcm / m, lcm / n);
            let mut brute: std::collections::BTreeMap<u64, u64> = Default::default();
            // Each path is the set of its steps (out of m + n) that advance v.
            for mask in 0_u32..(1 << (m + n)) {
                if u64::from(mask.count_ones()) != m {
                    continue;
                }
                let (mut v, mut w, mut sum) = (0_u64, 0_u64, 0_u64);
                for step in 0..m + n {
                    if mask & (1 << step) != 0 {
                        v += 1;
                    } else {
                        w += 1;
                    }
                    sum += (a * v).abs_diff(b * w).pow(2);
                }
                *brute.entry(sum).or_insert(0) += 1;
            }
            assert_eq!(path_sums(m, n), brute, "m={m} n={n}");
        }
    }

    #[test]
    fn the_exact_cvm_distribution_sums_to_one() {
        // At u = 0 every path reaches the threshold.
        assert_eq!(cvm_exact_p(0.0, 5, 4), 1.0);
    }
}
