use serde_json::{Value, json};

use super::*;
use crate::testing::{self, AUTHORITY, CLIENT_ID, ENVIRONMENT, FakeIdp, REDIRECT_URI, TENANT_ID};
use crate::{ClientSecret, ConfidentialClientApplication, PublicClientApplication, TokenCache};

fn public_app(idp: &FakeIdp, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .http_client(idp.clone())
        .token_cache(cache.clone())
        .build()
        .unwrap()
}

/// What the identity provider redirects back after a successful sign-in.
fn redirect(flow: &AuthCodeFlow, code: &str) -> AuthResponse {
    AuthResponse::from_iter([
        ("code", code.to_owned()),
        ("state", flow.state().to_owned()),
        ("client_info", testing::client_info("oid-alice", TENANT_ID)),
        ("session_state", "s".to_owned()),
    ])
}

/// The nonce the authorization request sent, as a real IdP would echo it.
fn sent_nonce(flow: &AuthCodeFlow) -> String {
    testing::query(flow.auth_uri())["nonce"].clone()
}

async fn signed_in_flow(app: &PublicClientApplication) -> AuthCodeFlow {
    app.initiate_auth_code_flow(["User.Read"], REDIRECT_URI, &AuthCodeFlowOptions::default())
        .await
        .unwrap()
}

#[tokio::test]
async fn auth_uri_carries_every_parameter_msal_python_sends() {
    let idp = FakeIdp::new();
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .http_client(idp.clone())
        .client_capabilities(["cp1"])
        .build()
        .unwrap();
    let options = AuthCodeFlowOptions::default()
        .state("my-state")
        .prompt(Prompt::SelectAccount)
        .login_hint("alice@contoso.com")
        .domain_hint("contoso.com")
        .claims_challenge(r#"{"id_token":{"auth_time":{"essential":true}}}"#)
        .max_age(600)
        .response_mode(ResponseMode::FormPost)
        .extra_scopes_to_consent(["https://storage.azure.com/user_impersonation"]);
    let flow = app
        .initiate_auth_code_flow(["User.Read", "Mail.Read"], REDIRECT_URI, &options)
        .await
        .unwrap();
    let auth_uri = url::Url::parse(flow.auth_uri()).unwrap();
    assert_eq!(
        auth_uri.as_str().split('?').next().unwrap(),
        format!("https://{ENVIRONMENT}/{TENANT_ID}/oauth2/v2.0/authorize")
    );
    let q = testing::query(flow.auth_uri());
    assert_eq!(q["client_id"], CLIENT_ID);
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["redirect_uri"], REDIRECT_URI);
    assert_eq!(
        q["scope"],
        "Mail.Read User.Read https://storage.azure.com/user_impersonation offline_access openid profile"
    );
    assert_eq!(q["state"], "my-state");
    assert_eq!(flow.state(), "my-state");
    let verifier = flow.code_verifier.expose();
    assert!(verifier.len() >= 43, "{verifier}");
    assert_eq!(q["code_challenge"], oauth2::code_challenge(verifier));
    assert_eq!(q["code_challenge_method"], "S256");
    // The request carries the nonce's SHA-256, the flow the nonce itself.
    assert_eq!(q["nonce"], oauth2::nonce_hash(&flow.nonce));
    assert_eq!(q["nonce"].len(), 64);
    assert_ne!(q["nonce"], flow.nonce);
    assert_eq!(q["client_info"], "1");
    assert_eq!(q["login_hint"], "alice@contoso.com");
    assert_eq!(q["X-AnchorMailbox"], "UPN:alice@contoso.com");
    assert_eq!(q["prompt"], "select_account");
    assert_eq!(q["domain_hint"], "contoso.com");
    let claims: Value = serde_json::from_str(&q["claims"]).unwrap();
    assert_eq!(claims["id_token"]["auth_time"]["essential"], true);
    assert_eq!(claims["access_token"]["xms_cc"]["values"], json!(["cp1"]));
    assert_eq!(q["max_age"], "600");
    assert_eq!(q["response_mode"], "form_post");
    assert_eq!(q.len(), 16, "{q:?}");
    // Redeemed for the requested scopes only, decorated.
    assert_eq!(
        flow.scopes(),
        ["User.Read", "Mail.Read", "openid", "profile", "offline_access"]
    );
    assert_eq!(flow.max_age(), Some(600));
    assert_eq!(idp.token_requests().len(), 0);
}

