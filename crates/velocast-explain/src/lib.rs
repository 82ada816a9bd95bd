//! Explanations of the blends Velocast serves: exact TreeSHAP (path-dependent and
//! interventional) and LIME, on the parsed model the registry holds. Pure: no HTTP, SQL or
//! ONNX Runtime.
//!
//! Spaces. A member's trees add up to its *score*; its link turns the score into a count
//! (identity, `exp − 1` for log1p, `exp` for Poisson), the blend weighs the members' counts,
//! sums them and floors the sum at zero. SHAP values are exact in each member's score space.
//! The blend's answer is in output space: there each member's attributions are rescaled by
//! `w · (g(score) − g(base)) / (score − base)` (exact when every link is the identity, which
//! the explanation says), so they still add up to the prediction before the zero floor.

mod cells;
pub mod lime;
pub mod tables;
pub mod treeshap;

use thiserror::Error;
use velocast_evaluator::{CompiledBlend, FeatureBins};
use velocast_trees::{Blend, Link, Node};

use crate::tables::PathTables;

#[derive(Debug, Error, PartialEq)]
pub enum ExplainError {
    #[error("expected rows of {n_features} features, got {got} values")]
    Shape { n_features: usize, got: usize },
    #[error(
        "the model has no node covers (it was exported before they were stored): only the \
         interventional mode can explain it"
    )]
    NoCovers,
    #[error("member {member}, tree {tree}: {problem}")]
    Covers {
        member: usize,
        tree: usize,
        problem: String,
    },
    #[error("the background sample is empty")]
    EmptyBackground,
    #[error("member {member}, tree {tree}: {problem}")]
    Tree {
        member: usize,
        tree: usize,
        problem: String,
    },
}

/// Which expectation a coalition of absent features takes.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Along the trees with the training rows each node saw (needs covers).
    PathDependent,
    /// Over a background sample: row-major, one row per background hour.
    Interventional { background: Vec<f32> },
}

impl Mode {
    pub fn name(&self) -> &'static str {
        match self {
            Mode::PathDependent => "path_dependent",
            Mode::Interventional { .. } => "interventional",
        }
    }
}

/// One member's exact attributions, in its score space.
#[derive(Debug, Clone, PartialEq)]
pub struct MemberExplanation {
    pub name: String,
    pub weight: f64,
    pub link: Link,
    /// The expected score: what the member predicts with every feature absent.
    pub base_value: f64,
    /// The member's score for this row: `base_value + Σ contributions`.
    pub score: f64,
    pub contributions: Vec<f64>,
}

/// The blend's attributions in output space, and each member's exact ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Explanation {
    /// The model's answer (floored at zero, as served).
    pub prediction: f64,
    /// `Σ w · g(member base)`: the output with every feature absent.
    pub base_value: f64,
    /// Per feature; `base_value + Σ contributions` is the blend before its zero floor.
    pub contributions: Vec<f64>,
    /// True when every link is the identity: the output-space attributions are exact Shapley
    /// values; otherwise they are each member's exact score-space values rescaled.
    pub exact_in_output: bool,
    pub members: Vec<MemberExplanation>,
}

impl Explanation {
    /// The blend before its zero floor (what `base_value + Σ contributions` adds up to).
    pub fn unfloored(&self) -> f64 {
        self.members
            .iter()
            .map(|m| m.weight * m.link.inverse(m.score))
            .sum()
    }
}

/// A blend ready to explain: its trees, and their covers when the model carries them.
#[derive(Debug, Clone)]
pub struct Explainer {
    blend: Blend,
    n_features: usize,
    /// member → tree → node cover.
    covers: Option<Vec<Vec<Vec<f64>>>>,
    /// member → tree → depth (the path buffers' size).
    depths: Vec<Vec<usize>>,
    /// Path-dependent TreeSHAP precomputed (built with the covers; see [`tables`]).
    tables: Option<PathTables>,
    /// Each member's path-dependent base value (with the covers).
    path_bases: Option<Vec<f64>>,
    /// The blend compiled for its scores and predictions.
    compiled: CompiledBlend,
}

