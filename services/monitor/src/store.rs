//! The monitor's storage over sqlx, on Postgres (production) or SQLite (the embedded default):
//! prediction events keyed by `(request_id, row)` so that a retried batch is stored once,
//! outcomes by hour or by request row, and counts of refused events.

use std::time::{SystemTime, UNIX_EPOCH};

use sqlx::any::{AnyPoolOptions, install_default_drivers};
use sqlx::{AnyPool, Row};
use thiserror::Error;

static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("../../migrations/monitor/postgres");
static SQLITE_MIGRATIONS: sqlx::migrate::Migrator =
    sqlx::migrate!("../../migrations/monitor/sqlite");

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("DATABASE_URL must start with postgres://, postgresql:// or sqlite:")]
    UnsupportedUrl,
    #[error("the database is unavailable: {0}")]
    Unavailable(sqlx::Error),
    #[error("database error: {0}")]
    Database(sqlx::Error),
    #[error("migrations failed: {0}")]
    Migration(#[from] sqlx::migrate::MigrateError),
    #[error("stored features of {request_id} are corrupt ({bytes} bytes)")]
    Corrupt { request_id: String, bytes: usize },
}

impl From<sqlx::Error> for StoreError {
    fn from(error: sqlx::Error) -> Self {
        match error {
            sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::Io(_)
            | sqlx::Error::Tls(_) => StoreError::Unavailable(error),
            other => StoreError::Database(other),
        }
    }
}

/// Milliseconds since the Unix epoch. A clock before 1970 or past the year 292 million is a
/// broken machine, not something to record as 0.
#[expect(
    clippy::expect_used,
    reason = "the system clock is between 1970 and the year 292,277,026 on any machine that runs this"
)]
pub fn now_ms() -> i64 {
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("the system clock is set after 1970");
    i64::try_from(since_epoch.as_millis()).expect("milliseconds since 1970 fit in an i64")
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEvent {
    pub request_id: String,
    pub row: u32,
    pub at_ms: i64,
    pub hour_ms: Option<i64>,
    pub route: String,
    pub arm: String,
    pub model: String,
    pub version: u32,
    pub features: Vec<f32>,
    pub prediction: f64,
}

/// What an outcome is the count of.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeKey {
    Hour(i64),
    Request { request_id: String, row: u32 },
}

/// Which time a window is over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TimeBasis {
    /// When the gateway answered (live monitoring).
    #[default]
    Answered,
    /// The hour predicted (backfills, and reports "of September"); events of feature tensors
    /// without a request have none and are left out.
    Predicted,
}

/// An event of a window, with its outcome when one has arrived.
#[derive(Debug, Clone, PartialEq)]
pub struct WindowEvent {
    pub version: u32,
    pub arm: String,
    pub features: Vec<f32>,
    pub prediction: f64,
    pub actual: Option<f64>,
}

