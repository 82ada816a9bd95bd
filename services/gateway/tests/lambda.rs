//! The gateway as an AWS Lambda function, end to end: the real `velocast-gateway-lambda` binary
//! (built with the `lambda` feature) polls a stand-in for the Lambda Runtime API (the endpoints
//! Lambda's runtime interface serves: next invocation, response, error), fetches its model from a
//! real registry at cold start, and answers API Gateway HTTP API (payload v2) events. The only
//! fake is the Runtime API, the external boundary.
//!   cargo test -p velocast-gateway --features lambda --test lambda

#![cfg(feature = "lambda")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use common::{MODEL, SECRET, body, holdout, onnxruntime, predictor, register, trained};
use serde_json::{Value, json};
use tokio::sync::Notify;

/// What the stand-in holds: invocations waiting to be fetched, and what came back for each.
#[derive(Default)]
struct Invocations {
    queued: Mutex<VecDeque<(String, Value)>>,
    arrived: Notify,
    answers: Mutex<HashMap<String, (&'static str, Value)>>,
    answered: Notify,
    init_errors: Mutex<Vec<Value>>,
}

type Shared = Arc<Invocations>;

/// `GET /2018-06-01/runtime/invocation/next`: long-polls until an event is queued.
async fn next(State(state): State<Shared>) -> impl IntoResponse {
    loop {
        let waiting = state.arrived.notified();
        if let Some((id, event)) = state.queued.lock().unwrap().pop_front() {
            let deadline = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + 30_000;
            let mut headers = HeaderMap::new();
            headers.insert("lambda-runtime-aws-request-id", id.parse().unwrap());
            headers.insert(
                "lambda-runtime-deadline-ms",
                deadline.to_string().parse().unwrap(),
            );
            headers.insert(
                "lambda-runtime-invoked-function-arn",
                "arn:aws:lambda:eu-west-1:123456789012:function:velocast-gateway"
                    .parse()
                    .unwrap(),
            );
            headers.insert(
                "lambda-runtime-trace-id",
                "Root=1-00000000-000000000000000000000000".parse().unwrap(),
            );
            return (headers, Json(event));
        }
        waiting.await;
    }
}

/// `POST /2018-06-01/runtime/invocation/{id}/response` and `…/{id}/error`.
async fn answer(
    State(state): State<Shared>,
    UrlPath((id, kind)): UrlPath<(String, String)>,
    bytes: axum::body::Bytes,
) -> StatusCode {
    let kind = match kind.as_str() {
        "response" => "response",
        "error" => "error",
        _ => return StatusCode::NOT_FOUND,
    };
    // The runtime client sends JSON without always naming the content type.
    let answer =
        serde_json::from_slice(&bytes).unwrap_or_else(|_| json!(String::from_utf8_lossy(&bytes)));
    state.answers.lock().unwrap().insert(id, (kind, answer));
    state.answered.notify_waiters();
    StatusCode::ACCEPTED
}

async fn init_error(State(state): State<Shared>, bytes: axum::body::Bytes) -> StatusCode {
    state
        .init_errors
        .lock()
        .unwrap()
        .push(json!(String::from_utf8_lossy(&bytes)));
    StatusCode::ACCEPTED
}

struct RuntimeApi {
    address: std::net::SocketAddr,
    state: Shared,
    counter: Mutex<u32>,
}

impl RuntimeApi {
    async fn start() -> RuntimeApi {
        let state = Shared::default();
        let router = Router::new()
            .route("/2018-06-01/runtime/invocation/next", get(next))
            .route("/2018-06-01/runtime/invocation/{id}/{kind}", post(answer))
            .route("/2018-06-01/runtime/init/error", post(init_error))
            .with_state(Arc::clone(&state));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        RuntimeApi {
            address,
            state,
            counter: Mutex::new(0),
        }
    }

