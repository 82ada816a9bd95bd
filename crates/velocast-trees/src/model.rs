//! The fitted model: trees of `x < threshold` splits, ensembles with a link, and blends.
//!
//! This is the form every exporter reads. Thresholds and leaf values are `f32`, the precision
//! ONNX Runtime evaluates in, so a native prediction and an ONNX one walk the same paths.

use serde::{Deserialize, Serialize};

/// Row-major features: `rows × n_features` values.
#[derive(Debug, Clone, Copy)]
pub struct Matrix<'a> {
    data: &'a [f32],
    n_features: usize,
}

impl<'a> Matrix<'a> {
    /// `None` when the data is not a whole number of rows or has no columns.
    pub fn new(data: &'a [f32], n_features: usize) -> Option<Self> {
        (n_features > 0 && data.len().is_multiple_of(n_features))
            .then_some(Matrix { data, n_features })
    }

    pub fn rows(&self) -> usize {
        self.data.len() / self.n_features
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn row(&self, index: usize) -> &'a [f32] {
        &self.data[index * self.n_features..(index + 1) * self.n_features]
    }

    pub fn value(&self, row: usize, feature: usize) -> f32 {
        self.data[row * self.n_features + feature]
    }
}

/// A tree node. Splits send `x[feature] < threshold` to `left` (ONNX `BRANCH_LT`, true branch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Node {
    Split {
        feature: u32,
        threshold: f32,
        left: u32,
        right: u32,
        /// Loss reduction of the split (for feature importance).
        gain: f32,
        /// Training rows that reached the node.
        count: u32,
    },
    Leaf {
        value: f32,
        count: u32,
    },
}

/// A binary tree stored as a node array; node 0 is the root.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Tree {
    pub nodes: Vec<Node>,
}

impl Tree {
    pub fn leaf(value: f32) -> Self {
        Tree {
            nodes: vec![Node::Leaf { value, count: 0 }],
        }
    }

    pub fn predict(&self, row: &[f32]) -> f32 {
        let mut index = 0;
        loop {
            match self.nodes[index] {
                Node::Leaf { value, .. } => return value,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    // NaN is never `<` anything: it goes right, as in the ONNX export, where
                    // `nodes_missing_value_tracks_true` is 0.
                    index = if row[feature as usize] < threshold {
                        left as usize
                    } else {
                        right as usize
                    };
                }
            }
        }
    }

    /// The same tree with nodes renumbered in depth-first pre-order (left before right) and
    /// training statistics cleared: two trees that route and predict alike compare equal.
    pub fn canonical(&self) -> Tree {
        fn walk(nodes: &[Node], index: usize, out: &mut Vec<Node>) -> u32 {
            let at = out.len();
            match nodes[index] {
                Node::Leaf { value, .. } => out.push(Node::Leaf { value, count: 0 }),
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    out.push(Node::Leaf {
                        value: 0.0,
                        count: 0,
                    });
                    let left = walk(nodes, left as usize, out);
                    let right = walk(nodes, right as usize, out);
                    out[at] = Node::Split {
                        feature,
                        threshold,
                        left,
                        right,
                        gain: 0.0,
                        count: 0,
                    };
                }
            }
            at as u32
        }
        let mut out = Vec::with_capacity(self.nodes.len());
        if !self.nodes.is_empty() {
            walk(&self.nodes, 0, &mut out);
        }
        Tree { nodes: out }
    }

    pub fn leaves(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| matches!(n, Node::Leaf { .. }))
            .count()
    }

    pub fn depth(&self) -> usize {
        fn depth_of(nodes: &[Node], index: usize) -> usize {
            match nodes[index] {
                Node::Leaf { .. } => 0,
                Node::Split { left, right, .. } => {
                    1 + depth_of(nodes, left as usize).max(depth_of(nodes, right as usize))
                }
            }
        }
        depth_of(&self.nodes, 0)
    }
}

/// How an ensemble's raw score becomes a count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Link {
    /// The score is the count.
    Identity,
    /// The score is `ln(1 + count)`: count = `exp(score) − 1`.
    Log1p,
    /// The score is `ln(count)` (Poisson): count = `exp(score)`.
    Log,
}

impl Link {
    pub fn inverse(self, score: f64) -> f64 {
        match self {
            Link::Identity => score,
            Link::Log1p => score.exp_m1(),
            Link::Log => score.exp(),
        }
    }
}

/// A sum of trees (the first tree carries the base score), then an inverse link.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Ensemble {
    pub trees: Vec<Tree>,
    pub link: Link,
}

impl Ensemble {
    /// Raw score, summed in f64 (ONNX Runtime's TreeEnsemble accumulates in double as well).
    pub fn score(&self, row: &[f32]) -> f64 {
        self.trees.iter().map(|t| f64::from(t.predict(row))).sum()
    }

