//! A registry for the tests of its clients (trainer, `velocast`, gateway): the real service on
//! port 0, stopped gracefully on demand.

use std::net::SocketAddr;
use std::path::Path;

use tokio::sync::oneshot;
use velocast_config::Redacted;

use crate::RegistryConfig;

/// A configuration on 127.0.0.1:0 over a SQLite file, verifying HS256 tokens with `secret`.
pub fn sqlite_config(database: &Path, secret: &str) -> RegistryConfig {
    let mut config = RegistryConfig {
        bind: SocketAddr::from(([127, 0, 0, 1], 0)),
        database_url: Redacted::new(format!("sqlite://{}?mode=rwc", database.display())),
        ..RegistryConfig::default()
    };
    config.auth.jwt_secret = Some(Redacted::new(secret));
    config
}

/// A registry serving in a background task.
#[derive(Debug)]
pub struct Running {
    /// `http://127.0.0.1:port`
    pub base: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Builds and serves `config` (call inside a Tokio runtime).
    pub async fn start(config: &RegistryConfig) -> anyhow::Result<Running> {
        let app = crate::build(config).await?;
        let base = format!("http://{}", app.local_addr()?);
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run(async move {
            let _ = stopped.await;
        }));
        Ok(Running {
            base,
            stop: Some(stop),
            task,
        })
    }

    /// Asks for a graceful shutdown and waits for it.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        (&mut self.task).await?
    }
}

/// A valid Velocast ONNX model of at least `len` bytes, different for each `seed`: a constant
/// tree ensemble over `n_features` inputs, padded through its doc string. The registry refuses
/// anything that is not such a model, so tests upload these.
pub fn onnx_artifact(seed: u8, len: usize, n_features: usize) -> Vec<u8> {
    use velocast_onnx::{ExportOptions, export};
    use velocast_trees::{Blend, Ensemble, Link, Member, Tree};
    let blend = Blend {
        members: vec![Member {
            name: "constant".into(),
            weight: 1.0,
            ensemble: Ensemble {
                trees: vec![Tree::leaf(f32::from(seed))],
                link: Link::Identity,
            },
        }],
    };
    let mut options = ExportOptions {
        graph_name: "demand".into(),
        input_name: "features".into(),
        output_name: "demand".into(),
        n_features,
        producer_version: "test".into(),
        doc_string: format!("test artifact {seed}"),
        metadata: Vec::new(),
    };
    let bytes = export(&blend, &options);
    if bytes.len() >= len {
        return bytes;
    }
    options.doc_string.push_str(&"x".repeat(len - bytes.len()));
    export(&blend, &options)
}

/// A servable test model: a constant ensemble predicting `value` for every hour, with the
/// metadata the gateway's load gate checks (this build's feature signature, and a card whose
/// golden rows say `value`). Upload it with any model name.
pub fn constant_model(value: u8) -> (Vec<u8>, velocast_registry_api::NewVersionMetadata) {
    use velocast_features::{DemandRequest, FEATURE_COUNT, GoldenRow, GoldenSet, Signature};
    let object = |value: serde_json::Value| match value {
        serde_json::Value::Object(map) => map,
        _ => serde_json::Map::new(),
    };
    let request = DemandRequest {
        timestamp: chrono::NaiveDate::from_ymd_opt(2012, 10, 1)
            .and_then(|day| day.and_hms_opt(8, 0, 0))
            .unwrap_or_default(),
        weather: 1,
        temperature_c: 18.0,
        feels_like_c: 18.0,
        humidity_pct: 60.0,
        wind_speed_kmh: 10.0,
        holiday: false,
    };
    let golden = GoldenSet {
        tolerance: 1e-3,
        rows: vec![GoldenRow {
            request,
            prediction: f64::from(value),
        }],
    };
    let metadata = velocast_registry_api::NewVersionMetadata {
        artifact_sha256: String::new(),
        profile_sha256: None,
        run_id: None,
        signature: object(serde_json::to_value(Signature::current()).unwrap_or_default()),
        metrics: Default::default(),
        params: Default::default(),
        tags: Default::default(),
        lineage: velocast_registry_api::Lineage {
            dataset_sha256: "0".repeat(64),
            dataset_rows: 1,
            dataset_first: "2011-01-01T00:00:00".into(),
            dataset_last: "2011-01-01T00:00:00".into(),
            config_hash: "constant".into(),
            git_commit: "test".into(),
            trainer_version: "test".into(),
        },
        card: Some(object(serde_json::json!({ "golden": golden }))),
    };
    (onnx_artifact(value, 0, FEATURE_COUNT), metadata)
}
