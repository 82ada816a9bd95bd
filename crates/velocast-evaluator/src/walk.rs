//! The walk layout: every tree in one flat node array, walked for its depth.
//!
//! Every node is 8 bytes (`threshold`, and the feature with the left child's index packed in
//! one word); a split's two children sit side by side, so the next node is `left + go_right`
//! with no branch on the comparison. A leaf is a node that leads to itself (its threshold is
//! NaN, which nothing is `<`, so it always "goes right", to its own index), which lets a tree be
//! walked for exactly its depth with no test for having reached a leaf. Leaf values sit in a
//! second array read once per tree.
//!
//! Batches walk several rows through one tree together: their paths are independent chains of
//! loads the processor overlaps, and the tree stays in cache while every row of the block
//! passes through it. This layout serves models too large for the mask tables
//! ([`crate::masks`]); its memory is proportional to the nodes alone.

use velocast_trees::{Node, Tree};

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

/// Features the walk indexes (one byte).
pub(crate) const MAX_FEATURES: usize = 1 << FlatNode::FEATURE_BITS;

#[derive(Debug, Clone, Copy)]
struct FlatTree {
    root: u32,
    depth: u32,
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
const WIDE: usize = MAX_FEATURES;

/// Every tree of a blend as one node array (trees in blend order).
#[derive(Debug, Clone)]
pub(crate) struct WalkLayout {
    n_features: usize,
    nodes: Vec<FlatNode>,
    leaf_values: Vec<f32>,
    trees: Vec<FlatTree>,
}

impl WalkLayout {
    /// Lays out `trees`, already checked by [`crate::check_tree`].
    pub(crate) fn build<'a>(
        trees: impl Iterator<Item = &'a Tree>,
        n_features: usize,
    ) -> Result<WalkLayout, usize> {
        let mut layout = WalkLayout {
            n_features,
            // A placeholder at index 0 keeps every leaf's `index − 1` in range.
            nodes: vec![FlatNode::new(0, f32::NAN, 0)],
            leaf_values: vec![0.0],
            trees: Vec::new(),
        };
        for tree in trees {
            layout.push_tree(tree);
            if layout.nodes.len() >= FlatNode::MAX_NODES {
                return Err(FlatNode::MAX_NODES - 1);
            }
        }
        Ok(layout)
    }

    /// Appends one tree, breadth-first so that siblings are adjacent.
    fn push_tree(&mut self, tree: &Tree) {
        let root = self.nodes.len();
        // (source node, flat slot, depth); the root's slot is reserved first.
        let mut pending = std::collections::VecDeque::from([(0usize, root, 0u32)]);
        self.reserve_slots(1);
        let mut depth = 0;
        while let Some((source, slot, level)) = pending.pop_front() {
            depth = depth.max(level);
            match tree.nodes.get(source) {
                Some(Node::Leaf { value, .. }) => {
                    self.nodes[slot] = FlatNode::leaf(slot);
                    self.leaf_values[slot] = *value;
                }
                Some(Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                }) => {
                    let children = self.nodes.len();
                    self.reserve_slots(2);
                    self.nodes[slot] = FlatNode::new(*feature, *threshold, children);
                    pending.push_back((*left as usize, children, level + 1));
                    pending.push_back((*right as usize, children + 1, level + 1));
                }
                // Checked before layout: every child index is in range.
                None => {}
            }
        }
        self.trees.push(FlatTree {
            root: root as u32,
            depth,
        });
    }

    fn reserve_slots(&mut self, count: usize) {
        let placeholder = FlatNode::new(0, f32::NAN, 0);
        self.nodes.extend(std::iter::repeat_n(placeholder, count));
        self.leaf_values.extend(std::iter::repeat_n(0.0, count));
    }

    /// Sums trees `range` for every row of `features` into `scores` (overwritten).
    pub(crate) fn score_into(
        &self,
        range: std::ops::Range<usize>,
        features: &[f32],
        scores: &mut [f64],
    ) {
        let trees = &self.trees[range];
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
