//! Ingest as clients see it, on SQLite and on Postgres: each malformed event or outcome is named
//! (index, field, rule) in a 422 while the rest of its batch is stored; a retried batch stores
//! nothing twice; outcomes by request row win over outcomes by hour; bad bodies are clear 4xx.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use serde_json::{Value, json};
use tokio::sync::oneshot;
use velocast_auth::{Minter, Scope};
use velocast_config::Redacted;
use velocast_features::FEATURE_COUNT;
use velocast_monitor::MonitorConfig;

const SECRET: &str = "monitor-test-secret-monitor-test-secret";

fn token(scopes: &[&str]) -> String {
    let minter = Minter::hs256(&SecretString::from(SECRET), "velocast", "velocast").unwrap();
    let scopes: Vec<Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    minter
        .mint_at(
            "tester",
            &scopes,
            Duration::from_secs(900),
            SystemTime::now(),
        )
        .unwrap()
}

struct Monitor {
    base: String,
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

async fn start(database_url: String, dir: &std::path::Path) -> Monitor {
    let token_file = dir.join("registry.token");
    std::fs::write(&token_file, token(&[Scope::MODELS_READ])).unwrap();
    let mut config = MonitorConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: Redacted::new(database_url),
        // Ingest never asks the registry; nothing listens here.
        registry_url: "http://127.0.0.1:9".to_owned(),
        registry_token_file: Some(token_file),
        max_batch: 50,
        ..MonitorConfig::default()
    };
    config.auth.jwt_secret = Some(Redacted::new(SECRET));
    let app = velocast_monitor::build(&config).await.unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    Monitor { base, stop, task }
}

fn event(request_id: &str, row: u32, hour: &str, prediction: f64) -> Value {
    json!({
        "request_id": request_id, "row": row, "at_ms": 1_764_000_000_000_i64, "route": "default",
        "arm": "champion", "model": "bike-demand", "version": 1,
        "request": {"timestamp": hour, "weather": 1, "temperature_c": 18.0, "feels_like_c": 18.0,
                    "humidity_pct": 60.0, "wind_speed_kmh": 10.0, "holiday": false},
        "features": vec![0.5_f32; FEATURE_COUNT], "prediction": prediction
    })
}