#[tokio::test]
async fn defaults_send_no_optional_parameter_and_fresh_randomness() {
    let idp = FakeIdp::new();
    let app = public_app(&idp, &TokenCache::new());
    let a = signed_in_flow(&app).await;
    let b = signed_in_flow(&app).await;
    let q = testing::query(a.auth_uri());
    for absent in [
        "login_hint",
        "X-AnchorMailbox",
        "prompt",
        "domain_hint",
        "claims",
        "max_age",
        "response_mode",
    ] {
        assert!(!q.contains_key(absent), "{absent} sent: {q:?}");
    }
    assert_eq!(q["scope"], "User.Read offline_access openid profile");
    assert!(a.state().len() >= 22);
    assert_ne!(a.state(), b.state());
    assert_ne!(a.nonce, b.nonce);
    assert_ne!(a.code_verifier.expose(), b.code_verifier.expose());
    // Discovery is done once.
    assert_eq!(idp.request_count(), 1);
}

#[tokio::test]
async fn bad_input_fails_before_any_request() {
    let idp = FakeIdp::new();
    let app = public_app(&idp, &TokenCache::new());
    let options = AuthCodeFlowOptions::default();
    for scopes in [
        vec!["User.Read", "offline_access"],
        vec!["openid"],
        vec!["profile"],
    ] {
        let err = app
            .initiate_auth_code_flow(scopes.clone(), REDIRECT_URI, &options)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, Error::InvalidArgument(m) if m.contains("reserved")),
            "{scopes:?}: {err}"
        );
    }
    for redirect in ["", "not a url", "/relative"] {
        assert!(matches!(
            app.initiate_auth_code_flow(["User.Read"], redirect, &options)
                .await,
            Err(Error::InvalidArgument(_))
        ));
    }
    let bad_claims = AuthCodeFlowOptions::default().claims_challenge("{not json");
    assert!(matches!(
        app.initiate_auth_code_flow(["User.Read"], REDIRECT_URI, &bad_claims)
            .await,
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(idp.request_count(), 0);
}

#[tokio::test]
async fn state_mismatch_is_refused_before_redemption() {
    let idp = FakeIdp::new();
    let cache = TokenCache::new();
    let app = public_app(&idp, &cache);
    let flow = signed_in_flow(&app).await;
    let forged = AuthResponse::from_iter([("code", "attacker-code"), ("state", "other-state")]);
    let missing = AuthResponse::from_iter([("code", "attacker-code")]);
    // Even an error response needs the right state to be believed.
    let forged_error = AuthResponse::from_iter([("error", "access_denied"), ("state", "x")]);
    for response in [forged, missing, forged_error] {
        let err = app
            .acquire_token_by_auth_code_flow(&flow, &response)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::StateMismatch), "{err:?}");
        assert!(!err.to_string().contains("attacker-code"));
    }
    // A repeated state cannot override the first one.
    let appended = AuthResponse::from_query(&format!("?code=c&state=evil&state={}", flow.state()));
    assert!(matches!(
        app.acquire_token_by_auth_code_flow(&flow, &appended).await,
        Err(Error::StateMismatch)
    ));
    assert!(idp.token_requests().is_empty());
    assert!(!cache.has_state_changed());
}

