//! Path-dependent TreeSHAP from tables computed once per model, so that a row costs a few
//! table reads per tree instead of the O(leaves · depth²) recursion.
//!
//! Two facts make it possible. First, a leaf's share of the SHAP values depends on the row only
//! through *which of the leaf's path features the row agrees with*: with `P` the path's
//! distinct features, `z_j` the product of the cover fractions of the splits on `j` along the
//! path and `O ⊆ P` the features on which the row follows the path at every split, the leaf
//! adds to `φ_i` (i ∈ P, d = |P|, w(s, d) = s!(d−1−s)!/d!)
//!
//! ```text
//!   i ∉ O:  −v · Z(P∖O) · Σ_s w(s, d) · e_{|O|−s}(z_O)
//!   i ∈ O:  v · (1 − z_i) · Z(P∖O) · Σ_s w(s, d) · e_{|O|−1−s}(z_{O∖i})
//! ```
//!
//! (`e_r` the elementary symmetric polynomials, `Z` a product), the unwound path weights of
//! Lundberg et al.'s algorithm 2 written per leaf. So each leaf gets a table over the `2^d`
//! subsets `O` (Fast TreeSHAP v2's idea, Yang 2021). Second, whether a row agrees with a split
//! is decided by its bin of the split's feature ([`FeatureBins`]), so the SHAP values of a whole
//! group of leaves — a subtree, together with the splits above it — are a function of the row's
//! bins on the group's features: piecewise constant over a grid of cells small enough, for most
//! subtrees, to tabulate outright. A row then reads one cell per group (the cell index is a sum
//! of per-feature lookups) and one subset entry per leaf left outside a group.
//!
//! Leaves below a split whose cover is zero contribute nothing, as in the recursion; a tree
//! with a path of more than [`MAX_PATH_FEATURES`] distinct features is left to the recursion.

use velocast_evaluator::FeatureBins;

use crate::cells::CellValues;
use velocast_trees::{Node, Tree};

/// Distinct features on one leaf path that its subset table covers (2^d × d entries).
pub const MAX_PATH_FEATURES: usize = 12;

/// Grid cells a group of leaves may tabulate (each cell holds one value per group feature).
pub const MAX_GROUP_CELLS: usize = 4096;

/// One feature on a leaf's path.
#[derive(Debug, Clone, Copy)]
struct PathFeature {
    feature: usize,
    /// The product of the cover fractions of the path's splits on the feature.
    zero_fraction: f64,
    /// The bins `lo..lo + width` follow the path at every one of those splits.
    lo: usize,
    width: usize,
}

/// A leaf as the tables see it.
#[derive(Debug, Clone)]
struct Leaf {
    value: f64,
    path: Vec<PathFeature>,
    /// Below a split with zero cover: contributes nothing.
    excluded: bool,
}

/// A split on a leaf's way: (feature, threshold position, went left, cover fraction).
type Step = (usize, usize, bool, f64);

/// The tree's leaves in depth-first order (left first), with their paths.
fn leaves_of(tree: &Tree, covers: &[f64], bins: &FeatureBins) -> Option<Vec<Leaf>> {
    fn walk(
        tree: &Tree,
        covers: &[f64],
        bins: &FeatureBins,
        node: usize,
        steps: &mut Vec<Step>,
        excluded: bool,
        out: &mut Vec<Leaf>,
    ) -> Option<()> {
        match *tree.nodes.get(node)? {
            Node::Leaf { value, .. } => {
                let mut path: Vec<PathFeature> = Vec::new();
                for &(feature, position, left, fraction) in steps.iter() {
                    let at = match path.iter().position(|p| p.feature == feature) {
                        Some(at) => at,
                        None => {
                            path.push(PathFeature {
                                feature,
                                zero_fraction: 1.0,
                                lo: 0,
                                width: bins.bins(feature),
                            });
                            path.len() - 1
                        }
                    };
                    let element = &mut path[at];
                    element.zero_fraction *= fraction;
                    let (mut lo, mut hi) = (element.lo, element.lo + element.width);
                    // Left at position k: bins ≤ k; right: bins > k.
                    if left {
                        hi = hi.min(position + 1);
                    } else {
                        lo = lo.max(position + 1);
                    }
                    element.lo = lo;
                    element.width = hi.saturating_sub(lo);
                }
                out.push(Leaf {
                    value: f64::from(value),
                    path,
                    excluded,
                });
            }
            Node::Split {
                feature,
                threshold,
                left,
                right,
                ..
            } => {
                let feature = feature as usize;
                let position = bins.position(feature, threshold)?;
                let cover = *covers.get(node)?;
                let excluded = excluded || cover <= 0.0;
                for (child, went_left) in [(left as usize, true), (right as usize, false)] {
                    let fraction = if excluded {
                        0.0
                    } else {
                        covers.get(child)? / cover
                    };
                    steps.push((feature, position, went_left, fraction));
                    walk(tree, covers, bins, child, steps, excluded, out)?;
                    steps.pop();
                }
            }
        }
        Some(())
    }
    let mut out = Vec::new();
    walk(tree, covers, bins, 0, &mut Vec::new(), false, &mut out)?;
    Some(out)
}

