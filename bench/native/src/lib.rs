//! What the benchmarks in `benches/` share: the trained model and the holdout rows it is
//! measured on (`make train` and `make setup` produce them).

use std::path::{Path, PathBuf};

use velocast_runtime::{Runtime, resolve_dylib_path};

/// The repository root (this crate sits at `bench/native`).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The trained model's bytes: `VELOCAST_MODEL` or `out/model/model.onnx`.
pub fn model_bytes() -> Result<Vec<u8>, String> {
    let path = std::env::var_os("VELOCAST_MODEL")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("out/model/model.onnx"));
    std::fs::read(&path).map_err(|e| {
        format!(
            "cannot read the model {}: {e} (run `make train` first)",
            path.display()
        )
    })
}

/// The model a benchmark measures. Under `cargo bench` (which passes `--bench`): the trained
/// model, required. Under `cargo test --all-targets`, which runs each benchmark once as a smoke
/// test and does not train: the small committed blend of the explanation goldens.
pub fn benchmark_model() -> Result<(Vec<u8>, &'static str), String> {
    if std::env::args().any(|arg| arg == "--bench") {
        return model_bytes().map(|bytes| (bytes, "the trained model"));
    }
    let path = root().join("crates/velocast-explain/tests/golden/blend.onnx");
    std::fs::read(&path)
        .map(|bytes| {
            (
                bytes,
                "smoke test: the golden blend of crates/velocast-explain",
            )
        })
        .map_err(|e| format!("cannot read {}: {e}", path.display()))
}

/// The feature rows of the temporal holdout (2012-09-01 onwards) of `hour.csv`, row-major.
pub fn holdout_rows() -> Result<Vec<f32>, String> {
    let path = root().join(".velocast/data/hour.csv");
    let dataset = velocast_dataset::load(&path).map_err(|e| {
        format!(
            "cannot read {}: {e} (run `make setup` first)",
            path.display()
        )
    })?;
    let table = velocast_dataset::TrainingTable::from_records(&dataset.records);
    let (_, holdout) = table.split_at_time(velocast_dataset::temporal_holdout_start());
    Ok(holdout.flat_features())
}

/// ONNX Runtime from `ORT_DYLIB_PATH` or the one `make setup` installs.
pub fn runtime() -> Result<Runtime, String> {
    let default = root().join(".velocast/lib/libonnxruntime.so");
    let path = resolve_dylib_path(
        std::env::var_os("ORT_DYLIB_PATH")
            .is_none()
            .then_some(default.as_path()),
    );
    Runtime::load(&path).map_err(|e| e.to_string())
}
