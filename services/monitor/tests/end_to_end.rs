//! The gateway and the monitor together, as in production: a real registry holding a trained
//! model and its reference profile, the gateway serving it and sending its prediction events to
//! a real monitor over HTTP; September 2012's hours asked for, then their true counts posted.
//! The monitor's realized MAE must equal the one computed here from the gateway's own answers,
//! and its drift report must be the one `velocast-drift-report` makes of the same rows.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../gateway/tests/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use chrono::Datelike;
use common::{MODEL, SECRET, token};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Mutex;
use tokio::sync::oneshot;
use velocast_auth::Scope;
use velocast_config::Redacted;
use velocast_features::DemandRequest;
use velocast_monitor::MonitorConfig;
use velocast_registry_client::Upload;

/// A monitor serving in a background task.
struct Monitor {
    base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Monitor {
    async fn start(config: &MonitorConfig) -> Monitor {
        let app = velocast_monitor::build(config).await.unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Monitor {
            base,
            stop: Some(stop),
            task,
        }
    }

    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// Webhook calls as received: signature header and body. The first call is answered 500, so
/// the monitor's retry is exercised.
/// A webhook call: its signature header and body.
type Call = (String, Vec<u8>);

#[derive(Clone, Default)]
struct Hooks {
    calls: Arc<Mutex<Vec<Call>>>,
}

async fn hook(State(hooks): State<Hooks>, headers: HeaderMap, body: Bytes) -> StatusCode {
    let mut calls = hooks.calls.lock().await;
    let signature = headers
        .get("x-velocast-signature")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    calls.push((signature, body.to_vec()));
    if calls.len() == 1 {
        StatusCode::INTERNAL_SERVER_ERROR
    } else {
        StatusCode::OK
    }
}

async fn webhook_receiver() -> (String, Hooks) {
    let hooks = Hooks::default();
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(hook))
        .with_state(hooks.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, hooks)
}

/// A minimal SMTP server (the external boundary): every message it is given, as text.
async fn smtp_server() -> (u16, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let messages = Arc::new(Mutex::new(Vec::new()));
    let store = messages.clone();
    tokio::spawn(async move {
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            let store = store.clone();
            tokio::spawn(async move {
                let (read, mut write) = socket.into_split();
                let mut lines = BufReader::new(read).lines();
                write.write_all(b"220 test ESMTP\r\n").await.unwrap();
                let (mut in_data, mut message) = (false, String::new());
                while let Ok(Some(line)) = lines.next_line().await {
                    if in_data {
                        if line == "." {
                            in_data = false;
                            store.lock().await.push(std::mem::take(&mut message));
                            write.write_all(b"250 queued\r\n").await.unwrap();
                        } else {
                            message.push_str(&line);
                            message.push('\n');
                        }
                        continue;
                    }
                    let verb = line
                        .split_whitespace()
                        .next()
                        .unwrap_or("")
                        .to_ascii_uppercase();
                    let reply: &[u8] = match verb.as_str() {
                        "EHLO" => b"250-test\r\n250 OK\r\n",
                        "HELO" | "MAIL" | "RCPT" | "RSET" | "NOOP" => b"250 OK\r\n",
                        "DATA" => {
                            in_data = true;
                            b"354 end with a dot\r\n"
                        }
                        "QUIT" => {
                            write.write_all(b"221 bye\r\n").await.unwrap();
                            break;
                        }
                        _ => b"502 not implemented\r\n",
                    };
                    write.write_all(reply).await.unwrap();
                }
            });
        }
    });
    (port, messages)
}

