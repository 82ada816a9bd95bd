//! Ridge regression on one-hot categorical features, compiled into trees.
//!
//! A linear model over one-hot codes is a sum of per-column lookups, and a lookup on an
//! integer-coded column is a small balanced tree. Compiled that way the ridge baseline is an
//! [`Ensemble`] like any other: it blends, exports and is parity-checked without special cases.

use crate::gbdt::FitError;
use crate::model::{Ensemble, Link, Matrix, Node, Tree};

/// One-hot columns with a log1p target by default: counts are right-skewed, and a
/// multiplicative calendar model is what the data looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct RidgeParams {
    /// Feature indices to one-hot encode; each distinct training value becomes a column.
    pub categorical_features: Vec<usize>,
    pub alpha: f64,
    pub link: Link,
}

/// Fits ridge on one-hot codes of `params.categorical_features` and returns it as trees.
pub fn fit_ridge(
    features: Matrix<'_>,
    target: &[f64],
    params: &RidgeParams,
) -> Result<Ensemble, FitError> {
    let rows = crate::gbdt::check_shape(features, target)?;
    if params.alpha.is_nan() || params.alpha <= 0.0 {
        return Err(FitError::BadParam {
            name: "alpha",
            value: params.alpha,
            rule: "> 0",
        });
    }
    let label: Vec<f64> = target
        .iter()
        .enumerate()
        .map(|(row, &y)| match params.link {
            Link::Identity if y.is_finite() => Ok(y),
            Link::Log1p if y.is_finite() && y >= 0.0 => Ok(y.ln_1p()),
            Link::Log if y.is_finite() && y > 0.0 => Ok(y.ln()),
            _ => Err(FitError::BadTarget {
                row,
                value: y,
                objective: crate::Objective::SquaredError,
            }),
        })
        .collect::<Result<_, _>>()?;

    // Columns: for each categorical feature, its distinct values.
    let mut categories: Vec<Vec<f32>> = Vec::new();
    for &feature in &params.categorical_features {
        let mut values: Vec<f32> = (0..rows).map(|r| features.value(r, feature)).collect();
        values.sort_unstable_by(f32::total_cmp);
        values.dedup();
        categories.push(values);
    }
    let offsets: Vec<usize> = categories
        .iter()
        .scan(0, |acc, c| {
            let at = *acc;
            *acc += c.len();
            Some(at)
        })
        .collect();
    let p: usize = categories.iter().map(Vec::len).sum();
    let (offsets_ref, categories_ref) = (&offsets, &categories);
    let active = |r: usize| {
        params
            .categorical_features
            .iter()
            .enumerate()
            .map(move |(g, &feature)| {
                let value = features.value(r, feature);
                offsets_ref[g] + categories_ref[g].partition_point(|c| *c < value)
            })
    };

    // Normal equations on centred columns: (XᵀX − n·x̄x̄ᵀ + αI) w = Xᵀy − n·x̄·ȳ.
    let n = rows as f64;
    let mut xtx = vec![0.0; p * p];
    let mut xty = vec![0.0; p];
    let mut column_sums = vec![0.0; p];
    for (r, &y) in label.iter().enumerate() {
        let cols: Vec<usize> = active(r).collect();
        for &i in &cols {
            column_sums[i] += 1.0;
            xty[i] += y;
            for &j in &cols {
                xtx[i * p + j] += 1.0;
            }
        }
    }
    let mean_y = label.iter().sum::<f64>() / n;
    let means: Vec<f64> = column_sums.iter().map(|s| s / n).collect();
    for i in 0..p {
        for j in 0..p {
            xtx[i * p + j] -= n * means[i] * means[j];
        }
        xtx[i * p + i] += params.alpha;
        xty[i] -= n * means[i] * mean_y;
    }
    let weights = cholesky_solve(&mut xtx, &mut xty, p).ok_or(FitError::BadParam {
        name: "alpha",
        value: params.alpha,
        rule: "large enough to make the system positive definite",
    })?;
    let intercept = mean_y - means.iter().zip(&weights).map(|(m, w)| m * w).sum::<f64>();

    let mut trees: Vec<Tree> = params
        .categorical_features
        .iter()
        .enumerate()
        .map(|(g, &feature)| {
            let values = &categories[g];
            let columns = offsets[g]..offsets[g] + values.len();
            lookup_tree(
                feature as u32,
                values,
                &weights[columns.clone()],
                &column_sums[columns],
            )
        })
        .collect();
    if trees.is_empty() {
        trees.push(Tree::leaf(0.0));
    }
    for node in &mut trees[0].nodes {
        if let Node::Leaf { value, .. } = node {
            *value = (f64::from(*value) + intercept) as f32;
        }
    }
    Ok(Ensemble {
        trees,
        link: params.link,
    })
}

