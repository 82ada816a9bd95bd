//! `velocast explain`: exact TreeSHAP for rows of a CSV file on a model file, without a server.
//!
//! The rows hold the model's features by their signature names (other columns are ignored);
//! a cell that is not a number is an error naming its line and column, never a default. The
//! table shows each row's prediction, the base value and every feature's contribution; the
//! JSON (written only once complete, through a temporary file renamed into place) has per row
//! `prediction`, `base_value`, `contributions`, `space`, and each member's exact score-space
//! attributions.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::files::Failure;

use clap::{Args, ValueEnum};
use serde::Serialize;
use velocast_explain::lime::{self, FeatureStats, LimeExplanation, LimeOptions};
use velocast_explain::{Explainer, Explanation, Mode};
use velocast_features::FeatureKind;
use velocast_features::Signature;
use velocast_features::profile::{FeatureProfile, ReferenceProfile};
use velocast_trees::Link;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ModeArg {
    /// Along the trees, weighted by the training rows each node saw (needs the node covers
    /// the trainer stores in the model).
    PathDependent,
    /// Against a background sample (`--background`).
    Interventional,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The model file (ONNX, as the trainer writes it).
    #[arg(long)]
    model: PathBuf,
    /// Rows to explain: a CSV file with a header naming the model's features.
    #[arg(long)]
    input: PathBuf,
    /// Write the explanations as JSON here.
    #[arg(long)]
    json: Option<PathBuf>,
    /// Path-dependent (default when the model carries node covers) or interventional.
    #[arg(long, value_enum)]
    mode: Option<ModeArg>,
    /// Background for the interventional mode: the version's reference_profile.json.
    #[arg(long)]
    background: Option<PathBuf>,
    /// Background rows taken from the profile, evenly spaced over the training period.
    #[arg(long, default_value_t = 100)]
    background_rows: usize,
    /// Features shown per row in the table, largest contributions first (all by default).
    #[arg(long)]
    top: Option<usize>,
    /// Also explain each row with LIME (perturbations from the `--background` profile's
    /// statistics; seeded, so reproducible).
    #[arg(long)]
    lime: bool,
    /// LIME's perturbed samples per row.
    #[arg(long, default_value_t = 5000)]
    lime_samples: usize,
    /// LIME's random seed.
    #[arg(long, default_value_t = 0)]
    lime_seed: u64,
}

pub fn run(args: &ExplainArgs) -> ExitCode {
    crate::files::exit(explain(args))
}

