//! `velocast-gateway`: `serve` predictions, or print the `openapi` document. Exit codes: 0
//! clean shutdown, 2 bad configuration or usage, 1 runtime failure.

// The outcome of a bad start is reported on stderr before logging exists.
#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use velocast_gateway::{Flags, GatewayConfig};
use velocast_telemetry::{LogFormat, init_logging};

/// Every request allocates across threads (parsed on an async worker, scored on a session
/// thread, answered back); mimalloc's thread-local free lists make that cheap where glibc's
/// arenas consolidate and lock.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug, Parser)]
#[command(
    name = "velocast-gateway",
    version,
    about = "The Velocast inference gateway"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve predictions from the registry's models.
    Serve(ServeArgs),
    /// Print the OpenAPI document.
    Openapi,
}

#[derive(Debug, clap::Args)]
struct ServeArgs {
    /// TOML configuration file (under environment variables and flags); its route table is
    /// re-read when the file changes.
    #[arg(long)]
    config: Option<PathBuf>,
    /// Address to listen on (port 0: any free port; the bound address is logged).
    #[arg(long)]
    bind: Option<SocketAddr>,
    /// The registry's base URL.
    #[arg(long)]
    registry: Option<String>,
    /// A route, `name=model@alias` or `name=model@<version>` (repeatable); replaces the
    /// file's route table.
    #[arg(long = "route")]
    routes: Vec<String>,
    /// Print the resolved configuration (secrets redacted) and exit.
    #[arg(long)]
    check_config: bool,
    /// JSON log lines even on a terminal.
    #[arg(long)]
    json_logs: bool,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Openapi => match velocast_gateway::api::openapi_json() {
            Ok(document) => {
                println!("{document}");
                ExitCode::SUCCESS
            }
            Err(error) => {
                eprintln!("error: cannot render the OpenAPI document: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Serve(args) => serve(args),
    }
}

fn serve(args: ServeArgs) -> ExitCode {
    let flags = Flags {
        bind: args.bind,
        registry: args.registry,
        routes: args.routes,
        json_logs: args.json_logs,
    };
    let config = match GatewayConfig::load(args.config.as_deref(), &flags) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {error}");
            return ExitCode::from(2);
        }
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
    // The gateway's own token for reading the registry.
    let token = match velocast_registry_client::token_from_env() {
        Ok(token) => token,
        Err(error) => {
            eprintln!("error: the gateway reads models from the registry: {error}");
            return ExitCode::from(2);
        }
    };
    init_logging(LogFormat::from_flag(config.json_logs));
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let config_file = args.config.clone();
    let outcome = runtime.block_on(async {
        let app = velocast_gateway::build(&config, config_file, token).await?;
        app.run(velocast_http::shutdown::signal()).await
    });
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "gateway failed");
            ExitCode::FAILURE
        }
    }
}
