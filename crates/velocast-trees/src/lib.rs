//! Tree ensembles for demand forecasting, free of any runtime or I/O.
//!
//! - [`gbdt`]: a histogram gradient-boosting learner (squared error, log1p, Poisson).
//! - [`ridge`]: ridge regression on one-hot categorical features, compiled into trees.
//! - [`model`]: the fitted form ([`Tree`], [`Ensemble`], [`Blend`]) that exporters read.

pub mod binning;
pub mod gbdt;
pub mod model;
pub mod ridge;
#[cfg(feature = "testing")]
pub mod testing;

pub use gbdt::{FitError, GbdtParams, Objective, fit, fit_with};
pub use model::{Blend, Ensemble, Link, Matrix, Member, Node, Tree};
