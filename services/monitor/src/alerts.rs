//! Alerts: rules from the configuration evaluated on a window's reports, each alert sent at
//! most once per cooldown (de-duplicated by rule, model, version and arm or column), to a
//! structured log line always, and to a webhook (JSON, HMAC-SHA256-signed, retried with
//! backoff, each attempt timed out) and e-mail over SMTP when configured.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use lettre::message::Mailbox;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use prometheus::IntCounterVec;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use tokio::sync::Mutex;
use utoipa::ToSchema;
use validator::{Validate, ValidationError};
use velocast_config::{Redacted, rules};

use crate::window::{AccuracyWindow, DriftWindow, QualityWindow};

/// How bad an alert is (carried to every sink).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, Default)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    #[default]
    Warning,
    Critical,
}

/// A share a data-quality rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum QualityMetric {
    /// Events refused at ingest among all the window's events.
    RejectedShare,
    /// Values outside the training range, of any numerical feature.
    OutOfRangeShare,
    /// Categories training never showed, of any categorical feature.
    UnseenShare,
}

/// What a rule watches.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Condition {
    /// The window's dataset drift verdict.
    DatasetDrift,
    /// One feature's drift verdict, or any feature's when `column` is absent.
    FeatureDrift { column: Option<String> },
    /// Realized MAE over the model card's holdout MAE above `above`, per version and arm.
    AccuracyDegradation { above: f64 },
    /// A data-quality share above `above`.
    Quality { metric: QualityMetric, above: f64 },
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct AlertRule {
    #[validate(length(min = 1, max = 64))]
    pub name: String,
    #[validate(custom(function = "condition_rule"))]
    pub when: Condition,
    #[serde(default)]
    pub severity: Severity,
}

fn condition_rule(condition: &Condition) -> Result<(), ValidationError> {
    let threshold = match condition {
        Condition::AccuracyDegradation { above } | Condition::Quality { above, .. } => *above,
        Condition::DatasetDrift | Condition::FeatureDrift { .. } => return Ok(()),
    };
    if threshold.is_finite() && threshold >= 0.0 {
        Ok(())
    } else {
        let mut error = ValidationError::new("range");
        error.message = Some("`above` must be a finite number ≥ 0".into());
        Err(error)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct WebhookSettings {
    #[validate(custom(function = "rules::http_url"))]
    pub url: String,
    /// The HMAC-SHA256 key of the `X-Velocast-Signature` header (at least 32 bytes).
    #[validate(custom(function = "long_secret"))]
    pub secret: Redacted,
    #[serde(default = "default_timeout_ms")]
    #[validate(range(min = 1, max = 60_000))]
    pub timeout_ms: u64,
    /// Attempts after the first; the wait doubles from 200 ms between them.
    #[serde(default = "default_retries")]
    #[validate(range(min = 0, max = 10))]
    pub max_retries: u32,
}

fn long_secret(secret: &Redacted) -> Result<(), ValidationError> {
    if secret.expose().len() >= 32 {
        Ok(())
    } else {
        let mut error = ValidationError::new("length");
        error.message = Some("must be at least 32 bytes".into());
        Err(error)
    }
}

fn default_timeout_ms() -> u64 {
    5000
}

fn default_retries() -> u32 {
    3
}

/// How the SMTP connection is secured.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain SMTP (a relay on the same host or network only).
    None,
    /// Upgraded with STARTTLS (port 587).
    #[default]
    Starttls,
    /// TLS from the first byte (port 465).
    Tls,
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct EmailSettings {
    #[validate(length(min = 1, max = 253))]
    pub smtp_host: String,
    #[validate(range(min = 1, max = 65_535))]
    pub smtp_port: u16,
    #[serde(default)]
    pub security: SmtpSecurity,
    pub username: Option<String>,
    pub password: Option<Redacted>,
    /// `Velocast monitor <monitor@example.com>`.
    #[validate(custom(function = "mailbox"))]
    pub from: String,
    #[validate(length(min = 1, max = 100))]
    pub to: Vec<String>,
    #[serde(default = "default_timeout_ms")]
    #[validate(range(min = 1, max = 60_000))]
    pub timeout_ms: u64,
}

fn mailbox(text: &str) -> Result<(), ValidationError> {
    text.parse::<Mailbox>().map(|_| ()).map_err(|error| {
        let mut invalid = ValidationError::new("mailbox");
        invalid.message = Some(format!("not an e-mail address: {error}").into());
        invalid
    })
}

#[derive(Debug, Clone, Serialize, Deserialize, Validate, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// The same alert is sent at most once this often.
    #[validate(range(min = 0, max = 2_592_000))]
    pub cooldown_seconds: u64,
    #[validate(nested)]
    pub rules: Vec<AlertRule>,
    #[validate(nested)]
    pub webhook: Option<WebhookSettings>,
    #[validate(nested)]
    pub email: Option<EmailSettings>,
}

/// One alert, as every sink receives it.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Alert {
    pub rule: String,
    pub severity: Severity,
    /// What makes two alerts the same one (for the cooldown).
    pub key: String,
    pub model: String,
    pub version: Option<u32>,
    pub summary: String,
    pub window_from: String,
    pub window_to: String,
    #[schema(value_type = Object)]
    pub details: serde_json::Value,
}

