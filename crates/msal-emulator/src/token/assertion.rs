//! Client assertions (`private_key_jwt`, RFC 7523) verified as Entra does:
//! the RS256 or PS256 signature against the app's registered certificate
//! named by `x5t` / `x5t#S256` (or, for subject name / issuer apps, the
//! `x5c` leaf when its chain leads to a trusted issuer), `aud` = this token
//! endpoint, `iss` = `sub` = the client id, `exp`/`nbf` with clock skew, and
//! `jti` reuse.
//!
//! Replay: MSAL (every flavour) reuses one assertion for up to ten minutes,
//! and Entra accepts that, so presenting the *same* assertion again is not a
//! replay. A *different* assertion carrying a `jti` already seen for the
//! client is: it is rejected until the first one's `exp` passes.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use aws_lc_rs::digest::{SHA1_FOR_LEGACY_USE_ONLY, SHA256, digest};
use aws_lc_rs::signature::{self, UnparsedPublicKey};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::Value;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::time::ASN1Time;

use crate::clock::entra_time;
use crate::directory::App;
use crate::error::EntraError;

/// The only `client_assertion_type` Entra accepts.
pub(crate) const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// Clock skew allowed on `exp` and `nbf` (Entra allows five minutes).
const SKEW_SECS: u64 = 300;

/// The DER of a PEM text holding exactly one certificate, or why not.
pub(crate) fn parse_certificate_pem(pem: &str) -> Result<Vec<u8>, String> {
    let (_, block) = x509_parser::pem::parse_x509_pem(pem.as_bytes())
        .map_err(|e| format!("not a PEM certificate: {e}"))?;
    if block.label != "CERTIFICATE" {
        return Err(format!("expected a CERTIFICATE block, found '{}'", block.label));
    }
    X509Certificate::from_der(&block.contents).map_err(|e| format!("not an X.509 certificate: {e}"))?;
    Ok(block.contents)
}

/// `jti`s seen per client, with the assertion that carried each, until the
/// assertion expires.
#[derive(Debug, Default)]
pub(crate) struct SeenAssertions {
    seen: Mutex<HashMap<(String, String), Seen>>,
}

#[derive(Debug)]
struct Seen {
    forget_after: u64,
    digest: Vec<u8>,
}

impl SeenAssertions {
    /// Records `jti` for `client_id`; `false` if another assertion used it.
    fn record(&self, client_id: &str, jti: &str, assertion: &str, exp: u64, now: u64) -> bool {
        let digest = digest(&SHA256, assertion.as_bytes()).as_ref().to_vec();
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.retain(|_, s| s.forget_after > now);
        let key = (client_id.to_owned(), jti.to_owned());
        match seen.get(&key) {
            Some(earlier) => earlier.digest == digest,
            None => {
                let forget_after = exp.saturating_add(SKEW_SECS);
                seen.insert(key, Seen { forget_after, digest });
                true
            }
        }
    }
}

/// What the verifier needs to know about the request.
pub(crate) struct Check<'a> {
    /// The emulator's "now", Unix seconds.
    pub(crate) now: u64,
    /// Whether an `aud` value names the token endpoint the request reached.
    pub(crate) audience_ok: &'a dyn Fn(&str) -> bool,
    /// `jti`s seen so far.
    pub(crate) seen: &'a SeenAssertions,
}

