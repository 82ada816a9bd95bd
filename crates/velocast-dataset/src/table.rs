//! The training table: rows that passed the quality report, in time order, as f32 features.

use chrono::NaiveDateTime;
use velocast_features::{DemandRequest, FeatureVector, features_of_valid};

use crate::record::HourRecord;

/// Features, target and timestamps of every row, sorted by time.
#[derive(Debug, Clone, Default)]
pub struct TrainingTable {
    pub timestamps: Vec<NaiveDateTime>,
    pub features: Vec<FeatureVector>,
    /// The request each row came from, in physical units (golden rows replay these).
    pub requests: Vec<DemandRequest>,
    /// `cnt`.
    pub target: Vec<f64>,
}

impl TrainingTable {
    /// Builds the table from records. Rows that cannot form a request or have no target are
    /// skipped; the quality report makes those a hard violation before this is called.
    pub fn from_records(records: &[HourRecord]) -> Self {
        let mut rows: Vec<(NaiveDateTime, FeatureVector, f64, DemandRequest)> = records
            .iter()
            .filter_map(|record| {
                let request = record.to_request()?;
                let count = record.cnt?;
                Some((
                    record.timestamp(),
                    features_of_valid(&request),
                    count as f64,
                    request,
                ))
            })
            .collect();
        rows.sort_by_key(|row| row.0);
        let mut table = TrainingTable::default();
        for (timestamp, features, target, request) in rows {
            table.timestamps.push(timestamp);
            table.requests.push(request);
            table.features.push(features);
            table.target.push(target);
        }
        table
    }

    pub fn len(&self) -> usize {
        self.target.len()
    }

    pub fn is_empty(&self) -> bool {
        self.target.is_empty()
    }

    /// The rows at `indices`, in that order.
    pub fn select(&self, indices: &[usize]) -> TrainingTable {
        TrainingTable {
            timestamps: indices.iter().map(|&i| self.timestamps[i]).collect(),
            features: indices.iter().map(|&i| self.features[i]).collect(),
            target: indices.iter().map(|&i| self.target[i]).collect(),
            // Tables built by hand (tests) may carry no requests.
            requests: if self.requests.is_empty() {
                Vec::new()
            } else {
                indices.iter().map(|&i| self.requests[i].clone()).collect()
            },
        }
    }

    /// Every row's features, row-major (`len() × FEATURE_COUNT` values).
    pub fn flat_features(&self) -> Vec<f32> {
        self.features.iter().flatten().copied().collect()
    }

    /// Splits at `cutoff`: rows strictly before it, and rows at or after it.
    pub fn split_at_time(&self, cutoff: NaiveDateTime) -> (TrainingTable, TrainingTable) {
        let at = self.timestamps.partition_point(|t| *t < cutoff);
        let before: Vec<usize> = (0..at).collect();
        let after: Vec<usize> = (at..self.len()).collect();
        (self.select(&before), self.select(&after))
    }
}

/// 2012-09-01 00:00, the start of the temporal holdout (DESIGN decision 3): the trainer's
/// default split, and the rows benchmarks and golden files take as "holdout".
#[expect(
    clippy::expect_used,
    reason = "2012-09-01 00:00:00 is a valid date and time"
)]
pub fn temporal_holdout_start() -> NaiveDateTime {
    chrono::NaiveDate::from_ymd_opt(2012, 9, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .expect("a valid date")
}
