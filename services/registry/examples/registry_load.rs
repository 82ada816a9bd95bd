//! Load generator for `bench/registry_vs_mlflow.sh` (a benchmark, not a test): the same HTTP
//! client drives both registries so only the servers differ.
//!
//! ```text
//! registry_load read --url http://127.0.0.1:18081/v1/models/m/versions/1 [--header 'authorization: Bearer …'] \
//!     --concurrency 32 --seconds 10
//! registry_load register --registry http://127.0.0.1:18081 --model m --bytes 1572864 --iterations 20
//! registry_load watch --registry http://127.0.0.1:18081 --model m --moves 50
//! ```
//! Each prints one JSON object on stdout. `register` and `watch` read the token from
//! `VELOCAST_TOKEN`.

// A benchmark tool reports on stdout and fails loudly.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::print_stderr
)]

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use serde_json::json;
use velocast_registry_api::{CreateModel, Lineage, NewVersionMetadata};
use velocast_registry_client::{RegistryClient, Upload, token_from_env};

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn percentile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

fn summary(mut samples: Vec<f64>) -> serde_json::Value {
    samples.sort_by(f64::total_cmp);
    json!({
        "count": samples.len(),
        "p50_ms": percentile(&samples, 0.50),
        "p90_ms": percentile(&samples, 0.90),
        "p99_ms": percentile(&samples, 0.99),
        "max_ms": samples.last().copied().unwrap_or(f64::NAN),
    })
}

async fn read(args: &[String]) -> serde_json::Value {
    let url = arg(args, "--url").expect("--url");
    let concurrency: usize = arg(args, "--concurrency").map_or(32, |c| c.parse().unwrap());
    let seconds: f64 = arg(args, "--seconds").map_or(10.0, |s| s.parse().unwrap());
    let warmup: f64 = arg(args, "--warmup").map_or(2.0, |s| s.parse().unwrap());
    let mut headers = reqwest::header::HeaderMap::new();
    for (i, a) in args.iter().enumerate() {
        if a == "--header" {
            let (name, value) = args[i + 1].split_once(':').unwrap();
            headers.insert(
                reqwest::header::HeaderName::from_bytes(name.trim().as_bytes()).unwrap(),
                value.trim().parse().unwrap(),
            );
        }
    }
    let client = reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(concurrency)
        .build()
        .unwrap();
    let errors = Arc::new(AtomicU64::new(0));
    // Warm-up (connections, caches), not measured.
    let warm_until = Instant::now() + Duration::from_secs_f64(warmup);
    let stop_at = warm_until + Duration::from_secs_f64(seconds);
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (client, url, errors) = (client.clone(), url.clone(), errors.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let started = Instant::now();
                    if started >= stop_at {
                        break;
                    }
                    let ok = match client.get(&url).send().await {
                        Ok(response) => {
                            let ok = response.status().is_success();
                            ok && response.bytes().await.is_ok()
                        }
                        Err(_) => false,
                    };
                    if started >= warm_until {
                        if ok {
                            latencies.push(started.elapsed().as_secs_f64() * 1000.0);
                        } else {
                            errors.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                latencies
            })
        })
        .collect();
    let mut all = Vec::new();
    for worker in workers {
        all.extend(worker.await.unwrap());
    }
    let throughput = all.len() as f64 / seconds;
    let mut result = summary(all);
    result["throughput_rps"] = json!(throughput);
    result["errors"] = json!(errors.load(Ordering::Relaxed));
    result["concurrency"] = json!(concurrency);
    result["seconds"] = json!(seconds);
    result
}

