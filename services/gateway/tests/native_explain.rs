//! The native backend and `:explain`, on the real gateway: a real registry (SQLite, port 0),
//! real models trained on `hour.csv`, real ONNX Runtime (which the native evaluator is held to
//! at load), real HTTP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use common::*;
use serde_json::{Value, json};
use velocast_auth::Scope;
use velocast_gateway::backend::BackendKind;

fn explainer_token() -> String {
    token("analyst", &[Scope::EXPLAIN])
}

fn close(a: f64, b: f64, relative: f64) -> bool {
    (a - b).abs() <= relative * a.abs().max(b.abs()).max(1.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_native_backend_serves_the_trainers_predictions_on_every_holdout_row() {
    let trained = &trained()[0];
    let stack = Stack::champion(trained, |config| config.backend = BackendKind::Native).await;
    let gateway = &stack.gateway;
    let (requests, expected) = holdout(trained);
    let tolerance = trained.card.parity.tolerance;
    let http = reqwest::Client::new();
    let token = predictor();
    let mut served = Vec::new();
    // Batches past the inline limit (the blocking pool) and below it (the async worker).
    for chunk in requests.chunks(1000) {
        for part in chunk.chunks(if served.is_empty() { 7 } else { 1000 }) {
            let instances: Vec<Value> = part.iter().map(body).collect();
            let response = post(
                &http,
                &format!("{}/v1/models/default:predict", gateway.base),
                &token,
                &json!({ "instances": instances }),
            )
            .await;
            assert_eq!(response.status(), 200);
            let answer: Value = response.json().await.unwrap();
            served.extend(
                answer["predictions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|v| v.as_f64().unwrap()),
            );
        }
    }
    assert_eq!(served.len(), 2888);
    let worst = velocast_features::golden::worst_deviation(&expected, &served)
        .unwrap()
        .unwrap();
    assert!(
        worst.scaled_error <= tolerance,
        "row {}: served {} vs trainer {} (scaled {:.2e})",
        worst.row,
        worst.served,
        worst.expected,
        worst.scaled_error
    );
    // Single rows, and the inference protocol, through the same engine.
    for (index, request) in requests.iter().enumerate().step_by(97) {
        let response = post(
            &http,
            &format!("{}/v1/predict", gateway.base),
            &token,
            &body(request),
        )
        .await;
        let value = response.json::<Value>().await.unwrap()["prediction"]
            .as_f64()
            .unwrap();
        assert!(
            close(value, expected[index], tolerance),
            "row {index}: {value} vs {}",
            expected[index]
        );
    }
    let status = get_json(&http, gateway, "/v1/status", &token_for_status()).await;
    assert_eq!(status["routes"][0]["arms"][0]["backend"], "native");
    assert_eq!(status["routes"][0]["arms"][0]["explainable"], true);
    let metrics = metrics(&http, gateway).await;
    assert!(
        metrics
            .contains(r#"velocast_gateway_model_loads_total{model="bike-demand",outcome="ok"} 1"#),
        "{metrics}"
    );
    stack.stop().await;
}

fn token_for_status() -> String {
    token("ops", &[Scope::MODELS_READ])
}

/// Checks one explained row: output-space additivity, each member's exact score-space
/// additivity, and the prediction the gateway serves for the same hour.
fn check_row(row: &Value, served: f64, tolerance: f64) {
    let contributions = row["contributions"].as_object().unwrap();
    assert_eq!(contributions.len(), velocast_features::FEATURE_COUNT);
    assert!(
        contributions.contains_key("hr") && contributions.contains_key("day_of_year"),
        "{row}"
    );
    let prediction = row["prediction"].as_f64().unwrap();
    assert!(
        close(prediction, served, tolerance),
        "{prediction} vs served {served}"
    );
    assert_eq!(row["space"], "output");
    assert_eq!(row["method"], "rescaled_from_score_space");
    let total = row["base_value"].as_f64().unwrap()
        + contributions
            .values()
            .map(|v| v.as_f64().unwrap())
            .sum::<f64>();
    if prediction > 0.0 {
        assert!(close(total, prediction, 1e-9), "{total} vs {prediction}");
    }
    let members = row["members"].as_array().unwrap();
    assert!(!members.is_empty());
    for member in members {
        assert_eq!(member["space"], "score");
        let sum = member["base_value"].as_f64().unwrap()
            + member["contributions"]
                .as_object()
                .unwrap()
                .values()
                .map(|v| v.as_f64().unwrap())
                .sum::<f64>();
        assert!(
            close(sum, member["score"].as_f64().unwrap(), 1e-9),
            "{member}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn explanations_add_up_to_the_served_prediction_and_need_their_scope() {
    let trained = &trained()[0];
    let stack = Stack::champion(trained, |_| {}).await;
    let gateway = &stack.gateway;
    let (requests, _) = holdout(trained);
    let http = reqwest::Client::new();
    let tolerance = trained.card.parity.tolerance;
    let sample: Vec<Value> = requests.iter().step_by(60).map(body).collect();
    let served: Vec<f64> = post(
        &http,
        &format!("{}/v1/predict", gateway.base),
        &predictor(),
        &json!({ "instances": sample }),
    )
    .await
    .json::<Value>()
    .await
    .unwrap()["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();

    let response = post(
        &http,
        &format!("{}/v1/models/default:explain", gateway.base),
        &explainer_token(),
        &json!({ "instances": sample }),
    )
    .await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-model-version"],
        stack.version.version.to_string().as_str()
    );
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["algorithm"], "tree_shap_path_dependent");
    assert_eq!(answer["arm"], "champion");
    let rows = answer["explanations"].as_array().unwrap();
    assert_eq!(rows.len(), sample.len());
    for (row, served) in rows.iter().zip(&served) {
        check_row(row, *served, tolerance);
    }

    // The gateway explains the file it serves: the same numbers as the library on it.
    let info = velocast_onnx::read(&trained.onnx).unwrap();
    let explainer =
        velocast_explain::Explainer::new(info.blend, velocast_features::FEATURE_COUNT, info.covers)
            .unwrap();
    let first: Vec<f32> = velocast_features::features(&requests[0]).unwrap().to_vec();
    let local = &explainer
        .explain(&first, &velocast_explain::Mode::PathDependent)
        .unwrap()[0];
    let names = velocast_features::Signature::current();
    let remote = &rows[0];
    for (name, value) in names.feature_names().iter().zip(&local.contributions) {
        assert_eq!(
            remote["contributions"][name].as_f64().unwrap(),
            *value,
            "{name}"
        );
    }

    // One object in, one explanation out, on the default route too.
    let response = post(
        &http,
        &format!("{}/v1/explain", gateway.base),
        &explainer_token(),
        &body(&requests[0]),
    )
    .await;
    assert_eq!(response.status(), 200);
    let one: Value = response.json().await.unwrap();
    check_row(&one["explanation"], served[0], tolerance);

    // Scopes: `predict` does not explain, `explain` does not predict; no token is 401.
    let url = format!("{}/v1/models/default:explain", gateway.base);
    let refused = post(&http, &url, &predictor(), &body(&requests[0])).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(
        refused.json::<Value>().await.unwrap()["error_type"],
        "missing_scope"
    );
    let refused = post(
        &http,
        &format!("{}/v1/models/default:predict", gateway.base),
        &explainer_token(),
        &body(&requests[0]),
    )
    .await;
    assert_eq!(refused.status(), 403);
    let anonymous = http
        .post(&url)
        .json(&body(&requests[0]))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Bad input is refused as `:predict` refuses it, naming the row and field.
    let mut bad = body(&requests[1]);
    bad["humidity_pct"] = json!(160);
    let response = post(
        &http,
        &url,
        &explainer_token(),
        &json!({ "instances": [body(&requests[0]), bad] }),
    )
    .await;
    assert_eq!(response.status(), 422);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["field"], "instances[1].humidity_pct");
    // More rows than the explanation limit (256 by default).
    let many: Vec<Value> = requests.iter().take(257).map(body).collect();
    let response = post(
        &http,
        &url,
        &explainer_token(),
        &json!({ "instances": many }),
    )
    .await;
    assert_eq!(response.status(), 422);
    assert!(
        response.json::<Value>().await.unwrap()["error"]
            .as_str()
            .unwrap()
            .contains("at most 256")
    );
    // An unknown action on a model path.
    let response = post(
        &http,
        &format!("{}/v1/models/default:explode", gateway.base),
        &explainer_token(),
        &body(&requests[0]),
    )
    .await;
    assert_eq!(response.status(), 404);
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_explanation_is_of_the_version_that_answers_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    let (registry, _client, v1, v2) = two_versions(dir.path(), true).await;
    let route = r#"
[routes.default]
model = "bike-demand"
sticky = "sub"
arms = [
  { name = "champion", alias = "champion", weight = 1 },
  { name = "challenger", alias = "challenger", weight = 1 },
]
"#;
    let config = config(&registry.base, &dir.path().join("cache"), route);
    let gateway = Gateway::start(&config, None).await;
    gateway.ready().await;
    let http = reqwest::Client::new();
    let mut seen = std::collections::BTreeSet::new();
    for subject in 0..24 {
        let both = token(
            &format!("caller-{subject}"),
            &[Scope::PREDICT, Scope::EXPLAIN],
        );
        let predicted = post(
            &http,
            &format!("{}/v1/predict", gateway.base),
            &both,
            &hour(),
        )
        .await;
        let explained = post(
            &http,
            &format!("{}/v1/explain", gateway.base),
            &both,
            &hour(),
        )
        .await;
        let version = predicted.headers()["x-model-version"].clone();
        assert_eq!(explained.headers()["x-model-version"], version);
        assert_eq!(
            explained.headers()["x-route-arm"],
            predicted.headers()["x-route-arm"]
        );
        let prediction = predicted.json::<Value>().await.unwrap()["prediction"]
            .as_f64()
            .unwrap();
        let explanation: Value = explained.json().await.unwrap();
        assert!(close(
            explanation["explanation"]["prediction"].as_f64().unwrap(),
            prediction,
            1e-3
        ));
        seen.insert(version.to_str().unwrap().to_owned());
    }
    // 24 subjects over two equal arms: both versions were explained.
    assert_eq!(seen, [v1.to_string(), v2.to_string()].into_iter().collect());
    gateway.stop().await;
    registry.stop().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_explanations_off_an_explanation_is_a_409_that_says_why() {
    let trained = &trained()[0];
    let stack = Stack::champion(trained, |config| config.explain.enabled = false).await;
    let http = reqwest::Client::new();
    let response = post(
        &http,
        &format!("{}/v1/explain", stack.gateway.base),
        &explainer_token(),
        &hour(),
    )
    .await;
    assert_eq!(response.status(), 409);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error_type"], "not_explainable");
    assert!(
        error["error"].as_str().unwrap().contains("turned off"),
        "{error}"
    );
    // Predictions are unaffected.
    assert_eq!(predict(&http, &stack.gateway, &hour()).await.status(), 200);
    stack.stop().await;
}
