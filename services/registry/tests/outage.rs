//! A Postgres outage: the test starts its own Postgres server, stops it under a running
//! registry and starts it again. Readiness must turn false while the database is away, requests
//! must get a 503 (never a 500 or a hang), and the service must recover by itself with
//! everything it acknowledged intact; open watch streams get a `resync` once it is back.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{Registry, artifact, metadata, model, upload, wait_for_relay};
use futures_util::StreamExt;
use reqwest::{Method, StatusCode};
use velocast_auth::Scope;
use velocast_registry_client::Upload;

/// A throwaway Postgres server in a temporary directory.
struct Cluster {
    bin: PathBuf,
    data: PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

fn postgres_bin() -> Option<PathBuf> {
    let mut found: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|p| p.join("pg_ctl").exists())
        .collect();
    found.sort();
    found.pop()
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

impl Cluster {
    /// Runs a server tool; as root, as the `postgres` user (the server refuses to run as root).
    fn tool(&self, name: &str) -> Command {
        let path = self.bin.join(name);
        if is_root() {
            let mut command = Command::new("runuser");
            command.args(["-u", "postgres", "--"]).arg(path);
            command
        } else {
            Command::new(path)
        }
    }

    fn init() -> Option<Cluster> {
        let bin = postgres_bin()?;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir(&data).unwrap();
        if is_root() {
            let owner = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .unwrap();
            assert!(owner.success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let cluster = Cluster {
            bin,
            data,
            port,
            _dir: dir,
        };
        let output = cluster
            .tool("initdb")
            .args(["--auth=trust", "--username=postgres", "--no-sync", "-D"])
            .arg(&cluster.data)
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        Some(cluster)
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    fn start(&self) {
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {}",
            self.port,
            self.data.display()
        );
        let log = self.data.join("server.log");
        let output = self
            .tool("pg_ctl")
            .args(["-w", "-t", "60", "-D"])
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(&log)
            .arg("start")
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "pg_ctl start: {}{}",
            String::from_utf8_lossy(&output.stderr),
            std::fs::read_to_string(&log).unwrap_or_default()
        );
    }

    /// `immediate`: like a crash; committed transactions must survive it.
    fn stop(&self, mode: &str) {
        let _ = self
            .tool("pg_ctl")
            .args(["-w", "-D"])
            .arg(&self.data)
            .args(["-m", mode, "stop"])
            .output();
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.stop("immediate");
    }
}

async fn readiness(registry: &Registry) -> (StatusCode, serde_json::Value) {
    let response = reqwest::get(registry.url("/health/ready")).await.unwrap();
    (response.status(), response.json().await.unwrap())
}

async fn wait_for_readiness(registry: &Registry, wanted: StatusCode, within: Duration) {
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let (status, body) = readiness(registry).await;
        if status == wanted {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "readiness stayed {status} ({body}), expected {wanted}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn have_event(buffer: &str, kind: &str) -> bool {
    buffer.contains(&format!("event: {kind}\n"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_database_and_nothing_acknowledged_is_lost() {
    let Some(cluster) = Cluster::init() else {
        println!("SKIPPED: no PostgreSQL server binaries under /usr/lib/postgresql");
        return;
    };
    cluster.start();
    let registry = Registry::start(&cluster.url()).await;
    let admin = registry.admin();
    admin.create_model(&model("bikes")).await.unwrap();
    let bytes = artifact(5, 80_000);
    let v1 = upload(&admin, "bikes", &bytes).await;
    admin
        .set_alias("bikes", "champion", 1, "before the outage")
        .await
        .unwrap();
    wait_for_readiness(&registry, StatusCode::OK, Duration::from_secs(5)).await;
    wait_for_relay(&registry, true).await;

    // A watcher connected through the outage.
    let watcher = registry.client(&[Scope::MODELS_READ]);
    let response = watcher.raw(Method::GET, "/v1/watch").send().await.unwrap();
    let mut events = Box::pin(response.bytes_stream());
    let mut seen = String::new();

    // The database goes away as if it crashed.
    cluster.stop("immediate");
    wait_for_readiness(
        &registry,
        StatusCode::SERVICE_UNAVAILABLE,
        Duration::from_secs(15),
    )
    .await;
    let (_, body) = readiness(&registry).await;
    assert_eq!(body["database"], "down");
    wait_for_relay(&registry, false).await;
    // Requests get a prompt, retryable 503 with the one error body, nothing internal in it.
    let started = std::time::Instant::now();
    let refused = admin
        .raw(Method::GET, "/v1/models/bikes")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(refused.headers()["retry-after"], "1");
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error_type"], "unavailable");
    assert!(
        !body["error"].as_str().unwrap().contains("127.0.0.1"),
        "{body}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "answered, not hung"
    );
    let write = admin
        .upload_version(
            "bikes",
            metadata(),
            Upload {
                artifact: &artifact(41, 0),
                profile: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(write.status(), Some(503), "{write}");

    // It comes back; the registry recovers by itself.
    cluster.start();
    wait_for_readiness(&registry, StatusCode::OK, Duration::from_secs(30)).await;
    let champion = admin.get_version("bikes", "champion").await.unwrap();
    assert_eq!(champion.artifact.sha256, v1.artifact.sha256);
    assert_eq!(
        admin.download_artifact("bikes", "1").await.unwrap().1,
        bytes
    );
    assert_eq!(admin.audit("bikes").await.unwrap().moves.len(), 1);
    // The refused write left no trace and no gap: the next version is 2.
    let v2 = upload(&admin, "bikes", &artifact(42, 0)).await;
    assert_eq!(v2.version, 2);
    // Once the listener is back, moves reach watchers again.
    wait_for_relay(&registry, true).await;
    admin
        .set_alias("bikes", "champion", 2, "after the outage")
        .await
        .unwrap();

    // The watcher was told to resync, then hears of new moves again.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while !(have_event(&seen, "resync") && have_event(&seen, "alias_moved")) {
        let chunk = tokio::time::timeout_at(deadline, events.next())
            .await
            .unwrap_or_else(|_| panic!("events so far: {seen}"))
            .expect("stream open")
            .unwrap();
        seen.push_str(std::str::from_utf8(&chunk).unwrap());
    }
    let resync_at = seen.find("event: resync").unwrap();
    assert!(seen[resync_at..].contains("\"to\":2"), "{seen}");

    registry.stop().await.unwrap();
    cluster.stop("fast");
    assert!(Path::new(&cluster.data).exists());
}
