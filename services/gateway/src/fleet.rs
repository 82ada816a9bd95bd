//! What serves where, and keeping it true.
//!
//! [`Serving`] is an immutable snapshot: the route table with, for each arm, the loaded model
//! version it serves. Requests read it lock-free (`ArcSwap`) and hold the `Arc` of the model
//! they were assigned until they are answered, so a swap never pulls a model from under a
//! request: the old version drains while the new one takes new requests.
//!
//! [`Fleet::reconcile`] builds the next snapshot: each arm's target is resolved (an alias
//! through the registry, or, when the registry is away, through the local cache), the version
//! is loaded through the gate in [`crate::model`] if it is not loaded yet, and the snapshot is
//! swapped in whole. A version that fails the gate leaves the arm on what it served before, and
//! is not retried until the next resync interval.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use arc_swap::ArcSwap;
use serde::Serialize;
use tokio::sync::Notify;
use utoipa::ToSchema;
use velocast_registry_api::VersionView;
use velocast_registry_client::{ClientError, RegistryClient};
use velocast_routing::{Arm, ArmName, ArmTarget, Route, RouteTable};

use velocast_runtime::Runtime;

use crate::cache::ArtifactCache;
use crate::metrics::{ArmMetrics, GatewayMetrics};
use crate::model::{self, LoadError, LoadSettings, LoadedModel, epoch_seconds};

/// One arm as it serves now.
#[derive(Debug)]
pub struct ArmState {
    pub arm: Arm,
    pub model: Option<Arc<LoadedModel>>,
    pub metrics: ArmMetrics,
    /// The prediction value histogram of the served version.
    pub values: Option<prometheus::Histogram>,
}

/// One route as it serves now; `arms` in the route's order.
#[derive(Debug)]
pub struct RouteState {
    pub route: Route,
    pub arms: Vec<ArmState>,
    /// The shadow version, when the route has one and it has loaded.
    pub shadow: Option<ArmState>,
}

/// The serving snapshot.
#[derive(Debug, Default)]
pub struct Serving {
    pub routes: BTreeMap<String, RouteState>,
}

impl Serving {
    /// Every arm with a positive weight has a model.
    pub fn ready(&self) -> bool {
        !self.routes.is_empty()
            && self.routes.values().all(|route| {
                route
                    .arms
                    .iter()
                    .all(|arm| arm.arm.weight == 0 || arm.model.is_some())
            })
    }

    /// A route by its name, else the one route serving a model of that name.
    pub fn find(&self, name: &str) -> Option<&RouteState> {
        self.routes.get(name).or_else(|| {
            let mut serving = self
                .routes
                .values()
                .filter(|route| route.route.model.as_str() == name);
            match (serving.next(), serving.next()) {
                (Some(route), None) => Some(route),
                _ => None,
            }
        })
    }

    /// The route `/v1/predict` uses: `default`, else the only route.
    pub fn default_route(&self) -> Option<&RouteState> {
        self.routes.get("default").or_else(|| {
            let mut routes = self.routes.values();
            match (routes.next(), routes.next()) {
                (Some(route), None) => Some(route),
                _ => None,
            }
        })
    }

    /// Every loaded model in the snapshot (one entry per version).
    pub fn models(&self) -> BTreeMap<(String, u32), Arc<LoadedModel>> {
        let mut models = BTreeMap::new();
        for route in self.routes.values() {
            for arm in route.arms.iter().chain(&route.shadow) {
                if let Some(model) = &arm.model {
                    models.insert((model.model.clone(), model.version), Arc::clone(model));
                }
            }
        }
        models
    }
}

/// A load, a failure or a route change, for the status page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct FleetEvent {
    /// Seconds since the epoch.
    pub at: f64,
    pub model: String,
    pub version: Option<u32>,
    /// `loaded`, `load_failed`, `resolve_failed`, `serving_from_cache`.
    pub kind: String,
    pub detail: String,
}

const EVENTS_KEPT: usize = 50;

/// Where a version's description came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Registry,
    Cache,
}

#[derive(Debug, Clone)]
struct Failure {
    sha256: String,
    at: Instant,
    error: String,
}

/// The control plane of the gateway's models.
#[derive(Debug)]
pub struct Fleet {
    serving: ArcSwap<Serving>,
    table: Mutex<RouteTable>,
    client: RegistryClient,
    runtime: Runtime,
    cache: ArtifactCache,
    settings: LoadSettings,
    retry_after: Duration,
    failures: Mutex<HashMap<(String, u32), Failure>>,
    events: Mutex<VecDeque<FleetEvent>>,
    metrics: GatewayMetrics,
    /// Wakes the reconcile loop (a watch event, a route change).
    pub wake: Notify,
    /// Serializes reconciles.
    reconciling: tokio::sync::Mutex<()>,
}

