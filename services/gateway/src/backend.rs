//! How a loaded version scores rows: ONNX Runtime sessions on their own threads with
//! micro-batching ([`crate::pool`], the default), or the native evaluator
//! (`velocast-evaluator`, `backend = "native"`).
//!
//! The native evaluator scores the trained blend in about 1.6 µs a row, less than one thread
//! hand-off costs on this kind of machine, so small requests are scored on the async worker
//! that parsed them: [`NATIVE_INLINE_ROWS`] rows stay within ~50 µs, inside tokio's budget
//! between two awaits. Larger requests go to the blocking pool, so a 1,024-row batch never
//! holds a worker for milliseconds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use velocast_evaluator::CompiledBlend;

use crate::pool::{Arrival, InferencePool, PoolError, Scored};

/// Rows the native evaluator scores inline on the async worker (see the module documentation).
pub const NATIVE_INLINE_ROWS: usize = 32;

/// Which engine serves, as the configuration names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BackendKind {
    /// ONNX Runtime sessions on their own threads, with micro-batching.
    #[default]
    Onnxruntime,
    /// The native tree evaluator, checked against ONNX Runtime at load.
    Native,
}

impl BackendKind {
    pub fn name(self) -> &'static str {
        match self {
            BackendKind::Onnxruntime => "onnxruntime",
            BackendKind::Native => "native",
        }
    }
}

/// A version's scoring engine.
#[derive(Debug)]
pub enum Backend {
    OnnxRuntime(InferencePool),
    Native(Arc<CompiledBlend>),
}

impl Backend {
    pub fn kind(&self) -> BackendKind {
        match self {
            Backend::OnnxRuntime(_) => BackendKind::Onnxruntime,
            Backend::Native(_) => BackendKind::Native,
        }
    }

    /// Announces a request about to be queued (only ONNX Runtime's batching waits for it).
    pub fn arriving(&self) -> Option<Arrival> {
        match self {
            Backend::OnnxRuntime(pool) => Some(pool.arriving()),
            Backend::Native(_) => None,
        }
    }

    /// Scores row-major `features`.
    pub async fn score(
        &self,
        features: Vec<f32>,
        arrival: Option<Arrival>,
    ) -> Result<Scored, PoolError> {
        match self {
            Backend::OnnxRuntime(pool) => {
                let receiver = pool.submit(features, arrival)?;
                receiver.await.map_err(|_| PoolError::Closed)?
            }
            Backend::Native(blend) => {
                let rows = features.len() / blend.n_features().max(1);
                if rows <= NATIVE_INLINE_ROWS {
                    native(blend, &features, Duration::ZERO)
                } else {
                    let blend = Arc::clone(blend);
                    let queued_at = Instant::now();
                    tokio::task::spawn_blocking(move || {
                        native(&blend, &features, queued_at.elapsed())
                    })
                    .await
                    .map_err(|_| PoolError::Closed)?
                }
            }
        }
    }

    /// [`Backend::score`] from a thread that may block (loading, tests).
    pub fn score_blocking(&self, features: Vec<f32>) -> Result<Scored, PoolError> {
        match self {
            Backend::OnnxRuntime(pool) => pool.predict_blocking(features),
            Backend::Native(blend) => native(blend, &features, Duration::ZERO),
        }
    }
}

fn native(blend: &CompiledBlend, features: &[f32], queued: Duration) -> Result<Scored, PoolError> {
    let started = Instant::now();
    let values = blend
        .predict(features)
        .map_err(|e| PoolError::Native(e.to_string()))?;
    Ok(Scored {
        batch_rows: values.len(),
        values,
        queued,
        inference: started.elapsed(),
    })
}
