//! `velocast-gateway-lambda`: the gateway as an AWS Lambda function (custom runtime; package the
//! binary as `bootstrap` with `libonnxruntime.so` beside it). API Gateway's HTTP API sends each
//! request as a payload-v2 event; the same router answers it, with the same JWT auth, rate limits,
//! validation and error bodies, and API Gateway returns that answer to the client.
//!
//! Configuration, read once at cold start:
//! - `VELOCAST_GATEWAY_CONFIG`: the gateway's TOML file [default: `/var/task/gateway.toml`, the
//!   function package's root], under the same environment overrides as `velocast-gateway serve`
//!   (`VELOCAST_REGISTRY_URL`, `VELOCAST_JWT_SECRET`, …); its `bind` is unused.
//! - `VELOCAST_TOKEN` / `VELOCAST_TOKEN_FILE`: the gateway's registry token.
//! - `VELOCAST_BUNDLED_CACHE` (optional): a directory of verified artifacts shipped in the package
//!   (a gateway's `cache_dir` copied at build time). It is copied into the writable `cache_dir`
//!   (under `/tmp` on Lambda) before start, so a cold start serves the bundled model even when the
//!   registry cannot be reached; a reachable registry still wins with newer versions.
//! - `VELOCAST_COLD_START_SECONDS`: how long a cold start waits for models [default: 10].
//!
//! Exit codes: 2 bad configuration, 1 runtime failure.

// Before logging is set up, configuration errors go to stderr (Lambda keeps it).
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use velocast_gateway::{Flags, GatewayConfig};
use velocast_telemetry::process;
use velocast_telemetry::{LogFormat, init_logging};

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let file = std::env::var_os("VELOCAST_GATEWAY_CONFIG")
        .map_or_else(|| PathBuf::from("/var/task/gateway.toml"), PathBuf::from);
    let config = match GatewayConfig::load(Some(&file), &Flags::default()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("error: {}: {error}", file.display());
            return ExitCode::from(2);
        }
    };
    let token = match velocast_registry_client::token_from_env() {
        Ok(token) => token,
        Err(error) => {
            eprintln!("error: the gateway reads models from the registry: {error}");
            return ExitCode::from(2);
        }
    };
    // Unset: the default; set but not a number within range (or not UTF-8): refused.
    let cold_start = match std::env::var("VELOCAST_COLD_START_SECONDS") {
        Err(std::env::VarError::NotPresent) => Some(10),
        Err(std::env::VarError::NotUnicode(_)) => None,
        Ok(text) => text.parse::<u64>().ok().filter(|s| (1..=900).contains(s)),
    };
    let Some(cold_start) = cold_start.map(Duration::from_secs) else {
        eprintln!(
            "error: VELOCAST_COLD_START_SECONDS: must be a whole number of seconds within 1..=900"
        );
        return ExitCode::from(2);
    };
    if let Some(bundle) = std::env::var_os("VELOCAST_BUNDLED_CACHE")
        && let Err(error) = copy_missing(Path::new(&bundle), &config.cache_dir)
    {
        eprintln!(
            "error: VELOCAST_BUNDLED_CACHE: copying {} into {}: {error}",
            Path::new(&bundle).display(),
            config.cache_dir.display()
        );
        return ExitCode::from(2);
    }
    // CloudWatch keeps one line per event: JSON always.
    init_logging(LogFormat::from_flag(true));
    process::run("gateway (lambda)", async move {
        let app = velocast_gateway::build(&config, None, token).await?;
        app.run_lambda(cold_start).await
    })
}

/// Copies `from` into `to` recursively, leaving files already in `to` alone (a warm sandbox
/// keeps what it downloaded). Nothing copied is trusted: the cache re-verifies every digest.
fn copy_missing(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_missing(&entry.path(), &target)?;
        } else if !target.exists() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
