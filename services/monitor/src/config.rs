//! The monitor's typed configuration: defaults in code, then a TOML file (`--config`), then
//! `VELOCAST_MONITOR__*` environment variables (nested keys joined by `__`), then the shared
//! names `DATABASE_URL`, `VELOCAST_JWT_SECRET` and `VELOCAST_REGISTRY_URL`, then flags.
//! Validated once at start with every error reported together (exit code 2).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use validator::Validate;
pub use velocast_config::ConfigError;
use velocast_config::{Redacted, rules};
pub use velocast_http::auth::AuthSettings;

pub use crate::alerts::AlertSettings;

pub const ENV_PREFIX: &str = "VELOCAST_MONITOR__";

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct MonitorConfig {
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    pub bind: SocketAddr,
    /// `postgres://…` or `sqlite://…` (the embedded default): the monitor's own database.
    #[validate(custom(function = "rules::database_url"))]
    pub database_url: Redacted,
    #[validate(range(min = 1, max = 256))]
    pub max_connections: u32,
    /// The registry the reference profiles (and holdout metrics) come from.
    #[validate(custom(function = "rules::http_url"))]
    pub registry_url: String,
    /// The monitor's token for the registry (`models:read`); else `VELOCAST_TOKEN`.
    pub registry_token_file: Option<PathBuf>,
    /// The model watched by the tumbling windows and their gauges.
    #[validate(length(min = 1, max = 64))]
    pub model: String,
    /// Tumbling window length: drift, quality and accuracy gauges are recomputed over the last
    /// window this often.
    #[validate(range(min = 10, max = 604_800))]
    pub window_seconds: u64,
    /// Share of drifted columns at which a window's dataset drifts (Evidently: 0.5).
    #[validate(range(min = 0.0, max = 1.0))]
    pub drift_share: f64,
    /// Most events one window may hold in memory for a report.
    #[validate(range(min = 1, max = 50_000_000))]
    pub max_window_events: u32,
    /// Largest request body (an event or outcome batch), in bytes.
    #[validate(range(min = 1024, max = 268_435_456))]
    pub max_body_bytes: usize,
    /// Largest batch, in items.
    #[validate(range(min = 1, max = 1_000_000))]
    pub max_batch: u32,
    /// API requests handled at once; more are refused with 503 + `Retry-After`.
    #[validate(range(min = 1, max = 100_000))]
    pub max_in_flight: usize,
    #[validate(range(min = 1, max = 3600))]
    pub request_timeout_seconds: u64,
    /// After SIGTERM: how long in-flight requests (and the batches they carry) may take.
    #[validate(range(min = 0, max = 600))]
    pub shutdown_grace_seconds: u64,
    pub json_logs: bool,
    #[validate(nested)]
    pub auth: AuthSettings,
    /// Rules and sinks (`[alerts]`, `[[alerts.rules]]`, `[alerts.webhook]`, `[alerts.email]`).
    #[validate(nested)]
    pub alerts: AlertSettings,
}

impl Default for MonitorConfig {
    fn default() -> Self {
        MonitorConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8082)),
            database_url: Redacted::new("sqlite://.velocast/monitor.db?mode=rwc"),
            max_connections: 8,
            registry_url: "http://127.0.0.1:8081".into(),
            registry_token_file: None,
            model: "bike-demand".into(),
            window_seconds: 3600,
            drift_share: 0.5,
            max_window_events: 2_000_000,
            max_body_bytes: 32 * 1024 * 1024,
            max_batch: 100_000,
            max_in_flight: 256,
            request_timeout_seconds: 60,
            shutdown_grace_seconds: 20,
            json_logs: false,
            auth: AuthSettings::default(),
            alerts: AlertSettings {
                cooldown_seconds: 3600,
                ..AlertSettings::default()
            },
        }
    }
}

/// Command-line values; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub bind: Option<SocketAddr>,
    pub json_logs: bool,
}

impl MonitorConfig {
    /// Resolves the layers from the process environment and validates the result.
    pub fn load(file: Option<&Path>, flags: &Flags) -> Result<Self, ConfigError> {
        let figment = velocast_config::layered(
            file,
            ENV_PREFIX,
            &[
                ("DATABASE_URL", "database_url"),
                ("VELOCAST_JWT_SECRET", "auth.jwt_secret"),
                ("VELOCAST_REGISTRY_URL", "registry_url"),
            ],
            flags.bind,
            flags.json_logs,
        )?;
        let config: MonitorConfig = velocast_config::extract(&figment)?;
        config.check()?;
        Ok(config)
    }

    /// Every rule at once, including that exactly one way to verify tokens is configured.
    pub fn check(&self) -> Result<(), ConfigError> {
        velocast_config::all_problems(
            self.validate(),
            self.auth
                .check()
                .err()
                .map(|error| format!("  auth: {error}")),
        )
    }

    /// The resolved configuration as TOML, secrets redacted (`--check-config`).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_problem_is_reported_at_once_and_secrets_stay_hidden() {
        let config = MonitorConfig {
            database_url: Redacted::new("mysql://root:hunter2@db/x"),
            registry_url: "ftp://registry".into(),
            window_seconds: 1,
            drift_share: 1.5,
            ..MonitorConfig::default()
        };
        let error = config.check().unwrap_err().to_string();
        for expected in [
            "database_url: rule must start with postgres://",
            "registry_url: rule must start with http://",
            "window_seconds",
            "drift_share",
            "no way to verify tokens",
        ] {
            assert!(error.contains(expected), "{expected}: {error}");
        }
        assert!(!error.contains("hunter2"), "{error}");
        assert!(!config.to_toml().unwrap().contains("hunter2"));
    }

    #[test]
    fn alert_rules_and_sinks_are_checked_at_start() {
        let mut config = MonitorConfig::default();
        config.auth.jwt_secret = Some(Redacted::new("k".repeat(32)));
        config.alerts = toml::from_str(
            r#"
            [[rules]]
            name = "slow"
            when = { kind = "accuracy_degradation", above = -1.0 }
            [webhook]
            url = "ftp://hooks"
            secret = "short"
            [email]
            smtp_host = "mail"
            smtp_port = 25
            from = "not an address"
            to = ["ops@example.com"]
            "#,
        )
        .unwrap();
        let error = config.check().unwrap_err().to_string();
        for expected in ["above", "webhook.url", "webhook.secret", "email.from"] {
            assert!(error.contains(expected), "{expected}: {error}");
        }
        assert!(
            !error.contains("short\""),
            "the secret is not echoed: {error}"
        );
        // An unknown condition is refused when the file is read.
        let unknown = toml::from_str::<AlertSettings>(
            "[[rules]]\nname = \"x\"\nwhen = { kind = \"weather\" }\n",
        );
        assert!(unknown.is_err());
    }
}
