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
        self.begin_draining();
        self.stopping.cancel();
    }

    /// Readiness turns false; everything else still runs.
    pub fn begin_draining(&self) {
        self.draining.store(true, Ordering::SeqCst);
    }

    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }
}

/// Resolves on SIGINT or SIGTERM. The handlers are installed when this is called, not when the
/// future is first polled: a SIGTERM that arrives while a service is still starting (after its
/// listener is bound, before it serves) asks it to drain instead of killing it. Call it inside
/// the runtime.
pub fn signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind};
        let terminate = tokio::signal::unix::signal(SignalKind::terminate());
        let interrupt = tokio::signal::unix::signal(SignalKind::interrupt());
        async fn received(stream: std::io::Result<Signal>, name: &str) {
            match stream {
                Ok(mut stream) => {
                    stream.recv().await;
                }
                Err(error) => {
                    tracing::error!(%error, "cannot listen for {name}");
                    std::future::pending::<()>().await;
                }
            }
        }
        async move {
            tokio::select! {
                () = received(interrupt, "SIGINT") => tracing::info!("SIGINT: shutting down"),
                () = received(terminate, "SIGTERM") => tracing::info!("SIGTERM: shutting down"),
            }
        }
    }
    #[cfg(not(unix))]
    async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::error!(%error, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
        tracing::info!("Ctrl-C: shutting down");
    }
}

/// How a service stops.
#[derive(Debug, Clone, Copy)]
pub struct Drain {
    /// Between readiness turning false and the listener closing: time for a load balancer
    /// (Kubernetes endpoints) to stop sending new requests, which are still served meanwhile.
    pub delay: Duration,
    /// Then, how long in-flight requests may take before the remaining connections are dropped.
    pub grace: Duration,
}

/// Serves `router` until `shutdown` resolves, then drains: readiness turns false at once; after
/// `drain.delay` no new connections are accepted and `stopping` fires; in-flight requests get
/// `drain.grace` before the remaining connections are dropped.
pub async fn serve_until(
    listener: TcpListener,
    router: Router,
    lifecycle: Lifecycle,
    shutdown: impl Future<Output = ()> + Send + 'static,
    drain: Drain,
) -> std::io::Result<()> {
    let Drain { delay, grace } = drain;
    let draining = lifecycle.clone();
    let serve = axum::serve(listener, router).with_graceful_shutdown(async move {
        shutdown.await;
        tracing::info!(
            delay_ms = delay.as_millis() as u64,
            "draining: readiness is now false"
        );
        draining.begin_draining();
        tokio::time::sleep(delay).await;
        tracing::info!("no new connections; finishing in-flight requests");
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
