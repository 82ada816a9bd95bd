//! Configuration pieces every Velocast binary shares (CONVENTIONS 8):
//!
//! - [`describe`] turns `validator` errors into one line per broken rule with its field path,
//!   so a bad configuration reports every problem at once;
//! - [`Redacted`] holds a secret (a token key, a database URL with a password) that
//!   deserializes like a string but prints and serializes as `[redacted]`, so
//!   `--check-config` and logs can show the whole configuration safely.

use std::fmt;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("configuration: {0}")]
    Parse(String),
    #[error("invalid configuration:\n{0}")]
    Invalid(String),
}

/// Layers a TOML file over `figment`; a named file that does not exist is an error, not an
/// empty layer.
pub fn with_file(figment: Figment, file: Option<&Path>) -> Result<Figment, ConfigError> {
    match file {
        Some(file) if !file.exists() => Err(ConfigError::MissingFile(file.to_owned())),
        Some(file) => Ok(figment.merge(Toml::file_exact(file))),
        None => Ok(figment),
    }
}

/// Extracts the typed configuration from the resolved layers.
pub fn extract<T: DeserializeOwned>(figment: &Figment) -> Result<T, ConfigError> {
    figment
        .extract()
        .map_err(|e| ConfigError::Parse(e.to_string()))
}

