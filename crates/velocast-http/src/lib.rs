//! HTTP plumbing every Velocast service shares, so that every service answers the same way:
//!
//! - [`ApiError`] and its one JSON body, [`ErrorBody`] (`{"error", "error_type", "field"?}`),
//!   used by every rejection; 5xx bodies are opaque and the cause is logged once;
//! - [`ApiJson`], [`ApiPath`] and [`ApiQuery`]: extractors whose rejections are `ApiError`s
//!   naming the field and the rule (malformed JSON, unknown or mistyped fields, `validator`
//!   rules, bodies over the limit, wrong content type);
//! - [`auth`]: deny-by-default bearer authentication with an explicit list of public routes,
//!   and per-route scope extractors (`Authorized<ModelsRead>` …); [`jwks`]: a key set fetched
//!   from the identity provider and refreshed on an unknown `kid`;
//! - [`metrics`]: Prometheus request counters and latency histograms labelled by route
//!   template, method and status class (closed sets only), an in-flight gauge that survives
//!   cancelled requests, timeouts and shed requests counted;
//! - [`layers`]: the standard layer stack in its one order, load shedding, JSON for every
//!   rejection;
//! - [`service`]: a service's router assembled the one way, and database readiness;
//! - [`shutdown`].

pub mod auth;
mod error;
pub mod extract;
pub mod jwks;
pub mod layers;
pub mod metrics;
pub mod openapi;
pub mod service;
pub mod shutdown;

pub use error::{ApiError, ErrorBody};
pub use extract::{ApiJson, ApiMultipart, ApiPath, ApiQuery, parse_json, validation_error};