/// The reports of one window an evaluation may use.
#[derive(Debug, Default)]
pub struct Reports<'a> {
    pub drift: Option<&'a DriftWindow>,
    pub quality: Option<&'a QualityWindow>,
    pub accuracy: Option<&'a AccuracyWindow>,
}

/// The alerts `rules` raise on a window's reports (pure: no sending, no cooldown).
pub fn evaluate(rules: &[AlertRule], reports: &Reports<'_>) -> Vec<Alert> {
    let mut alerts = Vec::new();
    for rule in rules {
        let mut raise = |model: &str,
                         version: Option<u32>,
                         scope: String,
                         summary: String,
                         details: serde_json::Value,
                         (from, to): (&str, &str)| {
            alerts.push(Alert {
                rule: rule.name.clone(),
                severity: rule.severity,
                key: format!(
                    "{}/{model}/{}/{scope}",
                    rule.name,
                    version.map_or_else(|| "-".to_owned(), |v| v.to_string())
                ),
                model: model.to_owned(),
                version,
                summary,
                window_from: from.to_owned(),
                window_to: to.to_owned(),
                details,
            });
        };
        match &rule.when {
            Condition::DatasetDrift => {
                if let Some(drift) = reports.drift.filter(|d| d.report.dataset_drift) {
                    raise(
                        &drift.model,
                        Some(drift.version),
                        "dataset".to_owned(),
                        format!(
                            "dataset drift: {} of {} features drifted (share {:.3})",
                            drift.report.number_of_drifted_columns,
                            drift.report.number_of_columns,
                            drift.report.share_of_drifted_columns
                        ),
                        serde_json::json!({"number_of_drifted_columns": drift.report.number_of_drifted_columns,
                                           "share_of_drifted_columns": drift.report.share_of_drifted_columns}),
                        (&drift.from, &drift.to),
                    );
                }
            }
            Condition::FeatureDrift { column } => {
                let Some(drift) = reports.drift else { continue };
                for verdict in &drift.report.drift_by_columns.0 {
                    let watched = column.as_ref().is_none_or(|c| *c == verdict.column_name);
                    if watched && verdict.drift_detected {
                        raise(
                            &drift.model,
                            Some(drift.version),
                            verdict.column_name.clone(),
                            format!(
                                "feature `{}` drifted: {} {:.4} (threshold {})",
                                verdict.column_name,
                                verdict.stattest_name,
                                verdict.drift_score,
                                verdict.stattest_threshold
                            ),
                            serde_json::json!({"column_name": verdict.column_name, "stattest_name": verdict.stattest_name,
                                               "drift_score": verdict.drift_score, "stattest_threshold": verdict.stattest_threshold}),
                            (&drift.from, &drift.to),
                        );
                    }
                }
            }
            Condition::AccuracyDegradation { above } => {
                let Some(accuracy) = reports.accuracy else {
                    continue;
                };
                for group in &accuracy.accuracy.groups {
                    if let Some(ratio) = group.degradation.filter(|ratio| ratio > above) {
                        raise(
                            &accuracy.model,
                            Some(group.version),
                            format!("arm:{}", group.arm),
                            format!(
                                "realized MAE {:.2} is {ratio:.2}× the holdout MAE (arm {}, {} scored rows)",
                                group.errors.mae, group.arm, group.errors.n
                            ),
                            serde_json::json!({"arm": group.arm, "mae": group.errors.mae, "holdout_mae": group.holdout_mae,
                                               "degradation": ratio}),
                            (&accuracy.from, &accuracy.to),
                        );
                    }
                }
            }
            Condition::Quality { metric, above } => {
                let Some(quality) = reports.quality else {
                    continue;
                };
                let report = &quality.quality;
                let shares: Vec<(String, f64)> = match metric {
                    QualityMetric::RejectedShare => {
                        vec![("events".to_owned(), report.rejected_share)]
                    }
                    QualityMetric::OutOfRangeShare => report
                        .features
                        .iter()
                        .map(|f| (f.name.clone(), f.out_of_range_share))
                        .collect(),
                    QualityMetric::UnseenShare => report
                        .features
                        .iter()
                        .map(|f| (f.name.clone(), f.unseen_share))
                        .collect(),
                };
                for (scope, share) in shares.into_iter().filter(|(_, share)| share > above) {
                    raise(
                        &quality.model,
                        Some(quality.version),
                        scope.clone(),
                        format!("{metric:?} of {scope} is {share:.3}, above {above}"),
                        serde_json::json!({"metric": metric, "scope": scope, "share": share}),
                        (&quality.from, &quality.to),
                    );
                }
            }
        }
    }
    alerts
}

