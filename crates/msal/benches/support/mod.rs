//! Shared by the criterion benches (`benches/*.rs`) and the comparison
//! runner (`examples/bench_peer.rs`, driven by `bench/compare`): one
//! generator of large token caches in the unified schema, laid out as MSAL
//! Python writes them after users sign in to a web app (or, for a
//! middle-tier web API, after it obtained on-behalf-of tokens for them), and
//! an in-memory identity provider behind the public [`HttpClient`] trait, so
//! cache workloads never touch the network.
//!
//! Everything here goes through the library's public API only (the cache is
//! loaded with `TokenCache::deserialize`), so the benches measure whatever
//! the cache's internals are at the time.

#![allow(dead_code)]

use std::time::{SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, Method};
use msal::{Account, ClientSecret, ConfidentialClientApplication, TransportError};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

/// Whether the bench runs as a smoke test rather than to measure: `cargo
/// test --bench NAME` (as scripts/test runs it) passes no `--bench`, and
/// criterion then runs each benchmark once. The benches then use small
/// caches, so CI checks every one of them in seconds in the test profile.
pub fn quick() -> bool {
    !std::env::args().any(|arg| arg == "--bench")
}

/// The tenant every generated entry lives in.
pub const TENANT_ID: &str = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b";
/// The cloud host of every generated entry.
pub const ENVIRONMENT: &str = "login.microsoftonline.com";
/// The confidential web app that signed the users in (and the daemon).
pub const CLIENT_ID: &str = "9b3a6c2e-2f4e-4d6b-9a51-0c7d2e8f1a34";
/// Its client secret (only the fake identity provider sees it).
pub const CLIENT_SECRET: &str = "bench-secret~not-a-real-one";
/// Scopes of every user's access token: requesting both is an exact match.
pub const USER_SCOPES: [&str; 2] = [
    "https://graph.microsoft.com/Mail.Read",
    "https://graph.microsoft.com/User.Read",
];
/// A subset of [`USER_SCOPES`]: served by a token whose target covers it.
pub const SUBSET_SCOPE: &str = "https://graph.microsoft.com/User.Read";
/// The app-only scope of the client credentials workload.
pub const APP_SCOPE: &str = "https://graph.microsoft.com/.default";

/// The tenant-specific authority: the cache location is known without discovery.
pub fn authority() -> String {
    format!("https://{ENVIRONMENT}/{TENANT_ID}")
}

/// Object id of generated user `i`.
pub fn oid(i: usize) -> String {
    format!("00000000-0000-4000-8000-{i:012x}")
}

/// Home account id of generated user `i` (`uid.utid`).
pub fn home_account_id(i: usize) -> String {
    format!("{}.{TENANT_ID}", oid(i))
}

/// Sign-in name of generated user `i`.
pub fn username(i: usize) -> String {
    format!("user{i}@contoso.onmicrosoft.com")
}

/// The account the silent workloads ask for: one in the middle of the
/// cache, so neither an ordered map nor a scan finds it first by luck.
pub fn probe_index(accounts: usize) -> usize {
    accounts / 2
}

/// Seconds since the epoch.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Deterministic filler (splitmix64), so generated caches are byte-identical
/// from run to run while their secrets look like real tokens' random parts.
struct Filler(u64);

impl Filler {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// `len` base64url characters.
    fn text(&mut self, len: usize) -> String {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let mut out = String::with_capacity(len);
        while out.len() < len {
            let mut bits = self.next();
            for _ in 0..10 {
                if out.len() == len {
                    break;
                }
                out.push(ALPHABET[(bits & 63) as usize] as char);
                bits >>= 6;
            }
        }
        out
    }
}

fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// An access token of about 1 KB (a JWT with a signature).
fn access_token_secret(filler: &mut Filler, subject: &str) -> String {
    let header = b64(&json!({"typ": "JWT", "alg": "RS256", "kid": "bench"}));
    let payload = b64(&json!({
        "aud": "https://graph.microsoft.com",
        "iss": format!("https://sts.windows.net/{TENANT_ID}/"),
        "sub": subject,
        "tid": TENANT_ID,
        "scp": "Mail.Read User.Read",
        "xms_pad": filler.text(150),
    }));
    format!("{header}.{payload}.{}", filler.text(342))
}

/// An ID token with the claims Entra v2.0 issues (about 1 KB).
fn id_token_secret(filler: &mut Filler, i: usize, issued: u64) -> String {
    let header = b64(&json!({"typ": "JWT", "alg": "RS256", "kid": "bench"}));
    let payload = b64(&json!({
        "aud": CLIENT_ID,
        "iss": format!("https://{ENVIRONMENT}/{TENANT_ID}/v2.0"),
        "iat": issued,
        "nbf": issued,
        "exp": issued + 3600,
        "name": format!("User {i}"),
        "oid": oid(i),
        "preferred_username": username(i),
        "rh": filler.text(60),
        "sub": filler.text(43),
        "tid": TENANT_ID,
        "uti": filler.text(22),
        "ver": "2.0",
    }));
    format!("{header}.{payload}.{}", filler.text(342))
}

