//! Two windows of named columns, typed the way pandas and Evidently type them, read from CSV
//! without holding a string per cell.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::Arc;

use crate::ReportError;

/// How a column's cells were written.
#[derive(Debug, Clone, PartialEq)]
pub enum Storage {
    /// Every cell an integer literal, none missing (pandas: an int64 column).
    Integer,
    /// Numbers with a decimal point or exponent, or with missing cells (pandas: float64).
    Float,
    /// Text: `values` hold each cell's index into these labels, sorted, shared by both windows
    /// so that equal labels have equal codes and codes order as the labels do.
    Labels(Arc<[String]>),
}

/// One column of a window. Missing cells (empty, `NA`, `NaN`, `null`, ...) and infinities are
/// NaN and ±inf; the report drops them per column as Evidently does, and counts them.
#[derive(Debug, Clone, PartialEq)]
pub struct FrameColumn {
    pub name: String,
    pub data: ColumnData,
    pub storage: Storage,
}

/// A column's values. Most monitored features take few distinct values (hours, categories,
/// readings at a sensor's resolution): those are kept as 16-bit codes into their sorted
/// distinct values, a quarter of the memory, and sorted by counting. Columns with more than
/// 65,536 distinct values are kept as they are.
#[derive(Debug, Clone, PartialEq)]
pub enum ColumnData {
    Dense(Vec<f64>),
    Dictionary {
        /// Distinct values, ascending (`total_cmp`: NaN last, infinities at the ends).
        values: Vec<f64>,
        /// Each row's index into `values`.
        codes: Vec<u16>,
    },
}

impl FrameColumn {
    /// A column of plain values (the monitor's windows).
    pub fn dense(name: impl Into<String>, values: Vec<f64>, storage: Storage) -> Self {
        FrameColumn {
            name: name.into(),
            data: ColumnData::Dense(values),
            storage,
        }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            ColumnData::Dense(values) => values.len(),
            ColumnData::Dictionary { codes, .. } => codes.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The finite values, ascending, and how many were dropped (missing, NaN, ±inf).
    pub fn sorted_finite(&self) -> (Vec<f64>, usize) {
        match &self.data {
            ColumnData::Dense(values) => {
                let mut finite: Vec<f64> =
                    values.iter().copied().filter(|v| v.is_finite()).collect();
                finite.sort_unstable_by(f64::total_cmp);
                let dropped = values.len() - finite.len();
                (finite, dropped)
            }
            ColumnData::Dictionary { values, codes } => {
                let mut counts = vec![0_usize; values.len()];
                for &code in codes {
                    counts[usize::from(code)] += 1;
                }
                let mut sorted = Vec::with_capacity(codes.len());
                let mut dropped = 0;
                for (&value, &count) in values.iter().zip(&counts) {
                    if value.is_finite() {
                        sorted.extend(std::iter::repeat_n(value, count));
                    } else {
                        dropped += count;
                    }
                }
                (sorted, dropped)
            }
        }
    }
}

/// Builds a column cell by cell: codes while the distinct values fit 16 bits, plain values
/// after.
struct ColumnBuilder {
    codes: Vec<u16>,
    /// Distinct values in the order first seen, by their bits.
    seen: HashMap<u64, u16>,
    values: Vec<f64>,
    dense: Option<Vec<f64>>,
}

impl ColumnBuilder {
    fn new() -> Self {
        ColumnBuilder {
            codes: Vec::new(),
            seen: HashMap::new(),
            values: Vec::new(),
            dense: None,
        }
    }

    fn push(&mut self, value: f64) {
        if let Some(dense) = &mut self.dense {
            dense.push(value);
            return;
        }
        // Every NaN is the same missing value.
        let key = if value.is_nan() {
            f64::NAN.to_bits()
        } else {
            value.to_bits()
        };
        let next = self.values.len();
        match self.seen.get(&key) {
            Some(&code) => self.codes.push(code),
            None if next <= usize::from(u16::MAX) => {
                self.seen.insert(key, next as u16);
                self.values.push(value);
                self.codes.push(next as u16);
            }
            None => {
                let mut dense: Vec<f64> = self
                    .codes
                    .iter()
                    .map(|&code| self.values[usize::from(code)])
                    .collect();
                dense.push(value);
                self.dense = Some(dense);
                self.codes = Vec::new();
                self.seen = HashMap::new();
                self.values = Vec::new();
            }
        }
    }

