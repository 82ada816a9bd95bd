//! A model version made ready to serve, or refused with the reason.
//!
//! The gate a version passes before it takes traffic, in order: its bytes hash to the digest
//! the registry recorded; its declared signature is the one this build's features crate
//! implements; ONNX Runtime accepts it with the right input width; warm-up calls run; and the
//! card's golden rows, replayed from their requests through the features crate, reproduce the
//! trainer's predictions within the card's tolerance. Any failure leaves whatever served before
//! serving.

use std::time::{Duration, Instant, SystemTime};

use serde::Deserialize;
use thiserror::Error;
use velocast_features::{FEATURE_COUNT, GoldenError, GoldenSet, Signature};
use velocast_registry_api::VersionView;
use velocast_runtime::{Runtime, RuntimeError};

use crate::pool::{BatchPolicy, InferencePool, PoolError};

/// Why a version was not loaded.
#[derive(Debug, Error)]
pub enum LoadError {
    #[error("the registry is unreachable or refused: {0}")]
    Registry(String),
    #[error("the artifact hashes to {actual}, the registry recorded {expected}")]
    Digest { expected: String, actual: String },
    #[error("signature: {0}")]
    Signature(String),
    #[error("the model card has no golden rows to check the model against")]
    NoGoldenRows,
    #[error("golden rows: {0}")]
    Golden(#[from] GoldenError),
    #[error("golden row {row}: its request is invalid: {message}")]
    GoldenRequest { row: usize, message: String },
    #[error("ONNX Runtime: {0}")]
    Runtime(#[from] RuntimeError),
    #[error("inference: {0}")]
    Pool(#[from] PoolError),
    #[error("cache: {0}")]
    Cache(String),
}

impl LoadError {
    /// A short, closed-set label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            LoadError::Registry(_) => "registry",
            LoadError::Digest { .. } => "digest",
            LoadError::Signature(_) => "signature",
            LoadError::NoGoldenRows | LoadError::Golden(_) | LoadError::GoldenRequest { .. } => {
                "golden"
            }
            LoadError::Runtime(_) | LoadError::Pool(_) => "runtime",
            LoadError::Cache(_) => "cache",
        }
    }
}

/// How to build a model's sessions.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub sessions: usize,
    pub batching: BatchPolicy,
    /// A response cache per version: (max entries, max bytes, the shared counters).
    pub cache: Option<(usize, usize, crate::response_cache::CacheCounters)>,
}

/// A verified, warmed model version taking traffic.
#[derive(Debug)]
pub struct LoadedModel {
    pub model: String,
    pub version: u32,
    pub sha256: String,
    pub signature_hash: String,
    pub pool: InferencePool,
    pub cache: Option<crate::response_cache::ResponseCache>,
    pub loaded_at: SystemTime,
    /// How long the gate took, and the worst golden deviation it saw.
    pub load_seconds: f64,
    pub golden_rows: usize,
    pub golden_worst_scaled_error: f64,
}

#[derive(Deserialize)]
struct CardGolden {
    golden: GoldenSet,
}

/// The declared signature, checked against this build's.
fn check_signature(view: &VersionView) -> Result<Signature, LoadError> {
    let declared = view
        .metadata
        .get("signature")
        .ok_or_else(|| LoadError::Signature("the version declares no signature".into()))?;
    let declared: Signature = serde_json::from_value(declared.clone())
        .map_err(|e| LoadError::Signature(format!("unreadable: {e}")))?;
    let ours = Signature::current();
    if !ours.is_compatible_with(&declared) {
        return Err(LoadError::Signature(format!(
            "the model was trained on features v{} ({}), this gateway implements v{} ({})",
            declared.version, declared.hash, ours.version, ours.hash
        )));
    }
    Ok(declared)
}

/// The card's golden rows.
fn golden_rows(view: &VersionView) -> Result<GoldenSet, LoadError> {
    let card = view.metadata.get("card").ok_or(LoadError::NoGoldenRows)?;
    let card: CardGolden =
        serde_json::from_value(card.clone()).map_err(|_| LoadError::NoGoldenRows)?;
    if card.golden.rows.is_empty() {
        return Err(LoadError::NoGoldenRows);
    }
    Ok(card.golden)
}

/// Runs the whole gate (blocking: call from a blocking thread).
pub fn load(
    runtime: &Runtime,
    view: &VersionView,
    artifact: &[u8],
    settings: LoadSettings,
) -> Result<LoadedModel, LoadError> {
    let started = Instant::now();
    let actual = velocast_registry_client::sha256_hex(artifact);
    if actual != view.artifact.sha256 {
        return Err(LoadError::Digest {
            expected: view.artifact.sha256.clone(),
            actual,
        });
    }
    let signature = check_signature(view)?;
    let golden = golden_rows(view)?;
    let features: Vec<f32> = golden
        .rows
        .iter()
        .enumerate()
        .map(|(row, golden)| {
            velocast_features::features(&golden.request).map_err(|e| LoadError::GoldenRequest {
                row,
                message: e.to_string(),
            })
        })
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect();

    let mut sessions = Vec::with_capacity(settings.sessions);
    for _ in 0..settings.sessions.max(1) {
        let session = runtime.session(artifact, 1)?;
        if session.n_features() != FEATURE_COUNT {
            return Err(LoadError::Signature(format!(
                "the artifact takes {} features per row, the signature {}",
                session.n_features(),
                FEATURE_COUNT
            )));
        }
        sessions.push(session);
    }
    let name = format!("{}-v{}", view.model, view.version);
    let pool = InferencePool::start(&name, sessions, settings.batching)?;

    // Warm-up: every session runs single rows and a batch before the first client does.
    for _ in 0..settings.sessions.max(1) * 4 {
        pool.predict_blocking(features[..FEATURE_COUNT].to_vec())?;
    }
    // The golden replay, one row per call (the serving path for single requests) and then all
    // rows in one call (the batched path): both must reproduce the trainer.
    let mut single = Vec::with_capacity(golden.rows.len());
    for row in features.chunks_exact(FEATURE_COUNT) {
        let scored = pool.predict_blocking(row.to_vec())?;
        single.extend(scored.values.iter().map(|v| f64::from(*v)));
    }
    let worst_single = golden.check(&single)?;
    let batched: Vec<f64> = pool
        .predict_blocking(features)?
        .values
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    let worst_batched = golden.check(&batched)?;
    Ok(LoadedModel {
        model: view.model.clone(),
        version: view.version,
        sha256: actual,
        signature_hash: signature.hash,
        pool,
        cache: settings.cache.map(|(entries, bytes, counters)| {
            crate::response_cache::ResponseCache::new(entries, bytes, counters)
        }),
        loaded_at: SystemTime::now(),
        load_seconds: started.elapsed().as_secs_f64(),
        golden_rows: golden.rows.len(),
        golden_worst_scaled_error: worst_single.scaled_error.max(worst_batched.scaled_error),
    })
}

/// Seconds since the epoch, for status pages.
pub fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}
