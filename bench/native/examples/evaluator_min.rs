//! The evaluator benchmark as minimum times over many repetitions: on a shared virtual machine
//! whose steal time swings criterion's means by 2×, the minimum is what the code costs.
//!
//! `cargo run --release -p velocast-bench --example evaluator_min` (pin it: `taskset -c 0`).
#![allow(clippy::unwrap_used, clippy::print_stdout)]
use std::time::Instant;
use velocast_bench::{holdout_rows, model_bytes, runtime};
use velocast_evaluator::CompiledBlend;

fn min_time(reps: usize, mut f: impl FnMut()) -> f64 {
    let mut best = f64::MAX;
    for _ in 0..reps {
        let t = Instant::now();
        f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    best
}

fn main() {
    let bytes = model_bytes().unwrap();
    let rows = holdout_rows().unwrap();
    let info = velocast_onnx::read(&bytes).unwrap();
    let native = CompiledBlend::compile(&info.blend, 15).unwrap();
    let mut session = runtime().unwrap().session(&bytes, 1).unwrap();
    let one = &rows[15 * 100..15 * 101];
    let batch = &rows[..256 * 15];
    let n1 = min_time(20000, || {
        std::hint::black_box(native.predict(one).unwrap());
    });
    let o1 = min_time(20000, || {
        std::hint::black_box(session.predict(one).unwrap());
    });
    let nb = min_time(300, || {
        std::hint::black_box(native.predict(batch).unwrap());
    });
    let ob = min_time(300, || {
        std::hint::black_box(session.predict(batch).unwrap());
    });
    println!(
        "single: native {:.2} µs, ort {:.2} µs, ratio {:.2}",
        n1 * 1e6,
        o1 * 1e6,
        o1 / n1
    );
    println!(
        "batch/row: native {:.2} µs, ort {:.2} µs, ratio {:.2}",
        nb * 1e6 / 256.0,
        ob * 1e6 / 256.0,
        ob / nb
    );
    // For bench/explain.sh.
    println!(
        "{{\"native_single_seconds\": {n1}, \"ort_single_seconds\": {o1}, \"native_batch_row_seconds\": {}, \"ort_batch_row_seconds\": {}, \"layout\": \"{}\", \"table_bytes\": {}}}",
        nb / 256.0,
        ob / 256.0,
        native.layout().name(),
        native.table_bytes()
    );
}