/// A token cache with `accounts` signed-in users of [`CLIENT_ID`], each with
/// an access token (for [`USER_SCOPES`]), a refresh token, an ID token and an
/// account entry, keyed and laid out as MSAL Python 1.39 writes them
/// (`SerializableTokenCache.serialize`: JSON indented by 4). About 4 KB per
/// account: 10,000 accounts are about 40 MB.
pub fn cache_json(accounts: usize) -> String {
    generate(accounts, false)
}

/// The cache of a middle-tier web API ([`CLIENT_ID`] as a confidential
/// client) that obtained on-behalf-of tokens for `accounts` users: the same
/// entries as [`cache_json`], with each user's access and refresh token
/// tagged with the hash of the incoming token it was obtained with
/// ([`incoming_assertion`] of that user), under both names the MSALs that
/// read the cache for on-behalf-of use: `user_assertion_hash` (this library,
/// MSAL .NET and Go) and `userAssertionHash` (MSAL Node). MSAL Python writes
/// neither and never reads the cache for on-behalf-of.
pub fn obo_cache_json(accounts: usize) -> String {
    generate(accounts, true)
}

/// The incoming token user `i` calls the middle-tier API with: a signed
/// JWT-sized access token for the API (about 1.1 KB), deterministic, so
/// every runner hashes the same text.
pub fn incoming_assertion(i: usize) -> String {
    // Seeded apart from the cache's own filler, which the cache size seeds.
    let mut filler = Filler((1_u64 << 40) + i as u64);
    let header = b64(&json!({"typ": "JWT", "alg": "RS256", "kid": "bench"}));
    let payload = b64(&json!({
        "aud": format!("api://{CLIENT_ID}"),
        "iss": format!("https://{ENVIRONMENT}/{TENANT_ID}/v2.0"),
        "oid": oid(i),
        "sub": filler.text(43),
        "tid": TENANT_ID,
        "scp": "access_as_user",
        "azp": "3f5e2c1d-0a9b-4c8d-8e7f-6a5b4c3d2e1f",
        "uti": filler.text(22),
        "xms_pad": filler.text(150),
    }));
    format!("{header}.{payload}.{}", filler.text(342))
}

/// The hash an on-behalf-of token is cached under: SHA-256 of the incoming
/// token, base64url without padding (what MSAL Node's `hashString` and MSAL
/// .NET compute, and this library writes).
pub fn assertion_hash(assertion: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(assertion.as_bytes()))
}

