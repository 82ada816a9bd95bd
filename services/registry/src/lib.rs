//! The Velocast model registry: the system of record for models (it replaces the MLflow
//! tracking server and model registry).
//!
//! - [`config`]: typed, layered, validated configuration;
//! - [`api`]: the routes (one file per resource), the router and the OpenAPI document;
//! - [`error`]: the one mapping from errors to HTTP;
//! - [`app`]: `build` (connect, migrate, bind) and `App::run` (serve, drain, stop).
//!
//! Storage rules (numbering, atomic uploads, the audit log) live in `velocast-registry-store`.

pub mod api;
pub mod app;
mod artifact;
pub mod config;
pub mod error;
mod range;
pub mod state;
#[cfg(feature = "testing")]
pub mod testing;

pub use app::{App, build};
pub use config::{ConfigError, Flags, RegistryConfig};
