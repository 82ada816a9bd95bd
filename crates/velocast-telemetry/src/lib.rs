//! Structured logs for every Velocast binary (CONVENTIONS 14): JSON lines in production (or
//! whenever stderr is not a terminal), compact text on a terminal. `RUST_LOG` filters
//! (default `info`). Services, the trainer and the CLI all call [`init_logging`], so a log
//! line looks the same whichever binary wrote it.

use std::io::IsTerminal;

pub mod process;

/// The log format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// JSON when stderr is not a terminal, readable text when it is.
    Auto,
    /// JSON lines always (`--json-logs`).
    Json,
}

impl LogFormat {
    /// `Json` when `json` is set (a `--json-logs` flag or config key), else `Auto`.
    pub fn from_flag(json: bool) -> Self {
        if json {
            LogFormat::Json
        } else {
            LogFormat::Auto
        }
    }

    fn is_json(self, stderr_is_terminal: bool) -> bool {
        match self {
            LogFormat::Json => true,
            LogFormat::Auto => !stderr_is_terminal,
        }
    }
}

/// Installs the process's log subscriber, writing to stderr. A second call (tests starting
/// several services in one process) keeps the first subscriber.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already installed, which is the documented
    // behaviour above, not an error to report.
    let _already_installed = if format.is_json(std::io::stderr().is_terminal()) {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_is_forced_by_the_flag_and_chosen_off_a_terminal() {
        assert!(LogFormat::from_flag(true).is_json(true));
        assert!(LogFormat::from_flag(false).is_json(false));
        assert!(!LogFormat::from_flag(false).is_json(true));
    }
}
