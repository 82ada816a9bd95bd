//! TreeSHAP against the definition: Shapley values computed by enumerating every coalition of
//! features, for random blends (unbalanced trees, shuffled nodes, repeated features on a path,
//! rows on thresholds, NaN), in both modes; and additivity on each.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use velocast_explain::{Explainer, Mode};
use velocast_trees::{Node, Tree, testing};

const FEATURES: usize = 5;

/// E[tree | x_S] along the covers (the path-dependent value function).
fn conditional(tree: &Tree, node: usize, row: &[f32], coalition: u32) -> f64 {
    match tree.nodes[node] {
        Node::Leaf { value, .. } => f64::from(value),
        Node::Split {
            feature,
            threshold,
            left,
            right,
            count,
            ..
        } => {
            if coalition & (1 << feature) != 0 {
                let next = if row[feature as usize] < threshold {
                    left
                } else {
                    right
                };
                conditional(tree, next as usize, row, coalition)
            } else {
                let weight = |i: u32| match tree.nodes[i as usize] {
                    Node::Split { count, .. } | Node::Leaf { count, .. } => f64::from(count),
                };
                (weight(left) * conditional(tree, left as usize, row, coalition)
                    + weight(right) * conditional(tree, right as usize, row, coalition))
                    / f64::from(count)
            }
        }
    }
}

fn factorial(n: usize) -> f64 {
    (1..=n).map(|k| k as f64).product()
}

/// Shapley values of `value` over FEATURES players, by enumeration.
fn shapley(value: impl Fn(u32) -> f64) -> Vec<f64> {
    let n = FEATURES;
    let values: Vec<f64> = (0..1u32 << n).map(&value).collect();
    (0..n)
        .map(|i| {
            (0..1u32 << n)
                .filter(|s| s & (1 << i) == 0)
                .map(|s| {
                    let size = s.count_ones() as usize;
                    let weight = factorial(size) * factorial(n - size - 1) / factorial(n);
                    weight * (values[(s | (1 << i)) as usize] - values[s as usize])
                })
                .sum()
        })
        .collect()
}

fn mixed(x: &[f32], z: &[f32], coalition: u32) -> Vec<f32> {
    (0..FEATURES)
        .map(|f| {
            if coalition & (1 << f) != 0 {
                x[f]
            } else {
                z[f]
            }
        })
        .collect()
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * a.abs().max(b.abs()).max(1.0)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(150))]

    #[test]
    fn path_dependent_equals_enumerated_shapley_values(seed in any::<u64>()) {
        let blend = testing::blend(seed, FEATURES, 8);
        let covers = Explainer::covers_from_counts(&blend);
        let explainer = Explainer::new(blend.clone(), FEATURES, Some(covers)).unwrap();
        prop_assert!(explainer.has_tables());
        let rows = testing::rows(seed, FEATURES, 6);
        // From the precomputed tables, and from the recursion alone: both are held to the
        // enumerated values.
        let tabulated = explainer.explain(&rows, &Mode::PathDependent).unwrap();
        let recursive = explainer
            .without_tables()
            .explain(&rows, &Mode::PathDependent)
            .unwrap();
        let explained = tabulated.iter().chain(&recursive);
        for (row, explanation) in rows.chunks_exact(FEATURES).cycle().zip(explained) {
            for (member, got) in blend.members.iter().zip(&explanation.members) {
                let value = |s: u32| member.ensemble.trees.iter().map(|t| conditional(t, 0, row, s)).sum::<f64>();
                let want = shapley(value);
                for (f, (g, w)) in got.contributions.iter().zip(&want).enumerate() {
                    prop_assert!(close(*g, *w), "feature {}: {} vs {}", f, g, w);
                }
                prop_assert!(close(got.base_value, value(0)));
                let total: f64 = got.base_value + got.contributions.iter().sum::<f64>();
                prop_assert!(close(total, got.score), "additivity {} vs {}", total, got.score);
            }
            let total = explanation.base_value + explanation.contributions.iter().sum::<f64>();
            prop_assert!(close(total, explanation.unfloored()));
            prop_assert!(close(explanation.prediction, explanation.unfloored().max(0.0)));
        }
    }

    #[test]
    fn interventional_equals_enumerated_shapley_values(seed in any::<u64>()) {
        let blend = testing::blend(seed, FEATURES, 8);
        let explainer = Explainer::new(blend.clone(), FEATURES, None).unwrap();
        let rows = testing::rows(seed, FEATURES, 4);
        let background = testing::rows(seed.wrapping_add(1), FEATURES, 7);
        let mode = Mode::Interventional { background: background.clone() };
        let explained = explainer.explain(&rows, &mode).unwrap();
        for (row, explanation) in rows.chunks_exact(FEATURES).zip(&explained) {
            for (member, got) in blend.members.iter().zip(&explanation.members) {
                let value = |s: u32| {
                    background
                        .chunks_exact(FEATURES)
                        .map(|z| member.ensemble.score(&mixed(row, z, s)))
                        .sum::<f64>()
                        / 7.0
                };
                let want = shapley(value);
                for (f, (g, w)) in got.contributions.iter().zip(&want).enumerate() {
                    prop_assert!(close(*g, *w), "feature {}: {} vs {}", f, g, w);
                }
                prop_assert!(close(got.base_value, value(0)));
                let total: f64 = got.base_value + got.contributions.iter().sum::<f64>();
                prop_assert!(close(total, got.score));
            }
        }
    }
}

