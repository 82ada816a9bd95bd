//! The hourly bike-share data: loading with precise errors, fingerprinting, the quality report
//! that gates training, and the time-ordered training table.

mod load;
mod quality;
mod record;
mod table;

pub use load::{COLUMNS, Dataset, DroppedRow, Fingerprint, LoadError, load, parse};
pub use quality::{
    ColumnReport, FeatureColumns, Gap, LeakageReport, QualityReport, SequenceReport, Severity,
    TARGET_COLUMNS, TargetReport, Violation, assess,
};
pub use record::HourRecord;
pub use table::{TrainingTable, temporal_holdout_start};
