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

use crate::backend::{Backend, BackendKind};
use crate::pool::{BatchPolicy, InferencePool, PoolError};

/// Random in-range rows a native model must score as ONNX Runtime does before it serves.
pub const NATIVE_CHECK_ROWS: usize = 1000;

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
    #[error("the native evaluator: {0}")]
    Native(String),
    #[error("explanations: {0}")]
    Explain(String),
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
            LoadError::Native(_) => "native",
            LoadError::Explain(_) => "explain",
        }
    }
}

/// How to build a model's sessions.
#[derive(Debug, Clone)]
pub struct LoadSettings {
    pub backend: BackendKind,
    /// Build the explainer (TreeSHAP tables) at load, for `:explain`.
    pub explain: bool,
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
    pub backend: Backend,
    /// TreeSHAP on this version's trees, or why there is none (explanations off, or no
    /// covers in the file).
    pub explainer: Result<velocast_explain::Explainer, String>,
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

    let session_count = match settings.backend {
        BackendKind::Onnxruntime => settings.sessions.max(1),
        // One session, to hold the native evaluator to ONNX Runtime's answers.
        BackendKind::Native => 1,
    };
    let mut sessions = Vec::with_capacity(session_count);
    for _ in 0..session_count {
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
    let parsed =
        || velocast_onnx::read(artifact).map_err(|e| LoadError::Native(format!("unreadable: {e}")));
    let (backend, info) = match settings.backend {
        BackendKind::Onnxruntime => {
            let name = format!("{}-v{}", view.model, view.version);
            let pool = InferencePool::start(&name, sessions, settings.batching)?;
            (Backend::OnnxRuntime(pool), None)
        }
        BackendKind::Native => {
            let info = parsed()?;
            let compiled = velocast_evaluator::CompiledBlend::compile(&info.blend, FEATURE_COUNT)
                .map_err(|e| LoadError::Native(e.to_string()))?;
            let mut session = sessions.pop().ok_or_else(|| {
                LoadError::Native("no ONNX Runtime session to check against".into())
            })?;
            check_native(&compiled, &mut session, &signature, &golden)?;
            (Backend::Native(std::sync::Arc::new(compiled)), Some(info))
        }
    };

    // Warm-up: every session runs single rows before the first client does.
    for _ in 0..session_count * 4 {
        backend.score_blocking(features[..FEATURE_COUNT].to_vec())?;
    }
    // The golden replay, one row per call (the serving path for single requests) and then all
    // rows in one call (the batched path): both must reproduce the trainer.
    let mut single = Vec::with_capacity(golden.rows.len());
    for row in features.chunks_exact(FEATURE_COUNT) {
        let scored = backend.score_blocking(row.to_vec())?;
        single.extend(scored.values.iter().map(|v| f64::from(*v)));
    }
    let worst_single = golden.check(&single)?;
    let batched: Vec<f64> = backend
        .score_blocking(features)?
        .values
        .iter()
        .map(|v| f64::from(*v))
        .collect();
    let worst_batched = golden.check(&batched)?;

    let explainer = if settings.explain {
        let info = match info {
            Some(info) => info,
            None => parsed().map_err(|e| LoadError::Explain(e.to_string()))?,
        };
        if info.covers.is_some() {
            Ok(
                velocast_explain::Explainer::new(info.blend, FEATURE_COUNT, info.covers)
                    .map_err(|e| LoadError::Explain(e.to_string()))?,
            )
        } else {
            Err(
                "this version's file carries no node covers (it was exported before they \
                 were stored), which path-dependent TreeSHAP needs"
                    .to_owned(),
            )
        }
    } else {
        Err("explanations are turned off in this gateway's configuration".to_owned())
    };
    Ok(LoadedModel {
        model: view.model.clone(),
        version: view.version,
        sha256: actual,
        signature_hash: signature.hash,
        backend,
        explainer,
        cache: settings.cache.map(|(entries, bytes, counters)| {
            crate::response_cache::ResponseCache::new(entries, bytes, counters)
        }),
        loaded_at: SystemTime::now(),
        load_seconds: started.elapsed().as_secs_f64(),
        golden_rows: golden.rows.len(),
        golden_worst_scaled_error: worst_single.scaled_error.max(worst_batched.scaled_error),
    })
}

/// Holds the native evaluator to ONNX Runtime on the card's golden rows and on
/// [`NATIVE_CHECK_ROWS`] random rows within the signature's ranges, with the card's tolerance.
fn check_native(
    native: &velocast_evaluator::CompiledBlend,
    session: &mut velocast_runtime::TreeSession,
    signature: &Signature,
    golden: &GoldenSet,
) -> Result<(), LoadError> {
    let mut rows = signature.rows_in_range(NATIVE_CHECK_ROWS, 0x5EED);
    for row in &golden.rows {
        let vector = velocast_features::features(&row.request)
            .map_err(|e| LoadError::Native(format!("golden request: {e}")))?;
        rows.extend_from_slice(&vector);
    }
    let ours: Vec<f64> = native
        .predict(&rows)
        .map_err(|e| LoadError::Native(e.to_string()))?
        .into_iter()
        .map(f64::from)
        .collect();
    let theirs: Vec<f64> = session.predict(&rows)?.into_iter().map(f64::from).collect();
    let worst = velocast_features::golden::worst_deviation(&theirs, &ours)
        .map_err(|e| LoadError::Native(e.to_string()))?;
    match worst {
        Some(worst) if worst.scaled_error > golden.tolerance => Err(LoadError::Native(format!(
            "row {} scores {} natively, {} in ONNX Runtime (scaled error {:.3e} > tolerance {:.1e})",
            worst.row, worst.served, worst.expected, worst.scaled_error, golden.tolerance
        ))),
        _ => Ok(()),
    }
}

/// Seconds since the epoch, for status pages.
pub fn epoch_seconds(time: SystemTime) -> f64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs_f64()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use velocast_trees::{Blend, Ensemble, Link, Node, Tree};

