//! The report: each column typed as Evidently types it (on the current window), its missing
//! values dropped and counted, the default or forced test run, and the dataset verdict.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::ser::SerializeMap;
use velocast_drift::{Column, ColumnKind, StatTest, column_drift, dataset_verdict};

use crate::ReportError;
use crate::frame::{Frame, FrameColumn, Storage};

/// What to test and how. Empty maps and `None`s are Evidently's defaults.
#[derive(Debug, Clone)]
pub struct DriftOptions {
    /// Columns to test, in this order; `None`: every column of the reference.
    pub columns: Option<Vec<String>>,
    /// A test forced on every column (Evidently's `stattest`).
    pub stattest: Option<StatTest>,
    /// Tests forced per column (`per_column_stattest`); they win over `stattest`.
    pub per_column_stattest: BTreeMap<String, StatTest>,
    /// A threshold for every column (`stattest_threshold`).
    pub threshold: Option<f64>,
    /// Thresholds per column; they win over `threshold`.
    pub per_column_threshold: BTreeMap<String, f64>,
    /// The share of drifted columns at which the dataset drifts (Evidently: 0.5).
    pub drift_share: f64,
    /// Column types declared rather than inferred (Evidently's `ColumnMapping`): the monitor
    /// declares its features' kinds from the model's signature.
    pub column_types: BTreeMap<String, ColumnType>,
}

impl Default for DriftOptions {
    fn default() -> Self {
        DriftOptions {
            columns: None,
            stattest: None,
            per_column_stattest: BTreeMap::new(),
            threshold: None,
            per_column_threshold: BTreeMap::new(),
            drift_share: 0.5,
            column_types: BTreeMap::new(),
        }
    }
}

/// Evidently's column types, as its JSON writes them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ColumnType {
    #[serde(rename = "num")]
    Numerical,
    #[serde(rename = "cat")]
    Categorical,
}

/// Shares of each window per bin (numerical) or value (categorical), for the report's charts.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    /// Bin or value labels.
    pub labels: Vec<String>,
    pub reference: Vec<f64>,
    pub current: Vec<f64>,
}

/// One column's verdict, under Evidently's names.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ColumnReport {
    pub column_name: String,
    pub column_type: ColumnType,
    /// Evidently's display name of the test (`K-S p_value`, `Wasserstein distance (normed)`).
    pub stattest_name: &'static str,
    /// The test's short name (`ks`, `wasserstein`), as `--stattest` takes it.
    pub stattest: &'static str,
    pub stattest_threshold: f64,
    pub drift_score: f64,
    pub drift_detected: bool,
    /// Cells dropped before the test (missing, NaN or ±inf), as Evidently drops them.
    pub reference_missing: usize,
    pub current_missing: usize,
    pub histogram: Histogram,
}

/// The dataset's verdict and every column's.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DriftReport {
    pub reference_rows: usize,
    pub current_rows: usize,
    pub drift_share: f64,
    pub number_of_columns: usize,
    pub number_of_drifted_columns: usize,
    pub share_of_drifted_columns: f64,
    pub dataset_drift: bool,
    pub drift_by_columns: DriftByColumns,
}

/// Per column, keyed by name in the report's column order (Evidently's `drift_by_columns`).
#[derive(Debug, Clone, PartialEq)]
pub struct DriftByColumns(pub Vec<ColumnReport>);

impl Serialize for DriftByColumns {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for column in &self.0 {
            map.serialize_entry(&column.column_name, column)?;
        }
        map.end()
    }
}

