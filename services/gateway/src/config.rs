//! The gateway's typed configuration: defaults in code, then a TOML file (`--config`), then
//! `VELOCAST_GATEWAY__*` environment variables (nested keys joined by `__`), then the shared
//! names `VELOCAST_JWT_SECRET` and `VELOCAST_REGISTRY_URL`, then flags. Validated once at start
//! with every error reported together (exit code 2).
//!
//! The route table lives in the same file (`[routes.<name>]`, see `velocast-routing`); it is the
//! one part re-read while the gateway runs (see [`crate::reload`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::Serialized;
use serde::{Deserialize, Serialize};
use validator::{Validate, ValidationError};
pub use velocast_config::ConfigError;
use velocast_config::rules;
pub use velocast_http::auth::AuthSettings;
use velocast_routing::{RouteError, RouteTable};

pub const ENV_PREFIX: &str = "VELOCAST_GATEWAY__";

#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct GatewayConfig {
    /// Address to listen on; port 0 picks a free port (the bound address is logged).
    pub bind: SocketAddr,
    /// The registry the models come from.
    #[validate(custom(function = "rules::http_url"))]
    pub registry_url: String,
    /// Verified artifacts of the models served, so a restarted gateway serves the last good
    /// model while the registry is away.
    pub cache_dir: PathBuf,
    /// `libonnxruntime.so` 1.31; else `ORT_DYLIB_PATH`, else the setup default.
    pub onnxruntime_path: Option<PathBuf>,
    /// What scores rows: `onnxruntime` (sessions on their own threads, micro-batched) or
    /// `native` (the tree evaluator, held to ONNX Runtime on the golden rows and 1,000 random
    /// rows at load, or the version does not serve).
    pub backend: crate::backend::BackendKind,
    /// ONNX Runtime sessions (inference threads) per served model version.
    #[validate(range(min = 1, max = 64))]
    pub sessions: usize,
    #[validate(nested)]
    pub batching: BatchingSettings,
    /// Largest `instances` list of one request.
    #[validate(range(min = 1, max = 65_536))]
    pub max_instances: usize,
    /// Largest request body, in bytes.
    #[validate(range(min = 1024, max = 67_108_864))]
    pub max_body_bytes: usize,
    /// Prediction requests handled at once; more are refused with 503 + `Retry-After` rather
    /// than queued (health and metrics are never refused).
    #[validate(range(min = 1, max = 1_000_000))]
    pub max_in_flight: usize,
    /// Time allowed to produce a response head.
    #[validate(range(min = 1, max = 3600))]
    pub request_timeout_seconds: u64,
    /// After SIGTERM: how long readiness is false while requests are still accepted (so load
    /// balancers stop sending before the listener closes).
    #[validate(range(min = 0, max = 600_000))]
    pub shutdown_delay_ms: u64,
    /// Then: how long in-flight requests may take before connections are dropped.
    #[validate(range(min = 0, max = 600))]
    pub shutdown_grace_seconds: u64,
    /// How often the served aliases are re-read from the registry even without a watch event.
    #[validate(range(min = 1, max = 86_400))]
    pub resync_interval_seconds: u64,
    /// How often the configuration file is checked for a changed route table.
    #[validate(range(min = 50, max = 600_000))]
    pub reload_interval_ms: u64,
    #[validate(nested)]
    pub rate_limit: RateLimitSettings,
    #[validate(nested)]
    pub response_cache: ResponseCacheSettings,
    #[validate(nested)]
    pub explain: ExplainSettings,
    /// Shadow scorings in flight at once; more copies are dropped (and counted).
    #[validate(range(min = 1, max = 100_000))]
    pub shadow_max_in_flight: usize,
    /// Where prediction events go (the monitor); none: not sent.
    #[validate(nested)]
    pub events: Option<EventsSettings>,
    /// JSON log lines even on a terminal.
    pub json_logs: bool,
    #[validate(nested)]
    pub auth: AuthSettings,
    /// The route table (`[routes.<name>]`); validated by `velocast-routing`.
    pub routes: BTreeMap<String, toml::Value>,
}

/// Coalescing of concurrent requests into one ONNX Runtime call.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct BatchingSettings {
    /// Most rows one ONNX Runtime call takes from queued requests (a single larger request
    /// still runs, alone).
    #[validate(range(min = 1, max = 65_536))]
    pub max_batch_rows: usize,
    /// Longest a session waits for requests that are already being parsed to join its batch;
    /// it never waits when none are on their way. 0 turns waiting off.
    #[validate(range(min = 0, max = 100_000))]
    pub max_wait_us: u64,
}

