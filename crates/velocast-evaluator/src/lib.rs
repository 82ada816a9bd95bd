//! A native evaluator for the blends Velocast exports, scored without ONNX Runtime's per-call
//! cost.
//!
//! Two layouts, one semantics. The default, [`masks`], is QuickScorer's leaf bitvectors over
//! binned feature values: per row one bin per feature, an AND of precomputed word rows and a
//! trailing-zero count per tree, with no comparison-dependent branch or load chain. Models whose
//! tables would be too large fall back to [`walk`], one flat node array walked for each tree's
//! depth. Both are checked against ONNX Runtime by the same property test.
//!
//! Semantics are the export's: a split sends `x < threshold` left and everything else (NaN
//! included) right (`BRANCH_LT`, missing values tracked to the false branch); an ensemble sums
//! its trees in f64, applies its inverse link, and the blend adds its weighted members and
//! floors the sum at zero, as the exported graph does.

pub mod bins;
mod masks;
mod walk;

pub use bins::FeatureBins;
pub use masks::MAX_TABLE_BYTES;

use thiserror::Error;
use velocast_trees::{Blend, Link, Node, Tree};

use crate::masks::MaskLayout;
use crate::walk::WalkLayout;

#[derive(Debug, Error, PartialEq, Eq)]
pub enum CompileError {
    #[error("the blend has no member")]
    Empty,
    #[error("member `{member}`, tree {tree}: {problem}")]
    Tree {
        member: String,
        tree: usize,
        problem: String,
    },
    #[error("the model has more nodes than the evaluator indexes ({max})")]
    TooLarge { max: usize },
    #[error("the model takes {features} features, more than the evaluator indexes ({max})")]
    TooWide { features: usize, max: usize },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScoreError {
    #[error("expected a whole number of rows of {n_features} features, got {got} values")]
    Shape { n_features: usize, got: usize },
}

/// How a compiled blend scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layout {
    /// Leaf bitvectors over binned features (see [`masks`]); the default when they fit.
    Masks,
    /// One flat node array walked per tree (see [`walk`]).
    Walk,
}

impl Layout {
    pub fn name(self) -> &'static str {
        match self {
            Layout::Masks => "masks",
            Layout::Walk => "walk",
        }
    }
}

#[derive(Debug, Clone)]
struct CompiledMember {
    weight: f64,
    link: Link,
    trees: std::ops::Range<usize>,
}

#[derive(Debug, Clone)]
enum Scorer {
    Masks(Box<MaskLayout>),
    Walk(WalkLayout),
}

/// A blend compiled for scoring. Immutable and `Sync`: one copy serves every thread.
#[derive(Debug, Clone)]
pub struct CompiledBlend {
    n_features: usize,
    n_nodes: usize,
    members: Vec<CompiledMember>,
    scorer: Scorer,
}

/// Every split names a feature below `n_features` and a threshold that is a number; every
/// child index is in the tree; no node is reached twice (so the tree is acyclic and finite).
/// What every reader of trees from outside (an ONNX file) checks before walking them.
pub fn check_tree(tree: &Tree, n_features: usize) -> Result<(), String> {
    if tree.nodes.is_empty() {
        return Err("no nodes".into());
    }
    let mut visited = vec![false; tree.nodes.len()];
    let mut pending = vec![0usize];
    while let Some(index) = pending.pop() {
        let Some(node) = tree.nodes.get(index) else {
            return Err(format!("child index {index} out of range"));
        };
        if std::mem::replace(&mut visited[index], true) {
            return Err(format!("node {index} is reached twice"));
        }
        if let Node::Split {
            feature,
            threshold,
            left,
            right,
            ..
        } = *node
        {
            if feature as usize >= n_features {
                return Err(format!(
                    "node {index} splits on feature {feature}, the model takes {n_features}"
                ));
            }
            if threshold.is_nan() {
                return Err(format!("node {index} has a NaN threshold"));
            }
            pending.push(right as usize);
            pending.push(left as usize);
        }
    }
    Ok(())
}

impl CompiledBlend {
    /// Compiles `blend` for rows of `n_features` values in the fastest layout that fits.
    pub fn compile(blend: &Blend, n_features: usize) -> Result<CompiledBlend, CompileError> {
        CompiledBlend::compile_as(blend, n_features, Layout::Masks)
    }

