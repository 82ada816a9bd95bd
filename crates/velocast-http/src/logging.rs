//! Structured logs: JSON lines in production (or whenever stderr is not a terminal), compact
//! text on a terminal. `RUST_LOG` filters (default `info`).

use std::io::IsTerminal;

pub fn init(json: bool) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // `try_init`: a second call (tests starting several services) keeps the first subscriber.
    let _ = if json || !std::io::stderr().is_terminal() {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
}
