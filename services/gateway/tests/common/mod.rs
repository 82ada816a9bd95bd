//! Shared fixtures of the gateway's tests: a small real model trained once per test binary on
//! `hour.csv`, a real registry on port 0 (SQLite), and the real gateway on port 0.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, Instant, SystemTime};

use secrecy::SecretString;
use tokio::sync::oneshot;
use velocast_auth::{Minter, Scope};
use velocast_config::Redacted;
use velocast_features::DemandRequest;
use velocast_gateway::GatewayConfig;
use velocast_registry::testing::{Running, sqlite_config};
use velocast_registry_api::{NewVersionMetadata, VersionView};
use velocast_registry_client::{RegistryClient, Upload};
use velocast_trainer::TrainerConfig;
use velocast_trainer::card::ModelCard;
use velocast_trainer::config::Range;

pub const SECRET: &str = "gateway-test-secret-gateway-test-secret";
pub const MODEL: &str = "bike-demand";

pub fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

pub fn onnxruntime() -> PathBuf {
    std::env::var_os("ORT_DYLIB_PATH").map_or_else(
        || workspace().join(".velocast/lib/libonnxruntime.so"),
        PathBuf::from,
    )
}

pub fn hour_csv() -> PathBuf {
    std::env::var_os("VELOCAST_DATA_DIR")
        .map_or_else(|| workspace().join(".velocast/data"), PathBuf::from)
        .join("hour.csv")
}

/// A token for `subject` with `scopes`, valid for 15 minutes.
pub fn token(subject: &str, scopes: &[&str]) -> String {
    let minter = Minter::hs256(&SecretString::from(SECRET), "velocast", "velocast").unwrap();
    let scopes: Vec<Scope> = scopes.iter().map(|s| s.parse().unwrap()).collect();
    minter
        .mint_at(
            subject,
            &scopes,
            Duration::from_secs(900),
            SystemTime::now(),
        )
        .unwrap()
}

pub fn admin_token() -> String {
    token(
        "admin",
        &[Scope::MODELS_READ, Scope::MODELS_WRITE, Scope::MODELS_ADMIN],
    )
}

/// A trained model's outputs.
#[derive(Debug)]
pub struct Trained {
    pub dir: PathBuf,
    pub card: ModelCard,
    pub onnx: Vec<u8>,
}

fn train(seed: u64, out: &Path) -> Trained {
    let mut config = TrainerConfig::default();
    config.data.path = hour_csv();
    config.output.dir = out.to_owned();
    config.runtime.onnxruntime_path = Some(onnxruntime());
    config.search.trials = 4;
    config.search.startup_trials = 2;
    config.search.pruning_warmup_trials = 2;
    config.search.seed = seed;
    config.search.space.rounds = Range {
        low: 30.0,
        high: 60.0,
        log: false,
    };
    config.search.space.learning_rate = Range {
        low: 0.1,
        high: 0.2,
        log: true,
    };
    let (card, _) =
        velocast_trainer::train(&config, &velocast_trainer::progress::Progress::hidden()).unwrap();
    let onnx = std::fs::read(out.join(&card.artifacts.model)).unwrap();
    Trained {
        dir: out.to_owned(),
        card,
        onnx,
    }
}

/// Two small real models (different seeds), trained once per test binary.
pub fn trained() -> &'static [Trained; 2] {
    static TRAINED: OnceLock<[Trained; 2]> = OnceLock::new();
    TRAINED.get_or_init(|| {
        // Kept for the whole test binary.
        let dir = tempfile::tempdir().unwrap().keep();
        [train(1, &dir.join("a")), train(2, &dir.join("b"))]
    })
}

