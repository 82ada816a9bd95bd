//! What every handler can reach, through `State`.

use axum::extract::FromRef;
use prometheus::{GaugeVec, IntCounterVec, IntGauge, Opts};
use velocast_drift_report::DriftReport;
use velocast_http::auth::AuthConfig;
use velocast_http::metrics::HttpMetrics;
pub use velocast_http::shutdown::Lifecycle;

use crate::alerts::Alerter;
use crate::analysis::AccuracyReport;
use crate::reference::References;
use crate::store::MonitorStore;

#[derive(Debug, Clone)]
pub struct AppState {
    pub store: MonitorStore,
    pub alerter: Alerter,
    pub references: References,
    pub http_metrics: HttpMetrics,
    pub metrics: MonitorMetrics,
    pub auth: AuthConfig,
    pub lifecycle: Lifecycle,
    pub settings: Settings,
}

/// The configuration the handlers use.
#[derive(Debug, Clone)]
pub struct Settings {
    pub model: String,
    pub window_seconds: u64,
    pub drift_share: f64,
    pub max_window_events: u32,
    pub max_batch: u32,
    pub max_body_bytes: usize,
    pub max_in_flight: usize,
}

impl Default for Settings {
    fn default() -> Self {
        let config = crate::MonitorConfig::default();
        Settings {
            model: config.model,
            window_seconds: config.window_seconds,
            drift_share: config.drift_share,
            max_window_events: config.max_window_events,
            max_batch: config.max_batch,
            max_body_bytes: config.max_body_bytes,
            max_in_flight: config.max_in_flight,
        }
    }
}

impl FromRef<AppState> for HttpMetrics {
    fn from_ref(state: &AppState) -> Self {
        state.http_metrics.clone()
    }
}

impl FromRef<AppState> for AuthConfig {
    fn from_ref(state: &AppState) -> Self {
        state.auth.clone()
    }
}

/// The monitor's own metrics: what it ingested, and the last verdicts as gauges.
#[derive(Debug, Clone)]
pub struct MonitorMetrics {
    pub database_up: IntGauge,
    /// Items of event and outcome batches by kind and outcome (stored, duplicate, rejected).
    pub ingested: IntCounterVec,
    pub drift_score: GaugeVec,
    pub drifted_share: GaugeVec,
    pub dataset_drift: GaugeVec,
    pub realized_mae: GaugeVec,
    pub degradation: GaugeVec,
    pub windows: IntCounterVec,
    /// Alerts by rule, sink (log, webhook, email; `any` for suppressed) and outcome.
    pub alerts: IntCounterVec,
}

impl MonitorMetrics {
    pub fn register(registry: &prometheus::Registry) -> Result<Self, prometheus::Error> {
        let database_up = IntGauge::new(
            "velocast_monitor_database_up",
            "1 when the last readiness check reached the database",
        )?;
        let ingested = IntCounterVec::new(
            Opts::new(
                "velocast_monitor_ingested_total",
                "Batch items by kind (event, outcome) and outcome (stored, duplicate, rejected)",
            ),
            &["kind", "outcome"],
        )?;
        let drift_score = GaugeVec::new(
            Opts::new(
                "velocast_monitor_drift_score",
                "The last drift score per feature (p-value or distance, see the test)",
            ),
            &["model", "version", "column", "stattest"],
        )?;
        let drifted_share = GaugeVec::new(
            Opts::new(
                "velocast_monitor_drifted_share",
                "The last share of drifted features",
            ),
            &["model", "version"],
        )?;
        let dataset_drift = GaugeVec::new(
            Opts::new(
                "velocast_monitor_dataset_drift",
                "1 when the last report found dataset drift",
            ),
            &["model", "version"],
        )?;
        let realized_mae = GaugeVec::new(
            Opts::new(
                "velocast_monitor_realized_mae",
                "MAE of the last window's scored predictions per version and arm",
            ),
            &["model", "version", "arm"],
        )?;
        let degradation = GaugeVec::new(
            Opts::new(
                "velocast_monitor_mae_degradation",
                "Realized MAE over the model card's holdout MAE",
            ),
            &["model", "version", "arm"],
        )?;
        let windows = IntCounterVec::new(
            Opts::new(
                "velocast_monitor_windows_total",
                "Tumbling windows evaluated, by outcome (reported, empty, failed)",
            ),
            &["outcome"],
        )?;
        let alerts = IntCounterVec::new(
            Opts::new(
                "velocast_monitor_alerts_total",
                "Alerts by rule, sink and outcome (sent, failed, suppressed)",
            ),
            &["rule", "sink", "outcome"],
        )?;
        for (kind, outcome) in [
            ("event", "stored"),
            ("event", "duplicate"),
            ("event", "rejected"),
            ("outcome", "stored"),
            ("outcome", "duplicate"),
            ("outcome", "rejected"),
        ] {
            ingested.with_label_values(&[kind, outcome]);
        }
        for outcome in ["reported", "empty", "failed"] {
            windows.with_label_values(&[outcome]);
        }
        registry.register(Box::new(database_up.clone()))?;
        registry.register(Box::new(ingested.clone()))?;
        registry.register(Box::new(drift_score.clone()))?;
        registry.register(Box::new(drifted_share.clone()))?;
        registry.register(Box::new(dataset_drift.clone()))?;
        registry.register(Box::new(realized_mae.clone()))?;
        registry.register(Box::new(degradation.clone()))?;
        registry.register(Box::new(windows.clone()))?;
        registry.register(Box::new(alerts.clone()))?;
        Ok(MonitorMetrics {
            database_up,
            ingested,
            drift_score,
            drifted_share,
            dataset_drift,
            realized_mae,
            degradation,
            windows,
            alerts,
        })
    }

    pub fn record_drift(&self, model: &str, version: u32, report: &DriftReport) {
        let version = version.to_string();
        for column in &report.drift_by_columns.0 {
            self.drift_score
                .with_label_values(&[model, &version, &column.column_name, column.stattest])
                .set(column.drift_score);
        }
        self.drifted_share
            .with_label_values(&[model, &version])
            .set(report.share_of_drifted_columns);
        self.dataset_drift
            .with_label_values(&[model, &version])
            .set(f64::from(u8::from(report.dataset_drift)));
    }

    pub fn record_accuracy(&self, model: &str, report: &AccuracyReport) {
        for group in &report.groups {
            let version = group.version.to_string();
            let labels = [model, version.as_str(), group.arm.as_str()];
            self.realized_mae
                .with_label_values(&labels)
                .set(group.errors.mae);
            if let Some(degradation) = group.degradation {
                self.degradation.with_label_values(&labels).set(degradation);
            }
        }
    }
}