async fn post(http: &reqwest::Client, url: String, token: &str, body: String) -> (u16, Value) {
    let response = http
        .post(url)
        .bearer_auth(token)
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

async fn exercise(database_url: String) {
    let dir = tempfile::tempdir().unwrap();
    let monitor = start(database_url, dir.path()).await;
    let http = reqwest::Client::new();
    let writer = token(&[Scope::MONITOR_WRITE]);
    let reader = token(&[Scope::MONITOR_READ]);
    let events_url = format!("{}/v1/events", monitor.base);

    let mut short = event("r-4", 0, "2012-09-01T08:00:00", 1.0);
    short["features"] = json!(vec![0.5_f32; FEATURE_COUNT - 1]);
    let mut version_zero = event("r-5", 0, "2012-09-01T08:00:00", 1.0);
    version_zero["version"] = json!(0);
    let mut unknown = event("r-6", 0, "2012-09-01T08:00:00", 1.0);
    unknown["colour"] = json!("red");
    let mut text = event("r-7", 0, "2012-09-01T08:00:00", 1.0);
    text["features"][2] = json!("warm");
    let mut humid = event("r-8", 0, "2012-09-01T08:00:00", 1.0);
    humid["request"]["humidity_pct"] = json!(140.0);
    let batch = json!({"events": [
        event("r-1", 0, "2012-09-01T08:00:00", 100.0),
        event("r-1", 1, "2012-09-01T09:00:00", 200.0),
        event("r-2", 0, "2012-09-01T08:00:00", 120.0),
        short, version_zero, unknown, text, humid,
    ]})
    .to_string();
    let (status, report) = post(&http, events_url.clone(), &writer, batch.clone()).await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["accepted"], 3, "{report}");
    let refused: Vec<(u64, String)> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["index"].as_u64().unwrap(),
                r["field"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        refused,
        [
            (3, "events[3].features".to_owned()),
            (4, "events[4].version".to_owned()),
            (5, "events[5].colour".to_owned()),
            (6, "events[6].features[2]".to_owned()),
            (7, "events[7].request.humidity_pct".to_owned()),
        ],
        "{report}"
    );
    assert!(
        report["rejected"][2]["error"]
            .as_str()
            .unwrap()
            .contains("colour")
    );
    assert!(
        report["rejected"][4]["error"]
            .as_str()
            .unwrap()
            .contains("100"),
        "{report}"
    );

    // The gateway retries a batch it did not see acknowledged: nothing is stored twice.
    let (status, again) = post(&http, events_url.clone(), &writer, batch).await;
    assert_eq!(status, 422);
    assert_eq!(
        (again["accepted"].as_u64(), again["duplicates"].as_u64()),
        (Some(0), Some(3))
    );

    // Outcomes: by hour, by request row; each malformed one named.
    let outcomes = json!({"outcomes": [
        {"hour": "2012-09-01T08:00:00", "actual": 110.0},
        {"hour": "2012-09-01T09:00", "actual": 190.0},
        {"request_id": "r-2", "actual": 150.0},
        {"hour": "2012-09-01T10:00:00", "request_id": "r-1", "actual": 1.0},
        {"hour": "2012-09-01T11:00:00", "actual": -3.0},
        {"hour": "yesterday", "actual": 3.0},
        {"actual": 3.0},
    ]})
    .to_string();
    let outcomes_url = format!("{}/v1/outcomes", monitor.base);
    let (status, report) = post(&http, outcomes_url.clone(), &writer, outcomes.clone()).await;
    assert_eq!(status, 422, "{report}");
    assert_eq!(report["accepted"], 3, "{report}");
    let fields: Vec<&str> = report["rejected"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        [
            "outcomes[3]",
            "outcomes[4].actual",
            "outcomes[5].hour",
            "outcomes[6]"
        ]
    );
    let (_, again) = post(&http, outcomes_url.clone(), &writer, outcomes).await;
    assert_eq!(again["duplicates"], 3);

    // Realized accuracy of September 1st's predicted hours: r-2's own count (150) wins over
    // its hour's (110). Errors: |100 − 110|, |200 − 190|, |120 − 150|.
    let september = "by=predicted&from=2012-09-01T00:00:00Z&to=2012-09-02T00:00:00Z";
    let accuracy: Value = http
        .get(format!("{}/v1/accuracy?{september}", monitor.base))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accuracy["scored"], 3, "{accuracy}");
    let mae = accuracy["groups"][0]["mae"].as_f64().unwrap();
    assert!((mae - 50.0 / 3.0).abs() < 1e-12, "{accuracy}");
    // The registry is away: accuracy still answers, and says why the degradation is missing.
    let group = &accuracy["groups"][0];
    assert!(group["degradation"].is_null());
    assert!(
        group["holdout_unavailable"]
            .as_str()
            .unwrap()
            .contains("registry"),
        "{group}"
    );

    // Bodies that are not batches, and batches over the limit.
    for (body, status, field) in [
        ("{\"events\": [", 400, "body"),
        ("[1, 2]", 400, "body"),
        ("{\"events\": 3}", 400, "events"),
        ("{\"events\": [], \"extra\": 1}", 400, "extra"),
    ] {
        let (got, error) = post(&http, events_url.clone(), &writer, body.to_owned()).await;
        assert_eq!(got, status, "{body}: {error}");
        assert_eq!(error["field"], field, "{body}: {error}");
    }
    let many = json!({"events": vec![event("x", 0, "2012-09-01T08:00:00", 1.0); 51]}).to_string();
    let (status, error) = post(&http, events_url.clone(), &writer, many).await;
    assert_eq!((status, error["field"].as_str()), (413, Some("events")));

    // A report on a window without events is a clear 404, not an empty verdict.
    let empty = http
        .get(format!(
            "{}/v1/drift?by=predicted&from=2030-01-01T00:00:00Z&to=2030-01-02T00:00:00Z",
            monitor.base
        ))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(empty.status(), 404);
    let bad_time = http
        .get(format!("{}/v1/drift?from=yesterday", monitor.base))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(bad_time.status(), 400);
    let error: Value = bad_time.json().await.unwrap();
    assert_eq!(error["field"], "from");

    // Counted for operators.
    let metrics = http
        .get(format!("{}/metrics", monitor.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for expected in [
        "velocast_monitor_ingested_total{kind=\"event\",outcome=\"stored\"} 3",
        "velocast_monitor_ingested_total{kind=\"event\",outcome=\"duplicate\"} 3",
        "velocast_monitor_ingested_total{kind=\"event\",outcome=\"rejected\"} 10",
    ] {
        assert!(metrics.contains(expected), "{expected}");
    }

    let _ = monitor.stop.send(());
    monitor.task.await.unwrap().unwrap();
}

#[tokio::test]
async fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    exercise(format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("monitor.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres() {
    let admin = velocast_registry_store::testing::postgres_admin_url();
    let (database, url) = velocast_registry_store::testing::create_database(&admin)
        .await
        .unwrap();
    exercise(url).await;
    velocast_registry_store::testing::drop_database(&admin, &database).await;
}
