//! `velocast models | versions | alias` against a real registry (started here on port 0 over
//! SQLite), through the real binary: tables, filters, alias moves, and exit codes.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};
use std::time::Duration;

use secrecy::SecretString;
use velocast_auth::{Minter, Scope};
use velocast_registry::testing::{Running, sqlite_config};
use velocast_registry_api::{CreateModel, Lineage, NewVersionMetadata};
use velocast_registry_client::{RegistryClient, Upload};

const SECRET: &str = "cli-registry-secret-cli-registry-secret-0";

fn token(scopes: &[&str]) -> String {
    let minter = Minter::hs256(&SecretString::from(SECRET), "velocast", "velocast").unwrap();
    let scopes: Vec<Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    minter
        .mint("operator", &scopes, Duration::from_secs(600))
        .unwrap()
}

fn metadata(mae: f64) -> NewVersionMetadata {
    NewVersionMetadata {
        artifact_sha256: String::new(),
        profile_sha256: None,
        run_id: None,
        signature: [("features".to_owned(), serde_json::json!(["hr", "temp"]))]
            .into_iter()
            .collect(),
        metrics: [("holdout_mae".to_owned(), mae)].into_iter().collect(),
        params: Default::default(),
        tags: Default::default(),
        lineage: Lineage {
            dataset_sha256: "0".repeat(64),
            dataset_rows: 1,
            dataset_first: "2011-01-01T00:00:00".into(),
            dataset_last: "2011-01-01T00:00:00".into(),
            config_hash: "c".into(),
            git_commit: "g".into(),
            trainer_version: "t".into(),
        },
        card: None,
    }
}

/// Runs `velocast` off the async workers (it blocks on its own runtime).
async fn velocast(args: Vec<String>, token: Option<String>) -> Output {
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_velocast"));
        command
            .args(&args)
            .env_remove("VELOCAST_TOKEN_FILE")
            .env_remove("VELOCAST_REGISTRY_URL");
        match token {
            Some(token) => command.env("VELOCAST_TOKEN", token),
            None => command.env_remove("VELOCAST_TOKEN"),
        };
        command.output().unwrap()
    })
    .await
    .unwrap()
}

fn args(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| (*s).to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lists_models_and_versions_and_moves_aliases() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Running::start(&sqlite_config(&dir.path().join("r.db"), SECRET))
        .await
        .unwrap();
    let base = registry.base.clone();
    let admin_token = token(&[Scope::MODELS_READ, Scope::MODELS_WRITE, Scope::MODELS_ADMIN]);
    let admin = RegistryClient::new(&base, SecretString::from(admin_token.clone())).unwrap();
    admin
        .create_model(&CreateModel {
            name: "bike-demand".into(),
            description: "hourly demand".into(),
            tags: Default::default(),
        })
        .await
        .unwrap();
    for (seed, mae) in [(1, 41.5), (2, 38.9)] {
        let bytes = &velocast_registry::testing::onnx_artifact(seed, 0, 2);
        admin
            .upload_version(
                "bike-demand",
                metadata(mae),
                Upload {
                    artifact: bytes,
                    profile: None,
                },
            )
            .await
            .unwrap();
    }
    let reader = Some(token(&[Scope::MODELS_READ]));

    let output = velocast(args(&["models", "--registry", &base]), reader.clone()).await;
    assert!(output.status.success());
    let table = String::from_utf8_lossy(&output.stdout);
    let row = table
        .lines()
        .find(|l| l.starts_with("bike-demand"))
        .unwrap();
    assert_eq!(row.split_whitespace().nth(1), Some("2"), "{table}");

    let output = velocast(
        args(&[
            "alias",
            "bike-demand",
            "champion",
            "2",
            "--reason",
            "better MAE",
            "--registry",
            &base,
        ]),
        Some(admin_token),
    )
    .await;
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("moved from nothing to version 2"));

    let output = velocast(
        args(&[
            "versions",
            "bike-demand",
            "--metric",
            "holdout_mae<40",
            "--registry",
            &base,
        ]),
        reader.clone(),
    )
    .await;
    let table = String::from_utf8_lossy(&output.stdout);
    let rows: Vec<&str> = table.lines().skip(1).collect();
    assert_eq!(rows.len(), 1, "{table}");
    let cells: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(
        (cells[0], cells[3], *cells.last().unwrap()),
        ("2", "38.9000", "champion"),
        "{table}"
    );

    // A reader may not move aliases (exit 1, the registry's reason); no token is a usage error.
    let output = velocast(
        args(&[
            "alias",
            "bike-demand",
            "champion",
            "1",
            "--reason",
            "x",
            "--registry",
            &base,
        ]),
        reader,
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("403"));
    let output = velocast(args(&["models", "--registry", &base]), None).await;
    assert_eq!(output.status.code(), Some(2));

    registry.stop().await.unwrap();
    // Nothing listening: exit 1.
    let output = velocast(
        args(&["models", "--registry", &base]),
        Some(token(&[Scope::MODELS_READ])),
    )
    .await;
    assert_eq!(output.status.code(), Some(1));
}