/// `e_0 … e_n` of `values`.
fn elementary_symmetric(values: impl Iterator<Item = f64>, n: usize) -> Vec<f64> {
    let mut e = vec![0.0; n + 1];
    e[0] = 1.0;
    let mut count = 0;
    for z in values {
        count += 1;
        for r in (1..=count).rev() {
            e[r] += z * e[r - 1];
        }
    }
    e
}

/// The Shapley weights `w(s, d) = s!(d−1−s)!/d!` for `s < d`.
fn shapley_weights(d: usize) -> Vec<f64> {
    let factorial = |n: usize| (1..=n).map(|k| k as f64).product::<f64>();
    (0..d)
        .map(|s| factorial(s) * factorial(d - 1 - s) / factorial(d))
        .collect()
}

/// A leaf's contributions for every subset `O` of its path features: entry `O · d + k` is what
/// the leaf adds to the path's `k`-th feature when the row agrees with exactly the features of
/// `O` (bit `k` for the path's `k`-th feature).
fn subset_table(leaf: &Leaf) -> Vec<f64> {
    let d = leaf.path.len();
    let weights = shapley_weights(d);
    let z: Vec<f64> = leaf.path.iter().map(|p| p.zero_fraction).collect();
    let mut table = vec![0.0; (1 << d) * d];
    for subset in 0..(1usize << d) {
        let inside = |k: usize| subset & (1 << k) != 0;
        let size = subset.count_ones() as usize;
        let outside: f64 = (0..d).filter(|&k| !inside(k)).map(|k| z[k]).product();
        let e = elementary_symmetric((0..d).filter(|&k| inside(k)).map(|k| z[k]), size);
        let disagree: f64 = (0..=size.min(d - 1))
            .map(|s| weights[s] * e[size - s])
            .sum::<f64>()
            * outside;
        for k in 0..d {
            table[subset * d + k] = if inside(k) {
                let e = elementary_symmetric(
                    (0..d).filter(|&j| j != k && inside(j)).map(|j| z[j]),
                    size - 1,
                );
                let agree: f64 = (0..size).map(|s| weights[s] * e[size - 1 - s]).sum();
                leaf.value * (1.0 - z[k]) * outside * agree
            } else {
                -leaf.value * disagree
            };
        }
    }
    table
}

/// Leaves tabulated over the grid of their features' bins.
#[derive(Debug, Clone)]
struct Group {
    /// Into `MemberTables::group_features`.
    features: std::ops::Range<usize>,
    /// Into `MemberTables::values`: cells × features.
    values: usize,
}

/// A leaf read from its own subset table.
#[derive(Debug, Clone)]
struct LoneLeaf {
    /// Into `MemberTables::leaf_features`.
    path: std::ops::Range<usize>,
    /// Into `MemberTables::values`: 2^d × d.
    values: usize,
}

/// A feature of a group: where its cell offset comes from.
#[derive(Debug, Clone, Copy)]
struct GroupFeature {
    feature: usize,
    /// The tree feature (into `MemberTables::tree_features`) whose local bin selects...
    tree_feature: usize,
    /// ...an entry of `MemberTables::group_maps` from here: that bin's cell offset (the
    /// group's local bin × its stride).
    map: usize,
}

