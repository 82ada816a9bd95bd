//! `velocast`: the operator command. Exit codes: 0 success, 2 bad usage or configuration,
//! 1 runtime failure.

// A command line reports to the person running it: results on stdout, problems on stderr.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod drift;
mod explain;
mod files;
mod monitor;
mod predict;
mod registry;
use secrecy::SecretString;
use velocast_auth::{Minter, Scope, parse_ttl};

/// Environment variable holding the HS256 development secret (never a flag: flags land in
/// shell history).
const SECRET_ENV: &str = "VELOCAST_JWT_SECRET";

#[derive(Debug, Parser)]
#[command(name = "velocast", version, about = "Velocast operator command")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Mint a development token (HS256, secret from VELOCAST_JWT_SECRET), printed on stdout.
    Token {
        /// Who the token is for (the `sub` claim; rate limits and audit logs use it).
        #[arg(long)]
        sub: String,
        /// Comma-separated scopes, e.g. models:read,models:write.
        #[arg(long, value_delimiter = ',', value_parser = parse_scope)]
        scope: Vec<Scope>,
        /// Lifetime: a number and s, m, h or d.
        #[arg(long, default_value = "1h", value_parser = parse_ttl)]
        ttl: std::time::Duration,
        #[arg(long, default_value = "velocast")]
        issuer: String,
        #[arg(long, default_value = "velocast")]
        audience: String,
    },
    /// List registered models.
    Models {
        #[command(flatten)]
        registry: registry::RegistryArgs,
        /// Only models with this tag (`key:value`).
        #[arg(long)]
        tag: Option<String>,
    },
    /// List a model's versions with their holdout metrics and aliases.
    Versions {
        #[command(flatten)]
        registry: registry::RegistryArgs,
        model: String,
        /// Metric conditions, e.g. `holdout_mae<40` (comma-separated, all must hold).
        #[arg(long)]
        metric: Option<String>,
        /// Tags, `key:value` (comma-separated, all must hold).
        #[arg(long)]
        tag: Option<String>,
    },
    /// Ask the gateway for an hour's demand, e.g.
    /// `velocast predict --at 2012-10-01T08:00 --weather clear --temp 18 --humidity 60 --wind 10`.
    Predict(predict::PredictArgs),
    /// Data drift between two CSV files as Evidently's DataDriftPreset decides it, e.g.
    /// `velocast drift --reference ref.csv --current cur.csv --html drift.html --json drift.json`.
    Drift(drift::DriftArgs),
    /// Exact TreeSHAP for the rows of a CSV file on a model file, e.g.
    /// `velocast explain --model out/model/model.onnx --input rows.csv --json explain.json`.
    Explain(explain::ExplainArgs),
    /// Ask the gateway for the hours of a CSV file between two days, then post their true
    /// counts to the monitor (a backfill; `make demo` replays September 2012).
    Replay(monitor::ReplayArgs),
    /// A window's drift verdict and realized accuracy from the monitor, e.g.
    /// `velocast monitor --from 2012-09-01T00:00:00Z --to 2012-10-01T00:00:00Z --html drift.html`.
    Monitor(monitor::MonitorArgs),
    /// Point an alias at a version (recorded in the audit log with the reason).
    Alias {
        #[command(flatten)]
        registry: registry::RegistryArgs,
        model: String,
        alias: String,
        version: u32,
        #[arg(long)]
        reason: String,
    },
}

fn parse_scope(text: &str) -> Result<Scope, String> {
    text.parse()
        .map_err(|e: velocast_auth::InvalidScope| e.to_string())
}

fn main() -> ExitCode {
    let Cli { command } = Cli::parse();
    match command {
        Command::Predict(args) => predict::run(&args),
        Command::Drift(args) => drift::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Replay(args) => monitor::replay(&args),
        Command::Monitor(args) => monitor::report(&args),
        Command::Models { registry, tag } => registry::run(&registry, |client| async move {
            registry::print_models(&client.list_models(tag.as_deref()).await?);
            Ok(())
        }),
        Command::Versions {
            registry,
            model,
            metric,
            tag,
        } => registry::run(&registry, |client| async move {
            let mut query = Vec::new();
            if let Some(metric) = &metric {
                query.push(("metric", metric.as_str()));
            }
            if let Some(tag) = &tag {
                query.push(("tag", tag.as_str()));
            }
            let versions = client.list_versions(&model, &query).await?;
            let aliases = client.get_model(&model).await?.aliases.ok_or_else(|| {
                velocast_registry_client::ClientError::Protocol(
                    "the registry did not list the model's aliases".into(),
                )
            })?;
            registry::print_versions(&versions, &aliases);
            Ok(())
        }),
        Command::Alias {
            registry,
            model,
            alias,
            version,
            reason,
        } => registry::run(&registry, |client| async move {
            let moved = client.set_alias(&model, &alias, version, &reason).await?;
            let from = moved
                .from
                .map_or_else(|| "nothing".to_owned(), |v| format!("version {v}"));
            println!("{model}: {alias} moved from {from} to version {version}");
            Ok(())
        }),
        Command::Token {
            sub,
            scope,
            ttl,
            issuer,
            audience,
        } => {
            let Some(secret) = std::env::var_os(SECRET_ENV).and_then(|s| s.into_string().ok())
            else {
                eprintln!(
                    "error: set {SECRET_ENV} to the shared development secret (at least 32 bytes)"
                );
                return ExitCode::from(2);
            };
            let minter = match Minter::hs256(&SecretString::from(secret), &issuer, &audience) {
                Ok(minter) => minter,
                Err(error) => {
                    eprintln!("error: {SECRET_ENV}: {error}");
                    return ExitCode::from(2);
                }
            };
            match minter.mint(&sub, &scope, ttl) {
                Ok(token) => {
                    println!("{token}");
                    ExitCode::SUCCESS
                }
                Err(velocast_auth::MintError::EmptySubject) => {
                    eprintln!("error: --sub must not be empty");
                    ExitCode::from(2)
                }
                Err(error) => {
                    eprintln!("error: {error}");
                    ExitCode::from(1)
                }
            }
        }
    }
}
