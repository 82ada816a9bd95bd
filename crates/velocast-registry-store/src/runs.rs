//! Training runs: parameters, metrics per (key, step), status, and the versions they produced.

use std::collections::HashMap;

use sqlx::Row;
use sqlx::any::AnyRow;
use velocast_catalog::{ModelName, VersionNumber};

use crate::{Document, Metric, RunRecord, RunStatus, Store, StoreError, now_ms};

impl Store {
    /// Starts a run for an existing model.
    pub async fn create_run(
        &self,
        id: &str,
        model: &ModelName,
        params: &Document,
        created_by: &str,
    ) -> Result<(), StoreError> {
        self.get_model(model).await?;
        let inserted = sqlx::query(
            "INSERT INTO runs (id, model_name, status, params, created_by, started_at) \
             VALUES ($1, $2, 'running', $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(model.as_str())
        .bind(serde_json::to_string(params)?)
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
            None => Err(StoreError::Invalid(format!(
                "run `{id}` has an unknown status `{status}`"
            ))),
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

    /// Runs, newest first, at most `limit`; with `model` / `status`, only those. Three
    /// statements whatever the number of runs: the runs, then their metrics and their versions
    /// joined on the same selection.
    pub async fn list_runs(
        &self,
        model: Option<&ModelName>,
        status: Option<RunStatus>,
        limit: u32,
    ) -> Result<Vec<RunRecord>, StoreError> {
        // A NULL parameter matches everything, so one selection serves every combination.
        const SELECTED: &str = "SELECT id FROM runs WHERE ($1 IS NULL OR model_name = $1) \
             AND ($2 IS NULL OR status = $2) ORDER BY started_at DESC, id LIMIT $3";
        let statements = [
            format!(
                "SELECT {RUN_COLUMNS} FROM runs r JOIN ({SELECTED}) s ON s.id = r.id \
                 ORDER BY r.started_at DESC, r.id"
            ),
            format!(
                "SELECT rm.run_id, rm.key, rm.step, rm.value FROM run_metrics rm \
                 JOIN ({SELECTED}) s ON s.id = rm.run_id ORDER BY rm.run_id, rm.key, rm.step"
            ),
            format!(
                "SELECT v.run_id, v.version FROM model_versions v \
                 JOIN ({SELECTED}) s ON s.id = v.run_id ORDER BY v.run_id, v.version"
            ),
        ];
        let mut results = Vec::with_capacity(statements.len());
        for sql in &statements {
            results.push(
                sqlx::query(sql)
                    .bind(model.map(ModelName::as_str))
                    .bind(status.map(RunStatus::as_str))
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await?,
            );
        }
        let [rows, metrics, versions]: [Vec<AnyRow>; 3] = results
            .try_into()
            .map_err(|_| StoreError::Invalid("three statements, three results".into()))?;
        let mut by_run: HashMap<String, (Vec<Metric>, Vec<VersionNumber>)> = HashMap::new();
        for row in &metrics {
            by_run
                .entry(row.try_get("run_id")?)
                .or_default()
                .0
                .push(metric(row)?);
        }
        for row in &versions {
            by_run
                .entry(row.try_get("run_id")?)
                .or_default()
                .1
                .push(VersionNumber::try_from(row.try_get::<i64, _>("version")?)?);
        }
        rows.iter()
            .map(|row| {
                let id: String = row.try_get("id")?;
                // A run with no metrics and no versions has no entry: empty is its true state.
                let (metrics, versions) = by_run.remove(&id).unwrap_or_default();
                run_record(row, metrics, versions)
            })
            .collect()
    }

    pub async fn get_run(&self, id: &str) -> Result<RunRecord, StoreError> {
        let row = sqlx::query(&format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.id = $1"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or_else(|| StoreError::RunNotFound(id.to_owned()))?;
        let metrics = sqlx::query(
            "SELECT key, step, value FROM run_metrics WHERE run_id = $1 ORDER BY key, step",
        )
        .bind(id)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(metric)
        .collect::<Result<Vec<_>, _>>()?;
        let versions =
            sqlx::query("SELECT version FROM model_versions WHERE run_id = $1 ORDER BY version")
                .bind(id)
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(|v| Ok(VersionNumber::try_from(v.try_get::<i64, _>("version")?)?))
                .collect::<Result<Vec<_>, StoreError>>()?;
        run_record(&row, metrics, versions)
    }
}

const RUN_COLUMNS: &str =
    "r.id, r.model_name, r.status, r.params, r.created_by, r.started_at, r.ended_at";

fn metric(row: &AnyRow) -> Result<Metric, StoreError> {
    Ok(Metric {
        key: row.try_get("key")?,
        step: row.try_get("step")?,
        value: row.try_get("value")?,
    })
}

fn run_record(
    row: &AnyRow,
    metrics: Vec<Metric>,
    versions: Vec<VersionNumber>,
) -> Result<RunRecord, StoreError> {
    let status: String = row.try_get("status")?;
    Ok(RunRecord {
        id: row.try_get("id")?,
        model: row.try_get::<String, _>("model_name")?.parse()?,
        status: RunStatus::parse(&status)
            .ok_or_else(|| StoreError::Invalid(format!("unknown run status `{status}`")))?,
        params: serde_json::from_str(&row.try_get::<String, _>("params")?)?,
        created_by: row.try_get("created_by")?,
        started_at_ms: row.try_get("started_at")?,
        ended_at_ms: row.try_get("ended_at")?,
        metrics,
        versions,
    })
}
