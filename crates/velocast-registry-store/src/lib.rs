//! The registry's storage: registered models, their immutable versions and the artifacts they
//! point at, over sqlx on Postgres (production, CI) or SQLite (the embedded default).
//!
//! Invariants, each held by a single transaction (see `docs/registry.md`):
//! - versions are numbered 1, 2, 3… per model with no gap and no duplicate, however many uploads
//!   race: the number comes from bumping `next_version` on the model row, which Postgres locks
//!   for the rest of the transaction and SQLite serializes anyway;
//! - a version never exists without its bytes and a failed upload leaves no bytes behind: the
//!   blob, the counter and the version row commit or roll back together;
//! - the server hashes every artifact; a declared digest that does not match is refused before
//!   anything is written, and bytes are verified again when read.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use thiserror::Error;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use velocast_catalog::{AliasName, Digest, ModelName, ParseError, VersionFilter, VersionNumber};

mod blobs;
mod events;
pub mod testing;

pub use blobs::{BlobFuture, BlobStore, DatabaseBlobs};
pub use events::{CHANNEL, WatchEvent};
/// The database error type, for callers that classify failures (unreachable vs. a bug).
pub use sqlx::Error as SqlxError;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

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
    Invalid(#[from] ParseError),
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migrations: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

#[derive(Debug, Clone, PartialEq)]
pub struct ModelRecord {
    pub name: ModelName,
    pub description: String,
    pub tags: serde_json::Value,
    /// The highest version number handed out (deleted versions keep their number).
    pub latest_version: Option<VersionNumber>,
    pub created_by: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub model: ModelName,
    pub version: VersionNumber,
    pub artifact_digest: Digest,
    pub artifact_size: u64,
    pub profile_digest: Option<Digest>,
    /// Signature, metrics, params, tags, lineage: the document the trainer uploads.
    pub metadata: serde_json::Value,
    pub run_id: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// One alias change, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasMove {
    pub alias: AliasName,
    /// `None`: the alias was created.
    pub from: Option<VersionNumber>,
    /// `None`: the alias was deleted.
    pub to: Option<VersionNumber>,
    pub actor: String,
    pub reason: String,
    pub at_ms: i64,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    Running,
    Finished,
    Failed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
        }
    }

    pub fn parse(text: &str) -> Option<RunStatus> {
        [RunStatus::Running, RunStatus::Finished, RunStatus::Failed]
            .into_iter()
            .find(|s| s.as_str() == text)
    }
}

/// One logged value.
#[derive(Debug, Clone, PartialEq)]
pub struct Metric {
    pub key: String,
    pub step: i64,
    pub value: f64,
}

/// A training run: its parameters, status, metrics and the versions it produced.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    pub id: String,
    pub model: ModelName,
    pub status: RunStatus,
    pub params: serde_json::Value,
    pub created_by: String,
    pub started_at_ms: i64,
    pub ended_at_ms: Option<i64>,
    pub metrics: Vec<Metric>,
    pub versions: Vec<VersionNumber>,
}

/// An upload: the bytes, the digest the client declares, and what describes them.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub model: &'a ModelName,
    pub artifact: &'a [u8],
    pub declared_digest: &'a Digest,
    /// The reference profile and its declared digest, checked like the artifact.
    pub profile: Option<(&'a [u8], &'a Digest)>,
    pub metadata: &'a serde_json::Value,
    pub run_id: Option<&'a str>,
    pub created_by: &'a str,
}

/// The alias a model has and the version it points at.
#[derive(Debug, Clone, PartialEq)]
pub struct AliasRecord {
    pub alias: AliasName,
    pub version: VersionNumber,
    pub updated_by: String,
    pub updated_at_ms: i64,
}

/// The storage handle (cheap to clone: a pool and two `Arc`s).
#[derive(Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    max_artifact_bytes: usize,
    blobs: Arc<dyn BlobStore>,
    events: broadcast::Sender<WatchEvent>,
    /// Kept for the notification listener's own connection; never printed (may hold a password).
    listen_url: Option<Arc<str>>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Store")
            .field("backend", &self.backend)
            .field("max_artifact_bytes", &self.max_artifact_bytes)
            .field("blobs", &self.blobs)
            .finish_non_exhaustive()
    }
}