impl Explainer {
    /// Checks the trees (every split within `n_features`, children in range, no node reached
    /// twice) and the covers' shape when given.
    pub fn new(
        blend: Blend,
        n_features: usize,
        covers: Option<Vec<Vec<Vec<f64>>>>,
    ) -> Result<Explainer, ExplainError> {
        for (m, member) in blend.members.iter().enumerate() {
            for (t, tree) in member.ensemble.trees.iter().enumerate() {
                velocast_evaluator::check_tree(tree, n_features).map_err(|problem| {
                    ExplainError::Tree {
                        member: m,
                        tree: t,
                        problem,
                    }
                })?;
            }
        }
        if let Some(covers) = &covers {
            check_covers(&blend, covers)?;
        }
        let compiled =
            CompiledBlend::compile(&blend, n_features).map_err(|e| ExplainError::Tree {
                member: 0,
                tree: 0,
                problem: e.to_string(),
            })?;
        let tables = covers.as_ref().and_then(|covers| {
            let trees: Vec<&[velocast_trees::Tree]> = blend
                .members
                .iter()
                .map(|m| m.ensemble.trees.as_slice())
                .collect();
            PathTables::build(&trees, covers, FeatureBins::of(&blend, n_features))
        });
        let depths = blend
            .members
            .iter()
            .map(|m| {
                m.ensemble
                    .trees
                    .iter()
                    .map(velocast_trees::Tree::depth)
                    .collect()
            })
            .collect();
        let path_bases = covers.as_ref().map(|covers| {
            blend
                .members
                .iter()
                .zip(covers)
                .map(|(member, covers)| {
                    member
                        .ensemble
                        .trees
                        .iter()
                        .zip(covers)
                        .map(|(tree, covers)| treeshap::expected_value(tree, covers))
                        .sum()
                })
                .collect()
        });
        Ok(Explainer {
            blend,
            n_features,
            covers,
            depths,
            tables,
            path_bases,
            compiled,
        })
    }

    /// The same explainer without precomputed tables: path-dependent values come from the
    /// recursion alone (what the tables are checked against).
    pub fn without_tables(mut self) -> Explainer {
        self.tables = None;
        self
    }

    /// Whether path-dependent values are read from precomputed tables.
    pub fn has_tables(&self) -> bool {
        self.tables.is_some()
    }

    /// How the precomputed tables cover the model.
    pub fn table_stats(&self) -> Option<tables::TableStats> {
        self.tables.as_ref().map(PathTables::stats)
    }

    /// Covers from the nodes' own training counts (the trainer's in-memory model).
    pub fn covers_from_counts(blend: &Blend) -> Vec<Vec<Vec<f64>>> {
        blend
            .members
            .iter()
            .map(|member| {
                member
                    .ensemble
                    .trees
                    .iter()
                    .map(|tree| {
                        tree.nodes
                            .iter()
                            .map(|node| match node {
                                Node::Split { count, .. } | Node::Leaf { count, .. } => {
                                    f64::from(*count)
                                }
                            })
                            .collect()
                    })
                    .collect()
            })
            .collect()
    }

    pub fn has_covers(&self) -> bool {
        self.covers.is_some()
    }

    pub fn n_features(&self) -> usize {
        self.n_features
    }

    pub fn blend(&self) -> &Blend {
        &self.blend
    }

    /// Explains every row of row-major `rows`.
    pub fn explain(&self, rows: &[f32], mode: &Mode) -> Result<Vec<Explanation>, ExplainError> {
        let n = self.n_features;
        if n == 0 || !rows.len().is_multiple_of(n) {
            return Err(ExplainError::Shape {
                n_features: n,
                got: rows.len(),
            });
        }
        let bases = self.member_bases(mode)?;
        Ok(rows
            .chunks_exact(n)
            .map(|row| self.explain_row(row, mode, &bases))
            .collect())
    }

    /// Each member's base value under `mode`.
    fn member_bases(&self, mode: &Mode) -> Result<Vec<f64>, ExplainError> {
        match mode {
            Mode::PathDependent => self.path_bases.clone().ok_or(ExplainError::NoCovers),
            Mode::Interventional { background } => {
                let n = self.n_features;
                if background.is_empty() {
                    return Err(ExplainError::EmptyBackground);
                }
                if !background.len().is_multiple_of(n) {
                    return Err(ExplainError::Shape {
                        n_features: n,
                        got: background.len(),
                    });
                }
                let rows = (background.len() / n) as f64;
                Ok(self
                    .blend
                    .members
                    .iter()
                    .map(|member| {
                        background
                            .chunks_exact(n)
                            .map(|z| member.ensemble.score(z))
                            .sum::<f64>()
                            / rows
                    })
                    .collect())
            }
        }
    }

