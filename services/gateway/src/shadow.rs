//! The shadow arm: a sampled copy of a route's requests scored by another version, off the
//! critical path. The copy is taken after the client's answer is ready and scored in a spawned
//! task, so it never adds latency; at most `max_in_flight` copies are scored at once and the
//! rest are dropped and counted, so a slow shadow can never build a queue. The absolute
//! difference between the two predictions of each row goes to a histogram per route.

use std::sync::Arc;

use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, Opts, Registry};
use tokio::sync::Semaphore;

use crate::fleet::RouteState;

/// Differences in rentals per hour.
const DIFFERENCE: [f64; 12] = [
    0.5, 1.0, 2.0, 5.0, 10.0, 20.0, 35.0, 50.0, 75.0, 100.0, 200.0, 500.0,
];

#[derive(Debug, Clone)]
pub struct ShadowRunner {
    permits: Arc<Semaphore>,
    difference: HistogramVec,
    requests: IntCounterVec,
}

impl ShadowRunner {
    pub fn register(registry: &Registry, max_in_flight: usize) -> prometheus::Result<Self> {
        let difference = HistogramVec::new(
            HistogramOpts::new(
                "velocast_gateway_shadow_abs_difference",
                "|shadow prediction - served prediction| per row, by route",
            )
            .buckets(DIFFERENCE.to_vec()),
            &["route"],
        )?;
        let requests = IntCounterVec::new(
            Opts::new(
                "velocast_gateway_shadow_requests_total",
                "Requests copied to a route's shadow: scored, dropped (at capacity) or failed",
            ),
            &["route", "outcome"],
        )?;
        registry.register(Box::new(difference.clone()))?;
        registry.register(Box::new(requests.clone()))?;
        Ok(ShadowRunner {
            permits: Arc::new(Semaphore::new(max_in_flight.max(1))),
            difference,
            requests,
        })
    }

    /// Copies a sampled request to the route's shadow, if it has a loaded one. Never waits.
    pub fn offer(&self, route: &RouteState, request_id: &str, rows: &[f32], served: &[f64]) {
        let (Some(shadow), Some(spec)) = (&route.shadow, &route.route.shadow) else {
            return;
        };
        if velocast_routing::bucket_of(request_id) >= spec.per_10k {
            return;
        }
        let route_name = route.route.name.to_string();
        let Some(model) = shadow.model.clone() else {
            self.requests
                .with_label_values(&[&route_name, "dropped"])
                .inc();
            return;
        };
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            self.requests
                .with_label_values(&[&route_name, "dropped"])
                .inc();
            return;
        };
        let (rows, served) = (rows.to_vec(), served.to_vec());
        let runner = self.clone();
        tokio::spawn(async move {
            let _permit = permit;
            match model.backend.score(rows, None).await {
                Ok(scored) => {
                    let histogram = runner.difference.with_label_values(&[&route_name]);
                    for (shadow, served) in scored.values.iter().zip(&served) {
                        histogram.observe((f64::from(*shadow) - served).abs());
                    }
                    runner
                        .requests
                        .with_label_values(&[&route_name, "scored"])
                        .inc();
                }
                Err(error) => {
                    tracing::warn!(%error, route = %route_name, "shadow scoring failed");
                    runner
                        .requests
                        .with_label_values(&[&route_name, "failed"])
                        .inc();
                }
            }
        });
    }
}