/// [`cache_json`], or with `obo` [`obo_cache_json`].
fn generate(accounts: usize, obo: bool) -> String {
    let issued = now();
    let expires = issued + 30 * 24 * 3600;
    let target = USER_SCOPES.join(" ");
    let mut filler = Filler(accounts as u64);
    let mut ats = Map::new();
    let mut rts = Map::new();
    let mut idts = Map::new();
    let mut accts = Map::new();
    for i in 0..accounts {
        let hid = home_account_id(i);
        let mut at = json!({
            "credential_type": "AccessToken",
            "secret": access_token_secret(&mut filler, &oid(i)),
            "home_account_id": hid,
            "environment": ENVIRONMENT,
            "client_id": CLIENT_ID,
            "target": target,
            "realm": TENANT_ID,
            "token_type": "Bearer",
            "cached_at": issued.to_string(),
            "expires_on": expires.to_string(),
            "extended_expires_on": expires.to_string(),
        });
        let mut rt = json!({
            "credential_type": "RefreshToken",
            "secret": format!("1.AXEA{}", filler.text(500)),
            "home_account_id": hid,
            "environment": ENVIRONMENT,
            "client_id": CLIENT_ID,
            "target": target,
            "last_modification_time": issued.to_string(),
        });
        if obo {
            let hash = Value::String(assertion_hash(&incoming_assertion(i)));
            for entry in [&mut at, &mut rt] {
                entry["user_assertion_hash"] = hash.clone();
                entry["userAssertionHash"] = hash.clone();
            }
        }
        ats.insert(
            format!("{hid}-{ENVIRONMENT}-accesstoken-{CLIENT_ID}-{TENANT_ID}-{target}").to_lowercase(),
            at,
        );
        rts.insert(
            format!("{hid}-{ENVIRONMENT}-refreshtoken-{CLIENT_ID}--{target}").to_lowercase(),
            rt,
        );
        idts.insert(
            format!("{hid}-{ENVIRONMENT}-idtoken-{CLIENT_ID}-{TENANT_ID}-").to_lowercase(),
            json!({
                "credential_type": "IdToken",
                "secret": id_token_secret(&mut filler, i, issued),
                "home_account_id": hid,
                "environment": ENVIRONMENT,
                "realm": TENANT_ID,
                "client_id": CLIENT_ID,
            }),
        );
        accts.insert(
            format!("{hid}-{ENVIRONMENT}-{TENANT_ID}").to_lowercase(),
            json!({
                "home_account_id": hid,
                "environment": ENVIRONMENT,
                "realm": TENANT_ID,
                "local_account_id": oid(i),
                "username": username(i),
                "authority_type": "MSSTS",
                "account_source": "authorization_code",
            }),
        );
    }
    let mut metadata = Map::new();
    metadata.insert(
        format!("appmetadata-{ENVIRONMENT}-{CLIENT_ID}"),
        json!({"client_id": CLIENT_ID, "environment": ENVIRONMENT}),
    );
    let document = json!({
        "AccessToken": ats,
        "RefreshToken": rts,
        "IdToken": idts,
        "Account": accts,
        "AppMetadata": metadata,
    });
    let mut out = Vec::with_capacity(accounts * 4500 + 1024);
    let formatter = serde_json::ser::PrettyFormatter::with_indent(b"    ");
    let mut serializer = serde_json::Serializer::with_formatter(&mut out, formatter);
    serde::Serialize::serialize(&document, &mut serializer).expect("a JSON value serializes into memory");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// The [`Account`] of generated user `i`, as `get_accounts` would return it
/// (built directly, so setting up a silent workload costs no account listing).
pub fn account(i: usize) -> Account {
    serde_json::from_value(json!({
        "home_account_id": home_account_id(i),
        "environment": ENVIRONMENT,
        "username": username(i),
        "local_account_id": oid(i),
        "realm": TENANT_ID,
        "authority_type": "MSSTS",
        "account_source": "authorization_code",
    }))
    .expect("the account fields match msal::Account")
}

/// The body of an app-only token response, as Entra answers the client
/// credentials grant (a Graph-sized access token).
pub fn client_credentials_response() -> String {
    let mut filler = Filler(7);
    json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": access_token_secret(&mut filler, CLIENT_ID),
    })
    .to_string()
}

/// An identity provider in memory: discovery documents for
/// [`authority`], and the same canned client credentials response for every
/// token request. Answers without any I/O, so a workload that reaches it
/// measures the library's own request and response handling.
#[derive(Clone)]
pub struct CannedIdp {
    openid_configuration: String,
    instance_discovery: String,
    token_response: String,
}

impl Default for CannedIdp {
    fn default() -> Self {
        Self::new()
    }
}

impl CannedIdp {
    /// The fake provider with its canned answers.
    pub fn new() -> Self {
        let base = authority();
        Self {
            openid_configuration: json!({
                "token_endpoint": format!("{base}/oauth2/v2.0/token"),
                "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
                "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
                "issuer": format!("{base}/v2.0"),
                "jwks_uri": format!("{base}/discovery/v2.0/keys"),
            })
            .to_string(),
            instance_discovery: json!({
                "tenant_discovery_endpoint": format!("{base}/v2.0/.well-known/openid-configuration"),
                "api-version": "1.1",
                "metadata": [{
                    "preferred_network": ENVIRONMENT,
                    "preferred_cache": ENVIRONMENT,
                    "aliases": [ENVIRONMENT],
                }],
            })
            .to_string(),
            token_response: client_credentials_response(),
        }
    }
}

impl CannedIdp {
    /// The canned answers as JSON strings, for the other libraries' fakes:
    /// `openid_configuration`, `instance_discovery` and `token_response`.
    pub fn bodies(&self) -> Value {
        json!({
            "openid_configuration": self.openid_configuration,
            "instance_discovery": self.instance_discovery,
            "token_response": self.token_response,
        })
    }
}

impl HttpClient for CannedIdp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        let body = match request.method {
            Method::Post => &self.token_response,
            Method::Get if request.url.path().ends_with("/discovery/instance") => &self.instance_discovery,
            Method::Get => &self.openid_configuration,
        };
        let response = HttpResponse::new(
            200,
            vec![("content-type".into(), "application/json".into())],
            body.clone().into_bytes(),
        );
        Box::pin(async move { Ok(response) })
    }
}

/// The web app over `cache`, talking to [`CannedIdp`] only.
pub fn offline_app(cache: &msal::TokenCache) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(CLIENT_ID)
        .authority(&authority())
        .client_secret(ClientSecret::new(CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(CannedIdp::new())
        .build()
        .expect("the bench app's settings are valid")
}