#[tokio::test]
async fn identity_provider_error_in_the_redirect_is_a_service_error() {
    let idp = FakeIdp::new();
    let app = public_app(&idp, &TokenCache::new());
    let flow = signed_in_flow(&app).await;
    let response = AuthResponse::from_query(&format!(
        "error=login_required&error_description=AADSTS50058%3A+A+silent+sign-in+request+was+sent&state={}&error_uri=https%3A%2F%2Flogin.microsoftonline.com%2Ferror%3Fcode%3D50058",
        flow.state()
    ));
    let err = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap_err();
    let service = err.service_error().expect("a service error");
    assert_eq!(service.error, "login_required");
    assert_eq!(
        service.error_description.as_deref(),
        Some("AADSTS50058: A silent sign-in request was sent")
    );
    assert_eq!(
        service.error_uri.as_deref(),
        Some("https://login.microsoftonline.com/error?code=50058")
    );
    assert_eq!(service.status, 0);
    assert_eq!(
        err.to_string(),
        "login_required (in the authorization response): AADSTS50058: A silent sign-in request was sent"
    );
    assert!(idp.token_requests().is_empty());

    let neither = AuthResponse::from_iter([("state", flow.state())]);
    assert!(matches!(
        app.acquire_token_by_auth_code_flow(&flow, &neither).await,
        Err(Error::InvalidAuthResponse(_))
    ));
}

#[tokio::test]
async fn nonce_mismatch_caches_nothing() {
    let idp = FakeIdp::new();
    let cache = TokenCache::new();
    let app = public_app(&idp, &cache);
    let flow = signed_in_flow(&app).await;
    let replayed = oauth2::nonce_hash("another flow's nonce");
    idp.respond(
        200,
        testing::user_token_response("oid-alice", "alice@contoso.com", &replayed, now_epoch()),
    );
    let err = app
        .acquire_token_by_auth_code_flow(&flow, &redirect(&flow, "code-1"))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NonceMismatch), "{err:?}");
    assert!(!cache.has_state_changed());
    assert!(!cache.serialize().contains("secret"));
}

#[test]
fn max_age_allows_two_minutes_of_skew() {
    let flow = AuthCodeFlow {
        auth_uri: String::new(),
        state: "s".into(),
        redirect_uri: REDIRECT_URI.into(),
        scopes: vec![],
        nonce: "n".into(),
        code_verifier: CachedSecret::new("v"),
        claims_challenge: None,
        max_age: Some(600),
    };
    let claims = |auth_time: Option<u64>| {
        let mut c = json!({"nonce": oauth2::nonce_hash("n")});
        if let Some(t) = auth_time {
            c["auth_time"] = json!(t);
        }
        IdTokenClaims::new(c.as_object().unwrap().clone())
    };
    let now = 1_000_000;
    assert!(check_id_token(&flow, &claims(Some(now - 600)), now).is_ok());
    assert!(check_id_token(&flow, &claims(Some(now - 720)), now).is_ok());
    assert!(matches!(
        check_id_token(&flow, &claims(Some(now - 721)), now),
        Err(Error::MaxAgeExceeded { auth_time, max_age: 600 }) if auth_time == now - 721
    ));
    assert!(matches!(
        check_id_token(&flow, &claims(None), now),
        Err(Error::InvalidIdToken(_))
    ));
    let no_max_age = AuthCodeFlow {
        max_age: None,
        ..flow
    };
    assert!(check_id_token(&no_max_age, &claims(None), now).is_ok());
}

#[tokio::test]
async fn max_age_exceeded_caches_nothing() {
    let idp = FakeIdp::new();
    let cache = TokenCache::new();
    let app = public_app(&idp, &cache);
    let flow = app
        .initiate_auth_code_flow(
            ["User.Read"],
            REDIRECT_URI,
            &AuthCodeFlowOptions::default().max_age(60),
        )
        .await
        .unwrap();
    let stale = now_epoch() - 3600;
    idp.respond(
        200,
        testing::user_token_response("oid-alice", "alice@contoso.com", &sent_nonce(&flow), stale),
    );
    let err = app
        .acquire_token_by_auth_code_flow(&flow, &redirect(&flow, "code-1"))
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::MaxAgeExceeded { max_age: 60, .. }),
        "{err:?}"
    );
    assert!(!cache.has_state_changed());
}

