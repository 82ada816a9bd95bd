//! Every way a token can be good or bad, with real signatures.

// Test code: a failed unwrap is a failed test, with the reason in the panic message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use velocast_auth::{AuthError, Claims, KeyError, Minter, Scope, Verifier, parse_ttl};

const SECRET: &str = "a-development-secret-of-at-least-32-bytes";
const JWKS: &str = include_str!("fixtures/jwks.json");

fn secret(text: &str) -> SecretString {
    SecretString::from(text.to_owned())
}

fn scopes(list: &[&str]) -> Vec<Scope> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn minter() -> Minter {
    Minter::hs256(&secret(SECRET), "velocast", "velocast").unwrap()
}

fn verifier() -> Verifier {
    Verifier::hs256(&secret(SECRET), "velocast", "velocast").unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(scope: &str) -> Claims {
    Claims {
        sub: "alice".into(),
        iss: "velocast".into(),
        aud: "velocast".into(),
        exp: now() + 600,
        nbf: Some(now()),
        iat: now(),
        scope: scope.into(),
    }
}

#[test]
fn a_minted_token_verifies_with_its_subject_and_scopes() {
    let token = minter()
        .mint(
            "alice",
            &scopes(&["models:read", "models:write"]),
            Duration::from_secs(60),
        )
        .unwrap();
    let principal = verifier()
        .verify_header(Some(&format!("Bearer {token}")))
        .unwrap();
    assert_eq!(principal.subject, "alice");
    assert!(principal.has("models:read") && principal.has("models:write"));
    principal.require(Scope::MODELS_READ).unwrap();
    let denied = principal.require(Scope::MODELS_ADMIN).unwrap_err();
    assert!(denied.is_forbidden());
    assert_eq!(
        denied,
        AuthError::MissingScope {
            required: "models:admin".into()
        }
    );
}

#[test]
fn missing_and_malformed_headers_are_401s() {
    let v = verifier();
    assert_eq!(v.verify_header(None), Err(AuthError::MissingToken));
    assert_eq!(
        v.verify_header(Some("Basic abc")),
        Err(AuthError::Malformed)
    );
    assert_eq!(v.verify_header(Some("Bearer")), Err(AuthError::Malformed));
    assert_eq!(
        v.verify_header(Some("Bearer not.a.jwt")),
        Err(AuthError::Malformed)
    );
    for error in [
        AuthError::MissingToken,
        AuthError::Malformed,
        AuthError::Expired,
    ] {
        assert!(!error.is_forbidden());
    }
}

#[test]
fn expired_and_not_yet_valid_tokens_are_refused() {
    let old = SystemTime::now() - Duration::from_secs(3600);
    let expired = minter()
        .mint_at("alice", &[], Duration::from_secs(60), old)
        .unwrap();
    assert_eq!(verifier().verify(&expired), Err(AuthError::Expired));
    let later = SystemTime::now() + Duration::from_secs(3600);
    let future = minter()
        .mint_at("alice", &[], Duration::from_secs(60), later)
        .unwrap();
    assert_eq!(verifier().verify(&future), Err(AuthError::NotYetValid));
}

#[test]
fn wrong_secret_issuer_or_audience_are_refused() {
    let token = minter()
        .mint("alice", &[], Duration::from_secs(60))
        .unwrap();
    let other_secret = Verifier::hs256(
        &secret("another-secret-that-is-32-bytes-long!"),
        "velocast",
        "velocast",
    )
    .unwrap();
    assert_eq!(other_secret.verify(&token), Err(AuthError::BadSignature));
    let other_issuer = Verifier::hs256(&secret(SECRET), "someone-else", "velocast").unwrap();
    assert_eq!(other_issuer.verify(&token), Err(AuthError::WrongIssuer));
    let other_audience = Verifier::hs256(&secret(SECRET), "velocast", "gateway").unwrap();
    assert_eq!(other_audience.verify(&token), Err(AuthError::WrongAudience));
}

/// Signs any JSON payload with the development secret.
fn signed(payload: &serde_json::Value) -> String {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        payload,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[test]
fn nbf_is_optional_but_checked_when_present() {
    // Most identity providers omit `nbf`; RFC 7519 makes it optional.
    let without_nbf = serde_json::json!({
        "sub": "alice", "iss": "velocast", "aud": "velocast", "exp": now() + 600,
        "scope": "predict",
    });
    let principal = verifier().verify(&signed(&without_nbf)).unwrap();
    assert!(principal.has("predict"));
    let mut future = without_nbf.clone();
    future["nbf"] = (now() + 3600).into();
    assert_eq!(
        verifier().verify(&signed(&future)),
        Err(AuthError::NotYetValid)
    );
    let mut mistyped = without_nbf;
    mistyped["nbf"] = "tomorrow".into();
    assert_eq!(
        verifier().verify(&signed(&mistyped)),
        Err(AuthError::InvalidClaim {
            claim: "nbf".into()
        })
    );
}

#[test]
fn a_missing_required_claim_is_named() {
    let full = serde_json::json!({
        "sub": "alice", "iss": "velocast", "aud": "velocast", "exp": now() + 600,
    });
    for claim in ["exp", "iss", "aud", "sub"] {
        let mut payload = full.clone();
        payload.as_object_mut().unwrap().remove(claim);
        let error = verifier().verify(&signed(&payload)).unwrap_err();
        assert_eq!(
            error,
            AuthError::MissingClaim {
                claim: claim.into()
            },
            "{claim}"
        );
        assert_eq!(error.code(), "missing_claim");
        assert_eq!(error.claim(), Some(claim));
        assert!(error.to_string().contains(&format!("`{claim}`")), "{error}");
        assert!(!error.is_forbidden());
    }
}

#[test]
fn an_audience_list_is_accepted_when_it_names_us() {
    let payload = serde_json::json!({
        "sub": "alice", "iss": "velocast", "aud": ["other", "velocast"], "exp": now() + 600,
    });
    assert!(verifier().verify(&signed(&payload)).is_ok());
    let payload = serde_json::json!({
        "sub": "alice", "iss": "velocast", "aud": ["other"], "exp": now() + 600,
    });
    assert_eq!(
        verifier().verify(&signed(&payload)),
        Err(AuthError::WrongAudience)
    );
}

#[test]
fn oversized_tokens_are_refused_before_decoding() {
    // A header of 400 KB used to be parsed; now anything past the limit is refused unread,
    // even when it would otherwise be a valid token.
    let payload = serde_json::json!({
        "sub": "alice", "iss": "velocast", "aud": "velocast", "exp": now() + 600,
        "padding": "x".repeat(velocast_auth::MAX_TOKEN_BYTES),
    });
    let token = signed(&payload);
    assert!(token.len() > velocast_auth::MAX_TOKEN_BYTES);
    assert_eq!(verifier().verify(&token), Err(AuthError::TooLarge));
    let header = format!("Bearer {}", "a".repeat(400_000));
    assert_eq!(
        verifier().verify_header(Some(&header)),
        Err(AuthError::TooLarge)
    );
    // Just under the limit is decoded as usual.
    let payload = serde_json::json!({
        "sub": "alice", "iss": "velocast", "aud": "velocast", "exp": now() + 600,
        "padding": "x".repeat(4000),
    });
    assert!(verifier().verify(&signed(&payload)).is_ok());
}

#[test]
fn a_tampered_payload_fails_the_signature() {
    let token = minter()
        .mint("alice", &scopes(&["models:read"]), Duration::from_secs(60))
        .unwrap();
    let forged = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("models:admin"),
        &EncodingKey::from_secret(b"guessed-secret-guessed-secret-guessed"),
    )
    .unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let forged_parts: Vec<&str> = forged.split('.').collect();
    let spliced = format!("{}.{}.{}", parts[0], forged_parts[1], parts[2]);
    assert_eq!(verifier().verify(&spliced), Err(AuthError::BadSignature));
}

#[test]
fn invalid_scopes_in_a_token_make_it_malformed() {
    let token = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims("models:read DROP TABLE"),
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(verifier().verify(&token), Err(AuthError::Malformed));
}

#[test]
fn jwks_keys_verify_by_kid_and_refuse_the_wrong_key_or_algorithm() {
    let verifier = Verifier::jwks(JWKS, "velocast", "velocast").unwrap();
    for (kid, algorithm, key) in [
        (
            "ed-2026-11",
            Algorithm::EdDSA,
            EncodingKey::from_ed_pem(include_bytes!("fixtures/ed25519.pem")).unwrap(),
        ),
        (
            "ec-2026-11",
            Algorithm::ES256,
            EncodingKey::from_ec_pem(include_bytes!("fixtures/es256.pem")).unwrap(),
        ),
    ] {
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.into());
        let token = jsonwebtoken::encode(&header, &claims("predict"), &key).unwrap();
        let principal = verifier.verify(&token).unwrap();
        assert!(principal.has("predict"), "{kid}");

        // Signed by the right key but announced under the other kid: signature check fails.
        let other = if kid == "ed-2026-11" {
            "ec-2026-11"
        } else {
            "ed-2026-11"
        };
        header.kid = Some(other.into());
        let misfiled = jsonwebtoken::encode(&header, &claims("predict"), &key).unwrap();
        assert_eq!(verifier.verify(&misfiled), Err(AuthError::Algorithm));
    }
    // Unknown or absent kid.
    let mut header = Header::new(Algorithm::EdDSA);
    let key = EncodingKey::from_ed_pem(include_bytes!("fixtures/ed25519.pem")).unwrap();
    assert_eq!(
        verifier.verify(&jsonwebtoken::encode(&header, &claims(""), &key).unwrap()),
        Err(AuthError::UnknownKey)
    );
    header.kid = Some("retired-key".into());
    assert_eq!(
        verifier.verify(&jsonwebtoken::encode(&header, &claims(""), &key).unwrap()),
        Err(AuthError::UnknownKey)
    );
    // An HS256 token signed with public material is refused outright (algorithm confusion).
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("ed-2026-11".into());
    let confused = jsonwebtoken::encode(
        &header,
        &claims("models:admin"),
        &EncodingKey::from_secret(b"VAVE67wMfxDpMc-NAHhRAid261tAmyFbKK5sK2aY23U"),
    )
    .unwrap();
    assert_eq!(verifier.verify(&confused), Err(AuthError::Algorithm));
}

