//! The reports of a window: drift (JSON and the HTML page), data quality, realized accuracy.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest as _, Sha256};
use utoipa::IntoParams;
use validator::Validate;
use velocast_http::ApiError;
use velocast_http::auth::{Authorized, MonitorRead, MonitorWrite};
use velocast_http::extract::ApiQuery;

use crate::state::AppState;
use crate::store::TimeBasis;
use crate::window::{self, AccuracyWindow, DriftWindow, QualityWindow, Window};

/// The window: events answered in [`from`, `to`) (RFC 3339; default: the last tumbling window
/// up to now), of `model` (default: the configured one).
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct WindowParams {
    /// A registered model's name.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub model: Option<String>,
    /// The model version whose reference to compare with (default: the version that answered
    /// most of the window).
    #[validate(range(min = 1))]
    #[param(value_type = Option<u64>, minimum = 1, maximum = 4_294_967_295_u64)]
    pub version: Option<u32>,
    #[param(format = DateTime)]
    pub from: Option<String>,
    #[param(format = DateTime)]
    pub to: Option<String>,
    /// Whether `from` and `to` are answer times (`answered`, the default) or predicted hours
    /// (`predicted`: the station's wall-clock hours written as UTC, e.g.
    /// `from=2012-09-01T00:00:00Z`).
    #[serde(default)]
    pub by: TimeBasis,
    /// Compare with the training rows at the window's hours of the week only, so that calendar
    /// features do not drift by construction.
    #[serde(default)]
    pub seasonal: bool,
}

impl WindowParams {
    fn window(&self, state: &AppState) -> Result<Window, ApiError> {
        Ok(Window::resolve(
            self.model.as_deref(),
            self.by,
            self.from.as_deref(),
            self.to.as_deref(),
            &state.settings.model,
            state.settings.window_seconds,
        )?)
    }
}

/// Drift of a window's features against the version's training profile, as Evidently's
/// `DataDriftPreset` decides it (the features' kinds declared from the signature).
#[utoipa::path(get, path = "/v1/drift", tag = "reports", params(WindowParams),
    responses(
        (status = 200, body = DriftWindow),
        (status = 400, description = "A bad window", body = velocast_http::ErrorBody),
        (status = 404, description = "The window holds no events, or the version is not in the registry", body = velocast_http::ErrorBody),
        (status = 409, description = "The version has no usable reference profile, or no training rows share the window's hours of the week", body = velocast_http::ErrorBody),
        (status = 422, description = "The window holds more events than a report may read", body = velocast_http::ErrorBody),
        (status = 503, description = "The database or registry is unavailable", body = velocast_http::ErrorBody)),
    security(("bearer" = ["monitor:read"])))]
pub async fn drift(
    _caller: Authorized<MonitorRead>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<Json<DriftWindow>, ApiError> {
    let window = params.window(&state)?;
    Ok(Json(
        window::drift(&state, &window, params.version, params.seasonal).await?,
    ))
}

/// The Content-Security-Policy of the report page: nothing may load or run; its one style block
/// is allowed by its hash.
fn report_policy() -> String {
    let hash = base64::engine::general_purpose::STANDARD
        .encode(Sha256::digest(velocast_drift_report::STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
}

/// The drift report of a window as an HTML page (per column: test, score, threshold, verdict and
/// a histogram of reference against current; the dataset verdict on top). No script.
#[utoipa::path(get, path = "/v1/drift/report", tag = "reports", params(WindowParams),
    responses(
        (status = 200, description = "The page", content_type = "text/html"),
        (status = 404, description = "The window holds no events", body = velocast_http::ErrorBody)),
    security(("bearer" = ["monitor:read"])))]
pub async fn drift_page(
    _caller: Authorized<MonitorRead>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<Response, ApiError> {
    let window = params.window(&state)?;
    let drift = window::drift(&state, &window, params.version, params.seasonal).await?;
    let title = format!(
        "{} v{} · {} to {}{}",
        drift.model,
        drift.version,
        drift.from,
        drift.to,
        if drift.seasonal {
            " · reference at the same hours of the week"
        } else {
            ""
        }
    );
    let page = velocast_drift_report::to_html(&drift.report, &title);
    let mut response = page.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    let policy = HeaderValue::try_from(report_policy()).map_err(|e| ApiError::internal(&e))?;
    headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    Ok(response)
}

/// Data quality of a window: values outside the training range, categories training never
/// showed, and the share of events refused at ingest.
#[utoipa::path(get, path = "/v1/quality", tag = "reports", params(WindowParams),
    responses((status = 200, body = QualityWindow),
        (status = 404, description = "The window holds no events, or the version is not in the registry", body = velocast_http::ErrorBody),
        (status = 409, description = "The version has no usable reference profile", body = velocast_http::ErrorBody)),
    security(("bearer" = ["monitor:read"])))]
