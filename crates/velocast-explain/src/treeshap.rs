//! Exact TreeSHAP for one tree of `x < threshold` splits (NaN goes right), both modes.
//!
//! Path-dependent (Lundberg, Erion & Lee 2018, algorithm 2): the conditional expectation of a
//! coalition is taken along the tree with the training rows each node saw (its cover), in
//! O(leaves · depth²) per row. Interventional (Lundberg et al. 2020, "independent" TreeSHAP):
//! the expectation is over a background sample, each background row `z` explaining `x`
//! against `z` exactly in O(leaves) per pair, then averaged.

use velocast_trees::{Node, Tree};

/// A tree's covers, by node index: how many training rows reached each node.
pub type Covers<'a> = &'a [f64];

#[derive(Debug, Clone, Copy)]
struct PathElement {
    feature: Option<u32>,
    zero_fraction: f64,
    one_fraction: f64,
    weight: f64,
}

fn goes_left(row: &[f32], feature: u32, threshold: f32) -> bool {
    row[feature as usize] < threshold
}

/// Adds the path-dependent SHAP values of `tree` at `row` into `phi` (one slot per feature).
/// `covers[i]` is the training weight that reached node `i`; a split whose cover is zero
/// contributes nothing below it.
pub fn path_dependent(tree: &Tree, covers: Covers<'_>, row: &[f32], phi: &mut [f64]) {
    let mut buffer = PathBuffer::default();
    path_dependent_with(tree, tree.depth(), covers, row, phi, &mut buffer);
}

/// Scratch space for [`path_dependent_with`], reused across trees and rows.
#[derive(Debug, Default)]
pub struct PathBuffer(Vec<PathElement>);

/// [`path_dependent`] for a tree whose `depth` is known, in reusable scratch space.
pub fn path_dependent_with(
    tree: &Tree,
    depth: usize,
    covers: Covers<'_>,
    row: &[f32],
    phi: &mut [f64],
    buffer: &mut PathBuffer,
) {
    if tree.nodes.is_empty() {
        return;
    }
    // Every level keeps its own copy of the path, one after another in one buffer.
    let levels = depth + 2;
    let needed = levels * (levels + 1) / 2 + levels;
    if buffer.0.len() < needed {
        buffer.0.resize(
            needed,
            PathElement {
                feature: None,
                zero_fraction: 0.0,
                one_fraction: 0.0,
                weight: 0.0,
            },
        );
    }
    let walk = PathWalk { tree, covers, row };
    walk.recurse(&mut buffer.0, phi, 0, 0, 0, 1.0, 1.0, None);
}

struct PathWalk<'a> {
    tree: &'a Tree,
    covers: Covers<'a>,
    row: &'a [f32],
}