#[test]
fn verifier_configuration_errors_are_found_at_start() {
    assert!(matches!(
        Verifier::hs256(&secret("short"), "velocast", "velocast"),
        Err(KeyError::ShortSecret)
    ));
    assert!(matches!(
        Verifier::hs256(&secret(SECRET), "", "velocast"),
        Err(KeyError::EmptyClaim)
    ));
    assert!(matches!(
        Verifier::jwks("{\"keys\": []}", "velocast", "velocast"),
        Err(KeyError::Jwks(_))
    ));
    assert!(matches!(
        Verifier::jwks("not json", "velocast", "velocast"),
        Err(KeyError::Jwks(_))
    ));
    let symmetric = r#"{"keys":[{"kty":"oct","k":"c2VjcmV0","kid":"k1","alg":"HS256"}]}"#;
    assert!(matches!(
        Verifier::jwks(symmetric, "velocast", "velocast"),
        Err(KeyError::Key { .. })
    ));
    // Keys never appear in Debug output.
    let debug = format!("{:?} {:?}", verifier(), minter());
    assert!(!debug.contains(SECRET), "{debug}");
}

#[test]
fn ttl_parsing() {
    assert_eq!(parse_ttl("90s"), Ok(Duration::from_secs(90)));
    assert_eq!(parse_ttl("30m"), Ok(Duration::from_secs(1800)));
    assert_eq!(parse_ttl("12h"), Ok(Duration::from_secs(43_200)));
    assert_eq!(parse_ttl("7d"), Ok(Duration::from_secs(604_800)));
    for bad in ["", "h", "10", "10w", "0m", "-5m", "99999999999999999999d"] {
        assert!(parse_ttl(bad).is_err(), "{bad}");
    }
}

