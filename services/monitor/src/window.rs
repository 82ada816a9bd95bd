//! A window of events: resolved from a query (or the tumbling clock), loaded, and turned into
//! the reports of `analysis`.

use std::collections::BTreeMap;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use velocast_drift_report::DriftReport;

use crate::analysis::{self, AccuracyReport, QualityReport};
use crate::error::MonitorError;
use crate::state::AppState;
use crate::store::{TimeBasis, WindowEvent, now_ms};

/// A half-open time range [from_ms, to_ms) over the events' answer times, of one model.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub model: String,
    pub basis: TimeBasis,
    pub from_ms: i64,
    pub to_ms: i64,
}

fn parse_time(field: &'static str, text: &str) -> Result<i64, MonitorError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_millis())
        .map_err(|error| MonitorError::BadQuery {
            field,
            rule: format!("must be an RFC 3339 time like 2026-12-01T10:00:00Z ({error})"),
        })
}

pub fn format_time(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms).map_or_else(
        || ms.to_string(),
        |t| t.to_rfc3339_opts(SecondsFormat::Millis, true),
    )
}

impl Window {
    /// From query values: `to` defaults to now, `from` to one tumbling window before `to`.
    pub fn resolve(
        model: Option<&str>,
        basis: TimeBasis,
        from: Option<&str>,
        to: Option<&str>,
        default_model: &str,
        window_seconds: u64,
    ) -> Result<Window, MonitorError> {
        let to_ms = match to {
            Some(text) => parse_time("to", text)?,
            None => now_ms(),
        };
        let length_ms = i64::try_from(window_seconds.saturating_mul(1000)).map_err(|_| {
            MonitorError::BadQuery {
                field: "from",
                rule: "the window is too long".to_owned(),
            }
        })?;
        let from_ms = match from {
            Some(text) => parse_time("from", text)?,
            None => to_ms - length_ms,
        };
        // `from` = `to` is an empty window (reported as one); `from` after `to` is a mistake.
        if from_ms > to_ms {
            return Err(MonitorError::BadQuery {
                field: "from",
                rule: "must not be after `to`".to_owned(),
            });
        }
        let model = model.unwrap_or(default_model);
        model
            .parse::<velocast_catalog::ModelName>()
            .map_err(|error| MonitorError::BadQuery {
                field: "model",
                rule: error.to_string(),
            })?;
        Ok(Window {
            model: model.to_owned(),
            basis,
            from_ms,
            to_ms,
        })
    }

    /// Its events, refusing a window past the configured limit rather than report on part.
    pub async fn load(&self, state: &AppState) -> Result<Vec<WindowEvent>, MonitorError> {
        let limit = state.settings.max_window_events;
        let events = state
            .store
            .window(&self.model, self.basis, self.from_ms, self.to_ms, limit)
            .await?;
        if events.len() > limit as usize {
            return Err(MonitorError::WindowTooLarge { limit });
        }
        Ok(events)
    }
}

/// The version a report is about: the one asked for, else the one that answered most of the
/// window (ties: the newest).
pub fn pick_version(events: &[WindowEvent], asked: Option<u32>) -> Option<u32> {
    if asked.is_some() {
        return asked;
    }
    let mut counts: BTreeMap<u32, usize> = BTreeMap::new();
    for event in events {
        *counts.entry(event.version).or_default() += 1;
    }
    counts
        .into_iter()
        .max_by_key(|&(version, count)| (count, version))
        .map(|(version, _)| version)
}

/// The drift of a window, as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DriftWindow {
    pub model: String,
    pub version: u32,
    pub from: String,
    pub to: String,
    /// The reference was cut to the window's hours of the week.
    pub seasonal: bool,
    pub reference_rows: usize,
    pub current_rows: usize,
    /// Evidently's names: `drift_by_columns`, `number_of_drifted_columns`,
    /// `share_of_drifted_columns`, `dataset_drift`.
    #[schema(value_type = Object)]
    pub report: DriftReport,
}

pub async fn drift(
    state: &AppState,
    window: &Window,
    version: Option<u32>,
    seasonal: bool,
) -> Result<DriftWindow, MonitorError> {
    drift_of(state, window, &window.load(state).await?, version, seasonal).await
}