impl PathWalk<'_> {
    /// `parent` is where the parent's path starts in `buffer`, `depth` its unique length.
    #[allow(clippy::too_many_arguments)] // The recursion's state, as in the paper.
    fn recurse(
        &self,
        buffer: &mut [PathElement],
        phi: &mut [f64],
        node: usize,
        parent: usize,
        depth: usize,
        zero_fraction: f64,
        one_fraction: f64,
        feature: Option<u32>,
    ) {
        let here = parent + depth + 1;
        buffer.copy_within(parent..parent + depth + 1, here);
        let mut depth = depth;
        extend(
            &mut buffer[here..],
            depth,
            zero_fraction,
            one_fraction,
            feature,
        );
        match self.tree.nodes[node] {
            Node::Leaf { value, .. } => {
                let path = &buffer[here..=here + depth];
                for (i, element) in path.iter().enumerate().skip(1) {
                    if let Some(f) = element.feature {
                        let weight = unwound_sum(path, depth, i);
                        phi[f as usize] += weight
                            * (element.one_fraction - element.zero_fraction)
                            * f64::from(value);
                    }
                }
            }
            Node::Split {
                feature: split_feature,
                threshold,
                left,
                right,
                ..
            } => {
                let (hot, cold) = if goes_left(self.row, split_feature, threshold) {
                    (left as usize, right as usize)
                } else {
                    (right as usize, left as usize)
                };
                let cover = self.covers[node];
                if cover <= 0.0 {
                    return;
                }
                let mut incoming_zero = 1.0;
                let mut incoming_one = 1.0;
                // A feature already on the path: undo its earlier split and carry its fractions.
                if let Some(k) =
                    (1..=depth).find(|&k| buffer[here + k].feature == Some(split_feature))
                {
                    incoming_zero = buffer[here + k].zero_fraction;
                    incoming_one = buffer[here + k].one_fraction;
                    unwind(&mut buffer[here..=here + depth], depth, k);
                    depth -= 1;
                }
                let hot_fraction = self.covers[hot] / cover;
                let cold_fraction = self.covers[cold] / cover;
                self.recurse(
                    buffer,
                    phi,
                    hot,
                    here,
                    depth + 1,
                    hot_fraction * incoming_zero,
                    incoming_one,
                    Some(split_feature),
                );
                self.recurse(
                    buffer,
                    phi,
                    cold,
                    here,
                    depth + 1,
                    cold_fraction * incoming_zero,
                    0.0,
                    Some(split_feature),
                );
            }
        }
    }
}

/// The paper's EXTEND: appends an element at `m[len]` and updates every weight.
fn extend(
    m: &mut [PathElement],
    len: usize,
    zero_fraction: f64,
    one_fraction: f64,
    feature: Option<u32>,
) {
    m[len] = PathElement {
        feature,
        zero_fraction,
        one_fraction,
        weight: if len == 0 { 1.0 } else { 0.0 },
    };
    let l = len as f64;
    for i in (0..len).rev() {
        m[i + 1].weight += one_fraction * m[i].weight * (i as f64 + 1.0) / (l + 1.0);
        m[i].weight = zero_fraction * m[i].weight * (l - i as f64) / (l + 1.0);
    }
}

/// The paper's UNWIND of element `i` from `m[..=last]`, in place (the path shrinks by one).
fn unwind(m: &mut [PathElement], last: usize, i: usize) {
    let one = m[i].one_fraction;
    let zero = m[i].zero_fraction;
    let mut next = m[last].weight;
    let l = last as f64;
    for j in (0..last).rev() {
        if one != 0.0 {
            let held = m[j].weight;
            m[j].weight = next * (l + 1.0) / ((j as f64 + 1.0) * one);
            next = held - m[j].weight * zero * (l - j as f64) / (l + 1.0);
        } else {
            m[j].weight = m[j].weight * (l + 1.0) / (zero * (l - j as f64));
        }
    }
    for j in i..last {
        m[j].feature = m[j + 1].feature;
        m[j].zero_fraction = m[j + 1].zero_fraction;
        m[j].one_fraction = m[j + 1].one_fraction;
    }
}

/// The total weight of `m[..=last]` with element `i` unwound, without changing `m`.
fn unwound_sum(m: &[PathElement], last: usize, i: usize) -> f64 {
    let one = m[i].one_fraction;
    let zero = m[i].zero_fraction;
    let l = last as f64;
    let mut next = m[last].weight;
    let mut total = 0.0;
    if one != 0.0 {
        for j in (0..last).rev() {
            let weight = next / ((j as f64 + 1.0) * one);
            total += weight;
            next = m[j].weight - weight * zero * (l - j as f64);
        }
    } else {
        for j in (0..last).rev() {
            total += m[j].weight / (zero * (l - j as f64));
        }
    }
    total * (l + 1.0)
}

