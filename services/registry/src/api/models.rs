//! Registered models.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use velocast_catalog::{ModelName, TagFilter};
use velocast_http::auth::{Authorized, ModelsAdmin, ModelsRead, ModelsWrite};
use velocast_http::{ApiJson, ApiPath, ApiQuery, ErrorBody};
use velocast_registry_api::{CreateModel, ModelList, ModelView, UpdateModel};

use crate::api::convert;
use crate::api::params::{ModelPath, ModelQuery};
use crate::error::{FieldContext, RegistryError, parse_optional};
use crate::state::AppState;

/// List models, optionally by tag.
#[utoipa::path(get, path = "/v1/models", tag = "models", params(ModelQuery),
    responses((status = 200, body = ModelList)),
    security(("bearer" = ["models:read"])))]
pub async fn list(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<ModelQuery>,
) -> Result<Json<ModelList>, RegistryError> {
    let tag = parse_optional::<TagFilter>(query.tag.as_deref(), "tag")?;
    let models = state.store.list_models(tag.as_ref()).await?;
    Ok(Json(ModelList {
        models: models
            .into_iter()
            .map(|m| convert::model(m, None))
            .collect(),
    }))
}

/// Register a model name.
#[utoipa::path(post, path = "/v1/models", tag = "models", request_body = CreateModel,
    responses((status = 201, body = ModelView), (status = 409, description = "The name is taken", body = ErrorBody)),
    security(("bearer" = ["models:write"])))]
pub async fn create(
    caller: Authorized<ModelsWrite>,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateModel>,
) -> Result<(StatusCode, Json<ModelView>), RegistryError> {
    let name: ModelName = request.name.parse().field("name")?;
    let record = state
        .store
        .create_model(
            &name,
            &request.description,
            &request.tags.0,
            &caller.principal.subject,
        )
        .await?;
    state.metrics.wrote("model");
    Ok((StatusCode::CREATED, Json(convert::model(record, Some(&[])))))
}

/// One model with its aliases.
#[utoipa::path(get, path = "/v1/models/{model}", tag = "models",
    params(ModelPath),
    responses((status = 200, body = ModelView)),
    security(("bearer" = ["models:read"])))]
pub async fn get(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(ModelPath { model }): ApiPath<ModelPath>,
) -> Result<Json<ModelView>, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let record = state.store.get_model(&model).await?;
    let aliases = state.store.list_aliases(&model).await?;
    Ok(Json(convert::model(record, Some(&aliases))))
}

/// Change a model's description or tags.
#[utoipa::path(patch, path = "/v1/models/{model}", tag = "models",
    params(ModelPath), request_body = UpdateModel,
    responses((status = 200, body = ModelView)),
    security(("bearer" = ["models:write"])))]
pub async fn update(
    _caller: Authorized<ModelsWrite>,
    State(state): State<AppState>,
    ApiPath(ModelPath { model }): ApiPath<ModelPath>,
    ApiJson(request): ApiJson<UpdateModel>,
) -> Result<Json<ModelView>, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let record = state
        .store
        .update_model(
            &model,
            request.description.as_deref(),
            request.tags.as_ref().map(|t| &t.0),
        )
        .await?;
    state.metrics.wrote("model");
    let aliases = state.store.list_aliases(&model).await?;
    Ok(Json(convert::model(record, Some(&aliases))))
}

/// Delete a model registered by mistake: refused (409) once it has versions, runs or alias
/// history, which are kept.
#[utoipa::path(delete, path = "/v1/models/{model}", tag = "models",
    params(ModelPath),
    responses((status = 204, description = "Deleted"), (status = 409, description = "The model has versions, runs or alias history", body = ErrorBody)),
    security(("bearer" = ["models:admin"])))]
pub async fn delete(
    caller: Authorized<ModelsAdmin>,
    State(state): State<AppState>,
    ApiPath(ModelPath { model }): ApiPath<ModelPath>,
) -> Result<StatusCode, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    state.store.delete_model(&model).await?;
    state.metrics.wrote("model_delete");
    tracing::info!(model = %model, by = %caller.principal.subject, "model deleted");
    Ok(StatusCode::NO_CONTENT)
}