/// Serves `html` with `policy` as its Content-Security-Policy from a local server (Chromium
/// cannot send the monitor a bearer token), opens it in Debian's headless Chromium, and returns
/// the rendered DOM and every console line Chromium logged.
async fn render_under_policy(html: String, policy: String) -> (String, Vec<String>) {
    let app = axum::Router::new().route(
        "/report",
        axum::routing::get(move || {
            let (html, policy) = (html.clone(), policy.clone());
            async move {
                (
                    [
                        ("content-type", "text/html; charset=utf-8".to_owned()),
                        ("content-security-policy", policy),
                    ],
                    html,
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/report", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    // A blocking child process, off the async workers that serve the page.
    let output = tokio::task::spawn_blocking(move || {
        std::process::Command::new("chromium")
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--enable-logging=stderr",
                "--v=0",
                "--dump-dom",
                &url,
            ])
            .output()
    })
    .await
    .unwrap()
    .unwrap_or_else(|e| panic!("chromium: {e} (run `make setup` to install it)"));
    let console = String::from_utf8_lossy(&output.stderr)
        .lines()
        .filter(|line| line.contains(":CONSOLE"))
        .map(str::to_owned)
        .collect();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        console,
    )
}

const WEBHOOK_SECRET: &str = "webhook-secret-webhook-secret-webhook-secret";

fn monitor_config(dir: &std::path::Path, registry: &str) -> MonitorConfig {
    let token_file = dir.join("monitor.token");
    std::fs::write(&token_file, token("monitor", &[Scope::MODELS_READ])).unwrap();
    let mut config = MonitorConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: Redacted::new(format!(
            "sqlite://{}?mode=rwc",
            dir.join("monitor.db").display()
        )),
        registry_url: registry.to_owned(),
        registry_token_file: Some(token_file),
        ..MonitorConfig::default()
    };
    config.auth.jwt_secret = Some(Redacted::new(SECRET));
    config
}

/// September 2012's hours and their true counts, from hour.csv.
fn september() -> Vec<(DemandRequest, f64)> {
    let dataset = velocast_dataset::load(&common::hour_csv()).unwrap();
    dataset
        .records
        .iter()
        .filter(|r| r.timestamp().year() == 2012 && r.timestamp().month() == 9)
        .map(|r| (r.to_request().unwrap(), r.cnt.unwrap() as f64))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realized_mae_and_drift_of_september_2012_through_gateway_and_monitor() {
    let trained = &common::trained()[0];
    let dir = tempfile::tempdir().unwrap();
    let (registry, client) = common::registry(dir.path()).await;
    // The trained version with its reference profile, as `velocast-trainer --register` uploads.
    let profile =
        std::fs::read(trained.dir.join(&trained.card.artifacts.reference_profile)).unwrap();
    let metadata = velocast_trainer::register::version_metadata(&trained.card, None).unwrap();
    client
        .ensure_model(&velocast_registry_api::CreateModel {
            name: MODEL.to_owned(),
            description: "test".to_owned(),
            tags: Default::default(),
        })
        .await
        .unwrap();
    let version = client
        .upload_version(
            MODEL,
            metadata,
            Upload {
                artifact: &trained.onnx,
                profile: Some(&profile),
            },
        )
        .await
        .unwrap();
    client
        .set_alias(MODEL, "champion", version.version, "test")
        .await
        .unwrap();

    let (webhook, hooks) = webhook_receiver().await;
    let (smtp_port, mails) = smtp_server().await;
    let mut config = monitor_config(dir.path(), &registry.base);
    config.alerts = toml::from_str(&format!(
        r#"
        cooldown_seconds = 3600
        [[rules]]
        name = "month-drift"
        when = {{ kind = "feature_drift", column = "mnth" }}
        severity = "critical"
        [[rules]]
        name = "refusals"
        when = {{ kind = "quality", metric = "rejected_share", above = 0.5 }}
        [webhook]
        url = "{webhook}"
        secret = "{WEBHOOK_SECRET}"
        max_retries = 2
        [email]
        smtp_host = "127.0.0.1"
        smtp_port = {smtp_port}
        security = "none"
        from = "Velocast monitor <monitor@velocast.test>"
        to = ["ops@velocast.test"]
        "#
    ))
    .unwrap();
    config.check().unwrap();
    let monitor = Monitor::start(&config).await;
    let mut gateway_config = common::config(
        &registry.base,
        &dir.path().join("cache"),
        common::CHAMPION_ROUTE,
    );
    gateway_config.events = Some(velocast_gateway::config::EventsSettings {
        url: format!("{}/v1/events", monitor.base),
        flush_interval_ms: 50,
        ..Default::default()
    });
    let gateway = common::Gateway::start(&gateway_config, None).await;
    gateway.ready().await;

    // September's hours through the gateway, in batches as a planner would ask.
    let hours = september();
    assert_eq!(hours.len(), 720);
    let http = reqwest::Client::new();
    let predictor = common::predictor();
    let mut answered: Vec<(f64, f64)> = Vec::new();
    for chunk in hours.chunks(48) {
        let instances: Vec<serde_json::Value> =
            chunk.iter().map(|(r, _)| common::body(r)).collect();
        let response: serde_json::Value = http
            .post(format!("{}/v1/models/{MODEL}:predict", gateway.base))
            .bearer_auth(&predictor)
            .json(&serde_json::json!({ "instances": instances }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let predictions = response["predictions"].as_array().unwrap();
        assert_eq!(predictions.len(), chunk.len(), "{response}");
        for (prediction, (_, actual)) in predictions.iter().zip(chunk) {
            answered.push((prediction.as_f64().unwrap(), *actual));
        }
    }

    // The monitor holds every event once the gateway's batches arrive.
    let reader = token("ops", &[Scope::MONITOR_READ]);
    let september_window = "by=predicted&from=2012-09-01T00:00:00Z&to=2012-10-01T00:00:00Z";
    let get = |path: String| {
        let http = http.clone();
        let reader = reader.clone();
        async move {
            let response = http.get(path).bearer_auth(&reader).send().await.unwrap();
            let status = response.status();
            (status, response.json::<serde_json::Value>().await.unwrap())
        }
    };
    let accuracy_url = format!("{}/v1/accuracy?{september_window}", monitor.base);
    common::eventually(Duration::from_secs(30), "all 720 events", || {
        let url = accuracy_url.clone();
        async move {
            let (_, body) = get(url).await;
            body["unscored"] == 720
        }
    })
    .await;

    // The true counts of those hours, by hour, as a counting system would post them.
    let writer = token("counter", &[Scope::MONITOR_WRITE]);
    let outcomes: Vec<serde_json::Value> = hours
        .iter()
        .map(|(request, actual)| {
            serde_json::json!({"hour": request.timestamp.format("%Y-%m-%dT%H:%M:%S").to_string(),
                               "actual": actual})
        })
        .collect();
    let posted: serde_json::Value = http
        .post(format!("{}/v1/outcomes", monitor.base))
        .bearer_auth(&writer)
        .json(&serde_json::json!({ "outcomes": outcomes }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(posted["accepted"], 720, "{posted}");

    // Realized MAE: the monitor's against one computed here from the gateway's answers.
    let expected_mae =
        answered.iter().map(|(p, a)| (p - a).abs()).sum::<f64>() / answered.len() as f64;
    let (status, accuracy) = get(accuracy_url.clone()).await;
    assert_eq!(status, 200, "{accuracy}");
    assert_eq!(accuracy["scored"], 720, "{accuracy}");
    let group = &accuracy["groups"][0];
    assert_eq!(group["arm"], "champion");
    assert_eq!(group["version"], version.version);
    let mae = group["mae"].as_f64().unwrap();
    assert!(
        (mae - expected_mae).abs() <= 1e-9 * expected_mae,
        "monitor {mae} vs {expected_mae}"
    );
    let holdout_mae = version.metadata["metrics"]["holdout_mae"].as_f64().unwrap();
    assert!(
        (group["degradation"].as_f64().unwrap() - mae / holdout_mae).abs() < 1e-12,
        "{group}"
    );

    // Drift of September against the training profile: Evidently's verdict on the same rows.
    let (status, drift) = get(format!("{}/v1/drift?{september_window}", monitor.base)).await;
    assert_eq!(status, 200, "{drift}");
    assert_eq!(drift["current_rows"], 720);
    let report = &drift["report"];
    assert_eq!(report["number_of_columns"], 15, "{report}");
    let columns = report["drift_by_columns"].as_object().unwrap();
    // September is one month of the twenty in training: its month and days of the year drift
    // by construction.
    for calendar in ["mnth", "day_of_year"] {
        assert_eq!(columns[calendar]["drift_detected"], true, "{calendar}");
    }
    let drifted: usize = columns
        .values()
        .filter(|c| c["drift_detected"] == true)
        .count();
    assert_eq!(report["number_of_drifted_columns"], drifted);

    // One day, side by side: against all training rows its single weekday drifts by
    // construction; against the training rows at the same hours of the week it does not.
    let tuesday = "by=predicted&from=2012-09-04T00:00:00Z&to=2012-09-05T00:00:00Z";
    let (_, plain) = get(format!("{}/v1/drift?{tuesday}", monitor.base)).await;
    let (_, aligned) = get(format!("{}/v1/drift?{tuesday}&seasonal=true", monitor.base)).await;
    assert_eq!(plain["current_rows"], 24, "{plain}");
    assert_eq!(aligned["seasonal"], true);
    let full_rows = plain["reference_rows"].as_u64().unwrap();
    let aligned_rows = aligned["reference_rows"].as_u64().unwrap();
    assert!(
        aligned_rows * 5 < full_rows,
        "{aligned_rows} of {full_rows}"
    );
    let verdict = |report: &serde_json::Value, column: &str| {
        report["report"]["drift_by_columns"][column]["drift_detected"].clone()
    };
    assert_eq!(verdict(&plain, "weekday"), true);
    assert_eq!(verdict(&aligned, "weekday"), false);
    assert_eq!(verdict(&aligned, "hr"), false);

    // The same window as a page: no script, a policy that forbids any.
    let page = http
        .get(format!("{}/v1/drift/report?{tuesday}", monitor.base))
        .bearer_auth(&reader)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let policy = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        policy.starts_with("default-src 'none'; style-src 'sha256-"),
        "{policy}"
    );
    let html = page.text().await.unwrap();
    assert!(html.contains("weekday") && !html.contains("<script"));
    // Chromium renders it under that very policy without a console message (a style the
    // policy's hash did not allow would be one).
    let (dom, console) = render_under_policy(html, policy).await;
    assert!(console.is_empty(), "{console:?}");
    assert!(dom.contains("Data drift") && dom.contains("<svg"), "{dom}");

    // Reports need `monitor:read`; ingest needs `monitor:write`.
    let refused = http
        .get(format!("{}/v1/drift?{tuesday}", monitor.base))
        .bearer_auth(&writer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 403);
    let anonymous = http
        .post(format!("{}/v1/outcomes", monitor.base))
        .json(&serde_json::json!({"outcomes": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);

    // Alerts on September: the month drifts (critical), nothing was refused. Sent once to the
    // log, the webhook (signed; its first attempt failed and was retried) and by e-mail.
    let evaluate = || {
        http.post(format!(
            "{}/v1/alerts/evaluate?{september_window}",
            monitor.base
        ))
        .bearer_auth(&writer)
        .send()
    };
    let evaluation: serde_json::Value = evaluate().await.unwrap().json().await.unwrap();
    let sent = evaluation["sent"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{evaluation}");
    assert_eq!(sent[0]["rule"], "month-drift");
    assert_eq!(sent[0]["severity"], "critical");
    assert_eq!(sent[0]["details"]["column_name"], "mnth");
    let calls = hooks.calls.lock().await.clone();
    assert_eq!(calls.len(), 2, "one failed attempt, one retry");
    for (signature, body) in &calls {
        let expected =
            velocast_monitor::alerts::signature(WEBHOOK_SECRET.as_bytes(), body).unwrap();
        assert_eq!(signature, &expected);
        let alert: serde_json::Value = serde_json::from_slice(body).unwrap();
        assert_eq!(alert["rule"], "month-drift");
    }
    let delivered = mails.lock().await.clone();
    assert_eq!(delivered.len(), 1, "{delivered:?}");
    assert!(delivered[0].contains("month-drift"), "{}", delivered[0]);
    assert!(delivered[0].contains("ops@velocast.test"));
    // The same alert again within the cooldown: suppressed, nothing more sent.
    let again: serde_json::Value = evaluate().await.unwrap().json().await.unwrap();
    assert_eq!(again["sent"].as_array().unwrap().len(), 0, "{again}");
    assert_eq!(again["suppressed"].as_array().unwrap().len(), 1);
    assert_eq!(hooks.calls.lock().await.len(), 2);
    assert_eq!(mails.lock().await.len(), 1);

    // The gauges carry the last verdicts.
    let metrics = http
        .get(format!("{}/metrics", monitor.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let gauge = format!(
        "velocast_monitor_realized_mae{{arm=\"champion\",model=\"{MODEL}\",version=\"{}\"}}",
        version.version
    );
    let line = metrics
        .lines()
        .find(|l| l.starts_with(&gauge))
        .unwrap_or_else(|| panic!("{gauge} missing"));
    let gauged: f64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!((gauged - expected_mae).abs() <= 1e-9 * expected_mae);
    assert!(
        metrics.contains("velocast_monitor_ingested_total{kind=\"event\",outcome=\"stored\"} 720")
    );

    gateway.stop().await;
    monitor.stop().await;
    registry.stop().await.unwrap();
}
