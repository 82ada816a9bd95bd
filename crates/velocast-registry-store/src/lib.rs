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
//!
//! One module per resource (`models`, `versions`, `aliases`, `runs`), mirroring the service's
//! `api/`; `records` holds what they return and `error` the one error type, in which database
//! failures are already classified (unreachable vs. a bug).

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use sqlx::AnyPool;
use sqlx::Row;
use sqlx::any::{AnyPoolOptions, install_default_drivers};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use velocast_catalog::Digest;

mod aliases;
mod blobs;
mod error;
mod events;
mod models;
mod records;
mod runs;
#[cfg(feature = "testing")]
pub mod testing;
mod versions;

pub use blobs::{BlobFuture, BlobStore, DatabaseBlobs};
pub use error::StoreError;
pub use events::{CHANNEL, WatchEvent};
pub use records::{
    AliasMove, AliasRecord, Document, Lineage, Metric, ModelRecord, NewVersion, RunRecord,
    RunStatus, Tags, VersionMetadata, VersionRecord,
};

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
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

/// Milliseconds since the Unix epoch. A clock before 1970 or past the year 292 million is a
/// broken machine, not something to record as 0.
#[expect(
    clippy::expect_used,
    reason = "the system clock is between 1970 and the year 292,277,026 on any machine that runs this"
)]
fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the system clock is set after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds since 1970 fit in an i64")
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

    /// Checks an upload part against the size limit.
    fn within_limit(&self, bytes: &[u8], part: &'static str) -> Result<(), StoreError> {
        if bytes.len() > self.max_artifact_bytes {
            return Err(StoreError::TooLarge {
                part,
                size: bytes.len(),
                limit: self.max_artifact_bytes,
            });
        }
        Ok(())
    }

    /// Queues `event` inside `tx`: Postgres delivers it on commit; SQLite gets it from
    /// [`Store::published`] after the commit.
    async fn publish(
        &self,
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        event: &WatchEvent,
    ) -> Result<(), StoreError> {
        if self.backend == Backend::Postgres {
            let payload = serde_json::to_string(event)?;
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

    /// How many blobs are stored (for tests and metrics).
    pub async fn blob_count(&self) -> Result<i64, StoreError> {
        Ok(sqlx::query("SELECT COUNT(*) AS n FROM blobs")
            .fetch_one(&self.pool)
            .await?
            .try_get("n")?)
    }
}

/// The sha256 of `bytes`.
pub fn sha256(bytes: &[u8]) -> Digest {
    Digest::from_bytes(&Sha256::digest(bytes).into())
}

/// The sha256 of `bytes`, computed on the blocking pool: a 64 MB artifact takes a core for
/// hundreds of milliseconds, which must not stall the async workers serving other requests.
pub async fn sha256_off_thread(bytes: Arc<[u8]>) -> Result<Digest, StoreError> {
    tokio::task::spawn_blocking(move || sha256(&bytes))
        .await
        .map_err(|error| StoreError::Invalid(format!("hashing task failed: {error}")))
}

/// `actual` when it is the declared digest, else a mismatch error naming both.
fn verified_digest(
    actual: Digest,
    declared: &Digest,
    part: &'static str,
) -> Result<Digest, StoreError> {
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
