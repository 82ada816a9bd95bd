//! The Velocast inference gateway: demand predictions from the registry's models over ONNX
//! Runtime (it replaces the FastAPI service).
//!
//! - [`config`]: typed, layered, validated configuration, the route table inside it;
//! - [`model`]: the gate a model version passes before it serves; [`pool`]: sessions on their
//!   own threads with adaptive micro-batching; [`cache`]: verified artifacts on disk;
//! - [`fleet`]: the serving snapshot and its reconciliation; [`follow`]: the loops that keep it
//!   current (registry watch, resync, route reloads);
//! - [`api`]: the routes, the router and the OpenAPI document; [`error`]: the one mapping from
//!   errors to HTTP; [`ratelimit`]: per-subject quotas;
//! - [`app`]: `build` and `App::run`.

pub mod api;
pub mod app;
pub mod backend;
pub mod cache;
pub mod config;
pub mod error;
pub mod events;
pub mod fleet;
pub mod follow;
pub mod metrics;
pub mod model;
pub mod oip;
pub mod pool;
pub mod ratelimit;
pub mod response_cache;
pub mod shadow;
pub mod state;

pub use app::{App, build};
pub use config::{ConfigError, Flags, GatewayConfig};