/// Covers with the subtree under one split of each tree emptied (and its rows taken from every
/// node above it), as a tree whose training rows never reached a branch has.
fn with_empty_subtrees(
    blend: &velocast_trees::Blend,
    mut covers: Vec<Vec<Vec<f64>>>,
    seed: u64,
) -> Vec<Vec<Vec<f64>>> {
    let mut draw = testing::Draw(seed);
    for (member, member_covers) in blend.members.iter().zip(&mut covers) {
        for (tree, tree_covers) in member.ensemble.trees.iter().zip(member_covers) {
            let splits: Vec<usize> = (0..tree.nodes.len())
                .filter(|&i| i > 0 && matches!(tree.nodes[i], Node::Split { .. }))
                .collect();
            if splits.is_empty() {
                continue;
            }
            let chosen = splits[draw.below(splits.len() as u64) as usize];
            let removed = tree_covers[chosen];
            let mut parent = vec![usize::MAX; tree.nodes.len()];
            for (i, node) in tree.nodes.iter().enumerate() {
                if let Node::Split { left, right, .. } = node {
                    parent[*left as usize] = i;
                    parent[*right as usize] = i;
                }
            }
            let mut stack = vec![chosen];
            while let Some(i) = stack.pop() {
                tree_covers[i] = 0.0;
                if let Node::Split { left, right, .. } = tree.nodes[i] {
                    stack.extend([left as usize, right as usize]);
                }
            }
            let mut up = parent[chosen];
            while up != usize::MAX {
                tree_covers[up] -= removed;
                up = parent[up];
            }
        }
    }
    covers
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// Subtrees no training row reached contribute nothing, in the tables as in the recursion.
    #[test]
    fn tables_equal_the_recursion_with_empty_subtrees(seed in any::<u64>()) {
        let blend = testing::blend(seed, FEATURES, 8);
        let covers = with_empty_subtrees(&blend, Explainer::covers_from_counts(&blend), seed);
        let explainer = Explainer::new(blend, FEATURES, Some(covers)).unwrap();
        prop_assert!(explainer.has_tables());
        let rows = testing::rows(seed, FEATURES, 6);
        let tabulated = explainer.explain(&rows, &Mode::PathDependent).unwrap();
        let recursive = explainer.without_tables().explain(&rows, &Mode::PathDependent).unwrap();
        for (a, b) in tabulated.iter().zip(&recursive) {
            for (ma, mb) in a.members.iter().zip(&b.members) {
                prop_assert!(close(ma.base_value, mb.base_value));
                for (f, (x, y)) in ma.contributions.iter().zip(&mb.contributions).enumerate() {
                    prop_assert!(close(*x, *y), "feature {}: tables {} vs recursion {}", f, x, y);
                }
            }
        }
    }
}

