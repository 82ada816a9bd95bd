//! The store's one error type. Database failures are classified here, once: a database that
//! cannot be reached is [`StoreError::Unavailable`] (callers answer 503 and retry), anything
//! else from the database is [`StoreError::Database`]. No sqlx type leaks to callers.

use thiserror::Error;
use velocast_catalog::ParseError;

type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("unsupported database URL (use postgres:// or sqlite://)")]
    UnsupportedUrl,
    #[error("model `{0}` already exists")]
    ModelExists(String),
    #[error("model `{0}` not found")]
    ModelNotFound(String),
    #[error("version {version} of model `{model}` not found")]
    VersionNotFound { model: String, version: u32 },
    #[error("model `{0}` has no versions yet")]
    NoVersions(String),
    #[error("{part} digest mismatch: declared {declared}, received bytes hash to {actual}")]
    DigestMismatch {
        /// `artifact` or `profile`.
        part: &'static str,
        declared: String,
        actual: String,
    },
    #[error("{part} of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// `artifact` or `profile`.
        part: &'static str,
        size: usize,
        limit: usize,
    },
    #[error("alias `{alias}` of model `{model}` not found")]
    AliasNotFound { model: String, alias: String },
    #[error("version {version} of model `{model}` is what alias `{alias}` points at")]
    VersionInUse {
        model: String,
        version: u32,
        alias: String,
    },
    #[error(
        "model `{model}` still has {what}; only a model without versions, runs or alias history can be deleted"
    )]
    ModelInUse { model: String, what: &'static str },
    #[error("run `{0}` not found")]
    RunNotFound(String),
    #[error("run `{0}` already exists")]
    RunExists(String),
    #[error("run `{id}` is {status} and can no longer change")]
    RunClosed { id: String, status: &'static str },
    #[error("metric `{key}` at step {step} is not a finite number")]
    BadMetric { key: String, step: i64 },
    #[error("stored bytes for {0} fail verification")]
    Corrupt(String),
    #[error("stored data is invalid: {0}")]
    Invalid(String),
    /// The database cannot be reached now (connection refused or lost, pool exhausted or
    /// closed, server shutting down): retry later.
    #[error("the database is unavailable: {source}")]
    Unavailable {
        #[source]
        source: Source,
    },
    #[error("database: {source}")]
    Database {
        #[source]
        source: Source,
    },
    #[error("migrations: {source}")]
    Migrate {
        #[source]
        source: Source,
    },
}

impl StoreError {
    /// Whether retrying later can succeed without any change to the request.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, StoreError::Unavailable { .. })
    }
}

impl From<ParseError> for StoreError {
    fn from(error: ParseError) -> Self {
        StoreError::Invalid(error.to_string())
    }
}

impl From<serde_json::Error> for StoreError {
    fn from(error: serde_json::Error) -> Self {
        StoreError::Invalid(format!("stored JSON does not parse: {error}"))
    }
}

impl From<sqlx::migrate::MigrateError> for StoreError {
    fn from(error: sqlx::migrate::MigrateError) -> Self {
        match error {
            sqlx::migrate::MigrateError::Execute(inner) => inner.into(),
            other => StoreError::Migrate {
                source: Box::new(other),
            },
        }
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        use sqlx::Error as E;
        // Postgres SQLSTATE classes 08 (connection exception) and 57P (operator intervention:
        // shutdown, crash recovery) mean the server is away, not that the statement is wrong.
        let server_away = matches!(&error, E::Database(db)
            if db.code().is_some_and(|c| c.starts_with("08") || c.starts_with("57P")));
        if server_away
            || matches!(
                error,
                E::Io(_) | E::Tls(_) | E::PoolTimedOut | E::PoolClosed | E::WorkerCrashed
            )
        {
            StoreError::Unavailable {
                source: Box::new(error),
            }
        } else {
            StoreError::Database {
                source: Box::new(error),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unreachable_databases_are_unavailable_and_bugs_are_not() {
        assert!(StoreError::from(sqlx::Error::PoolTimedOut).is_unavailable());
        assert!(StoreError::from(sqlx::Error::PoolClosed).is_unavailable());
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(StoreError::from(sqlx::Error::Io(refused)).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::RowNotFound).is_unavailable());
        assert!(!StoreError::from(sqlx::Error::ColumnNotFound("x".into())).is_unavailable());
    }
}
