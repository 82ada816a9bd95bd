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
