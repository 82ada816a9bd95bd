//! Split thresholds as bins: every threshold a model compares a feature with, sorted, so that a
//! value's position among them (its *bin*) decides every split on that feature at once.
//!
//! A split sends `x < threshold` left. With a feature's distinct thresholds `g₀ < g₁ < …`, a
//! value's bin is how many of them are `≤ x` (NaN, which is never `<` anything and so goes right
//! everywhere, takes the last bin). Then `x < gₖ` exactly when `bin(x) ≤ k`: comparing bins is
//! comparing values, with nothing rounded.

use velocast_trees::{Blend, Node};

/// The distinct split thresholds of each feature of a model.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBins {
    thresholds: Vec<Vec<f32>>,
}

impl FeatureBins {
    /// The thresholds every split of `blend` uses, for rows of `n_features` values. Splits on
    /// features past `n_features` and NaN thresholds are ignored here (compilation refuses
    /// them before this is asked).
    pub fn of(blend: &Blend, n_features: usize) -> FeatureBins {
        let mut thresholds = vec![Vec::new(); n_features];
        let splits = blend
            .members
            .iter()
            .flat_map(|m| &m.ensemble.trees)
            .flat_map(|t| &t.nodes);
        for node in splits {
            if let Node::Split {
                feature, threshold, ..
            } = *node
                && let Some(list) = thresholds.get_mut(feature as usize)
                && !threshold.is_nan()
            {
                list.push(threshold);
            }
        }
        for list in &mut thresholds {
            list.sort_by(f32::total_cmp);
            // By value: −0 and +0 split alike.
            list.dedup_by(|a, b| a == b);
        }
        FeatureBins { thresholds }
    }

    pub fn n_features(&self) -> usize {
        self.thresholds.len()
    }

    /// How many bins `feature` has (its thresholds + 1); 1 for a feature no split uses.
    pub fn bins(&self, feature: usize) -> usize {
        self.thresholds.get(feature).map_or(1, |t| t.len() + 1)
    }

    /// The sorted distinct thresholds of `feature`.
    pub fn thresholds(&self, feature: usize) -> &[f32] {
        self.thresholds.get(feature).map_or(&[], Vec::as_slice)
    }

    /// The bin of `value` on `feature`: how many thresholds are `≤ value` (all of them for NaN).
    #[inline]
    pub fn bin(&self, feature: usize, value: f32) -> usize {
        let thresholds = self.thresholds(feature);
        if value.is_nan() {
            thresholds.len()
        } else {
            thresholds.partition_point(|&g| g <= value)
        }
    }

    /// The position `k` of `threshold` among `feature`'s thresholds: a split on it sends a
    /// value left exactly when the value's bin is `≤ k`.
    pub fn position(&self, feature: usize, threshold: f32) -> Option<usize> {
        let thresholds = self.thresholds(feature);
        let k = thresholds.partition_point(|&g| g < threshold);
        (thresholds.get(k) == Some(&threshold)).then_some(k)
    }
}

#[cfg(test)]
mod tests {
    use velocast_trees::{Ensemble, Link, Tree};

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

    fn leaf() -> Node {
        Node::Leaf {
            value: 0.0,
            count: 0,
        }
    }

    #[test]
    fn bins_decide_splits_exactly_as_values_do() {
        let thresholds = [-0.0, 0.0, 0.5, 0.5, f32::INFINITY, -3.0, 1e-30];
        let mut nodes = Vec::new();
        for (i, t) in thresholds.iter().enumerate() {
            let at = nodes.len() as u32;
            nodes.push(split(0, *t, at + 1, at + 2));
            nodes.push(leaf());
            if i + 1 == thresholds.len() {
                nodes.push(leaf());
            }
        }
        let blend = Blend::single(
            "b",
            Ensemble {
                trees: vec![Tree { nodes }],
                link: Link::Identity,
            },
        );
        let bins = FeatureBins::of(&blend, 2);
        assert_eq!(bins.thresholds(0), &[-3.0, 0.0, 1e-30, 0.5, f32::INFINITY]);
        assert_eq!(bins.bins(1), 1, "an unused feature has one bin");
        let values = [
            f32::NEG_INFINITY,
            -3.0,
            -1.0,
            -0.0,
            0.0,
            1e-31,
            1e-30,
            0.4,
            0.5,
            7.0,
            f32::MAX,
            f32::INFINITY,
            f32::NAN,
        ];
        for value in values {
            for &threshold in bins.thresholds(0) {
                let k = bins.position(0, threshold).unwrap();
                assert_eq!(
                    bins.bin(0, value) <= k,
                    value < threshold,
                    "{value} against {threshold}"
                );
            }
        }
        assert_eq!(bins.bin(0, f32::NAN), 5);
        assert_eq!(bins.position(0, 0.25), None);
    }
}
