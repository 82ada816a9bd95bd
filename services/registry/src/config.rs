//! The registry's typed configuration: defaults in code, then a TOML file (`--config`), then
//! `VELOCAST_REGISTRY__*` environment variables (nested keys joined by `__`), then the shared
//! names `DATABASE_URL` and `VELOCAST_JWT_SECRET`, then flags. Validated once at start with every
//! error reported together (exit code 2).

use std::net::SocketAddr;
use std::path::Path;

use serde::{Deserialize, Serialize};
use validator::Validate;
pub use velocast_config::ConfigError;
use velocast_config::{Redacted, rules};
pub use velocast_http::auth::AuthSettings;

pub const ENV_PREFIX: &str = "VELOCAST_REGISTRY__";

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct RegistryConfig {
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    pub bind: SocketAddr,
    /// `postgres://…` or `sqlite://…` (the embedded default).
    #[validate(custom(function = "rules::database_url"))]
    pub database_url: Redacted,
    #[validate(range(min = 1, max = 256))]
    pub max_connections: u32,
    /// Largest accepted artifact (and reference profile), in bytes.
    #[validate(range(min = 1024, max = 1_073_741_824))]
    pub max_artifact_bytes: usize,
    /// Largest JSON request body, in bytes.
    #[validate(range(min = 1024, max = 67_108_864))]
    pub max_json_bytes: usize,
    /// API requests handled at once; more are refused with 503 + `Retry-After` rather than
    /// queued (health and metrics are never refused).
    #[validate(range(min = 1, max = 100_000))]
    pub max_in_flight: usize,
    /// Time allowed to produce a response head.
    #[validate(range(min = 1, max = 3600))]
    pub request_timeout_seconds: u64,
    /// After SIGTERM: how long in-flight requests may take before connections are dropped.
    #[validate(range(min = 0, max = 600))]
    pub shutdown_grace_seconds: u64,
    /// JSON log lines even on a terminal.
    pub json_logs: bool,
    #[validate(nested)]
    pub auth: AuthSettings,
}

impl Default for RegistryConfig {
    fn default() -> Self {
        RegistryConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8081)),
            database_url: Redacted::new("sqlite://.velocast/registry.db?mode=rwc"),
            max_connections: 16,
            max_artifact_bytes: 64 * 1024 * 1024,
            max_json_bytes: 2 * 1024 * 1024,
            max_in_flight: 256,
            request_timeout_seconds: 30,
            shutdown_grace_seconds: 20,
            json_logs: false,
            auth: AuthSettings::default(),
        }
    }
}

/// Command-line values; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub bind: Option<SocketAddr>,
    pub json_logs: bool,
}

impl RegistryConfig {
    /// Resolves the layers from the process environment and validates the result.
    pub fn load(file: Option<&Path>, flags: &Flags) -> Result<Self, ConfigError> {
        // Defaults come from `#[serde(default)]`, so nothing secret is ever serialized into a layer.
        let figment = velocast_config::layered(
            file,
            ENV_PREFIX,
            &[
                ("DATABASE_URL", "database_url"),
                ("VELOCAST_JWT_SECRET", "auth.jwt_secret"),
            ],
            flags.bind,
            flags.json_logs,
        )?;
        let config: RegistryConfig = velocast_config::extract(&figment)?;
        config.check()?;
        Ok(config)
    }

    /// Every rule at once, including that exactly one way to verify tokens is configured and
    /// that it works.
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
    fn defaults_need_only_a_token_key() {
        let mut config = RegistryConfig::default();
        let error = config.check().unwrap_err().to_string();
        assert!(error.contains("no way to verify tokens"), "{error}");
        config.auth.jwt_secret = Some(Redacted::new("k".repeat(32)));
        config.check().unwrap();
    }

    #[test]
    fn every_problem_is_reported_at_once_and_secrets_stay_hidden() {
        let config = RegistryConfig {
            database_url: Redacted::new("mysql://root:hunter2@db/x"),
            max_connections: 0,
            auth: AuthSettings {
                jwt_secret: Some(Redacted::new("short")),
                ..AuthSettings::default()
            },
            ..RegistryConfig::default()
        };
        let error = config.check().unwrap_err().to_string();
        assert!(
            error.contains("database_url: rule must start with postgres://"),
            "{error}"
        );
        assert!(
            error.contains("max_connections: rule must be within 1..=256"),
            "{error}"
        );
        assert!(error.contains("jwt_secret"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        let printed = config.to_toml().unwrap();
        assert!(
            printed.contains("database_url = \"[redacted]\""),
            "{printed}"
        );
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
