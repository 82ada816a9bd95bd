//! A native evaluator for the blends Velocast exports: the parsed ensemble compiled into one
//! flat node array, scored without ONNX Runtime's per-call cost.
//!
//! Layout. Every node is 12 bytes (`feature`, `threshold`, `children`) in one contiguous array;
//! a split's two children sit side by side, so the next node is `children + go_right` with no
//! branch on the comparison. A leaf is a node that leads to itself (its threshold is NaN, which
//! nothing is `<`, so it always "goes right", to `children + 1`, its own index), which lets a
//! tree be walked for exactly its depth with no test for having reached a leaf. Leaf values sit
//! in a second array read once per tree.
//!
//! Batches walk several rows through one tree together: their paths are independent chains of
//! loads the processor overlaps, and the tree stays in cache while every row of the block
//! passes through it.
//!
//! Semantics are the export's: a split sends `x < threshold` left and everything else (NaN
//! included) right (`BRANCH_LT`, missing values tracked to the false branch); an ensemble sums
//! its trees in f64, applies its inverse link, and the blend adds its weighted members and
//! floors the sum at zero, as the exported graph does.

use thiserror::Error;
use velocast_trees::{Blend, Link, Node, Tree};

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
    #[error("the model has {nodes} nodes, more than the evaluator indexes ({max})")]
    TooLarge { nodes: usize, max: usize },
    #[error("the model takes {features} features, more than the evaluator indexes ({max})")]
    TooWide { features: usize, max: usize },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ScoreError {
    #[error("expected a whole number of rows of {n_features} features, got {got} values")]
    Shape { n_features: usize, got: usize },
}

/// Eight bytes: the threshold, and the feature (low 8 bits) with the left child's index (high
/// 24 bits; the right child is the next node; a leaf's is its own index − 1).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
struct FlatNode {
    threshold: f32,
    packed: u32,
}

impl FlatNode {
    const FEATURE_BITS: u32 = 8;
    /// Features and node indices the packing holds.
    const MAX_FEATURES: usize = 1 << Self::FEATURE_BITS;
    const MAX_NODES: usize = 1 << (32 - Self::FEATURE_BITS);

    fn new(feature: u32, threshold: f32, children: usize) -> FlatNode {
        FlatNode {
            threshold,
            packed: feature | ((children as u32) << Self::FEATURE_BITS),
        }
    }

    fn leaf(slot: usize) -> FlatNode {
        FlatNode::new(0, f32::NAN, slot - 1)
    }

    /// A `u8`, so indexing a `[f32; 256]` with it needs no bounds check.
    #[inline(always)]
    fn feature(self) -> u8 {
        (self.packed & ((1 << Self::FEATURE_BITS) - 1)) as u8
    }

    /// The child a value goes to: left when `value < threshold`, right otherwise (NaN too).
    #[inline(always)]
    fn next(self, value: f32) -> usize {
        let goes_left = value < self.threshold;
        (self.packed >> Self::FEATURE_BITS) as usize + usize::from(!goes_left)
    }
}

#[derive(Debug, Clone, Copy)]
struct FlatTree {
    root: u32,
    depth: u32,
}

#[derive(Debug, Clone)]
struct CompiledMember {
    weight: f64,
    link: Link,
    trees: std::ops::Range<usize>,
}

/// A blend compiled for scoring. Immutable and `Sync`: one copy serves every thread.
#[derive(Debug, Clone)]
pub struct CompiledBlend {
    n_features: usize,
    nodes: Vec<FlatNode>,
    leaf_values: Vec<f32>,
    trees: Vec<FlatTree>,
    members: Vec<CompiledMember>,
}

/// Rows walked through one tree together (batches), and trees walked for one row together
/// (single rows): independent chains of loads the processor overlaps.
const BLOCK: usize = 16;
const LANES: usize = 16;

/// A row copied into a fixed-width array (`W` = 16 for models of up to 16 features, one cache
/// line; 256 above): indexing it with `feature % W` needs no bounds check, and since every
/// compiled split's feature is below the model's width, `% W` never changes it. The padding is
/// never read.
fn widen<const W: usize>(row: &[f32]) -> [f32; W] {
    let mut wide = [f32::NAN; W];
    wide[..row.len()].copy_from_slice(row);
    wide
}

/// Widths the scoring loops are compiled for.
const NARROW: usize = 16;
const WIDE: usize = FlatNode::MAX_FEATURES;

