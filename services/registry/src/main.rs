//! `velocast-registry`: `serve` the registry or apply its `migrate`ions. Exit codes: 0 clean
//! shutdown, 2 bad configuration or usage, 1 runtime failure.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use velocast_registry::{Flags, RegistryConfig};
use velocast_telemetry::process::{self, CommonArgs, ServeArgs, config_or_exit};
use velocast_telemetry::{LogFormat, init_logging};

#[derive(Debug, Parser)]
#[command(
    name = "velocast-registry",
    version,
    about = "The Velocast model registry"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Serve the registry API (applies pending migrations first).
    Serve(ServeArgs),
    /// Apply pending database migrations and exit.
    Migrate(CommonArgs),
    /// Print the OpenAPI document.
    Openapi,
}

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Openapi => process::print_rendered(
            "the OpenAPI document",
            velocast_registry::api::openapi_json(),
        ),
        Command::Migrate(args) => {
            let config = match config_or_exit(RegistryConfig::load(
                args.config.as_deref(),
                &Flags::default(),
            )) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging(LogFormat::from_flag(config.json_logs));
            process::run("migrations", async {
                velocast_registry_store::Store::migrate(config.database_url.expose()).await?;
                tracing::info!("migrations applied");
                Ok(())
            })
        }
        Command::Serve(args) => {
            let flags = Flags {
                bind: args.bind,
                json_logs: args.json_logs,
            };
            let config =
                match config_or_exit(RegistryConfig::load(args.common.config.as_deref(), &flags)) {
                    Ok(config) => config,
                    Err(code) => return code,
                };
            if args.check_config {
                return process::print_rendered("the configuration", config.to_toml());
            }
            init_logging(LogFormat::from_flag(config.json_logs));
            process::run("registry", async {
                let app = velocast_registry::build(&config).await?;
                app.run(velocast_http::shutdown::signal()).await
            })
        }
    }
}
