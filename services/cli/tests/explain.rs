//! `velocast explain` as a user runs it: a blend trained on hour.csv and exported as the
//! trainer exports it (signature and node covers in its metadata), holdout rows in a CSV file,
//! the table and the JSON out. Every row's attributions add up, in each member's score space
//! and in the blend's output; refusals name the column, line and rule and leave outputs as
//! they were.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
use velocast_features::Signature;
use velocast_onnx::{ExportOptions, export};
use velocast_trees::{Blend, GbdtParams, Matrix, Member, Objective, fit};

fn velocast(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_velocast"))
        .args(args)
        .output()
        .unwrap()
}

/// `velocast explain --model … --input …` and then `extra`.
fn explain(model: &Path, input: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "explain",
        "--model",
        model.to_str().unwrap(),
        "--input",
        input.to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    velocast(&args)
}

struct Trained {
    blend: Blend,
    model: PathBuf,
    /// Holdout feature rows (September 2012 onwards), row-major.
    holdout: Vec<f32>,
    train: Vec<f32>,
    target: Vec<f64>,
}

/// A two-member blend (log1p and Poisson GBDTs) fitted on the hours before September 2012,
/// weighted by numbers f32 holds exactly (the file stores weights in f32).
fn trained(dir: &Path) -> Trained {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.velocast/data/hour.csv");
    let dataset = velocast_dataset::load(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (run `make setup`)", path.display()));
    let table = velocast_dataset::TrainingTable::from_records(&dataset.records);
    let (train_table, holdout_table) =
        table.split_at_time(velocast_dataset::temporal_holdout_start());
    let (train, target, holdout) = (
        train_table.flat_features(),
        train_table.target,
        holdout_table.flat_features(),
    );
    let n = velocast_features::FEATURE_COUNT;
    let matrix = Matrix::new(&train, n).unwrap();
    let member = |name: &str, objective, weight| Member {
        name: name.into(),
        weight,
        ensemble: fit(
            matrix,
            &target,
            &GbdtParams {
                objective,
                rounds: 40,
                ..GbdtParams::default()
            },
        )
        .unwrap(),
    };
    let blend = Blend {
        members: vec![
            member("gbdt_log1p", Objective::Log1pSquaredError, 0.625),
            member("gbdt_poisson", Objective::Poisson, 0.375),
        ],
    };
    let bytes = export(&blend, &export_options());
    let model = dir.join("model.onnx");
    std::fs::write(&model, bytes).unwrap();
    Trained {
        blend,
        model,
        holdout,
        train,
        target,
    }
}

/// Export settings as the trainer's, with this build's feature signature in the metadata.
fn export_options() -> ExportOptions {
    ExportOptions {
        graph_name: "demand".into(),
        input_name: "features".into(),
        output_name: "demand".into(),
        n_features: velocast_features::FEATURE_COUNT,
        producer_version: "test".into(),
        doc_string: String::new(),
        metadata: vec![(
            "velocast.signature".into(),
            serde_json::to_string(&Signature::current()).unwrap(),
        )],
    }
}

fn names() -> Vec<String> {
    Signature::current()
        .features
        .into_iter()
        .map(|f| f.name)
        .collect()
}

/// A CSV of `rows` under the signature's names, with an extra column first and the feature
/// columns reversed (columns are found by name, not position).
fn rows_csv(dir: &Path, rows: &[f32]) -> PathBuf {
    let names = names();
    let mut text = String::from("note");
    for name in names.iter().rev() {
        text.push(',');
        text.push_str(name);
    }
    text.push('\n');
    for (index, row) in rows.chunks_exact(names.len()).enumerate() {
        text.push_str(&format!("row{index}"));
        for value in row.iter().rev() {
            text.push_str(&format!(",{value}"));
        }
        text.push('\n');
    }
    let path = dir.join("rows.csv");
    std::fs::write(&path, text).unwrap();
    path
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * a.abs().max(b.abs()).max(1.0)
}

/// Checks every row of an explanation document against the blend.
fn check_document(document: &Value, trained: &Trained, rows: &[f32], mode: &str) {
    let names = names();
    let n = names.len();
    assert_eq!(document["mode"], mode);
    let explained = document["rows"].as_array().unwrap();
    assert_eq!(explained.len(), rows.len() / n);
    for (row, json) in rows.chunks_exact(n).zip(explained) {
        let prediction = json["prediction"].as_f64().unwrap();
        assert!(close(prediction, trained.blend.predict(row), 1e-12));
        let contributions = json["contributions"].as_object().unwrap();
        assert_eq!(contributions.len(), n);
        let sum: f64 = contributions.values().map(|v| v.as_f64().unwrap()).sum();
        let base = json["base_value"].as_f64().unwrap();
        let mut unfloored = 0.0;
        for (member, member_json) in trained
            .blend
            .members
            .iter()
            .zip(json["members"].as_array().unwrap())
        {
            assert_eq!(member_json["space"], "score");
            let score = member_json["score"].as_f64().unwrap();
            assert!(close(score, member.ensemble.score(row), 1e-12));
            let member_sum: f64 = member_json["contributions"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum();
            let member_base = member_json["base_value"].as_f64().unwrap();
            // Additivity in the member's score space: the 1e-5, held far tighter.
            assert!(
                (member_base + member_sum - score).abs() < 1e-9,
                "{}: {member_base} + {member_sum} vs {score}",
                member.name
            );
            unfloored += member.weight * member.ensemble.link.inverse(score);
        }
        assert!((base + sum - unfloored).abs() < 1e-6 * unfloored.abs().max(1.0));
        assert_eq!(json["space"], "output");
        assert_eq!(json["method"], "rescaled_from_score_space");
    }
}

#[test]
fn explains_holdout_rows_in_both_modes_and_every_row_adds_up() {
    let dir = tempfile::tempdir().unwrap();
    let trained = trained(dir.path());
    let n = velocast_features::FEATURE_COUNT;
    let rows = &trained.holdout[..40 * n];
    let input = rows_csv(dir.path(), rows);
    let json = dir.path().join("explain.json");
    let out = explain(
        &trained.model,
        &input,
        &["--json", json.to_str().unwrap(), "--top", "5"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(table.contains("row 1: prediction"), "{table}");
    assert!(table.contains("path_dependent"), "{table}");
    assert_eq!(table.matches("row ").count(), 40);
    let document: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    check_document(&document, &trained, rows, "path_dependent");

    // Interventional, against rows of a reference profile of the training part.
    let predictions: Vec<f64> = trained
        .train
        .chunks_exact(n)
        .map(|row| trained.blend.predict(row))
        .collect();
    let vectors: Vec<velocast_features::FeatureVector> = trained
        .train
        .chunks_exact(n)
        .map(|row| row.try_into().unwrap())
        .collect();
    let profile = velocast_features::profile::build(&vectors, &trained.target, &predictions);
    let profile_path = dir.path().join("reference_profile.json");
    std::fs::write(&profile_path, serde_json::to_vec(&profile).unwrap()).unwrap();
    let interventional_args = [
        "--json",
        json.to_str().unwrap(),
        "--mode",
        "interventional",
        "--background",
        profile_path.to_str().unwrap(),
        "--background-rows",
        "50",
        "--lime",
        "--lime-samples",
        "2000",
    ];
    let out = explain(&trained.model, &input, &interventional_args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let document: Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    check_document(&document, &trained, rows, "interventional");
    // LIME beside SHAP: a local model per row, seeded (a second run writes the same numbers).
    let table = String::from_utf8(out.stdout).unwrap();
    assert!(
        table.contains("LIME per std") && table.contains("weighted R²"),
        "{table}"
    );
    let lime = &document["rows"][0]["lime"];
    assert_eq!(lime["coefficients"].as_object().unwrap().len(), n);
    let score = lime["score"].as_f64().unwrap();
    assert!(score.is_finite() && score <= 1.0, "{score}");
    let first = std::fs::read(&json).unwrap();
    let again = explain(&trained.model, &input, &interventional_args);
    assert!(again.status.success());
    assert_eq!(std::fs::read(&json).unwrap(), first, "LIME is reproducible");
    // The interventional base value is the background's mean score, per member.
    let background: Vec<&[f32]> = (0..50)
        .map(|k| {
            let r = k * (trained.train.len() / n) / 50;
            &trained.train[r * n..(r + 1) * n]
        })
        .collect();
    for (m, member) in trained.blend.members.iter().enumerate() {
        let mean = background
            .iter()
            .map(|z| member.ensemble.score(z))
            .sum::<f64>()
            / 50.0;
        let got = document["rows"][0]["members"][m]["base_value"]
            .as_f64()
            .unwrap();
        assert!(close(got, mean, 1e-12), "{got} vs {mean}");
    }
}

#[test]
fn refusals_name_the_problem_and_leave_outputs_as_they_were() {
    let dir = tempfile::tempdir().unwrap();
    let trained = trained(dir.path());
    let n = velocast_features::FEATURE_COUNT;
    let json = dir.path().join("explain.json");
    std::fs::write(&json, b"earlier output").unwrap();
    let run = |input: &Path, extra: &[&str]| {
        let mut args = vec!["--json", json.to_str().unwrap()];
        args.extend_from_slice(extra);
        explain(&trained.model, input, &args)
    };
    let stderr = |out: &Output| String::from_utf8_lossy(&out.stderr).into_owned();

    // A missing feature column.
    let missing = dir.path().join("missing.csv");
    std::fs::write(&missing, "hr,temp\n1,0.5\n").unwrap();
    let out = run(&missing, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no column `season`"),
        "{}",
        stderr(&out)
    );

    // A cell that is not a number, and one that is not finite: named by line and column.
    let input = rows_csv(dir.path(), &trained.holdout[..3 * n]);
    let text = std::fs::read_to_string(&input).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let header: Vec<&str> = lines[0].split(',').collect();
    let hr = header.iter().position(|h| *h == "hr").unwrap();
    let mut cells: Vec<String> = lines[2].split(',').map(str::to_owned).collect();
    cells[hr] = "noon".into();
    lines[2] = cells.join(",");
    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    let out = run(&bad, &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("line 3, column `hr`: `noon` is not a number"),
        "{}",
        stderr(&out)
    );
    cells[hr] = "inf".into();
    lines[2] = cells.join(",");
    std::fs::write(&bad, lines.join("\n")).unwrap();
    assert!(stderr(&run(&bad, &[])).contains("not a finite number"));

    // Interventional without a background; path-dependent on a model without covers.
    let out = run(&input, &["--mode", "interventional"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--background"));
    let info = velocast_onnx::read(&std::fs::read(&trained.model).unwrap()).unwrap();
    let mut stripped = velocast_onnx::model_proto(&info.blend, &export_options());
    stripped
        .metadata_props
        .retain(|e| e.key != velocast_onnx::covers::NODE_COVERS_KEY);
    let uncovered = dir.path().join("uncovered.onnx");
    std::fs::write(&uncovered, prost::Message::encode_to_vec(&stripped)).unwrap();
    let out = explain(&uncovered, &input, &["--mode", "path-dependent"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no node covers"), "{}", stderr(&out));

    assert_eq!(std::fs::read(&json).unwrap(), b"earlier output");
}