    fn explain_row(&self, row: &[f32], mode: &Mode, bases: &[f64]) -> Explanation {
        let n = self.n_features;
        let mut members = Vec::with_capacity(self.blend.members.len());
        let mut buffer = treeshap::PathBuffer::default();
        // Each member's score, from the compiled blend (the row has the width it compiled for;
        // should it refuse anyway, the same scores come from walking the trees).
        let scores = self.compiled.raw_scores(row).unwrap_or_else(|_| {
            self.blend
                .members
                .iter()
                .map(|m| m.ensemble.score(row))
                .collect()
        });
        let bins = self.tables.as_ref().map(|t| t.bins_of(row));
        for (m, member) in self.blend.members.iter().enumerate() {
            let mut phi = vec![0.0; n];
            match mode {
                Mode::PathDependent => {
                    if let Some(covers) = &self.covers {
                        let trees = &member.ensemble.trees;
                        let mut recurse = |t: usize, phi: &mut [f64]| {
                            treeshap::path_dependent_with(
                                &trees[t],
                                self.depths[m][t],
                                &covers[m][t],
                                row,
                                phi,
                                &mut buffer,
                            );
                        };
                        match (&self.tables, &bins) {
                            (Some(tables), Some(bins)) => {
                                tables.add(m, bins, &mut phi);
                                for &t in tables.recursive_trees(m) {
                                    recurse(t, &mut phi);
                                }
                            }
                            _ => (0..trees.len()).for_each(|t| recurse(t, &mut phi)),
                        }
                    }
                }
                Mode::Interventional { background } => {
                    let count = (background.len() / n) as f64;
                    let mut sum = vec![0.0; n];
                    for z in background.chunks_exact(n) {
                        for tree in &member.ensemble.trees {
                            treeshap::interventional(tree, row, z, &mut sum);
                        }
                    }
                    for (p, s) in phi.iter_mut().zip(sum) {
                        *p = s / count;
                    }
                }
            }
            members.push(MemberExplanation {
                name: member.name.clone(),
                weight: member.weight,
                link: member.ensemble.link,
                base_value: bases[m],
                score: scores[m],
                contributions: phi,
            });
        }
        let exact_in_output = members.iter().all(|m| m.link == Link::Identity);
        let mut contributions = vec![0.0; n];
        let mut base_value = 0.0;
        for member in &members {
            let base_out = member.link.inverse(member.base_value);
            base_value += member.weight * base_out;
            let score_delta = member.score - member.base_value;
            let output_delta = member.link.inverse(member.score) - base_out;
            // Identity: the factor is 1. Otherwise the secant of the link over the member's
            // move; a member that did not move (delta 0) has nothing to distribute.
            let factor = match member.link {
                Link::Identity => 1.0,
                _ if score_delta.abs() > f64::EPSILON * member.score.abs().max(1.0) => {
                    output_delta / score_delta
                }
                _ => 0.0,
            };
            for (total, phi) in contributions.iter_mut().zip(&member.contributions) {
                *total += member.weight * factor * phi;
            }
        }
        // The blend's answer from the same scores, floored at zero as the blend answers.
        let prediction = members
            .iter()
            .map(|m| m.weight * m.link.inverse(m.score))
            .sum::<f64>()
            .max(0.0);
        Explanation {
            prediction,
            base_value,
            contributions,
            exact_in_output,
            members,
        }
    }
}

fn check_covers(blend: &Blend, covers: &[Vec<Vec<f64>>]) -> Result<(), ExplainError> {
    let problem = |member, tree, problem: String| ExplainError::Covers {
        member,
        tree,
        problem,
    };
    if covers.len() != blend.members.len() {
        return Err(problem(
            0,
            0,
            format!(
                "covers for {} members, the model has {}",
                covers.len(),
                blend.members.len()
            ),
        ));
    }
    for (m, (member, trees)) in blend.members.iter().zip(covers).enumerate() {
        if trees.len() != member.ensemble.trees.len() {
            return Err(problem(
                m,
                0,
                format!(
                    "covers for {} trees, the member has {}",
                    trees.len(),
                    member.ensemble.trees.len()
                ),
            ));
        }
        for (t, (tree, nodes)) in member.ensemble.trees.iter().zip(trees).enumerate() {
            if nodes.len() != tree.nodes.len() {
                return Err(problem(
                    m,
                    t,
                    format!("{} covers for {} nodes", nodes.len(), tree.nodes.len()),
                ));
            }
            if let Some(bad) = nodes.iter().find(|c| !c.is_finite() || **c < 0.0) {
                return Err(problem(m, t, format!("cover {bad} is not a finite count")));
            }
            // A split's cover is its children's, or the expectations are not weighted means.
            for (index, node) in tree.nodes.iter().enumerate() {
                if let Node::Split { left, right, .. } = node {
                    let children = nodes[*left as usize] + nodes[*right as usize];
                    if (children - nodes[index]).abs() > 1e-9 * nodes[index].max(1.0) {
                        return Err(problem(
                            m,
                            t,
                            format!(
                                "node {index} has cover {} but its children {children}",
                                nodes[index]
                            ),
                        ));
                    }
                }
            }
        }
    }
    Ok(())
}