    fn finish(self) -> ColumnData {
        if let Some(dense) = self.dense {
            return ColumnData::Dense(dense);
        }
        // Renumber so that codes order as their values do.
        let mut order: Vec<usize> = (0..self.values.len()).collect();
        order.sort_unstable_by(|&a, &b| self.values[a].total_cmp(&self.values[b]));
        let mut rank = vec![0_u16; order.len()];
        for (new, &old) in order.iter().enumerate() {
            rank[old] = new as u16;
        }
        let values = order.iter().map(|&old| self.values[old]).collect();
        let mut codes = self.codes;
        for code in &mut codes {
            *code = rank[usize::from(*code)];
        }
        ColumnData::Dictionary { values, codes }
    }
}

/// A window: named columns of equal length.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Frame {
    pub rows: usize,
    pub columns: Vec<FrameColumn>,
}

impl Frame {
    /// A frame from columns the caller already holds (the monitor's windows).
    pub fn from_columns(columns: Vec<FrameColumn>) -> Result<Frame, ReportError> {
        let rows = columns.first().map_or(0, FrameColumn::len);
        if let Some(column) = columns.iter().find(|c| c.len() != rows) {
            return Err(ReportError::Ragged {
                column: column.name.clone(),
                rows: column.len(),
                expected: rows,
            });
        }
        Ok(Frame { rows, columns })
    }