/// Evidently's kind for a column, inferred on the current window as `Report.run` infers it
/// (`present`: its finite values, ascending).
fn column_type(column: &FrameColumn, present: &[f64]) -> Result<ColumnType, ReportError> {
    let distinct = || 1 + present.windows(2).filter(|pair| pair[0] != pair[1]).count();
    Ok(match &column.storage {
        Storage::Float => ColumnType::Numerical,
        Storage::Integer if distinct() <= velocast_drift::INTEGER_CARDINALITY_LIMIT => {
            ColumnType::Categorical
        }
        Storage::Integer => ColumnType::Numerical,
        Storage::Labels(_) => {
            if distinct() as f64 > present.len() as f64 * 0.5 {
                return Err(ReportError::TextColumn {
                    column: column.name.clone(),
                });
            }
            ColumnType::Categorical
        }
    })
}

/// Builds the report. Columns are tested in parallel, one thread per core.
pub fn build(
    reference: &Frame,
    current: &Frame,
    options: &DriftOptions,
) -> Result<DriftReport, ReportError> {
    if !(0.0..=1.0).contains(&options.drift_share) {
        return Err(ReportError::Option {
            option: "drift_share",
            reason: format!("{} is not within 0..=1", options.drift_share),
        });
    }
    let names: Vec<String> = match &options.columns {
        Some(columns) => columns.clone(),
        None => reference.columns.iter().map(|c| c.name.clone()).collect(),
    };
    for name in options
        .per_column_stattest
        .keys()
        .chain(options.per_column_threshold.keys())
        .chain(options.column_types.keys())
    {
        if !names.contains(name) {
            return Err(ReportError::Option {
                option: "per-column setting",
                reason: format!("`{name}` is not among the tested columns"),
            });
        }
    }
    let mut pairs = Vec::with_capacity(names.len());
    for name in &names {
        pairs.push((
            find(reference, name, "reference")?,
            find(current, name, "current")?,
        ));
    }
    let threads = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(pairs.len().max(1));
    let chunk = pairs.len().div_ceil(threads).max(1);
    let results: Vec<Result<ColumnReport, ReportError>> = std::thread::scope(|scope| {
        let handles: Vec<_> = pairs
            .chunks(chunk)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|(r, c)| column_report(r, c, options))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|handle| match handle.join() {
                Ok(results) => results,
                Err(panic) => std::panic::resume_unwind(panic),
            })
            .collect()
    });
    let columns = results.into_iter().collect::<Result<Vec<_>, _>>()?;
    let (drifted, share, drift) = dataset_verdict(
        columns.iter().map(|c| c.drift_detected),
        options.drift_share,
    );
    Ok(DriftReport {
        reference_rows: reference.rows,
        current_rows: current.rows,
        drift_share: options.drift_share,
        number_of_columns: columns.len(),
        number_of_drifted_columns: drifted,
        share_of_drifted_columns: share,
        dataset_drift: drift,
        drift_by_columns: DriftByColumns(columns),
    })
}

fn find<'a>(
    frame: &'a Frame,
    name: &str,
    window: &'static str,
) -> Result<&'a FrameColumn, ReportError> {
    frame
        .column(name)
        .ok_or_else(|| ReportError::MissingColumn {
            column: name.to_owned(),
            window,
        })
}

fn column_report(
    reference: &FrameColumn,
    current: &FrameColumn,
    options: &DriftOptions,
) -> Result<ColumnReport, ReportError> {
    let column_error = |source| ReportError::Column {
        column: reference.name.clone(),
        source,
    };
    let (reference_values, reference_missing) = reference.sorted_finite();
    let (current_values, current_missing) = current.sorted_finite();
    let column_type = match options.column_types.get(&reference.name) {
        Some(declared) => *declared,
        None => column_type(current, &current_values)?,
    };
    let kind = match column_type {
        ColumnType::Numerical => ColumnKind::Numerical,
        ColumnType::Categorical => ColumnKind::Categorical,
    };
    // numpy keeps integer histogram bins at least 1 wide only when both windows are integers.
    let integer = reference.storage == Storage::Integer && current.storage == Storage::Integer;
    let column = |values| Column {
        values,
        kind,
        integer,
    };
    let forced = options
        .per_column_stattest
        .get(&reference.name)
        .copied()
        .or(options.stattest);
    let threshold = options
        .per_column_threshold
        .get(&reference.name)
        .copied()
        .or(options.threshold);
    let drift = column_drift(
        column(&reference_values),
        column(&current_values),
        forced,
        threshold,
    )
    .map_err(column_error)?;
    Ok(ColumnReport {
        column_name: reference.name.clone(),
        column_type,
        stattest_name: drift.test.display_name(),
        stattest: drift.stattest_name,
        stattest_threshold: drift.stattest_threshold,
        drift_score: drift.drift_score,
        drift_detected: drift.drift_detected,
        reference_missing,
        current_missing,
        histogram: histogram(
            &reference_values,
            &current_values,
            column_type,
            &current.storage,
        ),
    })
}

