//! End-to-end: the trainer on the real `hour.csv` with a small search budget, its outputs read

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! back and checked, ONNX Runtime included.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};
use velocast_trainer::card::{ModelCard, digest_of_value};
use velocast_trainer::config::Range;
use velocast_trainer::progress::Progress;
use velocast_trainer::{TrainerConfig, train};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn hour_csv() -> PathBuf {
    let path = std::env::var_os("VELOCAST_DATA_DIR")
        .map_or_else(|| workspace().join(".velocast/data"), PathBuf::from)
        .join("hour.csv");
    assert!(
        path.exists(),
        "{} is missing: run `make setup`",
        path.display()
    );
    path
}

fn onnxruntime() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || workspace().join(".velocast/lib/libonnxruntime.so"),
        PathBuf::from,
    )
}

/// A small but real run: 8 trials, short boosting, the real folds and split.
fn small_config(out: &Path) -> TrainerConfig {
    let mut config = TrainerConfig::default();
    config.data.path = hour_csv();
    config.output.dir = out.to_owned();
    config.runtime.onnxruntime_path = Some(onnxruntime());
    config.search.trials = 8;
    config.search.startup_trials = 4;
    config.search.pruning_warmup_trials = 3;
    config.search.space.rounds = Range {
        low: 60.0,
        high: 120.0,
        log: false,
    };
    config.search.space.learning_rate = Range {
        low: 0.08,
        high: 0.15,
        log: true,
    };
    config
}

fn read_card(dir: &Path) -> (ModelCard, serde_json::Value) {
    let text = std::fs::read_to_string(dir.join("model_card.json")).unwrap();
    (
        serde_json::from_str(&text).unwrap(),
        serde_json::from_str(&text).unwrap(),
    )
}