/// Explanations (`POST /v1/models/{name}:explain`, scope `explain`).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct ExplainSettings {
    /// Build each version's TreeSHAP tables at load (about 120 MB and 0.6 s for the trained
    /// blend); off: `:explain` answers 409.
    pub enabled: bool,
    /// Largest `instances` list of one explanation request (each row costs ~0.1 ms).
    #[validate(range(min = 1, max = 65_536))]
    pub max_instances: usize,
}

impl Default for ExplainSettings {
    fn default() -> Self {
        ExplainSettings {
            enabled: true,
            max_instances: 256,
        }
    }
}

/// Predictions cached per model version and feature vector (off by default).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct ResponseCacheSettings {
    pub enabled: bool,
    #[validate(range(min = 2, max = 100_000_000))]
    pub max_entries: usize,
    /// Memory bound per model version, in bytes (about 128 bytes an entry).
    #[validate(range(min = 1024, max = 2_147_483_647))]
    pub max_bytes: usize,
}

impl Default for ResponseCacheSettings {
    fn default() -> Self {
        ResponseCacheSettings {
            enabled: false,
            max_entries: 100_000,
            max_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Prediction events to the monitor, in batches, off the request path.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct EventsSettings {
    /// `POST` target, e.g. `http://127.0.0.1:8082/v1/events`.
    #[validate(custom(function = "rules::http_url"))]
    pub url: String,
    /// Events held while waiting to be sent; more are dropped (and counted).
    #[validate(range(min = 1, max = 10_000_000))]
    pub buffer: usize,
    #[validate(range(min = 1, max = 100_000))]
    pub batch: usize,
    #[validate(range(min = 1, max = 60_000))]
    pub flush_interval_ms: u64,
    /// Attempts after the first before a batch is dropped (and counted).
    #[validate(range(min = 0, max = 100))]
    pub max_retries: u32,
    #[validate(range(min = 1, max = 600_000))]
    pub timeout_ms: u64,
}

impl Default for EventsSettings {
    fn default() -> Self {
        EventsSettings {
            url: "http://127.0.0.1:8082/v1/events".to_owned(),
            buffer: 100_000,
            batch: 1000,
            flush_interval_ms: 250,
            max_retries: 5,
            timeout_ms: 5000,
        }
    }
}

/// A bucket of `burst` requests refilled at `per_second`.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    #[validate(range(min = 1, max = 10_000_000))]
    pub per_second: u64,
    #[validate(range(min = 1, max = 10_000_000))]
    pub burst: u32,
}

/// Quotas through `tower_governor`: each bucket of `burst` requests is refilled at
/// `per_second`; past it, 429 with `Retry-After` and `RateLimit-*` headers.
///
/// `key` says who shares a bucket: `"sub"` (each subject its own), or a claim of the token
/// (`"tenant"`: every token of one tenant shares one; a token without the claim is limited by
/// its subject, in a bucket of its own). With `tier_claim`, that claim's value picks the quota
/// from `tiers` (`plan = "gold"` → `tiers.gold`); tokens without it, or with a value not
/// listed, get `per_second`/`burst`.
#[derive(Debug, Clone, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
#[validate(schema(function = "tiers_have_a_claim"))]
pub struct RateLimitSettings {
    pub enabled: bool,
    #[validate(range(min = 1, max = 10_000_000))]
    pub per_second: u64,
    #[validate(range(min = 1, max = 10_000_000))]
    pub burst: u32,
    #[validate(custom(function = "claim_name"))]
    pub key: String,
    #[validate(custom(function = "claim_name"))]
    pub tier_claim: Option<String>,
    #[validate(nested, length(max = 64))]
    pub tiers: BTreeMap<String, Quota>,
}

/// A claim a principal keeps: `sub`, or a plain claim other than the registered ones.
fn claim_name(name: &str) -> Result<(), ValidationError> {
    let registered = ["iss", "aud", "exp", "nbf", "iat", "jti", "scope"];
    let plain = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'));
    if plain && !registered.contains(&name) {
        Ok(())
    } else {
        let mut error = ValidationError::new("claim");
        error.message = Some(
            "must be `sub` or a plain claim name (1 to 64 of A-Z a-z 0-9 _ - . :), not iss, aud, exp, nbf, iat, jti or scope"
                .into(),
        );
        Err(error)
    }
}

fn tiers_have_a_claim(settings: &RateLimitSettings) -> Result<(), ValidationError> {
    if settings.tiers.is_empty() == settings.tier_claim.is_none() {
        Ok(())
    } else {
        let mut error = ValidationError::new("tiers");
        error.message =
            Some("`tier_claim` and `tiers` go together: the claim's value picks the tier".into());
        Err(error)
    }
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 8080)),
            registry_url: "http://127.0.0.1:8081".to_owned(),
            cache_dir: PathBuf::from(".velocast/gateway-cache"),
            onnxruntime_path: None,
            backend: crate::backend::BackendKind::default(),
            sessions: std::thread::available_parallelism().map_or(1, usize::from),
            batching: BatchingSettings::default(),
            max_instances: 1024,
            max_body_bytes: 2 * 1024 * 1024,
            max_in_flight: 4096,
            request_timeout_seconds: 10,
            shutdown_delay_ms: 0,
            shutdown_grace_seconds: 20,
            resync_interval_seconds: 30,
            reload_interval_ms: 1000,
            rate_limit: RateLimitSettings::default(),
            response_cache: ResponseCacheSettings::default(),
            explain: ExplainSettings::default(),
            shadow_max_in_flight: 64,
            events: None,
            json_logs: false,
            auth: AuthSettings::default(),
            routes: BTreeMap::new(),
        }
    }
}

