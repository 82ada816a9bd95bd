//! `POST /v1/models/{name}:explain` and `POST /v1/explain`: exact TreeSHAP of the model that
//! would answer the same request.
//!
//! The body is `:predict`'s (one hour or `{"instances": [...]}`, validated by the same code);
//! the arm is chosen by the same sticky key, so an explanation is of the version that answers
//! the caller's predictions. Attributions are path-dependent TreeSHAP over the node covers the
//! file carries, exact in each member's score space; the blend's output-space view rescales
//! each member through its link and says so (`method`).

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::http::HeaderMap;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use velocast_auth::Principal;
use velocast_explain::{Explanation, Mode};
use velocast_http::ApiError;
use velocast_trees::Link;

use crate::api::{infer, predict};
use crate::error::GatewayError;
use crate::fleet::RouteState;
use crate::model::LoadedModel;
use crate::state::AppState;

/// One member's exact attributions, in its score space (before its link).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberAttributions {
    pub name: String,
    pub weight: f64,
    /// `identity`, `log1p` or `log`: how the member's score becomes a count.
    pub link: String,
    /// Always `score`.
    pub space: String,
    pub base_value: f64,
    /// `base_value + Σ contributions`.
    pub score: f64,
    pub contributions: BTreeMap<String, f64>,
}

/// One hour explained.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RowExplanation {
    /// The model's answer (floored at zero, as served).
    pub prediction: f64,
    /// The prediction with every feature absent.
    pub base_value: f64,
    /// Per feature; `base_value + Σ contributions` is the blend before its zero floor.
    pub contributions: BTreeMap<String, f64>,
    /// Always `output`: counts of rentals.
    pub space: String,
    /// `exact` when every member's link is the identity; otherwise
    /// `rescaled_from_score_space` (each member's exact score-space values, rescaled through
    /// the secant of its link, in `members`).
    pub method: String,
    pub members: Vec<MemberAttributions>,
}

/// The explanation of one hour.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExplanationAnswer {
    pub explanation: RowExplanation,
    /// `tree_shap_path_dependent`.
    pub algorithm: String,
    pub model: String,
    pub version: u32,
    pub route: String,
    pub arm: String,
    pub request_id: String,
}

/// The explanations of a batch, in the order of the instances.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExplanationsAnswer {
    pub explanations: Vec<RowExplanation>,
    /// `tree_shap_path_dependent`.
    pub algorithm: String,
    pub model: String,
    pub version: u32,
    pub route: String,
    pub arm: String,
    pub request_id: String,
}

/// One hour or a batch explained.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(untagged)]
#[allow(dead_code)] // Documentation only: handlers answer one of the two.
pub enum ExplainAnswer {
    One(ExplanationAnswer),
    Many(ExplanationsAnswer),
}

fn link_name(link: Link) -> &'static str {
    match link {
        Link::Identity => "identity",
        Link::Log1p => "log1p",
        Link::Log => "log",
    }
}

fn by_name(values: &[f64], names: &[&str]) -> BTreeMap<String, f64> {
    names
        .iter()
        .map(|n| (*n).to_owned())
        .zip(values.iter().copied())
        .collect()
}

fn row_view(explanation: &Explanation, names: &[&str]) -> RowExplanation {
    RowExplanation {
        prediction: explanation.prediction,
        base_value: explanation.base_value,
        contributions: by_name(&explanation.contributions, names),
        space: "output".to_owned(),
        method: if explanation.exact_in_output {
            "exact"
        } else {
            "rescaled_from_score_space"
        }
        .to_owned(),
        members: explanation
            .members
            .iter()
            .map(|member| MemberAttributions {
                name: member.name.clone(),
                weight: member.weight,
                link: link_name(member.link).to_owned(),
                space: "score".to_owned(),
                base_value: member.base_value,
                score: member.score,
                contributions: by_name(&member.contributions, names),
            })
            .collect(),
    }
}

/// Explains `rows` on `model` on the blocking pool (about 0.1 ms a row).
async fn explain_rows(
    model: Arc<LoadedModel>,
    rows: Vec<f32>,
) -> Result<Vec<Explanation>, GatewayError> {
    let outcome = tokio::task::spawn_blocking(move || {
        let explainer = model.explainer.as_ref().map_err(Clone::clone)?;
        explainer
            .explain(&rows, &Mode::PathDependent)
            .map_err(|e| e.to_string())
    })
    .await
    .map_err(|_| GatewayError::Inference(crate::pool::PoolError::Closed))?;
    outcome.map_err(GatewayError::Explain)
}

/// The whole explanation path for one resolved route.
pub async fn explain_on(
    state: &AppState,
    route: &RouteState,
    principal: &Principal,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, GatewayError> {
    let arm = infer::choose_arm(route, principal, headers, None)?;
    let model = infer::arm_model(route, arm)?;
    if let Err(reason) = &model.explainer {
        return Err(GatewayError::NotExplainable {
            model: model.model.clone(),
            version: model.version,
            reason: reason.clone(),
        });
    }
    let (requests, batch) = predict::parse_body(body, state.limits.max_explain_instances)?;
    let rows = predict::feature_rows(&requests, batch)?;
    let explanations = explain_rows(Arc::clone(&model), rows).await?;
    let signature = velocast_features::Signature::current();
    let names = signature.feature_names();
    let request_id = infer::request_id(headers).to_owned();
    let (name, version, route_name, arm_name) = (
        model.model.clone(),
        model.version,
        route.route.name.to_string(),
        arm.arm.name.to_string(),
    );
    let algorithm = "tree_shap_path_dependent".to_owned();
    let body = if batch {
        serde_json::to_vec(&ExplanationsAnswer {
            explanations: explanations.iter().map(|e| row_view(e, &names)).collect(),
            algorithm,
            model: name,
            version,
            route: route_name,
            arm: arm_name,
            request_id,
        })
    } else {
        let first = explanations.first().ok_or_else(|| {
            GatewayError::Explain("no explanation came back for the row".to_owned())
        })?;
        serde_json::to_vec(&ExplanationAnswer {
            explanation: row_view(first, &names),
            algorithm,
            model: name,
            version,
            route: route_name,
            arm: arm_name,
            request_id,
        })
    }
    .map_err(|e| GatewayError::Invalid(ApiError::internal(&e)))?;
    Ok(infer::served_json(body, model.version, arm))
}
