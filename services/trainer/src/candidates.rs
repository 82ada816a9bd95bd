//! The candidates compared on cross-validation: the best boosted model per objective, two
//! baselines, and a blend chosen by greedy ensemble selection.

use std::collections::HashMap;

use chrono::{Datelike, NaiveDateTime, Timelike};
use serde::Serialize;
use velocast_trees::ridge::{RidgeParams, fit_ridge};
use velocast_trees::{GbdtParams, Link};

use crate::config::Metric;
use crate::metrics::Scores;
use crate::search::FoldData;

/// How a candidate is built.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Spec {
    Gbdt {
        params: GbdtParams,
    },
    /// Ridge on one-hot features, log1p target.
    Ridge {
        alpha: f64,
        features: Vec<String>,
    },
    /// Last observed count at the same weekday and hour. Needs recent counts, which a request
    /// does not carry, so it is a yardstick and never served.
    SeasonalNaive,
    /// Weighted sum of other candidates' counts.
    Blend {
        weights: Vec<(String, f64)>,
    },
}

/// A candidate with its cross-validation results.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    pub name: String,
    pub spec: Spec,
    /// Whether it can be exported and served from a request alone.
    pub servable: bool,
    pub fold_scores: Vec<Scores>,
    /// Mean of the selection metric over folds.
    pub cv_score: f64,
    #[serde(skip)]
    pub out_of_fold: Vec<f64>,
}

impl Candidate {
    pub fn new(
        name: &str,
        spec: Spec,
        servable: bool,
        out_of_fold: Vec<f64>,
        folds: &[FoldData],
        metric: Metric,
    ) -> Self {
        let fold_scores = score_folds(&out_of_fold, folds);
        let cv_score = mean_metric(&fold_scores, metric);
        Candidate {
            name: name.to_owned(),
            spec,
            servable,
            fold_scores,
            cv_score,
            out_of_fold,
        }
    }
}

fn score_folds(out_of_fold: &[f64], folds: &[FoldData]) -> Vec<Scores> {
    let mut start = 0;
    folds
        .iter()
        .map(|fold| {
            let end = (start + fold.validate_y.len()).min(out_of_fold.len());
            let scores = Scores::of(&out_of_fold[start..end], &fold.validate_y);
            start = end;
            scores
        })
        .collect()
}

fn mean_metric(fold_scores: &[Scores], metric: Metric) -> f64 {
    if fold_scores.is_empty() {
        return f64::INFINITY;
    }
    fold_scores.iter().map(|s| s.get(metric)).sum::<f64>() / fold_scores.len() as f64
}

pub fn ridge_params(alpha: f64, features: &[String]) -> RidgeParams {
    let names = velocast_features::Signature::current();
    let names = names.feature_names();
    RidgeParams {
        categorical_features: features
            .iter()
            .filter_map(|f| names.iter().position(|n| n == f))
            .collect(),
        alpha,
        link: Link::Log1p,
    }
}

/// Ridge on each fold.
pub fn ridge(folds: &[FoldData], alpha: f64, features: &[String], metric: Metric) -> Candidate {
    let params = ridge_params(alpha, features);
    let out_of_fold: Vec<f64> = folds
        .iter()
        .flat_map(|fold| {
            let fitted = fold
                .train()
                .zip(fold.validate())
                .and_then(|(train, validate)| {
                    Some((fit_ridge(train, &fold.train_y, &params).ok()?, validate))
                });
            match fitted {
                Some((ensemble, validate)) => (0..validate.rows())
                    .map(|r| ensemble.predict(validate.row(r)))
                    .collect(),
                None => vec![f64::INFINITY; fold.validate_y.len()],
            }
        })
        .collect();
    Candidate::new(
        "ridge_log1p",
        Spec::Ridge {
            alpha,
            features: features.to_vec(),
        },
        true,
        out_of_fold,
        folds,
        metric,
    )
}

/// Predictions of the seasonal-naive rule fitted on `history`.
pub fn seasonal_naive_predict(
    history_t: &[NaiveDateTime],
    history_y: &[f64],
    at: &[NaiveDateTime],
) -> Vec<f64> {
    let key = |t: &NaiveDateTime| (t.weekday().num_days_from_sunday(), t.hour());
    let mut last: HashMap<(u32, u32), (NaiveDateTime, f64)> = HashMap::new();
    for (t, y) in history_t.iter().zip(history_y) {
        let entry = last.entry(key(t)).or_insert((*t, *y));
        if *t >= entry.0 {
            *entry = (*t, *y);
        }
    }
    let mean = if history_y.is_empty() {
        0.0
    } else {
        history_y.iter().sum::<f64>() / history_y.len() as f64
    };
    at.iter()
        .map(|t| last.get(&key(t)).map_or(mean, |v| v.1))
        .collect()
}

pub fn seasonal_naive(folds: &[FoldData], metric: Metric) -> Candidate {
    let out_of_fold: Vec<f64> = folds
        .iter()
        .flat_map(|fold| seasonal_naive_predict(&fold.train_t, &fold.train_y, &fold.validate_t))
        .collect();
    Candidate::new(
        "seasonal_naive",
        Spec::SeasonalNaive,
        false,
        out_of_fold,
        folds,
        metric,
    )
}

