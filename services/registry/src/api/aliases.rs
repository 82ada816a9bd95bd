//! Aliases (`champion`, `challenger`, …) and their audit log. Every move is one transaction
//! that also appends who, when, from, to and why.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use velocast_catalog::{AliasName, ModelName, VersionNumber};
use velocast_http::auth::{Authorized, ModelsAdmin, ModelsRead};
use velocast_http::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use velocast_registry_api::{AliasList, AliasMoveView, AliasView, AuditLog, SetAlias};

use crate::api::convert;
use crate::api::params::{AliasPath, DeleteAliasQuery, ModelPath};
use crate::error::{FieldContext, RegistryError};
use crate::state::AppState;

/// What a request does with a reserved name (`latest`, which the path pattern cannot exclude).
#[derive(Clone, Copy)]
enum Reserved {
    /// Reading or deleting it: no such alias (404).
    NotFound,
    /// Setting it: a conflict with the name's reserved meaning (409).
    Conflict,
}

fn parse(path: &AliasPath, reserved: Reserved) -> Result<(ModelName, AliasName), RegistryError> {
    let model: ModelName = path.model.parse().field("model")?;
    if AliasName::RESERVED.contains(&path.alias.as_str()) {
        let message = format!(
            "`{}` is reserved: it always means the newest version",
            path.alias
        );
        return Err(match reserved {
            Reserved::NotFound => ApiError::new(StatusCode::NOT_FOUND, "alias_not_found", message),
            Reserved::Conflict => ApiError::new(StatusCode::CONFLICT, "alias_reserved", message),
        }
        .with_field("alias")
        .into());
    }
    Ok((model, path.alias.parse().field("alias")?))
}

/// The model's aliases.
#[utoipa::path(get, path = "/v1/models/{model}/aliases", tag = "aliases",
    params(ModelPath),
    responses((status = 200, body = AliasList)),
    security(("bearer" = ["models:read"])))]
pub async fn list(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(ModelPath { model }): ApiPath<ModelPath>,
) -> Result<Json<AliasList>, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let aliases = state.store.list_aliases(&model).await?;
    Ok(Json(AliasList {
        aliases: aliases.into_iter().map(convert::alias).collect(),
    }))
}

/// The version an alias points at.
#[utoipa::path(get, path = "/v1/models/{model}/aliases/{alias}", tag = "aliases",
    params(AliasPath),
    responses((status = 200, body = AliasView)),
    security(("bearer" = ["models:read"])))]
pub async fn get(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AliasPath>,
) -> Result<Json<AliasView>, RegistryError> {
    let (model, alias) = parse(&path, Reserved::NotFound)?;
    let record = state.store.get_alias(&model, &alias).await?;
    Ok(Json(convert::alias(record)))
}

/// Point an alias at a version (creating or moving it), with a reason for the audit log.
#[utoipa::path(put, path = "/v1/models/{model}/aliases/{alias}", tag = "aliases",
    params(AliasPath), request_body = SetAlias,
    responses((status = 200, description = "The recorded move", body = AliasMoveView),
        (status = 409, description = "The alias name is reserved", body = ErrorBody)),
    security(("bearer" = ["models:admin"])))]
pub async fn set(
    caller: Authorized<ModelsAdmin>,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AliasPath>,
    ApiJson(request): ApiJson<SetAlias>,
) -> Result<Json<AliasMoveView>, RegistryError> {
    let (model, alias) = parse(&path, Reserved::Conflict)?;
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

/// Remove an alias, with a reason for the audit log.
#[utoipa::path(delete, path = "/v1/models/{model}/aliases/{alias}", tag = "aliases",
    params(AliasPath, DeleteAliasQuery),
    responses((status = 200, description = "The recorded move", body = AliasMoveView)),
    security(("bearer" = ["models:admin"])))]
pub async fn delete(
    caller: Authorized<ModelsAdmin>,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<AliasPath>,
    ApiQuery(query): ApiQuery<DeleteAliasQuery>,
) -> Result<Json<AliasMoveView>, RegistryError> {
    let (model, alias) = parse(&path, Reserved::NotFound)?;
    let change = state
        .store
        .delete_alias(&model, &alias, &caller.principal.subject, &query.reason)
        .await?;
    state.metrics.wrote("alias");
    Ok(Json(convert::alias_move(change)))
}

/// Every alias move of the model, oldest first.
#[utoipa::path(get, path = "/v1/models/{model}/audit", tag = "aliases",
    params(ModelPath),
    responses((status = 200, body = AuditLog)),
    security(("bearer" = ["models:read"])))]
pub async fn audit(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(ModelPath { model }): ApiPath<ModelPath>,
) -> Result<Json<AuditLog>, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let moves = state.store.alias_audit(&model).await?;
    Ok(Json(AuditLog {
        model: model.to_string(),
        moves: moves.into_iter().map(convert::alias_move).collect(),
    }))
}