/// [`drift`] of events already loaded.
pub async fn drift_of(
    state: &AppState,
    window: &Window,
    events: &[WindowEvent],
    version: Option<u32>,
    seasonal: bool,
) -> Result<DriftWindow, MonitorError> {
    let empty = || MonitorError::EmptyWindow {
        model: window.model.clone(),
        version,
    };
    let version = pick_version(events, version).ok_or_else(empty)?;
    let of_version: Vec<&WindowEvent> = events.iter().filter(|e| e.version == version).collect();
    if of_version.is_empty() {
        return Err(empty());
    }
    let reference = state.references.get(&window.model, version).await?;
    let (report, reference_rows) = analysis::drift(
        &reference,
        &of_version,
        seasonal,
        state.settings.drift_share,
    )?;
    state.metrics.record_drift(&window.model, version, &report);
    Ok(DriftWindow {
        model: window.model.clone(),
        version,
        from: format_time(window.from_ms),
        to: format_time(window.to_ms),
        seasonal,
        reference_rows,
        current_rows: of_version.len(),
        report,
    })
}

/// Quality of a window, as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct QualityWindow {
    pub model: String,
    pub version: u32,
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub quality: QualityReport,
}

pub async fn quality(
    state: &AppState,
    window: &Window,
    version: Option<u32>,
) -> Result<QualityWindow, MonitorError> {
    quality_of(state, window, &window.load(state).await?, version).await
}

/// [`quality`] of events already loaded.
pub async fn quality_of(
    state: &AppState,
    window: &Window,
    events: &[WindowEvent],
    version: Option<u32>,
) -> Result<QualityWindow, MonitorError> {
    let version = pick_version(events, version).ok_or_else(|| MonitorError::EmptyWindow {
        model: window.model.clone(),
        version,
    })?;
    let of_version: Vec<&WindowEvent> = events.iter().filter(|e| e.version == version).collect();
    let reference = state.references.get(&window.model, version).await?;
    let rejected = state.store.rejected(window.from_ms, window.to_ms).await?;
    Ok(QualityWindow {
        model: window.model.clone(),
        version,
        from: format_time(window.from_ms),
        to: format_time(window.to_ms),
        quality: analysis::quality(&reference, &of_version, rejected),
    })
}

/// Realized accuracy of a window, as the API returns it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccuracyWindow {
    pub model: String,
    pub from: String,
    pub to: String,
    #[serde(flatten)]
    pub accuracy: AccuracyReport,
}

pub async fn accuracy(state: &AppState, window: &Window) -> Result<AccuracyWindow, MonitorError> {
    accuracy_of(state, window, &window.load(state).await?).await
}

/// [`accuracy`] of events already loaded.
pub async fn accuracy_of(
    state: &AppState,
    window: &Window,
    events: &[WindowEvent],
) -> Result<AccuracyWindow, MonitorError> {
    let mut holdout = BTreeMap::new();
    let versions: std::collections::BTreeSet<u32> = events
        .iter()
        .filter(|e| e.actual.is_some())
        .map(|e| e.version)
        .collect();
    for version in versions {
        // Accuracy does not depend on the registry: without it, the report says why the
        // degradation is missing.
        let known = match state.references.holdout_mae(&window.model, version).await {
            Ok(mae) => Ok(mae),
            Err(error) => {
                tracing::warn!(%error, model = %window.model, version, "no holdout MAE");
                Err(error.to_string())
            }
        };
        holdout.insert(version, known);
    }
    let report = analysis::accuracy(events, &holdout);
    state.metrics.record_accuracy(&window.model, &report);
    Ok(AccuracyWindow {
        model: window.model.clone(),
        from: format_time(window.from_ms),
        to: format_time(window.to_ms),
        accuracy: report,
    })
}

/// The three reports of a window from one read of its events; each report's error is kept
/// for the caller to log or return.
pub async fn reports(
    state: &AppState,
    window: &Window,
    version: Option<u32>,
    seasonal: bool,
) -> Result<
    (
        Result<DriftWindow, MonitorError>,
        Result<QualityWindow, MonitorError>,
        Result<AccuracyWindow, MonitorError>,
    ),
    MonitorError,
> {
    let events = window.load(state).await?;
    Ok((
        drift_of(state, window, &events, version, seasonal).await,
        quality_of(state, window, &events, version).await,
        accuracy_of(state, window, &events).await,
    ))
}

/// Evaluates the configured alert rules on a window's reports and sends what is due.
pub async fn alert(
    state: &AppState,
    drift: Option<&DriftWindow>,
    quality: Option<&QualityWindow>,
    accuracy: Option<&AccuracyWindow>,
) -> crate::alerts::Dispatched {
    let reports = crate::alerts::Reports {
        drift,
        quality,
        accuracy,
    };
    let alerts = crate::alerts::evaluate(state.alerter.rules(), &reports);
    state.alerter.dispatch(alerts).await
}