fn explain(args: &ExplainArgs) -> Result<(), Failure> {
    let bytes = std::fs::read(&args.model)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", args.model.display())))?;
    let info = velocast_onnx::read(&bytes)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.model.display())))?;
    let signature: Signature = info
        .metadata
        .get("velocast.signature")
        .ok_or_else(|| {
            Failure::Usage(format!(
                "{} declares no feature signature (velocast.signature): its columns are unnamed",
                args.model.display()
            ))
        })
        .and_then(|text| {
            serde_json::from_str(text)
                .map_err(|e| Failure::Usage(format!("the model's signature is unreadable: {e}")))
        })?;
    let names: Vec<String> = signature.features.iter().map(|f| f.name.clone()).collect();
    let n = names.len();
    let has_covers = info.covers.is_some();
    let explainer = Explainer::new(info.blend, n, info.covers)
        .map_err(|e| Failure::Usage(format!("{}: {e}", args.model.display())))?;

    let mode = match (args.mode, has_covers) {
        (Some(ModeArg::PathDependent), false) => {
            return Err(Failure::Usage(format!(
                "{} carries no node covers (exported before they were stored): use --mode \
                 interventional --background reference_profile.json",
                args.model.display()
            )));
        }
        (Some(ModeArg::PathDependent), true) | (None, true) => Mode::PathDependent,
        (Some(ModeArg::Interventional), _) | (None, false) => {
            let path = args.background.as_ref().ok_or_else(|| {
                Failure::Usage(
                    "the interventional mode needs --background (the version's \
                     reference_profile.json)"
                        .into(),
                )
            })?;
            Mode::Interventional {
                background: background_rows(path, &names, args.background_rows)?,
            }
        }
    };
    let rows = read_rows(&args.input, &names)?;
    if rows.is_empty() {
        return Err(Failure::Usage(format!(
            "{} has no rows",
            args.input.display()
        )));
    }
    let explanations = explainer
        .explain(&rows, &mode)
        .map_err(|e| Failure::Run(e.to_string()))?;
    let limes = if args.lime {
        let path = args.background.as_ref().ok_or_else(|| {
            Failure::Usage(
                "--lime draws its perturbations from the training statistics: give --background \
                 (the version's reference_profile.json)"
                    .into(),
            )
        })?;
        let stats = lime_stats(path, &names)?;
        let options = LimeOptions {
            samples: args.lime_samples,
            seed: args.lime_seed,
            ..LimeOptions::default()
        };
        let blend = explainer.blend();
        let predict = |batch: &[f32]| -> Vec<f64> {
            batch
                .chunks_exact(n)
                .map(|row| blend.predict(row))
                .collect()
        };
        rows.chunks_exact(n)
            .map(|row| lime::explain(row, &stats, &options, predict))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Failure::Usage(format!("LIME: {e}")))?
            .into_iter()
            .map(Some)
            .collect()
    } else {
        vec![None; explanations.len()]
    };

    if let Some(path) = &args.json {
        let document: Vec<RowJson> = explanations
            .iter()
            .zip(rows.chunks_exact(n))
            .enumerate()
            .zip(&limes)
            .map(|((index, (explanation, row)), lime)| {
                RowJson::new(index, explanation, row, &names, lime.as_ref())
            })
            .collect();
        let text = serde_json::to_vec_pretty(&ExplainJson {
            model: args.model.display().to_string(),
            mode: mode.name(),
            rows: document,
        })
        .map_err(|e| Failure::Run(e.to_string()))?;
        crate::files::write_atomically(path, &text)
            .map_err(|e| Failure::Run(format!("cannot write {}: {e}", path.display())))?;
    }
    print_table(&explanations, &limes, &rows, &names, mode.name(), args.top);
    Ok(())
}

/// Every row of `path` as the model's feature vector, in signature order.
fn read_rows(path: &Path, names: &[String]) -> Result<Vec<f32>, Failure> {
    let mut reader = csv::Reader::from_path(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    let header = reader
        .headers()
        .map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?
        .clone();
    let columns: Vec<usize> = names
        .iter()
        .map(|name| {
            header.iter().position(|h| h == name).ok_or_else(|| {
                Failure::Usage(format!(
                    "{} has no column `{name}` (the model's features are {})",
                    path.display(),
                    names.join(", ")
                ))
            })
        })
        .collect::<Result<_, _>>()?;
    let mut rows = Vec::new();
    for (index, record) in reader.records().enumerate() {
        let record = record.map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
        let line = index + 2;
        for (name, &column) in names.iter().zip(&columns) {
            let cell = record.get(column).unwrap_or("");
            let value: f32 = cell.trim().parse().map_err(|_| {
                Failure::Usage(format!(
                    "{}, line {line}, column `{name}`: `{cell}` is not a number",
                    path.display()
                ))
            })?;
            if !value.is_finite() {
                return Err(Failure::Usage(format!(
                    "{}, line {line}, column `{name}`: `{cell}` is not a finite number",
                    path.display()
                )));
            }
            rows.push(value);
        }
    }
    Ok(rows)
}

fn read_profile(path: &Path) -> Result<ReferenceProfile, Failure> {
    let text = std::fs::read(path)
        .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", path.display())))?;
    serde_json::from_slice(&text).map_err(|e| {
        Failure::Usage(format!(
            "{} is not a reference profile: {e}",
            path.display()
        ))
    })
}

/// The profile's feature columns in signature order.
fn profile_columns<'a>(
    profile: &'a ReferenceProfile,
    path: &Path,
    names: &[String],
) -> Result<Vec<&'a FeatureProfile>, Failure> {
    names
        .iter()
        .map(|name| {
            profile
                .features
                .iter()
                .find(|f| &f.name == name)
                .ok_or_else(|| {
                    Failure::Usage(format!("{} has no feature `{name}`", path.display()))
                })
        })
        .collect()
}

