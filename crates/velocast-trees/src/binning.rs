//! Feature binning for histogram boosting.
//!
//! Every bin boundary is a value that occurs in the training data, and a value belongs to bin
//! `b` when exactly `b` boundaries are `<=` it. "Bins `0..=b` go left" is then the same statement
//! as "`x < boundary[b]`", which is what the exported tree tests: no f64 threshold ever gets
//! rounded into a different f32.

use crate::model::Matrix;

/// Boundaries of one feature's bins, ascending.
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureBins {
    pub boundaries: Vec<f32>,
}

impl FeatureBins {
    /// Up to `max_bins` bins with roughly equal row counts, every distinct value its own bin
    /// when there are few enough.
    pub fn fit(values: &mut [f32], max_bins: usize) -> Self {
        values.sort_unstable_by(f32::total_cmp);
        let mut distinct: Vec<(f32, usize)> = Vec::new();
        for &value in values.iter().filter(|v| !v.is_nan()) {
            match distinct.last_mut() {
                Some((last, count)) if *last == value => *count += 1,
                _ => distinct.push((value, 1)),
            }
        }
        let max_bins = max_bins.max(2);
        if distinct.len() <= max_bins {
            let boundaries = distinct.iter().skip(1).map(|(v, _)| *v).collect();
            return FeatureBins { boundaries };
        }
        // Greedy equal-frequency cuts; a heavy value gets a bin to itself.
        let total: usize = distinct.iter().map(|(_, c)| c).sum();
        let mut boundaries = Vec::with_capacity(max_bins - 1);
        let mut in_bin = 0usize;
        let mut remaining_rows = total;
        for &(value, count) in &distinct {
            let bins_left = max_bins - boundaries.len();
            let target = remaining_rows.div_ceil(bins_left).max(1);
            if in_bin > 0 && (in_bin + count > target) && boundaries.len() + 1 < max_bins {
                boundaries.push(value);
                remaining_rows -= in_bin;
                in_bin = 0;
            }
            in_bin += count;
        }
        FeatureBins { boundaries }
    }

    pub fn bin_count(&self) -> usize {
        self.boundaries.len() + 1
    }

    /// The bin of a value: how many boundaries are `<=` it. NaN lands in the last bin, as it goes
    /// right at every split.
    pub fn bin(&self, value: f32) -> u8 {
        if value.is_nan() {
            return self.boundaries.len() as u8;
        }
        self.boundaries.partition_point(|b| *b <= value) as u8
    }

    /// The threshold that sends bins `0..=bin` left.
    pub fn threshold_after(&self, bin: usize) -> f32 {
        self.boundaries[bin]
    }
}

/// A whole matrix binned, row-major, one byte per value.
#[derive(Debug, Clone)]
pub struct BinnedMatrix {
    pub bins: Vec<u8>,
    pub n_features: usize,
    pub features: Vec<FeatureBins>,
    /// Offset of each feature's first bin in a flat histogram.
    pub offsets: Vec<usize>,
    pub total_bins: usize,
}

impl BinnedMatrix {
    /// Fits bins on `data` and bins it. `max_bins` is capped at 256 (one byte per value).
    pub fn fit(data: Matrix<'_>, max_bins: usize) -> Self {
        let max_bins = max_bins.clamp(2, 256);
        let n_features = data.n_features();
        let features: Vec<FeatureBins> = (0..n_features)
            .map(|f| {
                let mut column: Vec<f32> = (0..data.rows()).map(|r| data.value(r, f)).collect();
                FeatureBins::fit(&mut column, max_bins)
            })
            .collect();
        let mut offsets = Vec::with_capacity(n_features);
        let mut total_bins = 0;
        for feature in &features {
            offsets.push(total_bins);
            total_bins += feature.bin_count();
        }
        let mut bins = Vec::with_capacity(data.rows() * n_features);
        for r in 0..data.rows() {
            for (f, feature) in features.iter().enumerate() {
                bins.push(feature.bin(data.value(r, f)));
            }
        }
        BinnedMatrix {
            bins,
            n_features,
            features,
            offsets,
            total_bins,
        }
    }

    pub fn rows(&self) -> usize {
        self.bins.len() / self.n_features
    }

    pub fn row(&self, index: usize) -> &[u8] {
        &self.bins[index * self.n_features..(index + 1) * self.n_features]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn few_distinct_values_get_a_bin_each() {
        let mut values = vec![3.0, 1.0, 2.0, 2.0, 1.0];
        let bins = FeatureBins::fit(&mut values, 255);
        assert_eq!(bins.boundaries, vec![2.0, 3.0]);
        assert_eq!(
            [
                bins.bin(0.5),
                bins.bin(1.0),
                bins.bin(2.0),
                bins.bin(2.5),
                bins.bin(9.0)
            ],
            [0, 0, 1, 1, 2]
        );
    }

    #[test]
    fn bin_order_matches_strict_less_than_threshold() {
        let mut values: Vec<f32> = (0..10_000).map(|i| (i as f32 * 0.37).sin()).collect();
        let data = values.clone();
        let bins = FeatureBins::fit(&mut values, 63);
        assert!(bins.bin_count() <= 63 && bins.bin_count() > 40);
        for b in 0..bins.boundaries.len() {
            let threshold = bins.threshold_after(b);
            for &x in &data {
                assert_eq!(usize::from(bins.bin(x)) <= b, x < threshold);
            }
        }
    }

    #[test]
    fn many_values_are_cut_into_roughly_equal_bins() {
        let mut values: Vec<f32> = (0..1000).map(|i| i as f32).collect();
        let bins = FeatureBins::fit(&mut values, 10);
        assert_eq!(bins.bin_count(), 10);
        let mut counts = [0; 10];
        for i in 0..1000 {
            counts[bins.bin(i as f32) as usize] += 1;
        }
        assert!(
            counts.iter().all(|&c| (90..=110).contains(&c)),
            "{counts:?}"
        );
    }

    #[test]
    fn a_dominant_value_does_not_swallow_its_neighbours() {
        let mut values: Vec<f32> = std::iter::repeat_n(0.0, 900)
            .chain((1..=100).map(|i| i as f32))
            .collect();
        let bins = FeatureBins::fit(&mut values, 8);
        assert_eq!(bins.bin(0.0), 0);
        assert_ne!(bins.bin(1.0), 0);
        assert!(bins.bin_count() >= 3);
    }
}
