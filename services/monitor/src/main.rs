//! `velocast-monitor`: `serve` the monitor or apply its `migrate`ions. Exit codes: 0 clean
//! shutdown, 2 bad configuration or usage, 1 runtime failure.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use velocast_monitor::{Flags, MonitorConfig};
use velocast_telemetry::process::{self, CommonArgs, ServeArgs, config_or_exit};
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

fn main() -> ExitCode {
    match Cli::parse().command {
        Command::Openapi => process::print_rendered(
            "the OpenAPI document",
            velocast_monitor::api::openapi_json(),
        ),
        Command::Migrate(args) => {
            let config = match config_or_exit(MonitorConfig::load(
                args.config.as_deref(),
                &Flags::default(),
            )) {
                Ok(config) => config,
                Err(code) => return code,
            };
            init_logging(LogFormat::from_flag(config.json_logs));
            process::run("migrations", async {
                let store =
                    velocast_monitor::store::MonitorStore::connect(config.database_url.expose(), 1)
                        .await?;
                store.close().await;
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
                match config_or_exit(MonitorConfig::load(args.common.config.as_deref(), &flags)) {
                    Ok(config) => config,
                    Err(code) => return code,
                };
            if args.check_config {
                return process::print_rendered("the configuration", config.to_toml());
            }
            init_logging(LogFormat::from_flag(config.json_logs));
            process::run("monitor", async {
                let app = velocast_monitor::build(&config).await?;
                app.run(velocast_http::shutdown::signal()).await
            })
        }
    }
}
