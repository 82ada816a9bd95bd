//! Prediction events for the monitor: what was asked, what was answered, by which model.
//!
//! Never on the request path: a handler hands its event to a bounded buffer with `try_send`
//! and moves on. A background task sends them in batches (`POST {url}` with
//! `{"events": [...]}`, the gateway's own bearer token), retrying a failed batch with
//! exponential backoff. Nothing is lost silently: an event that finds the buffer full, or whose
//! batch is still undelivered after the last retry, is counted in
//! `velocast_gateway_events_dropped_total{reason}`; delivered ones in `..._sent_total`.

use std::time::Duration;

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use velocast_features::{DemandRequest, FEATURE_COUNT};

pub use velocast_monitor_api::{EventBatch, PredictionEvent};

/// How events leave.
#[derive(Debug, Clone)]
pub struct EventSettings {
    pub url: String,
    pub buffer: usize,
    pub batch: usize,
    pub flush_interval: Duration,
    pub max_retries: u32,
    pub timeout: Duration,
}

/// Why an event was not delivered: the buffer was full, or every retry failed.
const BUFFER_FULL: &str = "buffer_full";
const UNDELIVERABLE: &str = "undeliverable";

#[derive(Debug, Clone)]
struct EventMetrics {
    sent: IntCounter,
    dropped: IntCounterVec,
    buffered: IntGauge,
}

/// The request path's end of the pipeline. Cloning is cheap.
#[derive(Debug, Clone)]
pub struct EventSink {
    sender: mpsc::Sender<PredictionEvent>,
    metrics: EventMetrics,
}

impl EventSink {
    /// Hands events over without waiting; those that do not fit are counted as dropped.
    pub fn offer(&self, events: impl IntoIterator<Item = PredictionEvent>) {
        for event in events {
            match self.sender.try_send(event) {
                Ok(()) => self.metrics.buffered.inc(),
                Err(_) => self.metrics.dropped.with_label_values(&[BUFFER_FULL]).inc(),
            }
        }
    }
}

/// The events of one answered request: one per row.
pub fn events_of(
    common: &PredictionEvent,
    requests: Option<&[DemandRequest]>,
    features: &[f32],
    predictions: &[f64],
) -> Vec<PredictionEvent> {
    features
        .chunks_exact(FEATURE_COUNT)
        .zip(predictions)
        .zip(0_u32..)
        .enumerate()
        .map(|(index, ((vector, prediction), row))| PredictionEvent {
            row,
            request: requests.and_then(|r| r.get(index).cloned()),
            features: vector.to_vec(),
            prediction: *prediction,
            ..common.clone()
        })
        .collect()
}

/// Starts the pipeline: the sink for handlers and the task that delivers (run it until
/// `stopping`; it then flushes what is buffered, once, within the timeout).
pub fn start(
    settings: EventSettings,
    token: SecretString,
    registry: &Registry,
    stopping: CancellationToken,
) -> prometheus::Result<(
    EventSink,
    impl std::future::Future<Output = ()> + Send + 'static,
)> {
    let metrics = EventMetrics {
        sent: IntCounter::new(
            "velocast_gateway_events_sent_total",
            "Prediction events delivered to the monitor",
        )?,
        dropped: IntCounterVec::new(
            Opts::new(
                "velocast_gateway_events_dropped_total",
                "Prediction events not delivered: the buffer was full, or retries ran out",
            ),
            &["reason"],
        )?,
        buffered: IntGauge::new(
            "velocast_gateway_events_buffered",
            "Prediction events waiting to be sent",
        )?,
    };
    registry.register(Box::new(metrics.sent.clone()))?;
    registry.register(Box::new(metrics.dropped.clone()))?;
    // Every reason is exported from the start, at 0: a family without series is not exported
    // at all, and "nothing dropped" should read as 0, not as a missing metric.
    for reason in [BUFFER_FULL, UNDELIVERABLE] {
        metrics.dropped.with_label_values(&[reason]);
    }
    registry.register(Box::new(metrics.buffered.clone()))?;
    let (sender, receiver) = mpsc::channel(settings.buffer.max(1));
    let sink = EventSink {
        sender,
        metrics: metrics.clone(),
    };
    Ok((sink, deliver(settings, token, receiver, metrics, stopping)))
}

async fn deliver(
    settings: EventSettings,
    token: SecretString,
    mut receiver: mpsc::Receiver<PredictionEvent>,
    metrics: EventMetrics,
    stopping: CancellationToken,
) {
    let http = match reqwest::Client::builder().timeout(settings.timeout).build() {
        Ok(http) => http,
        Err(error) => {
            tracing::error!(%error, "prediction events disabled: no HTTP client");
            return;
        }
    };
    let mut batch = Vec::with_capacity(settings.batch);
    loop {
        let stop = tokio::select! {
            () = stopping.cancelled() => true,
            received = receiver.recv_many(&mut batch, settings.batch) => received == 0,
        };
        if !stop && batch.len() < settings.batch {
            // Give a small batch the flush interval to fill.
            let deadline = tokio::time::sleep(settings.flush_interval);
            tokio::pin!(deadline);
            while batch.len() < settings.batch {
                let room = settings.batch - batch.len();
                tokio::select! {
                    () = &mut deadline => break,
                    () = stopping.cancelled() => break,
                    received = receiver.recv_many(&mut batch, room) => {
                        if received == 0 { break; }
                    }
                }
            }
        }
        if stop {
            // Drain what is buffered, then one last attempt each.
            while let Ok(event) = receiver.try_recv() {
                batch.push(event);
            }
        }
        for chunk in batch.chunks(settings.batch.max(1)) {
            metrics.buffered.sub(chunk.len() as i64);
            let retries = if stop { 0 } else { settings.max_retries };
            send(
                &http, &settings, &token, chunk, retries, &metrics, &stopping,
            )
            .await;
        }
        batch.clear();
        if stop {
            return;
        }
    }
}

async fn send(
    http: &reqwest::Client,
    settings: &EventSettings,
    token: &SecretString,
    events: &[PredictionEvent],
    retries: u32,
    metrics: &EventMetrics,
    stopping: &CancellationToken,
) {
    let body = EventBatch {
        events: events.to_vec(),
    };
    let mut backoff = Duration::from_millis(100);
    for attempt in 0..=retries {
        let outcome = http
            .post(&settings.url)
            .bearer_auth(token.expose_secret())
            .json(&body)
            .send()
            .await;
        match outcome {
            Ok(response) if response.status().is_success() => {
                metrics.sent.inc_by(events.len() as u64);
                return;
            }
            Ok(response) => {
                tracing::warn!(
                    status = response.status().as_u16(),
                    attempt,
                    "the monitor refused a batch of prediction events"
                );
            }
            Err(error) => tracing::warn!(%error, attempt, "prediction events not delivered"),
        }
        if attempt < retries {
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                () = stopping.cancelled() => break,
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        }
    }
    metrics
        .dropped
        .with_label_values(&[UNDELIVERABLE])
        .inc_by(events.len() as u64);
}
