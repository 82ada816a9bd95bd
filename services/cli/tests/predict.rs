//! `velocast predict` through the real binary against a real gateway and registry (both on
//! port 0). The model is a constant tree ensemble (it predicts 7 for every hour) whose card's
//! golden rows say so, so the gateway's full load gate runs on it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::{Command, Output};
use std::time::{Duration, SystemTime};

use secrecy::SecretString;
use serde_json::json;
use velocast_auth::{Minter, Scope};
use velocast_registry::testing::{Running, constant_model, sqlite_config};
use velocast_registry_api::CreateModel;
use velocast_registry_client::{RegistryClient, Upload};

const SECRET: &str = "cli-predict-secret-cli-predict-secret-000";

fn token(subject: &str, scopes: &[&str]) -> String {
    let minter = Minter::hs256(&SecretString::from(SECRET), "velocast", "velocast").unwrap();
    let scopes: Vec<Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    minter
        .mint_at(
            subject,
            &scopes,
            Duration::from_secs(600),
            SystemTime::now(),
        )
        .unwrap()
}

async fn velocast(args: &[&str], token: Option<String>) -> Output {
    let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let mut command = Command::new(env!("CARGO_BIN_EXE_velocast"));
        command
            .args(&args)
            .env_remove("VELOCAST_TOKEN_FILE")
            .env_remove("VELOCAST_GATEWAY_URL");
        match token {
            Some(token) => command.env("VELOCAST_TOKEN", token),
            None => command.env_remove("VELOCAST_TOKEN"),
        };
        command.output().unwrap()
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_asks_the_gateway_and_reports_refusals() {
    let dir = tempfile::tempdir().unwrap();
    let registry = Running::start(&sqlite_config(&dir.path().join("r.db"), SECRET))
        .await
        .unwrap();
    let admin = RegistryClient::new(
        &registry.base,
        SecretString::from(token(
            "admin",
            &["models:read", "models:write", "models:admin"],
        )),
    )
    .unwrap();
    admin
        .create_model(&CreateModel {
            name: "bike-demand".into(),
            description: String::new(),
            tags: Default::default(),
        })
        .await
        .unwrap();
    let (artifact, metadata) = constant_model(7);
    let version = admin
        .upload_version(
            "bike-demand",
            metadata,
            Upload {
                artifact: &artifact,
                profile: None,
            },
        )
        .await
        .unwrap();
    admin
        .set_alias("bike-demand", "champion", version.version, "test")
        .await
        .unwrap();

    let mut config = velocast_gateway::GatewayConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        registry_url: registry.base.clone(),
        cache_dir: dir.path().join("cache"),
        sessions: 1,
        ..Default::default()
    };
    config.onnxruntime_path = std::env::var_os("ORT_DYLIB_PATH")
        .map(Into::into)
        .or_else(|| {
            Some(
                std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                    .join("../../.velocast/lib/libonnxruntime.so"),
            )
        });
    config.auth.jwt_secret = Some(velocast_config::Redacted::new(SECRET));
    config.routes.insert(
        "default".into(),
        toml::from_str(
            r#"model = "bike-demand"
arms = [{ name = "champion", alias = "champion", weight = 1 }]"#,
        )
        .unwrap(),
    );
    let app = velocast_gateway::build(
        &config,
        None,
        SecretString::from(token("gateway", &["models:read"])),
    )
    .await
    .unwrap();
    let base = format!("http://{}", app.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(app.run(async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    for _ in 0..600 {
        if http
            .get(format!("{base}/health/ready"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let client = Some(token("client", &["predict"]));
    let flags = [
        "predict",
        "--gateway",
        &base,
        "--at",
        "2012-10-01T08:00",
        "--weather",
        "mist",
        "--temp",
        "-2",
        "--humidity",
        "60",
        "--wind",
        "10",
    ];
    let output = velocast(&flags, client.clone()).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        stdout.starts_with("7.0 rentals expected in the hour of 2012-10-01T08:00:00"),
        "{stdout}"
    );
    assert!(
        stdout.contains("bike-demand v1 (route default, arm champion)"),
        "{stdout}"
    );

    // --json with a batch, and --raw.
    let file = dir.path().join("hours.json");
    let hour = json!({"timestamp": "2012-10-01T09:00:00", "weather": 1, "temperature_c": 18,
        "feels_like_c": 18, "humidity_pct": 60, "wind_speed_kmh": 10, "holiday": false});
    std::fs::write(&file, json!({ "instances": [hour, hour] }).to_string()).unwrap();
    let output = velocast(
        &[
            "predict",
            "--gateway",
            &base,
            "--route",
            "default",
            "--raw",
            "--json",
            file.to_str().unwrap(),
        ],
        client.clone(),
    )
    .await;
    assert_eq!(output.status.code(), Some(0));
    let answer: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(answer["predictions"], json!([7.0, 7.0]));

    // A value the gateway refuses: exit 2, naming the field.
    let mut bad = flags.to_vec();
    bad[12] = "500";
    let output = velocast(&bad, client.clone()).await;
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("field `wind_speed_kmh`"), "{stderr}");
    // Usage errors and a missing token: exit 2 before any request.
    let output = velocast(
        &["predict", "--gateway", &base, "--weather", "sunny"],
        client.clone(),
    )
    .await;
    assert_eq!(output.status.code(), Some(2));
    let output = velocast(&flags, None).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains("VELOCAST_TOKEN"));
    // The wrong scope: the gateway's 403, exit 1.
    let output = velocast(&flags, Some(token("client", &["models:read"]))).await;
    assert_eq!(output.status.code(), Some(1));
    // Nothing listening: exit 1.
    let mut nowhere = flags.to_vec();
    nowhere[2] = "http://127.0.0.1:9";
    let output = velocast(&nowhere, client).await;
    assert_eq!(output.status.code(), Some(1));

    let _ = stop.send(());
    serving.await.unwrap().unwrap();
    registry.stop().await.unwrap();
}
