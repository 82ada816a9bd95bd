//! JWT bearer tokens for every Velocast service (DESIGN decision 9).
//!
//! - [`Verifier`] checks a token's signature (HS256 with a shared secret for development, or
//!   RS256 / ES256 / EdDSA with public keys from a JWKS, chosen by `kid` so keys rotate), its
//!   `exp`, `nbf`, `iss` and `aud`, and returns the [`Principal`]: subject and scopes.
//! - [`Principal::require`] checks one scope. [`AuthError::is_forbidden`] tells a missing scope
//!   (403) from a missing or bad token (401); services map that in one place.
//! - [`Minter`] issues HS256 development tokens (`velocast token`).
//!
//! No HTTP here: services pass the `Authorization` header value in.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{Jwk, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Shortest accepted HS256 secret: RFC 7518 §3.2 asks for a key at least as long as the hash.
pub const MIN_SECRET_BYTES: usize = 32;
/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 5;
/// Longest bearer token accepted. Real tokens are well under 2 KiB; anything this large is
/// refused before a byte of it is decoded, so a client cannot make us parse megabytes of JSON.
pub const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// Claims every token must carry (RFC 7519 makes them all optional; we do not). `nbf` is not
/// among them: most identity providers omit it, so it is checked only when present.
pub const REQUIRED_CLAIMS: [&str; 4] = ["exp", "iss", "aud", "sub"];

/// A permission such as `models:read`: lowercase words joined by `:`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Scope(String);

impl Scope {
    pub const PREDICT: &'static str = "predict";
    pub const EXPLAIN: &'static str = "explain";
    pub const MODELS_READ: &'static str = "models:read";
    pub const MODELS_WRITE: &'static str = "models:write";
    pub const MODELS_ADMIN: &'static str = "models:admin";
    pub const MONITOR_READ: &'static str = "monitor:read";
    pub const MONITOR_WRITE: &'static str = "monitor:write";

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Debug, Error, PartialEq, Eq)]
#[error("invalid scope `{0}`: use lowercase words of a-z, 0-9 and _ joined by `:`")]
pub struct InvalidScope(pub String);

impl FromStr for Scope {
    type Err = InvalidScope;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let word_ok = |w: &str| {
            w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && w.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        };
        if !text.is_empty() && text.len() <= 64 && text.split(':').all(word_ok) {
            Ok(Scope(text.to_owned()))
        } else {
            Err(InvalidScope(text.to_owned()))
        }
    }
}

impl TryFrom<String> for Scope {
    type Error = InvalidScope;
    fn try_from(text: String) -> Result<Self, Self::Error> {
        text.parse()
    }
}

impl From<Scope> for String {
    fn from(scope: Scope) -> Self {
        scope.0
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The claims Velocast issues. `scope` is space-separated, as in OAuth 2.0. `nbf` is optional
/// (RFC 7519 §4.1.5): a token without it is valid from its issue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iss: String,
    pub aud: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub iat: u64,
    #[serde(default)]
    pub scope: String,
}

/// What verification reads from a token beyond the registered claims, which `jsonwebtoken`
/// checks itself (so `aud` may be a string or an array, as identity providers send it).
#[derive(Debug, Deserialize)]
struct VerifiedClaims {
    /// Optional here only so that its absence is reported by name rather than as a
    /// deserialization failure (`jsonwebtoken` deserializes before it checks required claims).
    #[serde(default)]
    sub: Option<String>,
    #[serde(default)]
    scope: String,
    /// Read again for the verified-token cache, which applies the same time rules (optional
    /// here for the same reason as `sub`; jsonwebtoken requires `exp`).
    /// Any JSON: jsonwebtoken names a claim of the wrong type itself.
    #[serde(default)]
    exp: Option<serde_json::Value>,
    #[serde(default)]
    nbf: Option<serde_json::Value>,
    /// Every other claim; the plain ones are kept on the [`Principal`] (quotas by claim).
    #[serde(flatten)]
    other: BTreeMap<String, serde_json::Value>,
}

/// Claims jsonwebtoken or [`Principal`] already account for; never copied into
/// [`Principal::claims`].
const REGISTERED_CLAIMS: [&str; 8] = ["iss", "aud", "exp", "nbf", "iat", "jti", "sub", "scope"];

/// Longest claim value kept on a principal.
pub const MAX_KEPT_CLAIM_BYTES: usize = 256;

/// The plain claims of a token (strings up to [`MAX_KEPT_CLAIM_BYTES`], integers, booleans,
/// as text) other than the registered ones: what services may key quotas or routing on.
fn plain_claims(other: BTreeMap<String, serde_json::Value>) -> BTreeMap<String, String> {
    other
        .into_iter()
        .filter(|(name, _)| !REGISTERED_CLAIMS.contains(&name.as_str()))
        .filter_map(|(name, value)| {
            let text = match value {
                serde_json::Value::String(text) => text,
                serde_json::Value::Bool(flag) => flag.to_string(),
                serde_json::Value::Number(number) if number.is_i64() || number.is_u64() => {
                    number.to_string()
                }
                _ => return None,
            };
            (text.len() <= MAX_KEPT_CLAIM_BYTES).then_some((name, text))
        })
        .collect()
}

/// Who is calling and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub subject: String,
    pub scopes: BTreeSet<Scope>,
    /// The token's other plain claims (`tenant`, `plan`, …), shared: a principal is cloned
    /// per request.
    pub claims: Arc<BTreeMap<String, String>>,
}