/// One member's tables.
///
/// A row's bin of a feature becomes a cell in two small steps rather than one large table
/// per group: first each tree's local bin of each feature it splits on (`tree_remaps`: one
/// byte pair per global bin, a few hundred kilobytes in all, which stay in cache), then each
/// group's offset from that (`group_maps`: a few entries per group feature, stored with the
/// group). One table per group feature indexed by the global bin was 4 MB for the trained
/// blend and made every lookup a cache miss.
#[derive(Debug, Clone, Default)]
struct MemberTables {
    groups: Vec<Group>,
    group_features: Vec<GroupFeature>,
    /// (feature, offset in `tree_remaps`) for every feature of every tabulated tree.
    tree_features: Vec<(usize, usize)>,
    /// A global bin's local bin in one tree (how many of the tree's thresholds on the
    /// feature lie below it).
    tree_remaps: Vec<u16>,
    group_maps: Vec<u32>,
    lone: Vec<LoneLeaf>,
    leaf_features: Vec<PathFeature>,
    /// Built here, then moved into `cells` by [`MemberTables::freeze`].
    values: Vec<f64>,
    cells: CellValues,
    /// Trees explained by the recursion (a path with too many distinct features).
    recursive: Vec<usize>,
}

/// What the partition of one tree reads.
#[derive(Clone, Copy)]
struct Partition<'a> {
    tree: &'a Tree,
    bins: &'a FeatureBins,
    leaves: &'a [Leaf],
    subsets: &'a [Option<Vec<f64>>],
    max_cells: usize,
    /// The tree's thresholds per feature (sorted by feature), and where the first of them
    /// sits in `MemberTables::tree_features`.
    tree_features: &'a [(usize, Vec<usize>)],
    first_tree_feature: usize,
}

/// A feature's bins as a group of leaves sees them: two bins are in one class when every leaf
/// of the group agrees or disagrees with both alike (the classes need not be contiguous: a
/// leaf whose path keeps a feature within an interval cannot tell a bin below it from one
/// above). Cells are combinations of classes, which is what keeps group tables small.
#[derive(Debug)]
struct FeatureClasses {
    feature: usize,
    class_of_bin: Vec<usize>,
    /// The lowest bin of each class.
    representatives: Vec<usize>,
}

impl FeatureClasses {
    fn of(leaves: &[Leaf], feature: usize, n_bins: usize) -> FeatureClasses {
        let intervals: Vec<(usize, usize)> = leaves
            .iter()
            .filter(|l| !l.excluded)
            .filter_map(|l| l.path.iter().find(|p| p.feature == feature))
            .map(|p| (p.lo, p.width))
            .collect();
        let mut seen: std::collections::HashMap<Vec<bool>, usize> =
            std::collections::HashMap::new();
        let mut class_of_bin = Vec::with_capacity(n_bins);
        let mut representatives = Vec::new();
        for bin in 0..n_bins {
            let signature: Vec<bool> = intervals
                .iter()
                .map(|&(lo, width)| bin.wrapping_sub(lo) < width)
                .collect();
            let next = representatives.len();
            let id = *seen.entry(signature).or_insert(next);
            if id == next {
                representatives.push(bin);
            }
            class_of_bin.push(id);
        }
        FeatureClasses {
            feature,
            class_of_bin,
            representatives,
        }
    }
}

/// (feature, position) pairs as sorted, distinct positions per feature, features ascending.
fn by_feature(mut positions: Vec<(usize, usize)>) -> Vec<(usize, Vec<usize>)> {
    positions.sort_unstable();
    positions.dedup();
    let mut features: Vec<(usize, Vec<usize>)> = Vec::new();
    for (feature, position) in positions {
        match features.last_mut() {
            Some((f, list)) if *f == feature => list.push(position),
            _ => features.push((feature, vec![position])),
        }
    }
    features
}

/// The thresholds (by position) each feature splits at in `node`'s subtree, added to `out`.
fn subtree_positions(
    tree: &Tree,
    bins: &FeatureBins,
    node: usize,
    out: &mut Vec<(usize, usize)>,
) -> Option<()> {
    if let Node::Split {
        feature,
        threshold,
        left,
        right,
        ..
    } = *tree.nodes.get(node)?
    {
        out.push((
            feature as usize,
            bins.position(feature as usize, threshold)?,
        ));
        subtree_positions(tree, bins, left as usize, out)?;
        subtree_positions(tree, bins, right as usize, out)?;
    }
    Some(())
}

/// Leaves in `node`'s subtree.
fn leaf_count(tree: &Tree, node: usize) -> usize {
    match tree.nodes.get(node) {
        Some(Node::Split { left, right, .. }) => {
            leaf_count(tree, *left as usize) + leaf_count(tree, *right as usize)
        }
        _ => 1,
    }
}

