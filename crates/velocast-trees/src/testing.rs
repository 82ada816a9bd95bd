//! Random trees and blends for property tests of everything that reads the model (the native
//! evaluator, explanations, exporters). Behind the `testing` feature: not part of serving.
//!
//! Trees are unbalanced, stored in shuffled node order (node 0 stays the root), split on
//! thresholds from a small grid so that rows land exactly on them, and carry consistent
//! training counts (a split's count is its children's).

use crate::{Blend, Ensemble, Link, Member, Node, Tree};

/// Thresholds and most row values come from this grid.
pub const GRID: [f32; 9] = [-2.0, -1.0, -0.5, 0.0, 0.25, 0.5, 1.0, 3.0, 1e6];

/// A small deterministic generator (splitmix64) driven by a property test's seed.
#[derive(Debug, Clone)]
pub struct Draw(pub u64);

impl Draw {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// A random tree over `n_features` features, at most `max_depth` deep, leaves in ±`scale`.
pub fn tree(draw: &mut Draw, n_features: usize, max_depth: u32, scale: f32) -> Tree {
    fn grow(
        draw: &mut Draw,
        n_features: usize,
        depth: u32,
        max_depth: u32,
        scale: f32,
        out: &mut Vec<Node>,
    ) -> (u32, u32) {
        let at = out.len() as u32;
        if depth >= max_depth || (depth > 0 && draw.below(4) == 0) {
            let count = 1 + draw.below(50) as u32;
            out.push(Node::Leaf {
                value: (draw.unit() * 2.0 - 1.0) * scale,
                count,
            });
            return (at, count);
        }
        out.push(Node::Leaf {
            value: 0.0,
            count: 0,
        });
        let feature = draw.below(n_features as u64) as u32;
        let threshold = GRID[draw.below(GRID.len() as u64) as usize];
        let (left, left_count) = grow(draw, n_features, depth + 1, max_depth, scale, out);
        let (right, right_count) = grow(draw, n_features, depth + 1, max_depth, scale, out);
        let count = left_count + right_count;
        out[at as usize] = Node::Split {
            feature,
            threshold,
            left,
            right,
            gain: draw.unit(),
            count,
        };
        (at, count)
    }
    let mut nodes = Vec::new();
    grow(draw, n_features, 0, max_depth, scale, &mut nodes);
    shuffle(draw, nodes)
}

/// The same tree with every node but the root moved to a random position.
fn shuffle(draw: &mut Draw, nodes: Vec<Node>) -> Tree {
    let n = nodes.len();
    let mut order: Vec<usize> = (1..n).collect();
    for i in (1..order.len()).rev() {
        let j = draw.below(i as u64 + 1) as usize;
        order.swap(i, j);
    }
    let mut position = vec![0u32; n];
    for (new, old) in order.iter().enumerate() {
        position[*old] = new as u32 + 1;
    }
    let mut shuffled = nodes.clone();
    for (old, node) in nodes.into_iter().enumerate() {
        let renumbered = match node {
            Node::Split {
                feature,
                threshold,
                left,
                right,
                gain,
                count,
            } => Node::Split {
                feature,
                threshold,
                left: position[left as usize],
                right: position[right as usize],
                gain,
                count,
            },
            leaf => leaf,
        };
        shuffled[position[old] as usize] = renumbered;
    }
    Tree { nodes: shuffled }
}

/// A random blend: one to three members of every link, 1–40 trees each, depth up to
/// `max_depth`, weights in [−0.5, 1.5). Leaf values keep `exp` of any score inside f32.
pub fn blend(seed: u64, n_features: usize, max_depth: u32) -> Blend {
    let mut draw = Draw(seed);
    let members = 1 + draw.below(3) as usize;
    Blend {
        members: (0..members)
            .map(|m| {
                let link = [Link::Identity, Link::Log1p, Link::Log][draw.below(3) as usize];
                let trees = 1 + draw.below(40) as usize;
                let depth = draw.below(u64::from(max_depth) + 1) as u32;
                let scale = match link {
                    Link::Identity => 50.0,
                    _ => 4.0 / trees as f32,
                };
                Member {
                    name: format!("m{m}"),
                    weight: f64::from(draw.unit()) * 2.0 - 0.5,
                    ensemble: Ensemble {
                        trees: (0..trees)
                            .map(|_| tree(&mut draw, n_features, depth, scale))
                            .collect(),
                        link,
                    },
                }
            })
            .collect(),
    }
}

/// `count` rows: mostly grid values (so rows hit thresholds), some uniform, one in ten NaN.
pub fn rows(seed: u64, n_features: usize, count: usize) -> Vec<f32> {
    let mut draw = Draw(seed ^ 0xA5A5_A5A5);
    (0..count * n_features)
        .map(|_| match draw.below(10) {
            0 => f32::NAN,
            1 => draw.unit() * 8.0 - 4.0,
            _ => GRID[draw.below(GRID.len() as u64) as usize],
        })
        .collect()
}