impl Principal {
    /// A principal with no claims beyond subject and scopes.
    pub fn new(subject: impl Into<String>, scopes: BTreeSet<Scope>) -> Self {
        Principal {
            subject: subject.into(),
            scopes,
            claims: Arc::default(),
        }
    }

    /// The value of a claim kept from the token (see [`Principal::claims`]); `sub` is the
    /// subject.
    pub fn claim(&self, name: &str) -> Option<&str> {
        if name == "sub" {
            Some(&self.subject)
        } else {
            self.claims.get(name).map(String::as_str)
        }
    }

    pub fn has(&self, scope: &str) -> bool {
        self.scopes.iter().any(|s| s.as_str() == scope)
    }

    /// `Ok` when the principal holds `scope`, else [`AuthError::MissingScope`] (a 403).
    pub fn require(&self, scope: &str) -> Result<(), AuthError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(AuthError::MissingScope {
                required: scope.to_owned(),
            })
        }
    }
}

/// Why a request is not authorized. Messages are safe to return to the caller.
#[derive(Debug, Clone, Error, PartialEq, Eq)]
pub enum AuthError {
    #[error("missing bearer token")]
    MissingToken,
    #[error("malformed authorization header or token")]
    Malformed,
    #[error("bearer token longer than {MAX_TOKEN_BYTES} bytes")]
    TooLarge,
    #[error("token lacks the required claim `{claim}`")]
    MissingClaim { claim: String },
    #[error("token claim `{claim}` has the wrong type")]
    InvalidClaim { claim: String },
    #[error("token expired")]
    Expired,
    #[error("token not valid yet")]
    NotYetValid,
    #[error("token signature is invalid")]
    BadSignature,
    #[error("token issuer is not accepted")]
    WrongIssuer,
    #[error("token audience is not accepted")]
    WrongAudience,
    #[error("token key id is unknown")]
    UnknownKey,
    #[error("token algorithm is not accepted")]
    Algorithm,
    #[error("token lacks scope `{required}`")]
    MissingScope { required: String },
}

impl AuthError {
    /// The caller is known but may not do this (403); every other case is a 401.
    pub fn is_forbidden(&self) -> bool {
        matches!(self, AuthError::MissingScope { .. })
    }

    /// The claim at fault, when one is (for the error body's `field`).
    pub fn claim(&self) -> Option<&str> {
        match self {
            AuthError::MissingClaim { claim } | AuthError::InvalidClaim { claim } => Some(claim),
            AuthError::Expired => Some("exp"),
            AuthError::NotYetValid => Some("nbf"),
            AuthError::WrongIssuer => Some("iss"),
            AuthError::WrongAudience => Some("aud"),
            AuthError::UnknownKey => Some("kid"),
            AuthError::Algorithm => Some("alg"),
            AuthError::MissingToken
            | AuthError::Malformed
            | AuthError::TooLarge
            | AuthError::BadSignature
            | AuthError::MissingScope { .. } => None,
        }
    }

    /// Stable snake_case code for error bodies and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            AuthError::MissingToken => "missing_token",
            AuthError::Malformed => "malformed_token",
            AuthError::TooLarge => "token_too_large",
            AuthError::MissingClaim { .. } => "missing_claim",
            AuthError::InvalidClaim { .. } => "invalid_claim",
            AuthError::Expired => "token_expired",
            AuthError::NotYetValid => "token_not_yet_valid",
            AuthError::BadSignature => "bad_signature",
            AuthError::WrongIssuer => "wrong_issuer",
            AuthError::WrongAudience => "wrong_audience",
            AuthError::UnknownKey => "unknown_key",
            AuthError::Algorithm => "algorithm_not_accepted",
            AuthError::MissingScope { .. } => "missing_scope",
        }
    }
}