/// LIME's view of each feature: mean and population standard deviation (a constant column
/// gets 1, as sklearn's scaler does), or the categories and their training counts.
fn lime_stats(path: &Path, names: &[String]) -> Result<Vec<FeatureStats>, Failure> {
    let profile = read_profile(path)?;
    profile_columns(&profile, path, names)?
        .into_iter()
        .map(|column| {
            if column.values.is_empty() {
                return Err(Failure::Usage(format!(
                    "{}: feature `{}` has no training values",
                    path.display(),
                    column.name
                )));
            }
            Ok(match column.kind {
                FeatureKind::Numeric => {
                    let count = column.values.len() as f64;
                    let mean = column.values.iter().map(|v| f64::from(*v)).sum::<f64>() / count;
                    let variance = column
                        .values
                        .iter()
                        .map(|v| (f64::from(*v) - mean).powi(2))
                        .sum::<f64>()
                        / count;
                    let std = if variance > 0.0 { variance.sqrt() } else { 1.0 };
                    FeatureStats::Numeric { mean, std }
                }
                FeatureKind::Categorical | FeatureKind::Binary => {
                    let mut counts: BTreeMap<u32, (f32, f64)> = BTreeMap::new();
                    for value in &column.values {
                        counts.entry(value.to_bits()).or_insert((*value, 0.0)).1 += 1.0;
                    }
                    let (values, counts) = counts.into_values().unzip();
                    FeatureStats::Categorical { values, counts }
                }
            })
        })
        .collect()
}

/// `count` rows of the profile, evenly spaced over its rows, as feature vectors.
fn background_rows(path: &Path, names: &[String], count: usize) -> Result<Vec<f32>, Failure> {
    let profile = read_profile(path)?;
    let columns: Vec<&Vec<f32>> = profile_columns(&profile, path, names)?
        .into_iter()
        .map(|f| &f.values)
        .collect();
    let rows = columns.first().map_or(0, |c| c.len());
    if rows == 0 || columns.iter().any(|c| c.len() != rows) || count == 0 {
        return Err(Failure::Usage(format!(
            "{}: the profile's feature columns must hold the same, positive number of rows, \
             and --background-rows must be positive",
            path.display()
        )));
    }
    let count = count.min(rows);
    Ok((0..count)
        .flat_map(|k| {
            let row = k * rows / count;
            columns.iter().map(move |column| column[row])
        })
        .collect())
}

#[derive(Serialize)]
struct ExplainJson<'a> {
    model: String,
    mode: &'a str,
    rows: Vec<RowJson>,
}

#[derive(Serialize)]
struct RowJson {
    row: usize,
    prediction: f64,
    base_value: f64,
    contributions: BTreeMap<String, f64>,
    features: BTreeMap<String, f32>,
    /// Where `base_value + Σ contributions` lives: the blend's output before its zero floor.
    space: &'static str,
    /// `exact` when every member's link is the identity; otherwise each member's exact
    /// score-space values rescaled by its link's secant.
    method: &'static str,
    members: Vec<MemberJson>,
    /// LIME's local linear model, when asked for (`--lime`).
    #[serde(skip_serializing_if = "Option::is_none")]
    lime: Option<LimeJson>,
}

#[derive(Serialize)]
struct LimeJson {
    intercept: f64,
    /// Per standard deviation (numeric) or for "equals this row's value" (categorical).
    coefficients: BTreeMap<String, f64>,
    /// Numeric coefficients per unit of the feature.
    per_unit: BTreeMap<String, f64>,
    local_prediction: f64,
    /// Weighted R² of the local model.
    score: f64,
}