/// Bins for the chart: ten equal widths over both windows' range (numerical), or each value
/// (categorical; the twelve most common, the rest together).
fn histogram(
    reference: &[f64],
    current: &[f64],
    column_type: ColumnType,
    storage: &Storage,
) -> Histogram {
    let shares = |counts: Vec<usize>, total: usize| -> Vec<f64> {
        counts
            .into_iter()
            .map(|c| c as f64 / total.max(1) as f64)
            .collect()
    };
    match column_type {
        ColumnType::Numerical => {
            const BINS: usize = 10;
            let all = reference.iter().chain(current);
            let low = all.clone().copied().fold(f64::INFINITY, f64::min);
            let high = all.copied().fold(f64::NEG_INFINITY, f64::max);
            let width = if high > low {
                (high - low) / BINS as f64
            } else {
                1.0
            };
            let count = |values: &[f64]| {
                let mut counts = vec![0; BINS];
                for v in values {
                    let bin = (((v - low) / width) as usize).min(BINS - 1);
                    counts[bin] += 1;
                }
                counts
            };
            Histogram {
                labels: (0..BINS)
                    .map(|i| format_number(low + width * i as f64))
                    .collect(),
                reference: shares(count(reference), reference.len()),
                current: shares(count(current), current.len()),
            }
        }
        ColumnType::Categorical => {
            const SHOWN: usize = 12;
            let mut counts: BTreeMap<u64, (usize, usize)> = BTreeMap::new();
            for v in reference {
                counts.entry(v.to_bits()).or_default().0 += 1;
            }
            for v in current {
                counts.entry(v.to_bits()).or_default().1 += 1;
            }
            let mut values: Vec<(f64, usize, usize)> = counts
                .into_iter()
                .map(|(bits, (r, c))| (f64::from_bits(bits), r, c))
                .collect();
            values.sort_by(|a, b| (b.1 + b.2).cmp(&(a.1 + a.2)).then(a.0.total_cmp(&b.0)));
            let rest = values.split_off(values.len().min(SHOWN));
            values.sort_by(|a, b| a.0.total_cmp(&b.0));
            let label = |value: f64| match storage {
                Storage::Labels(labels) => labels
                    .get(value as usize)
                    .cloned()
                    .unwrap_or_else(|| format_number(value)),
                _ => format_number(value),
            };
            let mut labels: Vec<String> = values.iter().map(|v| label(v.0)).collect();
            let mut reference_counts: Vec<usize> = values.iter().map(|v| v.1).collect();
            let mut current_counts: Vec<usize> = values.iter().map(|v| v.2).collect();
            if !rest.is_empty() {
                labels.push(format!("{} others", rest.len()));
                reference_counts.push(rest.iter().map(|v| v.1).sum());
                current_counts.push(rest.iter().map(|v| v.2).sum());
            }
            Histogram {
                labels,
                reference: shares(reference_counts, reference.len()),
                current: shares(current_counts, current.len()),
            }
        }
    }
}

/// A short label for a number: integers as integers, others to four significant digits.
fn format_number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        let digits = (3 - value.abs().log10().floor() as i32).clamp(0, 6) as usize;
        format!("{value:.digits$}")
    }
}