/// Every broken rule with its dotted path (`auth.issuer`, `metrics[3].key`), sorted by path.
pub fn broken_rules(errors: &ValidationErrors) -> Vec<(String, &ValidationError)> {
    fn walk<'a>(
        errors: &'a ValidationErrors,
        prefix: &str,
        out: &mut Vec<(String, &'a ValidationError)>,
    ) {
        for (field, kind) in errors.errors() {
            let path = if prefix.is_empty() {
                field.to_string()
            } else {
                format!("{prefix}.{field}")
            };
            match kind {
                ValidationErrorsKind::Field(list) => {
                    out.extend(list.iter().map(|error| (path.clone(), error)));
                }
                ValidationErrorsKind::Struct(inner) => walk(inner, &path, out),
                ValidationErrorsKind::List(items) => {
                    for (index, inner) in items {
                        walk(inner, &format!("{path}[{index}]"), out);
                    }
                }
            }
        }
    }
    let mut out = Vec::new();
    walk(errors, "", &mut out);
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// A rule parameter as people write it (`100`, not `100.0`).
fn number_text(value: &serde_json::Value) -> String {
    match value.as_f64() {
        Some(n) if n.fract() == 0.0 && n.abs() < 1e15 => format!("{}", n as i64),
        _ => value.to_string(),
    }
}

/// The rule in words: its message; for ranges `must be within 0..=100` (or `at least` /
/// `at most`); else its code and parameters (`length max=10, min=1`).
pub fn rule_text(error: &ValidationError) -> String {
    if error.message.is_none() && error.code == "range" {
        let min = error.params.get("min").map(number_text);
        let max = error.params.get("max").map(number_text);
        match (min, max) {
            (Some(min), Some(max)) => return format!("must be within {min}..={max}"),
            (Some(min), None) => return format!("must be at least {min}"),
            (None, Some(max)) => return format!("must be at most {max}"),
            (None, None) => {}
        }
    }
    error.message.as_ref().map_or_else(
        || {
            // Sorted: the parameters sit in a hash map, and messages should not change between
            // runs.
            let mut params: Vec<String> = error
                .params
                .iter()
                .filter(|(k, _)| *k != "value")
                .map(|(k, v)| format!("{k}={v}"))
                .collect();
            params.sort();
            format!("`{}` {}", error.code, params.join(", "))
                .trim_end()
                .to_owned()
        },
        ToString::to_string,
    )
}

/// Every broken rule, one per line (`  path: rule text`), sorted; `prefix` goes before each path.
pub fn describe(errors: &ValidationErrors, prefix: &str) -> String {
    broken_rules(errors)
        .iter()
        .map(|(path, error)| {
            let path = if prefix.is_empty() {
                path.clone()
            } else {
                format!("{prefix}.{path}")
            };
            format!("  {path}: rule {}", rule_text(error))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A secret configuration value.
#[derive(Clone)]
pub struct Redacted(SecretString);

impl Redacted {
    pub fn new(value: impl Into<String>) -> Self {
        Redacted(SecretString::from(value.into()))
    }

    /// The value, for the one place that must use it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }

    pub fn secret(&self) -> &SecretString {
        &self.0
    }
}

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl Serialize for Redacted {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str("[redacted]")
    }
}

impl<'de> Deserialize<'de> for Redacted {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(Redacted::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use validator::Validate;

    #[derive(Debug, Validate)]
    struct Outer {
        #[validate(range(min = 1, max = 10))]
        count: u32,
        #[validate(nested)]
        inner: Inner,
    }

    #[derive(Debug, Validate)]
    struct Inner {
        #[validate(length(min = 1))]
        name: String,
    }

    #[test]
    fn every_broken_rule_is_reported_with_its_path() {
        let bad = Outer {
            count: 0,
            inner: Inner {
                name: String::new(),
            },
        };
        let text = describe(&bad.validate().unwrap_err(), "");
        assert_eq!(text.lines().count(), 2, "{text}");
        assert!(text.contains("count: rule must be within 1..=10"), "{text}");
        assert!(text.contains("inner.name: rule `length` min=1"), "{text}");
    }

    #[test]
    fn secrets_never_print() {
        let secret: Redacted = serde_json::from_str("\"postgres://u:hunter2@db/x\"").unwrap();
        assert_eq!(secret.expose(), "postgres://u:hunter2@db/x");
        assert_eq!(format!("{secret:?}"), "[redacted]");
        assert_eq!(serde_json::to_string(&secret).unwrap(), "\"[redacted]\"");
    }
}

/// The layers every service resolves its configuration from, lowest first: its defaults (from
/// `#[serde(default)]`), the TOML file, `prefix`-ed environment variables (nested keys joined
/// by `__`), the shared variables of `shared` (variable name → key, e.g. `DATABASE_URL` →
/// `database_url`), then the flags every service takes.
pub fn layered(
    file: Option<&Path>,
    prefix: &str,
    shared: &[(&'static str, &'static str)],
    bind: Option<std::net::SocketAddr>,
    json_logs: bool,
) -> Result<Figment, ConfigError> {
    use figment::providers::{Env, Serialized};
    let mut figment = with_file(Figment::new(), file)?.merge(Env::prefixed(prefix).split("__"));
    for &(variable, key) in shared {
        figment = figment.merge(Env::raw().only(&[variable]).map(move |_| key.into()));
    }
    if let Some(bind) = bind {
        figment = figment.merge(Serialized::default("bind", bind));
    }
    if json_logs {
        figment = figment.merge(Serialized::default("json_logs", true));
    }
    Ok(figment)
}

/// Every problem of a configuration at once: the `validator` rules' and `more` (already
/// formatted lines, e.g. `  auth: …`).
pub fn all_problems(
    validated: Result<(), ValidationErrors>,
    more: impl IntoIterator<Item = String>,
) -> Result<(), ConfigError> {
    let mut problems: Vec<String> = validated
        .err()
        .map(|errors| describe(&errors, ""))
        .into_iter()
        .collect();
    problems.extend(more);
    if problems.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::Invalid(problems.join("\n")))
    }
}

/// `validator` rules shared by the services' configurations.
pub mod rules {
    use validator::ValidationError;

    use crate::Redacted;

    fn broken(code: &'static str, message: &'static str) -> ValidationError {
        let mut error = ValidationError::new(code);
        error.message = Some(message.into());
        error
    }

    /// A database URL: Postgres or SQLite.
    pub fn database_url(url: &Redacted) -> Result<(), ValidationError> {
        let url = url.expose();
        if ["postgres://", "postgresql://", "sqlite:"]
            .iter()
            .any(|scheme| url.starts_with(scheme))
        {
            Ok(())
        } else {
            Err(broken(
                "scheme",
                "must start with postgres://, postgresql:// or sqlite:",
            ))
        }
    }

    /// An HTTP(S) URL.
    pub fn http_url(url: &str) -> Result<(), ValidationError> {
        if url.starts_with("http://") || url.starts_with("https://") {
            Ok(())
        } else {
            Err(broken("scheme", "must start with http:// or https://"))
        }
    }
}
