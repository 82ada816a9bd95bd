//! `velocast-trainer train --register`: the real trainer binary records its run in a real
//! registry (started here on port 0 over SQLite) and registers the model over HTTP.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use velocast_auth::{Minter, Scope};
use velocast_registry::testing::{Running, sqlite_config};
use velocast_registry_client::{RegistryClient, sha256_hex};
use velocast_trainer::TrainerConfig;
use velocast_trainer::config::Range;

const SECRET: &str = "register-test-secret-register-test-secret";

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn token(scopes: &[&str]) -> String {
    let minter = Minter::hs256(&SecretString::from(SECRET), "velocast", "velocast").unwrap();
    let scopes: Vec<Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    minter
        .mint_at(
            "trainer-ci",
            &scopes,
            Duration::from_secs(900),
            SystemTime::now(),
        )
        .unwrap()
}

/// A small real run's configuration, written as TOML for the binary.
fn small_config_file(dir: &Path, out: &Path) -> PathBuf {
    let mut config = TrainerConfig::default();
    config.data.path = std::env::var_os("VELOCAST_DATA_DIR")
        .map_or_else(|| workspace().join(".velocast/data"), PathBuf::from)
        .join("hour.csv");
    config.output.dir = out.to_owned();
    config.search.trials = 6;
    config.search.startup_trials = 3;
    config.search.pruning_warmup_trials = 3;
    config.search.space.rounds = Range {
        low: 40.0,
        high: 80.0,
        log: false,
    };
    let path = dir.join("small.toml");
    std::fs::write(&path, config.to_toml()).unwrap();
    path
}

fn trainer(token_file: Option<&Path>) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_velocast-trainer"));
    command
        .env(
            "ORT_DYLIB_PATH",
            std::env::var_os("ORT_DYLIB_PATH")
                .unwrap_or_else(|| workspace().join(".velocast/lib/libonnxruntime.so").into()),
        )
        .env_remove("VELOCAST_TOKEN")
        .env_remove("VELOCAST_TOKEN_FILE")
        .env_remove("VELOCAST_REGISTRY_URL");
    if let Some(file) = token_file {
        command.env("VELOCAST_TOKEN_FILE", file);
    }
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trainer_records_its_run_and_registers_the_model() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Running::start(&sqlite_config(&dir.path().join("registry.db"), SECRET))
        .await
        .unwrap();
    let base = registry.base.clone();

    let token_file = dir.path().join("token");
    std::fs::write(
        &token_file,
        token(&[Scope::MODELS_READ, Scope::MODELS_WRITE, Scope::MODELS_ADMIN]),
    )
    .unwrap();
    let out = dir.path().join("model");
    let config_file = small_config_file(dir.path(), &out);

    // No token: a usage error before any work.
    let output = trainer(None)
        .args(["train", "--register", &base, "--config"])
        .arg(&config_file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("VELOCAST_TOKEN"));

    // The real thing, run off the async workers (it blocks for the whole training).
    let output = {
        let (config_file, token_file, base) =
            (config_file.clone(), token_file.clone(), base.clone());
        tokio::task::spawn_blocking(move || {
            trainer(Some(&token_file))
                .args([
                    "train",
                    "--register",
                    &base,
                    "--alias",
                    "champion",
                    "--json-logs",
                    "--config",
                ])
                .arg(&config_file)
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    };
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.contains("registered: bike-demand version 1"),
        "{stdout}"
    );

    let client =
        RegistryClient::new(&base, SecretString::from(token(&[Scope::MODELS_READ]))).unwrap();
    let version = client.get_version("bike-demand", "champion").await.unwrap();
    assert_eq!(version.version, 1);
    assert_eq!(version.created_by, "trainer-ci");
    let on_disk = std::fs::read(out.join("model.onnx")).unwrap();
    let (digest, downloaded) = client.download_artifact("bike-demand", "1").await.unwrap();
    assert_eq!(
        downloaded, on_disk,
        "the registered bytes are the exported model"
    );
    assert_eq!(digest, sha256_hex(&on_disk));
    let profile = client
        .raw(
            reqwest::Method::GET,
            "/v1/models/bike-demand/versions/1/profile",
        )
        .send()
        .await
        .unwrap()
        .bytes()
        .await
        .unwrap();
    assert_eq!(
        profile.as_ref(),
        std::fs::read(out.join("reference_profile.json")).unwrap()
    );

    // Lineage and metrics come from the card the trainer wrote.
    let card: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("model_card.json")).unwrap()).unwrap();
    let metadata = &version.metadata;
    assert_eq!(
        metadata["lineage"]["dataset_sha256"],
        card["data"]["sha256"]
    );
    assert_eq!(metadata["lineage"]["dataset_rows"], 17379);
    assert_eq!(metadata["lineage"]["config_hash"], card["config_hash"]);
    assert_eq!(
        metadata["lineage"]["trainer_version"],
        card["trainer"]["version"]
    );
    assert_eq!(metadata["metrics"]["holdout_mae"], card["holdout"]["mae"]);
    assert_eq!(metadata["card"]["digest"], card["digest"]);
    assert_eq!(metadata["signature"], card["signature"]);

    // The run: params, one CV score per completed trial, fold scores, the holdout, the version.
    let run = client
        .get_run(version.run_id.as_deref().unwrap())
        .await
        .unwrap();
    assert_eq!(run.status, "finished");
    assert_eq!(run.versions, [1]);
    assert_eq!(run.params["search"]["trials"], 6);
    let trial_scores = run
        .metrics
        .iter()
        .filter(|m| m.key == "trial.cv_score")
        .count();
    let completed = card["search"]["history"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["state"] == "complete")
        .count();
    assert_eq!(trial_scores, completed, "{:?}", run.metrics);
    assert!(
        run.metrics
            .iter()
            .any(|m| m.key == "trial.fold1.mae" && m.step == 0)
    );
    let holdout_mae = run.metrics.iter().find(|m| m.key == "holdout.mae").unwrap();
    assert_eq!(Some(holdout_mae.value), card["holdout"]["mae"].as_f64());
    let audit = client.audit("bike-demand").await.unwrap();
    assert_eq!(audit.moves.len(), 1);
    assert!(
        audit.moves[0].reason.contains("holdout MAE"),
        "{:?}",
        audit.moves[0]
    );

    registry.stop().await.unwrap();

    // A registry that is not there: a runtime failure (exit 1) before training starts.
    let output = trainer(Some(&token_file))
        .args(["train", "--register", &base, "--config"])
        .arg(&config_file)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("cannot reach the registry"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}