/// The tree's expected value under its covers: the path-dependent base value.
pub fn expected_value(tree: &Tree, covers: Covers<'_>) -> f64 {
    fn walk(tree: &Tree, covers: Covers<'_>, node: usize) -> f64 {
        match tree.nodes[node] {
            Node::Leaf { value, .. } => f64::from(value),
            Node::Split { left, right, .. } => {
                let cover = covers[node];
                if cover <= 0.0 {
                    return 0.0;
                }
                let (l, r) = (left as usize, right as usize);
                (covers[l] * walk(tree, covers, l) + covers[r] * walk(tree, covers, r)) / cover
            }
        }
    }
    if tree.nodes.is_empty() {
        0.0
    } else {
        walk(tree, covers, 0)
    }
}

/// Adds to `phi` the interventional SHAP values of `tree` at `row` against one background row
/// (Shapley values of the game `v(S) = f(x_S, z_rest)`); the caller averages over the sample.
/// Returns `f(z)`, the background row's prediction (the base value's share).
pub fn interventional(tree: &Tree, row: &[f32], background: &[f32], phi: &mut [f64]) -> f64 {
    // Per feature: 0 unassigned, 1 taken from x, 2 taken from z, on the current path.
    let mut taken = vec![0u8; row.len()];
    let mut base = 0.0;
    walk_pair(tree, row, background, 0, &mut taken, 0, 0, phi, &mut base);
    base
}

#[allow(clippy::too_many_arguments)]
fn walk_pair(
    tree: &Tree,
    x: &[f32],
    z: &[f32],
    node: usize,
    taken: &mut [u8],
    from_x: usize,
    from_z: usize,
    phi: &mut [f64],
    base: &mut f64,
) {
    match tree.nodes[node] {
        Node::Leaf { value, .. } => {
            let value = f64::from(value);
            if from_x == 0 {
                *base += value;
            }
            if from_x + from_z == 0 {
                return;
            }
            // The leaf is reached by exactly the coalitions S with (features from x) ⊆ S and
            // (features from z) ∩ S = ∅. Each feature from x gains, each from z loses, with the
            // Shapley weight of the coalitions that reach it.
            let (a, b) = (from_x as f64, from_z as f64);
            let gain = if from_x > 0 {
                value / (a * binomial(a + b, a))
            } else {
                0.0
            };
            let loss = if from_z > 0 {
                value / (b * binomial(a + b, b))
            } else {
                0.0
            };
            for (feature, state) in taken.iter().enumerate() {
                match state {
                    1 => phi[feature] += gain,
                    2 => phi[feature] -= loss,
                    _ => {}
                }
            }
        }
        Node::Split {
            feature,
            threshold,
            left,
            right,
            ..
        } => {
            let f = feature as usize;
            let child = |left_side: bool| {
                if left_side {
                    left as usize
                } else {
                    right as usize
                }
            };
            let x_left = goes_left(x, feature, threshold);
            let z_left = goes_left(z, feature, threshold);
            match taken[f] {
                1 => walk_pair(tree, x, z, child(x_left), taken, from_x, from_z, phi, base),
                2 => walk_pair(tree, x, z, child(z_left), taken, from_x, from_z, phi, base),
                _ if x_left == z_left => {
                    walk_pair(tree, x, z, child(x_left), taken, from_x, from_z, phi, base)
                }
                _ => {
                    taken[f] = 1;
                    walk_pair(
                        tree,
                        x,
                        z,
                        child(x_left),
                        taken,
                        from_x + 1,
                        from_z,
                        phi,
                        base,
                    );
                    taken[f] = 2;
                    walk_pair(
                        tree,
                        x,
                        z,
                        child(z_left),
                        taken,
                        from_x,
                        from_z + 1,
                        phi,
                        base,
                    );
                    taken[f] = 0;
                }
            }
        }
    }
}

/// `n choose k` for the small counts of features on one path.
fn binomial(n: f64, k: f64) -> f64 {
    let k = k.min(n - k);
    let mut result = 1.0;
    let mut i = 0.0;
    while i < k {
        result = result * (n - i) / (i + 1.0);
        i += 1.0;
    }
    result
}