/// The sinks and the cooldown.
#[derive(Debug, Clone)]
pub struct Alerter {
    settings: Arc<AlertSettings>,
    http: reqwest::Client,
    sent: Arc<Mutex<HashMap<String, Instant>>>,
    counts: IntCounterVec,
}

/// What became of an evaluation's alerts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Dispatched {
    /// Sent to every sink (each sink's failure is logged and counted, not fatal).
    pub sent: Vec<Alert>,
    /// Suppressed: the same alert went out within the cooldown.
    pub suppressed: Vec<Alert>,
}

type HmacSha256 = Hmac<Sha256>;

/// `sha256=<hex>` of `body` under `secret`, as the `X-Velocast-Signature` header carries it.
pub fn signature(secret: &[u8], body: &[u8]) -> Result<String, String> {
    let mut mac = HmacSha256::new_from_slice(secret).map_err(|e| e.to_string())?;
    mac.update(body);
    Ok(format!(
        "sha256={}",
        hex::encode(mac.finalize().into_bytes())
    ))
}

impl Alerter {
    pub fn new(settings: AlertSettings, counts: IntCounterVec) -> Self {
        Alerter {
            settings: Arc::new(settings),
            http: reqwest::Client::new(),
            sent: Arc::default(),
            counts,
        }
    }

    pub fn rules(&self) -> &[AlertRule] {
        &self.settings.rules
    }