impl MemberTables {
    /// Adds one tree's tables (or marks it for the recursion).
    fn add_tree(
        &mut self,
        index: usize,
        tree: &Tree,
        covers: &[f64],
        bins: &FeatureBins,
        max_cells: usize,
    ) -> Option<()> {
        let leaves = leaves_of(tree, covers, bins)?;
        if leaves
            .iter()
            .any(|l| !l.excluded && l.path.len() > MAX_PATH_FEATURES)
        {
            self.recursive.push(index);
            return Some(());
        }
        let subsets: Vec<Option<Vec<f64>>> = leaves
            .iter()
            .map(|l| (!l.excluded && !l.path.is_empty()).then(|| subset_table(l)))
            .collect();
        // The tree's thresholds per feature, and each global bin's local bin among them.
        let mut positions = Vec::new();
        subtree_positions(tree, bins, 0, &mut positions)?;
        let features = by_feature(positions);
        let first_tree_feature = self.tree_features.len();
        for (feature, positions) in &features {
            let offset = self.tree_remaps.len();
            for bin in 0..bins.bins(*feature) {
                let local = positions.partition_point(|&k| k < bin);
                self.tree_remaps.push(u16::try_from(local).ok()?);
            }
            self.tree_features.push((*feature, offset));
        }
        let walk = Partition {
            tree,
            bins,
            leaves: &leaves,
            subsets: &subsets,
            max_cells,
            tree_features: &features,
            first_tree_feature,
        };
        self.partition(&walk, 0, 0)
    }

    /// Tabulates the leaves of `node`'s subtree (the first is leaf number `first`) as one
    /// group if their grid is small enough, else recurses; a leaf alone keeps its own table.
    fn partition(&mut self, walk: &Partition<'_>, node: usize, first: usize) -> Option<()> {
        let Partition {
            tree,
            bins,
            leaves,
            subsets,
            max_cells,
            ..
        } = *walk;
        let count = leaf_count(tree, node);
        let members = first..first + count;
        let group = leaves.get(members.clone())?;
        if group.iter().all(|l| l.excluded) {
            return Some(());
        }
        let mut features: Vec<usize> = group
            .iter()
            .filter(|l| !l.excluded)
            .flat_map(|l| l.path.iter().map(|p| p.feature))
            .collect();
        features.sort_unstable();
        features.dedup();
        let classes: Vec<FeatureClasses> = features
            .iter()
            .map(|&f| FeatureClasses::of(group, f, bins.bins(f)))
            .collect();
        let cells = classes
            .iter()
            .try_fold(1usize, |acc, c| acc.checked_mul(c.representatives.len()));
        match *tree.nodes.get(node)? {
            Node::Split { left, right, .. } if cells.is_none_or(|c| c > max_cells) => {
                let left_count = leaf_count(tree, left as usize);
                self.partition(walk, left as usize, first)?;
                self.partition(walk, right as usize, first + left_count)?;
            }
            Node::Leaf { .. } if cells.is_none_or(|c| c > max_cells) => {
                let leaf = leaves.get(first)?;
                // Excluded leaves were returned above; a leaf with no path adds nothing.
                if let Some(table) = subsets.get(first)? {
                    let start = self.leaf_features.len();
                    self.leaf_features.extend(&leaf.path);
                    self.lone.push(LoneLeaf {
                        path: start..self.leaf_features.len(),
                        values: self.values.len(),
                    });
                    self.values.extend(table);
                }
            }
            // A lone root leaf has no features: nothing to attribute.
            _ if classes.is_empty() => {}
            _ => self.add_group(walk, &classes, cells?, group, &subsets[members])?,
        }
        Some(())
    }

