//! The shutdown signal: SIGTERM (Kubernetes) or SIGINT (Ctrl-C), and the [`Lifecycle`] a
//! service drains by.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Shutdown state: readiness turns false as soon as draining starts, and long-lived work
/// (watch streams, background loops) ends when `stopping` fires.
#[derive(Debug, Clone, Default)]
pub struct Lifecycle {
    draining: Arc<AtomicBool>,
    pub stopping: CancellationToken,
}

impl Lifecycle {
    pub fn begin_shutdown(&self) {
        self.draining.store(true, Ordering::SeqCst);
        self.stopping.cancel();
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// Resolves when the process is asked to stop.
pub async fn signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut stream) => {
                stream.recv().await;
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT: shutting down"),
        () = terminate => tracing::info!("SIGTERM: shutting down"),
    }
}

/// Serves `router` until `shutdown` resolves, then drains: readiness turns false and `stopping`
/// fires (`lifecycle.begin_shutdown`), no new connections are accepted, and in-flight requests
/// get `grace` before the remaining connections are dropped.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    lifecycle: Lifecycle,
    shutdown: impl Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> std::io::Result<()> {
    let draining = lifecycle.clone();
    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!("draining: readiness is now false, no new connections");
        draining.begin_shutdown();
    });
    let serve = serve.into_future();
    tokio::pin!(serve);
    tokio::select! {
        outcome = &mut serve => outcome,
        () = async {
            lifecycle.stopping.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_seconds = grace.as_secs(), "grace period over; dropping open connections");
            Ok(())
        }
    }
}
