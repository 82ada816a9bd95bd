//! Writes the inputs of the `shap` golden files: a blend trained on hour.csv's training part
//! (log1p and Poisson GBDTs and the log1p ridge, every member the trainer exports) as ONNX with
//! its node covers, 200 holdout rows and 100 background rows (evenly spaced over the training
//! part), all under `crates/velocast-explain/tests/golden/`. Then `generate.py` there asks
//! `shap` for the answers.
//!
//! `cargo run --release -p velocast-explain --example golden_inputs -- .velocast/data/hour.csv`

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout)]

use std::fmt::Write as _;
use std::path::Path;

use velocast_onnx::{ExportOptions, export};
use velocast_trees::ridge::{RidgeParams, fit_ridge};
use velocast_trees::{Blend, GbdtParams, Link, Matrix, Member, Objective, fit};

const FEATURES: usize = 15;

fn csv(rows: &[f32]) -> String {
    let mut text = String::new();
    for row in rows.chunks_exact(FEATURES) {
        let cells: Vec<String> = row.iter().map(|v| format!("{v:?}")).collect();
        writeln!(text, "{}", cells.join(",")).unwrap();
    }
    text
}

fn main() {
    let data = std::env::args()
        .nth(1)
        .expect("usage: golden_inputs <hour.csv>");
    let dataset = velocast_dataset::load(Path::new(&data)).expect("hour.csv");
    let table = velocast_dataset::TrainingTable::from_records(&dataset.records);
    let (train_table, holdout_table) =
        table.split_at_time(velocast_dataset::temporal_holdout_start());
    let (train, target, holdout) = (
        train_table.flat_features(),
        train_table.target,
        holdout_table.flat_features(),
    );
    let matrix = Matrix::new(&train, FEATURES).unwrap();
    let gbdt = |objective| {
        fit(
            matrix,
            &target,
            &GbdtParams {
                objective,
                rounds: 60,
                ..GbdtParams::default()
            },
        )
        .unwrap()
    };
    let ridge = fit_ridge(
        matrix,
        &target,
        &RidgeParams {
            // hr_workingday, mnth, weekday, weathersit, yr, holiday
            categorical_features: vec![12, 2, 5, 7, 1, 4],
            alpha: 1.0,
            link: Link::Log1p,
        },
    )
    .unwrap();
    // Weights f32 holds exactly (the file stores them in f32).
    let blend = Blend {
        members: vec![
            Member {
                name: "gbdt_log1p".into(),
                weight: 0.5,
                ensemble: gbdt(Objective::Log1pSquaredError),
            },
            Member {
                name: "gbdt_poisson".into(),
                weight: 0.375,
                ensemble: gbdt(Objective::Poisson),
            },
            Member {
                name: "ridge_log1p".into(),
                weight: 0.125,
                ensemble: ridge,
            },
        ],
    };
    let out = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden");
    let options = ExportOptions {
        graph_name: "golden".into(),
        input_name: "features".into(),
        output_name: "demand".into(),
        n_features: FEATURES,
        producer_version: "golden".into(),
        doc_string: "The blend the shap golden files explain.".into(),
        metadata: vec![],
    };
    std::fs::write(out.join("blend.onnx"), export(&blend, &options)).unwrap();
    std::fs::write(out.join("rows.csv"), csv(&holdout[..200 * FEATURES])).unwrap();
    let n_train = train.len() / FEATURES;
    let background: Vec<f32> = (0..100)
        .flat_map(|k| {
            let r = k * n_train / 100;
            train[r * FEATURES..(r + 1) * FEATURES].to_vec()
        })
        .collect();
    std::fs::write(out.join("background.csv"), csv(&background)).unwrap();
    println!("wrote {}", out.display());
}
