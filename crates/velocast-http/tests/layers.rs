//! The standard layer stack on a real server: a handler that overruns the timeout is answered
//! 503 + `Retry-After` in the one error body and counted; requests past the concurrency limit
//! are shed (503, counted) while health and metrics still answer; nothing is left in flight.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::get;
use secrecy::SecretString;
use tokio::sync::Notify;
use velocast_auth::Verifier;
use velocast_http::auth::AuthConfig;
use velocast_http::layers::{self, StandardLayers};
use velocast_http::metrics::{self, HttpMetrics};

const SECRET: &str = "a-development-secret-of-at-least-32-bytes";

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

fn standard(metrics: &HttpMetrics, timeout: Duration) -> StandardLayers {
    let verifier = Verifier::hs256(&SecretString::from(SECRET), "velocast", "velocast").unwrap();
    StandardLayers {
        metrics: metrics.clone(),
        auth: AuthConfig {
            verifier: Arc::new(verifier),
            public_paths: Arc::from(["/slow", "/held", "/live", "/metrics"].as_slice()),
            public_prefixes: Arc::from([].as_slice()),
            jwks: None,
        },
        request_timeout: timeout,
    }
}

fn metric(text: &str, prefix: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no `{prefix}` in:\n{text}"))
}

async fn scrape(http: &reqwest::Client, base: &str) -> String {
    http.get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overrun_is_a_counted_503_with_retry_after_in_the_error_body() {
    let metrics = HttpMetrics::new().unwrap();
    let router = Router::new()
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                "too late"
            }),
        )
        .route("/metrics", get(metrics::exposition))
        .with_state(metrics.clone());
    let base = serve(layers::apply(
        router,
        standard(&metrics, Duration::from_millis(100)),
    ))
    .await;
    let http = reqwest::Client::new();
    let response = http.get(format!("{base}/slow")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_type"], "timeout");
    let text = scrape(&http, &base).await;
    assert_eq!(
        metric(
            &text,
            "velocast_http_request_timeouts_total{method=\"GET\",route=\"/slow\"} "
        ),
        1.0
    );
    assert_eq!(metric(&text, "velocast_http_requests_in_flight "), 0.0);
}

/// `entered` fires when the held request is inside its handler; `release` lets it finish.
#[derive(Clone)]
struct Gate {
    entered: Arc<Notify>,
    release: Arc<Notify>,
}

async fn held(State(gate): State<Gate>) -> &'static str {
    gate.entered.notify_one();
    gate.release.notified().await;
    "done"
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_the_limit_requests_are_shed_but_health_and_metrics_answer() {
    let metrics = HttpMetrics::new().unwrap();
    let gate = Gate {
        entered: Arc::new(Notify::new()),
        release: Arc::new(Notify::new()),
    };
    let api = Router::new()
        .route("/held", get(held))
        .with_state(gate.clone());
    let router = Router::new()
        .merge(layers::shed_load(api, 1, metrics.clone()))
        .route("/live", get(|| async { "live" }))
        .route(
            "/metrics",
            get(metrics::exposition).with_state(metrics.clone()),
        );
    let base = serve(layers::apply(
        router,
        standard(&metrics, Duration::from_secs(30)),
    ))
    .await;
    let http = reqwest::Client::new();
    let first = tokio::spawn({
        let (http, url) = (http.clone(), format!("{base}/held"));
        async move { http.get(url).send().await.unwrap().status() }
    });
    gate.entered.notified().await;
    // The one slot is taken: the next API request is refused at once, not queued.
    let shed = http.get(format!("{base}/held")).send().await.unwrap();
    assert_eq!(shed.status(), 503);
    assert_eq!(shed.headers()["retry-after"], "1");
    let body: serde_json::Value = shed.json().await.unwrap();
    assert_eq!(body["error_type"], "overloaded");
    // Health and metrics are not behind the limit.
    let live = http.get(format!("{base}/live")).send().await.unwrap();
    assert_eq!(live.status(), 200);
    let text = scrape(&http, &base).await;
    assert_eq!(metric(&text, "velocast_http_requests_in_flight "), 1.0);
    gate.release.notify_one();
    assert_eq!(first.await.unwrap(), 200);
    let text = scrape(&http, &base).await;
    assert_eq!(
        metric(
            &text,
            "velocast_http_requests_shed_total{method=\"GET\",route=\"/held\"} "
        ),
        1.0
    );
    assert_eq!(metric(&text, "velocast_http_requests_in_flight "), 0.0);
}
