//! The `velocast-gateway` binary: configuration errors and exit codes, and SIGTERM under load.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::*;
use velocast_auth::Scope;

fn gateway(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_velocast-gateway"));
    command
        .args(args)
        .env("ORT_DYLIB_PATH", onnxruntime())
        .env("VELOCAST_JWT_SECRET", SECRET)
        .env("VELOCAST_TOKEN", token("gateway", &[Scope::MODELS_READ]))
        .env_remove("VELOCAST_TOKEN_FILE")
        .env_remove("VELOCAST_REGISTRY_URL");
    command
}

#[test]
fn configuration_problems_exit_2_and_check_config_hides_secrets() {
    let output = gateway(&[
        "serve",
        "--route",
        "default=bike-demand@champion",
        "--check-config",
    ])
    .output()
    .unwrap();
    assert_eq!(output.status.code(), Some(0));
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("jwt_secret = \"[redacted]\""), "{printed}");
    assert!(!printed.contains(SECRET));

    let output = gateway(&["serve", "--route", "nonsense"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--route `nonsense`"));

    let output = gateway(&["serve"]).output().unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("at least one route"));

    let output = gateway(&["serve", "--route", "default=bike-demand@champion"])
        .env_remove("VELOCAST_TOKEN")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("VELOCAST_TOKEN"));
}

/// Starts the binary and returns it with its bound address (read from its JSON logs).
fn spawn(mut command: Command) -> (Child, String) {
    let mut child = command.stderr(Stdio::piped()).spawn().unwrap();
    let stderr = child.stderr.take().unwrap();
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { return };
            if let Ok(event) = serde_json::from_str::<serde_json::Value>(&line)
                && event["fields"]["message"] == "gateway listening"
            {
                let _ = sender.send(event["fields"]["address"].as_str().unwrap().to_owned());
            }
        }
    });
    let address = receiver.recv_timeout(Duration::from_secs(30)).unwrap();
    (child, format!("http://{address}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_under_load_turns_readiness_false_and_answers_every_accepted_request() {
    let trained = &trained()[0];
    let dir = tempfile::tempdir().unwrap();
    let (registry, client) = registry(dir.path()).await;
    let version = register(&client, trained, None, |_| {}).await;
    client
        .set_alias(MODEL, "champion", version.version, "test")
        .await
        .unwrap();
    let mut command = gateway(&[
        "serve",
        "--bind",
        "127.0.0.1:0",
        "--registry",
        &registry.base,
        "--route",
        "default=bike-demand@champion",
        "--json-logs",
    ]);
    command
        .env("VELOCAST_GATEWAY__CACHE_DIR", dir.path().join("cache"))
        .env("VELOCAST_GATEWAY__SHUTDOWN_DELAY_MS", "800")
        .env("VELOCAST_GATEWAY__RATE_LIMIT__ENABLED", "false");
    let (mut child, base) = spawn(command);
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(60), "readiness", || async {
        http.get(format!("{base}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
    })
    .await;

    // Load: single rows from 12 clients, and 1,024-row batches (each takes milliseconds, so
    // some are in flight whenever the listener closes).
    let stop = Arc::new(AtomicBool::new(false));
    let closed_at_ms = Arc::new(AtomicU64::new(u64::MAX));
    let started = Instant::now();
    let batch = serde_json::json!({ "instances": vec![hour(); 1024] });
    let mut tasks = Vec::new();
    for index in 0..14 {
        let (http, base, stop, token) =
            (http.clone(), base.clone(), Arc::clone(&stop), predictor());
        let body = if index < 12 { hour() } else { batch.clone() };
        tasks.push(tokio::spawn(async move {
            let mut answered: Vec<u16> = Vec::new();
            let mut refused_after_ms = None;
            while !stop.load(Ordering::Relaxed) {
                match http
                    .post(format!("{base}/v1/predict"))
                    .bearer_auth(&token)
                    .json(&body)
                    .send()
                    .await
                {
                    Ok(response) => {
                        answered.push(response.status().as_u16());
                        let _ = response.bytes().await;
                    }
                    Err(_) => {
                        // Only once the listener is closed may a connection be refused.
                        refused_after_ms = Some(started.elapsed().as_millis() as u64);
                        break;
                    }
                }
            }
            (answered, refused_after_ms)
        }));
    }
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = child.id().to_string();
    let term_at = started.elapsed();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );

    // During the drain delay: not ready, still serving.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let ready = http
        .get(format!("{base}/health/ready"))
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    let response = http
        .post(format!("{base}/v1/predict"))
        .bearer_auth(predictor())
        .json(&hour())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let status = tokio::task::spawn_blocking(move || child.wait().unwrap())
        .await
        .unwrap();
    closed_at_ms.store(started.elapsed().as_millis() as u64, Ordering::Relaxed);
    stop.store(true, Ordering::Relaxed);
    assert_eq!(status.code(), Some(0), "clean exit after draining");
    let mut total = 0;
    for task in tasks {
        let (answered, refused_after_ms) = task.await.unwrap();
        assert!(answered.iter().all(|s| *s == 200), "{answered:?}");
        total += answered.len();
        if let Some(at) = refused_after_ms {
            // The listener closes after SIGTERM + the 800 ms delay.
            assert!(
                at >= term_at.as_millis() as u64 + 800,
                "a request failed {at} ms in, before the listener closed (SIGTERM at {term_at:?})"
            );
        }
    }
    assert!(total > 100, "{total} requests answered");
    registry.stop().await.unwrap();
}

/// The ConfigMap's `gateway.toml` in k8s/base/gateway.yaml is a valid configuration (routes included);
/// only its JWKS file, mounted from a Secret in the cluster, is swapped for a test secret.
#[test]
fn the_kubernetes_configmap_holds_a_valid_configuration() {
    let manifest = std::fs::read_to_string(workspace().join("k8s/base/gateway.yaml")).unwrap();
    let start = manifest.find("  gateway.toml: |\n").unwrap() + "  gateway.toml: |\n".len();
    let text: String = manifest[start..]
        .lines()
        .take_while(|line| line.starts_with("    ") || line.is_empty())
        .map(|line| format!("{}\n", line.strip_prefix("    ").unwrap_or(line)))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("gateway.toml");
    std::fs::write(
        &file,
        text.replace("jwks_file = \"/etc/velocast/jwks/jwks.json\"\n", ""),
    )
    .unwrap();
    let output = gateway(&[
        "serve",
        "--config",
        file.to_str().unwrap(),
        "--check-config",
    ])
    .output()
    .unwrap();
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(printed.contains("shutdown_delay_ms = 1000"), "{printed}");
    assert!(
        printed.contains("url = \"http://velocast-monitor:8082/v1/events\""),
        "{printed}"
    );
    assert!(printed.contains("challenger"), "{printed}");
}
