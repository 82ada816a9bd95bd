//! The `velocast-registry` binary itself: configuration checks and exit codes, `migrate`,
//! `openapi`, and a graceful stop on SIGTERM while serving.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const SECRET: &str = "binary-test-secret-binary-test-secret-00";

fn registry(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_velocast-registry"));
    command
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("r.db").display()),
        )
        .env("VELOCAST_JWT_SECRET", SECRET)
        .env_remove("RUST_LOG");
    command
}

#[test]
fn configuration_is_checked_at_start_with_every_problem_and_no_secret() {
    let dir = tempfile::tempdir().unwrap();
    let output = registry(dir.path())
        .args(["serve", "--check-config"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("jwt_secret = \"[redacted]\""), "{printed}");
    assert!(
        printed.contains("database_url = \"[redacted]\""),
        "{printed}"
    );
    assert!(!printed.contains(SECRET));

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "max_connections = 0\ncolour = \"red\"\n").unwrap();
    let output = registry(dir.path())
        .args(["serve", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("colour"));
    std::fs::write(&bad, "max_connections = 0\n").unwrap();
    let output = registry(dir.path())
        .args(["serve", "--config"])
        .arg(&bad)
        .env("DATABASE_URL", "mysql://root:hunter2@db/x")
        .env("VELOCAST_JWT_SECRET", "short")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in ["max_connections", "database_url", "jwt_secret"] {
        assert!(stderr.contains(expected), "{expected}: {stderr}");
    }
    assert!(!stderr.contains("hunter2"), "{stderr}");
    let output = registry(dir.path())
        .args(["serve", "--config", "/nonexistent.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
}

#[test]
fn migrate_and_openapi_subcommands() {
    let dir = tempfile::tempdir().unwrap();
    let output = registry(dir.path()).arg("migrate").output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(dir.path().join("r.db").exists());
    let output = registry(dir.path()).arg("openapi").output().unwrap();
    let document: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert!(document["paths"]["/v1/watch"].is_object());
}

/// A bare HTTP/1.1 GET (the test needs no client library for one request).
fn http_get(address: &str, path: &str) -> String {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    response
}

#[test]
fn sigterm_drains_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = registry(dir.path())
        .args(["serve", "--bind", "127.0.0.1:0", "--json-logs"])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The bound address is logged (port 0 picks one).
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let address = loop {
        let line = lines
            .next()
            .expect("the registry logs its address")
            .unwrap();
        let entry: serde_json::Value = serde_json::from_str(&line).unwrap();
        if entry["fields"]["message"] == "registry listening" {
            break entry["fields"]["address"].as_str().unwrap().to_owned();
        }
    };
    assert!(http_get(&address, "/health/ready").starts_with("HTTP/1.1 200"));
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
    assert!(rest.iter().any(|l| l.contains("SIGTERM")), "{rest:?}");
    assert!(
        rest.iter().any(|l| l.contains("registry stopped")),
        "{rest:?}"
    );
}