/// A balanced tree that maps each category to its weight. Splits sit halfway between adjacent
/// categories; a value never seen in training goes to the nearest category. Each node counts
/// the training rows of its categories (the covers explanations weigh paths by).
fn lookup_tree(feature: u32, categories: &[f32], weights: &[f64], rows: &[f64]) -> Tree {
    fn build(
        nodes: &mut Vec<Node>,
        feature: u32,
        categories: &[f32],
        weights: &[f64],
        rows: &[f64],
    ) -> u32 {
        let index = nodes.len() as u32;
        let count = rows.iter().sum::<f64>() as u32;
        if categories.len() == 1 {
            nodes.push(Node::Leaf {
                value: weights[0] as f32,
                count,
            });
            return index;
        }
        let mid = categories.len() / 2;
        let threshold = (categories[mid - 1] + categories[mid]) / 2.0;
        nodes.push(Node::Leaf {
            value: 0.0,
            count: 0,
        });
        let left = build(
            nodes,
            feature,
            &categories[..mid],
            &weights[..mid],
            &rows[..mid],
        );
        let right = build(
            nodes,
            feature,
            &categories[mid..],
            &weights[mid..],
            &rows[mid..],
        );
        nodes[index as usize] = Node::Split {
            feature,
            threshold,
            left,
            right,
            gain: 0.0,
            count,
        };
        index
    }
    let mut nodes = Vec::with_capacity(2 * categories.len());
    if categories.is_empty() {
        return Tree::leaf(0.0);
    }
    build(&mut nodes, feature, categories, weights, rows);
    Tree { nodes }
}

/// Solves `A x = b` for symmetric positive-definite `A` (row-major `p × p`), in place; `None`
/// when `A` is not positive definite. (Also the local model of LIME in velocast-explain.)
pub fn cholesky_solve(a: &mut [f64], b: &mut [f64], p: usize) -> Option<Vec<f64>> {
    for j in 0..p {
        let mut diagonal = a[j * p + j];
        for k in 0..j {
            diagonal -= a[j * p + k] * a[j * p + k];
        }
        if diagonal <= 0.0 {
            return None;
        }
        let diagonal = diagonal.sqrt();
        a[j * p + j] = diagonal;
        for i in (j + 1)..p {
            let mut value = a[i * p + j];
            for k in 0..j {
                value -= a[i * p + k] * a[j * p + k];
            }
            a[i * p + j] = value / diagonal;
        }
    }
    // L y = b, then Lᵀ x = y.
    for i in 0..p {
        for k in 0..i {
            b[i] -= a[i * p + k] * b[k];
        }
        b[i] /= a[i * p + i];
    }
    for i in (0..p).rev() {
        for k in (i + 1)..p {
            b[i] -= a[k * p + i] * b[k];
        }
        b[i] /= a[i * p + i];
    }
    Some(b.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recovers_an_additive_categorical_model() {
        // y = 10 + 5·[a = 1] − 3·[a = 2] + 2·[b = 1], no noise, tiny alpha.
        let mut data = Vec::new();
        let mut target = Vec::new();
        for a in 0..3 {
            for b in 0..2 {
                for _ in 0..50 {
                    data.extend([a as f32, b as f32]);
                    let effect_a = [0.0, 5.0, -3.0][a];
                    target.push(10.0 + effect_a + 2.0 * f64::from(b));
                }
            }
        }
        let features = Matrix::new(&data, 2).unwrap();
        let ensemble = fit_ridge(
            features,
            &target,
            &RidgeParams {
                categorical_features: vec![0, 1],
                alpha: 1e-6,
                link: Link::Identity,
            },
        )
        .unwrap();
        for (r, y) in target.iter().enumerate() {
            assert!((ensemble.predict(features.row(r)) - y).abs() < 1e-3);
        }
        // An unseen code between two seen ones goes to the nearer one.
        assert!((ensemble.predict(&[1.2, 0.0]) - 15.0).abs() < 1e-3);
    }

    #[test]
    fn lookup_tree_is_balanced() {
        let categories: Vec<f32> = (0..48).map(|c| c as f32).collect();
        let weights: Vec<f64> = (0..48).map(f64::from).collect();
        let rows: Vec<f64> = (0..48).map(|c| f64::from(c % 5 + 1)).collect();
        let tree = lookup_tree(0, &categories, &weights, &rows);
        assert_eq!(tree.leaves(), 48);
        assert!(tree.depth() <= 6);
        // Covers: the root saw every row, each split its two children's.
        let count = |i: u32| match tree.nodes[i as usize] {
            Node::Split { count, .. } | Node::Leaf { count, .. } => count,
        };
        assert_eq!(count(0), rows.iter().sum::<f64>() as u32);
        for node in &tree.nodes {
            if let Node::Split {
                left,
                right,
                count: c,
                ..
            } = node
            {
                assert_eq!(*c, count(*left) + count(*right));
            }
        }
        for c in 0..48 {
            assert_eq!(tree.predict(&[c as f32]), c as f32);
        }
    }

    #[test]
    fn refuses_a_non_positive_alpha() {
        let features = Matrix::new(&[0.0, 1.0], 1).unwrap();
        let params = RidgeParams {
            categorical_features: vec![0],
            alpha: 0.0,
            link: Link::Log1p,
        };
        assert!(matches!(
            fit_ridge(features, &[1.0, 2.0], &params),
            Err(FitError::BadParam { name: "alpha", .. })
        ));
    }
}
