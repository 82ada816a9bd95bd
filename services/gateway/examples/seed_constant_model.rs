//! Registers a constant test model (it predicts 7 for every hour, and its card's golden rows say
//! so) as `champion` of `bike-demand`, for black-box checks of the gateway that need a servable
//! model without training one: `cargo run --example seed_constant_model -- <registry-url>` with
//! an admin token in `VELOCAST_TOKEN`.

#![allow(clippy::print_stderr)]

use std::process::ExitCode;

use velocast_registry_api::CreateModel;
use velocast_registry_client::{RegistryClient, Upload, token_from_env};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Some(url) = std::env::args().nth(1) else {
        eprintln!("usage: seed_constant_model <registry-url>");
        return ExitCode::from(2);
    };
    let outcome = async {
        let client = RegistryClient::new(&url, token_from_env()?)?;
        client
            .ensure_model(&CreateModel {
                name: "bike-demand".into(),
                description: "constant test model".into(),
                tags: Default::default(),
            })
            .await?;
        let (artifact, metadata) = velocast_registry::testing::constant_model(7);
        let version = client
            .upload_version(
                "bike-demand",
                metadata,
                Upload {
                    artifact: &artifact,
                    profile: None,
                },
            )
            .await?;
        client
            .set_alias("bike-demand", "champion", version.version, "contract seed")
            .await?;
        Ok::<_, velocast_registry_client::ClientError>(())
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