    use super::*;

    /// A stump on the hour: `low` before noon, `high` from noon.
    fn stump(low: f32, high: f32) -> Blend {
        let tree = Tree {
            nodes: vec![
                Node::Split {
                    feature: velocast_features::index::HOUR as u32,
                    threshold: 12.0,
                    left: 1,
                    right: 2,
                    gain: 0.0,
                    count: 2,
                },
                Node::Leaf {
                    value: low,
                    count: 1,
                },
                Node::Leaf {
                    value: high,
                    count: 1,
                },
            ],
        };
        Blend::single(
            "stump",
            Ensemble {
                trees: vec![tree],
                link: Link::Identity,
            },
        )
    }

    fn session_of(blend: &Blend) -> velocast_runtime::TreeSession {
        let path = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("../../.velocast/lib/libonnxruntime.so");
        let runtime = Runtime::load(&velocast_runtime::resolve_dylib_path(
            std::env::var_os("ORT_DYLIB_PATH")
                .is_none()
                .then_some(path.as_path()),
        ))
        .unwrap();
        let options = velocast_onnx::ExportOptions {
            graph_name: "stump".into(),
            input_name: "features".into(),
            output_name: "demand".into(),
            n_features: FEATURE_COUNT,
            producer_version: "test".into(),
            doc_string: String::new(),
            metadata: vec![],
        };
        runtime
            .session(&velocast_onnx::export(blend, &options), 1)
            .unwrap()
    }

    #[test]
    fn a_native_model_that_disagrees_with_onnx_runtime_is_refused() {
        let golden = GoldenSet {
            tolerance: 1e-3,
            rows: vec![],
        };
        let signature = Signature::current();
        let mut session = session_of(&stump(10.0, 20.0));
        let same =
            velocast_evaluator::CompiledBlend::compile(&stump(10.0, 20.0), FEATURE_COUNT).unwrap();
        check_native(&same, &mut session, &signature, &golden).unwrap();
        // Off by 1 % on the afternoon rows only: the random rows find it.
        let off =
            velocast_evaluator::CompiledBlend::compile(&stump(10.0, 20.2), FEATURE_COUNT).unwrap();
        let error = check_native(&off, &mut session, &signature, &golden).unwrap_err();
        assert_eq!(error.kind(), "native");
        assert!(
            error.to_string().contains("natively") && error.to_string().contains("20.2"),
            "{error}"
        );
    }
}