impl CompiledBlend {
    /// Compiles `blend` for rows of `n_features` values. Every split must name a feature below
    /// `n_features` and every child index must point into its tree, without cycles.
    pub fn compile(blend: &Blend, n_features: usize) -> Result<CompiledBlend, CompileError> {
        if blend.members.is_empty() {
            return Err(CompileError::Empty);
        }
        if n_features > FlatNode::MAX_FEATURES {
            return Err(CompileError::TooWide {
                features: n_features,
                max: FlatNode::MAX_FEATURES,
            });
        }
        let mut compiled = CompiledBlend {
            n_features,
            // A placeholder at index 0 keeps every leaf's `index − 1` in range.
            nodes: vec![FlatNode::new(0, f32::NAN, 0)],
            leaf_values: vec![0.0],
            trees: Vec::new(),
            members: Vec::with_capacity(blend.members.len()),
        };
        for member in &blend.members {
            let first = compiled.trees.len();
            for (index, tree) in member.ensemble.trees.iter().enumerate() {
                compiled
                    .push_tree(tree, n_features)
                    .map_err(|problem| CompileError::Tree {
                        member: member.name.clone(),
                        tree: index,
                        problem,
                    })?;
            }
            compiled.members.push(CompiledMember {
                weight: member.weight,
                link: member.ensemble.link,
                trees: first..compiled.trees.len(),
            });
        }
        let max = FlatNode::MAX_NODES - 1;
        if compiled.nodes.len() > max {
            return Err(CompileError::TooLarge {
                nodes: compiled.nodes.len(),
                max,
            });
        }
        Ok(compiled)
    }

