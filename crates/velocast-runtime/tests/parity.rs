//! Exported blends run in the real ONNX Runtime and agree with the native trees.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;

use velocast_onnx::{ExportOptions, export};
use velocast_runtime::{Runtime, RuntimeError, resolve_dylib_path};
use velocast_trees::{Blend, GbdtParams, Matrix, Member, Objective, fit};

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

fn data(rows: usize) -> (Vec<f32>, Vec<f64>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..rows {
        let hour = (i % 24) as f32;
        let temp = ((i * 37) % 101) as f32 / 100.0;
        let weekday = ((i / 24) % 7) as f32;
        x.extend([hour, temp, weekday]);
        let peak = if hour == 8.0 || hour == 17.0 {
            5.0
        } else {
            1.0
        };
        y.push((peak * (10.0 + 80.0 * f64::from(temp)) + f64::from(weekday)).round());
    }
    (x, y)
}

fn options() -> ExportOptions {
    ExportOptions {
        graph_name: "demand".into(),
        input_name: "features".into(),
        output_name: "demand".into(),
        n_features: 3,
        producer_version: "test".into(),
        doc_string: String::new(),
        metadata: vec![],
    }
}

#[test]
fn onnx_runtime_reproduces_every_objective_and_a_blend() {
    let (x, y) = data(3000);
    let m = Matrix::new(&x, 3).unwrap();
    let member = |name: &str, objective, weight: f32| Member {
        name: name.into(),
        weight: f64::from(weight),
        ensemble: fit(
            m,
            &y,
            &GbdtParams {
                objective,
                rounds: 120,
                ..GbdtParams::default()
            },
        )
        .unwrap(),
    };
    let runtime = runtime();
    let blends = [
        Blend {
            members: vec![member("raw", Objective::SquaredError, 1.0)],
        },
        Blend {
            members: vec![member("log1p", Objective::Log1pSquaredError, 1.0)],
        },
        Blend {
            members: vec![member("poisson", Objective::Poisson, 1.0)],
        },
        Blend {
            members: vec![
                member("raw", Objective::SquaredError, 0.3),
                member("poisson", Objective::Poisson, 0.7),
            ],
        },
    ];
    for blend in blends {
        let mut session = runtime.session(&export(&blend, &options()), 1).unwrap();
        assert_eq!(session.n_features(), 3);
        let onnx = session.predict(&x).unwrap();
        assert_eq!(onnx.len(), 3000);
        let worst = (0..m.rows())
            .map(|r| {
                let native = blend.predict(m.row(r));
                (f64::from(onnx[r]) - native).abs() / native.abs().max(1.0)
            })
            .fold(0.0, f64::max);
        // f32 output of f64-accumulated sums: agreement to float precision, far inside 1e-3.
        assert!(
            worst < 1e-5,
            "{}: worst relative error {worst}",
            blend.members[0].name
        );
    }
}

#[test]
fn wrong_shapes_and_bad_models_are_errors_not_panics() {
    let (x, y) = data(200);
    let m = Matrix::new(&x, 3).unwrap();
    let blend = Blend::single(
        "p",
        fit(
            m,
            &y,
            &GbdtParams {
                rounds: 5,
                ..GbdtParams::default()
            },
        )
        .unwrap(),
    );
    let runtime = runtime();
    let mut session = runtime.session(&export(&blend, &options()), 1).unwrap();
    assert!(matches!(
        session.predict(&x[..5]),
        Err(RuntimeError::Shape {
            expected: 3,
            got: 5,
            ..
        })
    ));
    assert!(matches!(
        session.predict(&[]),
        Err(RuntimeError::Shape { .. })
    ));
    assert!(matches!(
        runtime.session(b"not a model", 1),
        Err(RuntimeError::Model(_))
    ));
}
