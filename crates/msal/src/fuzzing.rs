//! Entry points for the fuzz targets in `fuzz/` (feature `fuzzing`, never
//! on in a normal build): each feeds untrusted input to one parser the way
//! the library meets it (a cache file, an identity provider's answer, a
//! redirect to the loopback port, ...) and checks the invariants that must
//! hold whatever the input. A panic here is a bug the fuzzer found.

use std::collections::HashMap;

use crate::cache::{AccessTokenQuery, TokenCache};
use crate::error::{ManagedIdentitySource, ServiceError};
use crate::managed_identity::ManagedIdentity;
use crate::oauth2::{self, TokenResponse};

/// A cache file: loads or is refused, and once loaded, lookups, the cached
/// result and a save/load round trip work, with the same number of tokens.
pub fn cache_file(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let cache = TokenCache::new();
    if cache.deserialize(text).is_err() {
        return;
    }
    exercise(&cache);
}

/// An access token entry whose fields take any value the fuzzer picks.
#[derive(Debug, arbitrary::Arbitrary)]
pub struct AccessTokenFields {
    /// `client_id`.
    pub client_id: String,
    /// `realm`.
    pub realm: String,
    /// `target` (space-separated scopes).
    pub target: String,
    /// `expires_on`, epoch seconds.
    pub expires_on: u64,
    /// `extended_expires_on`.
    pub extended_expires_on: u64,
    /// `refresh_on`, when present.
    pub refresh_on: Option<u64>,
    /// Times written as JSON numbers rather than strings.
    pub times_as_numbers: bool,
}

/// A cache built from entries whose fields (times, scopes, keys) take
/// hostile values: structure-aware, where byte-level fuzzing of JSON rarely
/// reaches a well-formed entry with a huge `expires_on`.
pub fn cache_entries(entries: &[AccessTokenFields], now: u64) {
    let mut tokens = serde_json::Map::new();
    for (i, fields) in entries.iter().enumerate() {
        let AccessTokenFields {
            client_id,
            realm,
            target,
            expires_on,
            extended_expires_on: extended,
            refresh_on,
            times_as_numbers: as_number,
        } = fields;
        let time = |t: u64| {
            if *as_number {
                serde_json::json!(t)
            } else {
                serde_json::json!(t.to_string())
            }
        };
        let mut entry = serde_json::json!({
            "credential_type": "AccessToken", "secret": format!("s{i}"), "home_account_id": null,
            "environment": "localhost", "client_id": client_id, "target": target, "realm": realm,
            "token_type": "Bearer", "cached_at": "0", "expires_on": time(*expires_on),
            "extended_expires_on": time(*extended),
        });
        if let Some(refresh_on) = refresh_on {
            entry["refresh_on"] = time(*refresh_on);
        }
        tokens.insert(format!("k{i}-{client_id}-{realm}-{target}"), entry);
    }
    let json = serde_json::json!({ "AccessToken": tokens }).to_string();
    let cache = TokenCache::new();
    let loaded = cache.deserialize(&json);
    assert!(loaded.is_ok(), "well-formed entries must load: {loaded:?}");
    for AccessTokenFields {
        client_id,
        realm,
        target,
        ..
    } in entries
    {
        let query = AccessTokenQuery {
            home_account_id: None,
            environment: "localhost",
            client_id,
            realm,
        };
        let scopes: Vec<String> = target.split_whitespace().map(str::to_owned).collect();
        if let Some(found) = cache.find_access_token(&query, &scopes, now) {
            let result = crate::flows::cached_result(&found, scopes);
            let _ = result.expires_in();
        }
    }
    exercise(&cache);
}

fn exercise(cache: &TokenCache) {
    let count = cache.access_token_count();
    let _ = cache.account_environments();
    let json = cache.serialize();
    let again = TokenCache::new();
    let reloaded = again.deserialize(&json);
    assert!(reloaded.is_ok(), "a saved cache must load again: {reloaded:?}");
    assert_eq!(again.access_token_count(), count);
}

/// A token endpoint's answer, success or error.
pub fn token_response(data: &[u8]) {
    if let Ok(response) = serde_json::from_slice::<TokenResponse>(data) {
        if let Some(info) = &response.client_info {
            let _ = oauth2::decode_client_info(info);
        }
        if let Some(id_token) = &response.id_token {
            let _ = crate::core::save::id_token_claims(&response);
            let _ = oauth2::decode_jwt_payload(id_token.expose());
        }
    }
    if let Ok(error) = serde_json::from_slice::<ServiceError>(data) {
        let _ = error.to_string();
        let _ = error.requires_interaction();
    }
}

/// A JWT's payload and the claims read from it.
pub fn jwt(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(claims) = oauth2::decode_jwt_payload(text) {
        let claims = crate::result::IdTokenClaims::new(claims);
        let _ = (
            claims.subject(),
            claims.object_id(),
            claims.tenant_id(),
            claims.preferred_username(),
        );
    }
}

/// An authority URL as a user or a configuration gives it.
pub fn authority(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(authority) = crate::authority::Authority::parse(text) {
        let _ = (
            authority.url(),
            authority.kind(),
            authority.tenant(),
            authority.host(),
        );
    }
    let _ = crate::authority::Authority::oidc(text);
}

/// What reaches the loopback port: the request's method, target, content
/// type and body, decided as an authorization response.
pub fn loopback(method: &str, target: &str, content_type: Option<&str>, body: &[u8]) {
    crate::loopback::fuzz_decide(method, target, content_type, body);
}

/// A federation server's metadata (MEX) and WS-Trust response.
pub fn wstrust(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = crate::wstrust::mex::username_password_endpoint(text);
    let _ = crate::wstrust::response::parse(text);
}

/// A `WWW-Authenticate` header: a resource's bearer challenge, and Azure
/// Arc's key-file challenge.
pub fn challenge(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Some(challenge) = crate::challenge::BearerChallenge::parse(text) {
        let _ = challenge.is_claims_challenge();
    }
    let _ = crate::managed_identity::fuzz_arc_challenge(text);
}

/// A certificate credential's PEM or PKCS#12 input.
pub fn certificate(data: &[u8]) {
    if let Ok(text) = std::str::from_utf8(data) {
        // The key and the certificate in one PEM bundle, as files often hold them.
        let _ = crate::credential::ClientCertificate::from_pem(text, text);
    }
    let _ = crate::credential::ClientCertificate::from_pkcs12(
        data,
        &crate::credential::CertificatePassphrase::new(""),
    );
}

/// A managed identity host's answer, for each host and identity kind.
pub fn managed_identity(status: u16, header: Option<&str>, body: &[u8]) {
    for source in ManagedIdentitySource::ALL {
        for identity in [
            ManagedIdentity::SystemAssigned,
            ManagedIdentity::ClientId("c".into()),
            ManagedIdentity::ResourceId("/r".into()),
            ManagedIdentity::ObjectId("o".into()),
        ] {
            let _ = crate::managed_identity::fuzz_answer(source, &identity, status, header, body);
        }
    }
}

/// Parameters of a form or query string, as the loopback listener reads them.
pub fn params(data: &[u8]) -> Option<HashMap<String, String>> {
    crate::loopback::fuzz_params(data)
}
