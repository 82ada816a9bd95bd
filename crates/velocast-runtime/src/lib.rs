//! ONNX Runtime for Velocast's tree-ensemble models, through `ort` with `load-dynamic`.
//!
//! The shared library (ONNX Runtime 1.31, fetched by `make setup`) is loaded once per process
//! from an explicit path; a missing or wrong library is a clear error at start, never at the
//! first request. Sessions take `&mut self` to run, so callers own one session per worker.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use ort::environment::Environment;
use ort::session::Session;
use ort::session::builder::GraphOptimizationLevel;
use ort::value::TensorRef;
use thiserror::Error;

/// Where `make setup` puts the library, relative to the repository root.
pub const DEFAULT_DYLIB_PATH: &str = ".velocast/lib/libonnxruntime.so";
/// The environment variable `ort` and Velocast both honour for the library path.
pub const DYLIB_ENV: &str = "ORT_DYLIB_PATH";

#[derive(Debug, Error)]
pub enum RuntimeError {
    #[error(
        "ONNX Runtime library not found at {path} (run `make setup`, or set {DYLIB_ENV} to libonnxruntime.so 1.31)"
    )]
    LibraryMissing { path: PathBuf },
    #[error("cannot load ONNX Runtime from {path}: {message}")]
    LibraryLoad { path: PathBuf, message: String },
    #[error("ONNX Runtime environment: {0}")]
    Environment(String),
    #[error("ONNX Runtime rejected the model: {0}")]
    Model(String),
    #[error("the model takes {expected} features per row, got {got} values for {rows} rows")]
    Shape {
        expected: usize,
        got: usize,
        rows: usize,
    },
    #[error("inference failed: {0}")]
    Inference(String),
}

/// The library path from an explicit setting, else `ORT_DYLIB_PATH`, else the setup default.
pub fn resolve_dylib_path(configured: Option<&Path>) -> PathBuf {
    configured
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os(DYLIB_ENV).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DYLIB_PATH))
}

// The dynamic library and its environment are process-wide by nature (ort keeps the loaded
// library in a global); holding the environment here lets every session share it.
static ENVIRONMENT: OnceLock<Environment> = OnceLock::new();

/// A handle proving the runtime is loaded; sessions are made from it.
#[derive(Debug, Clone, Copy)]
pub struct Runtime {
    environment: &'static Environment,
}

impl Runtime {
    /// Loads the library at `path` (once per process; later calls reuse it).
    pub fn load(path: &Path) -> Result<Runtime, RuntimeError> {
        if let Some(environment) = ENVIRONMENT.get() {
            return Ok(Runtime { environment });
        }
        if !path.exists() {
            return Err(RuntimeError::LibraryMissing {
                path: path.to_owned(),
            });
        }
        let builder = ort::init_from(path).map_err(|e| RuntimeError::LibraryLoad {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        let environment = builder
            .with_name("velocast")
            .build()
            .map_err(|e| RuntimeError::Environment(e.to_string()))?;
        let environment = ENVIRONMENT.get_or_init(|| environment);
        Ok(Runtime { environment })
    }

    /// A session over `model` bytes with `intra_threads` threads (1 when serving from a pool).
    pub fn session(&self, model: &[u8], intra_threads: usize) -> Result<TreeSession, RuntimeError> {
        let model_error = |e: ort::Error| RuntimeError::Model(e.to_string());
        let session = Session::builder(self.environment)
            .map_err(model_error)?
            .with_optimization_level(GraphOptimizationLevel::Level3)
            .map_err(|e| RuntimeError::Model(e.to_string()))?
            .with_intra_threads(intra_threads.max(1))
            .map_err(|e| RuntimeError::Model(e.to_string()))?
            .commit_from_memory(model)
            .map_err(model_error)?;
        let n_features = session
            .inputs()
            .first()
            .and_then(|input| input.dtype().tensor_shape())
            .and_then(|shape| shape.get(1).copied())
            .and_then(|d| usize::try_from(d).ok())
            .ok_or_else(|| RuntimeError::Model("input must be a [N, features] tensor".into()))?;
        Ok(TreeSession {
            session,
            n_features,
        })
    }
}

/// One ONNX Runtime session over a `[N, features] -> [N, 1]` model.
#[derive(Debug)]
pub struct TreeSession {
    session: Session,
    n_features: usize,
}

impl TreeSession {
    pub fn n_features(&self) -> usize {
        self.n_features
    }

    /// Predicts every row of row-major `features` (`rows × n_features` values).
    pub fn predict(&mut self, features: &[f32]) -> Result<Vec<f32>, RuntimeError> {
        let rows = features.len() / self.n_features;
        if rows == 0 || rows * self.n_features != features.len() {
            return Err(RuntimeError::Shape {
                expected: self.n_features,
                got: features.len(),
                rows,
            });
        }
        let input = TensorRef::from_array_view(([rows, self.n_features], features))
            .map_err(|e| RuntimeError::Inference(e.to_string()))?;
        let outputs = self
            .session
            .run(ort::inputs![input])
            .map_err(|e| RuntimeError::Inference(e.to_string()))?;
        // A model without outputs is refused with an error, never a panic (this runs on the
        // gateway's request path).
        let first = outputs
            .values()
            .next()
            .ok_or_else(|| RuntimeError::Inference("the model has no outputs".to_owned()))?;
        let (_, values) = first
            .try_extract_tensor::<f32>()
            .map_err(|e| RuntimeError::Inference(e.to_string()))?;
        Ok(values.to_vec())
    }
}
