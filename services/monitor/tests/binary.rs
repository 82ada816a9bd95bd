//! The `velocast-monitor` binary itself: configuration checks and exit codes (the alert rules
//! included), `migrate`, `openapi`, and a graceful stop on SIGTERM while serving.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "binary-test-secret-binary-test-secret-00";

fn monitor(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_velocast-monitor"));
    command
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("m.db").display()),
        )
        .env("VELOCAST_JWT_SECRET", SECRET)
        // The monitor's own token for the registry (read at start, used on first report).
        .env("VELOCAST_TOKEN", "registry-token")
        .env_remove("RUST_LOG");
    command
}

#[test]
fn configuration_is_checked_at_start_with_every_problem_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = monitor(dir.path())
        .args(["serve", "--check-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("database_url = \"[redacted]\""),
        "{printed}"
    );
    assert!(!printed.contains(SECRET), "{printed}");

    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        "window_seconds = 1\n[alerts.webhook]\nurl = \"http://hooks\"\nsecret = \"hunter2\"\n",
    )
    .unwrap();
    let output = monitor(dir.path())
        .args(["serve", "--config"])
        .arg(&bad)
        .env("DATABASE_URL", "mysql://root:hunter2@db/x")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in ["window_seconds", "database_url", "alerts.webhook.secret"] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert!(!stderr.contains("hunter2"), "{stderr}");
}

#[test]
fn migrate_and_openapi_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let output = monitor(dir.path()).arg("migrate").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("m.db").exists());
    let output = monitor(dir.path()).arg("openapi").output().unwrap();
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(document["paths"]["/v1/events"].is_object());
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = monitor(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--json-logs"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = lines
        .by_ref()
        .map_while(Result::ok)
        .find(|line| line.contains("monitor listening"))
        .expect("the monitor logs its address");
    assert!(listening.contains("127.0.0.1:"), "{listening}");
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "still running 20 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(status.code(), Some(0));
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    assert!(
        rest.iter().any(|l| l.contains("monitor stopped")),
        "{rest:?}"
    );
}

/// The ConfigMap's `monitor.toml` in k8s/base/monitor.yaml is a valid configuration (its alert
/// rules included); only the files mounted from Secrets in the cluster are left out.
#[test]
fn the_kubernetes_configmap_holds_a_valid_configuration() {
    let manifest = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../k8s/base/monitor.yaml"
    ))
    .unwrap();
    let marker = "  monitor.toml: |\n";
    let start = manifest.find(marker).unwrap() + marker.len();
    let text: String = manifest[start..]
        .lines()
        .take_while(|line| line.starts_with("    ") || line.is_empty())
        .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
        .filter(|line| !line.starts_with("jwks_file") && !line.starts_with("registry_token_file"))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("monitor.toml");
    std::fs::write(&file, text).unwrap();
    let output = monitor(dir.path())
        .args(["serve", "--check-config", "--config"])
        .arg(&file)
        .output()
        .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("accuracy-degraded"), "{printed}");
}