proptest::proptest! {
    #[test]
    fn scope_parser_accepts_exactly_lowercase_words_joined_by_colons(text in "[a-zA-Z0-9_: -]{0,20}") {
        let valid = !text.is_empty()
            && text.split(':').all(|w| w.chars().next().is_some_and(|c| c.is_ascii_lowercase())
                && w.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
        proptest::prop_assert_eq!(text.parse::<Scope>().is_ok(), valid);
    }
}

#[test]
fn a_cached_token_still_expires_and_a_tampered_copy_still_fails() {
    use std::time::{Duration, SystemTime};
    let secret = SecretString::from("cache-test-secret-cache-test-secret-0000");
    let minter = Minter::hs256(&secret, "velocast", "velocast").unwrap();
    let verifier = Verifier::hs256(&secret, "velocast", "velocast").unwrap();
    let scopes = [Scope::PREDICT.parse::<Scope>().unwrap()];
    // Issued so that it expires within a second from now (whole seconds): 7.5 s later it is past
    // its expiry plus the 5 s leeway.
    let issued = SystemTime::now() - Duration::from_secs(59);
    let token = minter
        .mint_at("alice", &scopes, Duration::from_secs(60), issued)
        .unwrap();
    assert_eq!(verifier.verify(&token).unwrap().subject, "alice");
    // From the cache now; a copy with one changed signature byte is not the cached token.
    assert_eq!(verifier.verify(&token).unwrap().subject, "alice");
    let mut tampered = token.clone().into_bytes();
    let last = tampered.len() - 2;
    tampered[last] = if tampered[last] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).unwrap();
    assert!(verifier.verify(&tampered).is_err());
    std::thread::sleep(Duration::from_millis(7_500));
    assert_eq!(verifier.verify(&token), Err(AuthError::Expired));
}

