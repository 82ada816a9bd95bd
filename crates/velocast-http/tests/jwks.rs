//! Keys from the identity provider's JWKS URL, over real HTTP: fetched at start, fetched again
//! on an unknown `kid` but at most once per interval however many such tokens arrive, a
//! withdrawn key refused once the set is fetched again (even for a token verified before), and
//! a provider that fails leaves the current keys serving. The provider is a small server here
//! (the one fake: it stands for the external identity provider).

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use velocast_http::auth::AuthSettings;
use velocast_http::layers::{self, StandardLayers};
use velocast_http::metrics::HttpMetrics;

const FIXTURES: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../velocast-auth/tests/fixtures"
);

/// The provider: answers its current document (or 500 while `failing`), counting requests.
#[derive(Clone, Default)]
struct Provider {
    document: Arc<Mutex<String>>,
    failing: Arc<std::sync::atomic::AtomicBool>,
    fetches: Arc<AtomicUsize>,
}

impl Provider {
    fn publish(&self, kids: &[&str]) {
        let all: Value = serde_json::from_str(
            &std::fs::read_to_string(format!("{FIXTURES}/jwks.json")).unwrap(),
        )
        .unwrap();
        let keys: Vec<Value> = all["keys"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|key| kids.iter().any(|kid| key["kid"] == *kid))
            .cloned()
            .collect();
        *self.document.lock().unwrap() = json!({ "keys": keys }).to_string();
    }

    fn fetches(&self) -> usize {
        self.fetches.load(Ordering::SeqCst)
    }
}

async fn jwks(State(provider): State<Provider>) -> (StatusCode, String) {
    provider.fetches.fetch_add(1, Ordering::SeqCst);
    if provider.failing.load(Ordering::SeqCst) {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down".into());
    }
    (StatusCode::OK, provider.document.lock().unwrap().clone())
}

async fn serve(router: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    format!("http://{address}")
}

fn token(kid: &str) -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let (algorithm, key) = match kid {
        "ed-2026-11" => (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&std::fs::read(format!("{FIXTURES}/ed25519.pem")).unwrap())
                .unwrap(),
        ),
        "ec-2026-11" => (
            Algorithm::ES256,
            EncodingKey::from_ec_pem(&std::fs::read(format!("{FIXTURES}/es256.pem")).unwrap())
                .unwrap(),
        ),
        // Any other kid: signed by the EdDSA key under a name no set holds.
        _ => (
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(&std::fs::read(format!("{FIXTURES}/ed25519.pem")).unwrap())
                .unwrap(),
        ),
    };
    let mut header = Header::new(algorithm);
    header.kid = Some(kid.into());
    let claims = json!({"sub": "alice", "iss": "velocast", "aud": "velocast",
        "exp": now + 600, "iat": now, "scope": "predict"});
    jsonwebtoken::encode(&header, &claims, &key).unwrap()
}

async fn status(http: &reqwest::Client, base: &str, token: &str) -> (u16, Value) {
    let response = http
        .get(format!("{base}/private"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body)
}

fn settings(url: String) -> AuthSettings {
    AuthSettings {
        jwks_url: Some(url),
        jwks_refresh_seconds: 1,
        ..AuthSettings::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_from_a_url_follow_rotation_with_bounded_fetches() {
    let provider = Provider::default();
    provider.publish(&["ed-2026-11"]);
    let provider_base = serve(
        Router::new()
            .route("/.well-known/jwks.json", get(jwks))
            .with_state(provider.clone()),
    )
    .await;
    let settings = settings(format!("{provider_base}/.well-known/jwks.json"));
    settings.check().unwrap();
    // A key set URL is not read by the synchronous path.
    assert!(settings.verifier().is_err());

    let metrics = HttpMetrics::new().unwrap();
    let auth = settings.load(metrics.registry()).await.unwrap();
    assert_eq!(provider.fetches(), 1, "fetched once at start");
    let app = layers::apply(
        Router::new().route("/private", get(|| async { "ok" })),
        StandardLayers {
            metrics: metrics.clone(),
            auth,
            request_timeout: Duration::from_secs(5),
        },
    );
    let base = serve(app).await;
    let http = reqwest::Client::new();

    let ed = token("ed-2026-11");
    let ec = token("ec-2026-11");
    assert_eq!(status(&http, &base, &ed).await.0, 200);

    // The provider publishes the EC key. Within the interval of the start fetch an unknown
    // kid does not fetch; a flood of made-up kids after it costs one fetch.
    provider.publish(&["ed-2026-11", "ec-2026-11"]);
    let (code, body) = status(&http, &base, &ec).await;
    assert_eq!(
        (code, body["error_type"].as_str()),
        (401, Some("unknown_key"))
    );
    assert_eq!(provider.fetches(), 1);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let flood: Vec<_> = (0..40)
        .map(|i| {
            let http = http.clone();
            let base = base.clone();
            tokio::spawn(async move {
                status(&http, &base, &token(&format!("made-up-{i}")))
                    .await
                    .0
            })
        })
        .collect();
    for request in flood {
        assert_eq!(request.await.unwrap(), 401);
    }
    assert_eq!(provider.fetches(), 2, "forty unknown kids, one fetch");
    // That fetch brought the EC key.
    assert_eq!(status(&http, &base, &ec).await.0, 200);
    assert_eq!(provider.fetches(), 2);

    // The EdDSA key is withdrawn; once the set is fetched again (the next unknown kid past the
    // interval) the token verified before, and cached, is refused.
    provider.publish(&["ec-2026-11"]);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(status(&http, &base, &token("next-key")).await.0, 401);
    assert_eq!(provider.fetches(), 3);
    assert_eq!(status(&http, &base, &ed).await.0, 401);
    assert_eq!(status(&http, &base, &ec).await.0, 200);

    // The provider fails: the current keys stay, and the failure is counted.
    provider
        .failing
        .store(true, std::sync::atomic::Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(status(&http, &base, &token("another-key")).await.0, 401);
    assert_eq!(provider.fetches(), 4);
    assert_eq!(status(&http, &base, &ec).await.0, 200);
    let scrape = metrics.render().unwrap();
    assert!(
        scrape.contains("velocast_jwks_fetches_total{outcome=\"ok\"} 3"),
        "{scrape}"
    );
    assert!(
        scrape.contains("velocast_jwks_fetches_total{outcome=\"failed\"} 1"),
        "{scrape}"
    );
}

#[tokio::test]
async fn a_provider_that_cannot_be_read_at_start_is_a_clear_start_error() {
    let provider = Provider::default();
    provider.failing.store(true, Ordering::SeqCst);
    let base = serve(
        Router::new()
            .route("/jwks", get(jwks))
            .with_state(provider.clone()),
    )
    .await;
    let metrics = HttpMetrics::new().unwrap();
    let error = settings(format!("{base}/jwks"))
        .load(metrics.registry())
        .await
        .unwrap_err();
    assert!(error.contains("500"), "{error}");
    // Form is checked without fetching: a non-HTTP URL, and two sources at once.
    assert!(settings("file:///etc/jwks.json".into()).check().is_err());
    let both = AuthSettings {
        jwks_file: Some("/tmp/jwks.json".into()),
        ..settings(format!("{base}/jwks"))
    };
    assert!(both.check().unwrap_err().contains("not several"));
}
