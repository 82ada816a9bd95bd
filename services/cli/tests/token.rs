//! `velocast token` end to end: the printed token verifies, bad input is exit code 2.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

use secrecy::SecretString;
use velocast_auth::Verifier;

const SECRET: &str = "cli-test-secret-that-is-long-enough-32";

fn velocast() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_velocast"));
    command.env("VELOCAST_JWT_SECRET", SECRET);
    command
}

#[test]
fn minted_token_verifies_with_the_requested_subject_and_scopes() {
    let output = velocast()
        .args([
            "token",
            "--sub",
            "trainer",
            "--scope",
            "models:read,models:write",
            "--ttl",
            "10m",
        ])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let token = String::from_utf8(output.stdout).unwrap();
    let verifier = Verifier::hs256(
        &SecretString::from(SECRET.to_owned()),
        "velocast",
        "velocast",
    )
    .unwrap();
    let principal = verifier.verify(token.trim()).unwrap();
    assert_eq!(principal.subject, "trainer");
    assert!(
        principal.has("models:read")
            && principal.has("models:write")
            && !principal.has("models:admin")
    );
}

#[test]
fn bad_usage_exits_2_with_the_reason() {
    let cases: [(&[&str], Option<&str>, &str); 5] = [
        (
            &["token", "--sub", "a", "--scope", "Models:Read"],
            Some(SECRET),
            "invalid scope",
        ),
        (
            &["token", "--sub", "a", "--ttl", "forever"],
            Some(SECRET),
            "s, m, h or d",
        ),
        (&["token", "--sub", "a"], None, "VELOCAST_JWT_SECRET"),
        (&["token", "--sub", "a"], Some("short"), "at least 32 bytes"),
        (
            &["token", "--sub", ""],
            Some(SECRET),
            "--sub must not be empty",
        ),
    ];
    for (args, secret, message) in cases {
        let mut command = Command::new(env!("CARGO_BIN_EXE_velocast"));
        match secret {
            Some(secret) => command.env("VELOCAST_JWT_SECRET", secret),
            None => command.env_remove("VELOCAST_JWT_SECRET"),
        };
        let output = command.args(args).output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(message), "{args:?}: {stderr}");
    }
}