    /// Queues `event` and waits for the function's answer: ("response" | "error", body).
    async fn invoke(&self, event: Value) -> (&'static str, Value) {
        let id = {
            let mut counter = self.counter.lock().unwrap();
            *counter += 1;
            format!("invocation-{counter}")
        };
        self.state
            .queued
            .lock()
            .unwrap()
            .push_back((id.clone(), event));
        self.state.arrived.notify_waiters();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let waiting = self.state.answered.notified();
            if let Some(answer) = self.state.answers.lock().unwrap().remove(&id) {
                return answer;
            }
            assert!(
                !self.state.init_errors.lock().unwrap().is_empty() || Instant::now() < deadline,
                "no answer to {id}; init errors: {:?}",
                self.state.init_errors.lock().unwrap()
            );
            let _ = tokio::time::timeout(Duration::from_millis(200), waiting).await;
        }
    }
}

/// An API Gateway HTTP API (payload format 2.0) event, as API Gateway sends it.
fn api_gateway_event(method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> Value {
    let mut headers = json!({"content-type": "application/json", "user-agent": "lambda-test"});
    if let Some(token) = token {
        headers["authorization"] = json!(format!("Bearer {token}"));
    }
    let mut event = json!({
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "velocast",
            "domainName": "velocast.execute-api.eu-west-1.amazonaws.com",
            "domainPrefix": "velocast",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "192.0.2.10", "userAgent": "lambda-test"},
            "requestId": "api-gateway-request",
            "routeKey": "$default",
            "stage": "$default",
            "time": "08/Dec/2026:10:00:00 +0000",
            "timeEpoch": 1_796_724_000_000_u64
        },
        "isBase64Encoded": false
    });
    if let Some(body) = body {
        event["body"] = json!(body.to_string());
    }
    event
}