/// The holdout requests and the trainer's native predictions for them.
pub fn holdout(trained: &Trained) -> (Vec<DemandRequest>, Vec<f64>) {
    let dataset = velocast_dataset::load(&hour_csv()).unwrap();
    let table = velocast_dataset::TrainingTable::from_records(&dataset.records);
    let cutoff = chrono::NaiveDate::from_ymd_opt(2012, 9, 1)
        .unwrap()
        .and_hms_opt(0, 0, 0)
        .unwrap();
    let (_, holdout) = table.split_at_time(cutoff);
    let text = std::fs::read_to_string(
        trained
            .dir
            .join(&trained.card.artifacts.holdout_predictions),
    )
    .unwrap();
    let predictions: Vec<f64> = text
        .lines()
        .skip(1)
        .map(|line| line.rsplit(',').next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(predictions.len(), holdout.requests.len());
    (holdout.requests, predictions)
}

/// Uploads a trained model as a new version, with `edit` applied to its metadata first.
pub async fn register(
    client: &RegistryClient,
    trained: &Trained,
    artifact: Option<&[u8]>,
    edit: impl FnOnce(&mut NewVersionMetadata),
) -> VersionView {
    let mut metadata = velocast_trainer::register::version_metadata(&trained.card, None).unwrap();
    edit(&mut metadata);
    client
        .ensure_model(&velocast_registry_api::CreateModel {
            name: MODEL.to_owned(),
            description: "test".to_owned(),
            tags: Default::default(),
        })
        .await
        .unwrap();
    client
        .upload_version(
            MODEL,
            metadata,
            Upload {
                artifact: artifact.unwrap_or(&trained.onnx),
                profile: None,
            },
        )
        .await
        .unwrap()
}

/// A registry on port 0 over a SQLite file in `dir`.
pub async fn registry(dir: &Path) -> (Running, RegistryClient) {
    let running = Running::start(&sqlite_config(&dir.join("registry.db"), SECRET))
        .await
        .unwrap();
    let client = RegistryClient::new(&running.base, SecretString::from(admin_token())).unwrap();
    (running, client)
}

/// A gateway configuration on port 0 following `registry` with one route.
pub fn config(registry: &str, cache: &Path, route_toml: &str) -> GatewayConfig {
    let mut config = GatewayConfig {
        bind: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        registry_url: registry.to_owned(),
        cache_dir: cache.to_owned(),
        onnxruntime_path: Some(onnxruntime()),
        sessions: 2,
        ..GatewayConfig::default()
    };
    config.auth.jwt_secret = Some(Redacted::new(SECRET));
    let table: toml::Table = toml::from_str(route_toml).unwrap();
    config.routes = match table.get("routes") {
        Some(toml::Value::Table(routes)) => routes.clone().into_iter().collect(),
        _ => panic!("no routes in {route_toml}"),
    };
    config
}

pub const CHAMPION_ROUTE: &str = r#"
[routes.default]
model = "bike-demand"
sticky = "request_id"
arms = [{ name = "champion", alias = "champion", weight = 1 }]
"#;

/// A gateway serving in a background task.
#[derive(Debug)]
pub struct Gateway {
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Gateway {
    pub async fn start(config: &GatewayConfig, config_file: Option<PathBuf>) -> Gateway {
        // The gateway's one token: models from the registry, events to the monitor.
        let token = SecretString::from(token(
            "gateway",
            &[Scope::MODELS_READ, Scope::MONITOR_WRITE],
        ));
        let app = velocast_gateway::build(config, config_file, token)
            .await
            .unwrap();
        let base = format!("http://{}", app.local_addr().unwrap());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Gateway {
            base,
            stop: Some(stop),
            task,
        }
    }

    /// Waits until `/health/ready` answers 200.
    pub async fn ready(&self) {
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = http
                .get(format!("{}/health/ready", self.base))
                .send()
                .await
                .unwrap();
            if response.status() == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "not ready after 60 s: {}",
                response.text().await.unwrap()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await.unwrap().unwrap();
    }
}

/// A request body for one hour of the holdout.
pub fn body(request: &DemandRequest) -> serde_json::Value {
    serde_json::to_value(request).unwrap()
}

pub fn predictor() -> String {
    token("client", &[Scope::PREDICT])
}

/// Polls `check` until it holds (or fails the test after `within`).
pub async fn eventually<F, Fut>(within: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + within;
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A registry with one trained version as `champion`, and a gateway serving it.
#[derive(Debug)]
pub struct Stack {
    pub dir: tempfile::TempDir,
    pub registry: Running,
    pub client: RegistryClient,
    pub gateway: Gateway,
    pub version: VersionView,
}

impl Stack {
    /// `adjust` edits the gateway's configuration before it starts.
    pub async fn champion(trained: &Trained, adjust: impl FnOnce(&mut GatewayConfig)) -> Stack {
        let dir = tempfile::tempdir().unwrap();
        let (registry, client) = registry(dir.path()).await;
        let version = register(&client, trained, None, |_| {}).await;
        client
            .set_alias(MODEL, "champion", version.version, "test")
            .await
            .unwrap();
        let mut config = config(&registry.base, &dir.path().join("cache"), CHAMPION_ROUTE);
        adjust(&mut config);
        let gateway = Gateway::start(&config, None).await;
        gateway.ready().await;
        Stack {
            dir,
            registry,
            client,
            gateway,
            version,
        }
    }

    pub async fn stop(self) {
        self.gateway.stop().await;
        self.registry.stop().await.unwrap();
    }
}

/// One valid hour, as a client sends it.
pub fn hour() -> serde_json::Value {
    serde_json::json!({"timestamp": "2012-10-01T08:00:00", "weather": 1, "temperature_c": 18.0,
        "feels_like_c": 18.0, "humidity_pct": 60.0, "wind_speed_kmh": 10.0, "holiday": false})
}

/// `GET path` on the gateway with `token`, as JSON.
pub async fn get_json(
    http: &reqwest::Client,
    gateway: &Gateway,
    path: &str,
    token: &str,
) -> serde_json::Value {
    http.get(format!("{}{path}", gateway.base))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap()
}

/// `POST url` with a JSON `body` and `token`.
pub async fn post(
    http: &reqwest::Client,
    url: &str,
    token: &str,
    body: &serde_json::Value,
) -> reqwest::Response {
    http.post(url)
        .bearer_auth(token)
        .json(body)
        .send()
        .await
        .unwrap()
}

/// `POST /v1/predict` with `body` and a `predict` token.
pub async fn predict(
    http: &reqwest::Client,
    gateway: &Gateway,
    body: &serde_json::Value,
) -> reqwest::Response {
    http.post(format!("{}/v1/predict", gateway.base))
        .bearer_auth(predictor())
        .json(body)
        .send()
        .await
        .unwrap()
}

/// The sum of the series of `name` (a family, or one series with its labels). The family
/// must be exported (its `# TYPE` line is there).
pub fn metric(text: &str, name: &str) -> f64 {
    let series = name.split('{').next().unwrap();
    // A histogram's `_sum` and `_count` series belong to the family without the suffix.
    let family = ["_sum", "_count", "_bucket"]
        .iter()
        .find_map(|suffix| series.strip_suffix(suffix))
        .filter(|family| text.contains(&format!("# TYPE {family} histogram")))
        .unwrap_or(series);
    assert!(
        text.contains(&format!("# TYPE {family} ")),
        "no metric family {family} in:\n{text}"
    );
    text.lines()
        .filter(|line| {
            line.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .map(|line| line.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
        .sum()
}

pub async fn metrics(http: &reqwest::Client, gateway: &Gateway) -> String {
    http.get(format!("{}/metrics", gateway.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A registry holding both trained models as versions, `champion` on the first and, when
/// asked, `challenger` on the second. Returns the registry, its client and the two versions.
pub async fn two_versions(dir: &Path, challenger: bool) -> (Running, RegistryClient, u32, u32) {
    let [a, b] = trained();
    let (registry, client) = registry(dir).await;
    let v1 = register(&client, a, None, |_| {}).await.version;
    let v2 = register(&client, b, None, |_| {}).await.version;
    client
        .set_alias(MODEL, "champion", v1, "start")
        .await
        .unwrap();
    if challenger {
        client
            .set_alias(MODEL, "challenger", v2, "start")
            .await
            .unwrap();
    }
    (registry, client, v1, v2)
}
