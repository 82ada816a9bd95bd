//! Loading `hour.csv` (or any file of the same schema) with errors that say where and why.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use chrono::{NaiveDate, NaiveDateTime};
use serde::Serialize;
use sha2::{Digest, Sha256};
use thiserror::Error;

use crate::record::HourRecord;

/// The columns of `hour.csv`, in order.
pub const COLUMNS: [&str; 17] = [
    "instant",
    "dteday",
    "season",
    "yr",
    "mnth",
    "hr",
    "holiday",
    "weekday",
    "workingday",
    "weathersit",
    "temp",
    "atemp",
    "hum",
    "windspeed",
    "casual",
    "registered",
    "cnt",
];

/// Why a data file could not be read.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("data file {path} does not exist (run `make setup` to fetch hour.csv)")]
    NotFound { path: PathBuf },
    #[error("cannot read data file {path}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: line {line} is not valid UTF-8")]
    NotUtf8 { path: PathBuf, line: u64 },
    #[error("{path}: the file is empty")]
    Empty { path: PathBuf },
    #[error(
        "{path}: wrong header: {problem} (expected the columns `{expected}`, in any order; found `{found}`)"
    )]
    WrongHeader {
        path: PathBuf,
        problem: String,
        expected: String,
        found: String,
    },
    #[error("{path}: line {line}, column `{column}`: {reason} (value `{value}`)")]
    MalformedRow {
        path: PathBuf,
        line: u64,
        column: String,
        value: String,
        reason: String,
    },
    #[error("{path}: line {line}: expected {expected} fields, found {found}")]
    WrongFieldCount {
        path: PathBuf,
        line: u64,
        expected: usize,
        found: usize,
    },
    #[error("{path}: line {line}")]
    Csv {
        path: PathBuf,
        line: u64,
        #[source]
        source: csv::Error,
    },
}

/// What identifies the data a model was trained on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fingerprint {
    /// Hex sha256 of the file's bytes.
    pub sha256: String,
    pub rows: usize,
    pub first: Option<NaiveDateTime>,
    pub last: Option<NaiveDateTime>,
}

/// A row dropped because an earlier row says exactly the same (apart from the running
/// `instant` index): it adds nothing but weight to one hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DroppedRow {
    pub line: u64,
    pub same_as_line: u64,
}

/// A loaded file: its rows in file order (exact duplicates dropped), the file line of each,
/// and its fingerprint.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub records: Vec<HourRecord>,
    /// `lines[i]` is the file line `records[i]` came from (the header is line 1).
    pub lines: Vec<u64>,
    pub dropped_duplicates: Vec<DroppedRow>,
    pub fingerprint: Fingerprint,
}

/// Reads and parses a file of the `hour.csv` schema.
pub fn load(path: &Path) -> Result<Dataset, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| match source.kind() {
        std::io::ErrorKind::NotFound => LoadError::NotFound {
            path: path.to_owned(),
        },
        _ => LoadError::Io {
            path: path.to_owned(),
            source,
        },
    })?;
    parse(path, &bytes)
}

