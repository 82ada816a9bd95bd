//! Versions: upload (multipart: `metadata` JSON, `artifact` bytes, optional `profile` bytes),
//! search, read, delete, and verified downloads with `ETag`, `Repr-Digest` and ranges.

use std::sync::Arc;

use axum::Json;
use axum::body::Body;
use axum::extract::{Multipart, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use utoipa::ToSchema;
use validator::Validate;
use velocast_catalog::{
    AliasName, Digest, MetricFilter, ModelName, TagFilter, VersionFilter, VersionNumber,
    VersionSelector,
};
use velocast_http::auth::{Authorized, ModelsAdmin, ModelsRead, ModelsWrite};
use velocast_http::{ApiError, ApiMultipart, ApiPath, ApiQuery, ErrorBody};
use velocast_registry_api::{NewVersionMetadata, VersionList, VersionView};
use velocast_registry_store::{NewVersion, VersionMetadata};

use crate::api::convert;
use crate::api::params::{ModelPath, VersionNumberPath, VersionPath, VersionQuery};
use crate::artifact;
use crate::error::{FieldContext, RegistryError, parse_optional};
use crate::range::{self, ByteRange};
use crate::state::AppState;

/// The multipart upload, for the OpenAPI document.
#[allow(dead_code)]
#[derive(ToSchema)]
pub struct VersionUpload {
    /// `NewVersionMetadata` as JSON.
    metadata: NewVersionMetadata,
    /// The ONNX model.
    #[schema(format = Binary, value_type = String)]
    artifact: Vec<u8>,
    /// The reference profile (JSON), optional.
    #[schema(format = Binary, value_type = String)]
    profile: Option<Vec<u8>>,
}

/// The conditions of a comma-separated list, exactly as written: an empty item (or an empty
/// list) is an error, as the documented pattern says, not something to skip.
fn split_list(text: Option<&str>) -> impl Iterator<Item = &str> {
    text.into_iter().flat_map(|t| t.split(','))
}

/// Versions of a model, oldest first, filtered by tags, metrics and alias.
#[utoipa::path(get, path = "/v1/models/{model}/versions", tag = "versions",
    params(ModelPath, VersionQuery),
    responses((status = 200, body = VersionList)),
    security(("bearer" = ["models:read"])))]
pub async fn list(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(ModelPath { model }): ApiPath<ModelPath>,
    ApiQuery(query): ApiQuery<VersionQuery>,
) -> Result<Json<VersionList>, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let filter = VersionFilter {
        tags: split_list(query.tag.as_deref())
            .map(str::parse::<TagFilter>)
            .collect::<Result<_, _>>()
            .field("tag")?,
        metrics: split_list(query.metric.as_deref())
            .map(str::parse::<MetricFilter>)
            .collect::<Result<_, _>>()
            .field("metric")?,
    };
    let alias = parse_optional::<AliasName>(query.alias.as_deref(), "alias")?;
    let versions = state
        .store
        .search_versions(&model, &filter, alias.as_ref())
        .await?;
    Ok(Json(VersionList {
        versions: versions
            .into_iter()
            .map(|v| convert::version(v, false))
            .collect::<Result<_, _>>()?,
    }))
}

/// Reads the multipart parts, each bounded by the artifact limit.
async fn read_upload(
    mut multipart: Multipart,
    max_part_bytes: usize,
    max_json_bytes: usize,
) -> Result<(NewVersionMetadata, Vec<u8>, Option<Vec<u8>>), ApiError> {
    let multipart_error = |error: axum::extract::multipart::MultipartError| {
        if error.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "payload_too_large",
                "the upload exceeds the size limit",
            )
            .with_field("body")
        } else {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                "malformed_multipart",
                error.body_text(),
            )
            .with_field("body")
        }
    };
    let (mut metadata, mut artifact, mut profile) = (None, None, None);
    while let Some(mut field) = multipart.next_field().await.map_err(multipart_error)? {
        let name = field
            .name()
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_part",
                    "a part has no name: expected metadata, artifact, profile",
                )
                .with_field("body")
            })?
            .to_owned();
        let limit = match name.as_str() {
            "metadata" => max_json_bytes,
            "artifact" | "profile" => max_part_bytes,
            other => {
                return Err(ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_part",
                    format!("unknown part `{other}`: expected metadata, artifact, profile"),
                )
                .with_field(other.to_owned()));
            }
        };
        let mut bytes = Vec::new();
        while let Some(chunk) = field.chunk().await.map_err(multipart_error)? {
            if bytes.len() + chunk.len() > limit {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("part `{name}` exceeds the limit of {limit} bytes"),
                )
                .with_field(name));
            }
            bytes.extend_from_slice(&chunk);
        }
        // `replace` hands back an earlier part of the same name: a duplicate.
        let duplicate = match name.as_str() {
            "metadata" => {
                let parsed: NewVersionMetadata = velocast_http::parse_json(&bytes)?;
                parsed
                    .validate()
                    .map_err(|e| velocast_http::validation_error(&e))?;
                metadata.replace(parsed).is_some()
            }
            "artifact" => artifact.replace(bytes).is_some(),
            _ => profile.replace(bytes).is_some(),
        };
        if duplicate {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "duplicate_part",
                format!("part `{name}` appears twice"),
            )
            .with_field(name));
        }
    }
    let missing = |part: &str| {
        ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "missing_part",
            format!("the upload needs a `{part}` part"),
        )
        .with_field(part.to_owned())
    };
    let metadata = metadata.ok_or_else(|| missing("metadata"))?;
    let artifact = artifact.ok_or_else(|| missing("artifact"))?;
    Ok((metadata, artifact, profile))
}

