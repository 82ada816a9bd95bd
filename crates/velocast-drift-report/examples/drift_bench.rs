//! The Rust side of bench/drift.sh: reads two CSV files, builds the report `repeats` times,
//! and prints one JSON line: the read time, each build's time, the process's peak resident
//! memory (VmHWM) and every column's verdict (for the agreement check against Evidently).
//!
//!   cargo run --release --example drift_bench -- ref.csv cur.csv repeats [columns]

// A measuring tool, not a service: a failure ends it with the reason.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::time::Instant;

use velocast_drift_report::{DriftOptions, build, read_csv_pair};

/// The process's peak resident set, in KiB, from /proc (the same number Python's
/// `resource.getrusage(...).ru_maxrss` gives).
fn peak_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmHWM:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (reference, current) = (&args[1], &args[2]);
    let repeats: usize = args[3].parse().unwrap();
    let columns = args
        .get(4)
        .map(|list| list.split(',').map(str::to_owned).collect());
    let started = Instant::now();
    let (reference, current) =
        read_csv_pair(reference.as_ref(), current.as_ref()).expect("reading the windows");
    let read_seconds = started.elapsed().as_secs_f64();
    let options = DriftOptions {
        columns,
        ..DriftOptions::default()
    };
    let mut seconds = Vec::with_capacity(repeats);
    let mut report = None;
    for _ in 0..repeats {
        let started = Instant::now();
        let built = build(&reference, &current, &options).expect("building the report");
        seconds.push(started.elapsed().as_secs_f64());
        report = Some(built);
    }
    let report = report.expect("at least one repeat");
    let columns: serde_json::Map<String, serde_json::Value> = report
        .drift_by_columns
        .0
        .iter()
        .map(|c| {
            (
                c.column_name.clone(),
                serde_json::json!({"stattest": c.stattest, "drift_score": c.drift_score,
                                   "drift_detected": c.drift_detected}),
            )
        })
        .collect();
    let line = serde_json::json!({
        "read_seconds": read_seconds,
        "report_seconds": seconds,
        "peak_kib": peak_kib(),
        "number_of_drifted_columns": report.number_of_drifted_columns,
        "dataset_drift": report.dataset_drift,
        "columns": columns,
    });
    println!("{line}");
}