/// Problems with the verifier's own configuration (found at start, never per request).
#[derive(Debug, Error)]
pub enum KeyError {
    #[error("the HS256 secret must be at least {MIN_SECRET_BYTES} bytes")]
    ShortSecret,
    #[error("JWKS: {0}")]
    Jwks(String),
    #[error("JWKS key `{kid}`: {message}")]
    Key { kid: String, message: String },
    #[error("issuer and audience must not be empty")]
    EmptyClaim,
}

/// (kid, algorithm, key) from a JWKS.
type JwksKeys = Arc<[(String, Algorithm, DecodingKey)]>;

enum Keys {
    Hs256(DecodingKey),
    /// Replaced whole when the key set is fetched again ([`Verifier::replace_jwks`]).
    Jwks(RwLock<JwksKeys>),
}

/// Verifies bearer tokens for one issuer and audience.
pub struct Verifier {
    keys: Keys,
    issuer: String,
    audience: String,
    cache: TokenCache,
}

/// Tokens already verified, so a client sending the same token with every request pays for
/// its signature once. Direct-mapped (a token's slot is fixed by a keyed hash of its full text,
/// so a colliding token only evicts), bounded, and a hit is the whole token byte for byte (its
/// signature included): nothing a token does not already prove is taken on trust. A hit still
/// applies the expiry and not-before rules with the same leeway as a full verification.
struct TokenCache {
    slots: Vec<std::sync::Mutex<Option<Verified>>>,
    hasher: std::collections::hash_map::RandomState,
}

struct Verified {
    token: Box<str>,
    principal: Principal,
    exp: u64,
    nbf: Option<u64>,
}

/// Slots in the verified-token cache.
pub const TOKEN_CACHE_SLOTS: usize = 4096;

/// Seconds since the epoch; `None` for a clock set before it (the cache is then not used).
fn now_seconds() -> Option<u64> {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .map(|d| d.as_secs())
}

/// jsonwebtoken's time rules, as `Verifier::verify` configures them.
fn in_time(exp: u64, nbf: Option<u64>, now: u64) -> bool {
    exp >= now.saturating_sub(LEEWAY_SECONDS) && nbf.is_none_or(|nbf| nbf <= now + LEEWAY_SECONDS)
}

impl TokenCache {
    fn new() -> Self {
        TokenCache {
            slots: (0..TOKEN_CACHE_SLOTS)
                .map(|_| std::sync::Mutex::new(None))
                .collect(),
            hasher: std::collections::hash_map::RandomState::new(),
        }
    }

    fn slot(&self, token: &str) -> &std::sync::Mutex<Option<Verified>> {
        use std::hash::BuildHasher;
        let index = (self.hasher.hash_one(token) as usize) % self.slots.len();
        &self.slots[index]
    }

    fn get(&self, token: &str, now: u64) -> Option<Principal> {
        let slot = self.slot(token).lock().ok()?;
        slot.as_ref()
            .filter(|v| &*v.token == token && in_time(v.exp, v.nbf, now))
            .map(|v| v.principal.clone())
    }

    /// Forgets every token: after a key set changes, a token signed by a key no longer in it
    /// must stop verifying at once.
    fn clear(&self) {
        for slot in &self.slots {
            if let Ok(mut slot) = slot.lock() {
                *slot = None;
            }
        }
    }

    fn put(&self, token: &str, principal: &Principal, exp: u64, nbf: Option<u64>) {
        if let Ok(mut slot) = self.slot(token).lock() {
            *slot = Some(Verified {
                token: token.into(),
                principal: principal.clone(),
                exp,
                nbf,
            });
        }
    }
}

impl fmt::Debug for Verifier {
    // Keys are never printed.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let keys = match &self.keys {
            Keys::Hs256(_) => "hs256".to_owned(),
            Keys::Jwks(list) => format!(
                "jwks({} keys)",
                list.read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .len()
            ),
        };
        f.debug_struct("Verifier")
            .field("keys", &keys)
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish()
    }
}

fn check_names(issuer: &str, audience: &str) -> Result<(), KeyError> {
    if issuer.is_empty() || audience.is_empty() {
        Err(KeyError::EmptyClaim)
    } else {
        Ok(())
    }
}

/// The HS256 secret's bytes, once the names and the secret's length are acceptable.
fn hs256_secret<'a>(
    secret: &'a SecretString,
    issuer: &str,
    audience: &str,
) -> Result<&'a [u8], KeyError> {
    check_names(issuer, audience)?;
    let bytes = secret.expose_secret().as_bytes();
    if bytes.len() < MIN_SECRET_BYTES {
        return Err(KeyError::ShortSecret);
    }
    Ok(bytes)
}

