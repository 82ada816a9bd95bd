//! A local directory of verified artifacts, so a restarted gateway serves the last good model
//! while the registry is away.
//!
//! Layout: `<dir>/<model>/v<version>/version.json` (the registry's view of the version, with
//! its recorded sha256) and `…/model.onnx`; `<dir>/<model>/aliases.json` (alias → version, as
//! last resolved). Every file is written to a temporary name and renamed, so a crash never
//! leaves a torn file; and nothing read back is trusted: the bytes must hash to the digest
//! recorded beside them, and the model then passes the same gate as a download.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use velocast_registry_api::VersionView;

#[derive(Debug, Clone)]
pub struct ArtifactCache {
    dir: PathBuf,
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let temporary = parent.join(format!(
        ".{}.tmp-{}",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("file"),
        std::process::id()
    ));
    std::fs::write(&temporary, bytes)?;
    std::fs::rename(&temporary, path)
}

impl ArtifactCache {
    pub fn new(dir: PathBuf) -> Self {
        ArtifactCache { dir }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn version_dir(&self, model: &str, version: u32) -> PathBuf {
        self.dir.join(model).join(format!("v{version}"))
    }

    /// Stores a verified version (its bytes were checked against `view.artifact.sha256`).
    pub fn store(&self, view: &VersionView, artifact: &[u8]) -> std::io::Result<()> {
        let dir = self.version_dir(&view.model, view.version);
        write_atomically(&dir.join("model.onnx"), artifact)?;
        let view = serde_json::to_vec_pretty(view).map_err(std::io::Error::other)?;
        write_atomically(&dir.join("version.json"), &view)
    }

    /// A cached version, if both files are there and the bytes hash to the recorded digest.
    pub fn load(&self, model: &str, version: u32) -> Result<(VersionView, Vec<u8>), String> {
        let dir = self.version_dir(model, version);
        let view = std::fs::read(dir.join("version.json"))
            .map_err(|e| format!("{}: {e}", dir.display()))?;
        let view: VersionView = serde_json::from_slice(&view)
            .map_err(|e| format!("{}/version.json: {e}", dir.display()))?;
        let bytes = std::fs::read(dir.join("model.onnx"))
            .map_err(|e| format!("{}/model.onnx: {e}", dir.display()))?;
        let actual = velocast_registry_client::sha256_hex(&bytes);
        if actual != view.artifact.sha256 {
            return Err(format!(
                "{}/model.onnx hashes to {actual}, recorded {}",
                dir.display(),
                view.artifact.sha256
            ));
        }
        Ok((view, bytes))
    }

    /// The aliases of `model` as last resolved.
    pub fn aliases(&self, model: &str) -> BTreeMap<String, u32> {
        let path = self.dir.join(model).join("aliases.json");
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).unwrap_or_else(|error| {
                tracing::warn!(path = %path.display(), %error, "unreadable alias cache ignored");
                BTreeMap::new()
            }),
            Err(_) => BTreeMap::new(),
        }
    }

    /// Records that `alias` of `model` resolved to `version`.
    pub fn remember_alias(&self, model: &str, alias: &str, version: u32) -> std::io::Result<()> {
        let mut aliases = self.aliases(model);
        if aliases.get(alias) == Some(&version) {
            return Ok(());
        }
        aliases.insert(alias.to_owned(), version);
        let bytes = serde_json::to_vec_pretty(&aliases).map_err(std::io::Error::other)?;
        write_atomically(&self.dir.join(model).join("aliases.json"), &bytes)
    }
}
