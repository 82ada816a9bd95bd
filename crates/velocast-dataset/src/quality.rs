//! The data-quality report that runs before any training.
//!
//! Hard violations stop training (the model would learn from wrong or leaked data); soft ones
//! are reported and training goes on.

use std::collections::HashMap;

use chrono::NaiveDateTime;
use serde::Serialize;
use velocast_features::{Calendar, FeatureVector, Signature, features_of_valid};

use crate::load::{COLUMNS, Dataset};
use crate::record::HourRecord;

/// Columns that are the target or parts of it; never features (DESIGN decision 2).
pub const TARGET_COLUMNS: [&str; 3] = ["cnt", "casual", "registered"];

/// Columns a row must have to be trained on: all but the two parts of the target, which no
/// feature uses.
fn is_required(column: &str) -> bool {
    !matches!(column, "casual" | "registered")
}

/// A feature whose values match the target on at least this share of rows reconstructs it.
const LEAKAGE_MATCH_SHARE: f64 = 0.99;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// Training stops.
    Hard,
    /// Reported; training goes on.
    Soft,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Violation {
    pub severity: Severity,
    /// Snake-case name of the check, stable for tooling.
    pub check: &'static str,
    pub message: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnReport {
    pub name: &'static str,
    pub kind: &'static str,
    pub missing: usize,
    /// File lines of the first missing values (at most [`LINES_SHOWN`]).
    pub missing_lines: Vec<u64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// Values outside the column's documented domain.
    pub out_of_range: usize,
    /// Calendar columns whose value disagrees with the date (the features crate derives them).
    pub inconsistent_with_date: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gap {
    pub after: NaiveDateTime,
    pub missing_hours: i64,
}

/// How many file lines a finding lists before it only counts.
pub const LINES_SHOWN: usize = 10;

/// An hour that appears on more than one line with different values.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConflictingHour {
    pub hour: NaiveDateTime,
    pub lines: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SequenceReport {
    /// Hours that appear on several lines with different values (training stops).
    pub duplicate_timestamps: usize,
    /// The first [`LINES_SHOWN`] of them, in hour order, with their lines.
    pub conflicting_hours: Vec<ConflictingHour>,
    /// Rows that repeated an earlier row exactly and were dropped when loading.
    pub duplicate_rows: usize,
    /// The first [`LINES_SHOWN`] dropped rows and the line each repeated.
    pub dropped_rows: Vec<crate::DroppedRow>,
    pub missing_hours: i64,
    pub gap_count: usize,
    pub longest_gap_hours: i64,
    /// The ten longest gaps.
    pub longest_gaps: Vec<Gap>,
    pub out_of_order_rows: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TargetReport {
    pub min: Option<i64>,
    pub max: Option<i64>,
    pub mean: Option<f64>,
    pub zeros: usize,
    pub negative: usize,
    /// Rows where casual + registered ≠ cnt.
    pub parts_mismatch: usize,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LeakageReport {
    /// Columns refused as features by name.
    pub forbidden_columns: Vec<&'static str>,
    /// Feature columns checked against the target.
    pub checked_features: Vec<String>,
    /// Feature columns (or pairs, `a+b`) that reproduce the target.
    pub reconstructing: Vec<String>,
    /// Spearman rank correlation of each feature with the target, in `checked_features` order:
    /// scale-free, so a target rescaled into a feature (`atemp := cnt / 1000`) shows as ±1
    /// where the value match above sees nothing.
    pub rank_correlation: Vec<f64>,
    /// Features whose |rank correlation| reaches [`LEAKAGE_RANK_CORRELATION`], with the value.
    pub rank_leaks: Vec<(String, f64)>,
}

/// |Spearman ρ| at or above which a feature is taken for the target in disguise. No honest
/// feature of this data comes near it (the hour, the strongest, is about 0.5); any monotone
/// function of the count sits at 1.
pub const LEAKAGE_RANK_CORRELATION: f64 = 0.95;

/// Fewer rows than this and a perfect rank correlation is a coincidence (four hours of a
/// morning rise with the hour): the rank test needs a sample to mean anything.
pub const RANK_TEST_MIN_ROWS: usize = 100;

/// Average ranks (ties share the mean of their positions), 1-based.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && values[order[end]] == values[order[start]] {
            end += 1;
        }
        let mean_rank = (start + end + 1) as f64 / 2.0;
        for &index in &order[start..end] {
            ranks[index] = mean_rank;
        }
        start = end;
    }
    ranks
}

/// Spearman's ρ: Pearson's correlation of the ranks. `NaN` for a constant column.
pub fn spearman(x: &[f64], y: &[f64]) -> f64 {
    let (rx, ry) = (ranks(x), ranks(y));
    let n = rx.len() as f64;
    let (mx, my) = (rx.iter().sum::<f64>() / n, ry.iter().sum::<f64>() / n);
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for (a, b) in rx.iter().zip(&ry) {
        sxy += (a - mx) * (b - my);
        sxx += (a - mx) * (a - mx);
        syy += (b - my) * (b - my);
    }
    sxy / (sxx * syy).sqrt()
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct QualityReport {
    pub rows: usize,
    pub columns: Vec<ColumnReport>,
    pub sequence: SequenceReport,
    pub target: TargetReport,
    pub leakage: LeakageReport,
    pub violations: Vec<Violation>,
    /// No hard violation.
    pub passed: bool,
}

impl QualityReport {
    pub fn hard_violations(&self) -> impl Iterator<Item = &Violation> {
        self.violations
            .iter()
            .filter(|v| v.severity == Severity::Hard)
    }
}

/// The domain of each column, as the Readme documents it.
fn domain(column: &str) -> Option<(f64, f64)> {
    Some(match column {
        "season" | "weathersit" => (1.0, 4.0),
        "yr" => (
            0.0,
            f64::from(velocast_features::MAX_YEAR - velocast_features::BASE_YEAR),
        ),
        "mnth" => (1.0, 12.0),
        "hr" => (0.0, 23.0),
        "holiday" | "workingday" => (0.0, 1.0),
        "weekday" => (0.0, 6.0),
        "temp" | "atemp" | "hum" | "windspeed" => (0.0, 1.0),
        "casual" | "registered" | "cnt" => (0.0, f64::INFINITY),
        "instant" => (1.0, f64::INFINITY),
        _ => return None,
    })
}

fn value_of(record: &HourRecord, column: &str) -> Option<f64> {
    let int = |v: Option<i64>| v.map(|x| x as f64);
    match column {
        "instant" => int(record.instant),
        "season" => int(record.season),
        "yr" => int(record.yr),
        "mnth" => int(record.mnth),
        "hr" => Some(f64::from(record.hour)),
        "holiday" => int(record.holiday),
        "weekday" => int(record.weekday),
        "workingday" => int(record.workingday),
        "weathersit" => int(record.weathersit),
        "temp" => record.temp,
        "atemp" => record.atemp,
        "hum" => record.hum,
        "windspeed" => record.windspeed,
        "casual" => int(record.casual),
        "registered" => int(record.registered),
        "cnt" => int(record.cnt),
        _ => None,
    }
}

/// What the features crate derives from the date for a calendar column, to compare with the
/// stored value.
fn derived_from_date(record: &HourRecord, calendar: &Calendar, column: &str) -> Option<i64> {
    Some(match column {
        "season" => i64::from(calendar.season),
        "yr" => i64::from(calendar.year_index),
        "mnth" => i64::from(calendar.month),
        "weekday" => i64::from(calendar.weekday),
        // Working day depends on the holiday flag, which the date alone cannot give.
        "workingday" if record.holiday.is_some() => i64::from(calendar.working_day),
        _ => return None,
    })
}

/// Builds the report for a loaded dataset. `feature_names` and `features` are what training
/// would use (checked for leakage against the target).
pub fn assess(dataset: &Dataset, candidate: &FeatureColumns) -> QualityReport {
    let records = &dataset.records;
    let mut violations = Vec::new();
    let columns = column_reports(records, &dataset.lines);
    for column in &columns {
        let required = is_required(column.name);
        if column.missing > 0 {
            violations.push(Violation {
                severity: if required {
                    Severity::Hard
                } else {
                    Severity::Soft
                },
                check: "missing_values",
                message: format!(
                    "column `{}` has {} missing values ({})",
                    column.name,
                    column.missing,
                    lines_text(&column.missing_lines, column.missing)
                ),
            });
        }
        if column.out_of_range > 0 {
            violations.push(Violation {
                severity: Severity::Hard,
                check: "out_of_range",
                message: format!(
                    "column `{}` has {} values outside its domain",
                    column.name, column.out_of_range
                ),
            });
        }
        if column.inconsistent_with_date > 0 {
            violations.push(Violation {
                severity: Severity::Hard,
                check: "calendar_consistency",
                message: format!(
                    "column `{}` disagrees with the date on {} rows; served features would differ from trained ones",
                    column.name, column.inconsistent_with_date
                ),
            });
        }
    }

    let sequence = sequence_report(dataset);
    for conflict in &sequence.conflicting_hours {
        violations.push(Violation {
            severity: Severity::Hard,
            check: "duplicate_timestamps",
            message: format!(
                "hour {} appears with different values on lines {}",
                conflict.hour,
                join_lines(&conflict.lines)
            ),
        });
    }
    if sequence.duplicate_timestamps > sequence.conflicting_hours.len() {
        violations.push(Violation {
            severity: Severity::Hard,
            check: "duplicate_timestamps",
            message: format!(
                "{} more hours appear with different values on several lines",
                sequence.duplicate_timestamps - sequence.conflicting_hours.len()
            ),
        });
    }
    if sequence.duplicate_rows > 0 {
        let shown: Vec<String> = sequence
            .dropped_rows
            .iter()
            .map(|d| format!("line {} repeats line {}", d.line, d.same_as_line))
            .collect();
        violations.push(Violation {
            severity: Severity::Soft,
            check: "duplicate_rows",
            message: format!(
                "{} rows repeated an earlier row exactly and were dropped ({}{})",
                sequence.duplicate_rows,
                shown.join(", "),
                if sequence.duplicate_rows > shown.len() {
                    ", …"
                } else {
                    ""
                }
            ),
        });
    }
    if sequence.gap_count > 0 {
        violations.push(Violation {
            severity: Severity::Soft,
            check: "hourly_gaps",
            message: format!(
                "{} hours missing from the sequence in {} gaps (longest {} h)",
                sequence.missing_hours, sequence.gap_count, sequence.longest_gap_hours
            ),
        });
    }
    if sequence.out_of_order_rows > 0 {
        violations.push(Violation {
            severity: Severity::Soft,
            check: "row_order",
            message: format!(
                "{} rows are earlier than the row before them; training sorts by time",
                sequence.out_of_order_rows
            ),
        });
    }

    let target = target_report(records);
    if target.negative > 0 {
        violations.push(Violation {
            severity: Severity::Hard,
            check: "target_negative",
            message: format!("`cnt` is negative on {} rows", target.negative),
        });
    }
    if target.max == Some(0) {
        violations.push(Violation {
            severity: Severity::Hard,
            check: "target_constant",
            message: "`cnt` is zero on every row".to_owned(),
        });
    }
    if target.parts_mismatch > 0 {
        violations.push(Violation {
            severity: Severity::Soft,
            check: "target_parts",
            message: format!(
                "casual + registered differs from cnt on {} rows",
                target.parts_mismatch
            ),
        });
    }

    let leakage = leakage_report(records, candidate);
    for column in &leakage.forbidden_columns {
        violations.push(Violation {
            severity: Severity::Hard,
            check: "leakage",
            message: format!("`{column}` is the target or part of it and cannot be a feature"),
        });
    }
    for (column, rho) in &leakage.rank_leaks {
        violations.push(Violation {
            severity: Severity::Hard,
            check: "leakage",
            message: format!(
                "feature `{column}` has a rank correlation of {rho:.4} with the target (limit \
                 {LEAKAGE_RANK_CORRELATION}): it is the target in disguise"
            ),
        });
    }
    for column in &leakage.reconstructing {
        violations.push(Violation {
            severity: Severity::Hard,
            check: "leakage",
            message: format!("feature `{column}` reconstructs the target"),
        });
    }
    if records.is_empty() {
        violations.push(Violation {
            severity: Severity::Hard,
            check: "empty",
            message: "the data has no rows".to_owned(),
        });
    }

    let passed = !violations.iter().any(|v| v.severity == Severity::Hard);
    QualityReport {
        rows: records.len(),
        columns,
        sequence,
        target,
        leakage,
        violations,
        passed,
    }
}

fn join_lines(lines: &[u64]) -> String {
    let text: Vec<String> = lines.iter().map(u64::to_string).collect();
    text.join(", ")
}

/// `line 3` / `lines 3, 9, …` for a finding seen `count` times.
fn lines_text(lines: &[u64], count: usize) -> String {
    let more = if count > lines.len() { ", …" } else { "" };
    match lines {
        [one] if count == 1 => format!("line {one}"),
        _ => format!("lines {}{more}", join_lines(lines)),
    }
}

fn column_reports(records: &[HourRecord], lines: &[u64]) -> Vec<ColumnReport> {
    let calendars: Vec<Calendar> = records
        .iter()
        .map(|r| Calendar::new(r.timestamp(), r.holiday == Some(1)))
        .collect();
    COLUMNS
        .iter()
        .filter(|name| **name != "dteday")
        .map(|&name| {
            let (lo, hi) = domain(name).unwrap_or((f64::NEG_INFINITY, f64::INFINITY));
            let integer = !matches!(name, "temp" | "atemp" | "hum" | "windspeed");
            let mut report = ColumnReport {
                name,
                kind: if integer { "integer" } else { "number" },
                missing: 0,
                missing_lines: Vec::new(),
                min: None,
                max: None,
                out_of_range: 0,
                inconsistent_with_date: 0,
            };
            for ((record, calendar), line) in records.iter().zip(&calendars).zip(lines) {
                let Some(value) = value_of(record, name) else {
                    report.missing += 1;
                    if report.missing_lines.len() < LINES_SHOWN {
                        report.missing_lines.push(*line);
                    }
                    continue;
                };
                report.min = Some(report.min.map_or(value, |m: f64| m.min(value)));
                report.max = Some(report.max.map_or(value, |m: f64| m.max(value)));
                if value < lo || value > hi {
                    report.out_of_range += 1;
                }
                if let Some(expected) = derived_from_date(record, calendar, name)
                    && value != expected as f64
                {
                    report.inconsistent_with_date += 1;
                }
            }
            report
        })
        .collect()
}

fn sequence_report(dataset: &Dataset) -> SequenceReport {
    let records = &dataset.records;
    let mut out_of_order_rows = 0;
    for pair in records.windows(2) {
        if pair[1].timestamp() < pair[0].timestamp() {
            out_of_order_rows += 1;
        }
    }
    // Exact repeats were dropped when loading: any hour still on several lines has conflicting
    // values.
    let mut seen: HashMap<NaiveDateTime, Vec<u64>> = HashMap::new();
    for (record, line) in records.iter().zip(&dataset.lines) {
        seen.entry(record.timestamp()).or_default().push(*line);
    }
    let mut conflicting_hours: Vec<ConflictingHour> = seen
        .iter()
        .filter(|(_, lines)| lines.len() > 1)
        .map(|(hour, lines)| ConflictingHour {
            hour: *hour,
            lines: lines.clone(),
        })
        .collect();
    let duplicate_timestamps = conflicting_hours.len();
    conflicting_hours.sort_by_key(|c| c.hour);
    conflicting_hours.truncate(LINES_SHOWN);
    let mut hours: Vec<NaiveDateTime> = seen.into_keys().collect();
    hours.sort_unstable();
    let mut gaps: Vec<Gap> = hours
        .windows(2)
        .filter_map(|pair| {
            let missing = (pair[1] - pair[0]).num_hours() - 1;
            (missing > 0).then_some(Gap {
                after: pair[0],
                missing_hours: missing,
            })
        })
        .collect();
    let missing_hours = gaps.iter().map(|g| g.missing_hours).sum();
    let gap_count = gaps.len();
    gaps.sort_by(|a, b| {
        b.missing_hours
            .cmp(&a.missing_hours)
            .then(a.after.cmp(&b.after))
    });
    gaps.truncate(10);
    SequenceReport {
        duplicate_timestamps,
        conflicting_hours,
        duplicate_rows: dataset.dropped_duplicates.len(),
        dropped_rows: dataset
            .dropped_duplicates
            .iter()
            .take(LINES_SHOWN)
            .cloned()
            .collect(),
        missing_hours,
        gap_count,
        longest_gap_hours: gaps.first().map_or(0, |g| g.missing_hours),
        longest_gaps: gaps,
        out_of_order_rows,
    }
}

fn target_report(records: &[HourRecord]) -> TargetReport {
    let counts: Vec<i64> = records.iter().filter_map(|r| r.cnt).collect();
    let parts_mismatch = records
        .iter()
        .filter(|r| match (r.casual, r.registered, r.cnt) {
            (Some(c), Some(g), Some(n)) => c + g != n,
            _ => false,
        })
        .count();
    TargetReport {
        min: counts.iter().copied().min(),
        max: counts.iter().copied().max(),
        mean: (!counts.is_empty())
            .then(|| counts.iter().map(|&c| c as f64).sum::<f64>() / counts.len() as f64),
        zeros: counts.iter().filter(|&&c| c == 0).count(),
        negative: counts.iter().filter(|&&c| c < 0).count(),
        parts_mismatch,
    }
}

/// Named feature columns aligned with the dataset's rows (`NaN` where a row has no value): what
/// training would use, checked for leakage.
#[derive(Debug, Clone, Default)]
pub struct FeatureColumns {
    pub names: Vec<String>,
    pub columns: Vec<Vec<f64>>,
}

impl FeatureColumns {
    /// The feature set of `velocast-features`, computed for every row that can form a request.
    pub fn of_records(records: &[HourRecord]) -> Self {
        let names: Vec<String> = Signature::current()
            .feature_names()
            .into_iter()
            .map(str::to_owned)
            .collect();
        let vectors: Vec<Option<FeatureVector>> = records
            .iter()
            .map(|r| r.to_request().map(|request| features_of_valid(&request)))
            .collect();
        let columns = (0..names.len())
            .map(|i| {
                vectors
                    .iter()
                    .map(|v| v.map_or(f64::NAN, |v| f64::from(v[i])))
                    .collect()
            })
            .collect();
        FeatureColumns { names, columns }
    }
}

/// Refuses target columns by name, then looks for any feature, or sum of two features, that
/// equals the target on nearly every row: that is how `casual + registered` leaked into the
/// replaced pipeline's R² of 0.998.
fn leakage_report(records: &[HourRecord], candidate: &FeatureColumns) -> LeakageReport {
    let forbidden_columns: Vec<&'static str> = TARGET_COLUMNS
        .iter()
        .copied()
        .filter(|c| candidate.names.iter().any(|n| n == c))
        .collect();
    let target: Vec<Option<f64>> = records.iter().map(|r| r.cnt.map(|c| c as f64)).collect();
    let rows = target.len();
    let share = |matches: usize| rows > 0 && matches as f64 / rows as f64 >= LEAKAGE_MATCH_SHARE;
    let matches = |values: &dyn Fn(usize) -> f64| {
        (0..rows)
            .filter(|&r| target[r].is_some_and(|t| (values(r) - t).abs() < 0.5))
            .count()
    };
    let column = |i: usize, r: usize| candidate.columns[i].get(r).copied().unwrap_or(f64::NAN);
    let width = candidate.names.len().min(candidate.columns.len());
    let mut reconstructing = Vec::new();
    for i in 0..width {
        if share(matches(&|r| column(i, r))) {
            reconstructing.push(candidate.names[i].clone());
        }
        for j in (i + 1)..width {
            if share(matches(&|r| column(i, r) + column(j, r))) {
                reconstructing.push(format!("{}+{}", candidate.names[i], candidate.names[j]));
            }
        }
    }
    // Rank correlation over the rows where both the feature and the target are known.
    let mut rank_correlation = Vec::with_capacity(width);
    let mut rank_leaks = Vec::new();
    for i in 0..width {
        let (x, y): (Vec<f64>, Vec<f64>) = (0..rows)
            .filter_map(|r| {
                let value = column(i, r);
                target[r].filter(|_| value.is_finite()).map(|t| (value, t))
            })
            .unzip();
        let rho = if x.len() >= RANK_TEST_MIN_ROWS {
            spearman(&x, &y)
        } else {
            f64::NAN
        };
        if rho.abs() >= LEAKAGE_RANK_CORRELATION {
            rank_leaks.push((candidate.names[i].clone(), rho));
        }
        rank_correlation.push(rho);
    }
    LeakageReport {
        forbidden_columns,
        checked_features: candidate.names[..width].to_vec(),
        reconstructing,
        rank_correlation,
        rank_leaks,
    }
}