#[derive(Serialize)]
struct MemberJson {
    name: String,
    weight: f64,
    space: &'static str,
    link: &'static str,
    base_value: f64,
    score: f64,
    contributions: BTreeMap<String, f64>,
}

fn link_name(link: Link) -> &'static str {
    match link {
        Link::Identity => "identity",
        Link::Log1p => "log1p",
        Link::Log => "log",
    }
}

fn by_name(values: &[f64], names: &[String]) -> BTreeMap<String, f64> {
    names.iter().cloned().zip(values.iter().copied()).collect()
}

impl RowJson {
    fn new(
        index: usize,
        explanation: &Explanation,
        row: &[f32],
        names: &[String],
        lime: Option<&LimeExplanation>,
    ) -> RowJson {
        RowJson {
            row: index + 1,
            prediction: explanation.prediction,
            base_value: explanation.base_value,
            contributions: by_name(&explanation.contributions, names),
            features: names.iter().cloned().zip(row.iter().copied()).collect(),
            space: "output",
            method: if explanation.exact_in_output {
                "exact"
            } else {
                "rescaled_from_score_space"
            },
            members: explanation
                .members
                .iter()
                .map(|member| MemberJson {
                    name: member.name.clone(),
                    weight: member.weight,
                    space: "score",
                    link: link_name(member.link),
                    base_value: member.base_value,
                    score: member.score,
                    contributions: by_name(&member.contributions, names),
                })
                .collect(),
            lime: lime.map(|lime| LimeJson {
                intercept: lime.intercept,
                coefficients: by_name(&lime.coefficients, names),
                per_unit: by_name(&lime.per_unit, names),
                local_prediction: lime.local_prediction,
                score: lime.score,
            }),
        }
    }
}

fn print_table(
    explanations: &[Explanation],
    limes: &[Option<LimeExplanation>],
    rows: &[f32],
    names: &[String],
    mode: &str,
    top: Option<usize>,
) {
    let n = names.len();
    let width = names.iter().map(String::len).max().unwrap_or(7).max(7);
    for (index, ((explanation, lime), row)) in explanations
        .iter()
        .zip(limes)
        .zip(rows.chunks_exact(n))
        .enumerate()
    {
        let space = if explanation.exact_in_output {
            "exact"
        } else {
            "each member's exact score-space values, rescaled through its link"
        };
        println!(
            "row {}: prediction {:.3} = base {:.3} + contributions (TreeSHAP {mode}; output \
             space, {space})",
            index + 1,
            explanation.prediction,
            explanation.base_value
        );
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by(|&a, &b| {
            explanation.contributions[b]
                .abs()
                .total_cmp(&explanation.contributions[a].abs())
        });
        // LIME's per-std coefficient beside each SHAP contribution, when asked for.
        let lime_cell = |f: usize| {
            lime.as_ref()
                .map_or(String::new(), |l| format!("  {:>+14.4}", l.coefficients[f]))
        };
        let lime_header = if lime.is_some() {
            format!("  {:>14}", "LIME per std")
        } else {
            String::new()
        };
        println!(
            "  {:<width$}  {:>10}  {:>12}{lime_header}",
            "feature", "value", "contribution"
        );
        for &f in order.iter().take(top.unwrap_or(n)) {
            println!(
                "  {:<width$}  {:>10.4}  {:>+12.4}{}",
                names[f],
                row[f],
                explanation.contributions[f],
                lime_cell(f)
            );
        }
        if let Some(lime) = lime {
            println!(
                "  LIME: local prediction {:.3}, weighted R² {:.3}",
                lime.local_prediction, lime.score
            );
        }
        let unfloored = explanation.unfloored();
        if unfloored < 0.0 {
            println!("  (the blend's {unfloored:.3} is floored at zero)");
        }
    }
}
