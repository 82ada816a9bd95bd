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

/// Training rows per node in the original's own node order.
fn counts(blend: &Blend) -> Vec<Vec<Vec<f64>>> {
    blend
        .members
        .iter()
        .map(|m| {
            m.ensemble
                .trees
                .iter()
                .map(|t| {
                    t.nodes
                        .iter()
                        .map(|n| match n {
                            velocast_trees::Node::Split { count, .. }
                            | velocast_trees::Node::Leaf { count, .. } => f64::from(*count),
                        })
                        .collect()
                })
                .collect()
        })
        .collect()
}

#[test]
fn node_covers_travel_in_the_metadata_and_land_on_their_nodes() {
    let original = blend();
    let info = read(&export(&original, &options())).unwrap();
    let covers = info.covers.expect("a trained blend carries its covers");
    // The read trees are renumbered (pre-order), so compare node by node along each walk:
    // every node of the read tree has the cover of the node it came from.
    let want = counts(&original);
    for (m, (read_member, original_member)) in
        info.blend.members.iter().zip(&original.members).enumerate()
    {
        for (t, (read_tree, original_tree)) in read_member
            .ensemble
            .trees
            .iter()
            .zip(&original_member.ensemble.trees)
            .enumerate()
        {
            let mut pairs = vec![(0usize, 0usize)];
            while let Some((r, o)) = pairs.pop() {
                assert_eq!(
                    covers[m][t][r], want[m][t][o],
                    "member {m} tree {t} node {o}"
                );
                if let (
                    velocast_trees::Node::Split {
                        left: rl,
                        right: rr,
                        ..
                    },
                    velocast_trees::Node::Split {
                        left: ol,
                        right: or,
                        ..
                    },
                ) = (read_tree.nodes[r], original_tree.nodes[o])
                {
                    pairs.push((rl as usize, ol as usize));
                    pairs.push((rr as usize, or as usize));
                }
            }
        }
    }
    assert!(
        covers[0][0][0] > 0.0,
        "the first tree's root saw the training rows"
    );

    // A model without counts carries no covers; damaged covers are a typed error.
    let bare = Blend::single(
        "only",
        Ensemble {
            trees: vec![Tree::leaf(2.0)],
            link: Link::Identity,
        },
    );
    assert_eq!(read(&export(&bare, &options())).unwrap().covers, None);
    let mut model = velocast_onnx::model_proto(&original, &options());
    for entry in &mut model.metadata_props {
        if entry.key == velocast_onnx::covers::NODE_COVERS_KEY {
            entry.value = entry.value.replacen(',', ",x", 1);
        }
    }
    use prost::Message;
    assert!(matches!(
        read(&model.encode_to_vec()),
        Err(ReadError::Metadata { .. })
    ));
}
