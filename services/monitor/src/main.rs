//! `velocast-monitor`: `serve` the monitor or apply its `migrate`ions. Exit codes: 0 clean
//! shutdown, 2 bad configuration or usage, 1 runtime failure.

// The outcome of a bad start is reported on stderr before logging exists.
#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use velocast_monitor::{Flags, MonitorConfig};
use velocast_telemetry::{LogFormat, init_logging};

#[derive(Debug, Parser)]
#[command(name = "velocast-monitor", version, about = "The Velocast monitor")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the monitor API (applies pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(CommonArgs),
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Debug, clap::Args)]
struct CommonArgs {
    /// TOML configuration file (under environment variables and flags).
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    #[command(flatten)]
    common: CommonArgs,
    /// Address to listen on (port 0: any free port; the bound address is logged).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// Print the resolved configuration (secrets redacted) and exit.
    #[arg(long)]
    check_config: bool,
    /// JSON log lines even on a terminal.
    #[arg(long)]
    json_logs: bool,
}

fn load(config: Option<&std::path::Path>, flags: &Flags) -> Result<MonitorConfig, ExitCode> {
    MonitorConfig::load(config, flags).map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })
}

fn runtime() -> Result<tokio::runtime::Runtime, ExitCode> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|error| {
            eprintln!("error: cannot start the async runtime: {error}");
            ExitCode::FAILURE
        })
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Openapi => match velocast_monitor::api::openapi_json() {
            Ok(document) => {
                println!("{document}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: cannot render the OpenAPI document: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Migrate(args) => {
            let config = match load(args.config.as_deref(), &Flags::default()) {
                Ok(config) => config,
                Err(code) => return code,
            };
            let runtime = match runtime() {
                Ok(runtime) => runtime,
                Err(code) => return code,
            };
            init_logging(LogFormat::from_flag(config.json_logs));
            let migrated = runtime.block_on(async {
                let store =
                    velocast_monitor::store::MonitorStore::connect(config.database_url.expose(), 1)
                        .await?;
                store.close().await;
                Ok::<(), velocast_monitor::store::StoreError>(())
            });
            match migrated {
                Ok(()) => {
                    tracing::info!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(error) => {
                    tracing::error!(%error, "migrations failed");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve(args) => {
            let flags = Flags {
                bind: args.bind,
                json_logs: args.json_logs,
            };
            let config = match load(args.common.config.as_deref(), &flags) {
                Ok(config) => config,
                Err(code) => return code,
            };
            if args.check_config {
                return match config.to_toml() {
                    Ok(text) => {
                        println!("{text}");
                        ExitCode::SUCCESS
                    }
                    Err(error) => {
                        eprintln!("error: cannot render the configuration: {error}");
                        ExitCode::FAILURE
                    }
                };
            }
            init_logging(LogFormat::from_flag(config.json_logs));
            let runtime = match runtime() {
                Ok(runtime) => runtime,
                Err(code) => return code,
            };
            let outcome = runtime.block_on(async {
                let app = velocast_monitor::build(&config).await?;
                app.run(velocast_http::shutdown::signal()).await
            });
            match outcome {
                Ok(()) => ExitCode::SUCCESS,
                Err(error) => {
                    tracing::error!(error = format!("{error:#}"), "monitor failed");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