    pub fn predict(&self, row: &[f32]) -> f64 {
        self.link.inverse(self.score(row))
    }

    pub fn node_count(&self) -> usize {
        self.trees.iter().map(|t| t.nodes.len()).sum()
    }
}

/// One member of a blend.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub name: String,
    pub weight: f64,
    pub ensemble: Ensemble,
}

/// The servable model: a weighted sum of ensembles' counts, floored at zero (demand is never
/// negative; a raw-target tree can dip below zero at quiet hours).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Blend {
    pub members: Vec<Member>,
}

impl Blend {
    pub fn single(name: &str, ensemble: Ensemble) -> Self {
        Blend {
            members: vec![Member {
                name: name.to_owned(),
                weight: 1.0,
                ensemble,
            }],
        }
    }

    pub fn predict(&self, row: &[f32]) -> f64 {
        let sum: f64 = self
            .members
            .iter()
            .map(|m| m.weight * m.ensemble.predict(row))
            .sum();
        sum.max(0.0)
    }

    pub fn predict_all(&self, features: Matrix<'_>) -> Vec<f64> {
        (0..features.rows())
            .map(|r| self.predict(features.row(r)))
            .collect()
    }

    /// Total split gain per feature over every member, each member's share scaled by its weight
    /// and normalized so the importances sum to 1.
    pub fn feature_importance(&self, n_features: usize) -> Vec<f64> {
        let mut importance = vec![0.0; n_features];
        for member in &self.members {
            let mut gains = vec![0.0; n_features];
            for tree in &member.ensemble.trees {
                for node in &tree.nodes {
                    if let Node::Split { feature, gain, .. } = node
                        && let Some(slot) = gains.get_mut(*feature as usize)
                    {
                        *slot += f64::from(*gain);
                    }
                }
            }
            let total: f64 = gains.iter().sum();
            if total > 0.0 {
                for (acc, gain) in importance.iter_mut().zip(gains) {
                    *acc += member.weight.abs() * gain / total;
                }
            }
        }
        let total: f64 = importance.iter().sum();
        if total > 0.0 {
            importance.iter_mut().for_each(|v| *v /= total);
        }
        importance
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stump(feature: u32, threshold: f32, left: f32, right: f32) -> Tree {
        Tree {
            nodes: vec![
                Node::Split {
                    feature,
                    threshold,
                    left: 1,
                    right: 2,
                    gain: 1.0,
                    count: 2,
                },
                Node::Leaf {
                    value: left,
                    count: 1,
                },
                Node::Leaf {
                    value: right,
                    count: 1,
                },
            ],
        }
    }

    #[test]
    fn split_is_strictly_less_than() {
        let tree = stump(0, 0.5, -1.0, 1.0);
        assert_eq!(tree.predict(&[0.499_999_97]), -1.0);
        assert_eq!(tree.predict(&[0.5]), 1.0);
        assert_eq!(tree.predict(&[f32::NAN]), 1.0);
        assert_eq!((tree.leaves(), tree.depth()), (2, 1));
    }

    #[test]
    fn links_invert_their_scores() {
        assert_eq!(Link::Identity.inverse(3.0), 3.0);
        assert!((Link::Log1p.inverse(10.0_f64.ln_1p()) - 10.0).abs() < 1e-12);
        assert!((Link::Log.inverse(10.0_f64.ln()) - 10.0).abs() < 1e-12);
    }

    #[test]
    fn blend_weights_counts_and_floors_at_zero() {
        let raw = Ensemble {
            trees: vec![stump(0, 0.0, -50.0, 100.0)],
            link: Link::Identity,
        };
        let log = Ensemble {
            trees: vec![Tree::leaf(10.0_f32.ln())],
            link: Link::Log,
        };
        let blend = Blend {
            members: vec![
                Member {
                    name: "raw".into(),
                    weight: 0.5,
                    ensemble: raw,
                },
                Member {
                    name: "poisson".into(),
                    weight: 0.5,
                    ensemble: log,
                },
            ],
        };
        assert!((blend.predict(&[1.0]) - 55.0).abs() < 1e-4);
        assert_eq!(blend.predict(&[-1.0]), 0.0);
        assert_eq!(blend.feature_importance(2), vec![1.0, 0.0]);
    }

    #[test]
    fn matrix_refuses_ragged_data() {
        assert!(Matrix::new(&[1.0, 2.0, 3.0], 2).is_none());
        let m = Matrix::new(&[1.0, 2.0, 3.0, 4.0], 2).unwrap();
        assert_eq!(
            (m.rows(), m.row(1), m.value(1, 0)),
            (2, &[3.0, 4.0][..], 3.0)
        );
    }
}