fn bench_metadata() -> NewVersionMetadata {
    NewVersionMetadata {
        artifact_sha256: String::new(),
        profile_sha256: None,
        run_id: None,
        signature: object(
            json!({"version": 1, "features": ["season", "yr", "mnth", "hr", "holiday", "weekday", "workingday", "weathersit", "temp", "atemp", "hum", "windspeed"]}),
        ),
        metrics: [
            ("holdout_mae".to_owned(), 38.9),
            ("holdout_rmse".to_owned(), 60.4),
            ("holdout_r2".to_owned(), 0.923),
        ]
        .into_iter()
        .collect(),
        params: object(json!({"objective": "poisson", "learning_rate": 0.05, "rounds": 400})),
        tags: [("stage".to_owned(), "bench".to_owned())]
            .into_iter()
            .collect(),
        lineage: Lineage {
            dataset_sha256: "e03de4ee4ef4dc376ac6e04bf829673c6269e8eba5c60fa121640fa2f829504f"
                .to_owned(),
            dataset_rows: 17379,
            dataset_first: "2011-01-01T00:00:00".to_owned(),
            dataset_last: "2012-12-31T23:00:00".to_owned(),
            config_hash: "bench".to_owned(),
            git_commit: "bench".to_owned(),
            trainer_version: "bench".to_owned(),
        },
        card: None,
    }
}

fn client(args: &[String]) -> (RegistryClient, String) {
    let registry = arg(args, "--registry").expect("--registry");
    let model = arg(args, "--model").unwrap_or_else(|| "bike-demand".to_owned());
    (
        RegistryClient::new(&registry, token_from_env().unwrap()).unwrap(),
        model,
    )
}

async fn register(args: &[String]) -> serde_json::Value {
    let (client, model) = client(args);
    let size: usize = arg(args, "--bytes").map_or(1_572_864, |b| b.parse().unwrap());
    let iterations: usize = arg(args, "--iterations").map_or(20, |i| i.parse().unwrap());
    client
        .ensure_model(&CreateModel {
            name: model.clone(),
            description: "benchmark".to_owned(),
            tags: Default::default(),
        })
        .await
        .unwrap();
    let (mut registers, mut downloads) = (Vec::new(), Vec::new());
    for i in 0..iterations {
        // A valid model of the benchmark's size, distinct each time so nothing is deduplicated
        // (the registry refuses anything that is not a Velocast ONNX model).
        let artifact =
            velocast_registry::testing::onnx_artifact(u8::try_from(i % 256).unwrap(), size + i, 12);
        let started = Instant::now();
        let version = client
            .upload_version(
                &model,
                bench_metadata(),
                Upload {
                    artifact: &artifact,
                    profile: None,
                },
            )
            .await
            .unwrap();
        registers.push(started.elapsed().as_secs_f64() * 1000.0);
        let started = Instant::now();
        let (_, bytes) = client
            .download_artifact(&model, &version.version.to_string())
            .await
            .unwrap();
        downloads.push(started.elapsed().as_secs_f64() * 1000.0);
        assert_eq!(bytes, artifact);
    }
    json!({"bytes": size, "register": summary(registers), "download": summary(downloads)})
}

async fn watch(args: &[String]) -> serde_json::Value {
    let (client, model) = client(args);
    let moves: usize = arg(args, "--moves").map_or(50, |m| m.parse().unwrap());
    let versions = client.list_versions(&model, &[]).await.unwrap().versions;
    assert!(versions.len() >= 2, "watch needs two versions of {model}");
    let response = client
        .raw(reqwest::Method::GET, &format!("/v1/watch?model={model}"))
        .send()
        .await
        .unwrap();
    let mut stream = Box::pin(response.bytes_stream());
    let mut buffer = String::new();
    let mut next_event = async |kind: &str, buffer: &mut String| loop {
        if let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains(&format!("event: {kind}\n")) {
                return;
            }
            continue;
        }
        let chunk = stream.next().await.unwrap().unwrap();
        buffer.push_str(std::str::from_utf8(&chunk).unwrap());
    };
    next_event("ready", &mut buffer).await;
    let mut latencies = Vec::new();
    for i in 0..moves {
        let version = versions[i % 2].version;
        let started = Instant::now();
        client
            .set_alias(&model, "bench", version, "watch latency")
            .await
            .unwrap();
        next_event("alias_moved", &mut buffer).await;
        latencies.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    json!({"moves": moves, "move_to_event": summary(latencies)})
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("read") => read(&args).await,
        Some("register") => register(&args).await,
        Some("watch") => watch(&args).await,
        _ => {
            eprintln!("usage: registry_load read|register|watch …");
            std::process::exit(2);
        }
    };
    println!("{result}");
}

fn object(value: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
    match value {
        serde_json::Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}
