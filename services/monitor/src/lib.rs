//! The Velocast monitor (issue 9): the gateway's prediction events and observed outcomes in;
//! drift exactly as Evidently 0.7.23's `DataDriftPreset` decides it (`velocast-drift`), data
//! quality, and realized accuracy per model version and A/B arm out, as JSON, an HTML page and
//! Prometheus gauges.
//!
//! `ingest`, `accuracy` and `analysis` are the domain (no HTTP, no SQL); `store` the database;
//! `reference` the registry; `window` ties them to a time range; `api` the routes.

pub mod accuracy;
pub mod alerts;
pub mod analysis;
pub mod api;
mod app;
pub mod config;
pub mod error;
pub mod ingest;
pub mod reference;
pub mod state;
pub mod store;
pub mod window;

pub use app::{App, build};
pub use config::{Flags, MonitorConfig};