    /// Compiles `blend` in `preferred` layout (the walk when masks would not fit).
    pub fn compile_as(
        blend: &Blend,
        n_features: usize,
        preferred: Layout,
    ) -> Result<CompiledBlend, CompileError> {
        if blend.members.is_empty() {
            return Err(CompileError::Empty);
        }
        if n_features > walk::MAX_FEATURES {
            return Err(CompileError::TooWide {
                features: n_features,
                max: walk::MAX_FEATURES,
            });
        }
        let mut members = Vec::with_capacity(blend.members.len());
        let mut trees: Vec<&Tree> = Vec::new();
        for member in &blend.members {
            let first = trees.len();
            for (index, tree) in member.ensemble.trees.iter().enumerate() {
                check_tree(tree, n_features).map_err(|problem| CompileError::Tree {
                    member: member.name.clone(),
                    tree: index,
                    problem,
                })?;
                trees.push(tree);
            }
            members.push(CompiledMember {
                weight: member.weight,
                link: member.ensemble.link,
                trees: first..trees.len(),
            });
        }
        let n_nodes = trees.iter().map(|t| t.nodes.len()).sum();
        let masks = match preferred {
            Layout::Masks => MaskLayout::build(&trees, FeatureBins::of(blend, n_features)),
            Layout::Walk => None,
        };
        let scorer = match masks {
            Some(masks) => Scorer::Masks(Box::new(masks)),
            None => Scorer::Walk(
                WalkLayout::build(trees.iter().copied(), n_features)
                    .map_err(|max| CompileError::TooLarge { max })?,
            ),
        };
        Ok(CompiledBlend {
            n_features,
            n_nodes,
            members,
            scorer,
        })
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn n_trees(&self) -> usize {
        self.members.last().map_or(0, |m| m.trees.end)
    }

    /// Nodes of the compiled trees, leaves included.
    pub fn n_nodes(&self) -> usize {
        self.n_nodes
    }

    /// The layout this blend scores with.
    pub fn layout(&self) -> Layout {
        match self.scorer {
            Scorer::Masks(_) => Layout::Masks,
            Scorer::Walk(_) => Layout::Walk,
        }
    }

    /// Bytes of lookup tables the layout holds (0 for the walk).
    pub fn table_bytes(&self) -> usize {
        match &self.scorer {
            Scorer::Masks(masks) => masks.table_bytes(),
            Scorer::Walk(_) => 0,
        }
    }

    fn check_shape(&self, features: &[f32]) -> Result<usize, ScoreError> {
        let n = self.n_features;
        if n == 0 || !features.len().is_multiple_of(n) {
            return Err(ScoreError::Shape {
                n_features: n,
                got: features.len(),
            });
        }
        Ok(features.len() / n)
    }

    /// Each member's raw score (before its link) for each row, member-major:
    /// `scores[member * rows + row]`.
    fn scores(&self, features: &[f32], rows: usize) -> Vec<f64> {
        let mut scores = vec![0.0; self.members.len() * rows];
        match &self.scorer {
            Scorer::Masks(masks) => {
                let mut words = vec![0u64; masks.words()];
                let mut active = Vec::with_capacity(self.n_features);
                for (row, values) in features.chunks_exact(self.n_features).enumerate() {
                    masks.leaves(values, &mut words, &mut active);
                    for (m, member) in self.members.iter().enumerate() {
                        scores[m * rows + row] = masks.sum(member.trees.clone(), &words);
                    }
                }
            }
            Scorer::Walk(walk) => {
                for (m, member) in self.members.iter().enumerate() {
                    walk.score_into(
                        member.trees.clone(),
                        features,
                        &mut scores[m * rows..(m + 1) * rows],
                    );
                }
            }
        }
        scores
    }

    /// Scores row-major `features`, one prediction per row, as the exported model answers.
    pub fn predict(&self, features: &[f32]) -> Result<Vec<f32>, ScoreError> {
        let rows = self.check_shape(features)?;
        let scores = self.scores(features, rows);
        let mut blended = vec![0.0_f64; rows];
        for (member, scores) in self.members.iter().zip(scores.chunks_exact(rows.max(1))) {
            for (total, score) in blended.iter_mut().zip(scores) {
                // The exported graph hands each ensemble's score to its link in f32.
                let score = f64::from(*score as f32);
                *total += member.weight * member.link.inverse(score);
            }
        }
        Ok(blended.into_iter().map(|v| v.max(0.0) as f32).collect())
    }

    /// Every member's raw score (before its link) for each row, member-major
    /// (`scores[member * rows + row]`): what explanations attribute.
    pub fn raw_scores(&self, features: &[f32]) -> Result<Vec<f64>, ScoreError> {
        let rows = self.check_shape(features)?;
        Ok(self.scores(features, rows))
    }

    /// The raw score of one member (before its link), for each row: what explanations
    /// attribute.
    pub fn member_scores(&self, member: usize, features: &[f32]) -> Option<Vec<f64>> {
        self.members.get(member)?;
        let rows = self.check_shape(features).ok()?;
        let scores = self.scores(features, rows);
        Some(scores[member * rows..(member + 1) * rows].to_vec())
    }
}

#[cfg(test)]
mod tests {
    use velocast_trees::{Ensemble, Member};

    use super::*;

