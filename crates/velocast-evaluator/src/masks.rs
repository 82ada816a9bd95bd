//! The mask layout: QuickScorer's leaf bitvectors, indexed by binned feature values.
//!
//! Number each tree's leaves left to right. A split that a row passes to the right rules out
//! every leaf of its left subtree; once every split has ruled its leaves out, the leftmost leaf
//! still standing is the one the row reaches (Lucchese et al., "QuickScorer", SIGIR 2015).
//! Every split on a feature is decided by the row's bin of that feature ([`FeatureBins`]), so
//! for each feature and each of its bins the leaves ruled out in *every* tree are known before
//! any row arrives: one precomputed row of words per (feature, bin), a tree's leaves taking one
//! or more 64-bit words. Scoring a row is then one bin lookup per feature, an AND of those
//! rows (contiguous words the compiler vectorizes, no branch on any comparison, no dependent
//! loads), and per tree one trailing-zero count and leaf value.
//!
//! The tables take `Σ (bins of a feature) × words × 8` bytes: 3.7 MB for the trained blend
//! (829 trees, 553 bins over 15 features). A model whose tables would exceed
//! [`MAX_TABLE_BYTES`] is scored by the walk layout instead.

use velocast_trees::{Node, Tree};

use crate::bins::FeatureBins;

/// The largest mask tables built; past it the walk layout serves.
pub const MAX_TABLE_BYTES: usize = 256 << 20;

/// Words ANDed together in registers before they are stored.
const BLOCK: usize = 8;

/// One feature's rows: `bins × words` words, row `b` the leaves still possible for a value in
/// bin `b`.
#[derive(Debug, Clone)]
struct FeatureMasks {
    feature: usize,
    words: Vec<u64>,
    /// Rows with every bit set (bin 0 always: no split sends its values right) rule nothing
    /// out and are skipped.
    trivial: Vec<bool>,
}

/// Where a tree's leaf bits sit: trees of up to 64 leaves share words (packed first-fit, so
/// the tables hold ~leaves/64 words rather than one per tree); larger ones take whole words.
#[derive(Debug, Clone, Copy)]
struct TreePlace {
    word: u32,
    /// The bit of `word` holding the tree's first leaf (0 for trees of several words).
    shift: u32,
    words: u32,
    /// The tree's first leaf value in `leaf_values`.
    values: u32,
}

/// Every tree of a blend as leaf masks (trees in blend order).
#[derive(Debug, Clone)]
pub(crate) struct MaskLayout {
    bins: FeatureBins,
    masks: Vec<FeatureMasks>,
    words: usize,
    trees: Vec<TreePlace>,
    /// Each tree's leaves left to right, tree after tree, then 64 slots of padding (see
    /// `leaf_value`).
    leaf_values: Vec<f32>,
}

/// A tree's leaves in left-to-right order, and for each split the leaves of its left subtree.
struct Numbered {
    leaf_values: Vec<f32>,
    /// (feature, threshold, first left leaf, one past the last left leaf)
    splits: Vec<(usize, f32, usize, usize)>,
}

fn number(tree: &Tree) -> Numbered {
    let mut numbered = Numbered {
        leaf_values: Vec::new(),
        splits: Vec::new(),
    };
    // Depth-first, left before right, with an explicit stack: (node, split waiting for its
    // left subtree's end). Trees are checked acyclic before this runs.
    enum Step {
        Visit(usize),
        LeftDone(usize),
    }
    let mut stack = vec![Step::Visit(0)];
    while let Some(step) = stack.pop() {
        match step {
            Step::Visit(index) => match tree.nodes.get(index) {
                Some(Node::Leaf { value, .. }) => numbered.leaf_values.push(*value),
                Some(Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                    ..
                }) => {
                    let at = numbered.splits.len();
                    let first = numbered.leaf_values.len();
                    numbered
                        .splits
                        .push((*feature as usize, *threshold, first, first));
                    stack.push(Step::Visit(*right as usize));
                    stack.push(Step::LeftDone(at));
                    stack.push(Step::Visit(*left as usize));
                }
                None => {}
            },
            Step::LeftDone(at) => numbered.splits[at].3 = numbered.leaf_values.len(),
        }
    }
    numbered
}

