//! What an upload must be before it becomes a version: an ONNX model `velocast-onnx` can read
//! (a tree ensemble as the trainer exports it), whose input width is the declared signature's
//! feature count and whose embedded signature hash, when it carries one, is the declared one.
//! Decoding is pure data (nothing executes) and runs off the async workers.

use std::sync::Arc;

use thiserror::Error;
use velocast_registry_api::Document;

/// The ONNX metadata key under which the trainer records the signature's hash.
pub const SIGNATURE_HASH_KEY: &str = "velocast.signature_hash";

/// Why an upload is not a servable artifact (a 422 naming the field).
#[derive(Debug, Error, PartialEq)]
pub enum ArtifactError {
    #[error("the artifact is empty")]
    Empty,
    #[error("the artifact is not a Velocast ONNX model: {0}")]
    Unreadable(String),
    #[error("the declared signature has no `features` list")]
    NoFeatures,
    #[error(
        "the model takes {model} input columns but the declared signature lists {declared} features"
    )]
    WidthMismatch { model: i64, declared: usize },
    #[error("the model does not fix its input width")]
    UnknownWidth,
    #[error("the model's signature hash `{model}` differs from the declared `{declared}`")]
    SignatureMismatch { model: String, declared: String },
    #[error("the artifact check did not finish: {0}")]
    Interrupted(String),
}

impl ArtifactError {
    /// The request field at fault.
    pub fn field(&self) -> &'static str {
        match self {
            ArtifactError::Empty
            | ArtifactError::Unreadable(_)
            | ArtifactError::UnknownWidth
            | ArtifactError::Interrupted(_) => "artifact",
            ArtifactError::NoFeatures | ArtifactError::WidthMismatch { .. } => {
                "metadata.signature.features"
            }
            ArtifactError::SignatureMismatch { .. } => "metadata.signature.hash",
        }
    }
}

/// Checks `bytes` against the declared `signature`, on the blocking pool.
pub async fn check(bytes: Arc<[u8]>, signature: &Document) -> Result<(), ArtifactError> {
    let declared_width = signature
        .get("features")
        .and_then(serde_json::Value::as_array)
        .map(Vec::len)
        .ok_or(ArtifactError::NoFeatures)?;
    let declared_hash = signature
        .get("hash")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned);
    tokio::task::spawn_blocking(move || {
        check_bytes(&bytes, declared_width, declared_hash.as_deref())
    })
    .await
    .map_err(|error| ArtifactError::Interrupted(error.to_string()))?
}

fn check_bytes(
    bytes: &[u8],
    declared_width: usize,
    declared_hash: Option<&str>,
) -> Result<(), ArtifactError> {
    if bytes.is_empty() {
        return Err(ArtifactError::Empty);
    }
    let info = velocast_onnx::read(bytes).map_err(|e| ArtifactError::Unreadable(e.to_string()))?;
    let width = info.n_features.ok_or(ArtifactError::UnknownWidth)?;
    if usize::try_from(width).ok() != Some(declared_width) {
        return Err(ArtifactError::WidthMismatch {
            model: width,
            declared: declared_width,
        });
    }
    if let Some(model_hash) = info.metadata.get(SIGNATURE_HASH_KEY)
        && declared_hash != Some(model_hash.as_str())
    {
        return Err(ArtifactError::SignatureMismatch {
            model: model_hash.clone(),
            declared: declared_hash.unwrap_or("(none)").to_owned(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signature(width: usize, hash: Option<&str>) -> Document {
        let mut document = Document::new();
        document.insert(
            "features".into(),
            serde_json::Value::Array(vec![serde_json::Value::Null; width]),
        );
        if let Some(hash) = hash {
            document.insert("hash".into(), hash.into());
        }
        document
    }

    #[tokio::test]
    async fn only_readable_models_of_the_declared_signature_pass() {
        let good = crate::testing::onnx_artifact(1, 0, 2);
        assert_eq!(
            check(Arc::from(good.as_slice()), &signature(2, None)).await,
            Ok(())
        );
        assert_eq!(
            check(Arc::from(&[][..]), &signature(2, None)).await,
            Err(ArtifactError::Empty)
        );
        let text = b"definitely not protobuf at all, just a text file".to_vec();
        assert!(matches!(
            check(Arc::from(text.as_slice()), &signature(2, None)).await,
            Err(ArtifactError::Unreadable(_))
        ));
        assert_eq!(
            check(Arc::from(good.as_slice()), &signature(15, None)).await,
            Err(ArtifactError::WidthMismatch {
                model: 2,
                declared: 15
            })
        );
        assert_eq!(
            check(Arc::from(good.as_slice()), &Document::new()).await,
            Err(ArtifactError::NoFeatures)
        );
    }
}