#[test]
fn trains_exports_and_proves_parity_on_the_real_data() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let (card, markdown) = train(&small_config(&out), &Progress::hidden()).unwrap();
    assert_eq!(markdown, out.join("model_card.md"));

    // Loose accuracy floor on the temporal holdout (the full budget does far better).
    let holdout = &card.core.holdout;
    assert_eq!(holdout.rows, 2888);
    assert!(
        holdout.mae < 60.0 && holdout.r2 > 0.85 && holdout.rmsle < 0.6,
        "{holdout:?}"
    );
    assert!(
        card.parity.passed && card.parity.max_scaled_error <= 1e-3,
        "{:?}",
        card.parity
    );
    assert_eq!(card.parity.rows, 2888);

    // The card's own fields: holdout metrics, lineage, search history.
    let (_, json) = read_card(&out);
    for metric in ["mae", "rmse", "rmsle", "r2"] {
        assert!(json["holdout"][metric].is_f64(), "holdout.{metric}");
    }
    assert_eq!(json["data"]["rows"], 17_379);
    assert_eq!(
        json["data"]["sha256"],
        "e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f"
    );
    assert_eq!(json["search"]["history"].as_array().unwrap().len(), 8);
    assert_eq!(card.core.config_hash, small_config(&out).hash());
    assert!(!card.core.trainer.git_commit.is_empty());
    assert_eq!(
        card.core.feature_importance.len(),
        velocast_features::FEATURE_COUNT
    );
    let importance: f64 = card
        .core
        .feature_importance
        .iter()
        .map(|f| f.importance)
        .sum();
    assert!((importance - 1.0).abs() < 1e-9);
    assert!(
        card.core
            .cv
            .candidates
            .iter()
            .any(|c| c.name == "seasonal_naive" && !c.servable)
    );
    assert!(
        card.core
            .cv
            .candidates
            .iter()
            .any(|c| c.name == "ridge_log1p")
    );

    // The digest recomputes from the card, and the ONNX metadata carries the same one.
    assert_eq!(digest_of_value(&json), card.digest.value);
    let onnx = std::fs::read(out.join("model.onnx")).unwrap();
    assert_eq!(hex::encode(Sha256::digest(&onnx)), card.onnx.sha256);
    let info = velocast_onnx::read(&onnx).unwrap();
    assert_eq!(
        info.metadata["velocast.model_card_digest"],
        card.digest.value
    );
    assert_eq!(
        info.metadata["velocast.signature_hash"],
        velocast_features::Signature::current().hash
    );

    // The decoded model reproduces the written holdout predictions.
    let csv = std::fs::read_to_string(out.join("holdout_predictions.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("timestamp,actual,predicted"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2888);
    assert_eq!(rows[0][0], "2012-09-01T00:00:00");
    let dataset = velocast_dataset::load(&hour_csv()).unwrap();
    let table = velocast_dataset::TrainingTable::from_records(&dataset.records);
    let (_, holdout_table) = table.split_at_time(small_config(&out).split.holdout_start);
    for (row, features) in rows.iter().zip(&holdout_table.features).step_by(97) {
        let written: f64 = row[2].parse().unwrap();
        assert!((info.blend.predict(features) - written).abs() < 1e-3);
    }

    // Reference profile: every training value of every feature.
    let profile: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("reference_profile.json")).unwrap())
            .unwrap();
    assert_eq!(profile["rows"], 14_491);
    let features = profile["features"].as_array().unwrap();
    assert_eq!(features.len(), velocast_features::FEATURE_COUNT);
    assert!(
        features
            .iter()
            .all(|f| f["values"].as_array().unwrap().len() == 14_491)
    );
    assert_eq!(
        profile["target"]["values"].as_array().unwrap().len(),
        14_491
    );

    // The readable card links the chart, which exists.
    let md = std::fs::read_to_string(out.join("model_card.md")).unwrap();
    assert!(md.contains("](holdout_chart.svg)"));
    // Settings read as the config spells them, not as Rust debug names.
    assert!(
        md.contains("selection by MAE") && md.contains("(TPE sampler"),
        "{md}"
    );
    assert!(!md.contains("Mae") && !md.contains("Tpe"), "{md}");
    assert!(
        std::fs::read_to_string(out.join("holdout_chart.svg"))
            .unwrap()
            .contains("<polyline")
    );
    let quality: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("quality_report.json")).unwrap()).unwrap();
    assert_eq!(quality["passed"], true);

    // Global explanations: mean |SHAP| over the holdout of the written file, recomputed here
    // from that file with the library, and the charts the card names.
    let summary = card.explanations.as_ref().unwrap();
    assert_eq!(summary.rows, 2888);
    assert_eq!(summary.mean_abs.len(), velocast_features::FEATURE_COUNT);
    assert!(
        summary
            .mean_abs
            .windows(2)
            .all(|w| w[0].mean_abs >= w[1].mean_abs)
    );
    let info = velocast_onnx::read(&std::fs::read(out.join("model.onnx")).unwrap()).unwrap();
    let explainer =
        velocast_explain::Explainer::new(info.blend, velocast_features::FEATURE_COUNT, info.covers)
            .unwrap();
    let rows: Vec<f32> = holdout_table.features.as_flattened().to_vec();
    let explained = explainer
        .explain(&rows, &velocast_explain::Mode::PathDependent)
        .unwrap();
    let names = velocast_features::Signature::current();
    for entry in &summary.mean_abs {
        let column = names
            .feature_names()
            .iter()
            .position(|n| *n == entry.feature)
            .unwrap();
        let mean = explained
            .iter()
            .map(|e| e.contributions[column].abs())
            .sum::<f64>()
            / 2888.0;
        assert!(
            (mean - entry.mean_abs).abs() <= 1e-9 * mean.max(1.0),
            "{}: {mean} vs {}",
            entry.feature,
            entry.mean_abs
        );
    }
    // The hour of day matters most for hourly demand.
    assert_eq!(summary.mean_abs[0].feature, "hr", "{:?}", summary.mean_abs);
    assert!(md.contains(&format!("]({})", summary.importance_chart)));
    assert_eq!(summary.dependence_charts.len(), 4);
    for chart in &summary.dependence_charts {
        assert!(md.contains(&format!("]({})", chart.file)));
        let svg = std::fs::read_to_string(out.join(&chart.file)).unwrap();
        // One dot per holdout row.
        assert_eq!(svg.matches("h0").count(), 2888, "{}", chart.file);
    }
    assert!(
        std::fs::read_to_string(out.join(&summary.importance_chart))
            .unwrap()
            .matches("<rect x=")
            .count()
            >= velocast_features::FEATURE_COUNT
    );
}

#[test]
fn same_seed_gives_the_same_model_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = small_config(&dir.path().join("a"));
    config.search.trials = 4;
    let (first, _) = train(&config, &Progress::hidden()).unwrap();
    config.output.dir = dir.path().join("b");
    let (second, _) = train(&config, &Progress::hidden()).unwrap();
    assert_eq!(first.digest.value, second.digest.value);
    assert_eq!(first.onnx.sha256, second.onnx.sha256);
    config.search.seed += 1;
    config.output.dir = dir.path().join("c");
    let (other, _) = train(&config, &Progress::hidden()).unwrap();
    assert_ne!(first.digest.value, other.digest.value);
}

