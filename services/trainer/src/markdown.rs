//! The readable model card.

use std::fmt::Write;

use velocast_trees::Link;

use crate::card::ModelCard;
use crate::config::{Metric, Sampler};
use crate::metrics::Scores;

/// What a person reads for each setting (the config's own spelling, not Rust's).
fn metric_name(metric: Metric) -> &'static str {
    match metric {
        Metric::Mae => "MAE",
        Metric::Rmse => "RMSE",
        Metric::Rmsle => "RMSLE",
    }
}

fn sampler_name(sampler: Sampler) -> &'static str {
    match sampler {
        Sampler::Random => "random",
        Sampler::Tpe => "TPE",
    }
}

#[expect(clippy::expect_used, reason = "a serde_json::Value always serializes")]
fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).expect("a JSON value serializes")
}

fn link_name(link: Link) -> &'static str {
    match link {
        Link::Identity => "identity",
        Link::Log1p => "log1p",
        Link::Log => "log",
    }
}

fn row(name: &str, s: &Scores) -> String {
    format!(
        "| {name} | {:.2} | {:.2} | {:.3} | {:.3} |",
        s.mae, s.rmse, s.rmsle, s.r2
    )
}

pub fn render(card: &ModelCard) -> String {
    let core = &card.core;
    let mut md = String::new();
    let _ = writeln!(md, "# Model card: {}\n", core.name);
    let _ = writeln!(
        md,
        "Hourly bike-share demand for Capital Bikeshare (UCI Bike Sharing data, Fanaee-T and Gama 2013). \
         Chosen on cross-validation: **{}**. Digest `{}`.\n",
        core.model.chosen, card.digest.value
    );
    let _ = writeln!(
        md,
        "![Predicted and actual demand over the holdout]({})\n",
        card.artifacts.holdout_chart
    );

    let _ = writeln!(md, "## Holdout\n");
    let split = &core.split;
    let _ = writeln!(
        md,
        "Split: `{}`; {} training rows, {} holdout rows ({} to {}). The holdout was never used to choose anything.\n",
        split["kind"].as_str().unwrap_or("?"),
        split["train_rows"],
        split["holdout_rows"],
        split["holdout_from"].as_str().unwrap_or("?"),
        split["holdout_to"].as_str().unwrap_or("?")
    );
    let _ = writeln!(
        md,
        "| model | MAE | RMSE | RMSLE | R² |\n|---|---:|---:|---:|---:|"
    );
    let _ = writeln!(
        md,
        "{}",
        row(
            &format!("**{}** (served)", core.model.chosen),
            &core.holdout
        )
    );
    for other in &core.holdout_by_candidate {
        if let (Some(name), Ok(scores)) = (
            other["name"].as_str(),
            serde_json::from_value::<Scores>(other["scores"].clone()),
        ) && name != core.model.chosen
        {
            let _ = writeln!(md, "{}", row(name, &scores));
        }
    }

    let _ = writeln!(
        md,
        "\n## Cross-validation ({}, {} folds, selection by {})\n",
        core.cv.kind,
        core.cv.folds.len(),
        metric_name(core.cv.selection_metric)
    );
    let _ = writeln!(
        md,
        "| candidate | servable | MAE | RMSE | RMSLE | R² |\n|---|---|---:|---:|---:|---:|"
    );
    for c in &core.cv.candidates {
        let s = &c.cv_mean;
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {:.2} | {:.3} | {:.3} |",
            c.name,
            if c.servable { "yes" } else { "no" },
            s.mae,
            s.rmse,
            s.rmsle,
            s.r2
        );
    }

    if let Some(summary) = &card.explanations {
        let _ = writeln!(md, "\n## Explanations\n");
        let _ = writeln!(
            md,
            "Exact TreeSHAP ({}) of the exported file on all {} holdout hours, in rentals per \
             hour: each member's exact score-space values rescaled through its link. Base value \
             {}.\n",
            summary.algorithm.replace('_', " "),
            summary.rows,
            summary
                .base_value
                .map_or_else(|| "n/a".to_owned(), |b| format!("{b:.1}"))
        );
        let _ = writeln!(
            md,
            "![Mean |SHAP| per feature]({})\n",
            summary.importance_chart
        );
        let _ = writeln!(md, "| feature | mean \\|SHAP\\| |\n|---|---:|");
        for f in &summary.mean_abs {
            let _ = writeln!(md, "| {} | {:.2} |", f.feature, f.mean_abs);
        }
        let _ = writeln!(md);
        for chart in &summary.dependence_charts {
            let _ = writeln!(
                md,
                "![SHAP dependence of {}]({})\n",
                chart.feature, chart.file
            );
        }
    }

    let _ = writeln!(md, "\n## Model\n");
    let _ = writeln!(
        md,
        "| member | weight | link | trees | nodes | max depth |\n|---|---:|---|---:|---:|---:|"
    );
    for m in &core.model.members {
        let _ = writeln!(
            md,
            "| {} | {:.3} | {} | {} | {} | {} |",
            m.name,
            m.weight,
            link_name(m.link),
            m.trees,
            m.nodes,
            m.max_depth
        );
    }
    for (name, spec) in &core.model.specs {
        let _ = writeln!(md, "\n`{name}`:\n\n```json\n{}\n```", pretty(spec));
    }

    let _ = writeln!(md, "\n## Search\n");
    let _ = writeln!(
        md,
        "{} trials ({} sampler, seed {}), {} pruned by the median rule after a fold.\n",
        core.search.trials,
        sampler_name(core.search.sampler),
        core.search.seed,
        core.search.pruned
    );

    let _ = writeln!(
        md,
        "## Feature importance (share of split gain)\n\n| feature | importance |\n|---|---:|"
    );
    for f in &core.feature_importance {
        let _ = writeln!(md, "| {} | {:.3} |", f.feature, f.importance);
    }

    let _ = writeln!(md, "\n## Data\n");
    let _ = writeln!(
        md,
        "- file sha256 `{}`, {} rows, {} to {}\n- quality: {} ({} hard, {} soft findings)",
        core.data.sha256,
        core.data.rows,
        core.data
            .first
            .map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
        core.data
            .last
            .map_or_else(|| "unknown".to_owned(), |t| t.to_string()),
        if card.quality.passed {
            "passed"
        } else {
            "failed"
        },
        card.quality.hard,
        card.quality.soft
    );
    for finding in &card.quality.findings {
        let _ = writeln!(md, "  - {finding}");
    }
    let _ = writeln!(
        md,
        "- signature v{} `{}`: {}",
        core.signature.version,
        core.signature.hash,
        core.signature.feature_names().join(", ")
    );

    let _ = writeln!(md, "\n## Export and parity\n");
    let _ = writeln!(
        md,
        "- `{}`: {} bytes, sha256 `{}`, ONNX IR {}, opset {} + ai.onnx.ml {}\n- ONNX Runtime on all {} holdout rows: max |onnx − native| = {:.3e} (scaled {:.3e}, allowed {:.0e})",
        card.onnx.file,
        card.onnx.bytes,
        card.onnx.sha256,
        card.onnx.ir_version,
        card.onnx.opset,
        card.onnx.ml_opset,
        card.parity.rows,
        card.parity.max_abs_error,
        card.parity.max_scaled_error,
        card.parity.tolerance
    );

    let _ = writeln!(md, "\n## Provenance\n");
    let _ = writeln!(
        md,
        "- trainer {} at commit `{}`\n- config hash `{}` (resolved config in `{}`)\n- created {}",
        core.trainer.version,
        core.trainer.git_commit,
        core.config_hash,
        card.artifacts.resolved_config,
        card.created_at
    );
    let total: f64 = card.timings_seconds.values().sum();
    let steps: Vec<String> = card
        .timings_seconds
        .iter()
        .map(|(k, v)| format!("{k} {v:.1} s"))
        .collect();
    let _ = writeln!(md, "- wall time {total:.1} s: {}", steps.join(", "));
    md
}