fn encode(features: &[f32]) -> Vec<u8> {
    features.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn decode(request_id: &str, bytes: &[u8]) -> Result<Vec<f32>, StoreError> {
    if !bytes.len().is_multiple_of(4) {
        return Err(StoreError::Corrupt {
            request_id: request_id.to_owned(),
            bytes: bytes.len(),
        });
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

#[derive(Debug, Clone)]
pub struct MonitorStore {
    pool: AnyPool,
}

impl MonitorStore {
    /// Connects and applies the migrations of the URL's backend.
    pub async fn connect(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let postgres = url.starts_with("postgres://") || url.starts_with("postgresql://");
        if !postgres && !url.starts_with("sqlite:") {
            return Err(StoreError::UnsupportedUrl);
        }
        install_default_drivers();
        let pool = AnyPoolOptions::new()
            .max_connections(max_connections)
            .acquire_timeout(std::time::Duration::from_secs(3))
            .connect(url)
            .await?;
        if postgres {
            POSTGRES_MIGRATIONS.run(&pool).await?;
        } else {
            SQLITE_MIGRATIONS.run(&pool).await?;
        }
        Ok(MonitorStore { pool })
    }

    pub async fn ping(&self) -> bool {
        sqlx::query("SELECT 1").execute(&self.pool).await.is_ok()
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }

    /// Stores events in one transaction; returns (stored, already held).
    pub async fn insert_events(
        &self,
        events: &[StoredEvent],
    ) -> Result<(usize, usize), StoreError> {
        let received = now_ms();
        let mut transaction = self.pool.begin().await?;
        let mut stored = 0;
        for event in events {
            let result = sqlx::query(
                "INSERT INTO prediction_events (request_id, row_index, at_ms, hour_ms, route, arm, model, version, features, prediction, received_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (request_id, row_index) DO NOTHING",
            )
            .bind(&event.request_id)
            .bind(i64::from(event.row))
            .bind(event.at_ms)
            .bind(event.hour_ms)
            .bind(&event.route)
            .bind(&event.arm)
            .bind(&event.model)
            .bind(i64::from(event.version))
            .bind(encode(&event.features))
            .bind(event.prediction)
            .bind(received)
            .execute(&mut *transaction)
            .await?;
            // One row per statement: 1 when stored, 0 when the pair was already held.
            stored += usize::from(result.rows_affected() > 0);
        }
        transaction.commit().await?;
        Ok((stored, events.len() - stored))
    }

    /// Counts refused events (for the share of rejected events per window).
    pub async fn record_rejections(&self, count: u32) -> Result<(), StoreError> {
        sqlx::query("INSERT INTO rejected_events (received_ms, events) VALUES ($1, $2)")
            .bind(now_ms())
            .bind(i64::from(count))
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Stores outcomes in one transaction; returns (stored, already held).
    pub async fn insert_outcomes(
        &self,
        outcomes: &[(OutcomeKey, f64)],
    ) -> Result<(usize, usize), StoreError> {
        let received = now_ms();
        let mut transaction = self.pool.begin().await?;
        let mut stored = 0;
        for (key, actual) in outcomes {
            let result = match key {
                OutcomeKey::Hour(hour_ms) => {
                    sqlx::query(
                        "INSERT INTO outcomes_by_hour (hour_ms, actual, received_ms) VALUES ($1, $2, $3) \
                         ON CONFLICT (hour_ms) DO NOTHING",
                    )
                    .bind(*hour_ms)
                    .bind(*actual)
                    .bind(received)
                    .execute(&mut *transaction)
                    .await?
                }
                OutcomeKey::Request { request_id, row } => {
                    sqlx::query(
                        "INSERT INTO outcomes_by_request (request_id, row_index, actual, received_ms) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (request_id, row_index) DO NOTHING",
                    )
                    .bind(request_id)
                    .bind(i64::from(*row))
                    .bind(*actual)
                    .bind(received)
                    .execute(&mut *transaction)
                    .await?
                }
            };
            stored += usize::from(result.rows_affected() > 0);
        }
        transaction.commit().await?;
        Ok((stored, outcomes.len() - stored))
    }

    /// The events of `model` in [from_ms, to_ms) of `basis`, with their outcomes (by request
    /// row first, else by hour), at most `limit + 1` of them (the caller refuses a window past
    /// its limit rather than report on part of it).
    pub async fn window(
        &self,
        model: &str,
        basis: TimeBasis,
        from_ms: i64,
        to_ms: i64,
        limit: u32,
    ) -> Result<Vec<WindowEvent>, StoreError> {
        // The column is one of two fixed names, never caller text.
        let column = match basis {
            TimeBasis::Answered => "at_ms",
            TimeBasis::Predicted => "hour_ms",
        };
        let sql = format!(
            "SELECT e.request_id, e.version, e.arm, e.features, e.prediction, \
                    COALESCE(r.actual, h.actual) AS actual \
             FROM prediction_events e \
             LEFT JOIN outcomes_by_request r ON r.request_id = e.request_id AND r.row_index = e.row_index \
             LEFT JOIN outcomes_by_hour h ON h.hour_ms = e.hour_ms \
             WHERE e.model = $1 AND e.{column} >= $2 AND e.{column} < $3 \
             ORDER BY e.{column}, e.request_id, e.row_index LIMIT $4"
        );
        let rows = sqlx::query(&sql)
            .bind(model)
            .bind(from_ms)
            .bind(to_ms)
            .bind(i64::from(limit) + 1)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| {
                let request_id: String = row.try_get("request_id")?;
                let bytes: Vec<u8> = row.try_get("features")?;
                let version: i64 = row.try_get("version")?;
                Ok(WindowEvent {
                    version: u32::try_from(version).map_err(|_| StoreError::Corrupt {
                        request_id: request_id.clone(),
                        bytes: bytes.len(),
                    })?,
                    arm: row.try_get("arm")?,
                    features: decode(&request_id, &bytes)?,
                    prediction: row.try_get("prediction")?,
                    actual: row.try_get("actual")?,
                })
            })
            .collect()
    }

    /// Events refused at ingest in [from_ms, to_ms).
    pub async fn rejected(&self, from_ms: i64, to_ms: i64) -> Result<u64, StoreError> {
        let row = sqlx::query(
            "SELECT CAST(COALESCE(SUM(events), 0) AS BIGINT) AS refused FROM rejected_events WHERE received_ms >= $1 AND received_ms < $2",
        )
        .bind(from_ms)
        .bind(to_ms)
        .fetch_one(&self.pool)
        .await?;
        let refused: i64 = row.try_get("refused")?;
        // A sum of counts of at least 1 each.
        Ok(refused.unsigned_abs())
    }
}
