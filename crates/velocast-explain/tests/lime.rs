//! LIME recovers the coefficients of a linear model compiled to trees (each feature's term a
//! fine staircase tree), is reproducible from its seed, and treats categorical features as
//! `lime` does.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use velocast_explain::lime::{FeatureStats, LimeError, LimeOptions, explain};
use velocast_trees::{Blend, Ensemble, Link, Node, Tree};

/// `slope · x` on [low, high] as a balanced tree of `steps` steps (each step's value is the
/// line at the step's middle; outside the range, the end steps).
fn staircase(feature: u32, slope: f64, low: f64, high: f64, steps: usize) -> Tree {
    fn build(nodes: &mut Vec<Node>, feature: u32, edges: &[f64], values: &[f64]) -> u32 {
        let at = nodes.len() as u32;
        if values.len() == 1 {
            nodes.push(Node::Leaf {
                value: values[0] as f32,
                count: 1,
            });
            return at;
        }
        let mid = values.len() / 2;
        nodes.push(Node::Leaf {
            value: 0.0,
            count: 0,
        });
        let left = build(nodes, feature, &edges[..mid], &values[..mid]);
        let right = build(nodes, feature, &edges[mid..], &values[mid..]);
        nodes[at as usize] = Node::Split {
            feature,
            threshold: edges[mid - 1] as f32,
            left,
            right,
            gain: 0.0,
            count: 0,
        };
        at
    }
    let width = (high - low) / steps as f64;
    // Inner edges between steps.
    let edges: Vec<f64> = (1..steps).map(|k| low + width * k as f64).collect();
    let values: Vec<f64> = (0..steps)
        .map(|k| slope * (low + width * (k as f64 + 0.5)))
        .collect();
    let mut nodes = Vec::new();
    build(&mut nodes, feature, &edges, &values);
    Tree { nodes }
}

#[test]
fn recovers_the_coefficients_of_a_linear_model_compiled_to_trees() {
    // f(x) = 500 + 2·x0 − 0.5·x1 + 0·x2 + 10·x3, each term a 512-step staircase over ±5 std
    // (the intercept keeps the blend above its zero floor, where it is linear).
    let slopes = [2.0, -0.5, 0.0, 10.0];
    let stats: Vec<FeatureStats> = [(20.0, 8.0), (60.0, 20.0), (0.0, 1.0), (0.5, 0.2)]
        .iter()
        .map(|&(mean, std)| FeatureStats::Numeric { mean, std })
        .collect();
    let mut trees = vec![Tree::leaf(500.0)];
    for (f, (slope, stat)) in slopes.iter().zip(&stats).enumerate() {
        let FeatureStats::Numeric { mean, std } = stat else {
            unreachable!()
        };
        trees.push(staircase(
            f as u32,
            *slope,
            mean - 5.0 * std,
            mean + 5.0 * std,
            512,
        ));
    }
    let blend = Blend::single(
        "linear",
        Ensemble {
            trees,
            link: Link::Identity,
        },
    );
    let predict = |rows: &[f32]| {
        rows.chunks_exact(4)
            .map(|r| blend.predict(r))
            .collect::<Vec<f64>>()
    };
    let instance = [25.0_f32, 40.0, 0.3, 0.7];
    let options = LimeOptions {
        samples: 5000,
        seed: 7,
        ..LimeOptions::default()
    };
    let lime = explain(&instance, &stats, &options, predict).unwrap();
    for (f, (got, want)) in lime.per_unit.iter().zip(slopes).enumerate() {
        let std = match stats[f] {
            FeatureStats::Numeric { std, .. } => std,
            FeatureStats::Categorical { .. } => unreachable!(),
        };
        // A staircase step is 10 std / 512; the ridge shrinks a little (α = 1 on ~5000
        // weighted samples). Within 0.5 % of the slope, or 0.002 per std for the zero slope.
        let tolerance = (0.005 * want.abs()).max(0.002 / std);
        assert!(
            (got - want).abs() <= tolerance,
            "feature {f}: {got} per unit vs {want}"
        );
    }
    assert!(lime.score > 0.999, "R² {}", lime.score);
    let at_instance = blend.predict(&instance);
    assert!((lime.local_prediction - at_instance).abs() < 0.05 * at_instance.abs());

    // Reproducible from its seed; another seed gives other samples.
    let again = explain(&instance, &stats, &options, predict).unwrap();
    assert_eq!(again, lime);
    let other = explain(
        &instance,
        &stats,
        &LimeOptions {
            seed: 8,
            ..options.clone()
        },
        predict,
    )
    .unwrap();
    assert_ne!(other.coefficients, lime.coefficients);
}

#[test]
fn categorical_features_are_sampled_by_frequency_and_compared_with_the_instance() {
    // f = 100 when x0 == 2 (one of three weather codes), else 0; x1 does nothing.
    let tree = Tree {
        nodes: vec![
            Node::Split {
                feature: 0,
                threshold: 1.5,
                left: 1,
                right: 2,
                gain: 0.0,
                count: 0,
            },
            Node::Leaf {
                value: 0.0,
                count: 0,
            },
            Node::Split {
                feature: 0,
                threshold: 2.5,
                left: 3,
                right: 4,
                gain: 0.0,
                count: 0,
            },
            Node::Leaf {
                value: 100.0,
                count: 0,
            },
            Node::Leaf {
                value: 0.0,
                count: 0,
            },
        ],
    };
    let blend = Blend::single(
        "weather",
        Ensemble {
            trees: vec![tree],
            link: Link::Identity,
        },
    );
    let stats = vec![
        FeatureStats::Categorical {
            values: vec![1.0, 2.0, 3.0],
            counts: vec![60.0, 30.0, 10.0],
        },
        FeatureStats::Numeric {
            mean: 0.0,
            std: 1.0,
        },
    ];
    let predict = |rows: &[f32]| {
        rows.chunks_exact(2)
            .map(|r| blend.predict(r))
            .collect::<Vec<f64>>()
    };
    let lime = explain(&[2.0, 0.0], &stats, &LimeOptions::default(), predict).unwrap();
    // "Equals the instance's weather" is worth the whole 100; the other feature nothing.
    assert!(
        (lime.coefficients[0] - 100.0).abs() < 2.0,
        "{:?}",
        lime.coefficients
    );
    assert!(lime.coefficients[1].abs() < 2.0, "{:?}", lime.coefficients);

    assert_eq!(
        explain(&[2.0], &stats, &LimeOptions::default(), predict).unwrap_err(),
        LimeError::Shape {
            expected: 1,
            got: 2
        }
    );
    let empty = vec![FeatureStats::Categorical {
        values: vec![],
        counts: vec![],
    }];
    assert_eq!(
        explain(&[1.0], &empty, &LimeOptions::default(), |r: &[f32]| {
            vec![0.0; r.len()]
        })
        .unwrap_err(),
        LimeError::NoValues(0)
    );
}
