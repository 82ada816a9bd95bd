//! The OpenAPI document is generated from the routes and committed; a stale copy fails here.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::Value;

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    let generated = velocast_gateway::api::openapi_json().unwrap() + "\n";
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "services/gateway/openapi.json is stale: run `UPDATE_OPENAPI=1 cargo test -p velocast-gateway --test openapi` and commit it"
    );
    let document: Value = serde_json::from_str(&generated).unwrap();
    for path in [
        "/v1/models/{name}:predict",
        "/v1/models/{name}:explain",
        "/v1/predict",
        "/v1/explain",
        "/v1/status",
        "/health/ready",
        "/metrics",
    ] {
        assert!(document["paths"][path].is_object(), "{path} documented");
    }
    let predict = &document["paths"]["/v1/models/{name}:predict"]["post"];
    for status in [
        "200", "400", "401", "403", "404", "413", "422", "429", "503",
    ] {
        assert!(
            predict["responses"][status].is_object(),
            "{status} documented"
        );
    }
    let hour = &document["components"]["schemas"]["DemandRequest"]["properties"];
    assert_eq!(hour["humidity_pct"]["maximum"], 100);
    assert_eq!(hour["weather"]["minimum"], 1);
}