pub async fn quality(
    _caller: Authorized<MonitorRead>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<Json<QualityWindow>, ApiError> {
    let window = params.window(&state)?;
    Ok(Json(
        window::quality(&state, &window, params.version).await?,
    ))
}

/// Realized accuracy of a window, per model version and A/B arm.
///
/// MAE, RMSE and RMSLE over the events whose outcome has arrived, degradation against each
/// version's holdout MAE, and every pair of arms compared by Welch's t-test on their absolute
/// errors: the difference of their MAEs with a 95 % confidence interval and a two-sided
/// p-value. The test assumes independent rows (hours of one day are not quite: read the
/// interval as optimistic) and leans on the central limit theorem for the mean absolute
/// errors; arms serve different callers, so it compares the arms as deployed, not the models
/// on identical rows.
#[utoipa::path(get, path = "/v1/accuracy", tag = "reports", params(WindowParams),
    responses((status = 200, body = AccuracyWindow),
        (status = 400, description = "A bad window", body = velocast_http::ErrorBody)),
    security(("bearer" = ["monitor:read"])))]
pub async fn accuracy(
    _caller: Authorized<MonitorRead>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<Json<AccuracyWindow>, ApiError> {
    let window = params.window(&state)?;
    Ok(Json(window::accuracy(&state, &window).await?))
}

/// A report, or why it could not be made (noted in `skipped`).
fn kept<T>(
    skipped: &mut Vec<String>,
    name: &str,
    result: Result<T, crate::error::MonitorError>,
) -> Option<T> {
    match result {
        Ok(report) => Some(report),
        Err(error) => {
            skipped.push(format!("{name}: {error}"));
            None
        }
    }
}

/// What an evaluation did.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct Evaluation {
    #[serde(flatten)]
    pub dispatched: crate::alerts::Dispatched,
    /// Reports that could not be made for the window, and why (their rules were skipped).
    pub skipped: Vec<String>,
}

/// Evaluate the alert rules on a window now (the tumbling windows do it on their own).
///
/// Alerts due are sent to every configured sink (log, webhook, e-mail); one sent within the
/// cooldown is suppressed. Reports that cannot be made (no events, the registry away) skip
/// their rules and say so.
#[utoipa::path(post, path = "/v1/alerts/evaluate", tag = "alerts", params(WindowParams),
    responses((status = 200, body = Evaluation),
        (status = 400, description = "A bad window", body = velocast_http::ErrorBody),
        (status = 422, description = "The window holds more events than a report may read", body = velocast_http::ErrorBody)),
    security(("bearer" = ["monitor:write"])))]
pub async fn evaluate_alerts(
    _caller: Authorized<MonitorWrite>,
    State(state): State<AppState>,
    ApiQuery(params): ApiQuery<WindowParams>,
) -> Result<Json<Evaluation>, ApiError> {
    let window = params.window(&state)?;
    let (drift, quality, accuracy) =
        window::reports(&state, &window, params.version, params.seasonal).await?;
    let mut skipped = Vec::new();
    let drift = kept(&mut skipped, "drift", drift);
    let quality = kept(&mut skipped, "quality", quality);
    let accuracy = kept(&mut skipped, "accuracy", accuracy);
    let dispatched =
        window::alert(&state, drift.as_ref(), quality.as_ref(), accuracy.as_ref()).await;
    Ok(Json(Evaluation {
        dispatched,
        skipped,
    }))
}