/// How many events a slow watcher may fall behind before it is told to resync.
const EVENT_BUFFER: usize = 1024;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

pub fn sha256(bytes: &[u8]) -> Digest {
    Digest::from_bytes(&Sha256::digest(bytes).into())
}

impl Store {
    /// Connects and applies the migrations of the URL's backend.
    pub async fn connect(
        url: &str,
        max_connections: u32,
        max_artifact_bytes: usize,
    ) -> Result<Store, StoreError> {
        let backend = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Backend::Postgres
        } else if url.starts_with("sqlite:") {
            Backend::Sqlite
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            // While the database is down, fail requests fast (a 503 the client retries) rather
            // than queueing them for sqlx's default 30 s.
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        match backend {
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
        }
        let (events, _) = broadcast::channel(EVENT_BUFFER);
        Ok(Store {
            blobs: Arc::new(DatabaseBlobs::new(pool.clone())),
            pool,
            backend,
            max_artifact_bytes,
            events,
            listen_url: (backend == Backend::Postgres).then(|| Arc::from(url)),
        })
    }

    /// Applies the migrations and returns; for `velocast-registry migrate`.
    pub async fn migrate(url: &str) -> Result<(), StoreError> {
        Store::connect(url, 1, 0).await.map(|_| ())
    }

    /// Closes the pool's connections (graceful shutdown).
    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Watch events from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<WatchEvent> {
        self.events.subscribe()
    }

