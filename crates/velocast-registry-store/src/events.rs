//! Change notifications for watchers (the gateway follows aliases through them).
//!
//! Every alias move and new version is published after its transaction commits. On Postgres the
//! transaction itself issues `pg_notify`, delivered on commit to every registry replica that
//! listens (so a watcher connected to any replica hears about writes made through another); on
//! SQLite, the embedded single-process default, the store publishes in-process. When a listener
//! loses its connection or a watcher falls behind, a `Resync` tells clients to re-read state
//! instead of trusting a possibly incomplete stream.

use serde::{Deserialize, Serialize};
use sqlx::postgres::{PgListener, PgPoolOptions};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// The Postgres channel the registry notifies on.
pub const CHANNEL: &str = "velocast_registry";

/// What watchers receive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum WatchEvent {
    /// An alias was set, moved or deleted (`to` is `None`).
    AliasMoved {
        model: String,
        alias: String,
        from: Option<u32>,
        to: Option<u32>,
        actor: String,
        at_ms: i64,
    },
    /// A new version was registered.
    VersionCreated {
        model: String,
        version: u32,
        digest: String,
        at_ms: i64,
    },
    /// Events may have been missed: re-read the state you follow.
    Resync,
}

impl WatchEvent {
    /// The model the event concerns (`None` for `Resync`, which concerns everyone).
    pub fn model(&self) -> Option<&str> {
        match self {
            WatchEvent::AliasMoved { model, .. } | WatchEvent::VersionCreated { model, .. } => {
                Some(model)
            }
            WatchEvent::Resync => None,
        }
    }
}

/// Relays `pg_notify` messages on [`CHANNEL`] into `events` until `cancel` fires. Connection
/// losses are retried with a capped backoff; each one publishes a `Resync`. `on_connection`
/// hears whether the listener is connected (for a metric).
pub async fn relay_postgres_notifications(
    url: String,
    events: broadcast::Sender<WatchEvent>,
    cancel: CancellationToken,
    on_connection: impl Fn(bool) + Send + 'static,
) {
    let mut backoff = std::time::Duration::from_millis(100);
    loop {
        let listener = async {
            // Its own one-connection pool with a short acquire timeout: PgListener reconnects
            // through it, and sqlx's default 30 s would hide an outage from us for that long.
            let pool = PgPoolOptions::new()
                .max_connections(1)
                .acquire_timeout(std::time::Duration::from_secs(2))
                .connect(&url)
                .await?;
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = tokio::select! {
            () = cancel.cancelled() => return,
            result = listener => match result {
                Ok(listener) => listener,
                Err(error) => {
                    tracing::warn!(%error, "watch: cannot listen for notifications; retrying");
                    tokio::select! {
                        () = cancel.cancelled() => return,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(std::time::Duration::from_secs(2));
                    continue;
                }
            },
        };
        tracing::info!("watch: listening for registry notifications");
        on_connection(true);
        backoff = std::time::Duration::from_millis(100);
        // Anything committed while no listener was connected is unknown to watchers.
        let _ = events.send(WatchEvent::Resync);
        loop {
            let next = tokio::select! {
                () = cancel.cancelled() => return,
                next = listener.try_recv() => next,
            };
            match next {
                Ok(Some(notification)) => {
                    match serde_json::from_str::<WatchEvent>(notification.payload()) {
                        Ok(event) => {
                            let _ = events.send(event);
                        }
                        Err(error) => tracing::warn!(%error, "watch: unreadable notification"),
                    }
                }
                // The connection dropped. PgListener would reconnect silently on the next call;
                // reconnecting here instead lets the resync come *after* the listener is back,
                // when re-reading state is guaranteed to see everything that was missed.
                Ok(None) => {
                    tracing::warn!("watch: notification connection lost; reconnecting");
                    on_connection(false);
                    let _ = events.send(WatchEvent::Resync);
                    break;
                }
                Err(error) => {
                    tracing::warn!(%error, "watch: notification listener failed; restarting");
                    on_connection(false);
                    let _ = events.send(WatchEvent::Resync);
                    break;
                }
            }
        }
    }
}