#[test]
fn onnx_checker_accepts_the_exported_model() {
    let python = std::env::var_os("VELOCAST_PYTHON")
        .map(PathBuf::from)
        .or_else(|| Some(workspace().join(".velocast/py/bin/python")).filter(|p| p.exists()))
        .unwrap_or_else(|| PathBuf::from("python3"));
    let has_onnx = Command::new(&python)
        .args(["-c", "import onnx"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_onnx {
        println!(
            "SKIPPED onnx.checker check: no Python with the `onnx` package at {} (make setup installs one)",
            python.display()
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("model");
    let mut config = small_config(&out);
    config.search.trials = 3;
    train(&config, &Progress::hidden()).unwrap();
    let script = "import sys, onnx\nm = onnx.load(sys.argv[1])\nonnx.checker.check_model(m, full_check=True)\n\
                  ops = sorted({(n.domain, n.op_type) for n in m.graph.node})\nprint(ops)";
    let output = Command::new(&python)
        .args(["-c", script])
        .arg(out.join("model.onnx"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "onnx.checker rejected the model: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("('ai.onnx.ml', 'TreeEnsemble')"),
        "{stdout}"
    );
}

#[test]
fn a_hard_quality_violation_stops_training_and_keeps_the_report() {
    let dir = tempfile::tempdir().unwrap();
    let text = std::fs::read_to_string(hour_csv()).unwrap();
    // Humidity 3.5 (350 %) on one row: out of range, a hard violation.
    let broken = text.replacen(
        ",0.24,0.2879,0.81,0,3,13,16",
        ",0.24,0.2879,3.5,0,3,13,16",
        1,
    );
    assert_ne!(broken, text);
    let data = dir.path().join("broken.csv");
    std::fs::write(&data, broken).unwrap();
    let out = dir.path().join("model");
    let mut config = small_config(&out);
    config.data.path = data;
    let error = train(&config, &Progress::hidden()).unwrap_err().to_string();
    assert!(
        error.contains("data quality check failed") && error.contains("hum"),
        "{error}"
    );
    // The report goes beside the output directory, which is left as it was (absent here).
    assert!(dir.path().join("model.quality_report.json").exists());
    assert!(!out.exists(), "a failed run created {}", out.display());
}

#[test]
fn an_unwritable_output_is_found_before_anything_else() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("a-file");
    std::fs::write(&file, b"not a directory").unwrap();
    let mut config = small_config(&file.join("model"));
    // The data is missing too: the output problem must be the one reported, because it is
    // checked first.
    config.data.path = dir.path().join("missing.csv");
    let error = format!("{:#}", train(&config, &Progress::hidden()).unwrap_err());
    assert!(
        error.contains("output directory") && error.contains("a-file"),
        "{error}"
    );
    let mut config = small_config(&file);
    config.data.path = dir.path().join("missing.csv");
    let error = format!("{:#}", train(&config, &Progress::hidden()).unwrap_err());
    // Each cause once: the message used to repeat its source ("…: Is a directory: Is a
    // directory").
    assert_eq!(error.matches("not a directory").count(), 1, "{error}");
}

fn trainer() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_velocast-trainer"));
    command.env("ORT_DYLIB_PATH", onnxruntime());
    command
}

#[test]
fn cli_exit_codes_and_messages() {
    let dir = tempfile::tempdir().unwrap();
    // --help states where the data comes from and where outputs go when the flags are absent.
    let help = trainer().args(["train", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(
        help.contains(".velocast/data/hour.csv") && help.contains("out/model"),
        "{help}"
    );
    assert!(help.contains("quality_report.json"), "{help}");
    // Resolved configuration, hash first.
    let printed = trainer()
        .args(["train", "--print-config", "--trials", "9"])
        .output()
        .unwrap();
    assert!(printed.status.success());
    let text = String::from_utf8_lossy(&printed.stdout);
    assert!(
        text.starts_with("# config hash ") && text.contains("trials = 9"),
        "{text}"
    );

    // Bad configuration: exit 2, the field and rule named.
    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[cv]\nfolds = 1\n").unwrap();
    let output = trainer()
        .args(["train", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("cv.folds: rule must be within"));

    // Bad environment override: exit 2 too.
    let output = trainer()
        .args(["train", "--print-config"])
        .env("VELOCAST_TRAINER__SEARCH__TRIALS", "many")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));

    // A missing data file is a runtime failure: exit 1, with the way out.
    let output = trainer()
        .args(["train", "--data", "/nonexistent/hour.csv", "--out"])
        .arg(dir.path().join("m"))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("make setup"));

    // Unknown flag: clap's usage error, exit 2.
    assert_eq!(
        trainer()
            .args(["train", "--frobnicate"])
            .output()
            .unwrap()
            .status
            .code(),
        Some(2)
    );
}
