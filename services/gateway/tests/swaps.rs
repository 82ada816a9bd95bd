//! Hot swaps, refused models, the local cache and A/B routing, against a real registry and
//! real models.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use serde_json::{Value, json};
use velocast_auth::Scope;

async fn status(http: &reqwest::Client, gateway: &Gateway) -> Value {
    get_json(
        http,
        gateway,
        "/v1/status",
        &token("ops", &[Scope::MODELS_READ]),
    )
    .await
}

/// The version the first arm of the first route serves now.
async fn served_version(http: &reqwest::Client, gateway: &Gateway) -> Option<u64> {
    status(http, gateway).await["routes"][0]["arms"][0]["version"].as_u64()
}

#[derive(Debug, Default)]
struct Tally {
    by_status: BTreeMap<u16, u64>,
    by_version: BTreeMap<String, u64>,
}

/// `clients` loops of single-row predictions until `stop`.
fn load(base: &str, clients: usize, stop: Arc<AtomicBool>) -> Vec<tokio::task::JoinHandle<Tally>> {
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(clients)
        .build()
        .unwrap();
    let token = predictor();
    let url = format!("{base}/v1/predict");
    let body = serde_json::to_vec(&hour()).unwrap();
    (0..clients)
        .map(|_| {
            let (http, token, url, body, stop) = (
                http.clone(),
                token.clone(),
                url.clone(),
                body.clone(),
                Arc::clone(&stop),
            );
            tokio::spawn(async move {
                let mut tally = Tally::default();
                while !stop.load(Ordering::Relaxed) {
                    let response = http
                        .post(&url)
                        .bearer_auth(&token)
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .await
                        .unwrap();
                    *tally
                        .by_status
                        .entry(response.status().as_u16())
                        .or_default() += 1;
                    let version = response
                        .headers()
                        .get("x-model-version")
                        .map_or("-".to_owned(), |v| v.to_str().unwrap().to_owned());
                    *tally.by_version.entry(version).or_default() += 1;
                    let _ = response.bytes().await.unwrap();
                }
                tally
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_alias_moves_under_load_answer_every_request_from_one_of_the_two_versions() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, client, v1, v2) = two_versions(dir.path(), false).await;
    let mut config = config(&registry.base, &dir.path().join("cache"), CHAMPION_ROUTE);
    config.rate_limit.enabled = false;
    let gateway = Gateway::start(&config, None).await;
    gateway.ready().await;
    let http = reqwest::Client::new();

    let stop = Arc::new(AtomicBool::new(false));
    let started = Instant::now();
    let clients = load(&gateway.base, 32, Arc::clone(&stop));
    for step in 0..100 {
        let target = if step % 2 == 0 { v2 } else { v1 };
        client
            .set_alias(MODEL, "champion", target, "swap")
            .await
            .unwrap();
        eventually(
            Duration::from_secs(30),
            "the gateway to follow the alias",
            || async { served_version(&http, &gateway).await == Some(u64::from(target)) },
        )
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    let mut total = Tally::default();
    for client in clients {
        let tally = client.await.unwrap();
        for (status, count) in tally.by_status {
            *total.by_status.entry(status).or_default() += count;
        }
        for (version, count) in tally.by_version {
            *total.by_version.entry(version).or_default() += count;
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let requests: u64 = total.by_status.values().sum();
    println!(
        "{requests} requests in {elapsed:.1} s ({:.0} req/s) across 100 alias moves: {:?} {:?}",
        requests as f64 / elapsed,
        total.by_status,
        total.by_version
    );
    assert_eq!(
        total.by_status.keys().copied().collect::<Vec<_>>(),
        vec![200]
    );
    let versions: BTreeSet<String> = total.by_version.keys().cloned().collect();
    assert_eq!(
        versions,
        BTreeSet::from([v1.to_string(), v2.to_string()]),
        "every answer names one of the two versions, and both served"
    );
    gateway.stop().await;
    registry.stop().await.unwrap();
}

/// A version whose declared signature is not the one this build implements (the artifact
/// carries no signature hash, so the registry takes it).
fn foreign_signature(metadata: &mut velocast_registry_api::NewVersionMetadata) {
    metadata.signature.insert("version".into(), json!(99));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_corrupt_or_mismatched_version_never_serves_and_the_current_one_keeps_serving() {
    let [a, b] = trained();
    let dir = tempfile::tempdir().unwrap();
    let (registry, client) = registry(dir.path()).await;
    let good = register(&client, a, None, |_| {}).await.version;
    client
        .set_alias(MODEL, "champion", good, "start")
        .await
        .unwrap();
    let gateway = Gateway::start(
        &config(&registry.base, &dir.path().join("cache"), CHAMPION_ROUTE),
        None,
    )
    .await;
    gateway.ready().await;
    let http = reqwest::Client::new();
    // A real model that is not the one its card describes: a's card (and golden rows) over
    // b's artifact.
    let mismatched = register(&client, a, Some(&b.onnx), |metadata| {
        let card = metadata.card.as_mut().unwrap();
        card.insert("note".into(), json!("artifact of another training run"));
    })
    .await
    .version;
    // A signature this gateway does not implement.
    let foreign = register(
        &client,
        a,
        Some(&velocast_registry::testing::onnx_artifact(7, 0, 15)),
        foreign_signature,
    )
    .await
    .version;
    // A card without golden rows.
    let unchecked = register(&client, b, None, |metadata| {
        metadata.card.as_mut().unwrap().remove("golden");
    })
    .await
    .version;

    for (version, reason) in [
        (mismatched, "golden"),
        (foreign, "signature"),
        (unchecked, "golden"),
    ] {
        client
            .set_alias(MODEL, "champion", version, "bad")
            .await
            .unwrap();
        eventually(
            Duration::from_secs(30),
            "the failed load to be recorded",
            || async {
                status(&http, &gateway).await["events"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|e| e["kind"] == "load_failed" && e["version"] == version)
            },
        )
        .await;
        // Still the good version, answering.
        assert_eq!(served_version(&http, &gateway).await, Some(u64::from(good)));
        let response = predict(&http, &gateway, &hour()).await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-model-version"],
            good.to_string().as_str()
        );
        let metrics = metrics(&http, &gateway).await;
        assert!(
            metrics.contains(&format!(
                r#"velocast_gateway_model_loads_total{{model="bike-demand",outcome="{reason}"}}"#
            )),
            "{metrics}"
        );
    }
    let events = status(&http, &gateway).await["events"].clone();
    let details: Vec<&str> = events
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "load_failed")
        .map(|e| e["detail"].as_str().unwrap())
        .collect();
    assert!(
        details.iter().any(|d| d.starts_with("golden rows: row ")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("features v99")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("no golden rows")),
        "{details:?}"
    );
    // Readiness holds throughout: the route still has a warmed model.
    let response = http
        .get(format!("{}/health/ready", gateway.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    gateway.stop().await;
    registry.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_registry_down_a_restarted_gateway_serves_from_its_cache() {
    let [a, _] = trained();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let (registry, client) = registry(dir.path()).await;
    let version = register(&client, a, None, |_| {}).await.version;
    client
        .set_alias(MODEL, "champion", version, "start")
        .await
        .unwrap();
    let registry_base = registry.base.clone();
    let first = Gateway::start(&config(&registry_base, &cache, CHAMPION_ROUTE), None).await;
    first.ready().await;
    first.stop().await;
    registry.stop().await.unwrap();

    // No registry now: the restarted gateway resolves the alias from its cache.
    let second = Gateway::start(&config(&registry_base, &cache, CHAMPION_ROUTE), None).await;
    second.ready().await;
    let http = reqwest::Client::new();
    let response = http
        .post(format!("{}/v1/predict", second.base))
        .bearer_auth(predictor())
        .json(&hour())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-model-version"],
        version.to_string().as_str()
    );
    let events = status(&http, &second).await["events"].clone();
    assert!(
        events
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "serving_from_cache"),
        "{events}"
    );
    second.stop().await;

    // A tampered cache is not trusted: with the registry still down, nothing serves.
    let onnx = cache
        .join(MODEL)
        .join(format!("v{version}"))
        .join("model.onnx");
    let mut bytes = std::fs::read(&onnx).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&onnx, bytes).unwrap();
    let third = Gateway::start(&config(&registry_base, &cache, CHAMPION_ROUTE), None).await;
    eventually(
        Duration::from_secs(10),
        "the cache check to fail",
        || async {
            status(&http, &third).await["events"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| {
                    e["kind"] == "resolve_failed"
                        && e["detail"].as_str().unwrap().contains("hashes to")
                })
        },
    )
    .await;
    let response = http
        .get(format!("{}/health/ready", third.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    let response = http
        .post(format!("{}/v1/predict", third.base))
        .bearer_auth(predictor())
        .json(&hour())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    third.stop().await;
}

const AB_ROUTE: &str = r#"
[routes.default]
model = "bike-demand"
sticky = "sub"
arms = [
  { name = "champion", alias = "champion", weight = 3 },
  { name = "challenger", alias = "challenger", weight = 1 },
]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn arms_split_by_subject_stick_and_the_route_table_reloads_from_its_file() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _client, v1, v2) = two_versions(dir.path(), true).await;
    let config_file = dir.path().join("gateway.toml");
    std::fs::write(&config_file, AB_ROUTE).unwrap();
    let mut config = config(&registry.base, &dir.path().join("cache"), AB_ROUTE);
    config.reload_interval_ms = 100;
    let gateway = Gateway::start(&config, Some(config_file.clone())).await;
    gateway.ready().await;
    let http = reqwest::Client::new();

    let predict = |subject: String| {
        let http = http.clone();
        let url = format!("{}/v1/predict", gateway.base);
        async move {
            let response = http
                .post(url)
                .bearer_auth(token(&subject, &[Scope::PREDICT]))
                .json(&hour())
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            let arm = response.headers()["x-route-arm"]
                .to_str()
                .unwrap()
                .to_owned();
            let version = response.headers()["x-model-version"]
                .to_str()
                .unwrap()
                .to_owned();
            (arm, version)
        }
    };
    let mut arms = BTreeMap::new();
    for user in 0..400 {
        let subject = format!("user-{user}");
        let (arm, version) = predict(subject.clone()).await;
        // The arm's version, and the same arm again for the same subject.
        let expected = if arm == "champion" { v1 } else { v2 };
        assert_eq!(version, expected.to_string());
        assert_eq!(predict(subject.clone()).await.0, arm);
        // Exactly what the pure assignment says.
        let table = velocast_routing::RouteTable::parse(AB_ROUTE).unwrap();
        let route = table.route("default").unwrap();
        let assigned = velocast_routing::assign(&subject, &route.arms).unwrap();
        assert_eq!(route.arms[assigned.arm].name.as_str(), arm);
        *arms.entry(arm).or_insert(0_u32) += 1;
    }
    // 3:1 over 400 subjects: the champion's share is 0.75 ± 4.5σ (σ ≈ 0.022).
    let champion = f64::from(arms["champion"]) / 400.0;
    assert!((champion - 0.75).abs() < 0.1, "{arms:?}");

    // An invalid edit is refused and the old table keeps serving.
    std::fs::write(
        &config_file,
        AB_ROUTE.replace("weight = 1 }", "weight = -1 }"),
    )
    .unwrap();
    let http2 = http.clone();
    let base = gateway.base.clone();
    eventually(
        Duration::from_secs(10),
        "the refused reload to be counted",
        || {
            let http = http2.clone();
            let base = base.clone();
            async move {
                let metrics = http
                    .get(format!("{base}/metrics"))
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap();
                metrics.contains(r#"velocast_gateway_route_reloads_total{outcome="refused"} 1"#)
            }
        },
    )
    .await;
    assert_eq!(
        status(&http, &gateway).await["routes"][0]["arms"]
            .as_array()
            .unwrap()
            .len(),
        2
    );

    // A valid edit: everyone to the challenger.
    std::fs::write(
        &config_file,
        AB_ROUTE.replace("weight = 3 }", "weight = 0 }"),
    )
    .unwrap();
    eventually(
        Duration::from_secs(10),
        "the new table to serve",
        || async { status(&http, &gateway).await["routes"][0]["arms"][0]["share"] == 0.0 },
    )
    .await;
    for user in 0..50 {
        let (arm, version) = predict(format!("user-{user}")).await;
        assert_eq!((arm.as_str(), version), ("challenger", v2.to_string()));
    }
    gateway.stop().await;
    registry.stop().await.unwrap();
}

const SHADOW_ROUTE: &str = r#"
[routes.default]
model = "bike-demand"
sticky = "request_id"
arms = [{ name = "champion", alias = "champion", weight = 1 }]
shadow = { alias = "challenger", sample = 1.0 }
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_scores_copies_off_the_critical_path_and_exports_the_difference() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _client, v1, _v2) = two_versions(dir.path(), true).await;
    let gateway = Gateway::start(
        &config(&registry.base, &dir.path().join("cache"), SHADOW_ROUTE),
        None,
    )
    .await;
    gateway.ready().await;
    let http = reqwest::Client::new();
    eventually(Duration::from_secs(30), "the shadow to load", || async {
        metrics(&http, &gateway).await.contains(
            "velocast_gateway_prediction_value_count{model=\"bike-demand\",version=\"2\"}",
        )
    })
    .await;
    for _ in 0..30 {
        let response = predict(&http, &gateway, &hour()).await;
        assert_eq!(response.status(), 200);
        // The client is answered by the route's arm, never by the shadow.
        assert_eq!(
            response.headers()["x-model-version"],
            v1.to_string().as_str()
        );
    }
    eventually(Duration::from_secs(10), "30 shadow scorings", || async {
        metrics(&http, &gateway).await.contains(
            "velocast_gateway_shadow_requests_total{outcome=\"scored\",route=\"default\"} 30",
        )
    })
    .await;
    let text = metrics(&http, &gateway).await;
    let sum: f64 = text
        .lines()
        .find(|l| l.starts_with("velocast_gateway_shadow_abs_difference_sum{route=\"default\"}"))
        .and_then(|l| l.rsplit(' ').next())
        .unwrap()
        .parse()
        .unwrap();
    assert!(sum > 0.0, "two different models disagree somewhere: {sum}");
    assert!(
        text.contains("velocast_gateway_shadow_abs_difference_count{route=\"default\"} 30"),
        "{text}"
    );
    gateway.stop().await;
    registry.stop().await.unwrap();
}
