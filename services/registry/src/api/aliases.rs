//! Aliases (`champion`, `challenger`, …) and their audit log. Every move is one transaction
//! that also appends who, when, from, to and why.

use axum::Json;
use axum::extract::State;
use serde::Deserialize;
use utoipa::IntoParams;
use velocast_catalog::{AliasName, ModelName, VersionNumber};
use velocast_http::auth::{Authorized, ModelsAdmin, ModelsRead};
use velocast_http::{ApiJson, ApiPath, ApiQuery, ErrorBody};
use velocast_registry_api::{AliasList, AliasMoveView, AliasView, AuditLog, SetAlias};

use crate::api::convert;
use crate::error::{FieldContext, RegistryError};
use crate::state::AppState;

fn parse(model: &str, alias: &str) -> Result<(ModelName, AliasName), RegistryError> {
    Ok((model.parse().field("model")?, alias.parse().field("alias")?))
}

/// The model's aliases.
#[utoipa::path(get, path = "/v1/models/{model}/aliases", tag = "aliases",
    params(("model" = String, Path)),
    responses((status = 200, body = AliasList), (status = 404, body = ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn list(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(model): ApiPath<String>,
) -> Result<Json<AliasList>, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let aliases = state.store.list_aliases(&model).await?;
    Ok(Json(AliasList {
        aliases: aliases.into_iter().map(convert::alias).collect(),
    }))
}

/// The version an alias points at.
#[utoipa::path(get, path = "/v1/models/{model}/aliases/{alias}", tag = "aliases",
    params(("model" = String, Path), ("alias" = String, Path)),
    responses((status = 200, body = AliasView), (status = 404, body = ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn get(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath((model, alias)): ApiPath<(String, String)>,
) -> Result<Json<AliasView>, RegistryError> {
    let (model, alias) = parse(&model, &alias)?;
    let record = state.store.get_alias(&model, &alias).await?;
    Ok(Json(convert::alias(record)))
}

/// Point an alias at a version (creating or moving it), with a reason for the audit log.
#[utoipa::path(put, path = "/v1/models/{model}/aliases/{alias}", tag = "aliases",
    params(("model" = String, Path), ("alias" = String, Path)), request_body = SetAlias,
    responses((status = 200, description = "The recorded move", body = AliasMoveView), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("bearer" = ["models:admin"])))]
pub async fn set(
    caller: Authorized<ModelsAdmin>,
    State(state): State<AppState>,
    ApiPath((model, alias)): ApiPath<(String, String)>,
    ApiJson(request): ApiJson<SetAlias>,
) -> Result<Json<AliasMoveView>, RegistryError> {
    let (model, alias) = parse(&model, &alias)?;
    let version = VersionNumber::try_from(request.version).field("version")?;
    let change = state
        .store
        .set_alias(
            &model,
            &alias,
            version,
            &caller.principal.subject,
            &request.reason,
        )
        .await?;
    state.metrics.wrote("alias");
    tracing::info!(model = %model, alias = %alias, to = version.get(), by = %caller.principal.subject, "alias moved");
    Ok(Json(convert::alias_move(change)))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct DeleteQuery {
    /// Why: recorded in the audit log.
    pub reason: String,
}

/// Remove an alias, with a reason for the audit log.
#[utoipa::path(delete, path = "/v1/models/{model}/aliases/{alias}", tag = "aliases",
    params(("model" = String, Path), ("alias" = String, Path), DeleteQuery),
    responses((status = 200, description = "The recorded move", body = AliasMoveView), (status = 404, body = ErrorBody)),
    security(("bearer" = ["models:admin"])))]
pub async fn delete(
    caller: Authorized<ModelsAdmin>,
    State(state): State<AppState>,
    ApiPath((model, alias)): ApiPath<(String, String)>,
    ApiQuery(query): ApiQuery<DeleteQuery>,
) -> Result<Json<AliasMoveView>, RegistryError> {
    let (model, alias) = parse(&model, &alias)?;
    let change = state
        .store
        .delete_alias(&model, &alias, &caller.principal.subject, &query.reason)
        .await?;
    state.metrics.wrote("alias");
    Ok(Json(convert::alias_move(change)))
}

/// Every alias move of the model, oldest first.
#[utoipa::path(get, path = "/v1/models/{model}/audit", tag = "aliases",
    params(("model" = String, Path)),
    responses((status = 200, body = AuditLog), (status = 404, body = ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn audit(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(model): ApiPath<String>,
) -> Result<Json<AuditLog>, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let moves = state.store.alias_audit(&model).await?;
    Ok(Json(AuditLog {
        model: model.to_string(),
        moves: moves.into_iter().map(convert::alias_move).collect(),
    }))
}
