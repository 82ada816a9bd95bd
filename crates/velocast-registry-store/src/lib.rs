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

use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use thiserror::Error;
use velocast_catalog::{Digest, ModelName, ParseError, VersionNumber};

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
    #[error("artifact digest mismatch: declared {declared}, received bytes hash to {actual}")]
    DigestMismatch { declared: String, actual: String },
    #[error("artifact of {size} bytes exceeds the limit of {limit} bytes")]
    TooLarge { size: usize, limit: usize },
    #[error("run `{0}` not found")]
    RunNotFound(String),
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
    pub created_by: String,
    pub created_at_ms: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRecord {
    pub model: ModelName,
    pub version: VersionNumber,
    pub artifact_digest: Digest,
    pub artifact_size: u64,
    /// Signature, metrics, params, tags, lineage: the document the trainer uploads.
    pub metadata: serde_json::Value,
    pub run_id: Option<String>,
    pub created_by: String,
    pub created_at_ms: i64,
}

/// An upload: the bytes, the digest the client declares, and what describes them.
#[derive(Debug, Clone)]
pub struct NewVersion<'a> {
    pub model: &'a ModelName,
    pub artifact: &'a [u8],
    pub declared_digest: &'a Digest,
    pub metadata: &'a serde_json::Value,
    pub run_id: Option<&'a str>,
    pub created_by: &'a str,
}

/// The storage handle (cheap to clone: a pool).
#[derive(Debug, Clone)]
pub struct Store {
    pool: AnyPool,
    backend: Backend,
    max_artifact_bytes: usize,
}

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
            .connect(url)
            .await?;
        match backend {
            Backend::Postgres => POSTGRES_MIGRATIONS.run(&pool).await?,
            Backend::Sqlite => SQLITE_MIGRATIONS.run(&pool).await?,
        }
        Ok(Store {
            pool,
            backend,
            max_artifact_bytes,
        })
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
        let row = sqlx::query("SELECT name, description, tags, created_by, created_at FROM registered_models WHERE name = $1")
            .bind(name.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::ModelNotFound(name.to_string()))?;
        Ok(ModelRecord {
            name: row.try_get::<String, _>("name")?.parse()?,
            description: row.try_get("description")?,
            tags: json(&row.try_get::<String, _>("tags")?),
            created_by: row.try_get("created_by")?,
            created_at_ms: row.try_get("created_at")?,
        })
    }

    pub async fn create_run(
        &self,
        id: &str,
        model: &ModelName,
        created_by: &str,
    ) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO runs (id, model_name, status, created_by, started_at) VALUES ($1, $2, 'running', $3, $4)")
            .bind(id)
            .bind(model.as_str())
            .bind(created_by)
            .bind(now_ms())
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Creates the next version of a model with its artifact, atomically.
    pub async fn create_version(&self, new: NewVersion<'_>) -> Result<VersionRecord, StoreError> {
        if new.artifact.len() > self.max_artifact_bytes {
            return Err(StoreError::TooLarge {
                size: new.artifact.len(),
                limit: self.max_artifact_bytes,
            });
        }
        let actual = sha256(new.artifact);
        if &actual != new.declared_digest {
            return Err(StoreError::DigestMismatch {
                declared: new.declared_digest.to_string(),
                actual: actual.to_string(),
            });
        }
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
        sqlx::query("INSERT INTO blobs (digest, size, bytes, created_at) VALUES ($1, $2, $3, $4) ON CONFLICT (digest) DO NOTHING")
            .bind(actual.as_str())
            .bind(new.artifact.len() as i64)
            .bind(new.artifact)
            .bind(now)
            .execute(&mut *tx)
            .await?;
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
            "INSERT INTO model_versions (model_id, version, artifact_digest, artifact_size, metadata, run_id, created_by, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(model_id)
        .bind(i64::from(version.get()))
        .bind(actual.as_str())
        .bind(new.artifact.len() as i64)
        .bind(new.metadata.to_string())
        .bind(new.run_id)
        .bind(new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(VersionRecord {
            model: new.model.clone(),
            version,
            artifact_digest: actual,
            artifact_size: new.artifact.len() as u64,
            metadata: new.metadata.clone(),
            run_id: new.run_id.map(str::to_owned),
            created_by: new.created_by.to_owned(),
            created_at_ms: now,
        })
    }

    const VERSION_COLUMNS: &'static str = "m.name, v.version, v.artifact_digest, v.artifact_size, v.metadata, v.run_id, v.created_by, v.created_at \
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

    /// The artifact's bytes, verified against their digest before they are returned.
    pub async fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>, StoreError> {
        let row = sqlx::query("SELECT bytes FROM blobs WHERE digest = $1")
            .bind(digest.as_str())
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::Corrupt(digest.to_string()))?;
        let bytes: Vec<u8> = row.try_get("bytes")?;
        if &sha256(&bytes) != digest {
            return Err(StoreError::Corrupt(digest.to_string()));
        }
        Ok(bytes)
    }

    /// How many blobs are stored (for tests and metrics).
    pub async fn blob_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM blobs")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
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
        metadata: json(&row.try_get::<String, _>("metadata")?),
        run_id: row.try_get("run_id")?,
        created_by: row.try_get("created_by")?,
        created_at_ms: row.try_get("created_at")?,
    })
}
