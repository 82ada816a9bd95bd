//! The OpenAPI document is generated from the routes and committed; a stale copy fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = velocast_monitor::api::openapi_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "services/monitor/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p velocast-monitor --test openapi` and commit it"
    );
    let document: Value = serde_json::from_str(&generated).unwrap();
    for path in [
        "/v1/events",
        "/v1/outcomes",
        "/v1/drift",
        "/v1/drift/report",
        "/v1/quality",
        "/v1/accuracy",
        "/health/live",
        "/health/ready",
        "/metrics",
    ] {
        assert!(document["paths"][path].is_object(), "{path} documented");
    }
    let events = &document["paths"]["/v1/events"]["post"];
    for status in ["200", "400", "413", "422"] {
        assert!(
            events["responses"][status].is_object(),
            "{status} documented"
        );
    }
    // The arm comparison states its test in the API's own words.
    let accuracy = document["paths"]["/v1/accuracy"]["get"]["description"]
        .as_str()
        .unwrap();
    assert!(accuracy.contains("Welch"), "{accuracy}");
}