impl Verifier {
    /// A shared-secret verifier for development (`VELOCAST_JWT_SECRET`).
    pub fn hs256(secret: &SecretString, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let bytes = hs256_secret(secret, issuer, audience)?;
        Ok(Verifier {
            keys: Keys::Hs256(DecodingKey::from_secret(bytes)),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            cache: TokenCache::new(),
        })
    }

    /// A public-key verifier from a JWKS document (JSON). Each key needs a `kid` and an `alg` of
    /// RS256, ES256 or EdDSA; symmetric keys are refused, so a public key can never be used as an
    /// HMAC secret (algorithm confusion).
    pub fn jwks(document: &str, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        check_names(issuer, audience)?;
        let keys = parse_jwks(document)?;
        Ok(Verifier {
            keys: Keys::Jwks(RwLock::new(keys)),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
            cache: TokenCache::new(),
        })
    }

    /// Replaces the key set of a JWKS verifier with a freshly fetched document, returning how
    /// many keys it holds. A document that does not parse, or holds no acceptable key, changes
    /// nothing. Tokens verified before are verified again (a removed key stops at once).
    pub fn replace_jwks(&self, document: &str) -> Result<usize, KeyError> {
        let Keys::Jwks(current) = &self.keys else {
            return Err(KeyError::Jwks(
                "this verifier uses a shared secret, not a key set".into(),
            ));
        };
        let keys = parse_jwks(document)?;
        let count = keys.len();
        let mut current = current
            .write()
            // Replaced whole, never edited in place: a poisoned lock still holds a whole set.
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *current = keys;
        drop(current);
        // Always: a key re-published under the same kid with new material must not leave
        // tokens of the old material verified. Fetches are rare, re-verifying is cheap.
        self.cache.clear();
        Ok(count)
    }

    /// Whether keys come from a key set (and [`Verifier::replace_jwks`] applies).
    pub fn uses_jwks(&self) -> bool {
        matches!(self.keys, Keys::Jwks(_))
    }

    /// Verifies the value of an `Authorization` header (`Bearer <token>`).
    pub fn verify_header(&self, header: Option<&str>) -> Result<Principal, AuthError> {
        let header = header.ok_or(AuthError::MissingToken)?;
        if header.len() > MAX_TOKEN_BYTES + 64 {
            return Err(AuthError::TooLarge);
        }
        let (scheme, token) = header.trim().split_once(' ').ok_or(AuthError::Malformed)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(AuthError::Malformed);
        }
        self.verify(token.trim())
    }

    /// Verifies a bare token (a token verified before, and still in time, is answered from the
    /// verified-token cache).
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(AuthError::TooLarge);
        }
        if let Some(principal) = now_seconds().and_then(|now| self.cache.get(token, now)) {
            return Ok(principal);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Malformed)?;
        // The key set is shared, not borrowed, so a refresh can replace it meanwhile.
        let jwks: JwksKeys;
        let (algorithm, key) = match &self.keys {
            Keys::Hs256(key) => (Algorithm::HS256, key),
            Keys::Jwks(keys) => {
                let kid = header.kid.as_deref().ok_or(AuthError::UnknownKey)?;
                jwks = keys
                    .read()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .clone();
                let (_, algorithm, key) = jwks
                    .iter()
                    .find(|(k, _, _)| k == kid)
                    .ok_or(AuthError::UnknownKey)?;
                (*algorithm, key)
            }
        };
        if header.alg != algorithm {
            return Err(AuthError::Algorithm);
        }
        let mut validation = Validation::new(algorithm);
        validation.leeway = LEEWAY_SECONDS;
        validation.validate_nbf = true;
        validation.set_issuer(&[&self.issuer]);
        validation.set_audience(&[&self.audience]);
        validation.set_required_spec_claims(&REQUIRED_CLAIMS);
        let data =
            jsonwebtoken::decode::<VerifiedClaims>(token, key, &validation).map_err(|e| match e
                .kind()
            {
                ErrorKind::MissingRequiredClaim(claim) => AuthError::MissingClaim {
                    claim: claim.clone(),
                },
                ErrorKind::InvalidClaimFormat(claim) => AuthError::InvalidClaim {
                    claim: claim.clone(),
                },
                ErrorKind::ExpiredSignature => AuthError::Expired,
                ErrorKind::ImmatureSignature => AuthError::NotYetValid,
                ErrorKind::InvalidSignature => AuthError::BadSignature,
                ErrorKind::InvalidIssuer => AuthError::WrongIssuer,
                ErrorKind::InvalidAudience => AuthError::WrongAudience,
                ErrorKind::InvalidAlgorithm => AuthError::Algorithm,
                _ => AuthError::Malformed,
            })?;
        let scopes = data
            .claims
            .scope
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<BTreeSet<Scope>, _>>()
            .map_err(|_| AuthError::Malformed)?;
        let subject = data.claims.sub.ok_or_else(|| AuthError::MissingClaim {
            claim: "sub".to_owned(),
        })?;
        if subject.is_empty() {
            return Err(AuthError::Malformed);
        }
        let principal = Principal {
            subject,
            scopes,
            claims: Arc::new(plain_claims(data.claims.other)),
        };
        let nbf = data.claims.nbf.as_ref().and_then(serde_json::Value::as_u64);
        if let Some(exp) = data.claims.exp.as_ref().and_then(serde_json::Value::as_u64) {
            self.cache.put(token, &principal, exp, nbf);
        }
        Ok(principal)
    }
}