impl Default for BatchingSettings {
    fn default() -> Self {
        BatchingSettings {
            max_batch_rows: 256,
            max_wait_us: 200,
        }
    }
}

impl Default for RateLimitSettings {
    fn default() -> Self {
        RateLimitSettings {
            enabled: true,
            per_second: 10_000,
            burst: 20_000,
            key: "sub".to_owned(),
            tier_claim: None,
            tiers: BTreeMap::new(),
        }
    }
}

/// Command-line values; `None` leaves the lower layers' value.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub bind: Option<SocketAddr>,
    pub registry: Option<String>,
    /// `--route name=model@alias` or `name=model@7`; when given, they replace the file's table.
    pub routes: Vec<String>,
    pub json_logs: bool,
}

/// Parses `name=model@alias` (or `@<version>`) into a one-arm route, as TOML.
fn route_flag(text: &str) -> Result<(String, toml::Value), String> {
    let (name, target) = text.split_once('=').ok_or_else(|| {
        format!("--route `{text}`: expected name=model@alias or name=model@version")
    })?;
    let (model, arm) = target.split_once('@').ok_or_else(|| {
        format!("--route `{text}`: expected name=model@alias or name=model@version")
    })?;
    let mut arm_table = toml::Table::new();
    match arm.parse::<u32>() {
        Ok(version) => {
            arm_table.insert("name".into(), format!("v{version}").into());
            arm_table.insert("version".into(), i64::from(version).into());
        }
        Err(_) => {
            arm_table.insert("name".into(), arm.into());
            arm_table.insert("alias".into(), arm.into());
        }
    }
    arm_table.insert("weight".into(), 1_i64.into());
    let mut route = toml::Table::new();
    route.insert("model".into(), model.into());
    route.insert("sticky".into(), "request_id".into());
    route.insert(
        "arms".into(),
        toml::Value::Array(vec![toml::Value::Table(arm_table)]),
    );
    Ok((name.to_owned(), toml::Value::Table(route)))
}

/// The route table inside a configuration document's `routes` value.
pub fn route_table(routes: &BTreeMap<String, toml::Value>) -> Result<RouteTable, RouteError> {
    let mut document = toml::Table::new();
    document.insert(
        "routes".into(),
        toml::Value::Table(routes.clone().into_iter().collect()),
    );
    let text = toml::to_string(&document).map_err(|e| RouteError {
        problems: vec![e.to_string()],
    })?;
    RouteTable::parse(&text).map_err(|mut error| {
        // Shape errors from the TOML reader carry no path; every problem should say where.
        for problem in &mut error.problems {
            if !problem.starts_with("routes") {
                *problem = format!("routes: {problem}");
            }
        }
        error
    })
}

/// Reads only the route table from a configuration file (for hot reloads).
pub fn route_table_of_file(path: &Path) -> Result<RouteTable, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let document: toml::Table = toml::from_str(&text).map_err(|e| e.message().to_owned())?;
    let routes = match document.get("routes") {
        Some(toml::Value::Table(routes)) => routes.clone().into_iter().collect(),
        Some(_) => return Err("routes: must be a table of routes".to_owned()),
        None => BTreeMap::new(),
    };
    route_table(&routes).map_err(|e| e.to_string())
}

impl GatewayConfig {
    /// Resolves the layers from the process environment and validates the result.
    pub fn load(file: Option<&Path>, flags: &Flags) -> Result<Self, ConfigError> {
        let mut figment = velocast_config::layered(
            file,
            ENV_PREFIX,
            &[
                ("VELOCAST_JWT_SECRET", "auth.jwt_secret"),
                ("VELOCAST_REGISTRY_URL", "registry_url"),
            ],
            flags.bind,
            flags.json_logs,
        )?;
        // The flag wins over every layer, the bind and log flags included.
        if let Some(registry) = &flags.registry {
            figment = figment.merge(Serialized::default("registry_url", registry));
        }
        let mut config: GatewayConfig = velocast_config::extract(&figment)?;
        if !flags.routes.is_empty() {
            let mut routes = BTreeMap::new();
            let mut problems = Vec::new();
            for flag in &flags.routes {
                match route_flag(flag) {
                    Ok((name, route)) => {
                        routes.insert(name, route);
                    }
                    Err(problem) => problems.push(format!("  {problem}")),
                }
            }
            if !problems.is_empty() {
                return Err(ConfigError::Invalid(problems.join("\n")));
            }
            config.routes = routes;
        }
        config.check()?;
        Ok(config)
    }

