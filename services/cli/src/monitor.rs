//! `velocast replay`: hours of `hour.csv` asked of the gateway as a client would ask them, then
//! their true counts posted to the monitor as a counting system would post them (a backfill, and
//! `make demo`'s September). `velocast monitor`: a window's drift verdict and realized accuracy
//! from the monitor, and its HTML drift report saved.
//!
//! The token comes from `VELOCAST_TOKEN` or `VELOCAST_TOKEN_FILE`: replay needs `predict` and
//! `monitor:write` (and `monitor:read` to wait for the events), the report `monitor:read`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use std::collections::BTreeMap;

use chrono::NaiveDate;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};
use velocast_monitor_api::IngestReport;
use velocast_registry_client::token_from_env;

/// The parts of the monitor's answers printed here (read strictly: a missing field is an
/// error, not a blank).
#[derive(Deserialize)]
struct Held {
    scored: u64,
    unscored: u64,
}

#[derive(Deserialize)]
struct DriftAnswer {
    model: String,
    version: u32,
    from: String,
    to: String,
    current_rows: usize,
    reference_rows: usize,
    report: DriftBody,
}

#[derive(Deserialize)]
struct DriftBody {
    dataset_drift: bool,
    number_of_drifted_columns: usize,
    number_of_columns: usize,
    drift_by_columns: BTreeMap<String, ColumnVerdict>,
}

#[derive(Deserialize)]
struct ColumnVerdict {
    drift_detected: bool,
}

#[derive(Deserialize)]
struct AccuracyAnswer {
    scored: u64,
    groups: Vec<Group>,
}

#[derive(Deserialize)]
struct Group {
    version: u32,
    arm: String,
    n: usize,
    mae: f64,
    rmse: f64,
    rmsle: f64,
    holdout_mae: Option<f64>,
    degradation: Option<f64>,
}

#[derive(Deserialize)]
struct Predictions {
    predictions: Vec<f64>,
}

#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// `hour.csv` (or a file of its columns).
    #[arg(long)]
    data: PathBuf,
    /// First day replayed (inclusive), e.g. 2012-09-01.
    #[arg(long)]
    from: NaiveDate,
    /// Day after the last one replayed (exclusive), e.g. 2012-10-01.
    #[arg(long)]
    to: NaiveDate,
    #[arg(
        long,
        env = "VELOCAST_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    gateway: String,
    #[arg(
        long,
        env = "VELOCAST_MONITOR_URL",
        default_value = "http://127.0.0.1:8082"
    )]
    monitor: String,
    /// Hours per request to the gateway.
    #[arg(long, default_value_t = 48, value_parser = clap::value_parser!(u16).range(1..=1024))]
    batch: u16,
}

#[derive(Debug, clap::Args)]
pub struct MonitorArgs {
    #[arg(
        long,
        env = "VELOCAST_MONITOR_URL",
        default_value = "http://127.0.0.1:8082"
    )]
    monitor: String,
    /// Window start, RFC 3339 (`2012-09-01T00:00:00Z`).
    #[arg(long)]
    from: String,
    /// Window end (exclusive).
    #[arg(long)]
    to: String,
    /// `predicted` (the times are predicted hours) or `answered` (when the gateway answered).
    #[arg(long, default_value = "predicted", value_parser = ["predicted", "answered"])]
    by: String,
    /// Compare with the training rows at the window's hours of the week only.
    #[arg(long)]
    seasonal: bool,
    /// Save the HTML drift report here.
    #[arg(long)]
    html: Option<PathBuf>,
}

fn token() -> Result<SecretString, String> {
    token_from_env().map_err(|e| e.to_string())
}

fn runtime() -> Result<tokio::runtime::Runtime, String> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))
}

fn exit(outcome: Result<(), String>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Sends a request and reads its JSON answer as `T`, or the answer's error as text.
async fn send<T: DeserializeOwned>(
    request: reqwest::RequestBuilder,
    what: &str,
) -> Result<T, String> {
    let response = request.send().await.map_err(|e| format!("{what}: {e}"))?;
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|e| format!("{what}: answered {status} without JSON ({e})"))?;
    if !status.is_success() {
        return Err(format!("{what}: {status}: {body}"));
    }
    serde_json::from_value(body)
        .map_err(|e| format!("{what}: an answer this command cannot read: {e}"))
}

pub fn replay(args: &ReplayArgs) -> ExitCode {
    exit(runtime().and_then(|runtime| runtime.block_on(replay_async(args))))
}