/// Register a new version: the server hashes every part and refuses a digest mismatch; the
/// version, its bytes and its number commit together or not at all.
#[utoipa::path(post, path = "/v1/models/{model}/versions", tag = "versions",
    params(ModelPath),
    request_body(content = VersionUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = VersionView),
        (status = 422, description = "Digest mismatch, invalid metadata, or an artifact that is not a Velocast ONNX model of the declared signature", body = ErrorBody)),
    security(("bearer" = ["models:write"])))]
pub async fn create(
    caller: Authorized<ModelsWrite>,
    State(state): State<AppState>,
    ApiPath(ModelPath { model }): ApiPath<ModelPath>,
    ApiMultipart(multipart): ApiMultipart,
) -> Result<(StatusCode, Json<VersionView>), RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let (request, artifact, profile) = read_upload(
        multipart,
        state.limits.max_artifact_bytes,
        state.limits.max_json_bytes,
    )
    .await?;
    let artifact_digest: Digest = request.artifact_sha256.parse().field("artifact_sha256")?;
    let profile_digest: Option<Digest> =
        parse_optional(request.profile_sha256.as_deref(), "profile_sha256")?;
    let profile = match (&profile, &profile_digest) {
        (Some(bytes), Some(digest)) => Some((bytes.as_slice(), digest)),
        (None, None) => None,
        (Some(_), None) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_digest",
                "a `profile` part needs `profile_sha256` in the metadata",
            )
            .with_field("profile_sha256")
            .into());
        }
        (None, Some(_)) => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "missing_part",
                "`profile_sha256` is set but no `profile` part was sent",
            )
            .with_field("profile")
            .into());
        }
    };
    let artifact: Arc<[u8]> = Arc::from(artifact);
    artifact::check(Arc::clone(&artifact), &request.signature)
        .await
        .map_err(|error| {
            ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_artifact",
                error.to_string(),
            )
            .with_field(error.field())
        })?;
    let metadata = VersionMetadata {
        lineage: convert::lineage(request.lineage),
        signature: request.signature,
        metrics: request.metrics,
        params: request.params,
        tags: request.tags.0,
        card: request.card,
    };
    let record = state
        .store
        .create_version(NewVersion {
            model: &model,
            declared_digest: &artifact_digest,
            profile,
            metadata: &metadata,
            artifact: &artifact,
            run_id: request.run_id.as_deref(),
            created_by: &caller.principal.subject,
        })
        .await?;
    state.metrics.wrote("version");
    tracing::info!(model = %model, version = record.version.get(), digest = %record.artifact_digest, "version registered");
    Ok((StatusCode::CREATED, Json(convert::version(record, true)?)))
}

/// One version: a number, an alias, or `latest`.
#[utoipa::path(get, path = "/v1/models/{model}/versions/{version}", tag = "versions",
    params(VersionPath),
    responses((status = 200, body = VersionView)),
    security(("bearer" = ["models:read"])))]
pub async fn get(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(VersionPath { model, version }): ApiPath<VersionPath>,
) -> Result<Json<VersionView>, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let selector = parse_selector(&version)?;
    let record = state.store.select_version(&model, &selector).await?;
    Ok(Json(convert::version(record, true)?))
}

