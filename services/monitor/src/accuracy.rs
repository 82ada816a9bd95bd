//! Realized accuracy: errors of answered rows against their outcomes, per model version and
//! A/B arm, and arms compared.
//!
//! The comparison is Welch's two-sample t-test on the absolute errors of two arms: it asks
//! whether the arms' mean absolute errors differ, without assuming equal variances. It assumes
//! the rows are independent (hours of one day are not quite: treat the interval as optimistic)
//! and leans on the central limit theorem for the means (absolute errors are skewed; with a few
//! dozen rows per arm the t approximation is good). Arms split by a sticky hash of the caller,
//! so each arm sees its own callers' hours: the test compares the arms as deployed, not the
//! models on identical rows.

use serde::Serialize;
use utoipa::ToSchema;
use velocast_drift::special::{student_t_quantile, student_t_sf};

/// MAE, RMSE and RMSLE of `n` scored rows. RMSLE clips negative predictions at 0, as the
/// trainer's metrics do.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ErrorStats {
    pub n: usize,
    pub mae: f64,
    pub rmse: f64,
    pub rmsle: f64,
}

impl ErrorStats {
    /// `None` for no rows.
    pub fn of(pairs: &[(f64, f64)]) -> Option<ErrorStats> {
        if pairs.is_empty() {
            return None;
        }
        let n = pairs.len() as f64;
        let (mut absolute, mut squared, mut log_squared) = (0.0, 0.0, 0.0);
        for &(predicted, actual) in pairs {
            let error = predicted - actual;
            absolute += error.abs();
            squared += error * error;
            let log_error = predicted.max(0.0).ln_1p() - actual.ln_1p();
            log_squared += log_error * log_error;
        }
        Some(ErrorStats {
            n: pairs.len(),
            mae: absolute / n,
            rmse: (squared / n).sqrt(),
            rmsle: (log_squared / n).sqrt(),
        })
    }
}

/// Arm `a` against arm `b`: the difference of their mean absolute errors (a − b; negative: a
/// is more accurate), its 95 % confidence interval and the two-sided p-value of Welch's t-test.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ArmComparison {
    pub a: String,
    pub b: String,
    pub mae_difference: f64,
    pub ci95_low: f64,
    pub ci95_high: f64,
    pub p_value: f64,
    pub degrees_of_freedom: f64,
    pub test: &'static str,
}

fn mean_and_variance(values: &[f64]) -> (f64, f64) {
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (mean, variance)
}

/// Welch's test on two samples of absolute errors; `None` when either has fewer than two rows
/// or both have no spread (nothing to test).
pub fn compare(a: (&str, &[f64]), b: (&str, &[f64])) -> Option<ArmComparison> {
    let (name_a, errors_a) = a;
    let (name_b, errors_b) = b;
    if errors_a.len() < 2 || errors_b.len() < 2 {
        return None;
    }
    let (mean_a, variance_a) = mean_and_variance(errors_a);
    let (mean_b, variance_b) = mean_and_variance(errors_b);
    let (n_a, n_b) = (errors_a.len() as f64, errors_b.len() as f64);
    let (share_a, share_b) = (variance_a / n_a, variance_b / n_b);
    let standard_error = (share_a + share_b).sqrt();
    if standard_error == 0.0 {
        return None;
    }
    let degrees_of_freedom = (share_a + share_b).powi(2)
        / (share_a.powi(2) / (n_a - 1.0) + share_b.powi(2) / (n_b - 1.0));
    let difference = mean_a - mean_b;
    let t = difference / standard_error;
    let p_value = (2.0 * student_t_sf(t.abs(), degrees_of_freedom)).min(1.0);
    let margin = student_t_quantile(0.975, degrees_of_freedom) * standard_error;
    Some(ArmComparison {
        a: name_a.to_owned(),
        b: name_b.to_owned(),
        mae_difference: difference,
        ci95_low: difference - margin,
        ci95_high: difference + margin,
        p_value,
        degrees_of_freedom,
        test: "Welch's t-test on absolute errors (two-sided, 95 % interval)",
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_stats_are_the_textbook_ones() {
        let stats = ErrorStats::of(&[(10.0, 8.0), (5.0, 9.0), (-1.0, 0.0)]).unwrap();
        assert_eq!(stats.n, 3);
        assert!((stats.mae - 7.0 / 3.0).abs() < 1e-12);
        assert!((stats.rmse - (21.0_f64 / 3.0).sqrt()).abs() < 1e-12);
        let log = [11f64.ln() - 9f64.ln(), 6f64.ln() - 10f64.ln(), 0.0];
        let rmsle = (log.iter().map(|v| v * v).sum::<f64>() / 3.0).sqrt();
        assert!((stats.rmsle - rmsle).abs() < 1e-12);
        assert!(ErrorStats::of(&[]).is_none());
    }

    #[test]
    fn welch_matches_scipy() {
        // scipy 1.17: ttest_ind(a, b, equal_var=False): t 2.2831482556870477,
        // p 0.05675092592187574, df 6.928837482846501, confidence_interval() (-0.2649221891890887,
        // 14.26492218918909).
        let a = [19.0, 22.0, 16.0, 29.0, 24.0];
        let b = [20.0, 11.0, 17.0, 12.0];
        let result = compare(("a", &a), ("b", &b)).unwrap();
        let close =
            |got: f64, expected: f64| (got - expected).abs() <= 1e-9 * expected.abs().max(1.0);
        assert!(
            close(result.degrees_of_freedom, 6.928_837_482_846_501),
            "{result:?}"
        );
        assert!(close(result.mae_difference, 7.0), "{result:?}");
        assert!(
            close(result.p_value, 0.056_750_925_921_875_74),
            "{result:?}"
        );
        assert!(
            close(result.ci95_low, -0.264_922_189_189_088_7),
            "{result:?}"
        );
        assert!(close(result.ci95_high, 14.264_922_189_189_09), "{result:?}");
        assert!(compare(("a", &[1.0]), ("b", &b)).is_none());
    }
}