async fn replay_async(args: &ReplayArgs) -> Result<(), String> {
    let token = token()?;
    let dataset = velocast_dataset::load(&args.data).map_err(|e| e.to_string())?;
    let hours: Vec<_> = dataset
        .records
        .iter()
        .filter(|r| r.date >= args.from && r.date < args.to)
        .filter_map(|r| Some((r.to_request()?, r.cnt?)))
        .collect();
    if hours.is_empty() {
        return Err(format!(
            "{}: no complete hours from {} to {}",
            args.data.display(),
            args.from,
            args.to
        ));
    }
    let http = reqwest::Client::new();
    let bearer = token.expose_secret();
    let mut absolute_error = 0.0;
    for chunk in hours.chunks(usize::from(args.batch)) {
        let instances: Vec<&velocast_features::DemandRequest> =
            chunk.iter().map(|(r, _)| r).collect();
        let answer: Predictions = send(
            http.post(format!("{}/v1/predict", args.gateway))
                .bearer_auth(bearer)
                .json(&json!({ "instances": instances })),
            "the gateway",
        )
        .await?;
        if answer.predictions.len() != chunk.len() {
            return Err(format!(
                "the gateway answered {} predictions for {} hours",
                answer.predictions.len(),
                chunk.len()
            ));
        }
        for (prediction, (_, actual)) in answer.predictions.iter().zip(chunk) {
            absolute_error += (prediction - *actual as f64).abs();
        }
    }
    println!(
        "asked the gateway for {} hours ({} to {}); MAE of its answers: {:.2}",
        hours.len(),
        args.from,
        args.to,
        absolute_error / hours.len() as f64
    );
    // The gateway sends its events in the background: wait until the monitor holds them all.
    let window = format!(
        "by=predicted&from={}T00:00:00Z&to={}T00:00:00Z",
        args.from, args.to
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let held: Held = send(
            http.get(format!("{}/v1/accuracy?{window}", args.monitor))
                .bearer_auth(bearer),
            "the monitor",
        )
        .await?;
        let held = held.scored + held.unscored;
        if held >= hours.len() as u64 {
            break;
        }
        if Instant::now() > deadline {
            return Err(format!(
                "the monitor holds {held} of the {} events after 60 s: is the gateway sending them (its [events] url)?",
                hours.len()
            ));
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let outcomes: Vec<Value> = hours
        .iter()
        .map(|(request, actual)| {
            json!({"hour": request.timestamp.format("%Y-%m-%dT%H:%M:%S").to_string(), "actual": actual})
        })
        .collect();
    let report: IngestReport = send(
        http.post(format!("{}/v1/outcomes", args.monitor))
            .bearer_auth(bearer)
            .json(&json!({ "outcomes": outcomes })),
        "the monitor",
    )
    .await?;
    println!(
        "posted {} true counts to the monitor ({} new, {} already held)",
        outcomes.len(),
        report.accepted,
        report.duplicates
    );
    Ok(())
}

pub fn report(args: &MonitorArgs) -> ExitCode {
    exit(runtime().and_then(|runtime| runtime.block_on(report_async(args))))
}

async fn report_async(args: &MonitorArgs) -> Result<(), String> {
    let token = token()?;
    let http = reqwest::Client::new();
    let bearer = token.expose_secret();
    let query = [
        ("by", args.by.as_str()),
        ("from", args.from.as_str()),
        ("to", args.to.as_str()),
        ("seasonal", if args.seasonal { "true" } else { "false" }),
    ];
    let drift: DriftAnswer = send(
        http.get(format!("{}/v1/drift", args.monitor))
            .query(&query)
            .bearer_auth(bearer),
        "the monitor's drift report",
    )
    .await?;
    println!(
        "{} v{}, {} to {}: {} events against {} training rows{}",
        drift.model,
        drift.version,
        drift.from,
        drift.to,
        drift.current_rows,
        drift.reference_rows,
        if args.seasonal {
            " at the same hours of the week"
        } else {
            ""
        }
    );
    let report = &drift.report;
    let drifted: Vec<&str> = report
        .drift_by_columns
        .iter()
        .filter(|(_, c)| c.drift_detected)
        .map(|(name, _)| name.as_str())
        .collect();
    println!(
        "drift: {} ({} of {} features drifted: {})",
        if report.dataset_drift {
            "dataset drift detected"
        } else {
            "no dataset drift"
        },
        report.number_of_drifted_columns,
        report.number_of_columns,
        drifted.join(", ")
    );
    let accuracy: AccuracyAnswer = send(
        http.get(format!("{}/v1/accuracy", args.monitor))
            .query(&query[..3])
            .bearer_auth(bearer),
        "the monitor's accuracy report",
    )
    .await?;
    for group in &accuracy.groups {
        let against_card = match (group.holdout_mae, group.degradation) {
            (Some(holdout), Some(ratio)) => format!("; holdout MAE {holdout:.2}, ratio {ratio:.2}"),
            _ => String::new(),
        };
        println!(
            "realized MAE {:.2} (RMSE {:.2}, RMSLE {:.4}) over {} scored hours, v{} arm {}{against_card}",
            group.mae, group.rmse, group.rmsle, group.n, group.version, group.arm
        );
    }
    if accuracy.scored == 0 {
        println!("realized accuracy: no outcomes yet for this window");
    }
    if let Some(path) = &args.html {
        let page = http
            .get(format!("{}/v1/drift/report", args.monitor))
            .query(&query)
            .bearer_auth(bearer)
            .send()
            .await
            .map_err(|e| format!("the monitor's drift page: {e}"))?;
        if !page.status().is_success() {
            return Err(format!("the monitor's drift page: {}", page.status()));
        }
        let bytes = page
            .bytes()
            .await
            .map_err(|e| format!("the monitor's drift page: {e}"))?;
        std::fs::write(path, &bytes).map_err(|e| format!("{}: {e}", path.display()))?;
        println!("drift report: {}", path.display());
    }
    Ok(())
}
