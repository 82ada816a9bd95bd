//! Aliases (`champion`, `challenger`, …) and their append-only audit log. Every move is one
//! transaction that also records who, when, from, to and why, and tells watchers.

use sqlx::Row;
use velocast_catalog::{AliasName, ModelName, VersionNumber};

use crate::records::{VERSION_COLUMNS, alias_record, version_record};
use crate::{AliasMove, AliasRecord, Store, StoreError, VersionRecord, WatchEvent, now_ms};

impl Store {
    /// One alias of a model, in one statement (the model's existence is checked only when
    /// the alias is not found, to tell the two 404s apart).
    pub async fn get_alias(
        &self,
        model: &ModelName,
        alias: &AliasName,
    ) -> Result<AliasRecord, StoreError> {
        let row = sqlx::query(
            "SELECT a.alias, a.version, a.updated_by, a.updated_at FROM aliases a \
             JOIN registered_models m ON m.id = a.model_id WHERE m.name = $1 AND a.alias = $2",
        )
        .bind(model.as_str())
        .bind(alias.as_str())
        .fetch_optional(&self.pool)
        .await?;
        match row {
            Some(row) => alias_record(&row),
            None => {
                self.get_model(model).await?;
                Err(StoreError::AliasNotFound {
                    model: model.to_string(),
                    alias: alias.to_string(),
                })
            }
        }
    }

    /// The model's aliases, by name.
    pub async fn list_aliases(&self, model: &ModelName) -> Result<Vec<AliasRecord>, StoreError> {
        self.get_model(model).await?;
        sqlx::query(
            "SELECT a.alias, a.version, a.updated_by, a.updated_at FROM aliases a \
             JOIN registered_models m ON m.id = a.model_id WHERE m.name = $1 ORDER BY a.alias",
        )
        .bind(model.as_str())
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(alias_record)
        .collect()
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
            VERSION_COLUMNS
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
}