/// Delete a version no alias points at (409 otherwise); its number is never reused.
#[utoipa::path(delete, path = "/v1/models/{model}/versions/{version}", tag = "versions",
    params(VersionNumberPath),
    responses((status = 204, description = "Deleted"), (status = 409, description = "An alias points at the version", body = ErrorBody)),
    security(("bearer" = ["models:admin"])))]
pub async fn delete(
    caller: Authorized<ModelsAdmin>,
    State(state): State<AppState>,
    ApiPath(VersionNumberPath { model, version }): ApiPath<VersionNumberPath>,
) -> Result<StatusCode, RegistryError> {
    let model: ModelName = model.parse().field("model")?;
    let version: VersionNumber = version.parse().field("version")?;
    state.store.delete_version(&model, version).await?;
    state.metrics.wrote("version_delete");
    tracing::info!(model = %model, version = version.get(), by = %caller.principal.subject, "version deleted");
    Ok(StatusCode::NO_CONTENT)
}

fn parse_selector(text: &str) -> Result<VersionSelector, RegistryError> {
    text.parse().field("version")
}

#[derive(Debug, Clone, Copy)]
enum Part {
    Artifact,
    Profile,
}

/// Whether an entity tag in a conditional header names `etag`. `If-None-Match` compares
/// weakly (RFC 9110 §13.1.2: `W/"x"` matches `"x"`); `If-Range` needs a strong match.
fn etag_matches(header: &str, etag: &str, weak: bool) -> bool {
    header.split(',').map(str::trim).any(|candidate| {
        candidate == "*" && weak
            || candidate == etag
            || (weak && candidate.strip_prefix("W/") == Some(etag))
    })
}

/// Whether a `Range` should be honoured: always without `If-Range`; with it, only when it names
/// the current representation by its strong entity tag (a date never matches: we send no
/// `Last-Modified`). Otherwise the client gets the whole, current body, so a resumed download
/// can never splice two models after an alias moved.
fn range_applies(headers: &HeaderMap, etag: &str) -> bool {
    match headers.get(header::IF_RANGE).map(|v| v.to_str()) {
        None => true,
        Some(Ok(value)) => {
            let value = value.trim();
            !value.starts_with("W/") && value == etag
        }
        Some(Err(_)) => false,
    }
}

async fn download(
    state: &AppState,
    path: VersionPath,
    part: Part,
    headers: &HeaderMap,
) -> Result<Response, RegistryError> {
    let model: ModelName = path.model.parse().field("model")?;
    let selector = parse_selector(&path.version)?;
    let record = state.store.select_version(&model, &selector).await?;
    let (digest, file_name) = match part {
        Part::Artifact => (
            record.artifact_digest.clone(),
            format!("{model}-v{}.onnx", record.version),
        ),
        Part::Profile => (
            record.profile_digest.clone().ok_or_else(|| {
                ApiError::not_found(format!(
                    "version {} of `{model}` has no reference profile",
                    record.version
                ))
                .with_field("profile")
            })?,
            format!("{model}-v{}-profile.json", record.version),
        ),
    };
    let etag = format!("\"{digest}\"");
    // A URL naming a version number always means the same bytes; one naming an alias or
    // `latest` may mean other bytes tomorrow, so caches must revalidate it.
    let cache_control = match selector {
        VersionSelector::Number(_) => "private, max-age=31536000, immutable",
        VersionSelector::Alias(_) | VersionSelector::Latest => "private, no-cache",
    };
    let common = |builder: axum::http::response::Builder| {
        builder
            .header(header::ETAG, &etag)
            .header("x-velocast-version", record.version.get())
            .header(header::CACHE_CONTROL, cache_control)
    };
    let if_none_match = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok());
    if if_none_match.is_some_and(|v| etag_matches(v, &etag, true)) {
        return common(Response::builder().status(StatusCode::NOT_MODIFIED))
            .body(Body::empty())
            .map_err(|e| RegistryError::Api(ApiError::internal(&e)));
    }
    // Verified against the digest before a byte leaves.
    let bytes = state.store.read_blob(&digest).await?;
    let length = bytes.len() as u64;
    let raw_digest = hex::decode(digest.as_str()).map_err(|e| ApiError::internal(&e))?;
    let repr_digest = format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(raw_digest)
    );
    let range_header = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .filter(|_| range_applies(headers, &etag));
    let builder = common(Response::builder())
        .header(header::ACCEPT_RANGES, "bytes")
        .header("repr-digest", repr_digest)
        .header("x-velocast-sha256", digest.as_str())
        .header(
            header::CONTENT_TYPE,
            match part {
                Part::Artifact => "application/octet-stream",
                Part::Profile => "application/json",
            },
        )
        .header(
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{file_name}\""),
        );
    let response = match range::parse(range_header, length) {
        ByteRange::Whole => {
            state.metrics.artifact_bytes_served.inc_by(length);
            builder.status(StatusCode::OK).body(Body::from(bytes))
        }
        ByteRange::Part(span) => {
            let (first, last) = (*span.start(), *span.end());
            // `range::parse` keeps both ends inside `0..length`.
            let slice = usize::try_from(first)
                .ok()
                .zip(usize::try_from(last).ok())
                .and_then(|(first, last)| bytes.get(first..=last))
                .ok_or_else(|| ApiError::internal(&"range outside the artifact"))?
                .to_vec();
            state
                .metrics
                .artifact_bytes_served
                .inc_by(slice.len() as u64);
            builder
                .status(StatusCode::PARTIAL_CONTENT)
                .header(
                    header::CONTENT_RANGE,
                    format!("bytes {first}-{last}/{length}"),
                )
                .body(Body::from(slice))
        }
        ByteRange::Unsatisfiable => {
            let mut response = ApiError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "range_not_satisfiable",
                format!("the artifact has {length} bytes"),
            )
            .with_field("range")
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&format!("bytes */{length}")) {
                response.headers_mut().insert(header::CONTENT_RANGE, value);
            }
            return Ok(response);
        }
    };
    response.map_err(|e| RegistryError::Api(ApiError::internal(&e)))
}

