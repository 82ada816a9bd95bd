//! Prediction events leave for the monitor in batches, off the request path, with retries; what
//! cannot be delivered is counted. The monitor is a local receiver here (it does not exist yet).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use common::*;
use serde_json::{Value, json};
use velocast_gateway::config::EventsSettings;
use velocast_gateway::events::EventBatch;

#[derive(Clone, Default)]
struct Receiver {
    batches: Arc<Mutex<Vec<EventBatch>>>,
    /// Answer 500 to this many posts first.
    fail_first: Arc<AtomicUsize>,
    posts: Arc<AtomicUsize>,
}

async fn receive(State(receiver): State<Receiver>, Json(batch): Json<EventBatch>) -> StatusCode {
    receiver.posts.fetch_add(1, Ordering::SeqCst);
    if receiver
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    receiver.batches.lock().unwrap().push(batch);
    StatusCode::ACCEPTED
}

async fn start_receiver(fail_first: usize) -> (String, Receiver) {
    let receiver = Receiver::default();
    receiver.fail_first.store(fail_first, Ordering::SeqCst);
    let app = axum::Router::new()
        .route("/v1/events", axum::routing::post(receive))
        .with_state(receiver.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/v1/events", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, receiver)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_answered_row_reaches_the_receiver_in_batches_despite_failures() {
    let (url, receiver) = start_receiver(2).await;
    let stack = Stack::champion(&trained()[0], |config| {
        config.events = Some(EventsSettings {
            url: url.clone(),
            batch: 50,
            flush_interval_ms: 50,
            max_retries: 5,
            ..EventsSettings::default()
        });
    })
    .await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let mut answers = Vec::new();
    for _ in 0..20 {
        let response = predict(&http, gateway, &hour()).await;
        answers.push(response.json::<Value>().await.unwrap());
    }
    let batch = json!({ "instances": vec![hour(); 30] });
    let response = predict(&http, gateway, &batch).await;
    let batch_answer: Value = response.json().await.unwrap();
    eventually(Duration::from_secs(20), "50 events delivered", || async {
        receiver
            .batches
            .lock()
            .unwrap()
            .iter()
            .map(|b| b.events.len())
            .sum::<usize>()
            == 50
    })
    .await;
    let events: Vec<_> = receiver
        .batches
        .lock()
        .unwrap()
        .iter()
        .flat_map(|b| b.events.clone())
        .collect();
    // Each single answer has its event: same request id, version, arm and prediction.
    for answer in &answers {
        let event = events
            .iter()
            .find(|e| e.request_id == answer["request_id"].as_str().unwrap())
            .unwrap();
        assert_eq!(event.version, stack.version.version);
        assert_eq!(
            (event.route.as_str(), event.arm.as_str()),
            ("default", "champion")
        );
        assert!((event.prediction - answer["prediction"].as_f64().unwrap()).abs() < 1e-9);
        assert_eq!(event.features.len(), 15);
        assert_eq!(event.request.as_ref().unwrap().humidity_pct, 60.0);
    }
    let rows_of_batch = events
        .iter()
        .filter(|e| e.request_id == batch_answer["request_id"].as_str().unwrap())
        .count();
    assert_eq!(rows_of_batch, 30);
    // Two refused posts were retried; nothing was dropped.
    assert!(receiver.posts.load(Ordering::SeqCst) >= 3);
    let metrics = metrics(&http, gateway).await;
    assert_eq!(metric(&metrics, "velocast_gateway_events_sent_total"), 50.0);
    assert_eq!(
        metric(&metrics, "velocast_gateway_events_dropped_total"),
        0.0
    );
    stack.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_receiver_away_predictions_still_answer_and_every_lost_event_is_counted() {
    // A port nobody listens on.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/events", unused.local_addr().unwrap());
    drop(unused);
    let stack = Stack::champion(&trained()[0], |config| {
        config.events = Some(EventsSettings {
            url,
            buffer: 4,
            batch: 2,
            flush_interval_ms: 10,
            max_retries: 1,
            timeout_ms: 200,
        });
    })
    .await;
    let gateway = &stack.gateway;
    let http = reqwest::Client::new();
    let batch = json!({ "instances": vec![hour(); 40] });
    for _ in 0..5 {
        let response = predict(&http, gateway, &batch).await;
        assert_eq!(response.status(), 200);
    }
    // 200 rows answered: each event is either dropped at the full buffer or undeliverable.
    eventually(
        Duration::from_secs(20),
        "every event accounted for",
        || async {
            let text = metrics(&http, gateway).await;
            let full = metric(
                &text,
                "velocast_gateway_events_dropped_total{reason=\"buffer_full\"}",
            );
            let lost = metric(
                &text,
                "velocast_gateway_events_dropped_total{reason=\"undeliverable\"}",
            );
            full > 0.0 && lost > 0.0 && full + lost == 200.0
        },
    )
    .await;
    assert_eq!(
        metric(
            &metrics(&http, gateway).await,
            "velocast_gateway_events_sent_total"
        ),
        0.0
    );
    stack.stop().await;
}