#[tokio::test]
async fn junk_id_token_is_an_error_not_a_panic() {
    let idp = FakeIdp::new();
    let cache = TokenCache::new();
    let app = public_app(&idp, &cache);
    let flow = signed_in_flow(&app).await;
    for junk in ["", "x", "a.b.c", "a.eyJub3QganNvbg.c", "a.WzFd.c", "...."] {
        let mut body = testing::user_token_response("o", "u", &sent_nonce(&flow), now_epoch());
        body["id_token"] = json!(junk);
        idp.respond(200, body);
        let err = app
            .acquire_token_by_auth_code_flow(&flow, &redirect(&flow, "code"))
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidIdToken(_)), "{junk:?}: {err:?}");
    }
    assert!(!cache.has_state_changed());
}

/// The fields of a serialized cache entry, in order.
fn fields(entry: &Value) -> Vec<&str> {
    entry.as_object().unwrap().keys().map(String::as_str).collect()
}

#[tokio::test]
async fn redemption_sends_the_code_grant_and_caches_five_entries_like_msal_python() {
    let idp = FakeIdp::new();
    let cache = TokenCache::new();
    let app = public_app(&idp, &cache);
    let flow = signed_in_flow(&app).await;
    let mut body =
        testing::user_token_response("oid-alice", "Alice@Contoso.com", &sent_nonce(&flow), now_epoch());
    body["foci"] = json!("1");
    idp.respond(200, body);
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &redirect(&flow, "the-code"))
        .await
        .unwrap();

    let requests = idp.token_requests();
    assert_eq!(requests.len(), 1);
    let request = &requests[0];
    assert_eq!(
        request.url.as_str(),
        format!("https://{ENVIRONMENT}/{TENANT_ID}/oauth2/v2.0/token")
    );
    let sent = testing::form(request);
    assert_eq!(sent["client_id"], CLIENT_ID);
    assert_eq!(sent["grant_type"], "authorization_code");
    assert_eq!(sent["code"], "the-code");
    assert_eq!(sent["redirect_uri"], REDIRECT_URI);
    assert_eq!(sent["code_verifier"], flow.code_verifier.expose());
    assert_eq!(sent["scope"], "User.Read offline_access openid profile");
    assert_eq!(sent["client_info"], "1");
    assert!(!sent.contains_key("client_secret"));
    assert_eq!(sent.len(), 7, "{sent:?}");
    assert_eq!(
        request.header("X-AnchorMailbox"),
        Some(format!("Oid:oid-alice@{TENANT_ID}").as_str())
    );
    assert_eq!(request.header("x-client-current-telemetry"), Some("4|832,0|"));

    // The result.
    let hid = format!("oid-alice.{TENANT_ID}");
    assert_eq!(result.access_token.expose_secret(), "at-secret-oid-alice");
    assert_eq!(result.token_source, crate::TokenSource::IdentityProvider);
    assert_eq!(result.scopes, ["User.Read", "openid", "profile", "email"]);
    assert_eq!(result.tenant_id.as_deref(), Some(TENANT_ID));
    let claims = result.id_token_claims.as_ref().unwrap();
    assert_eq!(claims.object_id(), Some("oid-alice"));
    assert_eq!(claims.preferred_username(), Some("Alice@Contoso.com"));
    assert!(
        result
            .id_token
            .as_ref()
            .unwrap()
            .expose_secret()
            .starts_with("eyJ")
    );
    let account = result.account.as_ref().unwrap();
    assert_eq!(account.home_account_id, hid);
    assert_eq!(account.environment, ENVIRONMENT);
    assert_eq!(account.realm, TENANT_ID);
    assert_eq!(account.username, "Alice@Contoso.com");
    assert_eq!(account.local_account_id.as_deref(), Some("oid-alice"));
    assert_eq!(account.authority_type, "MSSTS");
    assert_eq!(account.account_source.as_deref(), Some("authorization_code"));

    // The cache, as MSAL Python 1.39 writes it.
    assert!(cache.has_state_changed());
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let target = "User.Read email openid profile";
    let section = |name: &str| json[name].as_object().unwrap();
    let only = |name: &str| {
        let s = section(name);
        assert_eq!(s.len(), 1, "{name}: {s:?}");
        let (key, value) = s.iter().next().unwrap();
        (key.clone(), value.clone())
    };

    let (key, at) = only("AccessToken");
    assert_eq!(
        key,
        format!("{hid}-{ENVIRONMENT}-accesstoken-{CLIENT_ID}-{TENANT_ID}-{target}").to_lowercase()
    );
    assert_eq!(
        fields(&at),
        [
            "credential_type",
            "secret",
            "home_account_id",
            "environment",
            "client_id",
            "target",
            "realm",
            "token_type",
            "cached_at",
            "expires_on",
            "extended_expires_on"
        ]
    );
    assert_eq!(at["credential_type"], "AccessToken");
    assert_eq!(at["secret"], "at-secret-oid-alice");
    assert_eq!(at["home_account_id"], hid.as_str());
    assert_eq!(at["target"], target);
    assert_eq!(at["realm"], TENANT_ID);
    let cached_at: u64 = at["cached_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(at["expires_on"], (cached_at + 3599).to_string());

    let (key, rt) = only("RefreshToken");
    assert_eq!(
        key,
        format!("{hid}-{ENVIRONMENT}-refreshtoken-{CLIENT_ID}--{target}").to_lowercase()
    );
    assert_eq!(
        fields(&rt),
        [
            "credential_type",
            "secret",
            "home_account_id",
            "environment",
            "client_id",
            "target",
            "last_modification_time",
            "family_id"
        ]
    );
    assert_eq!(rt["credential_type"], "RefreshToken");
    assert_eq!(rt["secret"], "rt-secret-oid-alice");
    assert_eq!(rt["last_modification_time"], cached_at.to_string());
    assert_eq!(rt["family_id"], "1");

    let (key, idt) = only("IdToken");
    assert_eq!(
        key,
        format!("{hid}-{ENVIRONMENT}-idtoken-{CLIENT_ID}-{TENANT_ID}-").to_lowercase()
    );
    assert_eq!(
        fields(&idt),
        [
            "credential_type",
            "secret",
            "home_account_id",
            "environment",
            "realm",
            "client_id"
        ]
    );
    assert_eq!(idt["credential_type"], "IdToken");
    assert_eq!(idt["secret"], result.id_token.as_ref().unwrap().expose_secret());

    let (key, acct) = only("Account");
    assert_eq!(key, format!("{hid}-{ENVIRONMENT}-{TENANT_ID}").to_lowercase());
    assert_eq!(
        fields(&acct),
        [
            "home_account_id",
            "environment",
            "realm",
            "local_account_id",
            "username",
            "authority_type",
            "account_source"
        ]
    );
    assert_eq!(acct["local_account_id"], "oid-alice");
    assert_eq!(acct["username"], "Alice@Contoso.com");
    assert_eq!(acct["authority_type"], "MSSTS");
    assert_eq!(acct["account_source"], "authorization_code");

    let (key, meta) = only("AppMetadata");
    assert_eq!(key, format!("appmetadata-{ENVIRONMENT}-{CLIENT_ID}"));
    assert_eq!(fields(&meta), ["client_id", "environment", "family_id"]);
    assert_eq!(meta["family_id"], "1");

    // And the cache reads back.
    let reread = TokenCache::from_json(&cache.serialize()).unwrap();
    let app2 = public_app(&FakeIdp::new(), &reread);
    assert_eq!(app2.get_accounts(None), vec![account.clone()]);
}

