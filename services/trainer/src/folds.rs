//! Cross-validation folds over the training part only: expanding windows in time order for the
//! temporal split, seeded shuffled folds for the random one.

use chrono::Duration;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use rand_chacha::ChaCha8Rng;
use serde::Serialize;
use velocast_dataset::TrainingTable;

use crate::config::{CvConfig, SplitKind};

/// Row indices of one fold.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Fold {
    #[serde(skip)]
    pub train: Vec<usize>,
    #[serde(skip)]
    pub validate: Vec<usize>,
    pub train_rows: usize,
    pub validate_rows: usize,
    pub validate_from: Option<chrono::NaiveDateTime>,
    pub validate_to: Option<chrono::NaiveDateTime>,
}

impl Fold {
    fn new(table: &TrainingTable, train: Vec<usize>, validate: Vec<usize>, temporal: bool) -> Fold {
        let (validate_from, validate_to) = if temporal {
            (
                validate.first().map(|&i| table.timestamps[i]),
                validate.last().map(|&i| table.timestamps[i]),
            )
        } else {
            (None, None)
        };
        Fold {
            train_rows: train.len(),
            validate_rows: validate.len(),
            train,
            validate,
            validate_from,
            validate_to,
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FoldError {
    #[error(
        "fold {fold}: {what} is empty; the training part is too short for {folds} folds of {days} days"
    )]
    Empty {
        fold: usize,
        what: &'static str,
        folds: usize,
        days: i64,
    },
}

/// Folds over `table` (which must already exclude the holdout), smallest training set first.
pub fn folds(
    table: &TrainingTable,
    config: &CvConfig,
    kind: SplitKind,
    seed: u64,
) -> Result<Vec<Fold>, FoldError> {
    match kind {
        SplitKind::Temporal => expanding_windows(table, config),
        SplitKind::Random => Ok(shuffled(table, config.folds, seed)),
    }
}

/// The last `folds` windows of `validation_days` each; fold k trains on everything before its
/// window (less the gap).
fn expanding_windows(table: &TrainingTable, config: &CvConfig) -> Result<Vec<Fold>, FoldError> {
    let Some(&end) = table.timestamps.last() else {
        return Err(FoldError::Empty {
            fold: 0,
            what: "the training part",
            folds: config.folds,
            days: config.validation_days,
        });
    };
    let end = end + Duration::hours(1);
    let window = Duration::days(config.validation_days);
    let gap = Duration::hours(config.gap_hours);
    let mut result = Vec::with_capacity(config.folds);
    for k in (0..config.folds).rev() {
        let validate_end = end - window * k as i32;
        let validate_start = validate_end - window;
        let train_end = validate_start - gap;
        let train: Vec<usize> = (0..table.len())
            .filter(|&i| table.timestamps[i] < train_end)
            .collect();
        let validate: Vec<usize> = (0..table.len())
            .filter(|&i| {
                table.timestamps[i] >= validate_start && table.timestamps[i] < validate_end
            })
            .collect();
        let fold = result.len();
        for (what, rows) in [
            ("the training window", &train),
            ("the validation window", &validate),
        ] {
            if rows.is_empty() {
                return Err(FoldError::Empty {
                    fold,
                    what,
                    folds: config.folds,
                    days: config.validation_days,
                });
            }
        }
        result.push(Fold::new(table, train, validate, true));
    }
    Ok(result)
}

fn shuffled(table: &TrainingTable, folds: usize, seed: u64) -> Vec<Fold> {
    let mut order: Vec<usize> = (0..table.len()).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    (0..folds)
        .map(|k| {
            let mut validate: Vec<usize> = order.iter().copied().skip(k).step_by(folds).collect();
            validate.sort_unstable();
            let mut train: Vec<usize> = order
                .iter()
                .copied()
                .enumerate()
                .filter(|(i, _)| i % folds != k)
                .map(|(_, r)| r)
                .collect();
            train.sort_unstable();
            Fold::new(table, train, validate, false)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn hourly(days: i64) -> TrainingTable {
        let start = NaiveDate::from_ymd_opt(2011, 1, 1)
            .unwrap()
            .and_hms_opt(0, 0, 0)
            .unwrap();
        let n = (days * 24) as usize;
        TrainingTable {
            timestamps: (0..n).map(|h| start + Duration::hours(h as i64)).collect(),
            features: vec![[0.0; velocast_features::FEATURE_COUNT]; n],
            target: vec![1.0; n],
            requests: Vec::new(),
        }
    }

    #[test]
    fn expanding_windows_never_look_ahead() {
        let table = hourly(365);
        let config = CvConfig {
            folds: 3,
            validation_days: 30,
            gap_hours: 24,
        };
        let folds = folds(&table, &config, SplitKind::Temporal, 0).unwrap();
        assert_eq!(folds.len(), 3);
        for (k, fold) in folds.iter().enumerate() {
            assert_eq!(fold.validate_rows, 30 * 24);
            let last_train = table.timestamps[*fold.train.last().unwrap()];
            let first_validate = table.timestamps[fold.validate[0]];
            assert_eq!(first_validate - last_train, Duration::hours(25));
            if k > 0 {
                assert!(fold.train_rows > folds[k - 1].train_rows);
                assert_eq!(fold.validate[0], folds[k - 1].validate.last().unwrap() + 1);
            }
        }
        assert_eq!(*folds[2].validate.last().unwrap(), table.len() - 1);
    }

    #[test]
    fn too_short_a_history_is_an_error() {
        let table = hourly(50);
        let config = CvConfig {
            folds: 3,
            validation_days: 20,
            gap_hours: 0,
        };
        assert!(matches!(
            folds(&table, &config, SplitKind::Temporal, 0),
            Err(FoldError::Empty { fold: 0, .. })
        ));
    }

    #[test]
    fn shuffled_folds_partition_the_rows() {
        let table = hourly(10);
        let folds = folds(
            &table,
            &CvConfig {
                folds: 4,
                validation_days: 7,
                gap_hours: 0,
            },
            SplitKind::Random,
            3,
        )
        .unwrap();
        let mut seen: Vec<usize> = folds.iter().flat_map(|f| f.validate.clone()).collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..table.len()).collect::<Vec<_>>());
        for fold in &folds {
            assert_eq!(fold.train_rows + fold.validate_rows, table.len());
        }
    }
}
