//! Export, decode, and compare: the file holds exactly the model.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use velocast_onnx::{ExportOptions, ReadError, export, read};
use velocast_trees::{Blend, Ensemble, GbdtParams, Link, Matrix, Member, Objective, Tree, fit};

fn options() -> ExportOptions {
    ExportOptions {
        graph_name: "demand".into(),
        input_name: "features".into(),
        output_name: "demand".into(),
        n_features: 2,
        producer_version: "test".into(),
        doc_string: "round trip".into(),
        metadata: vec![("velocast.signature_hash".into(), "abc".into())],
    }
}

fn data() -> (Vec<f32>, Vec<f64>) {
    let mut x = Vec::new();
    let mut y = Vec::new();
    for i in 0..600 {
        let a = (i % 24) as f32;
        let b = ((i * 7) % 100) as f32 / 100.0;
        x.extend([a, b]);
        y.push(f64::from(a) * 3.0 + f64::from(b) * 50.0 + 1.0);
    }
    (x, y)
}

fn blend() -> Blend {
    let (x, y) = data();
    let m = Matrix::new(&x, 2).unwrap();
    let member = |name: &str, objective, weight| Member {
        name: name.into(),
        weight,
        ensemble: fit(
            m,
            &y,
            &GbdtParams {
                objective,
                rounds: 30,
                ..GbdtParams::default()
            },
        )
        .unwrap(),
    };
    let mut blend = Blend {
        members: vec![
            member("raw", Objective::SquaredError, 0.25),
            member("log1p", Objective::Log1pSquaredError, 0.35_f32 as f64),
            member("poisson", Objective::Poisson, 0.4_f32 as f64),
        ],
    };
    // A lone-leaf tree must survive the trip too.
    blend.members[0].ensemble.trees.push(Tree::leaf(0.5));
    blend
}

fn canonical(blend: &Blend) -> Blend {
    let mut blend = blend.clone();
    for member in &mut blend.members {
        for tree in &mut member.ensemble.trees {
            *tree = tree.canonical();
        }
    }
    blend
}

#[test]
fn a_blend_survives_export_and_read() {
    let original = blend();
    let bytes = export(&original, &options());
    let info = read(&bytes).unwrap();
    assert!(
        canonical(&info.blend) == canonical(&original),
        "decoded blend differs"
    );
    assert_eq!(info.input_name, "features");
    assert_eq!(info.n_features, Some(2));
    assert_eq!(info.metadata["velocast.signature_hash"], "abc");
    let (x, _) = data();
    let m = Matrix::new(&x, 2).unwrap();
    for r in 0..m.rows() {
        assert_eq!(info.blend.predict(m.row(r)), original.predict(m.row(r)));
    }
}

#[test]
fn single_member_exports_without_weight_node() {
    let single = Blend::single(
        "only",
        Ensemble {
            trees: vec![Tree::leaf(2.0)],
            link: Link::Log1p,
        },
    );
    let model = velocast_onnx::model_proto(&single, &options());
    let ops: Vec<&str> = model
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .map(|n| n.op_type.as_str())
        .collect();
    assert_eq!(ops, vec!["TreeEnsemble", "Exp", "Sub", "Relu"]);
    assert_eq!(read(&export(&single, &options())).unwrap().blend, single);
}

#[test]
fn garbage_is_a_typed_error() {
    assert!(matches!(
        read(b"\xff\xff\xff not onnx"),
        Err(ReadError::Decode(_))
    ));
    assert_eq!(read(&[]).unwrap_err(), ReadError::NoGraph);
}