    /// Every rule at once: fields, the route table, and that tokens can be verified.
    pub fn check(&self) -> Result<(), ConfigError> {
        let auth = self
            .auth
            .check()
            .err()
            .map(|error| format!("  auth: {error}"));
        let routes = self
            .route_table()
            .err()
            .into_iter()
            .flat_map(|error| error.problems)
            .map(|problem| format!("  {problem}"));
        velocast_config::all_problems(self.validate(), auth.into_iter().chain(routes))
    }

    pub fn route_table(&self) -> Result<RouteTable, RouteError> {
        route_table(&self.routes)
    }

    /// The resolved configuration as TOML, secrets redacted (`--check-config`).
    pub fn to_toml(&self) -> Result<String, toml::ser::Error> {
        toml::to_string_pretty(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use velocast_config::Redacted;
    use velocast_routing::{ArmTarget, StickyKey};

    fn with_secret(mut config: GatewayConfig) -> GatewayConfig {
        config.auth.jwt_secret = Some(Redacted::new("k".repeat(32)));
        config
    }

    #[test]
    fn a_route_flag_becomes_a_one_arm_route() {
        let (name, route) = route_flag("default=bike-demand@champion").unwrap();
        let mut config = with_secret(GatewayConfig::default());
        config.routes.insert(name, route);
        config.check().unwrap();
        let table = config.route_table().unwrap();
        let route = table.route("default").unwrap();
        assert_eq!(route.model.as_str(), "bike-demand");
        assert_eq!(route.sticky, StickyKey::RequestId);
        assert_eq!(route.arms.len(), 1);
        assert!(matches!(&route.arms[0].target, ArmTarget::Alias(a) if a.as_str() == "champion"));

        let (_, pinned) = route_flag("pinned=bike-demand@7").unwrap();
        config.routes.insert("pinned".into(), pinned);
        let table = config.route_table().unwrap();
        let arm = &table.route("pinned").unwrap().arms[0];
        assert_eq!(arm.name.as_str(), "v7");
        assert!(matches!(&arm.target, ArmTarget::Version(v) if v.get() == 7));

        assert!(route_flag("default").is_err());
        assert!(route_flag("default=bike-demand").is_err());
    }

    #[test]
    fn every_problem_is_reported_at_once_and_secrets_stay_hidden() {
        let mut config = GatewayConfig {
            registry_url: "ftp://registry".into(),
            sessions: 0,
            ..GatewayConfig::default()
        };
        config.auth.jwt_secret = Some(Redacted::new("hunter2-is-short"));
        config
            .routes
            .insert("Bad Name".into(), toml::Value::String("x".into()));
        let error = config.check().unwrap_err().to_string();
        assert!(error.contains("registry_url"), "{error}");
        assert!(error.contains("sessions"), "{error}");
        assert!(error.contains("jwt_secret"), "{error}");
        assert!(error.contains("routes"), "{error}");
        assert!(!error.contains("hunter2"), "{error}");
        assert!(!config.to_toml().unwrap().contains("hunter2"));
    }

    #[test]
    fn no_routes_is_refused() {
        let error = with_secret(GatewayConfig::default())
            .check()
            .unwrap_err()
            .to_string();
        assert!(error.contains("at least one route"), "{error}");
    }

    #[test]
    fn quota_keys_and_tiers_are_checked_at_start() {
        let (name, route) = route_flag("default=bike-demand@champion").unwrap();
        let mut config = with_secret(GatewayConfig::default());
        config.routes.insert(name, route);
        config.rate_limit.key = "tenant".into();
        config.rate_limit.tier_claim = Some("plan".into());
        config.rate_limit.tiers.insert(
            "gold".into(),
            Quota {
                per_second: 100,
                burst: 200,
            },
        );
        config.check().unwrap();

        let mut broken = config.clone();
        broken.rate_limit.key = "exp".into();
        broken.rate_limit.tiers.clear();
        broken.rate_limit.tiers.insert(
            "free".into(),
            Quota {
                per_second: 0,
                burst: 1,
            },
        );
        let error = broken.check().unwrap_err().to_string();
        assert!(error.contains("rate_limit.key"), "{error}");
        assert!(error.contains("per_second"), "{error}");

        let mut unpaired = config;
        unpaired.rate_limit.tiers.clear();
        let error = unpaired.check().unwrap_err().to_string();
        assert!(error.contains("go together"), "{error}");
    }
}
