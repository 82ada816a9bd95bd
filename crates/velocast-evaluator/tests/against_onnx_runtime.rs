//! Random blends, exported to ONNX as the trainer exports them, score the same natively and in
//! the real ONNX Runtime: unbalanced trees of every depth up to 10 in shuffled node order,
//! thresholds rows hit exactly, NaN (the missing-value branch: `BRANCH_LT` with missing values
//! tracked to the false side, the one mode the exporter writes), every link, weighted blends,
//! batches of every size around the evaluator's block of rows.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use proptest::prelude::*;
use velocast_evaluator::CompiledBlend;
use velocast_onnx::{ExportOptions, export};
use velocast_runtime::{Runtime, resolve_dylib_path};
use velocast_trees::testing;

const FEATURES: usize = 5;

fn runtime() -> Runtime {
    let default =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.velocast/lib/libonnxruntime.so");
    let path = resolve_dylib_path(
        std::env::var_os("ORT_DYLIB_PATH")
            .is_none()
            .then_some(default.as_path()),
    );
    Runtime::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

fn options() -> ExportOptions {
    ExportOptions {
        graph_name: "random".into(),
        input_name: "features".into(),
        output_name: "demand".into(),
        n_features: FEATURES,
        producer_version: "test".into(),
        doc_string: String::new(),
        metadata: vec![],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn native_scores_equal_onnx_runtime(seed in any::<u64>(), count in 1usize..40) {
        let blend = testing::blend(seed, FEATURES, 10);
        let rows = testing::rows(seed, FEATURES, count);
        let compiled = CompiledBlend::compile(&blend, FEATURES).unwrap();
        let native = compiled.predict(&rows).unwrap();
        let mut session = runtime().session(&export(&blend, &options()), 1).unwrap();
        let onnx = session.predict(&rows).unwrap();
        prop_assert_eq!(native.len(), onnx.len());
        for (row, (n, o)) in native.iter().zip(&onnx).enumerate() {
            // Both accumulate trees in f64 and answer in f32; the graph applies links and
            // weights and adds the members in f32, here in f64: a few units in the last place
            // of the largest term apart at most (members can cancel).
            let terms: f64 = blend
                .members
                .iter()
                .map(|m| (m.weight * m.ensemble.predict(&rows[row * FEATURES..(row + 1) * FEATURES])).abs())
                .sum();
            let scale = terms.max(1.0) as f32;
            prop_assert!(
                (n - o).abs() <= 1e-5 * scale,
                "row {}: native {} vs ONNX Runtime {} ({:?})",
                row, n, o, &rows[row * FEATURES..(row + 1) * FEATURES]
            );
        }
        // And both agree with the reference walk over the uncompiled trees.
        for (row, n) in rows.chunks_exact(FEATURES).zip(&native) {
            let reference = blend.predict(row) as f32;
            prop_assert!((n - reference).abs() <= 1e-5 * reference.abs().max(1.0));
        }
    }
}