/// The ONNX artifact, verified against its sha256; `ETag` and `Repr-Digest` carry the digest;
/// `Range`, `If-Range` and `If-None-Match` are honoured; only URLs naming a version number are
/// cacheable as immutable.
#[utoipa::path(get, path = "/v1/models/{model}/versions/{version}/artifact", tag = "versions",
    params(VersionPath),
    responses((status = 200, description = "The bytes", content_type = "application/octet-stream"),
        (status = 206, description = "The requested range", content_type = "application/octet-stream"),
        (status = 304, description = "Unchanged"),
        (status = 416, description = "The range is outside the artifact", body = ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn artifact(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<VersionPath>,
    headers: HeaderMap,
) -> Result<Response, RegistryError> {
    download(&state, path, Part::Artifact, &headers).await
}

/// The reference profile the trainer stored with the version (for drift monitoring).
#[utoipa::path(get, path = "/v1/models/{model}/versions/{version}/profile", tag = "versions",
    params(VersionPath),
    responses((status = 200, description = "The profile JSON", content_type = "application/json"),
        (status = 206, description = "The requested range", content_type = "application/json"),
        (status = 304, description = "Unchanged"),
        (status = 416, description = "The range is outside the profile", body = ErrorBody)),
    security(("bearer" = ["models:read"])))]
pub async fn profile(
    _caller: Authorized<ModelsRead>,
    State(state): State<AppState>,
    ApiPath(path): ApiPath<VersionPath>,
    headers: HeaderMap,
) -> Result<Response, RegistryError> {
    download(&state, path, Part::Profile, &headers).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_comparison_for_if_none_match_strong_for_if_range() {
        let etag = "\"abc\"";
        assert!(etag_matches("\"abc\"", etag, true));
        assert!(etag_matches("W/\"abc\"", etag, true));
        assert!(etag_matches("\"x\", W/\"abc\"", etag, true));
        assert!(etag_matches("*", etag, true));
        assert!(!etag_matches("\"abd\"", etag, true));
        let mut headers = HeaderMap::new();
        assert!(range_applies(&headers, etag));
        headers.insert(header::IF_RANGE, HeaderValue::from_static("\"abc\""));
        assert!(range_applies(&headers, etag));
        headers.insert(header::IF_RANGE, HeaderValue::from_static("W/\"abc\""));
        assert!(!range_applies(&headers, etag));
        headers.insert(header::IF_RANGE, HeaderValue::from_static("\"old\""));
        assert!(!range_applies(&headers, etag));
        headers.insert(
            header::IF_RANGE,
            HeaderValue::from_static("Tue, 01 Dec 2026 08:00:00 GMT"),
        );
        assert!(!range_applies(&headers, etag));
    }
}