    fn split(feature: u32, threshold: f32, left: u32, right: u32) -> Node {
        Node::Split {
            feature,
            threshold,
            left,
            right,
            gain: 0.0,
            count: 0,
        }
    }

    fn leaf(value: f32) -> Node {
        Node::Leaf { value, count: 0 }
    }

    #[test]
    fn an_unbalanced_tree_scores_as_the_reference_walk() {
        // Depth 3 on the left, a leaf on the right; nodes stored out of order.
        let tree = Tree {
            nodes: vec![
                split(0, 0.5, 2, 1),
                leaf(7.0),
                split(1, -1.0, 3, 4),
                leaf(1.0),
                split(0, 0.25, 5, 6),
                leaf(2.0),
                leaf(3.0),
            ],
        };
        let blend = Blend::single(
            "t",
            Ensemble {
                trees: vec![tree.clone()],
                link: Link::Identity,
            },
        );
        let rows = [
            [0.0, -2.0],
            [0.0, 0.0],
            [0.3, 0.0],
            [0.5, 0.0],
            [f32::NAN, -2.0],
            [0.1, f32::NAN],
            [0.2, 5.0],
            [0.9, -9.0],
            [0.24, -1.0],
        ];
        let flat: Vec<f32> = rows.iter().flatten().copied().collect();
        let want: Vec<f32> = rows.iter().map(|r| blend.predict(r) as f32).collect();
        assert_eq!(want, vec![1.0, 2.0, 3.0, 7.0, 7.0, 2.0, 2.0, 7.0, 2.0]);
        for layout in [Layout::Masks, Layout::Walk] {
            let compiled = CompiledBlend::compile_as(&blend, 2, layout).unwrap();
            assert_eq!(compiled.layout(), layout);
            assert_eq!(compiled.predict(&flat).unwrap(), want, "{layout:?}");
        }
    }

    #[test]
    fn links_weights_and_the_zero_floor_follow_the_blend() {
        let stump = Tree {
            nodes: vec![split(0, 0.0, 1, 2), leaf(-50.0), leaf(100.0)],
        };
        let blend = Blend {
            members: vec![
                Member {
                    name: "raw".into(),
                    weight: 0.5,
                    ensemble: Ensemble {
                        trees: vec![stump],
                        link: Link::Identity,
                    },
                },
                Member {
                    name: "log1p".into(),
                    weight: 0.5,
                    ensemble: Ensemble {
                        trees: vec![
                            Tree::leaf(2.0),
                            Tree {
                                nodes: vec![split(0, 0.0, 1, 2), leaf(-1.0), leaf(1.0)],
                            },
                        ],
                        link: Link::Log1p,
                    },
                },
            ],
        };
        for layout in [Layout::Masks, Layout::Walk] {
            let compiled = CompiledBlend::compile_as(&blend, 1, layout).unwrap();
            let got = compiled.predict(&[-1.0, 1.0]).unwrap();
            assert_eq!(got[0], 0.0, "floored");
            let want = (0.5 * 100.0 + 0.5 * 3.0_f64.exp_m1()) as f32;
            assert!((got[1] - want).abs() <= want * 1e-6, "{} vs {want}", got[1]);
            assert_eq!(
                compiled.member_scores(1, &[-1.0, 1.0]).unwrap(),
                vec![1.0, 3.0]
            );
        }
    }

    #[test]
    fn malformed_trees_are_refused_with_where() {
        let blend = |nodes| {
            Blend::single(
                "m",
                Ensemble {
                    trees: vec![Tree { nodes }],
                    link: Link::Identity,
                },
            )
        };
        let cycle = blend(vec![split(0, 1.0, 0, 1), leaf(1.0)]);
        assert!(matches!(
            CompiledBlend::compile(&cycle, 1),
            Err(CompileError::Tree { tree: 0, ref problem, .. }) if problem.contains("reached twice")
        ));
        let out_of_range = blend(vec![split(0, 1.0, 1, 9), leaf(1.0)]);
        assert!(CompiledBlend::compile(&out_of_range, 1).is_err());
        let wide = blend(vec![split(3, 1.0, 1, 2), leaf(1.0), leaf(2.0)]);
        assert!(matches!(
            CompiledBlend::compile(&wide, 2),
            Err(CompileError::Tree { ref problem, .. }) if problem.contains("feature 3")
        ));
        assert_eq!(
            CompiledBlend::compile(&Blend { members: vec![] }, 1).unwrap_err(),
            CompileError::Empty
        );
        let compiled = CompiledBlend::compile(&blend(vec![leaf(4.0)]), 2).unwrap();
        assert_eq!(
            compiled.predict(&[1.0, 2.0, 3.0]).unwrap_err(),
            ScoreError::Shape {
                n_features: 2,
                got: 3
            }
        );
        assert_eq!(compiled.predict(&[1.0, 2.0]).unwrap(), vec![4.0]);
    }
}
