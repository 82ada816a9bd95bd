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
