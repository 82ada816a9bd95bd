//! ONNX for Velocast's tree ensembles (DESIGN decision 4).
//!
//! [`proto`] declares the handful of ONNX protobuf messages we need as `prost` structs, with the
//! specification's field numbers; [`export`] writes a [`velocast_trees::Blend`] as an
//! `ai.onnx.ml` opset-5 `TreeEnsemble` graph; [`read`] decodes one back.

pub mod covers;
pub mod export;
pub mod proto;
pub mod read;

pub use export::{ExportOptions, export, model_proto};
pub use read::{ModelInfo, ReadError, read};
