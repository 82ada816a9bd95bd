//! What every service binary's `main` does the same way: exit codes (0 clean, 2 bad
//! configuration or usage, 1 runtime failure), printing a rendered document, and running its
//! async work on a multi-threaded runtime with the failure logged.

// These report on stderr before logging exists, or print the document asked for on stdout.
#![allow(clippy::print_stderr, clippy::print_stdout)]

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

/// A configuration that loaded, or exit code 2 with the problems on stderr.
pub fn config_or_exit<C>(loaded: Result<C, impl Display>) -> Result<C, ExitCode> {
    loaded.map_err(|error| {
        eprintln!("error: {error}");
        ExitCode::from(2)
    })
}

/// Prints `rendered` (the OpenAPI document, the resolved configuration): 0, or 1 when it could
/// not be rendered.
pub fn print_rendered(what: &str, rendered: Result<String, impl Display>) -> ExitCode {
    match rendered {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("error: cannot render {what}: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Runs `work` on a multi-threaded Tokio runtime: 0 when it succeeds, 1 (logged as `what`
/// failed, with the error's whole chain) when it fails or the runtime cannot start.
pub fn run<F>(what: &str, work: F) -> ExitCode
where
    F: Future<Output = anyhow::Result<()>>,
{
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
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "{what} failed");
            ExitCode::FAILURE
        }
    }
}

/// The arguments every service's `migrate` takes.
#[derive(Debug, clap::Args)]
pub struct CommonArgs {
    /// TOML configuration file (under environment variables and flags).
    #[arg(long)]
    pub config: Option<std::path::PathBuf>,
}

/// The arguments of `serve` for a service configured by file, environment and these flags
/// alone (the registry, the monitor).
#[derive(Debug, clap::Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// Address to listen on (port 0: any free port; the bound address is logged).
    #[arg(long)]
    pub bind: Option<std::net::SocketAddr>,
    /// Print the resolved configuration (secrets redacted) and exit.
    #[arg(long)]
    pub check_config: bool,
    /// JSON log lines even on a terminal.
    #[arg(long)]
    pub json_logs: bool,
}