    /// The task that relays Postgres notifications to this process's watchers; `None` on
    /// SQLite, where the store publishes directly. Run it until `cancel` fires.
    pub fn notification_relay(
        &self,
        cancel: CancellationToken,
        on_connection: impl Fn(bool) + Send + 'static,
    ) -> Option<impl std::future::Future<Output = ()> + Send + 'static> {
        let url = self.listen_url.as_deref()?.to_owned();
        Some(events::relay_postgres_notifications(
            url,
            self.events.clone(),
            cancel,
            on_connection,
        ))
    }

    /// Checks an upload part against the size limit and its declared digest; its digest.
    fn accepted(
        &self,
        bytes: &[u8],
        declared: &Digest,
        part: &'static str,
    ) -> Result<Digest, StoreError> {
        if bytes.len() > self.max_artifact_bytes {
            return Err(StoreError::TooLarge {
                part,
                size: bytes.len(),
                limit: self.max_artifact_bytes,
            });
        }
        verified_digest(bytes, declared, part)
    }

    /// Queues `event` inside `tx`: Postgres delivers it on commit; SQLite gets it from
    /// [`Store::published`] after the commit.
    async fn publish(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        event: &WatchEvent,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            let payload = serde_json::to_string(event).unwrap_or_default();
            sqlx::query("SELECT pg_notify($1, $2)")
                .bind(CHANNEL)
                .bind(payload)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
    }

    /// After a commit: hands `event` to in-process watchers where no database relay does.
    fn published(&self, event: WatchEvent) {
        if self.backend == Backend::Sqlite {
            let _ = self.events.send(event);
        }
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Whether the database answers (readiness).
    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn create_model(
        &self,
        name: &ModelName,
        description: &str,
        tags: &serde_json::Value,
        created_by: &str,
    ) -> Result<ModelRecord, StoreError> {
        let now = now_ms();
        let inserted = sqlx::query(
            "INSERT INTO registered_models (name, description, tags, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name.as_str())
        .bind(description)
        .bind(tags.to_string())
        .bind(created_by)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::ModelExists(name.to_string()));
        }
        self.get_model(name).await
    }

    pub async fn get_model(&self, name: &ModelName) -> Result<ModelRecord, StoreError> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM registered_models WHERE name = $1");
        let row = sqlx::query(&sql)
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::ModelNotFound(name.to_string()))?;
        model_record(&row)
    }

    /// Changes a model's description and/or tags (what is `None` stays).
    pub async fn update_model(
        &self,
        name: &ModelName,
        description: Option<&str>,
        tags: Option<&serde_json::Value>,
    ) -> Result<ModelRecord, StoreError> {
        let updated = sqlx::query(
            "UPDATE registered_models SET description = COALESCE($1, description), \
             tags = COALESCE($2, tags), updated_at = $3 WHERE name = $4",
        )
        .bind(description)
        .bind(tags.map(ToString::to_string))
        .bind(now_ms())
        .bind(name.as_str())
        .execute(&self.pool)
        .await?;
        if updated.rows_affected() == 0 {
            return Err(StoreError::ModelNotFound(name.to_string()));
        }
        self.get_model(name).await
    }

    /// Deletes a model that holds nothing worth keeping: no versions, no runs and no alias
    /// history (the audit log is never rewritten). For names registered by mistake.
    pub async fn delete_model(&self, name: &ModelName) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        let model_id = Self::lock_model(&mut tx, name, now_ms()).await?;
        let checks = [
            (
                "versions",
                "SELECT 1 AS one FROM model_versions WHERE model_id = $1 LIMIT 1",
            ),
            (
                "alias history",
                "SELECT 1 AS one FROM alias_audit WHERE model_id = $1 LIMIT 1",
            ),
            (
                "runs",
                "SELECT 1 AS one FROM runs r JOIN registered_models m ON m.name = r.model_name \
                 WHERE m.id = $1 LIMIT 1",
            ),
        ];
        for (what, sql) in checks {
            let found = sqlx::query(sql)
                .bind(model_id)
                .fetch_optional(&mut *tx)
                .await?;
            if found.is_some() {
                return Err(StoreError::ModelInUse {
                    model: name.to_string(),
                    what,
                });
            }
        }
        sqlx::query("DELETE FROM registered_models WHERE id = $1")
            .bind(model_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Every model, by name; with `tag`, only those whose tag `key` equals `value`.
    pub async fn list_models(
        &self,
        tag: Option<&velocast_catalog::TagFilter>,
    ) -> Result<Vec<ModelRecord>, StoreError> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM registered_models ORDER BY name");
        let models = sqlx::query(&sql)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(model_record)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(models
            .into_iter()
            .filter(|m| {
                tag.is_none_or(|t| {
                    m.tags.get(&t.key).and_then(serde_json::Value::as_str) == Some(&t.value)
                })
            })
            .collect())
    }

    /// Starts a run for an existing model.
    pub async fn create_run(
        &self,
        id: &str,
        model: &ModelName,
        params: &serde_json::Value,
        created_by: &str,
    ) -> Result<(), StoreError> {
        self.get_model(model).await?;
        let inserted = sqlx::query(
            "INSERT INTO runs (id, model_name, status, params, created_by, started_at) \
             VALUES ($1, $2, 'running', $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(model.as_str())
        .bind(params.to_string())
        .bind(created_by)
        .bind(now_ms())
        .execute(&self.pool)
        .await?;
        if inserted.rows_affected() == 0 {
            return Err(StoreError::RunExists(id.to_owned()));
        }
        Ok(())
    }

    /// The run's status, or why it cannot take more writes.
    async fn open_run(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        id: &str,
    ) -> Result<(), StoreError> {
        let row = sqlx::query("SELECT status FROM runs WHERE id = $1")
            .bind(id)
            .fetch_optional(&mut **tx)
            .await?
            .ok_or_else(|| StoreError::RunNotFound(id.to_owned()))?;
        let status: String = row.try_get("status")?;
        match RunStatus::parse(&status) {
            Some(RunStatus::Running) => Ok(()),
            Some(closed) => Err(StoreError::RunClosed {
                id: id.to_owned(),
                status: closed.as_str(),
            }),
            None => Err(StoreError::RunClosed {
                id: id.to_owned(),
                status: "unknown",
            }),
        }
    }

    /// Logs metrics to a running run, all or none. Logging a (key, step) again replaces it.
    pub async fn log_metrics(&self, id: &str, metrics: &[Metric]) -> Result<(), StoreError> {
        if let Some(bad) = metrics.iter().find(|m| !m.value.is_finite()) {
            return Err(StoreError::BadMetric {
                key: bad.key.clone(),
                step: bad.step,
            });
        }
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        Self::open_run(&mut tx, id).await?;
        for metric in metrics {
            sqlx::query(
                "INSERT INTO run_metrics (run_id, key, step, value, logged_at) VALUES ($1, $2, $3, $4, $5) \
                 ON CONFLICT (run_id, key, step) DO UPDATE SET value = excluded.value, logged_at = excluded.logged_at",
            )
            .bind(id)
            .bind(&metric.key)
            .bind(metric.step)
            .bind(metric.value)
            .bind(now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Closes a running run as finished or failed.
    pub async fn end_run(&self, id: &str, status: RunStatus) -> Result<(), StoreError> {
        let mut tx = self.pool.begin().await?;
        Self::open_run(&mut tx, id).await?;
        sqlx::query("UPDATE runs SET status = $1, ended_at = $2 WHERE id = $3")
            .bind(status.as_str())
            .bind(now_ms())
            .bind(id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Runs, newest first, at most `limit`; with `model` / `status`, only those.
    pub async fn list_runs(
        &self,
        model: Option<&ModelName>,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        // A NULL parameter matches everything, so one statement serves every combination.
        let rows = sqlx::query(
            "SELECT id FROM runs WHERE ($1 IS NULL OR model_name = $1) AND ($2 IS NULL OR status = $2) \
             ORDER BY started_at DESC, id LIMIT $3",
        )
        .bind(model.map(ModelName::as_str))
        .bind(status.map(RunStatus::as_str))
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        let mut runs = Vec::with_capacity(rows.len());
        for row in rows {
            runs.push(self.get_run(&row.try_get::<String, _>("id")?).await?);
        }
        Ok(runs)
    }

    pub async fn get_run(&self, id: &str) -> Result<RunRecord, StoreError> {
        let row = sqlx::query(
            "SELECT id, model_name, status, params, created_by, started_at, ended_at FROM runs WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::RunNotFound(id.to_owned()))?;
        let status: String = row.try_get("status")?;
        let metrics = sqlx::query(
            "SELECT key, step, value FROM run_metrics WHERE run_id = $1 ORDER BY key, step",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(|m| {
            Ok(Metric {
                key: m.try_get("key")?,
                step: m.try_get("step")?,
                value: m.try_get("value")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
        let versions =
            sqlx::query("SELECT version FROM model_versions WHERE run_id = $1 ORDER BY version")
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|v| Ok(VersionNumber::try_from(v.try_get::<i64, _>("version")?)?))
                .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(RunRecord {
            id: row.try_get("id")?,
            model: row.try_get::<String, _>("model_name")?.parse()?,
            status: RunStatus::parse(&status).unwrap_or(RunStatus::Failed),
            params: json(&row.try_get::<String, _>("params")?),
            created_by: row.try_get("created_by")?,
            started_at_ms: row.try_get("started_at")?,
            ended_at_ms: row.try_get("ended_at")?,
            metrics,
            versions,
        })
    }

    /// Creates the next version of a model with its artifact, atomically.
    pub async fn create_version(&self, new: NewVersion<'_>) -> Result<VersionRecord, StoreError> {
        let actual = self.accepted(new.artifact, new.declared_digest, "artifact")?;
        let profile_digest = new
            .profile
            .map(|(bytes, declared)| self.accepted(bytes, declared, "profile"))
            .transpose()?;
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        // Bumping the counter takes the model row's lock (Postgres) for this transaction: racing
        // uploads of the same model queue here, other models are not blocked.
        let row = sqlx::query(
            "UPDATE registered_models SET next_version = next_version + 1, updated_at = $1 \
             WHERE name = $2 RETURNING id, next_version - 1 AS version",
        )
        .bind(now)
        .bind(new.model.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::ModelNotFound(new.model.to_string()))?;
        let model_id: i64 = row.try_get("id")?;
        let version = VersionNumber::try_from(row.try_get::<i64, _>("version")?)?;
        self.blobs.put(&mut tx, &actual, new.artifact).await?;
        if let (Some((bytes, _)), Some(digest)) = (new.profile, &profile_digest) {
            self.blobs.put(&mut tx, digest, bytes).await?;
        }
        // Checked after the bytes are in: an unknown run fails the upload midway, and dropping
        // the transaction takes the bytes and the counter back with it.
        if let Some(run_id) = new.run_id {
            let exists = sqlx::query("SELECT 1 AS one FROM runs WHERE id = $1")
                .bind(run_id)
                .fetch_optional(&mut *tx)
                .await?;
            if exists.is_none() {
                return Err(StoreError::RunNotFound(run_id.to_owned()));
            }
        }
        sqlx::query(
            "INSERT INTO model_versions (model_id, version, artifact_digest, artifact_size, profile_digest, metadata, run_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(model_id)
        .bind(i64::from(version.get()))
        .bind(actual.as_str())
        .bind(new.artifact.len() as i64)
        .bind(profile_digest.as_ref().map(Digest::as_str))
        .bind(new.metadata.to_string())
        .bind(new.run_id)
        .bind(new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let event = WatchEvent::VersionCreated {
            model: new.model.to_string(),
            version: version.get(),
            digest: actual.to_string(),
            at_ms: now,
        };
        self.publish(&mut tx, &event).await?;
        tx.commit().await?;
        self.published(event);
        Ok(VersionRecord {
            model: new.model.clone(),
            version,
            artifact_digest: actual,
            artifact_size: new.artifact.len() as u64,
            profile_digest,
            metadata: new.metadata.clone(),
            run_id: new.run_id.map(str::to_owned),
            created_by: new.created_by.to_owned(),
            created_at_ms: now,
        })
    }

    const VERSION_COLUMNS: &'static str = "m.name, v.version, v.artifact_digest, v.artifact_size, v.profile_digest, v.metadata, v.run_id, v.created_by, v.created_at \
         FROM model_versions v JOIN registered_models m ON m.id = v.model_id";

    pub async fn get_version(
        &self,
        model: &ModelName,
        version: VersionNumber,
    ) -> Result<VersionRecord, StoreError> {
        let sql = format!(
            "SELECT {} WHERE m.name = $1 AND v.version = $2",
            Self::VERSION_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(model.as_str())
            .bind(i64::from(version.get()))
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::VersionNotFound {
                model: model.to_string(),
                version: version.get(),
            })?;
        version_record(&row)
    }

    /// Every version of a model, oldest first.
    pub async fn list_versions(&self, model: &ModelName) -> Result<Vec<VersionRecord>, StoreError> {
        self.get_model(model).await?;
        let sql = format!(
            "SELECT {} WHERE m.name = $1 ORDER BY v.version",
            Self::VERSION_COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(model.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(version_record).collect()
    }

    /// Versions of a model that pass `filter`, oldest first; with `alias`, only the version it
    /// points at (if that one passes too).
    pub async fn search_versions(
        &self,
        model: &ModelName,
        filter: &VersionFilter,
        alias: Option<&AliasName>,
    ) -> Result<Vec<VersionRecord>, StoreError> {
        let candidates = match alias {
            Some(alias) => match self.resolve_alias(model, alias).await {
                Ok(version) => vec![version],
                Err(StoreError::AliasNotFound { .. }) => Vec::new(),
                Err(other) => return Err(other),
            },
            None => self.list_versions(model).await?,
        };
        Ok(candidates
            .into_iter()
            .filter(|v| filter.matches(&v.metadata))
            .collect())
    }

    /// The version a selector names: a number, an alias, or the newest existing version.
    pub async fn select_version(
        &self,
        model: &ModelName,
        selector: &velocast_catalog::VersionSelector,
    ) -> Result<VersionRecord, StoreError> {
        use velocast_catalog::VersionSelector;
        match selector {
            VersionSelector::Number(number) => self.get_version(model, *number).await,
            VersionSelector::Alias(alias) => self.resolve_alias(model, alias).await,
            VersionSelector::Latest => {
                let sql = format!(
                    "SELECT {} WHERE m.name = $1 ORDER BY v.version DESC LIMIT 1",
                    Self::VERSION_COLUMNS
                );
                match sqlx::query(&sql)
                    .bind(model.as_str())
                    .fetch_optional(&self.pool)
                    .await?
                {
                    Some(row) => version_record(&row),
                    None => {
                        self.get_model(model).await?;
                        Err(StoreError::NoVersions(model.to_string()))
                    }
                }
            }
        }
    }

    /// Deletes a version no alias points at, and its bytes if nothing else references them.
    /// Its number is never handed out again.
    pub async fn delete_version(
        &self,
        model: &ModelName,
        version: VersionNumber,
    ) -> Result<VersionRecord, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let model_id = Self::lock_model(&mut tx, model, now).await?;
        let record = {
            let sql = format!(
                "SELECT {} WHERE m.name = $1 AND v.version = $2",
                Self::VERSION_COLUMNS
            );
            let row = sqlx::query(&sql)
                .bind(model.as_str())
                .bind(i64::from(version.get()))
                .fetch_optional(&mut *tx)
                .await?
                .ok_or_else(|| StoreError::VersionNotFound {
                    model: model.to_string(),
                    version: version.get(),
                })?;
            version_record(&row)?
        };
        if let Some(row) = sqlx::query(
            "SELECT alias FROM aliases WHERE model_id = $1 AND version = $2 ORDER BY alias LIMIT 1",
        )
        .bind(model_id)
        .bind(i64::from(version.get()))
        .fetch_optional(&mut *tx)
        .await?
        {
            return Err(StoreError::VersionInUse {
                model: model.to_string(),
                version: version.get(),
                alias: row.try_get("alias")?,
            });
        }
        sqlx::query("DELETE FROM model_versions WHERE model_id = $1 AND version = $2")
            .bind(model_id)
            .bind(i64::from(version.get()))
            .execute(&mut *tx)
            .await?;
        self.blobs
            .remove_unreferenced(&mut tx, &record.artifact_digest)
            .await?;
        if let Some(profile) = &record.profile_digest {
            self.blobs.remove_unreferenced(&mut tx, profile).await?;
        }
        tx.commit().await?;
        Ok(record)
    }

    /// The bytes stored under `digest`, verified against it before they are returned.
    pub async fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        self.blobs
            .get(digest)
            .await?
            .ok_or_else(|| StoreError::Corrupt(digest.to_string()))
    }

    /// One alias of a model.
    pub async fn get_alias(
        &self,
        model: &ModelName,
        alias: &AliasName,
    ) -> Result<AliasRecord, StoreError> {
        self.list_aliases(model)
            .await?
            .into_iter()
            .find(|a| &a.alias == alias)
            .ok_or_else(|| StoreError::AliasNotFound {
                model: model.to_string(),
                alias: alias.to_string(),
            })
    }

    /// The model's aliases, by name.
    pub async fn list_aliases(&self, model: &ModelName) -> Result<Vec<AliasRecord>, StoreError> {
        self.get_model(model).await?;
        let rows = sqlx::query(
            "SELECT a.alias, a.version, a.updated_by, a.updated_at FROM aliases a \
             JOIN registered_models m ON m.id = a.model_id WHERE m.name = $1 ORDER BY a.alias",
        )
        .bind(model.as_str())
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(AliasRecord {
                    alias: row.try_get::<String, _>("alias")?.parse()?,
                    version: VersionNumber::try_from(row.try_get::<i64, _>("version")?)?,
                    updated_by: row.try_get("updated_by")?,
                    updated_at_ms: row.try_get("updated_at")?,
                })
            })
            .collect()
    }

    /// Locks the model row for the rest of `tx` (so alias moves on one model are serialized)
    /// and returns its id.
    async fn lock_model(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        model: &ModelName,
        now: i64,
    ) -> Result<i64, StoreError> {
        let row = sqlx::query(
            "UPDATE registered_models SET updated_at = $1 WHERE name = $2 RETURNING id",
        )
        .bind(now)
        .bind(model.as_str())
        .fetch_optional(&mut **tx)
        .await?
        .ok_or_else(|| StoreError::ModelNotFound(model.to_string()))?;
        Ok(row.try_get("id")?)
    }

    async fn current_alias(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        model_id: i64,
        alias: &AliasName,
    ) -> Result<Option<VersionNumber>, StoreError> {
        let row = sqlx::query("SELECT version FROM aliases WHERE model_id = $1 AND alias = $2")
            .bind(model_id)
            .bind(alias.as_str())
            .fetch_optional(&mut **tx)
            .await?;
        match row {
            Some(row) => Ok(Some(VersionNumber::try_from(
                row.try_get::<i64, _>("version")?,
            )?)),
            None => Ok(None),
        }
    }

    /// Appends `change` to the audit log.
    async fn audit(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        model_id: i64,
        change: &AliasMove,
    ) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO alias_audit (model_id, alias, from_version, to_version, actor, reason, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(model_id)
        .bind(change.alias.as_str())
        .bind(change.from.map(|v| i64::from(v.get())))
        .bind(change.to.map(|v| i64::from(v.get())))
        .bind(&change.actor)
        .bind(&change.reason)
        .bind(change.at_ms)
        .execute(&mut **tx)
        .await?;
        Ok(())
    }

    /// Appends `change` to the audit log, commits the alias change with it and tells watchers.
    async fn record(
        &self,
        mut tx: sqlx::Transaction<'_, sqlx::Any>,
        model: &ModelName,
        model_id: i64,
        change: AliasMove,
    ) -> Result<AliasMove, StoreError> {
        Self::audit(&mut tx, model_id, &change).await?;
        let event = WatchEvent::AliasMoved {
            model: model.to_string(),
            alias: change.alias.to_string(),
            from: change.from.map(VersionNumber::get),
            to: change.to.map(VersionNumber::get),
            actor: change.actor.clone(),
            at_ms: change.at_ms,
        };
        self.publish(&mut tx, &event).await?;
        tx.commit().await?;
        self.published(event);
        Ok(change)
    }

    /// Points `alias` at `version` and records the move, in one transaction.
    pub async fn set_alias(
        &self,
        model: &ModelName,
        alias: &AliasName,
        version: VersionNumber,
        actor: &str,
        reason: &str,
    ) -> Result<AliasMove, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let model_id = Self::lock_model(&mut tx, model, now).await?;
        let exists =
            sqlx::query("SELECT 1 AS one FROM model_versions WHERE model_id = $1 AND version = $2")
                .bind(model_id)
                .bind(i64::from(version.get()))
                .fetch_optional(&mut *tx)
                .await?;
        if exists.is_none() {
            return Err(StoreError::VersionNotFound {
                model: model.to_string(),
                version: version.get(),
            });
        }
        let from = Self::current_alias(&mut tx, model_id, alias).await?;
        sqlx::query(
            "INSERT INTO aliases (model_id, alias, version, updated_by, updated_at) VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (model_id, alias) DO UPDATE SET version = excluded.version, \
             updated_by = excluded.updated_by, updated_at = excluded.updated_at",
        )
        .bind(model_id)
        .bind(alias.as_str())
        .bind(i64::from(version.get()))
        .bind(actor)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        let change = AliasMove {
            alias: alias.clone(),
            from,
            to: Some(version),
            actor: actor.to_owned(),
            reason: reason.to_owned(),
            at_ms: now,
        };
        self.record(tx, model, model_id, change).await
    }

    /// Removes `alias` and records it, in one transaction.
    pub async fn delete_alias(
        &self,
        model: &ModelName,
        alias: &AliasName,
        actor: &str,
        reason: &str,
    ) -> Result<AliasMove, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let model_id = Self::lock_model(&mut tx, model, now).await?;
        let from = Self::current_alias(&mut tx, model_id, alias)
            .await?
            .ok_or_else(|| StoreError::AliasNotFound {
                model: model.to_string(),
                alias: alias.to_string(),
            })?;
        sqlx::query("DELETE FROM aliases WHERE model_id = $1 AND alias = $2")
            .bind(model_id)
            .bind(alias.as_str())
            .execute(&mut *tx)
            .await?;
        let change = AliasMove {
            alias: alias.clone(),
            from: Some(from),
            to: None,
            actor: actor.to_owned(),
            reason: reason.to_owned(),
            at_ms: now,
        };
        self.record(tx, model, model_id, change).await
    }

    /// The version an alias points at.
    pub async fn resolve_alias(
        &self,
        model: &ModelName,
        alias: &AliasName,
    ) -> Result<VersionRecord, StoreError> {
        let sql = format!(
            "SELECT {} JOIN aliases a ON a.model_id = v.model_id AND a.version = v.version \
             WHERE m.name = $1 AND a.alias = $2",
            Self::VERSION_COLUMNS
        );
        let row = sqlx::query(&sql)
            .bind(model.as_str())
            .bind(alias.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::AliasNotFound {
                model: model.to_string(),
                alias: alias.to_string(),
            })?;
        version_record(&row)
    }

    /// Every change to the model's aliases, oldest first.
    pub async fn alias_audit(&self, model: &ModelName) -> Result<Vec<AliasMove>, StoreError> {
        self.get_model(model).await?;
        let rows = sqlx::query(
            "SELECT a.alias, a.from_version, a.to_version, a.actor, a.reason, a.at FROM alias_audit a \
             JOIN registered_models m ON m.id = a.model_id WHERE m.name = $1 ORDER BY a.id",
        )
        .bind(model.as_str())
        .fetch_all(&self.pool)
        .await?;
        let version = |value: Option<i64>| value.map(VersionNumber::try_from).transpose();
        rows.iter()
            .map(|row| {
                Ok(AliasMove {
                    alias: row.try_get::<String, _>("alias")?.parse()?,
                    from: version(row.try_get("from_version")?)?,
                    to: version(row.try_get("to_version")?)?,
                    actor: row.try_get("actor")?,
                    reason: row.try_get("reason")?,
                    at_ms: row.try_get("at")?,
                })
            })
            .collect()
    }

    /// How many blobs are stored (for tests and metrics).
    pub async fn blob_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM blobs")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}

const MODEL_COLUMNS: &str = "name, description, tags, next_version, created_by, created_at";

fn model_record(row: &sqlx::any::AnyRow) -> Result<ModelRecord, StoreError> {
    let next: i64 = row.try_get("next_version")?;
    Ok(ModelRecord {
        name: row.try_get::<String, _>("name")?.parse()?,
        description: row.try_get("description")?,
        tags: json(&row.try_get::<String, _>("tags")?),
        latest_version: VersionNumber::try_from(next - 1).ok(),
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at")?,
    })
}

/// The digest of `bytes`, or a mismatch error naming both digests.
fn verified_digest(
    bytes: &[u8],
    declared: &Digest,
    part: &'static str,
) -> Result<Digest, StoreError> {
    let actual = sha256(bytes);
    if &actual == declared {
        Ok(actual)
    } else {
        Err(StoreError::DigestMismatch {
            part,
            declared: declared.to_string(),
            actual: actual.to_string(),
        })
    }
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

fn version_record(row: &sqlx::any::AnyRow) -> Result<VersionRecord, StoreError> {
    Ok(VersionRecord {
        model: row.try_get::<String, _>("name")?.parse()?,
        version: VersionNumber::try_from(row.try_get::<i64, _>("version")?)?,
        artifact_digest: row.try_get::<String, _>("artifact_digest")?.parse()?,
        artifact_size: u64::try_from(row.try_get::<i64, _>("artifact_size")?).unwrap_or(0),
        profile_digest: row
            .try_get::<Option<String>, _>("profile_digest")?
            .map(|d| d.parse())
            .transpose()?,
        metadata: json(&row.try_get::<String, _>("metadata")?),
        run_id: row.try_get("run_id")?,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at")?,
    })
}
