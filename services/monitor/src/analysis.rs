//! What a window of events says: drift against the version's reference (optionally aligned to
//! the same hours of the week), data quality, and realized accuracy per version and arm.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use utoipa::ToSchema;
use velocast_drift_report::{ColumnType, DriftOptions, DriftReport, Frame, FrameColumn, Storage};
use velocast_features::{FeatureKind, index};

use crate::accuracy::{ArmComparison, ErrorStats, compare};
use crate::error::MonitorError;
use crate::reference::Reference;
use crate::store::WindowEvent;

fn column_type(kind: FeatureKind) -> ColumnType {
    match kind {
        FeatureKind::Categorical | FeatureKind::Binary => ColumnType::Categorical,
        FeatureKind::Numeric => ColumnType::Numerical,
    }
}

/// The (weekday, hour) of a feature vector.
fn hour_of_week(features: &[f64]) -> (u64, u64) {
    (
        features[index::WEEKDAY].to_bits(),
        features[index::HOUR].to_bits(),
    )
}

/// The reference rows to compare with: all of them, or (seasonal) those at an hour of the week
/// the window holds, so that calendar features do not drift by construction.
fn reference_rows(
    reference: &Reference,
    events: &[&WindowEvent],
    seasonal: bool,
) -> Result<Vec<usize>, MonitorError> {
    let rows = reference.rows();
    if !seasonal {
        return Ok((0..rows).collect());
    }
    let in_window: BTreeSet<(u64, u64)> = events
        .iter()
        .map(|event| {
            let features: Vec<f64> = event.features.iter().map(|&v| f64::from(v)).collect();
            hour_of_week(&features)
        })
        .collect();
    let weekday = &reference.columns[index::WEEKDAY].values;
    let hour = &reference.columns[index::HOUR].values;
    let kept: Vec<usize> = (0..rows)
        .filter(|&row| in_window.contains(&(weekday[row].to_bits(), hour[row].to_bits())))
        .collect();
    if kept.is_empty() {
        return Err(MonitorError::NoSeasonalReference);
    }
    Ok(kept)
}

/// Evidently's `DataDriftPreset` verdict on the window's features against the reference, the
/// features' kinds declared from the signature (as an Evidently user declares a column mapping).
pub fn drift(
    reference: &Reference,
    events: &[&WindowEvent],
    seasonal: bool,
    drift_share: f64,
) -> Result<(DriftReport, usize), MonitorError> {
    let rows = reference_rows(reference, events, seasonal)?;
    let mut reference_columns = Vec::with_capacity(reference.columns.len());
    let mut current_columns = Vec::with_capacity(reference.columns.len());
    let mut column_types = BTreeMap::new();
    for (position, column) in reference.columns.iter().enumerate() {
        reference_columns.push(FrameColumn::dense(
            column.name.clone(),
            rows.iter().map(|&row| column.values[row]).collect(),
            Storage::Float,
        ));
        current_columns.push(FrameColumn::dense(
            column.name.clone(),
            events
                .iter()
                .map(|event| f64::from(event.features[position]))
                .collect(),
            Storage::Float,
        ));
        column_types.insert(column.name.clone(), column_type(column.kind));
    }
    let options = DriftOptions {
        drift_share,
        column_types,
        ..DriftOptions::default()
    };
    let report = velocast_drift_report::build(
        &Frame::from_columns(reference_columns)?,
        &Frame::from_columns(current_columns)?,
        &options,
    )?;
    Ok((report, rows.len()))
}

/// One feature's quality in a window.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct FeatureQuality {
    pub name: String,
    /// Values outside the training range (numerical features).
    pub out_of_range: usize,
    pub out_of_range_share: f64,
    /// Values training never showed (categorical and binary features).
    pub unseen_categories: usize,
    pub unseen_share: f64,
}

/// A window's data quality.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QualityReport {
    pub events: usize,
    /// Events refused at ingest in the window (malformed: wrong field count, non-finite values,
    /// bad requests); missing values cannot be stored, so they show here.
    pub rejected: u64,
    pub rejected_share: f64,
    pub features: Vec<FeatureQuality>,
}