/// Places every tree: trees of up to 64 leaves, largest first, in the first word with room
/// (first-fit decreasing); larger trees in whole words of their own. Returns the places (in
/// tree order) and the number of words.
fn pack(trees: &[Numbered]) -> Option<(Vec<TreePlace>, usize)> {
    let leaves: Vec<usize> = trees.iter().map(|t| t.leaf_values.len().max(1)).collect();
    let mut order: Vec<usize> = (0..trees.len()).collect();
    order.sort_by_key(|&t| std::cmp::Reverse(leaves[t]));
    let mut used: Vec<usize> = Vec::new(); // bits taken in each word
    let mut places = vec![None; trees.len()];
    for t in order {
        let (word, shift, words) = if leaves[t] <= 64 {
            match used.iter().position(|&bits| bits + leaves[t] <= 64) {
                Some(word) => (word, used[word], 1),
                None => (used.len(), 0, 1),
            }
        } else {
            (used.len(), 0, leaves[t].div_ceil(64))
        };
        if words == 1 {
            if word == used.len() {
                used.push(0);
            }
            used[word] += leaves[t];
        } else {
            used.extend(std::iter::repeat_n(64, words));
        }
        places[t] = Some((word, shift, words));
    }
    let mut value_offset = 0usize;
    let mut out = Vec::with_capacity(trees.len());
    for (t, place) in places.into_iter().enumerate() {
        let (word, shift, words) = place?;
        out.push(TreePlace {
            word: u32::try_from(word).ok()?,
            shift: u32::try_from(shift).ok()?,
            words: u32::try_from(words).ok()?,
            values: u32::try_from(value_offset).ok()?,
        });
        value_offset += trees[t].leaf_values.len();
    }
    Some((out, used.len()))
}

/// Clears bits `from..to` of `words`.
fn clear_bits(words: &mut [u64], from: usize, to: usize) {
    for bit in from..to {
        words[bit / 64] &= !(1u64 << (bit % 64));
    }
}

impl MaskLayout {
    /// Builds the tables for `trees` (already checked by [`crate::check_tree`]), or `None`
    /// when they would take more than [`MAX_TABLE_BYTES`].
    pub(crate) fn build(trees: &[&Tree], bins: FeatureBins) -> Option<MaskLayout> {
        let n_features = bins.n_features();
        let numbered: Vec<Numbered> = trees.iter().map(|t| number(t)).collect();
        let (places, words) = pack(&numbered)?;
        let used: Vec<usize> = (0..n_features)
            .filter(|&f| !bins.thresholds(f).is_empty())
            .collect();
        let table_bytes = used
            .iter()
            .map(|&f| bins.bins(f))
            .sum::<usize>()
            .checked_mul(words)?
            .checked_mul(8)?;
        if table_bytes > MAX_TABLE_BYTES {
            return None;
        }
        let mut masks: Vec<FeatureMasks> = used
            .iter()
            .map(|&feature| FeatureMasks {
                feature,
                words: vec![u64::MAX; bins.bins(feature) * words],
                trivial: Vec::new(),
            })
            .collect();
        let mut slot_of_feature = vec![usize::MAX; n_features];
        for (slot, &feature) in used.iter().enumerate() {
            slot_of_feature[feature] = slot;
        }
        let mut leaf_values: Vec<f32> = numbered
            .iter()
            .flat_map(|t| t.leaf_values.iter().copied())
            .collect();
        leaf_values.extend([0.0; 64]);
        for (tree, place) in numbered.iter().zip(&places) {
            let first = place.word as usize;
            let count = place.words as usize;
            let shift = place.shift as usize;
            for &(feature, threshold, from, to) in &tree.splits {
                let table = &mut masks[slot_of_feature[feature]];
                let k = bins.position(feature, threshold)?;
                // Values in bins above k go right and rule out the left subtree's leaves.
                for bin in k + 1..bins.bins(feature) {
                    let row = bin * words + first;
                    clear_bits(&mut table.words[row..row + count], shift + from, shift + to);
                }
            }
        }
        for table in &mut masks {
            table.trivial = table
                .words
                .chunks_exact(words.max(1))
                .map(|row| row.iter().all(|&w| w == u64::MAX))
                .collect();
        }
        Some(MaskLayout {
            bins,
            masks,
            words,
            trees: places,
            leaf_values,
        })
    }

