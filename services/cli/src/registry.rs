//! Registry commands: list models and versions, move aliases. The registry URL comes from
//! `--registry` or `VELOCAST_REGISTRY_URL`; the token from `VELOCAST_TOKEN` or the file named
//! by `VELOCAST_TOKEN_FILE`.

use std::collections::BTreeMap;
use std::future::Future;
use std::process::ExitCode;

use velocast_registry_api::{ModelList, VersionList};
use velocast_registry_client::{ClientError, RegistryClient, token_from_env};

#[derive(Debug, clap::Args)]
pub struct RegistryArgs {
    /// Registry base URL.
    #[arg(
        long,
        env = "VELOCAST_REGISTRY_URL",
        default_value = "http://127.0.0.1:8081"
    )]
    registry: String,
}

/// Runs one registry command: 0 on success, 2 without a token or with a bad URL, 1 when the
/// registry refuses or cannot be reached.
pub fn run<F, Fut>(args: &RegistryArgs, command: F) -> ExitCode
where
    F: FnOnce(RegistryClient) -> Fut,
    Fut: Future<Output = Result<(), ClientError>>,
{
    let client = match token_from_env().and_then(|token| RegistryClient::new(&args.registry, token))
    {
        Ok(client) => client,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(command(client)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(1)
        }
    }
}

pub fn print_models(list: &ModelList) {
    println!("{:<24} {:>7}  DESCRIPTION", "MODEL", "LATEST");
    for model in &list.models {
        let latest = model
            .latest_version
            .map_or_else(|| "-".to_owned(), |v| v.to_string());
        println!("{:<24} {:>7}  {}", model.name, latest, model.description);
    }
}

pub fn print_versions(list: &VersionList, aliases: &BTreeMap<String, u32>) {
    println!(
        "{:>7}  {:<12} {:>9} {:>11} {:>10}  {:<12} {:<20} ALIASES",
        "VERSION", "SHA256", "BYTES", "HOLDOUT_MAE", "HOLDOUT_R2", "CREATED_BY", "CREATED (UTC)"
    );
    for version in &list.versions {
        let metric = |name: &str| {
            version.metadata["metrics"][name]
                .as_f64()
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.4}"))
        };
        let pointing: Vec<&str> = aliases
            .iter()
            .filter(|(_, v)| **v == version.version)
            .map(|(alias, _)| alias.as_str())
            .collect();
        let created = chrono::DateTime::from_timestamp_millis(version.created_at_ms).map_or_else(
            || "-".to_owned(),
            |t| t.format("%Y-%m-%d %H:%M:%S").to_string(),
        );
        println!(
            "{:>7}  {:<12} {:>9} {:>11} {:>10}  {:<12} {:<20} {}",
            version.version,
            &version.artifact.sha256[..12.min(version.artifact.sha256.len())],
            version.artifact.size,
            metric("holdout_mae"),
            metric("holdout_r2"),
            version.created_by,
            created,
            pointing.join(",")
        );
    }
}
