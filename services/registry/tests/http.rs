//! The HTTP layer as an outside client meets it: conditional and ranged downloads after an
//! alias moves, one JSON error body for every rejection, limits that are refused rather than
//! clamped, uploads that are not models, and an in-flight gauge that survives clients hanging
//! up mid-request. Each case failed before its fix.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::Duration;

use common::{Backend, Database, Registry, artifact, metadata, model, token, upload};
use reqwest::StatusCode;
use reqwest::header;
use tokio::io::AsyncWriteExt;
use velocast_auth::Scope;
use velocast_registry_client::Upload;

fn read_token() -> String {
    token(&[Scope::MODELS_READ])
}

async fn registry_with_two_versions() -> (Registry, Database, Vec<u8>, Vec<u8>) {
    let database = Database::fresh(Backend::Sqlite).await;
    let registry = Registry::start(&database.url).await;
    let admin = registry.admin();
    admin.create_model(&model("bikes")).await.unwrap();
    let first = artifact(1, 5_000);
    let second = artifact(2, 6_000);
    upload(&admin, "bikes", &first).await;
    upload(&admin, "bikes", &second).await;
    admin
        .set_alias("bikes", "champion", 1, "first")
        .await
        .unwrap();
    (registry, database, first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resumed_download_through_a_moved_alias_never_splices_two_models() {
    let (registry, database, first, second) = registry_with_two_versions().await;
    let http = reqwest::Client::new();
    let url = registry.url("/v1/models/bikes/versions/champion/artifact");
    let head = http
        .get(&url)
        .bearer_auth(read_token())
        .header(header::RANGE, "bytes=0-999")
        .send()
        .await
        .unwrap();
    assert_eq!(head.status(), StatusCode::PARTIAL_CONTENT);
    let etag = head.headers()[header::ETAG].to_str().unwrap().to_owned();
    // Alias URLs may change meaning: never cached as immutable.
    let cache = head.headers()[header::CACHE_CONTROL].to_str().unwrap();
    assert!(!cache.contains("immutable"), "{cache}");
    assert_eq!(head.bytes().await.unwrap(), first[..1000]);

    registry
        .admin()
        .set_alias("bikes", "champion", 2, "second")
        .await
        .unwrap();
    // The client resumes with If-Range naming what it had: the validator no longer matches, so
    // it gets the whole new model, not the tail of the new one after the head of the old one.
    let resumed = http
        .get(&url)
        .bearer_auth(read_token())
        .header(header::RANGE, "bytes=1000-")
        .header(header::IF_RANGE, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(resumed.status(), StatusCode::OK);
    assert_eq!(resumed.bytes().await.unwrap(), second[..]);
    // With a matching validator the range is honoured.
    let numbered = registry.url("/v1/models/bikes/versions/1/artifact");
    let ranged = http
        .get(&numbered)
        .bearer_auth(read_token())
        .header(header::RANGE, "bytes=1000-")
        .header(header::IF_RANGE, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.status(), StatusCode::PARTIAL_CONTENT);
    let cache = ranged.headers()[header::CACHE_CONTROL]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(cache.contains("immutable"), "{cache}");
    assert_eq!(ranged.bytes().await.unwrap(), first[1000..]);
    // A weak validator in If-None-Match matches (weak comparison): 304.
    let weak = format!("W/{etag}");
    let not_modified = http
        .get(&numbered)
        .bearer_auth(read_token())
        .header(header::IF_NONE_MATCH, &weak)
        .send()
        .await
        .unwrap();
    assert_eq!(not_modified.status(), StatusCode::NOT_MODIFIED);
    registry.stop().await.unwrap();
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_the_one_json_error_body() {
    let (registry, database, _, _) = registry_with_two_versions().await;
    let http = reqwest::Client::new();
    let admin_token = token(&[Scope::MODELS_READ, Scope::MODELS_WRITE, Scope::MODELS_ADMIN]);
    let expect_json = |status: StatusCode, body: &serde_json::Value, code: &str| {
        assert_eq!(body["error_type"], code, "{status}: {body}");
        assert!(body["error"].is_string(), "{body}");
    };
    // 405 keeps its Allow header and gains a body.
    let response = http
        .put(registry.url("/v1/models"))
        .bearer_auth(&admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::METHOD_NOT_ALLOWED);
    assert!(response.headers().contains_key(header::ALLOW));
    let status = response.status();
    expect_json(
        status,
        &response.json().await.unwrap(),
        "method_not_allowed",
    );
    // Multipart without a boundary: 415 naming the content type, in JSON.
    let response = http
        .post(registry.url("/v1/models/bikes/versions"))
        .bearer_auth(&admin_token)
        .header(header::CONTENT_TYPE, "multipart/form-data")
        .body("x")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let body: serde_json::Value = response.json().await.unwrap();
    expect_json(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        &body,
        "unsupported_media_type",
    );
    assert_eq!(body["field"], "content-type");
    // A limit above the documented maximum is refused, not clamped.
    for query in ["limit=1001", "limit=0", "status=sleeping"] {
        let response = http
            .get(registry.url(&format!("/v1/runs?{query}")))
            .bearer_auth(&admin_token)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST, "{query}");
        let body: serde_json::Value = response.json().await.unwrap();
        expect_json(StatusCode::BAD_REQUEST, &body, "invalid_query");
    }
    registry.stop().await.unwrap();
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_that_are_not_models_of_the_declared_signature_are_refused() {
    let (registry, database, _, _) = registry_with_two_versions().await;
    let admin = registry.admin();
    let wide = velocast_registry::testing::onnx_artifact(9, 0, 15);
    for (bytes, field) in [
        (&b""[..], "artifact"),
        (&b"name,value\nnot,onnx\n"[..], "artifact"),
        (&wide[..], "metadata.signature.features"),
    ] {
        let error = admin
            .upload_version(
                "bikes",
                metadata(),
                Upload {
                    artifact: bytes,
                    profile: None,
                },
            )
            .await
            .unwrap_err();
        match error {
            velocast_registry_client::ClientError::Api {
                status,
                ref error_type,
                field: Some(ref named),
                ..
            } => assert_eq!(
                (status, error_type.as_str(), named.as_str()),
                (422, "invalid_artifact", field),
                "{error}"
            ),
            other => panic!("{other}"),
        }
    }
    // Nothing was stored: still two versions.
    let versions = admin.list_versions("bikes", &[]).await.unwrap();
    assert_eq!(versions.versions.len(), 2);
    registry.stop().await.unwrap();
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_without_nbf_pass_and_without_aud_are_refused_naming_it() {
    let database = Database::fresh(Backend::Sqlite).await;
    let registry = Registry::start(&database.url).await;
    let http = reqwest::Client::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let sign = |claims: serde_json::Value| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(common::SECRET.as_bytes()),
        )
        .unwrap()
    };
    // What most identity providers issue: no `nbf`.
    let without_nbf = sign(serde_json::json!({
        "sub": "idp-user", "iss": "velocast", "aud": "velocast", "exp": now + 600,
        "scope": "models:read",
    }));
    let response = http
        .get(registry.url("/v1/models"))
        .bearer_auth(without_nbf)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let without_aud = sign(serde_json::json!({
        "sub": "idp-user", "iss": "velocast", "exp": now + 600, "scope": "models:read",
    }));
    let response = http
        .get(registry.url("/v1/models"))
        .bearer_auth(without_aud)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(
        (body["error_type"].as_str(), body["field"].as_str()),
        (Some("missing_claim"), Some("aud")),
        "{body}"
    );
    // Oversized tokens are refused unread.
    let response = http
        .get(registry.url("/v1/models"))
        .bearer_auth("a".repeat(400_000))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_type"], "token_too_large");
    registry.stop().await.unwrap();
    database.drop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_browser_is_served_from_the_binary() {
    let database = Database::fresh(Backend::Sqlite).await;
    let registry = Registry::start(&database.url).await;
    let http = reqwest::Client::new();
    let page = http
        .get(registry.url("/docs/"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("swagger-ui"), "{page}");
    // Nothing loads from another host: every script and stylesheet is a relative path, and
    // each one is served here without a token.
    assert!(
        !page.contains("http://") && !page.contains("https://"),
        "{page}"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        assert!(page.contains(asset), "{asset} not referenced: {page}");
        let response = http
            .get(registry.url(&format!("/docs/{asset}")))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{asset}");
        assert!(response.bytes().await.unwrap().len() > 100, "{asset}");
    }
    let initializer = http
        .get(registry.url("/docs/swagger-initializer.js"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(initializer.contains("/openapi.json"), "{initializer}");
    registry.stop().await.unwrap();
    database.drop().await;
}

fn in_flight(metrics: &str) -> i64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix("velocast_http_requests_in_flight "))
        .and_then(|v| v.trim().parse().ok())
        .expect("the in-flight gauge is exported")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_gauge_returns_to_zero_after_clients_hang_up_mid_request() {
    let (registry, database, _, _) = registry_with_two_versions().await;
    let address = registry.base.trim_start_matches("http://").to_owned();
    let admin_token = token(&[Scope::MODELS_READ, Scope::MODELS_WRITE]);
    // 40 clients start an upload, send part of the body and disconnect.
    let mut hung_up = Vec::new();
    for _ in 0..40 {
        let address = address.clone();
        let admin_token = admin_token.clone();
        hung_up.push(tokio::spawn(async move {
            let mut stream = tokio::net::TcpStream::connect(&address).await.unwrap();
            let head = format!(
                "POST /v1/models/bikes/versions HTTP/1.1\r\nHost: {address}\r\n\
                 Authorization: Bearer {admin_token}\r\n\
                 Content-Type: multipart/form-data; boundary=xyz\r\nContent-Length: 100000\r\n\r\n\
                 --xyz\r\nContent-Disposition: form-data; name=\"artifact\"\r\n\r\npartial"
            );
            stream.write_all(head.as_bytes()).await.unwrap();
            tokio::time::sleep(Duration::from_millis(200)).await;
            drop(stream);
        }));
    }
    let http = reqwest::Client::new();
    let scrape = || async {
        http.get(registry.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    };
    // While they hang there, they are in flight.
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(in_flight(&scrape().await) > 0);
    for client in hung_up {
        client.await.unwrap();
    }
    // Once they are gone, nothing is: the gauge is decremented by a drop guard, and the
    // abandoned requests are counted as cancelled.
    let mut metrics = scrape().await;
    for _ in 0..50 {
        if in_flight(&metrics) == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        metrics = scrape().await;
    }
    assert_eq!(in_flight(&metrics), 0, "{metrics}");
    assert!(
        metrics.contains("status_class=\"cancelled\""),
        "cancelled requests are counted: {metrics}"
    );
    registry.stop().await.unwrap();
    database.drop().await;
}
