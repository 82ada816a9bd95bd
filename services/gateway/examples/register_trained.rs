//! Registers a model the trainer wrote earlier (its output directory) as a new version of
//! `bike-demand` and points `champion` at it, for benchmarks that serve the real trained blend:
//! `cargo run --example register_trained -- <registry-url> <out-dir>` with an admin token in
//! `VELOCAST_TOKEN`.

#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::path::PathBuf;
use std::process::ExitCode;

use velocast_registry_api::CreateModel;
use velocast_registry_client::{RegistryClient, Upload, token_from_env};
use velocast_trainer::card::ModelCard;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(out)) = (args.next(), args.next().map(PathBuf::from)) else {
        eprintln!("usage: register_trained <registry-url> <out-dir>");
        return ExitCode::from(2);
    };
    let outcome = async {
        let card: ModelCard = serde_json::from_slice(&std::fs::read(out.join("model_card.json"))?)?;
        let artifact = std::fs::read(out.join(&card.artifacts.model))?;
        let profile = std::fs::read(out.join(&card.artifacts.reference_profile))?;
        let client = RegistryClient::new(&url, token_from_env()?)?;
        client
            .ensure_model(&CreateModel {
                name: "bike-demand".into(),
                description: "Hourly bike-share demand".into(),
                tags: Default::default(),
            })
            .await?;
        let metadata = velocast_trainer::register::version_metadata(&card, None)
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        let version = client
            .upload_version(
                "bike-demand",
                metadata,
                Upload {
                    artifact: &artifact,
                    profile: Some(&profile),
                },
            )
            .await?;
        client
            .set_alias("bike-demand", "champion", version.version, "benchmark")
            .await?;
        println!("registered version {}", version.version);
        Ok::<_, Box<dyn std::error::Error>>(())
    }
    .await;
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}
