//! Signed-request proof of possession end to end: PoP tokens from the
//! emulator, requests signed with them verified by its `/resource/pop`, and
//! every kind of misuse refused; bearer and PoP tokens side by side in one
//! cache; MSAL Python reading that cache.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal::pop::{PopKey, SignedHttpRequest, pop_header};
use msal::{ClientCredentialsOptions, ConfidentialClientApplication, TokenCache, TokenSource};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::{client, python, start};
use serde_json::{Value, json};

use crate::common::{GRAPH_DEFAULT, daemon};

fn claims(jwt: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(jwt.split('.').nth(1).unwrap()).unwrap()).unwrap()
}

fn app(emulator: &Emulator, cache: &TokenCache) -> ConfidentialClientApplication {
    daemon(
        emulator,
        builtin::CONTOSO_TENANT_NAME,
        builtin::DAEMON_CLIENT_SECRET,
        cache,
    )
}

/// A PoP token for Graph bound to `key`.
async fn pop_token(app: &ConfidentialClientApplication, key: &PopKey) -> msal::AuthenticationResult {
    let options = ClientCredentialsOptions::default().pop(key.clone());
    app.acquire_token_for_client_with([GRAPH_DEFAULT], &options)
        .await
        .unwrap()
}

/// Sends `method` to `url` with `authorization` and `body`; the status and
/// the resource's `error_description` (or its answer).
async fn send(
    emulator: &Emulator,
    method: &str,
    url: &str,
    authorization: &str,
    body: &[u8],
) -> (u16, Value) {
    let response = client(emulator)
        .unwrap()
        .request(method.parse().unwrap(), url)
        .header("authorization", authorization)
        .body(body.to_vec())
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (
        status,
        serde_json::from_slice(&response.bytes().await.unwrap()).unwrap(),
    )
}

fn refused_because(outcome: &(u16, Value), reason: &str) {
    assert_eq!(outcome.0, 401, "{outcome:?}");
    let description = outcome.1["error_description"].as_str().unwrap_or_default();
    assert!(
        description.contains(reason),
        "{description:?} should say {reason:?}"
    );
}

#[tokio::test]
async fn a_pop_token_signs_requests_the_resource_accepts_once() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = app(&emulator, &cache);
    for key in [PopKey::generate_p256().unwrap(), PopKey::generate_rsa().unwrap()] {
        let result = pop_token(&app, &key).await;
        assert_eq!(result.token_type, "pop");
        let token = result.access_token.expose_secret();
        assert_eq!(
            claims(token)["cnf"],
            json!({"kid": key.key_id()}),
            "bound to the key"
        );

        let url = format!("{}/resource/pop?api-version=2&x=1", emulator.url());
        let header = pop_header(token, &key, "GET", &url).unwrap();
        assert!(header.starts_with("PoP "));
        let accepted = send(&emulator, "GET", &url, &header, b"").await;
        assert_eq!(accepted.0, 200, "{accepted:?}");
        assert_eq!(accepted.1["kid"], key.key_id());
        // The same signed request again: a replay.
        refused_because(&send(&emulator, "GET", &url, &header, b"").await, "replayed");

        // A POST with its body signed.
        let post = format!("{}/resource/pop", emulator.url());
        let body = br#"{"name":"x"}"#;
        let signed = SignedHttpRequest::new("POST", &post)
            .unwrap()
            .body(body)
            .authorization(token, &key)
            .unwrap();
        assert_eq!(send(&emulator, "POST", &post, &signed, body).await.0, 200);

        // The next call is served from the cache: same token, no request.
        let before = emulator.request_count(Endpoint::Token);
        let again = pop_token(&app, &key).await;
        assert_eq!(again.token_source, TokenSource::Cache);
        assert_eq!(again.token_type, "pop");
        assert_eq!(again.access_token, result.access_token);
        assert_eq!(emulator.request_count(Endpoint::Token), before);
    }
}

#[tokio::test]
async fn altered_stale_foreign_and_unbound_requests_are_refused() {
    let emulator = start().await.unwrap();
    let app = app(&emulator, &TokenCache::new());
    let key = PopKey::generate_p256().unwrap();
    let result = pop_token(&app, &key).await;
    let token = result.access_token.expose_secret();
    let url = format!("{}/resource/pop", emulator.url());
    let sign = |method: &str, url: &str| SignedHttpRequest::new(method, url).unwrap();

    // Another method, path, host or query than the one signed.
    let get = sign("GET", &url).authorization(token, &key).unwrap();
    refused_because(&send(&emulator, "POST", &url, &get, b"").await, "method (m)");
    let other_path = sign("GET", &format!("{}/resource/other", emulator.url()))
        .authorization(token, &key)
        .unwrap();
    refused_because(&send(&emulator, "GET", &url, &other_path, b"").await, "path (p)");
    let other_host = sign("GET", &url.replace("127.0.0.1", "localhost"))
        .authorization(token, &key)
        .unwrap();
    refused_because(&send(&emulator, "GET", &url, &other_host, b"").await, "host (u)");
    let queried = sign("GET", &format!("{url}?a=1"))
        .authorization(token, &key)
        .unwrap();
    refused_because(
        &send(&emulator, "GET", &format!("{url}?a=2"), &queried, b"").await,
        "query (q)",
    );
    // Another body than the one hashed, and a body not signed at all.
    let post = sign("POST", &url)
        .body(b"amount=1")
        .authorization(token, &key)
        .unwrap();
    refused_because(
        &send(&emulator, "POST", &url, &post, b"amount=1000").await,
        "body hash (b)",
    );
    let unsigned_body = sign("POST", &url).authorization(token, &key).unwrap();
    refused_because(
        &send(&emulator, "POST", &url, &unsigned_body, b"x").await,
        "no body hash",
    );
    // Stamped ten minutes ago, or ten minutes ahead.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    for ts in [now - 600, now + 600] {
        let stale = sign("GET", &url)
            .timestamp(ts)
            .authorization(token, &key)
            .unwrap();
        refused_because(&send(&emulator, "GET", &url, &stale, b"").await, "window");
    }
    // Signed by another key than the token is bound to.
    let thief = PopKey::generate_p256().unwrap();
    let foreign = sign("GET", &url).authorization(token, &thief).unwrap();
    refused_because(
        &send(&emulator, "GET", &url, &foreign, b"").await,
        "bound to another key",
    );
    // A signature that does not verify: the payload altered after signing.
    let shr = sign("GET", &url).sign(token, &key).unwrap();
    let parts: Vec<&str> = shr.split('.').collect();
    let mut payload = claims(&shr);
    payload["nonce"] = json!("another-nonce");
    let forged = format!(
        "PoP {}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    refused_because(&send(&emulator, "GET", &url, &forged, b"").await, "signature");
    // A bearer token wrapped in an SHR, and a bearer token presented as such.
    let bearer = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let bearer_token = bearer.access_token.expose_secret();
    assert_eq!(bearer.token_type, "Bearer");
    let wrapped = sign("GET", &url).authorization(bearer_token, &key).unwrap();
    refused_because(
        &send(&emulator, "GET", &url, &wrapped, b"").await,
        "not bound to a key",
    );
    let plain = format!("Bearer {bearer_token}");
    refused_because(&send(&emulator, "GET", &url, &plain, b"").await, "requires PoP");
    // After all that, a correct request still passes.
    let good = sign("GET", &url).authorization(token, &key).unwrap();
    assert_eq!(send(&emulator, "GET", &url, &good, b"").await.0, 200);
}