/// Verifies `assertion` as `app`'s credential.
pub(crate) fn verify(check: &Check<'_>, app: &App, assertion: &str) -> Result<(), EntraError> {
    let malformed = |detail: &str| EntraError::client_assertion_malformed(detail);
    let mut parts = assertion.split('.');
    let (Some(header_b64), Some(payload_b64), Some(signature_b64), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(malformed("It is not a compact JWS (three dot-separated parts)."));
    };
    let header = decode_json(header_b64).ok_or_else(|| malformed("Its header is not base64url JSON."))?;
    let claims = decode_json(payload_b64).ok_or_else(|| malformed("Its payload is not base64url JSON."))?;
    let signature = URL_SAFE_NO_PAD
        .decode(signature_b64)
        .map_err(|_| malformed("Its signature is not base64url."))?;

    let algorithm: &'static dyn signature::VerificationAlgorithm = match header["alg"].as_str() {
        Some("RS256") => &signature::RSA_PKCS1_2048_8192_SHA256,
        Some("PS256") => &signature::RSA_PSS_2048_8192_SHA256,
        Some(other) => {
            return Err(EntraError::client_assertion_signature(&format!(
                "The signing algorithm '{other}' is not supported; use RS256 or PS256."
            )));
        }
        None => return Err(malformed("Its header has no 'alg'.")),
    };
    let certificate = signing_certificate(check, app, &header)?;
    let (_, parsed) = X509Certificate::from_der(&certificate)
        .map_err(|_| EntraError::client_assertion_signature("The signing certificate cannot be read."))?;
    let public_key = parsed.public_key().subject_public_key.data.as_ref();
    let signing_input = &assertion[..header_b64.len() + 1 + payload_b64.len()];
    UnparsedPublicKey::new(algorithm, public_key)
        .verify(signing_input.as_bytes(), &signature)
        .map_err(|_| {
            EntraError::client_assertion_signature("Client assertion contains an invalid signature.")
        })?;

    // Claims, checked only once the signature shows who wrote them.
    let claim = |name: &str| claims.get(name).and_then(Value::as_str);
    if claim("iss") != Some(app.client_id.as_str()) || claim("sub") != Some(app.client_id.as_str()) {
        return Err(EntraError::client_assertion_subject());
    }
    let audiences: Vec<&str> = match &claims["aud"] {
        Value::String(aud) => vec![aud.as_str()],
        Value::Array(values) => values.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    if audiences.len() > 1 {
        return Err(EntraError::client_assertion_audience_count(audiences.len()));
    }
    match audiences.first() {
        Some(aud) if (check.audience_ok)(aud) => {}
        other => {
            return Err(EntraError::client_assertion_audience(
                other.copied().unwrap_or(""),
            ));
        }
    }
    let exp = numeric_date(&claims["exp"]).ok_or_else(|| malformed("It has no numeric 'exp' claim."))?;
    let nbf = claims.get("nbf").and_then(numeric_date);
    if check.now > exp.saturating_add(SKEW_SECS)
        || nbf.is_some_and(|nbf| nbf > check.now.saturating_add(SKEW_SECS))
    {
        return Err(EntraError::client_assertion_time(
            &entra_time(check.now),
            &entra_time(nbf.unwrap_or(0)),
            &entra_time(exp),
        ));
    }
    let jti = claim("jti")
        .filter(|j| !j.is_empty())
        .ok_or_else(|| malformed("It has no 'jti' claim."))?;
    if !check.seen.record(&app.client_id, jti, assertion, exp, check.now) {
        return Err(EntraError::client_assertion_replayed(jti));
    }
    Ok(())
}

/// The certificate the assertion says it was signed with: a registered one
/// named by thumbprint, else the `x5c` leaf if it chains to a trusted issuer.
fn signing_certificate(check: &Check<'_>, app: &App, header: &Value) -> Result<Vec<u8>, EntraError> {
    // MSAL Python pads its thumbprints (`urlsafe_b64encode`); Entra accepts both.
    let thumbprint = |name: &str| {
        header[name]
            .as_str()
            .and_then(|t| URL_SAFE_NO_PAD.decode(t.trim_end_matches('=')).ok())
    };
    let (sha1, sha256) = (thumbprint("x5t"), thumbprint("x5t#S256"));
    let named = |der: &[u8]| {
        sha256
            .as_ref()
            .map(|t| digest(&SHA256, der).as_ref() == t.as_slice())
            .or_else(|| {
                sha1.as_ref()
                    .map(|t| digest(&SHA1_FOR_LEGACY_USE_ONLY, der).as_ref() == t.as_slice())
            })
            .unwrap_or(false)
    };
    for pem in &app.certificates {
        if let Ok(der) = parse_certificate_pem(pem)
            && named(&der)
        {
            return Ok(der);
        }
    }
    // Subject name / issuer authentication.
    let chain: Vec<Vec<u8>> = match header["x5c"].as_array() {
        Some(x5c) if !app.trusted_certificate_issuers.is_empty() => x5c
            .iter()
            // MSAL Python sends the PEM bodies, line breaks included.
            .map(|c| {
                c.as_str().and_then(|c| {
                    let compact: String = c.chars().filter(|ch| !ch.is_ascii_whitespace()).collect();
                    STANDARD.decode(compact).ok()
                })
            })
            .collect::<Option<_>>()
            .ok_or_else(|| {
                EntraError::client_assertion_malformed("Its 'x5c' is not a list of base64 certificates.")
            })?,
        _ => Vec::new(),
    };
    if let Some(leaf) = chain.first()
        && (sha1.is_none() && sha256.is_none() || named(leaf))
        && chains_to_trusted_issuer(check.now, app, &chain)
    {
        return Ok(leaf.clone());
    }
    let thumbprint = header["x5t#S256"]
        .as_str()
        .or_else(|| header["x5t"].as_str())
        .unwrap_or("");
    Err(EntraError::client_assertion_key_not_found(
        &app.client_id,
        thumbprint,
    ))
}

