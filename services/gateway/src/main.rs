//! `velocast-gateway`: `serve` predictions, or print the `openapi` document. Exit codes: 0
//! clean shutdown, 2 bad configuration or usage, 1 runtime failure.

// The outcome of a bad start is reported on stderr before logging exists.
#![allow(clippy::print_stderr)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use velocast_gateway::{Flags, GatewayConfig};
use velocast_telemetry::process::{self, config_or_exit};
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
        Command::Openapi => process::print_rendered(
            "the OpenAPI document",
            velocast_gateway::api::openapi_json(),
        ),
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
    let config = match config_or_exit(GatewayConfig::load(args.config.as_deref(), &flags)) {
        Ok(config) => config,
        Err(code) => return code,
    };
    if args.check_config {
        return process::print_rendered("the configuration", config.to_toml());
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
    let config_file = args.config.clone();
    process::run("gateway", async {
        let app = velocast_gateway::build(&config, config_file, token).await?;
        app.run(velocast_http::shutdown::signal()).await
    })
}