/// Parses the bytes of a file (`path` only names it in errors).
pub fn parse(path: &Path, bytes: &[u8]) -> Result<Dataset, LoadError> {
    let text = std::str::from_utf8(bytes).map_err(|error| LoadError::NotUtf8 {
        path: path.to_owned(),
        line: 1 + bytes[..error.valid_up_to()]
            .iter()
            .filter(|b| **b == b'\n')
            .count() as u64,
    })?;
    if text.trim().is_empty() {
        return Err(LoadError::Empty {
            path: path.to_owned(),
        });
    }
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let header = reader.headers().map_err(|source| LoadError::Csv {
        path: path.to_owned(),
        line: 1,
        source,
    })?;
    let found: Vec<&str> = header.iter().map(str::trim).collect();
    let positions = column_positions(&found).map_err(|problem| LoadError::WrongHeader {
        path: path.to_owned(),
        problem,
        expected: COLUMNS.join(","),
        found: found.join(","),
    })?;

    let mut records = Vec::with_capacity(text.len() / 64);
    let mut lines = Vec::with_capacity(text.len() / 64);
    let mut dropped_duplicates = Vec::new();
    // Rows kept so far, by hour: an exact repeat of one is dropped; a different row for the same
    // hour stays, for the quality report to refuse naming both lines.
    let mut by_hour: HashMap<NaiveDateTime, Vec<usize>> = HashMap::new();
    for row in reader.records() {
        let row = row.map_err(|source| LoadError::Csv {
            path: path.to_owned(),
            line: source.position().map_or(0, csv::Position::line),
            source,
        })?;
        let line = row.position().map_or(0, csv::Position::line);
        if row.len() != COLUMNS.len() {
            return Err(LoadError::WrongFieldCount {
                path: path.to_owned(),
                line,
                expected: COLUMNS.len(),
                found: row.len(),
            });
        }
        let cells = RowCells {
            path,
            line,
            row: &row,
            positions: &positions,
        };
        let record = cells.record()?;
        let same_hour = by_hour.entry(record.timestamp()).or_default();
        if let Some(&earlier) = same_hour
            .iter()
            .find(|&&i| same_apart_from_instant(&records[i], &record))
        {
            dropped_duplicates.push(DroppedRow {
                line,
                same_as_line: lines[earlier],
            });
            continue;
        }
        same_hour.push(records.len());
        records.push(record);
        lines.push(line);
    }

    let sha256 = hex::encode(Sha256::digest(bytes));
    let first = records.iter().map(HourRecord::timestamp).min();
    let last = records.iter().map(HourRecord::timestamp).max();
    Ok(Dataset {
        fingerprint: Fingerprint {
            sha256,
            rows: records.len(),
            first,
            last,
        },
        records,
        lines,
        dropped_duplicates,
    })
}

/// Whether two rows say the same thing; `instant` is a running index, not data.
fn same_apart_from_instant(a: &HourRecord, b: &HourRecord) -> bool {
    HourRecord {
        instant: None,
        ..a.clone()
    } == HourRecord {
        instant: None,
        ..b.clone()
    }
}

/// Where each of [`COLUMNS`] is in the file: columns are matched by header name, so a file
/// with the same columns in another order reads the same. A missing, unknown or repeated
/// column is refused by name.
fn column_positions(found: &[&str]) -> Result<[usize; COLUMNS.len()], String> {
    let mut positions = [0; COLUMNS.len()];
    for (slot, name) in positions.iter_mut().zip(COLUMNS) {
        let mut at = found.iter().enumerate().filter(|(_, f)| **f == name);
        match (at.next(), at.next()) {
            (Some((index, _)), None) => *slot = index,
            (None, _) => return Err(format!("column `{name}` is missing")),
            (Some(_), Some(_)) => return Err(format!("column `{name}` appears twice")),
        }
    }
    if let Some(unknown) = found.iter().find(|f| !COLUMNS.contains(f)) {
        return Err(format!("column `{unknown}` is not part of the schema"));
    }
    Ok(positions)
}

/// One CSV row being parsed: knows where it is, so every cell error names line and column.
struct RowCells<'a> {
    path: &'a Path,
    line: u64,
    row: &'a csv::StringRecord,
    /// The file position of each of [`COLUMNS`].
    positions: &'a [usize; COLUMNS.len()],
}