/// Whether every certificate of `chain` is in date and signed by the next,
/// and the last is a trusted issuer or signed by one.
fn chains_to_trusted_issuer(now: u64, app: &App, chain: &[Vec<u8>]) -> bool {
    let Ok(now) = ASN1Time::from_timestamp(i64::try_from(now).unwrap_or(i64::MAX)) else {
        return false;
    };
    let Some(parsed) = chain
        .iter()
        .map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
        .collect::<Option<Vec<_>>>()
    else {
        return false;
    };
    if parsed.iter().any(|c| !c.validity().is_valid_at(now)) {
        return false;
    }
    for pair in parsed.windows(2) {
        if pair[0].verify_signature(Some(pair[1].public_key())).is_err() {
            return false;
        }
    }
    let Some(last) = parsed.last() else {
        return false;
    };
    app.trusted_certificate_issuers.iter().any(|pem| {
        let Ok(der) = parse_certificate_pem(pem) else {
            return false;
        };
        let Ok((_, issuer)) = X509Certificate::from_der(&der) else {
            return false;
        };
        issuer.validity().is_valid_at(now)
            && (der == chain[chain.len() - 1] || last.verify_signature(Some(issuer.public_key())).is_ok())
    })
}

/// A JWT NumericDate: whole or fractional seconds (PyJWT, and so MSAL
/// Python, sends `time.time()` floats), truncated.
fn numeric_date(value: &Value) -> Option<u64> {
    value.as_u64().or_else(|| {
        value
            .as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

fn decode_json(part: &str) -> Option<Value> {
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    value.is_object().then_some(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin;
    use aws_lc_rs::rand::SystemRandom;
    use aws_lc_rs::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, PKCS_RSA_SHA256, RsaKeySize};
    use serde_json::json;

    const AUD: &str = "https://127.0.0.1:1/contoso/oauth2/v2.0/token";
    const NOW: u64 = 2_000_000_000;

    fn daemon() -> App {
        crate::Directory::builtin()
            .apps
            .into_iter()
            .find(|a| a.client_id == builtin::DAEMON_CLIENT_ID)
            .unwrap()
    }

    fn rsa(pem: &str) -> RsaKeyPair {
        RsaKeyPair::from_pkcs8(&KeyPair::from_pem(pem).unwrap().serialize_der()).unwrap()
    }

    fn sign(key: &RsaKeyPair, header: Value, claims: Value) -> String {
        let enc = |v: &Value| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        let input = format!("{}.{}", enc(&header), enc(&claims));
        let padding = if header["alg"] == "PS256" {
            &RSA_PSS_SHA256
        } else {
            &RSA_PKCS1_SHA256
        };
        let mut sig = vec![0; key.public_modulus_len()];
        key.sign(padding, &SystemRandom::new(), input.as_bytes(), &mut sig)
            .unwrap();
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
    }

    fn claims(jti: &str) -> Value {
        let id = builtin::DAEMON_CLIENT_ID;
        json!({"aud": AUD, "iss": id, "sub": id, "iat": NOW, "nbf": NOW, "exp": NOW + 600, "jti": jti})
    }

    fn cert_der() -> Vec<u8> {
        parse_certificate_pem(builtin::DAEMON_CERTIFICATE_PEM).unwrap()
    }

    fn rs256_header() -> Value {
        json!({"alg": "RS256", "typ": "JWT",
               "x5t": URL_SAFE_NO_PAD.encode(digest(&SHA1_FOR_LEGACY_USE_ONLY, &cert_der()))})
    }

    fn ps256_header() -> Value {
        json!({"alg": "PS256", "typ": "JWT", "x5t#S256": URL_SAFE_NO_PAD.encode(digest(&SHA256, &cert_der()))})
    }

    fn run(app: &App, seen: &SeenAssertions, now: u64, jwt: &str) -> Result<(), u32> {
        let audience_ok = |aud: &str| aud == AUD;
        let check = Check {
            now,
            audience_ok: &audience_ok,
            seen,
        };
        verify(&check, app, jwt).map_err(|e| e.code)
    }

    #[test]
    fn accepts_rs256_and_ps256_from_the_registered_certificate() {
        let (app, seen, key) = (
            daemon(),
            SeenAssertions::default(),
            rsa(builtin::DAEMON_PRIVATE_KEY_PEM),
        );
        let rs = sign(&key, rs256_header(), claims("a"));
        assert_eq!(run(&app, &seen, NOW, &rs), Ok(()));
        assert_eq!(
            run(&app, &seen, NOW, &sign(&key, ps256_header(), claims("b"))),
            Ok(())
        );
        // PyJWT (MSAL Python) sends float times and padded thumbprints.
        let mut floats = claims("f");
        floats["exp"] = json!(NOW as f64 + 600.25);
        let mut padded = rs256_header();
        padded["x5t"] = json!(format!("{}=", padded["x5t"].as_str().unwrap()));
        assert_eq!(run(&app, &seen, NOW, &sign(&key, padded, floats)), Ok(()));
        // MSAL reuses one assertion: the same one again is fine...
        assert_eq!(run(&app, &seen, NOW + 10, &rs), Ok(()));
        // ...another assertion with a used jti is a replay, until it expires.
        let mut again = claims("a");
        again["iat"] = json!(NOW + 1);
        assert_eq!(
            run(&app, &seen, NOW + 10, &sign(&key, rs256_header(), again.clone())),
            Err(700027)
        );
        again["exp"] = json!(NOW + 2000);
        assert_eq!(
            run(&app, &seen, NOW + 1000, &sign(&key, rs256_header(), again)),
            Ok(())
        );
    }

    #[test]
    fn rejects_bad_signatures_audiences_subjects_times_and_garbage() {
        let (app, seen, key) = (
            daemon(),
            SeenAssertions::default(),
            rsa(builtin::DAEMON_PRIVATE_KEY_PEM),
        );
        let other = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap();
        let other = rsa(&other.serialize_pem());
        assert_eq!(
            run(&app, &seen, NOW, &sign(&other, ps256_header(), claims("1"))),
            Err(700027)
        );
        let unknown = json!({"alg": "RS256", "x5t": URL_SAFE_NO_PAD.encode([7u8; 20])});
        assert_eq!(
            run(&app, &seen, NOW, &sign(&key, unknown, claims("2"))),
            Err(700027)
        );
        let mut c = claims("3");
        c["aud"] = json!("https://127.0.0.1:1/fabrikam/oauth2/v2.0/token");
        assert_eq!(run(&app, &seen, NOW, &sign(&key, ps256_header(), c)), Err(700023));
        let mut c = claims("4");
        c["aud"] = json!([AUD, AUD]);
        assert_eq!(
            run(&app, &seen, NOW, &sign(&key, ps256_header(), c)),
            Err(5002741)
        );
        let mut c = claims("5");
        c["sub"] = json!("someone-else");
        assert_eq!(run(&app, &seen, NOW, &sign(&key, ps256_header(), c)), Err(700021));
        let jwt = sign(&key, ps256_header(), claims("6"));
        assert_eq!(run(&app, &seen, NOW + 600 + SKEW_SECS + 1, &jwt), Err(700024));
        assert_eq!(run(&app, &seen, NOW - SKEW_SECS - 1, &jwt), Err(700024));
        let mut c = claims("");
        c.as_object_mut().unwrap().remove("jti");
        assert_eq!(run(&app, &seen, NOW, &sign(&key, ps256_header(), c)), Err(50027));
        assert_eq!(run(&app, &seen, NOW, "a.b"), Err(50027));
        let none = json!({"alg": "none", "x5t#S256": ps256_header()["x5t#S256"]});
        assert_eq!(run(&app, &seen, NOW, &sign(&key, none, claims("7"))), Err(700027));
    }

    #[test]
    fn accepts_x5c_chains_from_trusted_issuers_only() {
        let ca_key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap();
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let ca = ca_params.self_signed(&ca_key).unwrap();
        let issuer = Issuer::new(ca_params, ca_key);
        let leaf_key = KeyPair::generate_rsa_for(&PKCS_RSA_SHA256, RsaKeySize::_2048).unwrap();
        let leaf = CertificateParams::new(vec!["daemon.contoso.com".into()])
            .unwrap()
            .signed_by(&leaf_key, &issuer)
            .unwrap();
        let header = json!({"alg": "PS256",
            "x5t#S256": URL_SAFE_NO_PAD.encode(digest(&SHA256, leaf.der())),
            "x5c": [STANDARD.encode(leaf.der()), STANDARD.encode(ca.der())]});
        let jwt = sign(&rsa(&leaf_key.serialize_pem()), header, claims("x"));
        let seen = SeenAssertions::default();
        let mut app = daemon();
        assert_eq!(run(&app, &seen, NOW, &jwt), Err(700027), "no trusted issuer yet");
        app.trusted_certificate_issuers = vec![ca.pem()];
        assert_eq!(run(&app, &seen, NOW, &jwt), Ok(()));
        // A chain whose leaf is not signed by the next certificate fails.
        let forged =
            json!({"alg": "PS256", "x5c": [STANDARD.encode(leaf.der()), STANDARD.encode(cert_der())]});
        let jwt = sign(&rsa(&leaf_key.serialize_pem()), forged, claims("y"));
        assert_eq!(run(&app, &seen, NOW, &jwt), Err(700027));
    }
}