/// A tree with a path through more distinct features than a subset table covers is explained
/// by the recursion, next to tabulated trees, and the sum is still the Shapley values.
#[test]
fn a_path_through_many_features_is_left_to_the_recursion() {
    use velocast_explain::tables::{MAX_PATH_FEATURES, PathTables};
    use velocast_trees::{Blend, Ensemble, Link};
    let width = MAX_PATH_FEATURES + 2;
    // A chain: node 2k splits on feature k, its left child is a leaf, its right the next split.
    let mut nodes = Vec::new();
    for k in 0..width {
        let at = nodes.len() as u32;
        nodes.push(Node::Split {
            feature: k as u32,
            threshold: 0.5,
            left: at + 1,
            right: at + 2,
            gain: 0.0,
            count: (2 * (width - k)) as u32,
        });
        nodes.push(Node::Leaf {
            value: k as f32 + 1.0,
            count: 1 + (k % 2) as u32,
        });
    }
    nodes.push(Node::Leaf {
        value: -3.0,
        count: 1,
    });
    // Counts consistent with the children: recompute bottom-up.
    for k in (0..width).rev() {
        let at = 2 * k;
        let child = |i: usize| match nodes[i] {
            Node::Split { count, .. } | Node::Leaf { count, .. } => count,
        };
        let total = child(at + 1) + child(at + 2);
        if let Node::Split { count, .. } = &mut nodes[at] {
            *count = total;
        }
    }
    let chain = Tree { nodes };
    let stump = Tree {
        nodes: vec![
            Node::Split {
                feature: 1,
                threshold: 0.0,
                left: 1,
                right: 2,
                gain: 0.0,
                count: 4,
            },
            Node::Leaf {
                value: 2.0,
                count: 3,
            },
            Node::Leaf {
                value: -1.0,
                count: 1,
            },
        ],
    };
    let blend = Blend::single(
        "chain",
        Ensemble {
            trees: vec![stump, chain],
            link: Link::Identity,
        },
    );
    let covers = Explainer::covers_from_counts(&blend);
    let trees: Vec<&[Tree]> = vec![&blend.members[0].ensemble.trees];
    let tables = PathTables::build(
        &trees,
        &covers,
        velocast_evaluator::FeatureBins::of(&blend, width),
    )
    .unwrap();
    assert_eq!(tables.recursive_trees(0), &[1]);
    let explainer = Explainer::new(blend, width, Some(covers)).unwrap();
    let row: Vec<f32> = (0..width)
        .map(|k| if k % 3 == 0 { 1.0 } else { 0.0 })
        .collect();
    let a = explainer.explain(&row, &Mode::PathDependent).unwrap();
    let b = explainer
        .without_tables()
        .explain(&row, &Mode::PathDependent)
        .unwrap();
    for (x, y) in a[0].members[0]
        .contributions
        .iter()
        .zip(&b[0].members[0].contributions)
    {
        assert!(close(*x, *y), "{x} vs {y}");
    }
    let total = a[0].members[0].base_value + a[0].members[0].contributions.iter().sum::<f64>();
    assert!(close(total, a[0].members[0].score));
}

#[test]
fn a_model_without_covers_explains_only_interventionally() {
    let blend = testing::blend(7, FEATURES, 4);
    let explainer = Explainer::new(blend, FEATURES, None).unwrap();
    let rows = testing::rows(7, FEATURES, 1);
    assert_eq!(
        explainer.explain(&rows, &Mode::PathDependent).unwrap_err(),
        velocast_explain::ExplainError::NoCovers
    );
    assert_eq!(
        explainer
            .explain(&rows, &Mode::Interventional { background: vec![] })
            .unwrap_err(),
        velocast_explain::ExplainError::EmptyBackground
    );
    assert!(matches!(
        explainer.explain(&rows[..3], &Mode::PathDependent),
        Err(velocast_explain::ExplainError::Shape {
            n_features: 5,
            got: 3
        })
    ));
}

#[test]
fn inconsistent_covers_are_refused() {
    use velocast_trees::{Blend, Ensemble, Link};
    // The root of a tree drawn at depth ≥ 1 is always a split.
    let tree = testing::tree(&mut testing::Draw(11), FEATURES, 3, 1.0);
    let blend = Blend::single(
        "m",
        Ensemble {
            trees: vec![tree],
            link: Link::Identity,
        },
    );
    let mut covers = Explainer::covers_from_counts(&blend);
    assert!(Explainer::new(blend.clone(), FEATURES, Some(covers.clone())).is_ok());
    covers[0][0][0] += 1.0;
    assert!(matches!(
        Explainer::new(blend.clone(), FEATURES, Some(covers)),
        Err(velocast_explain::ExplainError::Covers { tree: 0, .. })
    ));
    let mut short = Explainer::covers_from_counts(&blend);
    short[0][0].pop();
    assert!(Explainer::new(blend, FEATURES, Some(short)).is_err());
}