pub fn quality(reference: &Reference, events: &[&WindowEvent], rejected: u64) -> QualityReport {
    let n = events.len();
    let share = |count: usize| if n == 0 { 0.0 } else { count as f64 / n as f64 };
    let features = reference
        .columns
        .iter()
        .enumerate()
        .map(|(position, column)| {
            let values = events
                .iter()
                .map(|event| f64::from(event.features[position]));
            let (mut out_of_range, mut unseen) = (0, 0);
            match column.kind {
                FeatureKind::Numeric => {
                    let low = column.values.iter().copied().fold(f64::INFINITY, f64::min);
                    let high = column
                        .values
                        .iter()
                        .copied()
                        .fold(f64::NEG_INFINITY, f64::max);
                    out_of_range = values.filter(|v| *v < low || *v > high).count();
                }
                FeatureKind::Categorical | FeatureKind::Binary => {
                    let seen: BTreeSet<u64> = column.values.iter().map(|v| v.to_bits()).collect();
                    unseen = values.filter(|v| !seen.contains(&v.to_bits())).count();
                }
            }
            FeatureQuality {
                name: column.name.clone(),
                out_of_range,
                out_of_range_share: share(out_of_range),
                unseen_categories: unseen,
                unseen_share: share(unseen),
            }
        })
        .collect();
    let total = n as u64 + rejected;
    QualityReport {
        events: n,
        rejected,
        rejected_share: if total == 0 {
            0.0
        } else {
            rejected as f64 / total as f64
        },
        features,
    }
}

/// Realized accuracy of one model version in one arm.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct GroupAccuracy {
    pub version: u32,
    pub arm: String,
    #[serde(flatten)]
    pub errors: ErrorStats,
    /// The version's holdout MAE from its model card, when it has one.
    pub holdout_mae: Option<f64>,
    /// Realized MAE over holdout MAE (above 1: worse than the card promised).
    pub degradation: Option<f64>,
    /// Why there is no holdout MAE although the version may have one (the registry could not
    /// be asked); absent when the version simply has none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub holdout_unavailable: Option<String>,
}

/// A version's holdout MAE, or why it could not be had.
pub type Holdout = Result<Option<f64>, String>;

/// A window's realized accuracy.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct AccuracyReport {
    /// Events with an outcome, and without one yet.
    pub scored: usize,
    pub unscored: usize,
    pub groups: Vec<GroupAccuracy>,
    /// Every pair of arms, by their absolute errors.
    pub comparisons: Vec<ArmComparison>,
}

/// Errors per (version, arm); `holdout` gives each version's card MAE.
pub fn accuracy(events: &[WindowEvent], holdout: &BTreeMap<u32, Holdout>) -> AccuracyReport {
    let mut groups: BTreeMap<(u32, &str), Vec<(f64, f64)>> = BTreeMap::new();
    let mut arms: BTreeMap<&str, Vec<f64>> = BTreeMap::new();
    let mut unscored = 0;
    for event in events {
        match event.actual {
            Some(actual) => {
                groups
                    .entry((event.version, &event.arm))
                    .or_default()
                    .push((event.prediction, actual));
                arms.entry(&event.arm)
                    .or_default()
                    .push((event.prediction - actual).abs());
            }
            None => unscored += 1,
        }
    }
    let scored = events.len() - unscored;
    let groups = groups
        .into_iter()
        .filter_map(|((version, arm), pairs)| {
            let errors = ErrorStats::of(&pairs)?;
            let (holdout_mae, holdout_unavailable) = match holdout.get(&version) {
                Some(Ok(mae)) => (*mae, None),
                Some(Err(reason)) => (None, Some(reason.clone())),
                None => (None, Some("not looked up".to_owned())),
            };
            Some(GroupAccuracy {
                version,
                arm: arm.to_owned(),
                degradation: holdout_mae.map(|h| errors.mae / h),
                holdout_mae,
                holdout_unavailable,
                errors,
            })
        })
        .collect();
    let arm_list: Vec<(&str, Vec<f64>)> = arms.into_iter().collect();
    let mut comparisons = Vec::new();
    for (i, (a, errors_a)) in arm_list.iter().enumerate() {
        for (b, errors_b) in &arm_list[i + 1..] {
            comparisons.extend(compare((a, errors_a), (b, errors_b)));
        }
    }
    AccuracyReport {
        scored,
        unscored,
        groups,
        comparisons,
    }
}