    /// Sends the alerts not sent within the cooldown; returns what was sent and suppressed.
    pub async fn dispatch(&self, alerts: Vec<Alert>) -> Dispatched {
        let cooldown = Duration::from_secs(self.settings.cooldown_seconds);
        let mut fresh = Vec::new();
        let mut suppressed = Vec::new();
        {
            let mut sent = self.sent.lock().await;
            let now = Instant::now();
            for alert in alerts {
                match sent.get(&alert.key) {
                    Some(last) if now.duration_since(*last) < cooldown => suppressed.push(alert),
                    _ => {
                        sent.insert(alert.key.clone(), now);
                        fresh.push(alert);
                    }
                }
            }
        }
        for alert in &fresh {
            tracing::warn!(
                rule = %alert.rule,
                severity = ?alert.severity,
                model = %alert.model,
                version = alert.version,
                window_from = %alert.window_from,
                window_to = %alert.window_to,
                summary = %alert.summary,
                "alert"
            );
            self.count(&alert.rule, "log", "sent");
            if let Some(webhook) = &self.settings.webhook {
                let outcome = match self.post(webhook, alert).await {
                    Ok(()) => "sent",
                    Err(error) => {
                        tracing::error!(rule = %alert.rule, %error, "alert webhook failed");
                        "failed"
                    }
                };
                self.count(&alert.rule, "webhook", outcome);
            }
            if let Some(email) = &self.settings.email {
                let outcome = match mail(email, alert).await {
                    Ok(()) => "sent",
                    Err(error) => {
                        tracing::error!(rule = %alert.rule, %error, "alert e-mail failed");
                        "failed"
                    }
                };
                self.count(&alert.rule, "email", outcome);
            }
        }
        for alert in &suppressed {
            self.count(&alert.rule, "any", "suppressed");
        }
        Dispatched {
            sent: fresh,
            suppressed,
        }
    }

    fn count(&self, rule: &str, sink: &str, outcome: &str) {
        self.counts.with_label_values(&[rule, sink, outcome]).inc();
    }

    async fn post(&self, webhook: &WebhookSettings, alert: &Alert) -> Result<(), String> {
        let body = serde_json::to_vec(alert).map_err(|e| e.to_string())?;
        let signature = signature(webhook.secret.expose().as_bytes(), &body)?;
        let mut wait = Duration::from_millis(200);
        let mut last_error = String::new();
        for attempt in 0..=webhook.max_retries {
            if attempt > 0 {
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            let sent = self
                .http
                .post(&webhook.url)
                .timeout(Duration::from_millis(webhook.timeout_ms))
                .header("content-type", "application/json")
                .header("x-velocast-signature", &signature)
                .header("x-velocast-alert", &alert.key)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(response) if response.status().is_success() => return Ok(()),
                Ok(response) => last_error = format!("answered {}", response.status()),
                Err(error) => last_error = error.to_string(),
            }
        }
        Err(format!(
            "{} after {} attempts: {last_error}",
            webhook.url,
            webhook.max_retries + 1
        ))
    }
}

async fn mail(settings: &EmailSettings, alert: &Alert) -> Result<(), String> {
    let from: Mailbox = settings.from.parse().map_err(|e| format!("from: {e}"))?;
    let mut message = Message::builder().from(from).subject(format!(
        "[velocast {:?}] {}: {}",
        alert.severity, alert.rule, alert.summary
    ));
    for to in &settings.to {
        message = message.to(to.parse().map_err(|e| format!("to `{to}`: {e}"))?);
    }
    let text = format!(
        "{}\n\nrule: {}\nmodel: {} version {}\nwindow: {} to {}\n\n{}\n",
        alert.summary,
        alert.rule,
        alert.model,
        alert
            .version
            .map_or_else(|| "-".to_owned(), |v| v.to_string()),
        alert.window_from,
        alert.window_to,
        serde_json::to_string_pretty(&alert.details).map_err(|e| e.to_string())?
    );
    let message = message.body(text).map_err(|e| e.to_string())?;
    let builder = match settings.security {
        SmtpSecurity::None => {
            AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&settings.smtp_host)
        }
        SmtpSecurity::Starttls => {
            AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&settings.smtp_host)
                .map_err(|e| e.to_string())?
        }
        SmtpSecurity::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&settings.smtp_host)
            .map_err(|e| e.to_string())?,
    };
    let mut builder = builder
        .port(settings.smtp_port)
        .timeout(Some(Duration::from_millis(settings.timeout_ms)));
    if let (Some(username), Some(password)) = (&settings.username, &settings.password) {
        builder = builder.credentials(Credentials::new(
            username.clone(),
            password.expose().to_owned(),
        ));
    }
    builder
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| format!("{}:{}: {e}", settings.smtp_host, settings.smtp_port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_rfc_4231_hmac_sha256() {
        // RFC 4231 test case 2.
        assert_eq!(
            signature(b"Jefe", b"what do ya want for nothing?").unwrap(),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
