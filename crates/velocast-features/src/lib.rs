//! One source of truth for features (DESIGN decision 1).
//!
//! A [`DemandRequest`] in physical units becomes a [`FeatureVector`] through [`features`]; the
//! ordered feature list, its version and a hash form the model's [`Signature`]. The trainer, the
//! gateway and the monitor all call this crate, so a model can never see features computed two
//! different ways.

mod calendar;
pub mod golden;
pub mod json;
pub mod profile;
mod request;
mod vector;

pub use calendar::{BASE_YEAR, Calendar};
pub use golden::{GoldenError, GoldenRow, GoldenSet};
pub use request::{DemandRequest, MAX_YEAR, MIN_YEAR};
pub use vector::{
    FEATURE_COUNT, FEATURE_SET_VERSION, FEELS_LIKE_SCALE_C, FeatureKind, FeatureSpec,
    FeatureVector, HUMIDITY_SCALE_PCT, Signature, TEMPERATURE_SCALE_C, WIND_SCALE_KMH, features,
    features_of_valid, index,
};