/// The acceptable keys of a JWKS document; none at all is an error.
fn parse_jwks(document: &str) -> Result<JwksKeys, KeyError> {
    let set: JwkSet = serde_json::from_str(document).map_err(|e| KeyError::Jwks(e.to_string()))?;
    if set.keys.is_empty() {
        return Err(KeyError::Jwks("no keys".into()));
    }
    let keys = set
        .keys
        .iter()
        .map(jwks_key)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(keys.into())
}

fn jwks_key(jwk: &Jwk) -> Result<(String, Algorithm, DecodingKey), KeyError> {
    let kid = jwk
        .common
        .key_id
        .clone()
        .ok_or_else(|| KeyError::Jwks("every key needs a `kid`".into()))?;
    let error = |message: String| KeyError::Key {
        kid: kid.clone(),
        message,
    };
    let algorithm = jwk
        .common
        .key_algorithm
        .and_then(|a| Algorithm::from_str(&a.to_string()).ok())
        .ok_or_else(|| error("needs an `alg`".into()))?;
    if !matches!(
        algorithm,
        Algorithm::RS256 | Algorithm::ES256 | Algorithm::EdDSA
    ) {
        return Err(error(format!(
            "algorithm {algorithm:?} is not accepted (RS256, ES256, EdDSA)"
        )));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|e| error(e.to_string()))?;
    Ok((kid, algorithm, key))
}

/// Issues HS256 development tokens.
pub struct Minter {
    key: EncodingKey,
    issuer: String,
    audience: String,
}

impl fmt::Debug for Minter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Minter")
            .field("issuer", &self.issuer)
            .field("audience", &self.audience)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Error)]
pub enum MintError {
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("the subject must not be empty")]
    EmptySubject,
    #[error("cannot sign the token: {0}")]
    Sign(String),
}

impl Minter {
    pub fn hs256(secret: &SecretString, issuer: &str, audience: &str) -> Result<Self, KeyError> {
        let bytes = hs256_secret(secret, issuer, audience)?;
        Ok(Minter {
            key: EncodingKey::from_secret(bytes),
            issuer: issuer.to_owned(),
            audience: audience.to_owned(),
        })
    }

    /// A token for `subject` with `scopes`, valid from now for `ttl`.
    pub fn mint(
        &self,
        subject: &str,
        scopes: &[Scope],
        ttl: Duration,
    ) -> Result<String, MintError> {
        self.mint_at(subject, scopes, ttl, SystemTime::now())
    }

    /// As [`Minter::mint`], at a given time (tests, tokens valid in the future).
    pub fn mint_at(
        &self,
        subject: &str,
        scopes: &[Scope],
        ttl: Duration,
        now: SystemTime,
    ) -> Result<String, MintError> {
        if subject.is_empty() {
            return Err(MintError::EmptySubject);
        }
        let now = now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let scope: Vec<&str> = scopes.iter().map(Scope::as_str).collect();
        let claims = Claims {
            sub: subject.to_owned(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
            exp: now.saturating_add(ttl.as_secs()),
            nbf: Some(now),
            iat: now,
            scope: scope.join(" "),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.key)
            .map_err(|e| MintError::Sign(e.to_string()))
    }
}

/// Parses a duration such as `90s`, `30m`, `12h`, `7d` (one number, one unit).
pub fn parse_ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number
        .parse()
        .map_err(|_| format!("`{text}`: expected a number then s, m, h or d"))?;
    let seconds = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => return Err(format!("`{text}`: the unit must be s, m, h or d")),
    };
    if value == 0 {
        return Err(format!("`{text}`: must be longer than zero"));
    }
    value
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{text}`: too long"))
}