/// The function's answer as API Gateway would return it: status and the JSON body.
fn http_answer(answer: &(&'static str, Value)) -> (u64, Value) {
    assert_eq!(
        answer.0, "response",
        "the function reported an error: {}",
        answer.1
    );
    let status = answer.1["statusCode"].as_u64().unwrap();
    let text = answer.1["body"]
        .as_str()
        .unwrap_or_else(|| panic!("no body in {}", answer.1));
    assert_eq!(answer.1["isBase64Encoded"], false, "{}", answer.1);
    (
        status,
        serde_json::from_str(text).unwrap_or_else(|_| json!({"text": text})),
    )
}

fn start_function(
    runtime: &RuntimeApi,
    dir: &Path,
    registry: &str,
    bundle: Option<&Path>,
) -> Child {
    let cache = dir.join("cache");
    let config = dir.join("gateway.toml");
    std::fs::write(
        &config,
        format!(
            r#"bind = "127.0.0.1:0"
registry_url = "{registry}"
cache_dir = "{}"
onnxruntime_path = "{}"
sessions = 1
[auth]
issuer = "velocast"
audience = "velocast"
[routes.default]
model = "{MODEL}"
sticky = "request_id"
arms = [{{ name = "champion", alias = "champion", weight = 1 }}]
"#,
            cache.display(),
            onnxruntime().display()
        ),
    )
    .unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_velocast-gateway-lambda"));
    command
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .env("AWS_LAMBDA_RUNTIME_API", runtime.address.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "velocast-gateway")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "1024")
        .env("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/velocast-gateway")
        .env("AWS_LAMBDA_LOG_STREAM_NAME", "2026/12/08/[$LATEST]test")
        .env("VELOCAST_GATEWAY_CONFIG", &config)
        .env("VELOCAST_JWT_SECRET", SECRET)
        .env("VELOCAST_TOKEN", common::admin_token())
        .env("VELOCAST_COLD_START_SECONDS", "60")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(bundle) = bundle {
        command.env("VELOCAST_BUNDLED_CACHE", bundle);
    }
    command.spawn().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_gateway_events_get_the_models_predictions_and_typed_errors() {
    let trained = &trained()[0];
    let (requests, expected) = holdout(trained);
    let tolerance = trained.card.parity.tolerance;
    let dir = tempfile::tempdir().unwrap();
    let (registry, client) = common::registry(dir.path()).await;
    let version = register(&client, trained, None, |_| {}).await;
    client
        .set_alias(MODEL, "champion", version.version, "test")
        .await
        .unwrap();

    let runtime = RuntimeApi::start().await;
    let function_dir = dir.path().join("function");
    std::fs::create_dir_all(&function_dir).unwrap();
    let mut function = start_function(&runtime, &function_dir, &registry.base, None);
    let token = predictor();

    // A batch of holdout hours: the trainer's own predictions, through API Gateway's shape.
    let instances: Vec<Value> = requests[..64].iter().map(body).collect();
    let answer = runtime
        .invoke(api_gateway_event(
            "POST",
            "/v1/predict",
            Some(&token),
            Some(&json!({"instances": instances})),
        ))
        .await;
    let (status, answer_body) = http_answer(&answer);
    assert_eq!(status, 200, "{answer_body}");
    assert_eq!(answer_body["model"], MODEL);
    assert_eq!(answer_body["version"], version.version);
    assert_eq!(answer_body["arm"], "champion");
    let served: Vec<f64> = answer_body["predictions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    assert_eq!(served.len(), 64);
    for (row, value) in served.iter().enumerate() {
        assert!(
            (value - expected[row]).abs() / expected[row].abs().max(1.0) <= tolerance,
            "row {row}: served {value} vs trainer {}",
            expected[row]
        );
    }
    assert_eq!(
        answer.1["headers"]["content-type"], "application/json",
        "{}",
        answer.1
    );

    // Errors come back as API Gateway responses with the gateway's typed JSON body.
    let (status, refused) = http_answer(
        &runtime
            .invoke(api_gateway_event(
                "POST",
                "/v1/predict",
                None,
                Some(&common::hour()),
            ))
            .await,
    );
    assert_eq!(status, 401, "{refused}");
    assert!(
        refused["error"].is_object() || refused["error"].is_string(),
        "{refused}"
    );
    let mut bad = common::hour();
    bad["humidity_pct"] = json!(150);
    let (status, invalid) = http_answer(
        &runtime
            .invoke(api_gateway_event(
                "POST",
                "/v1/predict",
                Some(&token),
                Some(&bad),
            ))
            .await,
    );
    assert_eq!(status, 422, "{invalid}");
    assert!(invalid.to_string().contains("humidity_pct"), "{invalid}");
    let (status, _) = http_answer(
        &runtime
            .invoke(api_gateway_event(
                "GET",
                "/v1/no-such-route",
                Some(&token),
                None,
            ))
            .await,
    );
    assert_eq!(status, 404);
    let (status, health) = http_answer(
        &runtime
            .invoke(api_gateway_event("GET", "/health/ready", None, None))
            .await,
    );
    assert_eq!(status, 200, "{health}");

    // A second cold start with the registry gone: the bundled cache serves the same model.
    function.kill().unwrap();
    function.wait().unwrap();
    registry.stop().await.unwrap();
    let bundled_dir = dir.path().join("function-bundled");
    std::fs::create_dir_all(&bundled_dir).unwrap();
    let mut bundled = start_function(
        &runtime,
        &bundled_dir,
        "http://127.0.0.1:9",
        Some(&function_dir.join("cache")),
    );
    let (status, again) = http_answer(
        &runtime
            .invoke(api_gateway_event(
                "POST",
                "/v1/predict",
                Some(&token),
                Some(&body(&requests[0])),
            ))
            .await,
    );
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["version"], version.version);
    let value = again["prediction"].as_f64().unwrap();
    assert!((value - expected[0]).abs() / expected[0].abs().max(1.0) <= tolerance);
    bundled.kill().unwrap();
    bundled.wait().unwrap();
    assert!(runtime.state.init_errors.lock().unwrap().is_empty());
}