#[tokio::test]
async fn bearer_and_pop_tokens_for_one_scope_coexist_in_the_cache() {
    let emulator = start().await.unwrap();
    let cache = TokenCache::new();
    let app = app(&emulator, &cache);
    let (one, two) = (PopKey::generate_p256().unwrap(), PopKey::generate_p256().unwrap());
    let bearer = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let pop_one = pop_token(&app, &one).await;
    let pop_two = pop_token(&app, &two).await;
    assert_eq!(cache.access_token_count(), 3);
    assert_eq!(emulator.request_count(Endpoint::Token), 3);
    assert_ne!(pop_one.access_token, pop_two.access_token);

    // Each kind of request gets its own token from the cache.
    for _ in 0..2 {
        let b = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
        assert_eq!(
            (b.token_source, b.token_type.as_str()),
            (TokenSource::Cache, "Bearer")
        );
        assert_eq!(b.access_token, bearer.access_token);
        let p1 = pop_token(&app, &one).await;
        assert_eq!(
            (p1.token_source, p1.access_token),
            (TokenSource::Cache, pop_one.access_token.clone())
        );
        let p2 = pop_token(&app, &two).await;
        assert_eq!(
            (p2.token_source, p2.access_token),
            (TokenSource::Cache, pop_two.access_token.clone())
        );
    }
    assert_eq!(emulator.request_count(Endpoint::Token), 3);

    // On disk: the PoP entries under the extended key with their key_id.
    let doc: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let entries = doc["AccessToken"].as_object().unwrap();
    let pop_keys: Vec<&String> = entries.keys().filter(|k| k.contains("-atext-")).collect();
    assert_eq!(pop_keys.len(), 2, "{entries:?}");
    let mut key_ids: Vec<&str> = pop_keys
        .iter()
        .map(|k| {
            assert_eq!(entries[*k]["token_type"], "pop");
            entries[*k]["key_id"].as_str().unwrap()
        })
        .collect();
    key_ids.sort_unstable();
    let mut expected = [one.key_id(), two.key_id()];
    expected.sort_unstable();
    assert_eq!(key_ids, expected);
}

#[tokio::test]
async fn msal_python_never_serves_a_pop_token_as_a_bearer_token() {
    let emulator = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let cache_path = dir.path().join("pop-cache.json");
    let cache = TokenCache::new();
    let key = PopKey::generate_p256().unwrap();
    let pop = pop_token(&app(&emulator, &cache), &key).await;
    cache.save_to_file(&cache_path).unwrap();
    emulator.reset_counts();

    let args = json!({
        "authority": emulator.authority(builtin::CONTOSO_TENANT_NAME),
        "client_id": builtin::DAEMON_CLIENT_ID,
        "scopes": [GRAPH_DEFAULT],
        "cache_path": cache_path,
    });
    let run = || {
        python::run(
            &emulator,
            "client_credentials.py",
            &args,
            Some(builtin::DAEMON_CLIENT_SECRET),
        )
    };
    // Only a PoP token cached: MSAL Python reads the cache and asks for a bearer token.
    let first = run().await.unwrap();
    assert_eq!(first["error"], Value::Null, "{first}");
    assert_eq!(first["token_source"], "identity_provider", "{first}");
    assert_eq!(first["token_type"], "Bearer", "{first}");
    assert_ne!(
        first["access_token"].as_str(),
        Some(pop.access_token.expose_secret())
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    // Both cached: it serves its bearer token.
    let second = run().await.unwrap();
    assert_eq!(second["token_source"], "cache", "{second}");
    assert_eq!(second["access_token"], first["access_token"]);

    // The PoP entry survives MSAL Python's rewrite and still serves PoP requests.
    let reread = TokenCache::load_from_file(&cache_path).unwrap();
    assert_eq!(reread.access_token_count(), 2);
    let again = pop_token(&app(&emulator, &reread), &key).await;
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(again.access_token, pop.access_token);
}
