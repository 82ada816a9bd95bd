//! Versions: atomic, gapless uploads of verified bytes; reads by number, alias or `latest`;
//! search by tag and metric in SQL; deletion of versions no alias points at.

use std::sync::Arc;

use sqlx::Row;
use velocast_catalog::{AliasName, Digest, ModelName, VersionFilter, VersionNumber};

use crate::records::{VERSION_COLUMNS, version_record};
use crate::{
    NewVersion, Store, StoreError, VersionRecord, WatchEvent, now_ms, sha256_off_thread,
    verified_digest,
};

impl Store {
    /// Creates the next version of a model with its artifact, atomically. The parts are
    /// hashed off the async workers.
    pub async fn create_version(&self, new: NewVersion<'_>) -> Result<VersionRecord, StoreError> {
        self.within_limit(new.artifact, "artifact")?;
        if let Some((bytes, _)) = new.profile {
            self.within_limit(bytes, "profile")?;
        }
        let actual = verified_digest(
            sha256_off_thread(Arc::from(new.artifact)).await?,
            new.declared_digest,
            "artifact",
        )?;
        let profile_digest = match new.profile {
            Some((bytes, declared)) => Some(verified_digest(
                sha256_off_thread(Arc::from(bytes)).await?,
                declared,
                "profile",
            )?),
            None => None,
        };
        let size = i64::try_from(new.artifact.len())
            .map_err(|_| StoreError::Invalid("artifact size overflows".into()))?;
        let metadata = serde_json::to_string(new.metadata)?;
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
        .bind(size)
        .bind(profile_digest.as_ref().map(Digest::as_str))
        .bind(&metadata)
        .bind(new.run_id)
        .bind(new.created_by)
        .bind(now)
        .execute(&mut *tx)
        .await?;
        for (key, value) in &new.metadata.tags {
            sqlx::query(
                "INSERT INTO version_tags (model_id, version, key, value) VALUES ($1, $2, $3, $4)",
            )
            .bind(model_id)
            .bind(i64::from(version.get()))
            .bind(key)
            .bind(value)
            .execute(&mut *tx)
            .await?;
        }
        for (name, value) in &new.metadata.metrics {
            sqlx::query(
                "INSERT INTO version_metrics (model_id, version, name, value) VALUES ($1, $2, $3, $4)",
            )
            .bind(model_id)
            .bind(i64::from(version.get()))
            .bind(name)
            .bind(*value)
            .execute(&mut *tx)
            .await?;
        }
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

    pub async fn get_version(
        &self,
        model: &ModelName,
        version: VersionNumber,
    ) -> Result<VersionRecord, StoreError> {
        let sql = format!(
            "SELECT {} WHERE m.name = $1 AND v.version = $2",
            VERSION_COLUMNS
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
            VERSION_COLUMNS
        );
        let rows = sqlx::query(&sql)
            .bind(model.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(version_record).collect()
    }

    /// Versions of a model that pass `filter`, oldest first; with `alias`, only the version it
    /// points at (if that one passes too). One statement: every condition is an `EXISTS` on
    /// the tag and metric rows.
    pub async fn search_versions(
        &self,
        model: &ModelName,
        filter: &VersionFilter,
        alias: Option<&AliasName>,
    ) -> Result<Vec<VersionRecord>, StoreError> {
        self.get_model(model).await?;
        let mut sql = format!("SELECT {VERSION_COLUMNS} WHERE m.name = $1");
        let mut next = 2;
        for _ in &filter.tags {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM version_tags t WHERE t.model_id = v.model_id \
                 AND t.version = v.version AND t.key = ${} AND t.value = ${})",
                next,
                next + 1
            ));
            next += 2;
        }
        for metric in &filter.metrics {
            // The operator comes from a closed set parsed by the catalog, never from the client.
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM version_metrics x WHERE x.model_id = v.model_id \
                 AND x.version = v.version AND x.name = ${} AND x.value {} ${})",
                next,
                metric.comparison.symbol(),
                next + 1
            ));
            next += 2;
        }
        if alias.is_some() {
            sql.push_str(&format!(
                " AND EXISTS (SELECT 1 FROM aliases a WHERE a.model_id = v.model_id \
                 AND a.version = v.version AND a.alias = ${next})"
            ));
        }
        sql.push_str(" ORDER BY v.version");
        let mut query = sqlx::query(&sql).bind(model.as_str());
        for tag in &filter.tags {
            query = query.bind(tag.key.as_str()).bind(tag.value.as_str());
        }
        for metric in &filter.metrics {
            query = query.bind(metric.name.as_str()).bind(metric.value);
        }
        if let Some(alias) = alias {
            query = query.bind(alias.as_str());
        }
        query
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(version_record)
            .collect()
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
                    VERSION_COLUMNS
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
                VERSION_COLUMNS
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
        for table in ["version_tags", "version_metrics"] {
            sqlx::query(&format!(
                "DELETE FROM {table} WHERE model_id = $1 AND version = $2"
            ))
            .bind(model_id)
            .bind(i64::from(version.get()))
            .execute(&mut *tx)
            .await?;
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
}
