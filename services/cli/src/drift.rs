//! `velocast drift`: Evidently's `DataDriftPreset` verdict on two CSV files, without a server.
//! Outputs are written only once the whole report is made, each through a temporary file
//! renamed into place, so a failed run leaves earlier outputs as they were.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::files::Failure;

use clap::Args;
use velocast_drift::StatTest;
use velocast_drift_report::{
    DriftOptions, DriftReport, ReportError, build, read_csv_pair, to_html,
};

#[derive(Debug, Args)]
pub struct DriftArgs {
    /// The reference window: a CSV file with a header row.
    #[arg(long)]
    reference: PathBuf,
    /// The current window, with the reference's columns.
    #[arg(long)]
    current: PathBuf,
    /// Columns to test, comma-separated (default: every column of the reference).
    #[arg(long, value_delimiter = ',')]
    columns: Option<Vec<String>>,
    /// Force a test: `psi` for every column, or `column=psi` for one (repeatable). Tests:
    /// wasserstein, jensenshannon, psi, kl_div, hellinger, ed, chisquare, z, ks, anderson,
    /// cramer_von_mises.
    #[arg(long)]
    stattest: Vec<String>,
    /// A threshold: `0.2` for every column, or `column=0.2` for one (repeatable).
    #[arg(long)]
    threshold: Vec<String>,
    /// The share of drifted columns at which the dataset drifts.
    #[arg(long, default_value_t = 0.5)]
    drift_share: f64,
    /// Write the HTML report here.
    #[arg(long)]
    html: Option<PathBuf>,
    /// Write the JSON report here (Evidently's names).
    #[arg(long)]
    json: Option<PathBuf>,
}

impl From<ReportError> for Failure {
    fn from(error: ReportError) -> Self {
        match error {
            ReportError::Option { .. }
            | ReportError::MissingColumn { .. }
            | ReportError::TextColumn { .. } => Failure::Usage(error.to_string()),
            other => Failure::Run(other.to_string()),
        }
    }
}

pub fn run(args: &DriftArgs) -> ExitCode {
    crate::files::exit(report(args))
}

/// Splits `column=value` from a bare `value`.
fn per_column<T>(
    option: &str,
    entries: &[String],
    parse: impl Fn(&str) -> Result<T, String>,
) -> Result<(Option<T>, BTreeMap<String, T>), Failure> {
    let mut every = None;
    let mut columns = BTreeMap::new();
    for entry in entries {
        let (column, value) = match entry.split_once('=') {
            Some((column, value)) => (Some(column.trim()), value.trim()),
            None => (None, entry.trim()),
        };
        let value = parse(value).map_err(|e| Failure::Usage(format!("--{option} {entry}: {e}")))?;
        match column {
            Some("") => {
                return Err(Failure::Usage(format!(
                    "--{option} {entry}: the column name is empty"
                )));
            }
            Some(column) => {
                columns.insert(column.to_owned(), value);
            }
            None => every = Some(value),
        }
    }
    Ok((every, columns))
}

fn options(args: &DriftArgs) -> Result<DriftOptions, Failure> {
    let (stattest, per_column_stattest) = per_column("stattest", &args.stattest, |name| {
        StatTest::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = StatTest::ALL.iter().map(|t| t.name()).collect();
            format!("unknown test (one of {})", known.join(", "))
        })
    })?;
    let (threshold, per_column_threshold) = per_column("threshold", &args.threshold, |text| {
        match text.parse::<f64>() {
            Ok(value) if value.is_finite() && value >= 0.0 => Ok(value),
            _ => Err("must be a finite number ≥ 0".to_owned()),
        }
    })?;
    Ok(DriftOptions {
        columns: args.columns.clone(),
        stattest,
        per_column_stattest,
        threshold,
        per_column_threshold,
        drift_share: args.drift_share,
        column_types: BTreeMap::new(),
    })
}

fn report(args: &DriftArgs) -> Result<(), Failure> {
    let options = options(args)?;
    let (reference, current) = read_csv_pair(&args.reference, &args.current)?;
    let report = build(&reference, &current, &options)?;
    let title = format!(
        "{} against {}",
        file_name(&args.current),
        file_name(&args.reference)
    );
    // Every output is made before any is written.
    let json = args
        .json
        .as_ref()
        .map(|path| {
            serde_json::to_vec_pretty(&report)
                .map(|bytes| (path, bytes))
                .map_err(|e| Failure::Run(format!("the JSON report: {e}")))
        })
        .transpose()?;
    let html = args
        .html
        .as_ref()
        .map(|path| (path, to_html(&report, &title).into_bytes()));
    for (path, bytes) in json.into_iter().chain(html) {
        crate::files::write_atomically(path, &bytes)
            .map_err(|e| Failure::Run(format!("{}: {e}", path.display())))?;
    }
    print_summary(&report, args);
    Ok(())
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(
        || path.display().to_string(),
        |name| name.to_string_lossy().into_owned(),
    )
}

fn print_summary(report: &DriftReport, args: &DriftArgs) {
    println!(
        "{:<16} {:<31} {:>12} {:>10}  drift",
        "column", "test", "score", "threshold"
    );
    for column in &report.drift_by_columns.0 {
        println!(
            "{:<16} {:<31} {:>12.6} {:>10}  {}",
            column.column_name,
            column.stattest_name,
            column.drift_score,
            column.stattest_threshold,
            if column.drift_detected { "yes" } else { "no" }
        );
    }
    println!(
        "dataset drift: {} ({} of {} columns, share {:.3}; threshold {})",
        if report.dataset_drift { "yes" } else { "no" },
        report.number_of_drifted_columns,
        report.number_of_columns,
        report.share_of_drifted_columns,
        report.drift_share
    );
    for (label, path) in [("JSON", &args.json), ("HTML", &args.html)] {
        if let Some(path) = path {
            println!("{label} report: {}", path.display());
        }
    }
}
