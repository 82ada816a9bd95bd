//! Starts the real registry on port 0 over a fresh database (Postgres or SQLite) and talks HTTP
//! to it, as clients do.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use velocast_auth::{Minter, Scope};
use velocast_config::Redacted;
use velocast_registry::RegistryConfig;
use velocast_registry::testing::Running;
use velocast_registry_api::VersionView;
use velocast_registry_api::{CreateModel, Lineage, NewVersionMetadata};
use velocast_registry_client::{RegistryClient, Upload};
use velocast_registry_store::testing::{create_database, drop_database, postgres_admin_url};

pub const SECRET: &str = "test-secret-test-secret-test-secret-0123";
pub const MAX_ARTIFACT: usize = 256 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

pub const BACKENDS: [Backend; 2] = [Backend::Postgres, Backend::Sqlite];

/// Where a registry keeps its data; outlives registry restarts.
pub struct Database {
    pub url: String,
    pub backend: Backend,
    postgres_name: Option<String>,
    _dir: tempfile::TempDir,
}

impl Database {
    pub async fn fresh(backend: Backend) -> Database {
        let dir = tempfile::tempdir().unwrap();
        match backend {
            Backend::Sqlite => Database {
                url: format!(
                    "sqlite://{}?mode=rwc",
                    dir.path().join("registry.db").display()
                ),
                backend,
                postgres_name: None,
                _dir: dir,
            },
            Backend::Postgres => {
                let (name, url) = create_database(&postgres_admin_url()).await.unwrap();
                Database {
                    url,
                    backend,
                    postgres_name: Some(name),
                    _dir: dir,
                }
            }
        }
    }

    pub async fn drop(self) {
        if let Some(name) = &self.postgres_name {
            drop_database(&postgres_admin_url(), name).await;
        }
    }
}

pub fn config(database_url: &str) -> RegistryConfig {
    let mut config = RegistryConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: Redacted::new(database_url),
        max_connections: 8,
        max_artifact_bytes: MAX_ARTIFACT,
        max_json_bytes: 64 * 1024,
        shutdown_grace_seconds: 5,
        ..RegistryConfig::default()
    };
    config.auth.jwt_secret = Some(Redacted::new(SECRET));
    config
}

/// A running registry.
pub struct Registry {
    pub base: String,
    running: Running,
}

impl Registry {
    pub async fn start(database_url: &str) -> Registry {
        Self::start_with(config(database_url)).await
    }

    pub async fn start_with(config: RegistryConfig) -> Registry {
        let running = Running::start(&config).await.unwrap();
        Registry {
            base: running.base.clone(),
            running,
        }
    }

    /// Asks for a graceful shutdown and waits for it (at most 30 s).
    pub async fn stop(self) -> anyhow::Result<()> {
        tokio::time::timeout(Duration::from_secs(30), self.running.stop())
            .await
            .expect("shutdown within 30 s")
    }

    pub fn client(&self, scopes: &[&str]) -> RegistryClient {
        RegistryClient::new(&self.base, SecretString::from(token(scopes))).unwrap()
    }

    /// A client with read, write and admin scopes.
    pub fn admin(&self) -> RegistryClient {
        self.client(&[Scope::MODELS_READ, Scope::MODELS_WRITE, Scope::MODELS_ADMIN])
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

pub fn token(scopes: &[&str]) -> String {
    token_at(scopes, SystemTime::now(), SECRET)
}

pub fn token_at(scopes: &[&str], at: SystemTime, secret: &str) -> String {
    let minter = Minter::hs256(
        &SecretString::from(secret.to_owned()),
        "velocast",
        "velocast",
    )
    .unwrap();
    let scopes: Vec<Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    minter
        .mint_at("tester", &scopes, Duration::from_secs(600), at)
        .unwrap()
}

/// A JSON object literal as a document.
pub fn doc(value: serde_json::Value) -> velocast_registry_api::Document {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

pub fn metadata() -> NewVersionMetadata {
    NewVersionMetadata {
        artifact_sha256: String::new(),
        profile_sha256: None,
        run_id: None,
        signature: doc(serde_json::json!({"version": 1, "features": ["hr", "temp"]})),
        metrics: [
            ("holdout_mae".to_owned(), 38.9),
            ("holdout_r2".to_owned(), 0.92),
        ]
        .into_iter()
        .collect(),
        params: doc(serde_json::json!({"learning_rate": 0.05})),
        tags: [("stage".to_owned(), "test".to_owned())]
            .into_iter()
            .collect(),
        lineage: Lineage {
            dataset_sha256: "e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f"
                .to_owned(),
            dataset_rows: 17379,
            dataset_first: "2011-01-01T00:00:00".to_owned(),
            dataset_last: "2012-12-31T23:00:00".to_owned(),
            config_hash: "abc123".to_owned(),
            git_commit: "0123456789ab".to_owned(),
            trainer_version: "0.1.0".to_owned(),
        },
        card: Some(doc(serde_json::json!({"title": "test"}))),
    }
}

/// A valid ONNX model of at least `len` bytes, different per `seed`, matching the test
/// metadata's two-feature signature.
pub fn artifact(seed: u8, len: usize) -> Vec<u8> {
    velocast_registry::testing::onnx_artifact(seed, len, 2)
}

pub fn model(name: &str) -> CreateModel {
    CreateModel {
        name: name.to_owned(),
        description: "hourly demand".to_owned(),
        tags: [("team".to_owned(), "ops".to_owned())]
            .into_iter()
            .collect(),
    }
}

/// Uploads `bytes` as a new version of `model` with the standard test metadata.
pub async fn upload(client: &RegistryClient, model: &str, bytes: &[u8]) -> VersionView {
    client
        .upload_version(
            model,
            metadata(),
            Upload {
                artifact: bytes,
                profile: None,
            },
        )
        .await
        .unwrap()
}

/// Waits until the notification listener's gauge reads `up`.
pub async fn wait_for_relay(registry: &Registry, up: bool) {
    // A whole sample line (the HELP text mentions the metric's name too).
    let wanted = format!("\nvelocast_registry_watch_relay_up {}\n", i32::from(up));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    loop {
        let metrics = reqwest::get(registry.url("/metrics"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if metrics.contains(&wanted) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "no `{wanted}`");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs `test` against a fresh registry on each backend, then stops it and drops its database.
pub async fn on_each_backend(test: impl AsyncFn(Backend, &Registry)) {
    for backend in BACKENDS {
        let database = Database::fresh(backend).await;
        let registry = Registry::start(&database.url).await;
        test(backend, &registry).await;
        registry.stop().await.unwrap();
        database.drop().await;
    }
}
