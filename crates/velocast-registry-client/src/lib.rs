//! A typed client for the registry API, used by the trainer (`--register`), the `velocast`
//! command, the gateway and the black-box tests. Errors keep the server's status and its
//! `error_type` / `field`, so callers can tell a conflict from an outage.

use std::path::Path;
use std::time::Duration;

use reqwest::{Method, RequestBuilder, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sha2::{Digest as _, Sha256};
use thiserror::Error;
use velocast_registry_api::{
    AliasMoveView, AuditLog, CreateModel, CreateRun, EndRun, EndStatus, LogMetrics, ModelList,
    ModelView, NewMetric, NewVersionMetadata, RunView, SetAlias, VersionList, VersionView,
};

/// The environment variable holding a token, and the one naming a file that holds it.
pub const TOKEN_ENV: &str = "VELOCAST_TOKEN";
pub const TOKEN_FILE_ENV: &str = "VELOCAST_TOKEN_FILE";

/// The one error body every Velocast service answers with.
#[derive(Debug, serde::Deserialize)]
struct ErrorBody {
    error: String,
    error_type: String,
    #[serde(default)]
    field: Option<String>,
}

#[derive(Debug, Error)]
pub enum ClientError {
    #[error("no token: set {TOKEN_ENV} or {TOKEN_FILE_ENV}")]
    NoToken,
    #[error("reading the token file {path}: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
    #[error("registry URL `{0}` must start with http:// or https://")]
    BadUrl(String),
    #[error("cannot reach the registry: {0}")]
    Transport(#[from] reqwest::Error),
    #[error("registry answered {status} {error_type}{}: {message}", field.as_deref().map(|f| format!(" (field `{f}`)")).unwrap_or_default())]
    Api {
        status: u16,
        error_type: String,
        message: String,
        field: Option<String>,
    },
    #[error("downloaded bytes hash to {actual}, expected {expected}")]
    Corrupt { expected: String, actual: String },
    /// The registry answered something this client cannot use (an error without the JSON
    /// error body, a download without its digest header).
    #[error("unexpected answer from the registry: {0}")]
    Protocol(String),
    #[error("cannot encode the request: {0}")]
    Encode(#[from] serde_json::Error),
}

impl ClientError {
    /// The HTTP status the registry answered with, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// Reads a token from `VELOCAST_TOKEN`, else from the file `VELOCAST_TOKEN_FILE` names (never
/// from a command-line flag, which would land in shell history).
pub fn token_from_env() -> Result<SecretString, ClientError> {
    if let Ok(token) = std::env::var(TOKEN_ENV)
        && !token.trim().is_empty()
    {
        return Ok(SecretString::from(token.trim().to_owned()));
    }
    match std::env::var(TOKEN_FILE_ENV) {
        Ok(path) => read_token_file(Path::new(&path)),
        Err(_) => Err(ClientError::NoToken),
    }
}

pub fn read_token_file(path: &Path) -> Result<SecretString, ClientError> {
    let text = std::fs::read_to_string(path).map_err(|source| ClientError::TokenFile {
        path: path.display().to_string(),
        source,
    })?;
    Ok(SecretString::from(text.trim().to_owned()))
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// One server-sent event of the watch stream: its name (`ready`, `alias_moved`,
/// `version_created`, `resync`) and the model it concerns, if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatchMessage {
    pub event: String,
    pub model: Option<String>,
}

/// An open watch stream.
#[derive(Debug)]
pub struct Watch {
    response: reqwest::Response,
    buffer: Vec<u8>,
    idle: Duration,
}

impl Watch {
    /// The next event; `Ok(None)` when the registry ended the stream (it shuts down).
    /// Keep-alive comments are skipped.
    pub async fn next(&mut self) -> Result<Option<WatchMessage>, ClientError> {
        loop {
            if let Some(end) = find_event_end(&self.buffer) {
                let block: Vec<u8> = self.buffer.drain(..end.0 + end.1).collect();
                if let Some(message) = parse_event(&block[..end.0]) {
                    return Ok(Some(message));
                }
                continue;
            }
            match tokio::time::timeout(self.idle, self.response.chunk()).await {
                Err(_elapsed) => {
                    return Err(ClientError::Protocol(format!(
                        "the watch stream was silent for {:?}",
                        self.idle
                    )));
                }
                Ok(Ok(Some(chunk))) => self.buffer.extend_from_slice(&chunk),
                Ok(Ok(None)) => return Ok(None),
                Ok(Err(error)) => return Err(error.into()),
            }
            if self.buffer.len() > 1 << 20 {
                return Err(ClientError::Protocol(
                    "a watch event longer than 1 MiB".into(),
                ));
            }
        }
    }
}

/// Where the first event block ends: (its length, the separator's length).
fn find_event_end(buffer: &[u8]) -> Option<(usize, usize)> {
    let lf = buffer.windows(2).position(|w| w == b"\n\n").map(|i| (i, 2));
    let crlf = buffer
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, 4));
    match (lf, crlf) {
        (Some(a), Some(b)) => Some(if a.0 <= b.0 { a } else { b }),
        (a, b) => a.or(b),
    }
}

/// One event block (`event:` and `data:` lines); `None` for comments only.
fn parse_event(block: &[u8]) -> Option<WatchMessage> {
    let text = String::from_utf8_lossy(block);
    let mut event = None;
    let mut data = String::new();
    for line in text.lines() {
        if let Some(value) = line.strip_prefix("event:") {
            event = Some(value.trim().to_owned());
        } else if let Some(value) = line.strip_prefix("data:") {
            data.push_str(value.trim_start());
        }
    }
    if event.is_none() && data.is_empty() {
        return None;
    }
    let model = serde_json::from_str::<serde_json::Value>(&data)
        .ok()
        .and_then(|v| v.get("model").and_then(|m| m.as_str()).map(str::to_owned));
    Some(WatchMessage {
        event: event.unwrap_or_else(|| "message".to_owned()),
        model,
    })
}

/// What a version upload sends beside its metadata.
#[derive(Debug, Clone)]
pub struct Upload<'a> {
    pub artifact: &'a [u8],
    pub profile: Option<&'a [u8]>,
}

#[derive(Debug, Clone)]
pub struct RegistryClient {
    http: reqwest::Client,
    base: String,
    token: SecretString,
}

impl RegistryClient {
    pub fn new(base_url: &str, token: SecretString) -> Result<Self, ClientError> {
        if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
            return Err(ClientError::BadUrl(base_url.to_owned()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(120))
            .build()?;
        Ok(RegistryClient {
            http,
            base: base_url.trim_end_matches('/').to_owned(),
            token,
        })
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token.expose_secret())
    }

    async fn send<T: DeserializeOwned>(request: RequestBuilder) -> Result<T, ClientError> {
        let response = Self::checked(request).await?;
        Ok(response.json().await?)
    }

    /// Sends and turns a non-2xx answer into [`ClientError::Api`].
    async fn checked(request: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let response = request.send().await?;
        if response.status().is_success() || response.status() == StatusCode::NOT_MODIFIED {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let raw = response.bytes().await?;
        // Every Velocast error is the one JSON body; anything else (a proxy's HTML page, say) is
        // reported as what it is rather than as an empty error.
        match serde_json::from_slice::<ErrorBody>(&raw) {
            Ok(body) => Err(ClientError::Api {
                status,
                error_type: body.error_type,
                message: body.error,
                field: body.field,
            }),
            Err(_) => Err(ClientError::Protocol(format!(
                "status {status} with a body that is not the error JSON: {}",
                String::from_utf8_lossy(&raw[..raw.len().min(200)])
            ))),
        }
    }

    async fn post_json<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        Self::send(self.request(Method::POST, path).json(body)).await
    }

    pub async fn list_models(&self, tag: Option<&str>) -> Result<ModelList, ClientError> {
        let mut request = self.request(Method::GET, "/v1/models");
        if let Some(tag) = tag {
            request = request.query(&[("tag", tag)]);
        }
        Self::send(request).await
    }

    pub async fn create_model(&self, model: &CreateModel) -> Result<ModelView, ClientError> {
        self.post_json("/v1/models", model).await
    }

    /// Creates the model, or returns it if it exists already.
    pub async fn ensure_model(&self, model: &CreateModel) -> Result<ModelView, ClientError> {
        match self.create_model(model).await {
            Err(ClientError::Api { status: 409, .. }) => self.get_model(&model.name).await,
            other => other,
        }
    }

    pub async fn get_model(&self, name: &str) -> Result<ModelView, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/models/{name}"))).await
    }

    pub async fn create_run(&self, run: &CreateRun) -> Result<RunView, ClientError> {
        self.post_json("/v1/runs", run).await
    }

    pub async fn log_metrics(
        &self,
        run_id: &str,
        metrics: Vec<NewMetric>,
    ) -> Result<(), ClientError> {
        Self::checked(
            self.request(Method::POST, &format!("/v1/runs/{run_id}/metrics"))
                .json(&LogMetrics { metrics }),
        )
        .await
        .map(drop)
    }

    pub async fn end_run(&self, run_id: &str, status: EndStatus) -> Result<RunView, ClientError> {
        self.post_json(&format!("/v1/runs/{run_id}/end"), &EndRun { status })
            .await
    }

    pub async fn get_run(&self, run_id: &str) -> Result<RunView, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/runs/{run_id}"))).await
    }

    /// Uploads a version. The digests in `metadata` are filled in from the bytes.
    pub async fn upload_version(
        &self,
        model: &str,
        mut metadata: NewVersionMetadata,
        upload: Upload<'_>,
    ) -> Result<VersionView, ClientError> {
        metadata.artifact_sha256 = sha256_hex(upload.artifact);
        metadata.profile_sha256 = upload.profile.map(sha256_hex);
        self.upload_raw(model, &serde_json::to_vec(&metadata)?, upload)
            .await
    }

    /// Uploads exactly what it is given (tests use it to send wrong digests).
    pub async fn upload_raw(
        &self,
        model: &str,
        metadata_json: &[u8],
        upload: Upload<'_>,
    ) -> Result<VersionView, ClientError> {
        use reqwest::multipart::{Form, Part};
        let mut form = Form::new()
            .part(
                "metadata",
                Part::bytes(metadata_json.to_vec()).mime_str("application/json")?,
            )
            .part(
                "artifact",
                Part::bytes(upload.artifact.to_vec()).mime_str("application/octet-stream")?,
            );
        if let Some(profile) = upload.profile {
            form = form.part(
                "profile",
                Part::bytes(profile.to_vec()).mime_str("application/json")?,
            );
        }
        Self::send(
            self.request(Method::POST, &format!("/v1/models/{model}/versions"))
                .multipart(form),
        )
        .await
    }

    /// `selector`: a number, an alias or `latest`.
    pub async fn get_version(
        &self,
        model: &str,
        selector: &str,
    ) -> Result<VersionView, ClientError> {
        Self::send(self.request(
            Method::GET,
            &format!("/v1/models/{model}/versions/{selector}"),
        ))
        .await
    }

    /// `query`: pairs such as `("metric", "holdout_mae<40")`, `("tag", "stage:prod")`.
    pub async fn list_versions(
        &self,
        model: &str,
        query: &[(&str, &str)],
    ) -> Result<VersionList, ClientError> {
        Self::send(
            self.request(Method::GET, &format!("/v1/models/{model}/versions"))
                .query(query),
        )
        .await
    }

    /// Downloads an artifact and checks it hashes to the digest the registry announces.
    pub async fn download_artifact(
        &self,
        model: &str,
        selector: &str,
    ) -> Result<(String, Vec<u8>), ClientError> {
        self.download_verified(&format!("/v1/models/{model}/versions/{selector}/artifact"))
            .await
    }

    /// Downloads a version's reference profile (the JSON the trainer stored beside the model)
    /// and checks it hashes to the digest the registry announces.
    pub async fn download_profile(
        &self,
        model: &str,
        selector: &str,
    ) -> Result<(String, Vec<u8>), ClientError> {
        self.download_verified(&format!("/v1/models/{model}/versions/{selector}/profile"))
            .await
    }

    async fn download_verified(&self, path: &str) -> Result<(String, Vec<u8>), ClientError> {
        let response = Self::checked(self.request(Method::GET, path)).await?;
        let expected = response
            .headers()
            .get("x-velocast-sha256")
            .and_then(|v| v.to_str().ok())
            .ok_or_else(|| {
                ClientError::Protocol("the download has no x-velocast-sha256 header".into())
            })?
            .to_owned();
        let bytes = response.bytes().await?.to_vec();
        let actual = sha256_hex(&bytes);
        if actual != expected {
            return Err(ClientError::Corrupt { expected, actual });
        }
        Ok((actual, bytes))
    }

    pub async fn set_alias(
        &self,
        model: &str,
        alias: &str,
        version: u32,
        reason: &str,
    ) -> Result<AliasMoveView, ClientError> {
        Self::send(
            self.request(Method::PUT, &format!("/v1/models/{model}/aliases/{alias}"))
                .json(&SetAlias {
                    version,
                    reason: reason.to_owned(),
                }),
        )
        .await
    }

    pub async fn audit(&self, model: &str) -> Result<AuditLog, ClientError> {
        Self::send(self.request(Method::GET, &format!("/v1/models/{model}/audit"))).await
    }

    /// Opens the registry's watch stream (`GET /v1/watch`), optionally for one model. The
    /// stream has no overall deadline; [`Watch::next`] gives up on a connection that has been
    /// silent for `idle` (the registry sends a keep-alive every 15 s).
    pub async fn watch(&self, model: Option<&str>, idle: Duration) -> Result<Watch, ClientError> {
        let mut request = self
            .request(Method::GET, "/v1/watch")
            .header("accept", "text/event-stream")
            // A stream lives as long as it is healthy; the idle limit catches dead ones.
            .timeout(Duration::from_secs(7 * 24 * 3600));
        if let Some(model) = model {
            request = request.query(&[("model", model)]);
        }
        let response = Self::checked(request).await?;
        Ok(Watch {
            response,
            buffer: Vec::new(),
            idle,
        })
    }

    /// A raw request with the client's token (for what the typed methods do not cover).
    pub fn raw(&self, method: Method, path: &str) -> RequestBuilder {
        self.request(method, path)
    }
}
