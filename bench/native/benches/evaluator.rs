//! The native evaluator against ONNX Runtime in process, on the trained blend: one row per
//! call and 256-row batches, per row. ONNX Runtime runs with one intra-op thread, as the
//! gateway runs it (one session per inference thread), and the native evaluator on one thread.
//!
//! `cargo bench -p velocast-bench --bench evaluator` (after `make train`).

#![allow(clippy::expect_used, clippy::print_stderr)]

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use velocast_bench::{benchmark_model, holdout_rows, runtime};
use velocast_evaluator::CompiledBlend;

const FEATURES: usize = 15;

fn evaluator(c: &mut Criterion) {
    let (bytes, which) = benchmark_model().expect("the model to measure");
    let rows = holdout_rows().expect("the holdout rows");
    let info = velocast_onnx::read(&bytes).expect("a Velocast model");
    let native = CompiledBlend::compile(&info.blend, FEATURES).expect("compiles");
    let mut session = runtime()
        .expect("ONNX Runtime")
        .session(&bytes, 1)
        .expect("a session");
    let n_rows = rows.len() / FEATURES;
    eprintln!(
        "model ({which}): {} trees, {} nodes; {n_rows} holdout rows",
        native.n_trees(),
        native.n_nodes()
    );

    let mut single = c.benchmark_group("single_row");
    single.throughput(Throughput::Elements(1));
    let mut next = 0;
    single.bench_function("native", |b| {
        b.iter(|| {
            next = (next + 1) % n_rows;
            native.predict(&rows[next * FEATURES..(next + 1) * FEATURES])
        })
    });
    single.bench_function("onnxruntime", |b| {
        b.iter(|| {
            next = (next + 1) % n_rows;
            session.predict(&rows[next * FEATURES..(next + 1) * FEATURES])
        })
    });
    single.finish();

    let batch = &rows[..256 * FEATURES];
    let mut batched = c.benchmark_group("batch_256");
    batched.throughput(Throughput::Elements(256));
    batched.bench_function("native", |b| {
        b.iter_batched(|| (), |()| native.predict(batch), BatchSize::SmallInput)
    });
    batched.bench_function("onnxruntime", |b| {
        b.iter_batched(|| (), |()| session.predict(batch), BatchSize::SmallInput)
    });
    batched.finish();
}

criterion_group!(benches, evaluator);
criterion_main!(benches);