    /// Appends one tree, breadth-first so that siblings are adjacent.
    fn push_tree(&mut self, tree: &Tree, n_features: usize) -> Result<(), String> {
        if tree.nodes.is_empty() {
            return Err("no nodes".into());
        }
        let root = self.nodes.len();
        // (source node, flat slot, depth); the root's slot is reserved first.
        let mut pending = std::collections::VecDeque::from([(0usize, root, 0u32)]);
        self.reserve_slots(1);
        let mut visited = vec![false; tree.nodes.len()];
        let mut depth = 0;
        while let Some((source, slot, level)) = pending.pop_front() {
            let Some(node) = tree.nodes.get(source) else {
                return Err(format!("child index {source} out of range"));
            };
            if std::mem::replace(&mut visited[source], true) {
                return Err(format!("node {source} is reached twice"));
            }
            depth = depth.max(level);
            match *node {
                Node::Leaf { value, .. } => {
                    self.nodes[slot] = FlatNode::leaf(slot);
                    self.leaf_values[slot] = value;
                }
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                } => {
                    if feature as usize >= n_features {
                        return Err(format!(
                            "node {source} splits on feature {feature}, the model takes {n_features}"
                        ));
                    }
                    if threshold.is_nan() {
                        return Err(format!("node {source} has a NaN threshold"));
                    }
                    let children = self.nodes.len();
                    self.reserve_slots(2);
                    if children + 1 >= FlatNode::MAX_NODES {
                        return Err(format!(
                            "the model outgrows the evaluator's {} nodes",
                            FlatNode::MAX_NODES
                        ));
                    }
                    self.nodes[slot] = FlatNode::new(feature, threshold, children);
                    pending.push_back((left as usize, children, level + 1));
                    pending.push_back((right as usize, children + 1, level + 1));
                }
            }
        }
        self.trees.push(FlatTree {
            root: root as u32,
            depth,
        });
        Ok(())
    }

    fn reserve_slots(&mut self, count: usize) {
        let placeholder = FlatNode::new(0, f32::NAN, 0);
        self.nodes.extend(std::iter::repeat_n(placeholder, count));
        self.leaf_values.extend(std::iter::repeat_n(0.0, count));
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn n_trees(&self) -> usize {
        self.trees.len()
    }

    /// Nodes in the compiled array, leaves included.
    pub fn n_nodes(&self) -> usize {
        self.nodes.len() - 1
    }

    /// Scores row-major `features`, one prediction per row, as the exported model answers.
    pub fn predict(&self, features: &[f32]) -> Result<Vec<f32>, ScoreError> {
        let n = self.n_features;
        if n == 0 || !features.len().is_multiple_of(n) {
            return Err(ScoreError::Shape {
                n_features: n,
                got: features.len(),
            });
        }
        let rows = features.len() / n;
        let mut blended = vec![0.0_f64; rows];
        let mut scores = vec![0.0_f64; rows];
        for member in &self.members {
            let trees = &self.trees[member.trees.clone()];
            self.score_into(trees, features, &mut scores);
            for (total, score) in blended.iter_mut().zip(&scores) {
                // The exported graph hands each ensemble's score to its link in f32.
                let score = f64::from(*score as f32);
                *total += member.weight * member.link.inverse(score);
            }
        }
        Ok(blended.into_iter().map(|v| v.max(0.0) as f32).collect())
    }

    /// The raw score of one member (before its link), for each row: what explanations
    /// attribute.
    pub fn member_scores(&self, member: usize, features: &[f32]) -> Option<Vec<f64>> {
        let member = self.members.get(member)?;
        if self.n_features == 0 || !features.len().is_multiple_of(self.n_features) {
            return None;
        }
        let mut scores = vec![0.0; features.len() / self.n_features];
        self.score_into(&self.trees[member.trees.clone()], features, &mut scores);
        Some(scores)
    }

    /// Sums `trees` for every row into `scores` (overwritten).
    fn score_into(&self, trees: &[FlatTree], features: &[f32], scores: &mut [f64]) {
        if self.n_features <= NARROW {
            self.score_rows::<NARROW>(trees, features, scores);
        } else {
            self.score_rows::<WIDE>(trees, features, scores);
        }
    }

    /// A batch goes tree by tree (the tree stays in L1 while every row passes through it),
    /// `BLOCK` rows at a time; fewer rows than a block go row by row, `LANES` trees at a time.
    fn score_rows<const W: usize>(&self, trees: &[FlatTree], features: &[f32], scores: &mut [f64]) {
        let n = self.n_features;
        let rows: Vec<[f32; W]> = features.chunks_exact(n).map(widen::<W>).collect();
        if rows.len() < BLOCK {
            for (row, score) in rows.iter().zip(scores.iter_mut()) {
                *score = self.score_row(trees, row);
            }
            return;
        }
        scores.fill(0.0);
        let full = rows.len() / BLOCK * BLOCK;
        let (blocks, rest) = rows.split_at(full);
        let (block_scores, rest_scores) = scores.split_at_mut(full);
        for tree in trees {
            for (block, sums) in blocks
                .chunks_exact(BLOCK)
                .zip(block_scores.chunks_exact_mut(BLOCK))
            {
                let mut index = [tree.root as usize; BLOCK];
                for _ in 0..tree.depth {
                    for (row, at) in block.iter().zip(index.iter_mut()) {
                        let node = self.nodes[*at];
                        *at = node.next(row[usize::from(node.feature()) % W]);
                    }
                }
                for (sum, at) in sums.iter_mut().zip(index) {
                    *sum += f64::from(self.leaf_values[at]);
                }
            }
            for (row, sum) in rest.iter().zip(rest_scores.iter_mut()) {
                *sum += f64::from(self.leaf_values[self.leaf_of(*tree, row)]);
            }
        }
    }

    #[inline]
    fn leaf_of<const W: usize>(&self, tree: FlatTree, row: &[f32; W]) -> usize {
        let mut index = tree.root as usize;
        for _ in 0..tree.depth {
            let node = self.nodes[index];
            index = node.next(row[usize::from(node.feature()) % W]);
        }
        index
    }

    /// One row through every tree, `LANES` trees at a time (a group walks as deep as its
    /// deepest tree; a finished tree's leaf leads to itself).
    fn score_row<const W: usize>(&self, trees: &[FlatTree], row: &[f32; W]) -> f64 {
        let mut sum = 0.0;
        let mut groups = trees.chunks_exact(LANES);
        for group in &mut groups {
            let mut index: [usize; LANES] = std::array::from_fn(|lane| group[lane].root as usize);
            let depth = group.iter().map(|t| t.depth).max().unwrap_or(0);
            for _ in 0..depth {
                for at in &mut index {
                    let node = self.nodes[*at];
                    *at = node.next(row[usize::from(node.feature()) % W]);
                }
            }
            for at in index {
                sum += f64::from(self.leaf_values[at]);
            }
        }
        for tree in groups.remainder() {
            sum += f64::from(self.leaf_values[self.leaf_of(*tree, row)]);
        }
        sum
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
        let compiled = CompiledBlend::compile(&blend, 2).unwrap();
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
        let got = compiled.predict(&flat).unwrap();
        let want: Vec<f32> = rows.iter().map(|r| blend.predict(r) as f32).collect();
        assert_eq!(got, want);
        assert_eq!(want, vec![1.0, 2.0, 3.0, 7.0, 7.0, 2.0, 2.0, 7.0, 2.0]);
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
        let compiled = CompiledBlend::compile(&blend, 1).unwrap();
        let got = compiled.predict(&[-1.0, 1.0]).unwrap();
        assert_eq!(got[0], 0.0, "floored");
        let want = (0.5 * 100.0 + 0.5 * 3.0_f64.exp_m1()) as f32;
        assert!((got[1] - want).abs() <= want * 1e-6, "{} vs {want}", got[1]);
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