/// The fixture key set with only the key named `kid`.
fn jwks_with_only(kid: &str) -> String {
    let mut set: serde_json::Value = serde_json::from_str(JWKS).unwrap();
    set["keys"]
        .as_array_mut()
        .unwrap()
        .retain(|key| key["kid"] == kid);
    set.to_string()
}

#[test]
fn a_replaced_key_set_admits_new_keys_and_drops_removed_ones_even_from_the_cache() {
    let ed = EncodingKey::from_ed_pem(include_bytes!("fixtures/ed25519.pem")).unwrap();
    let ec = EncodingKey::from_ec_pem(include_bytes!("fixtures/es256.pem")).unwrap();
    let token = |kid: &str, algorithm, key: &EncodingKey| {
        let mut header = Header::new(algorithm);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, &claims("predict"), key).unwrap()
    };
    let ed_token = token("ed-2026-11", Algorithm::EdDSA, &ed);
    let ec_token = token("ec-2026-11", Algorithm::ES256, &ec);

    let verifier = Verifier::jwks(&jwks_with_only("ed-2026-11"), "velocast", "velocast").unwrap();
    assert!(verifier.uses_jwks());
    verifier.verify(&ed_token).unwrap(); // now cached
    assert_eq!(verifier.verify(&ec_token), Err(AuthError::UnknownKey));

    // Rotation: the EC key arrives and the EdDSA key leaves.
    assert_eq!(
        verifier
            .replace_jwks(&jwks_with_only("ec-2026-11"))
            .unwrap(),
        1
    );
    verifier.verify(&ec_token).unwrap();
    assert_eq!(verifier.verify(&ed_token), Err(AuthError::UnknownKey));

    // A broken or empty document changes nothing.
    assert!(verifier.replace_jwks("not json").is_err());
    assert!(verifier.replace_jwks("{\"keys\": []}").is_err());
    verifier.verify(&ec_token).unwrap();
    assert_eq!(verifier.verify(&ed_token), Err(AuthError::UnknownKey));

    // A shared-secret verifier has no key set to replace.
    assert!(self::verifier().replace_jwks(JWKS).is_err());
}

#[test]
fn plain_claims_are_kept_on_the_principal_and_registered_ones_are_not() {
    let long = "x".repeat(velocast_auth::MAX_KEPT_CLAIM_BYTES + 1);
    let token = signed(&serde_json::json!({
        "sub": "alice", "iss": "velocast", "aud": "velocast", "exp": now() + 600,
        "iat": now(), "jti": "j-1", "scope": "predict",
        "tenant": "acme", "tier": 2, "beta": true, "groups": ["a"], "ratio": 0.5, "note": long,
    }));
    let principal = verifier().verify(&token).unwrap();
    let kept: Vec<(&str, &str)> = principal
        .claims
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(kept, [("beta", "true"), ("tenant", "acme"), ("tier", "2")]);
    assert_eq!(principal.claim("tenant"), Some("acme"));
    assert_eq!(principal.claim("sub"), Some("alice"));
    assert_eq!(principal.claim("plan"), None);
    // The cached copy carries them too.
    assert_eq!(verifier().verify(&token).unwrap().claim("tier"), Some("2"));
}
