//! Dataset drift reports: two windows of named columns in, Evidently's `DataDriftPreset`
//! verdict out, per column and for the dataset, as JSON under Evidently's names and as one
//! self-contained HTML page (no script, no fetch). `velocast drift` builds them from CSV files;
//! the monitor from its windows.

mod frame;
mod html;
mod report;

pub use frame::{ColumnData, Frame, FrameColumn, Storage, read_csv_pair};
pub use html::{STYLE, to_html};
pub use report::{ColumnReport, ColumnType, DriftOptions, DriftReport, Histogram, build};

use thiserror::Error;
use velocast_drift::DriftError;

#[derive(Debug, Error)]
pub enum ReportError {
    #[error("{path}: {source}")]
    Csv { path: String, source: csv::Error },
    #[error("{path}: line {line}, column `{column}` is not UTF-8 text")]
    NotUtf8 {
        path: String,
        line: u64,
        column: String,
    },
    #[error("{path}: column `{column}` appears twice in the header")]
    DuplicateColumn { path: String, column: String },
    #[error("{path}: line {line} has {fields} fields, the header {expected}")]
    RowWidth {
        path: String,
        line: u64,
        fields: usize,
        expected: usize,
    },
    #[error("column `{column}` has {rows} values, the others {expected}")]
    Ragged {
        column: String,
        rows: usize,
        expected: usize,
    },
    #[error("column `{column}` is not in the {window} window")]
    MissingColumn {
        column: String,
        window: &'static str,
    },
    #[error(
        "column `{column}` is text (more than half its values distinct); Evidently tests it with a text-drift model this report does not implement: leave it out with --columns"
    )]
    TextColumn { column: String },
    #[error("column `{column}`: {source}")]
    Column { column: String, source: DriftError },
    #[error("{option}: {reason}")]
    Option {
        option: &'static str,
        reason: String,
    },
}
