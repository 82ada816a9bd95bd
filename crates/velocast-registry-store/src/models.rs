//! Registered models: names, descriptions and tags. Tags are also kept one row per tag
//! (`model_tags`) so that a search by tag runs in SQL.

use sqlx::Row;
use velocast_catalog::{ModelName, TagFilter};

use crate::records::{MODEL_COLUMNS, Tags, model_record};
use crate::{ModelRecord, Store, StoreError, now_ms};

impl Store {
    pub async fn create_model(
        &self,
        name: &ModelName,
        description: &str,
        tags: &Tags,
        created_by: &str,
    ) -> Result<ModelRecord, StoreError> {
        let now = now_ms();
        let mut tx = self.pool.begin().await?;
        let inserted = sqlx::query(
            "INSERT INTO registered_models (name, description, tags, created_by, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (name) DO NOTHING RETURNING id",
        )
        .bind(name.as_str())
        .bind(description)
        .bind(serde_json::to_string(tags)?)
        .bind(created_by)
        .bind(now)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = inserted else {
            return Err(StoreError::ModelExists(name.to_string()));
        };
        let model_id: i64 = row.try_get("id")?;
        Self::write_model_tags(&mut tx, model_id, tags).await?;
        tx.commit().await?;
        self.get_model(name).await
    }

    /// Replaces the model's searchable tag rows.
    async fn write_model_tags(
        tx: &mut sqlx::Transaction<'_, sqlx::Any>,
        model_id: i64,
        tags: &Tags,
    ) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM model_tags WHERE model_id = $1")
            .bind(model_id)
            .execute(&mut **tx)
            .await?;
        for (key, value) in tags {
            sqlx::query("INSERT INTO model_tags (model_id, key, value) VALUES ($1, $2, $3)")
                .bind(model_id)
                .bind(key)
                .bind(value)
                .execute(&mut **tx)
                .await?;
        }
        Ok(())
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
        tags: Option<&Tags>,
    ) -> Result<ModelRecord, StoreError> {
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "UPDATE registered_models SET description = COALESCE($1, description), \
             tags = COALESCE($2, tags), updated_at = $3 WHERE name = $4 RETURNING id",
        )
        .bind(description)
        .bind(tags.map(serde_json::to_string).transpose()?)
        .bind(now_ms())
        .bind(name.as_str())
        .fetch_optional(&mut *tx)
        .await?
        .ok_or_else(|| StoreError::ModelNotFound(name.to_string()))?;
        if let Some(tags) = tags {
            Self::write_model_tags(&mut tx, row.try_get("id")?, tags).await?;
        }
        tx.commit().await?;
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
        sqlx::query("DELETE FROM model_tags WHERE model_id = $1")
            .bind(model_id)
            .execute(&mut *tx)
            .await?;
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
        tag: Option<&TagFilter>,
    ) -> Result<Vec<ModelRecord>, StoreError> {
        // A NULL key matches every model, so one statement serves both cases.
        let sql = format!(
            "SELECT {MODEL_COLUMNS} FROM registered_models m WHERE $1 IS NULL OR EXISTS \
             (SELECT 1 FROM model_tags t WHERE t.model_id = m.id AND t.key = $1 AND t.value = $2) \
             ORDER BY name"
        );
        sqlx::query(&sql)
            .bind(tag.map(|t| t.key.as_str()))
            .bind(tag.map(|t| t.value.as_str()))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(model_record)
            .collect()
    }

    /// Locks the model row for the rest of `tx` (so writes to one model are serialized) and
    /// returns its id.
    pub(crate) async fn lock_model(
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
}
