//! Its own test binary, so no other test has loaded the library in this process.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use velocast_runtime::{Runtime, RuntimeError};

#[test]
fn a_missing_library_is_a_clear_error_at_load() {
    let error = Runtime::load(std::path::Path::new("/nonexistent/libonnxruntime.so")).unwrap_err();
    assert!(
        matches!(error, RuntimeError::LibraryMissing { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("make setup"), "{error}");
}
