//! Where artifact bytes live. The registry talks to a [`BlobStore`]; the one that ships keeps
//! blobs in the registry database ([`DatabaseBlobs`]) so a version and its bytes commit in one
//! transaction (see `docs/registry.md` for why). An object store can implement the same trait
//! later: it would write the bytes before the metadata transaction commits (content addressing
//! makes that idempotent) and collect unreferenced keys afterwards, without any API change.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use sqlx::{AnyConnection, AnyPool, Row};
use velocast_catalog::Digest;

use crate::{StoreError, now_ms, sha256};

/// Checks `bytes` against `digest` on the blocking pool (large artifacts take a while to hash).
async fn verified(bytes: Vec<u8>, digest: &Digest) -> Result<Vec<u8>, StoreError> {
    let (actual, bytes) = tokio::task::spawn_blocking(move || (sha256(&bytes), bytes))
        .await
        .map_err(|error| StoreError::Invalid(format!("hashing task failed: {error}")))?;
    if &actual == digest {
        Ok(bytes)
    } else {
        Err(StoreError::Corrupt(digest.to_string()))
    }
}

/// A boxed future, so the trait stays object-safe.
pub type BlobFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Content-addressed bytes. `put` and `remove` take the connection of the transaction that
/// references or releases the blob, so a store that can join it does.
pub trait BlobStore: Send + Sync + fmt::Debug {
    /// Stores `bytes` under `digest` (already verified by the caller); storing existing content
    /// again is a no-op.
    fn put<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        digest: &'a Digest,
        bytes: &'a [u8],
    ) -> BlobFuture<'a, ()>;

    /// The bytes, verified against `digest`; `None` when nothing is stored under it.
    fn get<'a>(&'a self, digest: &'a Digest) -> BlobFuture<'a, Option<Vec<u8>>>;

    /// Drops the blob if no version references it any more.
    fn remove_unreferenced<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        digest: &'a Digest,
    ) -> BlobFuture<'a, ()>;
}

/// Blobs in the registry database: `bytea` on Postgres, `BLOB` on SQLite.
#[derive(Debug, Clone)]
pub struct DatabaseBlobs {
    pool: AnyPool,
}

impl DatabaseBlobs {
    pub fn new(pool: AnyPool) -> Self {
        DatabaseBlobs { pool }
    }
}

impl BlobStore for DatabaseBlobs {
    fn put<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        digest: &'a Digest,
        bytes: &'a [u8],
    ) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "INSERT INTO blobs (digest, size, bytes, created_at) VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (digest) DO NOTHING",
            )
            .bind(digest.as_str())
            .bind(
                i64::try_from(bytes.len())
                    .map_err(|_| StoreError::Invalid("blob size overflows".into()))?,
            )
            .bind(bytes)
            .bind(now_ms())
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }

    fn get<'a>(&'a self, digest: &'a Digest) -> BlobFuture<'a, Option<Vec<u8>>> {
        Box::pin(async move {
            let Some(row) = sqlx::query("SELECT bytes FROM blobs WHERE digest = $1")
                .bind(digest.as_str())
                .fetch_optional(&self.pool)
                .await?
            else {
                return Ok(None);
            };
            let bytes: Vec<u8> = row.try_get("bytes")?;
            Ok(Some(verified(bytes, digest).await?))
        })
    }

    fn remove_unreferenced<'a>(
        &'a self,
        tx: &'a mut AnyConnection,
        digest: &'a Digest,
    ) -> BlobFuture<'a, ()> {
        Box::pin(async move {
            sqlx::query(
                "DELETE FROM blobs WHERE digest = $1 \
                 AND NOT EXISTS (SELECT 1 FROM model_versions WHERE artifact_digest = $1 OR profile_digest = $1)",
            )
            .bind(digest.as_str())
            .execute(&mut *tx)
            .await?;
            Ok(())
        })
    }
}