    /// A group's maps and cell table.
    fn add_group(
        &mut self,
        walk: &Partition<'_>,
        classes: &[FeatureClasses],
        cells: usize,
        leaves: &[Leaf],
        subsets: &[Option<Vec<f64>>],
    ) -> Option<()> {
        let m = classes.len();
        let start = self.group_features.len();
        let mut stride = 1usize;
        let mut strides = Vec::with_capacity(m);
        for class in classes {
            // Every class boundary is one of the tree's thresholds on the feature, so each of
            // the tree's local bins lies in one class.
            let slot = walk
                .tree_features
                .iter()
                .position(|(f, _)| *f == class.feature)?;
            let tree_positions = &walk.tree_features[slot].1;
            let map = self.group_maps.len();
            for local in 0..=tree_positions.len() {
                let bin = if local == 0 {
                    0
                } else {
                    tree_positions[local - 1] + 1
                };
                let id = *class.class_of_bin.get(bin)?;
                self.group_maps.push(u32::try_from(id * stride).ok()?);
            }
            self.group_features.push(GroupFeature {
                feature: class.feature,
                tree_feature: walk.first_tree_feature + slot,
                map,
            });
            strides.push(stride);
            stride *= class.representatives.len();
        }
        let values = self.values.len();
        self.values.resize(values + cells * m, 0.0);
        // Each leaf's path features as group slots (every path feature is a group feature).
        // (Excluded leaves add nothing and keep no slots.)
        let slots: Vec<Vec<usize>> = leaves
            .iter()
            .map(|leaf| {
                leaf.path
                    .iter()
                    .filter(|_| !leaf.excluded)
                    .map(|p| classes.iter().position(|c| c.feature == p.feature))
                    .collect::<Option<Vec<usize>>>()
            })
            .collect::<Option<_>>()?;
        // Each cell's representative bin per feature.
        let mut representative = vec![0usize; m];
        for cell in 0..cells {
            for (slot, (class, stride)) in classes.iter().zip(&strides).enumerate() {
                let id = cell / stride % class.representatives.len();
                representative[slot] = class.representatives[id];
            }
            let row = values + cell * m;
            for ((leaf, table), slots) in leaves.iter().zip(subsets).zip(&slots) {
                let Some(table) = table else { continue };
                let d = leaf.path.len();
                let mut subset = 0;
                for (k, (p, slot)) in leaf.path.iter().zip(slots).enumerate() {
                    if representative[*slot].wrapping_sub(p.lo) < p.width {
                        subset |= 1 << k;
                    }
                }
                for (value, slot) in table[subset * d..(subset + 1) * d].iter().zip(slots) {
                    self.values[row + slot] += value;
                }
            }
        }
        self.groups.push(Group {
            features: start..self.group_features.len(),
            values,
        });
        Some(())
    }

    /// Moves the built values where rows read them.
    fn freeze(&mut self) {
        self.cells = CellValues::new(std::mem::take(&mut self.values));
    }

    /// Adds the tabulated trees' SHAP values at a row with `bins` into `phi`.
    fn add(&self, bins: &[usize], phi: &mut [f64]) {
        let cell_values = self.cells.as_slice();
        let local: Vec<u16> = self
            .tree_features
            .iter()
            .map(|&(feature, remap)| self.tree_remaps[remap + bins[feature]])
            .collect();
        // Two passes: every group's cell first (cache-resident maps), then the cell reads. The
        // reads miss the cache (tens of megabytes of cells); issued back to back with nothing
        // depending on them but the sums, many are in flight at once instead of a few.
        let cells: Vec<usize> = self
            .groups
            .iter()
            .map(|group| {
                let features = &self.group_features[group.features.clone()];
                let mut cell = 0usize;
                for f in features {
                    cell += self.group_maps[f.map + usize::from(local[f.tree_feature])] as usize;
                }
                group.values + cell * features.len()
            })
            .collect();
        for (group, &at) in self.groups.iter().zip(&cells) {
            let features = &self.group_features[group.features.clone()];
            let values = &cell_values[at..at + features.len()];
            for (f, value) in features.iter().zip(values) {
                phi[f.feature] += value;
            }
        }
        for leaf in &self.lone {
            let path = &self.leaf_features[leaf.path.clone()];
            let d = path.len();
            let mut subset = 0;
            for (k, p) in path.iter().enumerate() {
                subset |= usize::from(bins[p.feature].wrapping_sub(p.lo) < p.width) << k;
            }
            let row = &cell_values[leaf.values + subset * d..leaf.values + (subset + 1) * d];
            for (p, value) in path.iter().zip(row) {
                phi[p.feature] += value;
            }
        }
    }
}

/// What [`PathTables::stats`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableStats {
    pub groups: usize,
    /// Features summed over groups (cell lookups and additions per row).
    pub group_features: usize,
    pub lone_leaves: usize,
    pub lone_leaf_features: usize,
    pub recursive_trees: usize,
    pub bytes: usize,
}