    pub fn column(&self, name: &str) -> Option<&FrameColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The texts pandas reads as a missing value.
const MISSING: [&str; 12] = [
    "", "NA", "N/A", "n/a", "NaN", "nan", "-NaN", "-nan", "null", "NULL", "None", "<NA>",
];

fn is_integer_literal(text: &str) -> bool {
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A column as it is read: numbers until a cell is not one, then text.
struct Reading {
    name: String,
    values: ColumnBuilder,
    integer: bool,
    text: bool,
}

/// Reads the reference and the current window from CSV files with a header row, typing each
/// column over both (a column with text in either is text in both).
pub fn read_csv_pair(reference: &Path, current: &Path) -> Result<(Frame, Frame), ReportError> {
    let [reference_readings, current_readings] = [read_numbers(reference)?, read_numbers(current)?];
    let text_columns: BTreeSet<String> = reference_readings
        .iter()
        .chain(&current_readings)
        .filter(|c| c.text)
        .map(|c| c.name.clone())
        .collect();
    // Text columns are read again as text (their numbers so far are of no use), and coded by
    // the sorted union of both windows' labels.
    let texts = [
        read_texts(reference, &text_columns)?,
        read_texts(current, &text_columns)?,
    ];
    let labels: HashMap<&String, Arc<[String]>> = text_columns
        .iter()
        .map(|name| {
            let union: Arc<[String]> = texts
                .iter()
                .filter_map(|t| t.get(name))
                .flatten()
                .filter(|cell| !MISSING.contains(&cell.as_str()))
                .cloned()
                .collect::<BTreeSet<String>>()
                .into_iter()
                .collect();
            (name, union)
        })
        .collect();
    let [reference_texts, current_texts] = &texts;
    Ok((
        frame(reference_readings, reference_texts, &labels)?,
        frame(current_readings, current_texts, &labels)?,
    ))
}

/// A window's frame: numeric columns as read, text columns coded by the shared `labels`.
fn frame(
    readings: Vec<Reading>,
    texts: &HashMap<String, Vec<String>>,
    labels: &HashMap<&String, Arc<[String]>>,
) -> Result<Frame, ReportError> {
    let mut columns = Vec::with_capacity(readings.len());
    for reading in readings {
        let (data, storage) = match (labels.get(&reading.name), texts.get(&reading.name)) {
            (Some(labels), Some(cells)) => {
                let mut codes = ColumnBuilder::new();
                for cell in cells {
                    codes.push(match labels.binary_search(cell) {
                        Ok(code) => code as f64,
                        Err(_) => f64::NAN,
                    });
                }
                (codes.finish(), Storage::Labels(labels.clone()))
            }
            _ if reading.integer => (reading.values.finish(), Storage::Integer),
            _ => (reading.values.finish(), Storage::Float),
        };
        columns.push(FrameColumn {
            name: reading.name,
            data,
            storage,
        });
    }
    Frame::from_columns(columns)
}

fn csv_error(path: &Path, source: csv::Error) -> ReportError {
    ReportError::Csv {
        path: path.display().to_string(),
        source,
    }
}

fn open(path: &Path) -> Result<csv::Reader<std::fs::File>, ReportError> {
    csv::ReaderBuilder::new()
        .has_headers(true)
        .from_path(path)
        .map_err(|source| csv_error(path, source))
}

fn headers(
    reader: &mut csv::Reader<std::fs::File>,
    path: &Path,
) -> Result<Vec<String>, ReportError> {
    let headers = reader.headers().map_err(|source| csv_error(path, source))?;
    let names: Vec<String> = headers.iter().map(|h| h.trim().to_owned()).collect();
    let mut seen = BTreeSet::new();
    if let Some(duplicate) = names.iter().find(|n| !seen.insert(n.as_str())) {
        return Err(ReportError::DuplicateColumn {
            path: path.display().to_string(),
            column: duplicate.clone(),
        });
    }
    Ok(names)
}

fn read_numbers(path: &Path) -> Result<Vec<Reading>, ReportError> {
    let mut reader = open(path)?;
    let names = headers(&mut reader, path)?;
    let mut columns: Vec<Reading> = names
        .into_iter()
        .map(|name| Reading {
            name,
            values: ColumnBuilder::new(),
            integer: true,
            text: false,
        })
        .collect();
    let mut record = csv::ByteRecord::new();
    while reader
        .read_byte_record(&mut record)
        .map_err(|source| csv_error(path, source))?
    {
        if record.len() != columns.len() {
            return Err(ReportError::RowWidth {
                path: path.display().to_string(),
                line: record.position().map_or(0, |p| p.line()),
                fields: record.len(),
                expected: columns.len(),
            });
        }
        for (column, cell) in columns.iter_mut().zip(record.iter()) {
            if column.text {
                continue;
            }
            let Ok(cell) = std::str::from_utf8(cell) else {
                return Err(ReportError::NotUtf8 {
                    path: path.display().to_string(),
                    line: record.position().map_or(0, |p| p.line()),
                    column: column.name.clone(),
                });
            };
            let cell = cell.trim();
            if MISSING.contains(&cell) {
                column.integer = false;
                column.values.push(f64::NAN);
            } else if let Ok(value) = cell.parse::<f64>() {
                column.integer &= is_integer_literal(cell);
                column.values.push(value);
            } else {
                column.text = true;
                column.values = ColumnBuilder::new();
            }
        }
    }
    Ok(columns)
}

fn read_texts(
    path: &Path,
    wanted: &BTreeSet<String>,
) -> Result<HashMap<String, Vec<String>>, ReportError> {
    let mut texts = HashMap::new();
    if wanted.is_empty() {
        return Ok(texts);
    }
    let mut reader = open(path)?;
    let names = headers(&mut reader, path)?;
    let positions: Vec<(usize, &String)> = names
        .iter()
        .enumerate()
        .filter(|(_, name)| wanted.contains(*name))
        .collect();
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|source| csv_error(path, source))?
    {
        // Every row's width was checked when the file was read for numbers.
        for &(position, name) in &positions {
            if let Some(cell) = record.get(position) {
                texts
                    .entry(name.clone())
                    .or_insert_with(Vec::new)
                    .push(cell.trim().to_owned());
            }
        }
    }
    Ok(texts)
}