    /// Bytes the tables take.
    pub(crate) fn table_bytes(&self) -> usize {
        self.masks.iter().map(|m| m.words.len() * 8).sum()
    }

    /// Sets `words` (one per layout word) to the masks of `row` ANDed together; `active` is
    /// scratch space for the rows that rule something out.
    pub(crate) fn leaves<'a>(
        &'a self,
        row: &[f32],
        words: &mut [u64],
        active: &mut Vec<&'a [u64]>,
    ) {
        active.clear();
        for table in &self.masks {
            let bin = self.bins.bin(table.feature, row[table.feature]);
            if !table.trivial[bin] {
                active.push(&table.words[bin * self.words..(bin + 1) * self.words]);
            }
        }
        let full = self.words / BLOCK * BLOCK;
        for start in (0..full).step_by(BLOCK) {
            let mut acc = [u64::MAX; BLOCK];
            for masks in active.iter() {
                for (a, m) in acc.iter_mut().zip(&masks[start..start + BLOCK]) {
                    *a &= *m;
                }
            }
            words[start..start + BLOCK].copy_from_slice(&acc);
        }
        for (at, word) in words.iter_mut().enumerate().skip(full) {
            *word = active.iter().fold(u64::MAX, |acc, masks| acc & masks[at]);
        }
    }

    /// Words of leaf masks a row needs.
    pub(crate) fn words(&self) -> usize {
        self.words
    }

    /// The value of the leaf tree `tree` reaches, given the row's ANDed `words`.
    #[inline]
    fn leaf_value(&self, tree: TreePlace, words: &[u64]) -> f32 {
        let first = tree.word as usize;
        let leaf = if tree.words == 1 {
            // Bits above the tree's are other trees': the lowest standing bit at or above the
            // shift is this tree's exit leaf.
            (words[first] >> tree.shift).trailing_zeros() as usize
        } else {
            // The exit leaf is always standing, so some word of the tree is non-zero.
            let (at, word) = words[first..first + tree.words as usize]
                .iter()
                .enumerate()
                .find(|(_, w)| **w != 0)
                .unwrap_or((0, &0));
            at * 64 + word.trailing_zeros() as usize
        };
        // No standing leaf cannot happen (the exit leaf is never ruled out); if it did, the
        // index would stay within the padding, never out of bounds.
        self.leaf_values[tree.values as usize + leaf.min(64 * tree.words as usize)]
    }

    /// The sum of trees `range`, given a row's ANDed `words`.
    pub(crate) fn sum(&self, range: std::ops::Range<usize>, words: &[u64]) -> f64 {
        // Four running sums: one chain of dependent additions would bound the loop.
        let mut sums = [0.0f64; 4];
        let trees = &self.trees[range];
        let mut chunks = trees.chunks_exact(4);
        for chunk in &mut chunks {
            for (sum, tree) in sums.iter_mut().zip(chunk) {
                *sum += f64::from(self.leaf_value(*tree, words));
            }
        }
        let mut total = (sums[0] + sums[1]) + (sums[2] + sums[3]);
        for tree in chunks.remainder() {
            total += f64::from(self.leaf_value(*tree, words));
        }
        total
    }
}