impl Fleet {
    pub fn new(
        table: RouteTable,
        client: RegistryClient,
        runtime: Runtime,
        cache: ArtifactCache,
        settings: LoadSettings,
        retry_after: Duration,
        metrics: GatewayMetrics,
    ) -> Self {
        Fleet {
            serving: ArcSwap::from_pointee(Serving::default()),
            table: Mutex::new(table),
            client,
            runtime,
            cache,
            settings,
            retry_after,
            failures: Mutex::new(HashMap::new()),
            events: Mutex::new(VecDeque::new()),
            metrics,
            wake: Notify::new(),
            reconciling: tokio::sync::Mutex::new(()),
        }
    }

    /// The current snapshot (lock-free).
    pub fn serving(&self) -> Arc<Serving> {
        self.serving.load_full()
    }

    pub fn table(&self) -> RouteTable {
        self.table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Replaces the route table and wakes the reconcile loop.
    pub fn set_table(&self, table: RouteTable) {
        *self.table.lock().unwrap_or_else(PoisonError::into_inner) = table;
        self.wake.notify_one();
    }

    pub fn events(&self) -> Vec<FleetEvent> {
        self.events
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .cloned()
            .collect()
    }

    pub fn models_served(&self) -> Vec<String> {
        let table = self.table();
        let mut models: Vec<String> = table
            .routes
            .values()
            .map(|route| route.model.to_string())
            .collect();
        models.sort();
        models.dedup();
        models
    }

    fn record(&self, model: &str, version: Option<u32>, kind: &str, detail: String) {
        match kind {
            "loaded" => tracing::info!(model, version, %detail, "model version loaded"),
            "serving_from_cache" => {
                tracing::warn!(model, version, %detail, "serving from the local cache")
            }
            _ => tracing::error!(model, version, kind, %detail, "model version not served"),
        }
        let mut events = self.events.lock().unwrap_or_else(PoisonError::into_inner);
        if events.len() == EVENTS_KEPT {
            events.pop_front();
        }
        events.push_back(FleetEvent {
            at: epoch_seconds(SystemTime::now()),
            model: model.to_owned(),
            version,
            kind: kind.to_owned(),
            detail,
        });
    }

    /// Brings the snapshot in line with the route table and the registry (see the module).
    pub async fn reconcile(&self) {
        let _one_at_a_time = self.reconciling.lock().await;
        let table = self.table();
        let current = self.serving();
        // Versions loaded so far, this pass included: two arms on one version share it.
        let mut loaded = current.models();
        let mut routes = BTreeMap::new();
        for route in table.routes.values() {
            let previous = current
                .routes
                .get(route.name.as_str())
                .filter(|state| state.route.model == route.model);
            let mut arms = Vec::with_capacity(route.arms.len());
            for arm in &route.arms {
                let before =
                    previous.and_then(|state| state.arms.iter().find(|a| a.arm.name == arm.name));
                arms.push(
                    self.arm_state(route, arm.clone(), before, &mut loaded)
                        .await,
                );
            }
            let shadow = match &route.shadow {
                Some(shadow) => {
                    let arm = Arm {
                        name: ArmName::shadow(),
                        target: shadow.target.clone(),
                        weight: 0,
                    };
                    let before = previous.and_then(|state| state.shadow.as_ref());
                    Some(self.arm_state(route, arm, before, &mut loaded).await)
                }
                None => None,
            };
            routes.insert(
                route.name.to_string(),
                RouteState {
                    route: route.clone(),
                    arms,
                    shadow,
                },
            );
        }
        let next = Serving { routes };
        let serving_count = next.models().len();
        self.metrics.models_serving.set(serving_count as i64);
        self.serving.store(Arc::new(next));
    }

    /// An arm as it will serve: the version its target resolves to now, else what it served
    /// `before`, with its metric children.
    async fn arm_state(
        &self,
        route: &Route,
        arm: Arm,
        before: Option<&ArmState>,
        loaded: &mut BTreeMap<(String, u32), Arc<LoadedModel>>,
    ) -> ArmState {
        let model = match self.resolve_and_load(route, &arm, loaded).await {
            Some(model) => Some(model),
            None => before.and_then(|state| state.model.clone()),
        };
        let (route_name, arm_name) = (route.name.as_str(), arm.name.as_str());
        self.metrics
            .arms_without_model
            .with_label_values(&[route_name, arm_name])
            .set(i64::from(arm.weight > 0 && model.is_none()));
        ArmState {
            metrics: self.metrics.arm(route_name, arm_name),
            values: model
                .as_ref()
                .map(|m| self.metrics.values(&m.model, m.version)),
            model,
            arm,
        }
    }

    /// The model this arm should serve now, or `None` to keep what it served before.
    async fn resolve_and_load(
        &self,
        route: &Route,
        arm: &Arm,
        loaded: &mut BTreeMap<(String, u32), Arc<LoadedModel>>,
    ) -> Option<Arc<LoadedModel>> {
        let model = route.model.as_str();
        let (view, source) = match self.resolve(model, &arm.target).await {
            Ok(found) => found,
            Err(detail) => {
                self.record(model, None, "resolve_failed", detail);
                return None;
            }
        };
        // Already loaded (by this arm or another): reuse it.
        let key = (view.model.clone(), view.version);
        if let Some(model) = loaded.get(&key)
            && model.sha256 == view.artifact.sha256
        {
            return Some(Arc::clone(model));
        }
        if let Some(failure) = self
            .failures
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&key)
            && failure.sha256 == view.artifact.sha256
            && failure.at.elapsed() < self.retry_after
        {
            tracing::debug!(model, version = view.version, error = %failure.error, "not retrying a failed version yet");
            return None;
        }
        match self.load(&view, source).await {
            Ok(fresh) => {
                self.metrics
                    .model_loads
                    .with_label_values(&[model, "ok"])
                    .inc();
                self.record(
                    model,
                    Some(view.version),
                    "loaded",
                    format!(
                        "sha256 {} in {:.3} s; {} golden rows, worst scaled error {:.2e}",
                        fresh.sha256,
                        fresh.load_seconds,
                        fresh.golden_rows,
                        fresh.golden_worst_scaled_error
                    ),
                );
                let fresh = Arc::new(fresh);
                loaded.insert(key, Arc::clone(&fresh));
                Some(fresh)
            }
            Err(error) => {
                self.metrics
                    .model_loads
                    .with_label_values(&[model, error.kind()])
                    .inc();
                self.record(model, Some(view.version), "load_failed", error.to_string());
                self.failures
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .insert(
                        (view.model.clone(), view.version),
                        Failure {
                            sha256: view.artifact.sha256.clone(),
                            at: Instant::now(),
                            error: error.to_string(),
                        },
                    );
                None
            }
        }
    }

