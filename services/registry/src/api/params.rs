//! Path and query parameters, declared once: the same structs extract the values and describe
//! them in the OpenAPI document, with the patterns and limits the parsers in `velocast-catalog`
//! enforce, so a client generated from the document sends only what the server accepts, and
//! the server refuses what the document rules out (`schemathesis` checks both ways in
//! `make test`). The attribute macros take literals only, hence the repeated patterns.

use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};
use validator::Validate;

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct ModelPath {
    /// Model name: lowercase letters, digits, `-` and `_`, starting with a letter.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub model: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    /// Model name.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub model: String,
    /// A version number, an alias, or `latest`.
    #[param(
        pattern = r"^([1-9][0-9]{0,8}|[a-z][a-z0-9_-]{0,31})$",
        min_length = 1,
        max_length = 32
    )]
    pub version: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionNumberPath {
    /// Model name.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub model: String,
    /// A version number.
    #[param(pattern = r"^[1-9][0-9]{0,8}$", min_length = 1, max_length = 9)]
    pub version: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AliasPath {
    /// Model name.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub model: String,
    /// Alias name (`latest` is reserved).
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,31}$", min_length = 1, max_length = 32)]
    pub alias: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct RunPath {
    /// Run id.
    #[param(pattern = r"^[A-Za-z0-9_-]{1,64}$", min_length = 1, max_length = 64)]
    pub id: String,
}

/// `GET /v1/models`
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ModelQuery {
    /// Only models with this tag, as `key:value`.
    #[param(pattern = r"^[^:,\s\u0000][^:,\u0000]{0,127}:[^,\u0000]{0,256}$")]
    pub tag: Option<String>,
}

/// `GET /v1/models/{model}/versions`
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct VersionQuery {
    /// Comma-separated `key:value` tags, all required.
    #[param(
        pattern = r"^[^:,\s\u0000][^:,\u0000]{0,127}:[^,\u0000]{0,256}(,[^:,\s\u0000][^:,\u0000]{0,127}:[^,\u0000]{0,256})*$"
    )]
    pub tag: Option<String>,
    /// Comma-separated metric conditions such as `holdout_mae<40,holdout_r2>=0.9`.
    #[param(
        pattern = r"^[A-Za-z0-9_.:-]{1,128}(<=|>=|<|>|=)-?[0-9]{1,15}(\.[0-9]{1,15})?(,[A-Za-z0-9_.:-]{1,128}(<=|>=|<|>|=)-?[0-9]{1,15}(\.[0-9]{1,15})?)*$"
    )]
    pub metric: Option<String>,
    /// Only the version this alias points at.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,31}$", min_length = 1, max_length = 32)]
    pub alias: Option<String>,
}

/// `DELETE /v1/models/{model}/aliases/{alias}`
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct DeleteAliasQuery {
    /// Why: recorded in the audit log.
    #[param(min_length = 1, max_length = 1024, pattern = "^[^\\u0000]*$")]
    #[validate(
        length(min = 1, max = 1024),
        custom(function = "velocast_registry_api::no_nul")
    )]
    pub reason: String,
}

/// Where a run stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatusParam {
    Running,
    Finished,
    Failed,
}

/// Most runs one list returns.
pub const MAX_RUNS: u32 = 1000;
/// Runs a list returns when `limit` is absent.
pub const DEFAULT_RUNS: u32 = 50;

/// `GET /v1/runs`
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RunQuery {
    /// Only this model's runs.
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub model: Option<String>,
    /// Only runs in this state.
    #[param(inline)]
    pub status: Option<RunStatusParam>,
    /// At most this many, newest first (default 50).
    #[param(minimum = 1, maximum = 1000)]
    #[validate(range(min = 1, max = 1000))]
    pub limit: Option<u32>,
}

/// `GET /v1/watch`
#[derive(Debug, Deserialize, IntoParams, Validate)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct WatchQuery {
    /// Only this model's events (plus `resync`).
    #[param(pattern = r"^[a-z][a-z0-9_-]{0,63}$", min_length = 1, max_length = 64)]
    pub model: Option<String>,
}
