//! Training runs: parameters, metrics per (key, step), status, and the versions they produced.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use velocast_catalog::ModelName;
use velocast_http::auth::{Authorized, ModelsRead, ModelsWrite};
use velocast_http::{ApiJson, ApiPath, ApiQuery, ErrorBody};
use velocast_registry_api::{CreateRun, EndRun, EndStatus, LogMetrics, RunList, RunView};
use velocast_registry_store::{Metric, RunStatus};

use crate::api::convert;
use crate::api::params::{DEFAULT_RUNS, RunPath, RunQuery, RunStatusParam};
use crate::error::{FieldContext, RegistryError, parse_optional};
use crate::state::AppState;

/// Start a run for a registered model.
#[utoipa::path(post, path = "/v1/runs", tag = "runs", request_body = CreateRun,
    responses((status = 201, body = RunView), (status = 404, description = "No such model", body = ErrorBody),
        (status = 409, description = "The run id is taken", body = ErrorBody)),
    security(("bearer" = ["models:write"])))]
pub async fn create(
    caller: Authorized<ModelsWrite>,
    State(state): State<AppState>,
    ApiJson(request): ApiJson<CreateRun>,
) -> Result<(StatusCode, Json<RunView>), RegistryError> {
    let model: ModelName = request.model.parse().field("model")?;
    let id = request
        .id
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    state
        .store
        .create_run(&id, &model, &request.params, &caller.principal.subject)
        .await?;
    state.metrics.wrote("run");
    let run = state.store.get_run(&id).await?;
    Ok((StatusCode::CREATED, Json(convert::run(run))))
}

/// Runs, newest first.
#[utoipa::path(get, path = "/v1/runs", tag = "runs", params(RunQuery),
    responses((status = 200, body = RunList)),
    security(("bearer" = ["models:read"])))]
pub async fn list(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiQuery(query): ApiQuery<RunQuery>,
) -> Result<Json<RunList>, RegistryError> {
    let model = parse_optional::<ModelName>(query.model.as_deref(), "model")?;
    let status = query.status.map(|status| match status {
        RunStatusParam::Running => RunStatus::Running,
        RunStatusParam::Finished => RunStatus::Finished,
        RunStatusParam::Failed => RunStatus::Failed,
    });
    // `ApiQuery` has already refused a limit outside 1..=1000.
    let limit = query.limit.unwrap_or(DEFAULT_RUNS);
    let runs = state.store.list_runs(model.as_ref(), status, limit).await?;
    Ok(Json(RunList {
        runs: runs.into_iter().map(convert::run).collect(),
    }))
}

/// One run with its metrics.
#[utoipa::path(get, path = "/v1/runs/{id}", tag = "runs", params(RunPath),
    responses((status = 200, body = RunView)),
    security(("bearer" = ["models:read"])))]
pub async fn get(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(RunPath { id }): ApiPath<RunPath>,
) -> Result<Json<RunView>, RegistryError> {
    Ok(Json(convert::run(state.store.get_run(&id).await?)))
}

/// Log metrics to a running run, all or none; logging a (key, step) again replaces it.
#[utoipa::path(post, path = "/v1/runs/{id}/metrics", tag = "runs", params(RunPath),
    request_body = LogMetrics,
    responses((status = 204, description = "Logged"), (status = 409, description = "The run has ended", body = ErrorBody)),
    security(("bearer" = ["models:write"])))]
pub async fn log_metrics(
    _caller: Authorized<ModelsWrite>,
    State(state): State<AppState>,
    ApiPath(RunPath { id }): ApiPath<RunPath>,
    ApiJson(request): ApiJson<LogMetrics>,
) -> Result<StatusCode, RegistryError> {
    let metrics: Vec<Metric> = request
        .metrics
        .into_iter()
        .map(|m| Metric {
            key: m.key,
            step: m.step,
            value: m.value,
        })
        .collect();
    state.store.log_metrics(&id, &metrics).await?;
    state.metrics.wrote("metrics");
    Ok(StatusCode::NO_CONTENT)
}

/// Close a run as finished or failed (once).
#[utoipa::path(post, path = "/v1/runs/{id}/end", tag = "runs", params(RunPath),
    request_body = EndRun,
    responses((status = 200, body = RunView), (status = 409, description = "The run has already ended", body = ErrorBody)),
    security(("bearer" = ["models:write"])))]
pub async fn end(
    _caller: Authorized<ModelsWrite>,
    State(state): State<AppState>,
    ApiPath(RunPath { id }): ApiPath<RunPath>,
    ApiJson(request): ApiJson<EndRun>,
) -> Result<Json<RunView>, RegistryError> {
    let status = match request.status {
        EndStatus::Finished => RunStatus::Finished,
        EndStatus::Failed => RunStatus::Failed,
    };
    state.store.end_run(&id, status).await?;
    state.metrics.wrote("run_end");
    Ok(Json(convert::run(state.store.get_run(&id).await?)))
}
