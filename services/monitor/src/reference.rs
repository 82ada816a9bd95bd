//! The reference of a model version: its training profile from the registry (downloaded,
//! verified by sha256, checked to be of the signature this monitor reads), and its holdout MAE
//! from the model card's metrics. Fetched once per version and kept.

use std::collections::HashMap;
use std::sync::Arc;

use tokio::sync::Mutex;
use velocast_features::profile::ReferenceProfile;
use velocast_features::{FeatureKind, Signature};
use velocast_registry_client::{ClientError, RegistryClient};

use crate::error::MonitorError;

/// One feature's training values.
#[derive(Debug, Clone)]
pub struct ReferenceColumn {
    pub name: String,
    pub kind: FeatureKind,
    pub values: Vec<f64>,
}

#[derive(Debug)]
pub struct Reference {
    pub model: String,
    pub version: u32,
    /// In the signature's order.
    pub columns: Vec<ReferenceColumn>,
}

impl Reference {
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.values.len())
    }
}

/// Reads a profile's bytes, refusing one of another signature (its features would be read in
/// the wrong places).
pub fn parse_profile(
    model: &str,
    version: u32,
    bytes: &[u8],
) -> Result<Vec<ReferenceColumn>, MonitorError> {
    let profile: ReferenceProfile =
        serde_json::from_slice(bytes).map_err(|error| MonitorError::Reference {
            model: model.to_owned(),
            version,
            reason: format!("the profile is not a reference profile: {error}"),
        })?;
    let signature = Signature::current();
    if profile.signature_hash != signature.hash {
        return Err(MonitorError::Reference {
            model: model.to_owned(),
            version,
            reason: format!(
                "the profile is of signature {}, this monitor reads {}",
                profile.signature_hash, signature.hash
            ),
        });
    }
    let names: Vec<&str> = signature.features.iter().map(|f| f.name.as_str()).collect();
    let profiled: Vec<&str> = profile.features.iter().map(|f| f.name.as_str()).collect();
    if names != profiled {
        return Err(MonitorError::Reference {
            model: model.to_owned(),
            version,
            reason: "the profile's features are not the signature's".to_owned(),
        });
    }
    Ok(profile
        .features
        .into_iter()
        .map(|feature| ReferenceColumn {
            name: feature.name,
            kind: feature.kind,
            values: feature.values.into_iter().map(f64::from).collect(),
        })
        .collect())
}

/// Fetches references from the registry and keeps them (a version never changes).
/// What is kept per (model, version).
type PerVersion<T> = Arc<Mutex<HashMap<(String, u32), T>>>;

#[derive(Debug, Clone)]
pub struct References {
    client: RegistryClient,
    cache: PerVersion<Arc<Reference>>,
    holdout: PerVersion<Option<f64>>,
}

impl References {
    pub fn new(client: RegistryClient) -> Self {
        References {
            client,
            cache: Arc::default(),
            holdout: Arc::default(),
        }
    }

    pub async fn get(&self, model: &str, version: u32) -> Result<Arc<Reference>, MonitorError> {
        let key = (model.to_owned(), version);
        if let Some(reference) = self.cache.lock().await.get(&key) {
            return Ok(reference.clone());
        }
        let selector = version.to_string();
        let fetched = |error: ClientError| MonitorError::from_registry(model, version, &error);
        let (_, bytes) = self
            .client
            .download_profile(model, &selector)
            .await
            .map_err(fetched)?;
        let columns = parse_profile(model, version, &bytes)?;
        let reference = Arc::new(Reference {
            model: model.to_owned(),
            version,
            columns,
        });
        self.cache.lock().await.insert(key, reference.clone());
        Ok(reference)
    }

    /// The model card's holdout MAE of a version; `None` for a version registered without one.
    pub async fn holdout_mae(
        &self,
        model: &str,
        version: u32,
    ) -> Result<Option<f64>, MonitorError> {
        let key = (model.to_owned(), version);
        if let Some(known) = self.holdout.lock().await.get(&key) {
            return Ok(*known);
        }
        let view = self
            .client
            .get_version(model, &version.to_string())
            .await
            .map_err(|error| MonitorError::from_registry(model, version, &error))?;
        let holdout_mae = view
            .metadata
            .get("metrics")
            .and_then(|metrics| metrics.get("holdout_mae"))
            .and_then(serde_json::Value::as_f64);
        self.holdout.lock().await.insert(key, holdout_mae);
        Ok(holdout_mae)
    }
}
