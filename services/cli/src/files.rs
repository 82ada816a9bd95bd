//! What the file-to-file commands (`drift`, `explain`) share: their failure kinds and exit
//! codes, and writing outputs so that a failed run leaves earlier ones as they were.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;

/// A usage problem (exit 2) or a failure while running (exit 1).
pub enum Failure {
    Usage(String),
    Run(String),
}

/// The exit code of a command's outcome, its error printed on stderr.
pub fn exit(outcome: Result<(), Failure>) -> ExitCode {
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(Failure::Run(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
    }
}

/// Writes `bytes` to a temporary file beside `path`, syncs it, and renames it into place.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    let mut file = tempfile::NamedTempFile::new_in(directory)?;
    file.write_all(bytes)?;
    file.as_file().sync_all()?;
    file.persist(path).map_err(|e| e.error)?;
    Ok(())
}
