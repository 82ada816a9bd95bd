//! A JWKS fetched from the identity provider's URL, kept fresh the way key rotation needs.
//!
//! - At start the key set is fetched once; a service that cannot fetch it does not start (it
//!   could verify nothing).
//! - A token naming a `kid` the set lacks may be signed by a key published since: the set is
//!   fetched again, at most once per `min_interval` however many such tokens arrive (a flood
//!   of made-up kids costs the provider one request per interval), and concurrent callers wait
//!   for the one fetch in flight instead of starting their own.
//! - A set older than `max_age` is fetched again in the background, so a key the provider
//!   withdrew stops verifying within that bound even when no unknown kid ever shows up.
//!
//! A fetch that fails, or brings a document with no acceptable key, leaves the current keys in
//! place; it is logged and counted (`velocast_jwks_fetches_total{outcome}`).

use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus::{IntCounterVec, Opts, Registry};
use velocast_auth::Verifier;

/// Largest key set document read (real ones are a few KiB).
const MAX_DOCUMENT_BYTES: usize = 1024 * 1024;

/// How the key set is kept fresh.
#[derive(Debug, Clone, Copy)]
pub struct JwksTiming {
    /// Unknown kids trigger at most one fetch per this interval.
    pub min_interval: Duration,
    /// A set this old is fetched again in the background.
    pub max_age: Duration,
    /// Time allowed for one fetch.
    pub timeout: Duration,
}

/// The identity provider's key set URL and when it was last fetched.
#[derive(Debug)]
pub struct JwksSource {
    url: reqwest::Url,
    client: reqwest::Client,
    timing: JwksTiming,
    /// When the last fetch was attempted (success or not).
    last_attempt: std::sync::Mutex<Instant>,
    /// When the keys were last replaced from a good document.
    last_success: std::sync::Mutex<Instant>,
    /// One fetch at a time.
    in_flight: Arc<tokio::sync::Mutex<()>>,
    fetches: IntCounterVec,
}

impl JwksSource {
    /// Fetches the key set once and builds the verifier from it; counters go to `registry`.
    pub async fn start(
        url: &str,
        issuer: &str,
        audience: &str,
        timing: JwksTiming,
        registry: &Registry,
    ) -> Result<(Verifier, Arc<JwksSource>), String> {
        let url = parse_url(url)?;
        let client = reqwest::Client::builder()
            .timeout(timing.timeout)
            .build()
            .map_err(|e| format!("jwks_url: {e}"))?;
        let fetches = IntCounterVec::new(
            Opts::new(
                "velocast_jwks_fetches_total",
                "Fetches of the identity provider's key set, by outcome (ok, failed)",
            ),
            &["outcome"],
        )
        .map_err(|e| e.to_string())?;
        registry
            .register(Box::new(fetches.clone()))
            .map_err(|e| e.to_string())?;
        let now = Instant::now();
        let source = JwksSource {
            url,
            client,
            timing,
            last_attempt: std::sync::Mutex::new(now),
            last_success: std::sync::Mutex::new(now),
            in_flight: Arc::new(tokio::sync::Mutex::new(())),
            fetches,
        };
        let document = source.fetch().await.inspect_err(|_| source.count(false))?;
        let verifier = Verifier::jwks(&document, issuer, audience)
            .map_err(|e| format!("jwks_url {}: {e}", source.url))
            .inspect_err(|_| source.count(false))?;
        source.count(true);
        Ok((verifier, Arc::new(source)))
    }

    fn count(&self, ok: bool) {
        self.fetches
            .with_label_values(&[if ok { "ok" } else { "failed" }])
            .inc();
    }

    async fn fetch(&self) -> Result<String, String> {
        let failed = |e: &dyn std::fmt::Display| format!("jwks_url {}: {e}", self.url);
        let response = self
            .client
            .get(self.url.clone())
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| failed(&e))?;
        if !response.status().is_success() {
            return Err(failed(&format!("answered {}", response.status())));
        }
        if response
            .content_length()
            .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
        {
            return Err(failed(&"the document exceeds 1 MiB"));
        }
        let bytes = response.bytes().await.map_err(|e| failed(&e))?;
        if bytes.len() > MAX_DOCUMENT_BYTES {
            return Err(failed(&"the document exceeds 1 MiB"));
        }
        String::from_utf8(bytes.to_vec()).map_err(|_| failed(&"the document is not UTF-8"))
    }

    /// Fetches again and replaces the verifier's keys, unless another fetch started within
    /// `min_interval` (then its result stands). True when the keys may have changed since the
    /// caller last looked, so verifying again is worth it.
    pub async fn refresh_after_unknown_kid(&self, verifier: &Verifier) -> bool {
        let asked = Instant::now();
        let _one_at_a_time = self.in_flight.lock().await;
        let last = self.last_attempt();
        if last >= asked {
            // A fetch finished while this caller waited: its keys are the newest there are.
            return true;
        }
        if asked.duration_since(last) < self.timing.min_interval {
            return false;
        }
        self.refresh(verifier).await
    }

    /// Starts a background fetch when the keys are older than `max_age` (and none is running).
    pub fn refresh_if_stale(self: &Arc<Self>, verifier: &Arc<Verifier>) {
        let since_attempt = self.last_attempt().elapsed();
        let since_success = lock(&self.last_success).elapsed();
        // Stale, and not retried within the unknown-kid interval (a provider that is down is
        // not asked on every request).
        if since_success < self.timing.max_age || since_attempt < self.timing.min_interval {
            return;
        }
        let Ok(guard) = Arc::clone(&self.in_flight).try_lock_owned() else {
            return;
        };
        let source = Arc::clone(self);
        let verifier = Arc::clone(verifier);
        tokio::spawn(async move {
            let _guard = guard;
            source.refresh(&verifier).await;
        });
    }

    fn last_attempt(&self) -> Instant {
        *lock(&self.last_attempt)
    }

    /// One fetch, with the in-flight lock held by the caller.
    async fn refresh(&self, verifier: &Verifier) -> bool {
        let outcome = self.fetch().await.and_then(|document| {
            verifier
                .replace_jwks(&document)
                .map_err(|e| format!("jwks_url {}: {e}", self.url))
        });
        let now = Instant::now();
        *lock(&self.last_attempt) = now;
        match outcome {
            Ok(keys) => {
                *lock(&self.last_success) = now;
                self.count(true);
                tracing::info!(url = %self.url, keys, "key set fetched");
                true
            }
            Err(error) => {
                self.count(false);
                tracing::warn!(%error, "key set not fetched; the current keys stay");
                false
            }
        }
    }
}

/// A timestamp's lock. Poisoning needs a panic while it is held, and nothing that can panic
/// runs under it; the `Instant` inside is whole either way, so it is used as it is.
fn lock(cell: &std::sync::Mutex<Instant>) -> std::sync::MutexGuard<'_, Instant> {
    cell.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// An `http` or `https` URL (plain `http` only for a provider on this host or in the cluster,
/// which is the operator's call; the scheme is checked, not the network).
pub fn parse_url(text: &str) -> Result<reqwest::Url, String> {
    let url = reqwest::Url::parse(text).map_err(|e| format!("jwks_url `{text}`: {e}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "jwks_url `{text}`: must be an http(s) URL with a host"
        ));
    }
    Ok(url)
}