impl RowCells<'_> {
    fn malformed(&self, column: usize, reason: &str) -> LoadError {
        LoadError::MalformedRow {
            path: self.path.to_owned(),
            line: self.line,
            column: COLUMNS[column].to_owned(),
            value: self.cell(column).to_owned(),
            reason: reason.to_owned(),
        }
    }

    /// The cell of schema column `column`. Rows were checked to have every field, so a
    /// missing one cannot happen; were it to, it reads as an empty (missing) value, which the
    /// quality report names.
    fn cell(&self, column: usize) -> &str {
        self.row.get(self.positions[column]).map_or("", str::trim)
    }

    /// An empty cell is a missing value (`None`), reported by the quality check; anything else
    /// must parse.
    fn optional<T: std::str::FromStr>(
        &self,
        column: usize,
        what: &str,
    ) -> Result<Option<T>, LoadError> {
        let cell = self.cell(column);
        if cell.is_empty() {
            return Ok(None);
        }
        cell.parse()
            .map(Some)
            .map_err(|_| self.malformed(column, &format!("expected {what}")))
    }

    fn integer(&self, column: usize) -> Result<Option<i64>, LoadError> {
        self.optional(column, "an integer")
    }

    fn number(&self, column: usize) -> Result<Option<f64>, LoadError> {
        let value: Option<f64> = self.optional(column, "a number")?;
        match value {
            Some(v) if !v.is_finite() => Err(self.malformed(column, "expected a finite number")),
            other => Ok(other),
        }
    }

    fn record(&self) -> Result<HourRecord, LoadError> {
        let date = NaiveDate::parse_from_str(self.cell(1), "%Y-%m-%d")
            .map_err(|_| self.malformed(1, "expected a date YYYY-MM-DD"))?;
        let hour = self
            .integer(5)?
            .ok_or_else(|| self.malformed(5, "the hour is required to place the row in time"))?;
        if !(0..24).contains(&hour) {
            return Err(self.malformed(5, "expected an hour 0..=23"));
        }
        Ok(HourRecord {
            instant: self.integer(0)?,
            date,
            hour: hour as u8,
            season: self.integer(2)?,
            yr: self.integer(3)?,
            mnth: self.integer(4)?,
            holiday: self.integer(6)?,
            weekday: self.integer(7)?,
            workingday: self.integer(8)?,
            weathersit: self.integer(9)?,
            temp: self.number(10)?,
            atemp: self.number(11)?,
            hum: self.number(12)?,
            windspeed: self.number(13)?,
            casual: self.integer(14)?,
            registered: self.integer(15)?,
            cnt: self.integer(16)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "instant,dteday,season,yr,mnth,hr,holiday,weekday,workingday,weathersit,temp,atemp,hum,windspeed,casual,registered,cnt\n";
    const ROW: &str = "1,2011-01-01,1,0,1,0,0,6,0,1,0.24,0.2879,0.81,0,3,13,16\n";

    fn parse_text(text: &str) -> Result<Dataset, LoadError> {
        parse(Path::new("test.csv"), text.as_bytes())
    }

    #[test]
    fn parses_a_good_row_and_fingerprints_it() {
        let dataset = parse_text(&format!("{HEADER}{ROW}")).unwrap();
        assert_eq!(dataset.records.len(), 1);
        let record = &dataset.records[0];
        assert_eq!(record.cnt, Some(16));
        assert_eq!(record.temp, Some(0.24));
        assert_eq!(dataset.fingerprint.rows, 1);
        assert_eq!(dataset.fingerprint.sha256.len(), 64);
        assert_eq!(
            dataset.fingerprint.first.unwrap().to_string(),
            "2011-01-01 00:00:00"
        );
    }

    #[test]
    fn missing_file_says_how_to_get_it() {
        let error = load(Path::new("/nonexistent/hour.csv")).unwrap_err();
        assert!(matches!(error, LoadError::NotFound { .. }));
        assert!(error.to_string().contains("make setup"));
    }

    #[test]
    fn wrong_header_shows_both() {
        let text = format!("{}{ROW}", HEADER.replace("cnt", "count"));
        let error = parse_text(&text).unwrap_err();
        let LoadError::WrongHeader { found, problem, .. } = &error else {
            panic!("{error}")
        };
        assert!(found.ends_with("registered,count"));
        assert!(problem.contains("`cnt` is missing"), "{problem}");
    }

    #[test]
    fn columns_are_read_by_name_in_any_order() {
        let names: Vec<&str> = HEADER.trim().split(',').collect();
        let cells: Vec<&str> = ROW.trim().split(',').collect();
        let order: Vec<usize> = (0..names.len()).rev().collect();
        let reordered = format!(
            "{}\n{}\n",
            order
                .iter()
                .map(|&i| names[i])
                .collect::<Vec<_>>()
                .join(","),
            order
                .iter()
                .map(|&i| cells[i])
                .collect::<Vec<_>>()
                .join(",")
        );
        let straight = parse_text(&format!("{HEADER}{ROW}")).unwrap();
        let shuffled = parse_text(&reordered).unwrap();
        assert_eq!(straight.records, shuffled.records);
        let doubled = format!("{},cnt\n{},16\n", HEADER.trim(), ROW.trim());
        let error = parse_text(&doubled).unwrap_err().to_string();
        assert!(error.contains("`cnt` appears twice"), "{error}");
        let extra = format!("{},colour\n{},red\n", HEADER.trim(), ROW.trim());
        let error = parse_text(&extra).unwrap_err().to_string();
        assert!(error.contains("`colour` is not part"), "{error}");
    }

    #[test]
    fn malformed_cell_names_line_and_column() {
        let text = format!("{HEADER}{ROW}{}", ROW.replace("0.81", "humid"));
        let error = parse_text(&text).unwrap_err();
        let LoadError::MalformedRow {
            line,
            column,
            value,
            ..
        } = &error
        else {
            panic!("{error}")
        };
        assert_eq!(
            (*line, column.as_str(), value.as_str()),
            (3, "hum", "humid")
        );
    }

    #[test]
    fn bad_date_and_bad_hour_are_malformed() {
        let bad_date = parse_text(&format!(
            "{HEADER}{}",
            ROW.replace("2011-01-01", "2011-13-01")
        ));
        assert!(
            matches!(bad_date, Err(LoadError::MalformedRow { ref column, .. }) if column == "dteday")
        );
        let bad_hour = parse_text(&format!(
            "{HEADER}{}",
            ROW.replace(",1,0,1,0,0,6", ",1,0,1,24,0,6")
        ));
        assert!(
            matches!(bad_hour, Err(LoadError::MalformedRow { ref column, .. }) if column == "hr")
        );
    }

    #[test]
    fn short_row_is_a_field_count_error() {
        let error = parse_text(&format!("{HEADER}1,2011-01-01,1\n")).unwrap_err();
        assert!(matches!(
            error,
            LoadError::WrongFieldCount {
                line: 2,
                found: 3,
                ..
            }
        ));
    }

    #[test]
    fn non_utf8_names_the_line() {
        let mut bytes = format!("{HEADER}{ROW}").into_bytes();
        bytes.extend_from_slice(b"2,2011-01-01,\xff\n");
        let error = parse(Path::new("x.csv"), &bytes).unwrap_err();
        assert!(
            matches!(error, LoadError::NotUtf8 { line: 3, .. }),
            "{error}"
        );
    }

    #[test]
    fn empty_cells_are_missing_values_not_errors() {
        let dataset = parse_text(&format!("{HEADER}{}", ROW.replace(",3,13,", ",,13,"))).unwrap();
        assert_eq!(dataset.records[0].casual, None);
    }

    #[test]
    fn infinite_numbers_are_malformed() {
        let error = parse_text(&format!("{HEADER}{}", ROW.replace("0.2879", "inf"))).unwrap_err();
        assert!(matches!(error, LoadError::MalformedRow { ref column, .. } if column == "atemp"));
    }

    #[test]
    fn empty_file_is_its_own_error() {
        assert!(matches!(parse_text(""), Err(LoadError::Empty { .. })));
    }
}