    /// The version an arm's target names: from the registry, else from the cache.
    async fn resolve(
        &self,
        model: &str,
        target: &ArmTarget,
    ) -> Result<(VersionView, Source), String> {
        let selector = match target {
            ArmTarget::Alias(alias) => alias.to_string(),
            ArmTarget::Version(version) => version.to_string(),
        };
        match self.client.get_version(model, &selector).await {
            Ok(view) => {
                if let ArmTarget::Alias(alias) = target
                    && let Err(error) =
                        self.cache
                            .remember_alias(model, alias.as_str(), view.version)
                {
                    tracing::warn!(%error, model, "cannot record the alias in the cache");
                }
                Ok((view, Source::Registry))
            }
            // The registry answered: the target does not exist (or we may not read it). The
            // cache must not override a registry that says no.
            Err(error @ ClientError::Api { .. }) => Err(format!("{selector}: {error}")),
            Err(error) => {
                let version = match target {
                    ArmTarget::Version(version) => Some(version.get()),
                    ArmTarget::Alias(alias) => {
                        self.cache.aliases(model).get(alias.as_str()).copied()
                    }
                };
                let Some(version) = version else {
                    return Err(format!(
                        "{selector}: {error}; and the cache has no version for it"
                    ));
                };
                let (view, _) = self
                    .cache
                    .load(model, version)
                    .map_err(|e| format!("{selector}: {error}; cache: {e}"))?;
                self.record(
                    model,
                    Some(version),
                    "serving_from_cache",
                    format!("{selector}: {error}"),
                );
                Ok((view, Source::Cache))
            }
        }
    }

    /// Fetches (cache first, when it holds the same bytes) and gates a version.
    async fn load(&self, view: &VersionView, source: Source) -> Result<LoadedModel, LoadError> {
        let cached = self
            .cache
            .load(&view.model, view.version)
            .ok()
            .filter(|(cached, _)| cached.artifact.sha256 == view.artifact.sha256);
        let (bytes, downloaded) = match (cached, source) {
            (Some((_, bytes)), _) => (bytes, false),
            (None, Source::Cache) => {
                return Err(LoadError::Cache("the cached artifact vanished".into()));
            }
            (None, Source::Registry) => {
                let (_, bytes) = self
                    .client
                    .download_artifact(&view.model, &view.version.to_string())
                    .await
                    .map_err(|e| match e {
                        ClientError::Corrupt { expected, actual } => {
                            LoadError::Digest { expected, actual }
                        }
                        other => LoadError::Registry(other.to_string()),
                    })?;
                (bytes, true)
            }
        };
        let runtime = self.runtime;
        let settings = self.settings.clone();
        let view_for_load = view.clone();
        let bytes = Arc::new(bytes);
        let artifact = Arc::clone(&bytes);
        let loaded = tokio::task::spawn_blocking(move || {
            model::load(&runtime, &view_for_load, &artifact, settings)
        })
        .await
        .map_err(|e| {
            LoadError::Pool(crate::pool::PoolError::Runtime(
                velocast_runtime::RuntimeError::Inference(format!("the load task failed: {e}")),
            ))
        })??;
        if downloaded && let Err(error) = self.cache.store(view, &bytes) {
            tracing::warn!(%error, model = %view.model, version = view.version, "cannot cache the verified artifact");
        }
        Ok(loaded)
    }
}
