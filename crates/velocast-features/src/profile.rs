//! The reference profile drift monitoring compares live traffic against: the trainer builds
//! it, the registry stores it beside the model, the monitor reads it.
//!
//! It keeps every training value of every feature (about 14,500 rows here), so K-S, normed
//! Wasserstein, PSI, Jensen-Shannon and chi-square can be computed exactly rather than from a
//! lossy sketch; category counts and summary statistics are there for people.

use std::collections::BTreeMap;

use crate::{FeatureKind, FeatureVector, Signature};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub count: usize,
    pub mean: f64,
    pub std: f64,
    pub min: f64,
    pub p05: f64,
    pub p25: f64,
    pub p50: f64,
    pub p75: f64,
    pub p95: f64,
    pub max: f64,
}

impl Summary {
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let n = sorted.len() as f64;
        let mean = sorted.iter().sum::<f64>() / n;
        let variance = sorted.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
        // Linear interpolation between order statistics (NumPy's default).
        let quantile = |q: f64| {
            let position = q * (n - 1.0);
            let low = position.floor() as usize;
            let high = position.ceil() as usize;
            sorted[low] + (sorted[high] - sorted[low]) * (position - low as f64)
        };
        Some(Summary {
            count: sorted.len(),
            mean,
            std: variance.sqrt(),
            min: sorted[0],
            p05: quantile(0.05),
            p25: quantile(0.25),
            p50: quantile(0.5),
            p75: quantile(0.75),
            p95: quantile(0.95),
            max: sorted[sorted.len() - 1],
        })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureProfile {
    pub name: String,
    pub kind: FeatureKind,
    pub summary: Option<Summary>,
    /// Value → count, for categorical and binary features.
    pub categories: Option<BTreeMap<String, usize>>,
    /// Every training value, in time order.
    pub values: Vec<f32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SeriesProfile {
    pub summary: Option<Summary>,
    pub values: Vec<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReferenceProfile {
    pub profile_version: u32,
    pub signature_hash: String,
    /// What the values are: the training part of the split.
    pub source: String,
    pub rows: usize,
    pub features: Vec<FeatureProfile>,
    /// Observed counts.
    pub target: SeriesProfile,
    /// The model's own predictions on the same rows (prediction drift compares against these).
    pub predictions: SeriesProfile,
}

pub fn build(features: &[FeatureVector], target: &[f64], predictions: &[f64]) -> ReferenceProfile {
    let signature = Signature::current();
    let profiles = signature
        .features
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let values: Vec<f32> = features.iter().map(|row| row[i]).collect();
            let as_f64: Vec<f64> = values.iter().map(|v| f64::from(*v)).collect();
            let categories = matches!(spec.kind, FeatureKind::Categorical | FeatureKind::Binary)
                .then(|| {
                    let mut counts = BTreeMap::new();
                    for v in &values {
                        *counts.entry(format!("{v}")).or_insert(0) += 1;
                    }
                    counts
                });
            FeatureProfile {
                name: spec.name.clone(),
                kind: spec.kind,
                summary: Summary::of(&as_f64),
                categories,
                values,
            }
        })
        .collect();
    ReferenceProfile {
        profile_version: 1,
        signature_hash: signature.hash,
        source: "training part of the split (rows before the holdout)".into(),
        rows: features.len(),
        features: profiles,
        target: SeriesProfile {
            summary: Summary::of(target),
            values: target.to_vec(),
        },
        predictions: SeriesProfile {
            summary: Summary::of(predictions),
            values: predictions.to_vec(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_matches_numpy_conventions() {
        let s = Summary::of(&[1.0, 2.0, 3.0, 4.0, 5.0]).unwrap();
        assert_eq!(
            (s.min, s.p25, s.p50, s.p75, s.max, s.mean),
            (1.0, 2.0, 3.0, 4.0, 5.0, 3.0)
        );
        assert!((s.std - 2.5_f64.sqrt()).abs() < 1e-12); // sample std
        assert!((s.p05 - 1.2).abs() < 1e-12);
        assert!(Summary::of(&[]).is_none());
    }

    #[test]
    fn profile_keeps_every_value_and_counts_categories() {
        let mut rows = vec![[0.0_f32; crate::FEATURE_COUNT]; 3];
        rows[0][crate::index::HOUR] = 8.0;
        rows[1][crate::index::HOUR] = 8.0;
        rows[2][crate::index::HOUR] = 17.0;
        let profile = build(&rows, &[1.0, 2.0, 3.0], &[1.5, 2.5, 2.5]);
        let hour = &profile.features[crate::index::HOUR];
        assert_eq!(hour.values, vec![8.0, 8.0, 17.0]);
        let categories = hour.categories.as_ref().unwrap();
        assert_eq!((categories["8"], categories["17"]), (2, 1));
        assert!(
            profile.features[crate::index::TEMPERATURE]
                .categories
                .is_none()
        );
        assert_eq!(profile.rows, 3);
        assert_eq!(profile.target.summary.as_ref().unwrap().mean, 2.0);
    }
}
