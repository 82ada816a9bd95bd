//! The gateway's background work: keeping the serving snapshot current.
//!
//! - [`reconcile_loop`]: reconciles at start, whenever woken (a watch event, a route change), and
//!   every resync interval as a backstop for missed events;
//! - [`watch_registry`]: follows the registry's watch stream and wakes the loop when an alias of
//!   a served model moves (or when the stream says to resync); reconnects with a capped backoff;
//! - [`reload_routes`]: re-reads the route table from the configuration file when its content
//!   changes (a Kubernetes ConfigMap update swaps the file); an invalid table is refused with a
//!   log line and the old one keeps serving.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;
use velocast_registry_client::RegistryClient;

use crate::config;
use crate::fleet::Fleet;
use crate::metrics::GatewayMetrics;

pub async fn reconcile_loop(fleet: Arc<Fleet>, every: Duration, stopping: CancellationToken) {
    loop {
        fleet.reconcile().await;
        tokio::select! {
            () = stopping.cancelled() => return,
            () = fleet.wake.notified() => {}
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// The events that change what a served model resolves to.
fn concerns_us(event: &str, model: Option<&str>, served: &[String]) -> bool {
    match event {
        // `ready` follows every (re)connection: events may have been missed meanwhile.
        "ready" | "resync" => true,
        "alias_moved" => model.is_none_or(|m| served.iter().any(|s| s == m)),
        _ => false,
    }
}

pub async fn watch_registry(
    fleet: Arc<Fleet>,
    client: RegistryClient,
    metrics: GatewayMetrics,
    stopping: CancellationToken,
) {
    let mut backoff = Duration::from_millis(200);
    loop {
        let session = async {
            let mut watch = client.watch(None, Duration::from_secs(45)).await?;
            metrics.watch_connected.set(1);
            loop {
                match watch.next().await? {
                    Some(message) => {
                        let served = fleet.models_served();
                        if concerns_us(&message.event, message.model.as_deref(), &served) {
                            tracing::debug!(event = %message.event, model = ?message.model, "registry change");
                            fleet.wake.notify_one();
                        }
                    }
                    None => return Ok::<(), velocast_registry_client::ClientError>(()),
                }
            }
        };
        tokio::select! {
            () = stopping.cancelled() => {
                metrics.watch_connected.set(0);
                return;
            }
            outcome = session => {
                metrics.watch_connected.set(0);
                match outcome {
                    Ok(()) => {
                        tracing::info!("the registry ended the watch stream; reconnecting");
                        backoff = Duration::from_millis(200);
                    }
                    Err(error) => {
                        tracing::warn!(%error, retry_in_ms = backoff.as_millis() as u64, "registry watch lost");
                    }
                }
            }
        }
        tokio::select! {
            () = stopping.cancelled() => return,
            () = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

pub async fn reload_routes(
    fleet: Arc<Fleet>,
    file: PathBuf,
    every: Duration,
    metrics: GatewayMetrics,
    stopping: CancellationToken,
) {
    let mut last = std::fs::read(&file).ok();
    loop {
        tokio::select! {
            () = stopping.cancelled() => return,
            () = tokio::time::sleep(every) => {}
        }
        let content = match std::fs::read(&file) {
            Ok(content) => content,
            Err(error) => {
                // A ConfigMap swap can leave the path missing for an instant; try again later.
                tracing::debug!(%error, file = %file.display(), "configuration file unreadable");
                continue;
            }
        };
        if last.as_ref() == Some(&content) {
            continue;
        }
        last = Some(content);
        match config::route_table_of_file(&file) {
            Ok(table) if table == fleet.table() => {}
            Ok(table) => {
                tracing::info!(file = %file.display(), routes = table.routes.len(), "route table reloaded");
                metrics.route_reloads.with_label_values(&["ok"]).inc();
                fleet.set_table(table);
            }
            Err(error) => {
                tracing::error!(file = %file.display(), %error, "route table change refused; the previous table keeps serving");
                metrics.route_reloads.with_label_values(&["refused"]).inc();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_moves_of_served_models_and_resyncs_wake_the_loop() {
        let served = vec!["bike-demand".to_owned()];
        assert!(concerns_us("alias_moved", Some("bike-demand"), &served));
        assert!(!concerns_us("alias_moved", Some("other"), &served));
        assert!(concerns_us("resync", None, &served));
        assert!(concerns_us("ready", None, &served));
        assert!(!concerns_us(
            "version_created",
            Some("bike-demand"),
            &served
        ));
    }
}
