//! The gateway serving real models: a real registry (SQLite, port 0), real models trained on
//! `hour.csv`, real ONNX Runtime, real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::*;
use serde_json::{Value, json};
use velocast_auth::Scope;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predictions_equal_the_trainers_on_every_holdout_row() {
    let trained = &trained()[0];
    let stack = Stack::champion(trained, |_| {}).await;
    let (gateway, version) = (&stack.gateway, &stack.version);

    let (requests, expected) = holdout(trained);
    let tolerance = trained.card.parity.tolerance;
    let http = reqwest::Client::new();
    let token = predictor();
    // Batches of up to 1,024 through the named route.
    let mut served = Vec::new();
    for chunk in requests.chunks(1024) {
        let instances: Vec<Value> = chunk.iter().map(body).collect();
        let response = post(
            &http,
            &format!("{}/v1/models/default:predict", gateway.base),
            &token,
            &json!({ "instances": instances }),
        )
        .await;
        assert_eq!(response.status(), 200);
        assert_eq!(
            response.headers()["x-model-version"],
            version.version.to_string().as_str()
        );
        assert_eq!(response.headers()["x-route-arm"], "champion");
        let answer: Value = response.json().await.unwrap();
        assert_eq!(answer["model"], MODEL);
        assert_eq!(answer["arm"], "champion");
        assert!(answer["request_id"].as_str().unwrap().len() >= 8);
        served.extend(
            answer["predictions"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_f64().unwrap()),
        );
    }
    assert_eq!(served.len(), 2888);
    let worst = velocast_features::golden::worst_deviation(&expected, &served)
        .unwrap()
        .unwrap();
    assert!(
        worst.scaled_error <= tolerance,
        "row {}: served {} vs trainer {} (scaled {:.2e} > {tolerance:.0e})",
        worst.row,
        worst.served,
        worst.expected,
        worst.scaled_error
    );
    // Single rows (every 29th) through `/v1/predict` and by model name: the same values.
    for (index, request) in requests.iter().enumerate().step_by(29) {
        for url in [
            format!("{}/v1/predict", gateway.base),
            format!("{}/v1/models/{MODEL}:predict", gateway.base),
        ] {
            let response = post(&http, &url, &token, &body(request)).await;
            assert_eq!(response.status(), 200);
            let answer: Value = response.json().await.unwrap();
            let value = answer["prediction"].as_f64().unwrap();
            assert!(
                (value - expected[index]).abs() / expected[index].abs().max(1.0) <= tolerance,
                "row {index}: {value} vs {}",
                expected[index]
            );
        }
    }
    // The status page says what serves where.
    let status = get_json(&http, gateway, "/v1/status", &token_for_status()).await;
    assert_eq!(status["ready"], true);
    let arm = &status["routes"][0]["arms"][0];
    assert_eq!(arm["version"], version.version);
    assert_eq!(arm["sha256"], version.artifact.sha256.as_str());
    assert_eq!(arm["share"], 1.0);
    assert!(
        status["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "loaded")
    );
    // Metrics carry the arm.
    let metrics = metrics(&http, gateway).await;
    assert!(
        metrics.contains(r#"velocast_gateway_predictions_total{arm="champion",route="default",status_class="2xx"}"#),
        "{metrics}"
    );
    assert!(
        metrics
            .contains(r#"velocast_gateway_model_loads_total{model="bike-demand",outcome="ok"} 1"#)
    );
    stack.stop().await;
}

fn token_for_status() -> String {
    token("ops", &[Scope::MODELS_READ])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bad_input_is_a_4xx_with_a_json_body_naming_the_field() {
    let stack = Stack::champion(&trained()[0], |config| config.max_instances = 4).await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let token = predictor();
    let url = format!("{}/v1/predict", gateway.base);
    let good = hour();
    let with = |key: &str, value: Value| {
        let mut body = good.clone();
        body[key] = value;
        body
    };
    let without = |key: &str| {
        let mut body = good.clone();
        body.as_object_mut().unwrap().remove(key);
        body
    };
    let cases: Vec<(Value, u16, &str)> = vec![
        (with("humidity_pct", json!(101)), 422, "humidity_pct"),
        (with("weather", json!(5)), 422, "weather"),
        (with("weather", json!("sunny")), 422, "weather"),
        (with("temperature_c", json!("NaN")), 422, "temperature_c"),
        (
            with("timestamp", json!("2012-13-01T08:00:00")),
            422,
            "timestamp",
        ),
        (
            with("timestamp", json!("1999-10-01T08:00:00")),
            422,
            "timestamp",
        ),
        (with("holiday", json!(1)), 422, "holiday"),
        (without("wind_speed_kmh"), 422, "wind_speed_kmh"),
        (with("surprise", json!(1)), 422, "surprise"),
        (json!({"instances": []}), 422, "instances"),
        (
            json!({"instances": [good, good, good, good, good]}),
            422,
            "instances",
        ),
        (
            json!({"instances": [good, with("humidity_pct", json!(-1))]}),
            422,
            "instances[1].humidity_pct",
        ),
        (
            json!({"instances": [good, good, without("holiday")]}),
            422,
            "instances[2].holiday",
        ),
        (json!({"instances": good}), 422, "instances"),
        (json!([good]), 422, "body"),
        (json!(null), 422, "body"),
    ];
    for (body, status, field) in cases {
        let response = post(&http, &url, &token, &body).await;
        assert_eq!(response.status(), status, "{body}");
        let error: Value = response.json().await.unwrap();
        assert_eq!(error["field"], field, "{body} → {error}");
        assert!(error["error"].as_str().is_some_and(|e| !e.is_empty()));
    }
    // Raw bodies JSON cannot describe.
    for (raw, status) in [
        (r#"{"timestamp": NaN}"#, 400),
        (
            r#"{"timestamp":"2012-10-01T08:00:00","weather":1,"temperature_c":Infinity}"#,
            400,
        ),
        (
            r#"{"timestamp":"2012-10-01T08:00:00","weather":1,"temperature_c":1e999,"feels_like_c":18,"humidity_pct":60,"wind_speed_kmh":10,"holiday":false}"#,
            400,
        ),
        ("{", 400),
        ("", 400),
    ] {
        let response = http
            .post(&url)
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .body(raw)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), status, "{raw}");
        let error: Value = response.json().await.unwrap();
        assert!(error["error_type"].is_string(), "{raw} → {error}");
    }
    // Unknown routes and models; wrong methods.
    let response = post(
        &http,
        &format!("{}/v1/models/nope:predict", gateway.base),
        &token,
        &good,
    )
    .await;
    assert_eq!(response.status(), 404);
    assert_eq!(response.json::<Value>().await.unwrap()["field"], "name");
    let response = post(
        &http,
        &format!("{}/v1/models/default:transform", gateway.base),
        &token,
        &good,
    )
    .await;
    assert_eq!(response.status(), 404);
    // `:explain` exists, and needs its own scope.
    let response = post(
        &http,
        &format!("{}/v1/models/default:explain", gateway.base),
        &token,
        &good,
    )
    .await;
    assert_eq!(response.status(), 403);
    let response = http.get(&url).bearer_auth(&token).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert!(response.json::<Value>().await.unwrap()["error_type"].is_string());
    // Too large a body.
    let huge = "x".repeat(3 * 1024 * 1024);
    let response = http
        .post(&url)
        .bearer_auth(&token)
        .header("content-type", "application/json")
        .body(huge)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // And the good request still works.
    assert_eq!(post(&http, &url, &token, &good).await.status(), 200);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jwt_matrix_holds_on_the_gateway() {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let stack = Stack::champion(&trained()[0], |_| {}).await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/predict", gateway.base);
    let body = hour();
    let now = SystemTimeExt::now_secs();
    let claims = |edit: &dyn Fn(&mut Value)| {
        let mut claims = json!({"sub": "alice", "iss": "velocast", "aud": "velocast",
            "exp": now + 600, "iat": now, "scope": "predict"});
        edit(&mut claims);
        claims
    };
    let hs = |claims: &Value, secret: &str| {
        encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .unwrap()
    };
    let unsigned = |claims: &Value| {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(claims.to_string())
        )
    };
    let cases: Vec<(Option<String>, u16, &str)> = vec![
        (None, 401, "missing_token"),
        (Some("Basic abc".into()), 401, ""),
        (Some("Bearer".into()), 401, ""),
        (Some("Bearer not.a.jwt".into()), 401, ""),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims(&|c| c["exp"] = json!(now - 120)), SECRET)
            )),
            401,
            "",
        ),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims(&|_| {}), "another-secret-another-secret-xx")
            )),
            401,
            "",
        ),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims(&|c| c["aud"] = json!("elsewhere")), SECRET)
            )),
            401,
            "",
        ),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims(&|c| c["iss"] = json!("mallory")), SECRET)
            )),
            401,
            "",
        ),
        (
            Some(format!("Bearer {}", unsigned(&claims(&|_| {})))),
            401,
            "",
        ),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims(&|c| c["scope"] = json!("models:read")), SECRET)
            )),
            403,
            "missing_scope",
        ),
        (
            Some(format!(
                "Bearer {}",
                hs(&claims(&|c| c["nbf"] = json!(now + 600)), SECRET)
            )),
            401,
            "",
        ),
    ];
    for (header, status, code) in cases {
        let mut request = http.post(&url).json(&body);
        if let Some(header) = &header {
            request = request.header("authorization", header);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), status, "{header:?}");
        let error: Value = response.json().await.unwrap();
        if !code.is_empty() {
            assert_eq!(error["error_type"], code, "{header:?}");
        }
    }
    // HS/RS confusion: an RS256 header over an HMAC made with the secret is refused.
    let confused = {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let good = hs(&claims(&|_| {}), SECRET);
        let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
        parts[0] = b64.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        parts.join(".")
    };
    let response = http
        .post(&url)
        .bearer_auth(confused)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Health and metrics need no token; the status page needs models:read.
    for path in ["/health/live", "/health/ready", "/metrics", "/openapi.json"] {
        let response = http
            .get(format!("{}{path}", gateway.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let response = http
        .get(format!("{}/v1/status", gateway.base))
        .bearer_auth(predictor())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
    // The API browser is served from the binary, with nothing from another host.
    let page = http
        .get(format!("{}/docs/", gateway.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("swagger-ui") && !page.contains("https://") && !page.contains("http://"),
        "{page}"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let response = http
            .get(format!("{}/docs/{asset}", gateway.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    // The good token.
    let response = http
        .post(&url)
        .bearer_auth(predictor())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stack.stop().await;
}

struct SystemTimeExt;
impl SystemTimeExt {
    fn now_secs() -> u64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subjects_past_their_quota_get_429_with_retry_after_and_ratelimit_headers() {
    let stack = Stack::champion(&trained()[0], |config| {
        config.rate_limit.per_second = 1;
        config.rate_limit.burst = 5;
    })
    .await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/predict", gateway.base);
    let body = hour();
    let alice = token("alice", &[Scope::PREDICT]);
    let mut statuses = Vec::new();
    for _ in 0..7 {
        let response = http
            .post(&url)
            .bearer_auth(&alice)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        if status == 200 {
            assert_eq!(response.headers()["ratelimit-limit"], "5");
            assert!(response.headers().contains_key("ratelimit-remaining"));
        } else {
            assert_eq!(status, 429);
            let retry: u64 = response.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            assert_eq!(response.headers()["ratelimit-remaining"], "0");
            assert!(response.headers().contains_key("ratelimit-reset"));
            let error: Value = response.json().await.unwrap();
            assert_eq!(error["error_type"], "rate_limited");
        }
        statuses.push(status);
    }
    assert_eq!(&statuses[..5], &[200; 5], "{statuses:?}");
    assert_eq!(statuses[5], 429, "{statuses:?}");
    // Another subject has its own bucket; health is never limited.
    let bob = token("bob", &[Scope::PREDICT]);
    let response = http
        .post(&url)
        .bearer_auth(&bob)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    for _ in 0..20 {
        let response = http
            .get(format!("{}/health/live", gateway.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
    }
    let metrics = metrics(&http, gateway).await;
    assert!(
        metrics.contains("velocast_gateway_rate_limited_total 2"),
        "{metrics}"
    );
    // The bucket refills.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let response = http
        .post(&url)
        .bearer_auth(&alice)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    stack.stop().await;
}

/// A `predict` token with extra claims, signed with the test secret.
fn token_with_claims(subject: &str, extra: Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
    let now = SystemTimeExt::now_secs();
    let mut claims = json!({"sub": subject, "iss": "velocast", "aud": "velocast",
        "exp": now + 600, "iat": now, "scope": "predict"});
    for (name, value) in extra.as_object().unwrap() {
        claims[name] = value.clone();
    }
    encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_follow_a_claim_and_its_tiers() {
    // Buckets by tenant; the `plan` claim picks the quota (gold: 6, everyone else: 3). Buckets
    // refill one request per second; the requests below take milliseconds.
    let stack = Stack::champion(&trained()[0], |config| {
        config.rate_limit.per_second = 1;
        config.rate_limit.burst = 3;
        config.rate_limit.key = "tenant".into();
        config.rate_limit.tier_claim = Some("plan".into());
        config.rate_limit.tiers.insert(
            "gold".into(),
            velocast_gateway::config::Quota {
                per_second: 1,
                burst: 6,
            },
        );
    })
    .await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/predict", gateway.base);
    let body = hour();
    let send = |token: String| {
        let request = http.post(&url).bearer_auth(token).json(&body);
        async move {
            let response = request.send().await.unwrap();
            let limit = response
                .headers()
                .get("ratelimit-limit")
                .map(|v| v.to_str().unwrap().to_owned());
            (response.status().as_u16(), limit)
        }
    };
    let acme = json!({"tenant": "acme"});
    // Alice and Bob of one tenant share its bucket of 3.
    let mut statuses = Vec::new();
    for subject in ["alice", "bob", "alice", "bob"] {
        statuses.push(send(token_with_claims(subject, acme.clone())).await);
    }
    let three = Some("3".to_owned());
    assert_eq!(
        statuses,
        [
            (200, three.clone()),
            (200, three.clone()),
            (200, three.clone()),
            (429, three.clone())
        ]
    );
    // The same tenant on the gold plan: the gold tier's bucket of 6, its own.
    let gold = json!({"tenant": "acme", "plan": "gold"});
    let mut answered = 0;
    for _ in 0..7 {
        let (status, limit) = send(token_with_claims("carol", gold.clone())).await;
        assert_eq!(limit.as_deref(), Some("6"));
        answered += usize::from(status == 200);
    }
    assert_eq!(answered, 6);
    // A plan not listed gets the default quota, in the tenant's default bucket (spent).
    let silver = json!({"tenant": "acme", "plan": "silver"});
    assert_eq!(
        send(token_with_claims("dan", silver)).await,
        (429, three.clone())
    );
    // Without the tenant claim a token is limited by its subject, in a bucket of its own: a
    // subject named like the spent tenant is not affected by it.
    for _ in 0..3 {
        assert_eq!(
            send(token_with_claims("acme", json!({}))).await,
            (200, three.clone())
        );
    }
    assert_eq!(send(token_with_claims("acme", json!({}))).await.0, 429);
    let metrics = metrics(&http, gateway).await;
    assert!(
        metrics.contains("velocast_gateway_rate_limited_total 4"),
        "{metrics}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_concurrency_limit_requests_are_shed_and_health_still_answers() {
    let stack = Stack::champion(&trained()[0], |config| {
        config.max_in_flight = 2;
        config.rate_limit.enabled = false;
    })
    .await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let batch = json!({ "instances": vec![hour(); 1024] });
    let requests: Vec<_> = (0..24)
        .map(|_| {
            let (http, url, batch) = (
                http.clone(),
                format!("{}/v1/predict", gateway.base),
                batch.clone(),
            );
            tokio::spawn(async move {
                let response = http
                    .post(url)
                    .bearer_auth(predictor())
                    .json(&batch)
                    .send()
                    .await
                    .unwrap();
                let status = response.status().as_u16();
                let retry = response.headers().get("retry-after").is_some();
                let body: Value = response.json().await.unwrap();
                (status, retry, body)
            })
        })
        .collect();
    // Health and metrics answer while predictions pile up.
    for path in ["/health/live", "/metrics"] {
        let response = http
            .get(format!("{}{path}", gateway.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    let mut statuses = Vec::new();
    for request in requests {
        let (status, retry, body) = request.await.unwrap();
        match status {
            200 => assert_eq!(body["predictions"].as_array().unwrap().len(), 1024),
            503 => {
                assert!(retry);
                assert_eq!(body["error_type"], "overloaded");
            }
            other => panic!("unexpected {other}: {body}"),
        }
        statuses.push(status);
    }
    assert!(
        statuses.contains(&200) && statuses.contains(&503),
        "{statuses:?}"
    );
    let metrics = metrics(&http, gateway).await;
    assert!(
        metrics
            .contains("velocast_http_requests_shed_total{method=\"POST\",route=\"/v1/predict\"}"),
        "{metrics}"
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_inference_protocol_reproduces_the_trainer_in_every_input_form() {
    let trained = &trained()[0];
    let stack = Stack::champion(trained, |_| {}).await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let (requests, expected) = holdout(trained);
    let tolerance = trained.card.parity.tolerance;
    let sample: Vec<usize> = (0..requests.len()).step_by(45).collect();
    let token = token("oip", &[Scope::PREDICT, Scope::MODELS_READ]);
    let infer = |body: Value| {
        let (http, url, token) = (
            http.clone(),
            format!("{}/v2/models/default/infer", gateway.base),
            token.clone(),
        );
        async move {
            http.post(url)
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .unwrap()
        }
    };
    let check = |answer: &Value| {
        let output = &answer["outputs"][0];
        assert_eq!(output["name"], "demand");
        assert_eq!(output["shape"], json!([sample.len(), 1]));
        for (value, &row) in output["data"].as_array().unwrap().iter().zip(&sample) {
            let value = value.as_f64().unwrap();
            assert!(
                (value - expected[row]).abs() / expected[row].abs().max(1.0) <= tolerance,
                "row {row}: {value} vs {}",
                expected[row]
            );
        }
    };
    // The feature tensor.
    let features: Vec<f32> = sample
        .iter()
        .flat_map(|&row| velocast_features::features(&requests[row]).unwrap())
        .collect();
    let response = infer(
        json!({"id": "a", "inputs": [{"name": "features", "shape": [sample.len(), 15],
        "datatype": "FP32", "data": features}]}),
    )
    .await;
    assert_eq!(response.status(), 200);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["id"], "a");
    assert_eq!(answer["model_version"], stack.version.version.to_string());
    check(&answer);
    // The named fields, one tensor each.
    let column = |field: &str| -> Vec<Value> {
        sample
            .iter()
            .map(|&row| body(&requests[row])[field].clone())
            .collect()
    };
    let n = sample.len();
    let response = infer(json!({"inputs": [
        {"name": "timestamp", "shape": [n], "datatype": "BYTES", "data": column("timestamp")},
        {"name": "weather", "shape": [n], "datatype": "INT32", "data": column("weather")},
        {"name": "temperature_c", "shape": [n], "datatype": "FP64", "data": column("temperature_c")},
        {"name": "feels_like_c", "shape": [n], "datatype": "FP64", "data": column("feels_like_c")},
        {"name": "humidity_pct", "shape": [n], "datatype": "FP64", "data": column("humidity_pct")},
        {"name": "wind_speed_kmh", "shape": [n], "datatype": "FP64", "data": column("wind_speed_kmh")},
        {"name": "holiday", "shape": [n], "datatype": "BOOL", "data": column("holiday")},
    ]}))
    .await;
    assert_eq!(response.status(), 200);
    check(&response.json().await.unwrap());
    // JSON requests in one BYTES tensor.
    let texts: Vec<String> = sample
        .iter()
        .map(|&row| body(&requests[row]).to_string())
        .collect();
    let response = infer(json!({"inputs": [{"name": "instances", "shape": [n], "datatype": "BYTES", "data": texts}]})).await;
    assert_eq!(response.status(), 200);
    check(&response.json().await.unwrap());
    // Errors: 400 with the protocol's `error`, naming the field.
    let response = infer(json!({"inputs": [{"name": "features", "shape": [1, 14], "datatype": "FP32", "data": vec![0.0; 14]}]})).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "inputs[0].shape");
    assert!(error["error"].as_str().unwrap().contains("[N, 15]"));
    // Metadata and readiness by route or model name.
    let metadata = get_json(&http, gateway, "/v2/models/bike-demand", &token).await;
    assert_eq!(
        metadata["versions"],
        json!([stack.version.version.to_string()])
    );
    assert_eq!(metadata["inputs"][0]["shape"], json!([-1, 15]));
    let ready = http
        .get(format!(
            "{}/v2/models/default/versions/{}/ready",
            gateway.base, stack.version.version
        ))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // Any version the documented pattern admits is a well-formed request:
    // one not served, even beyond the registry's u32, has no metadata (404) and
    // is not ready (503); schemathesis found 4637865291 answered 400.
    for version in ["99", "4637865291", "9999999999"] {
        for (suffix, status) in [("", 404), ("/ready", 503)] {
            let missing = http
                .get(format!(
                    "{}/v2/models/default/versions/{version}{suffix}",
                    gateway.base
                ))
                .bearer_auth(&token)
                .send()
                .await
                .unwrap();
            assert_eq!(missing.status(), status, "version {version}{suffix}");
        }
    }
    // Health needs no token; metadata does.
    assert_eq!(
        http.get(format!("{}/v2/health/ready", gateway.base))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    assert_eq!(
        http.get(format!("{}/v2", gateway.base))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_response_cache_answers_repeated_hours_with_the_same_numbers() {
    let trained = &trained()[0];
    let stack = Stack::champion(trained, |config| config.response_cache.enabled = true).await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let (requests, expected) = holdout(trained);
    let tolerance = trained.card.parity.tolerance;
    let ask = |body: Value| {
        let (http, url) = (http.clone(), format!("{}/v1/predict", gateway.base));
        async move {
            let response = http
                .post(url)
                .bearer_auth(predictor())
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            response.json::<Value>().await.unwrap()
        }
    };
    let first = ask(body(&requests[10])).await["prediction"]
        .as_f64()
        .unwrap();
    let second = ask(body(&requests[10])).await["prediction"]
        .as_f64()
        .unwrap();
    assert_eq!(first.to_bits(), second.to_bits());
    assert!((first - expected[10]).abs() / expected[10].max(1.0) <= tolerance);
    // A batch mixing a cached hour and two new ones: only the new ones are scored.
    let answer =
        ask(json!({"instances": [body(&requests[11]), body(&requests[10]), body(&requests[12])]}))
            .await;
    let values: Vec<f64> = answer["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(values[1].to_bits(), first.to_bits());
    for (value, row) in [(values[0], 11), (values[2], 12)] {
        assert!(
            (value - expected[row]).abs() / expected[row].max(1.0) <= tolerance,
            "row {row}"
        );
    }
    let text = metrics(&http, gateway).await;
    assert!(
        text.contains("velocast_gateway_response_cache_hits_total 2"),
        "{text}"
    );
    assert!(
        text.contains("velocast_gateway_response_cache_misses_total 3"),
        "{text}"
    );
    stack.stop().await;
}

/// `velocast_gateway_batch_rows` sum and count (observed once per request: the rows of the
/// ONNX Runtime call it rode in).
fn batch_rows(metrics: &str) -> (f64, f64) {
    (
        metric(metrics, "velocast_gateway_batch_rows_sum"),
        metric(metrics, "velocast_gateway_batch_rows_count"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_single_rows_share_calls_and_a_lone_client_rides_alone() {
    let stack = Stack::champion(&trained()[0], |_| {}).await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let url = format!("{}/v1/predict", gateway.base);
    let token = token("alice", &[Scope::PREDICT]);
    let body = hour();
    // One client, one request at a time: every call carries exactly its one row.
    for _ in 0..20 {
        let response = post(&http, &url, &token, &body).await;
        assert_eq!(response.status(), 200);
    }
    let (sum, count) = batch_rows(&metrics(&http, gateway).await);
    assert_eq!(count, 20.0);
    assert_eq!(
        sum, 20.0,
        "a lone client's requests were batched with nothing"
    );

    // 48 clients at once: their rows are coalesced into shared calls.
    let clients: Vec<_> = (0..48)
        .map(|_| {
            let (http, url, token, body) = (http.clone(), url.clone(), token.clone(), body.clone());
            tokio::spawn(async move {
                for _ in 0..20 {
                    let response = post(&http, &url, &token, &body).await;
                    assert_eq!(response.status(), 200);
                }
            })
        })
        .collect();
    for client in clients {
        client.await.unwrap();
    }
    let (total_sum, total_count) = batch_rows(&metrics(&http, gateway).await);
    let (sum, count) = (total_sum - 20.0, total_count - 20.0);
    assert_eq!(count, 960.0);
    let mean = sum / count;
    #[allow(clippy::print_stderr)] // The figure, for `--nocapture`.
    {
        eprintln!("48 concurrent clients: {mean:.2} rows per ONNX Runtime call on average");
    }
    assert!(
        mean >= 2.0,
        "48 concurrent clients rode in calls of {mean:.2} rows on average"
    );
    stack.stop().await;
}