/// The tables of every member of a blend.
#[derive(Debug, Clone)]
pub struct PathTables {
    bins: FeatureBins,
    members: Vec<MemberTables>,
}

impl PathTables {
    /// Builds the tables of `trees` (member → tree) with their `covers` (member → tree → node).
    /// `None` when a split's threshold is not among the bins' (cannot happen for bins built
    /// from the same trees) or a cover is missing (the explainer checks covers first).
    pub fn build(
        trees: &[&[Tree]],
        covers: &[Vec<Vec<f64>>],
        bins: FeatureBins,
    ) -> Option<PathTables> {
        PathTables::build_with(trees, covers, bins, MAX_GROUP_CELLS)
    }

    /// [`PathTables::build`] with groups of at most `max_cells` cells.
    pub fn build_with(
        trees: &[&[Tree]],
        covers: &[Vec<Vec<f64>>],
        bins: FeatureBins,
        max_cells: usize,
    ) -> Option<PathTables> {
        let mut members = Vec::with_capacity(trees.len());
        for (trees, covers) in trees.iter().zip(covers) {
            let mut tables = MemberTables::default();
            for (index, (tree, covers)) in trees.iter().zip(covers).enumerate() {
                tables.add_tree(index, tree, covers, &bins, max_cells)?;
            }
            tables.freeze();
            members.push(tables);
        }
        Some(PathTables { bins, members })
    }

    pub fn bins(&self) -> &FeatureBins {
        &self.bins
    }

    /// Each feature's bin for `row`.
    pub fn bins_of(&self, row: &[f32]) -> Vec<usize> {
        row.iter()
            .enumerate()
            .map(|(feature, value)| self.bins.bin(feature, *value))
            .collect()
    }

    /// Adds member `member`'s tabulated SHAP values at a row with `bins` into `phi`.
    pub fn add(&self, member: usize, bins: &[usize], phi: &mut [f64]) {
        if let Some(tables) = self.members.get(member) {
            tables.add(bins, phi);
        }
    }

    /// The trees of `member` the tables leave to the recursion.
    pub fn recursive_trees(&self, member: usize) -> &[usize] {
        self.members
            .get(member)
            .map_or(&[], |m| m.recursive.as_slice())
    }

    /// How the trees were tabulated.
    pub fn stats(&self) -> TableStats {
        TableStats {
            groups: self.members.iter().map(|m| m.groups.len()).sum(),
            group_features: self.members.iter().map(|m| m.group_features.len()).sum(),
            lone_leaves: self.members.iter().map(|m| m.lone.len()).sum(),
            lone_leaf_features: self.members.iter().map(|m| m.leaf_features.len()).sum(),
            recursive_trees: self.members.iter().map(|m| m.recursive.len()).sum(),
            bytes: self.table_bytes(),
        }
    }

    /// Bytes of table values held.
    pub fn table_bytes(&self) -> usize {
        self.members
            .iter()
            .map(|m| {
                m.cells.as_slice().len() * 8
                    + m.tree_remaps.len() * 2
                    + m.group_maps.len() * 4
                    + m.group_features.len() * std::mem::size_of::<GroupFeature>()
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elementary_symmetric_polynomials() {
        let e = elementary_symmetric([0.5, 0.25, 2.0].into_iter(), 3);
        assert_eq!(
            e,
            vec![1.0, 2.75, 0.5 * 0.25 + 0.5 * 2.0 + 0.25 * 2.0, 0.25]
        );
    }

    #[test]
    fn one_split_gives_the_value_minus_the_expectation() {
        // A stump on feature 0 at 0.5, covers 3 left and 1 right, leaves 10 and 2: a row going
        // left gets 10 − (0.75·10 + 0.25·2) = 2.
        let leaf = |value, excluded| Leaf {
            value,
            path: vec![PathFeature {
                feature: 0,
                zero_fraction: if value == 10.0 { 0.75 } else { 0.25 },
                lo: 0,
                width: 1,
            }],
            excluded,
        };
        let left = subset_table(&leaf(10.0, false));
        let right = subset_table(&leaf(2.0, false));
        // The row agrees with the left leaf's path (subset {0}), not the right's (subset {}).
        assert!((left[1] + right[0] - 2.0).abs() < 1e-12);
        assert!((left[1] - 10.0 * 0.25).abs() < 1e-12);
        assert!((right[0] + 2.0 * 0.25).abs() < 1e-12);
    }
}