#[tokio::test]
async fn confidential_apps_add_their_credential_and_the_flow_survives_a_session() {
    let idp = FakeIdp::new();
    let cache = TokenCache::new();
    let app = ConfidentialClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .client_secret(ClientSecret::new("web-app-secret-value"))
        .http_client(idp.clone())
        .token_cache(cache.clone())
        .build()
        .unwrap();
    let flow = app
        .initiate_auth_code_flow(["User.Read"], REDIRECT_URI, &AuthCodeFlowOptions::default())
        .await
        .unwrap();
    // A web app keeps the flow in its session between the two requests.
    let session = serde_json::to_string(&flow).unwrap();
    let stored: Value = serde_json::from_str(&session).unwrap();
    assert_eq!(
        fields(&stored),
        [
            "auth_uri",
            "state",
            "redirect_uri",
            "scope",
            "nonce",
            "code_verifier",
            "claims_challenge",
            "max_age"
        ]
    );
    let flow: AuthCodeFlow = serde_json::from_str(&session).unwrap();
    idp.respond(
        200,
        testing::user_token_response("oid-alice", "alice@contoso.com", &sent_nonce(&flow), now_epoch()),
    );
    let form_post = format!(
        "code=web-code&client_info={}&state={}&session_state=x",
        testing::client_info("oid-alice", TENANT_ID),
        flow.state()
    );
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &AuthResponse::from_form_body(form_post.as_bytes()))
        .await
        .unwrap();
    assert_eq!(result.account.unwrap().username, "alice@contoso.com");
    let sent = testing::form(&idp.token_requests()[0]);
    assert_eq!(sent["client_secret"], "web-app-secret-value");
    assert_eq!(sent["code"], "web-code");
    assert_eq!(sent["code_verifier"], flow.code_verifier.expose());
    assert_eq!(app.get_accounts(Some("ALICE@contoso.com")).len(), 1);
}