/// Greedy ensemble selection with replacement (Caruana et al., 2004) over servable candidates'
/// out-of-fold predictions: `steps` times, add the member that most improves the CV score.
/// Weights are multiples of 1/steps, rounded to f32 (what the exported model multiplies by).
/// Returns `None` when fewer than two candidates end up in it.
pub fn blend(
    candidates: &[&Candidate],
    folds: &[FoldData],
    steps: usize,
    metric: Metric,
) -> Option<Candidate> {
    let usable: Vec<&Candidate> = candidates
        .iter()
        .copied()
        .filter(|c| c.servable && c.out_of_fold.iter().all(|v| v.is_finite()))
        .collect();
    if usable.len() < 2 {
        return None;
    }
    let rows = usable[0].out_of_fold.len();
    let mut counts = vec![0_usize; usable.len()];
    let mut sum = vec![0.0; rows];
    for step in 1..=steps {
        let best = usable
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let trial: Vec<f64> = sum
                    .iter()
                    .zip(&c.out_of_fold)
                    .map(|(s, p)| (s + p) / step as f64)
                    .collect();
                (i, mean_metric(&score_folds(&trial, folds), metric))
            })
            .min_by(|a, b| a.1.total_cmp(&b.1))?;
        counts[best.0] += 1;
        for (s, p) in sum.iter_mut().zip(&usable[best.0].out_of_fold) {
            *s += p;
        }
    }
    let weights: Vec<(String, f64)> = usable
        .iter()
        .zip(&counts)
        .filter(|(_, n)| **n > 0)
        .map(|(c, n)| (c.name.clone(), f64::from((*n as f64 / steps as f64) as f32)))
        .collect();
    if weights.len() < 2 {
        return None;
    }
    let by_name: HashMap<&str, &Candidate> = usable.iter().map(|c| (c.name.as_str(), *c)).collect();
    let out_of_fold: Vec<f64> = (0..rows)
        .map(|r| {
            weights
                .iter()
                .map(|(name, w)| w * by_name[name.as_str()].out_of_fold[r])
                .sum::<f64>()
                .max(0.0)
        })
        .collect();
    Some(Candidate::new(
        "blend",
        Spec::Blend { weights },
        true,
        out_of_fold,
        folds,
        metric,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, NaiveDate};

    fn fold(validate_y: Vec<f64>) -> FoldData {
        FoldData {
            train_x: vec![],
            train_y: vec![],
            validate_x: vec![],
            validate_y,
            n_features: 1,
            train_t: vec![],
            validate_t: vec![],
        }
    }

    #[test]
    fn seasonal_naive_repeats_the_latest_same_hour_of_week() {
        let start = NaiveDate::from_ymd_opt(2012, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let history_t: Vec<NaiveDateTime> =
            (0..(14 * 24)).map(|h| start + Duration::hours(h)).collect();
        let history_y: Vec<f64> = (0..(14 * 24)).map(f64::from).collect();
        let at = [
            start + Duration::hours(14 * 24 + 5),
            start + Duration::hours(15 * 24 + 8),
        ];
        // Two weeks of history: the second week's values win.
        assert_eq!(
            seasonal_naive_predict(&history_t, &history_y, &at),
            vec![(7 * 24 + 5) as f64, (8 * 24 + 8) as f64]
        );
    }

    #[test]
    fn blend_of_complementary_errors_beats_both_members() {
        let actual = vec![10.0, 20.0, 30.0, 40.0];
        let folds = vec![fold(actual.clone())];
        let high = Candidate::new(
            "high",
            Spec::SeasonalNaive,
            true,
            actual.iter().map(|a| a + 4.0).collect(),
            &folds,
            Metric::Mae,
        );
        let low = Candidate::new(
            "low",
            Spec::SeasonalNaive,
            true,
            actual.iter().map(|a| a - 4.0).collect(),
            &folds,
            Metric::Mae,
        );
        let blend = blend(&[&high, &low], &folds, 10, Metric::Mae).unwrap();
        let Spec::Blend { weights } = &blend.spec else {
            panic!()
        };
        assert_eq!(
            weights.iter().map(|w| w.1).collect::<Vec<_>>(),
            vec![0.5, 0.5]
        );
        assert!(blend.cv_score < 1e-9, "{}", blend.cv_score);
        assert_eq!(high.cv_score, 4.0);
    }

    #[test]
    fn blend_is_skipped_when_one_member_dominates_or_is_unservable() {
        let actual = vec![10.0, 20.0];
        let folds = vec![fold(actual.clone())];
        let good = Candidate::new(
            "good",
            Spec::SeasonalNaive,
            true,
            actual.clone(),
            &folds,
            Metric::Mae,
        );
        let bad = Candidate::new(
            "bad",
            Spec::SeasonalNaive,
            true,
            vec![0.0, 0.0],
            &folds,
            Metric::Mae,
        );
        assert!(blend(&[&good, &bad], &folds, 10, Metric::Mae).is_none());
        let naive = Candidate::new(
            "naive",
            Spec::SeasonalNaive,
            false,
            vec![11.0, 19.0],
            &folds,
            Metric::Mae,
        );
        assert!(blend(&[&good, &naive], &folds, 10, Metric::Mae).is_none());
    }
}
