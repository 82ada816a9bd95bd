//! TreeSHAP on the trained blend, as minimum times (see `evaluator_min`): one holdout row, and
//! every holdout row, path-dependent, on one thread.
//!
//! `cargo run --release -p velocast-bench --example explain_min` (pin it: `taskset -c 0`).
#![allow(clippy::unwrap_used, clippy::print_stdout)]
use std::time::Instant;

use velocast_bench::{holdout_rows, model_bytes};
use velocast_explain::{Explainer, Mode};

fn main() {
    let info = velocast_onnx::read(&model_bytes().unwrap()).unwrap();
    let started = Instant::now();
    let explainer = Explainer::new(info.blend, 15, info.covers).unwrap();
    let setup = started.elapsed().as_secs_f64();
    println!(
        "explainer ready in {setup:.3} s: {:?}",
        explainer.table_stats()
    );
    let rows = holdout_rows().unwrap();
    // For the side-by-side with shap (bench/explain_shap.py): the same rows as CSV.
    if let Some(path) = std::env::var_os("VELOCAST_WRITE_ROWS") {
        let text: String = rows
            .chunks_exact(15)
            .map(|row| {
                let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
                cells.join(",") + "\n"
            })
            .collect();
        std::fs::write(path, text).unwrap();
    }
    let mut best = f64::MAX;
    for i in 0..2000 {
        let row = &rows[(i % 2888) * 15..(i % 2888 + 1) * 15];
        let started = Instant::now();
        std::hint::black_box(explainer.explain(row, &Mode::PathDependent).unwrap());
        best = best.min(started.elapsed().as_secs_f64());
    }
    let mut all = f64::MAX;
    for _ in 0..3 {
        let started = Instant::now();
        std::hint::black_box(explainer.explain(&rows, &Mode::PathDependent).unwrap());
        all = all.min(started.elapsed().as_secs_f64());
    }
    println!(
        "path-dependent TreeSHAP: one row {:.1} µs; all {} holdout rows {:.3} s",
        best * 1e6,
        rows.len() / 15,
        all
    );
    // For bench/explain.sh.
    println!(
        "{{\"one_row_seconds\": {best}, \"all_rows_seconds\": {all}, \"rows\": {}, \"setup_seconds\": {setup}, \"table_bytes\": {}}}",
        rows.len() / 15,
        explainer.table_stats().map_or(0, |s| s.bytes)
    );
}