#[tokio::test]
async fn token_endpoint_errors_are_service_errors_and_cache_nothing() {
    let idp = FakeIdp::new();
    let cache = TokenCache::new();
    let app = public_app(&idp, &cache);
    let flow = signed_in_flow(&app).await;
    idp.respond(
        400,
        json!({
            "error": "invalid_grant",
            "error_description": "AADSTS54005: OAuth2 Authorization code was already redeemed.",
            "error_codes": [54005],
        }),
    );
    let err = app
        .acquire_token_by_auth_code_flow(&flow, &redirect(&flow, "used-code"))
        .await
        .unwrap_err();
    assert_eq!(err.service_error().unwrap().aadsts_code(), Some(54005));
    assert!(!cache.has_state_changed());
}

#[tokio::test]
async fn secrets_never_reach_debug_or_errors() {
    let idp = FakeIdp::new();
    let cache = TokenCache::new();
    let app = public_app(&idp, &cache);
    let flow = signed_in_flow(&app).await;
    let verifier = flow.code_verifier.expose().to_owned();
    idp.respond(
        200,
        testing::user_token_response("oid-alice", "alice@contoso.com", &sent_nonce(&flow), now_epoch()),
    );
    let response = redirect(&flow, "secret-auth-code");
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    let id_token = result.id_token.as_ref().unwrap().expose_secret().to_owned();
    let id_token_signature = id_token.rsplit('.').next().unwrap().to_owned();
    let errors = [
        Error::StateMismatch,
        Error::NonceMismatch,
        Error::InvalidIdToken("x".into()),
        Error::MaxAgeExceeded {
            auth_time: 1,
            max_age: 2,
        },
    ];
    let seen = format!(
        "{flow:?} {response:?} {result:?} {cache:?} {app:?} {:?} {}",
        errors,
        errors
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" ")
    );
    for secret in [
        verifier.as_str(),
        flow.nonce.as_str(),
        "secret-auth-code",
        "at-secret-oid-alice",
        "rt-secret-oid-alice",
        id_token.as_str(),
        id_token_signature.as_str(),
    ] {
        assert!(!seen.contains(secret), "{secret} leaked in {seen}");
    }
    assert!(seen.contains("id_tokens: 1"), "{seen}");
}
