//! The gateway's own Prometheus metrics, beside the shared HTTP ones (`velocast_http_*`).
//! Every metric of a prediction carries its route and arm (closed sets from the config); model
//! versions label only the per-version metrics.

use prometheus::{
    Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry,
};

/// Latency buckets from 25 µs to 2.5 s: predictions live well under a millisecond.
const LATENCY: [f64; 16] = [
    0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
    0.25, 0.5, 1.0, 2.5,
];
const BATCH_ROWS: [f64; 12] = [
    1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 4096.0,
];
/// Hourly rentals: 0 to ~1,000 in the data.
const DEMAND: [f64; 12] = [
    5.0, 10.0, 25.0, 50.0, 100.0, 200.0, 300.0, 400.0, 500.0, 650.0, 800.0, 1000.0,
];

#[derive(Debug, Clone)]
pub struct GatewayMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    queue: HistogramVec,
    inference: HistogramVec,
    batch_rows: HistogramVec,
    rows: IntCounterVec,
    values: HistogramVec,
    pub rate_limited: IntCounter,
    pub model_loads: IntCounterVec,
    pub models_serving: IntGauge,
    pub arms_without_model: IntGaugeVec,
    pub route_reloads: IntCounterVec,
    pub watch_connected: IntGauge,
    pub response_cache: crate::response_cache::CacheCounters,
}

/// The children of one (route, arm), looked up once per table rather than per request.
#[derive(Debug, Clone)]
pub struct ArmMetrics {
    pub ok: IntCounter,
    pub client_error: IntCounter,
    pub server_error: IntCounter,
    pub duration: Histogram,
    pub queue: Histogram,
    pub inference: Histogram,
    pub batch_rows: Histogram,
    pub rows: IntCounter,
}

fn histogram(
    name: &str,
    help: &str,
    buckets: &[f64],
    labels: &[&str],
) -> prometheus::Result<HistogramVec> {
    HistogramVec::new(
        HistogramOpts::new(name, help).buckets(buckets.to_vec()),
        labels,
    )
}

impl GatewayMetrics {
    pub fn register(registry: &Registry) -> prometheus::Result<Self> {
        let arm = ["route", "arm"];
        let metrics = GatewayMetrics {
            requests: IntCounterVec::new(
                Opts::new(
                    "velocast_gateway_predictions_total",
                    "Prediction requests assigned to an arm, by outcome class",
                ),
                &["route", "arm", "status_class"],
            )?,
            duration: histogram(
                "velocast_gateway_prediction_duration_seconds",
                "Time in the prediction handler, from assignment to answer",
                &LATENCY,
                &arm,
            )?,
            queue: histogram(
                "velocast_gateway_queue_seconds",
                "Time a request waited for an inference session",
                &LATENCY,
                &arm,
            )?,
            inference: histogram(
                "velocast_gateway_inference_seconds",
                "ONNX Runtime time of the call a request rode in",
                &LATENCY,
                &arm,
            )?,
            batch_rows: histogram(
                "velocast_gateway_batch_rows",
                "Rows in the ONNX Runtime call a request rode in (micro-batching)",
                &BATCH_ROWS,
                &arm,
            )?,
            rows: IntCounterVec::new(
                Opts::new("velocast_gateway_rows_total", "Rows predicted"),
                &arm,
            )?,
            values: histogram(
                "velocast_gateway_prediction_value",
                "Predicted hourly demand, per model version",
                &DEMAND,
                &["model", "version"],
            )?,
            rate_limited: IntCounter::new(
                "velocast_gateway_rate_limited_total",
                "Requests refused with 429 by the per-subject rate limit",
            )?,
            model_loads: IntCounterVec::new(
                Opts::new(
                    "velocast_gateway_model_loads_total",
                    "Model version loads, by outcome (`ok` or the failed check)",
                ),
                &["model", "outcome"],
            )?,
            models_serving: IntGauge::new(
                "velocast_gateway_models_serving",
                "Model versions loaded and referenced by the route table",
            )?,
            arms_without_model: IntGaugeVec::new(
                Opts::new(
                    "velocast_gateway_arms_without_model",
                    "Arms with a positive weight and no model to serve (1) or served (0)",
                ),
                &arm,
            )?,
            route_reloads: IntCounterVec::new(
                Opts::new(
                    "velocast_gateway_route_reloads_total",
                    "Route table reloads from the configuration file, by outcome",
                ),
                &["outcome"],
            )?,
            watch_connected: IntGauge::new(
                "velocast_gateway_registry_watch_connected",
                "Whether the registry's watch stream is connected",
            )?,
            response_cache: crate::response_cache::CacheCounters {
                hits: IntCounter::new(
                    "velocast_gateway_response_cache_hits_total",
                    "Rows answered from the response cache",
                )?,
                misses: IntCounter::new(
                    "velocast_gateway_response_cache_misses_total",
                    "Rows looked up in the response cache and not found",
                )?,
            },
        };
        registry.register(Box::new(metrics.requests.clone()))?;
        registry.register(Box::new(metrics.duration.clone()))?;
        registry.register(Box::new(metrics.queue.clone()))?;
        registry.register(Box::new(metrics.inference.clone()))?;
        registry.register(Box::new(metrics.batch_rows.clone()))?;
        registry.register(Box::new(metrics.rows.clone()))?;
        registry.register(Box::new(metrics.values.clone()))?;
        registry.register(Box::new(metrics.rate_limited.clone()))?;
        registry.register(Box::new(metrics.model_loads.clone()))?;
        registry.register(Box::new(metrics.models_serving.clone()))?;
        registry.register(Box::new(metrics.arms_without_model.clone()))?;
        registry.register(Box::new(metrics.route_reloads.clone()))?;
        registry.register(Box::new(metrics.watch_connected.clone()))?;
        registry.register(Box::new(metrics.response_cache.hits.clone()))?;
        registry.register(Box::new(metrics.response_cache.misses.clone()))?;
        Ok(metrics)
    }

    pub fn arm(&self, route: &str, arm: &str) -> ArmMetrics {
        let labels = [route, arm];
        ArmMetrics {
            ok: self.requests.with_label_values(&[route, arm, "2xx"]),
            client_error: self.requests.with_label_values(&[route, arm, "4xx"]),
            server_error: self.requests.with_label_values(&[route, arm, "5xx"]),
            duration: self.duration.with_label_values(&labels),
            queue: self.queue.with_label_values(&labels),
            inference: self.inference.with_label_values(&labels),
            batch_rows: self.batch_rows.with_label_values(&labels),
            rows: self.rows.with_label_values(&labels),
        }
    }

    pub fn values(&self, model: &str, version: u32) -> Histogram {
        self.values
            .with_label_values(&[model, version.to_string().as_str()])
    }
}
