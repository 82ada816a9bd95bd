//! Random blends, exported to ONNX as the trainer exports them, score the same natively and in
//! the real ONNX Runtime: unbalanced trees of every depth up to 10 in shuffled node order,
//! thresholds rows hit exactly, NaN (the missing-value branch: `BRANCH_LT` with missing values
//! tracked to the false side, the one mode the exporter writes), every link, weighted blends,
//! batches of every size around the evaluator's block of rows. Both layouts (leaf masks over
//! binned features, the default; the node walk, for models too large for the masks) are held
//! to the same answers.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use proptest::prelude::*;
use velocast_evaluator::{CompiledBlend, Layout};
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
        let masks = CompiledBlend::compile(&blend, FEATURES).unwrap();
        prop_assert_eq!(masks.layout(), Layout::Masks);
        let walk = CompiledBlend::compile_as(&blend, FEATURES, Layout::Walk).unwrap();
        let native = masks.predict(&rows).unwrap();
        let walked = walk.predict(&rows).unwrap();
        let mut session = runtime().session(&export(&blend, &options()), 1).unwrap();
        let onnx = session.predict(&rows).unwrap();
        prop_assert_eq!(native.len(), onnx.len());
        prop_assert_eq!(walked.len(), onnx.len());
        for (row, (n, o)) in native.iter().zip(&onnx).enumerate() {
            // We accumulate trees in f64; ONNX Runtime, on some of its paths, in f32, so its
            // answer can be off by a few f32 units of the *partial sums* (leaves of ±50 that
            // cancel to 1 leave an error of ~1e-5): the scale is the sum of the absolute
            // leaves each member adds up, through the slope of its link, weighted.
            let row_values = &rows[row * FEATURES..(row + 1) * FEATURES];
            let terms: f64 = blend
                .members
                .iter()
                .map(|m| {
                    let leaves: f64 = m.ensemble.trees.iter().map(|t| f64::from(t.predict(row_values)).abs()).sum();
                    let slope = match m.ensemble.link {
                        velocast_trees::Link::Identity => 1.0,
                        _ => m.ensemble.predict(row_values).abs() + 1.0,
                    };
                    (m.weight * slope * leaves).abs()
                })
                .sum();
            let scale = terms.max(1.0) as f32;
            prop_assert!(
                (n - o).abs() <= 1e-5 * scale,
                "row {}: native {} vs ONNX Runtime {} ({:?})",
                row, n, o, &rows[row * FEATURES..(row + 1) * FEATURES]
            );
            // The layouts sum the same f32 leaves in f64, in another order.
            let w = walked[row];
            prop_assert!((n - w).abs() <= 1e-6 * scale, "row {}: masks {} vs walk {}", row, n, w);
        }
        // And both agree with the reference walk over the uncompiled trees.
        for (row, n) in rows.chunks_exact(FEATURES).zip(&native) {
            let reference = blend.predict(row) as f32;
            prop_assert!((n - reference).abs() <= 1e-5 * reference.abs().max(1.0));
        }
    }
}
