//! Refresh token ordering (FOCI first, newest first), `client_mismatch`
//! fallback and the request's fields, against the fake identity provider:
//! the emulator does not model token families.

use serde_json::{Value, json};

use crate::testing::{self, AUTHORITY, CLIENT_ID, ENVIRONMENT, FakeIdp, TENANT_ID};
use crate::{
    Account, Error, InteractionReason, PublicClientApplication, SilentOptions, TokenCache, TokenSource,
};

const FAMILY_APP: &str = "family-app-client-id";
const OID: &str = "alice-oid";

fn hid() -> String {
    format!("{OID}.{TENANT_ID}")
}

fn rt(client_id: &str, secret: &str, target: &str, modified: u64, family: Option<&str>) -> (String, Value) {
    let mut entry = json!({
        "credential_type": "RefreshToken", "secret": secret, "home_account_id": hid(),
        "environment": ENVIRONMENT, "client_id": client_id, "target": target,
        "last_modification_time": modified.to_string(),
    });
    if let Some(family) = family {
        entry["family_id"] = json!(family);
    }
    let key = format!("{}-{ENVIRONMENT}-refreshtoken-{client_id}--{target}", hid()).to_lowercase();
    (key, entry)
}

/// Alice's account with three refresh tokens: this app's newest and oldest,
/// and a family app's in between; no access token; app metadata as given.
fn cache(app_family: Option<Option<&str>>) -> TokenCache {
    let mut app_metadata = serde_json::Map::new();
    if let Some(family) = app_family {
        let mut entry = json!({"client_id": CLIENT_ID, "environment": ENVIRONMENT});
        if let Some(family) = family {
            entry["family_id"] = json!(family);
        }
        app_metadata.insert(format!("appmetadata-{ENVIRONMENT}-{CLIENT_ID}"), entry);
    }
    let rts: serde_json::Map<String, Value> = [
        rt(CLIENT_ID, "rt-own-new", "User.Read", 3000, None),
        rt(FAMILY_APP, "rt-family", "Files.Read", 2000, Some("1")),
        rt(CLIENT_ID, "rt-own-old", "Mail.Read", 1000, None),
    ]
    .into_iter()
    .collect();
    let doc = json!({
        "Account": {
            format!("{}-{ENVIRONMENT}-{TENANT_ID}", hid()): {
                "home_account_id": hid(), "environment": ENVIRONMENT, "realm": TENANT_ID,
                "local_account_id": OID, "username": "alice@contoso.com",
                "authority_type": "MSSTS", "account_source": "authorization_code",
            }
        },
        "RefreshToken": rts,
        "AppMetadata": app_metadata,
    });
    TokenCache::from_json(&doc.to_string()).unwrap()
}

fn app(idp: &FakeIdp, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .client_capabilities(["cp1"])
        .http_client(idp.clone())
        .token_cache(cache.clone())
        .build()
        .unwrap()
}

fn alice(app: &PublicClientApplication) -> Account {
    app.get_accounts(None)[0].clone()
}

fn success(foci: Option<&str>) -> Value {
    let mut response = testing::user_token_response(OID, "alice@contoso.com", "", 1000);
    response["scope"] = json!("User.Read openid profile");
    response["refresh_token"] = json!("rt-issued");
    if let Some(foci) = foci {
        response["foci"] = json!(foci);
    }
    response
}

fn refused(extra: Value) -> Value {
    let mut body = json!({
        "error": "invalid_grant",
        "error_description": "AADSTS70000: Provided grant is invalid or malformed.",
        "error_codes": [70000],
    });
    if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
        body.extend(extra.clone());
    }
    body
}

/// The refresh tokens the requests redeemed, in order.
fn redeemed(idp: &FakeIdp) -> Vec<String> {
    idp.token_requests()
        .iter()
        .map(|r| testing::form(r)["refresh_token"].clone())
        .collect()
}

fn rt_secrets(cache: &TokenCache) -> Vec<String> {
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let mut secrets: Vec<String> = json["RefreshToken"]
        .as_object()
        .unwrap()
        .values()
        .map(|rt| rt["secret"].as_str().unwrap().to_owned())
        .collect();
    secrets.sort();
    secrets
}

#[tokio::test]
async fn without_app_metadata_the_family_token_goes_first_and_the_request_is_msal_s() {
    let idp = FakeIdp::new();
    let cache = cache(None);
    let app = app(&idp, &cache);
    idp.respond(200, success(Some("1")));
    let result = app
        .acquire_token_silent(["User.Read"], &alice(&app))
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(redeemed(&idp), ["rt-family"]);

    let request = &idp.token_requests()[0];
    let form = testing::form(request);
    assert_eq!(form["grant_type"], "refresh_token");
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["scope"], "User.Read offline_access openid profile");
    assert_eq!(form["client_info"], "1");
    assert_eq!(
        form["claims"],
        r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#
    );
    assert!(!form.contains_key("client_secret"));
    let header = |name: &str| {
        request
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(header("X-AnchorMailbox"), Some(format!("Oid:{OID}@{TENANT_ID}")));
    assert_eq!(header("x-client-current-telemetry").as_deref(), Some("4|84,2|"));

    // The app is now known to be in the family, and its new refresh token says so.
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let metadata = &json["AppMetadata"][format!("appmetadata-{ENVIRONMENT}-{CLIENT_ID}")];
    assert_eq!(metadata["family_id"], "1");
    // The redeemed family token was updated in place, as MSAL Python's update_rt does.
    assert!(!rt_secrets(&cache).contains(&"rt-family".to_owned()));
    // The account entry keeps how it was established.
    assert_eq!(
        json["Account"][format!("{}-{ENVIRONMENT}-{TENANT_ID}", hid()).to_lowercase()]["account_source"],
        "authorization_code"
    );
}

#[tokio::test]
async fn client_mismatch_stops_the_family_attempt_and_own_tokens_go_newest_first() {
    let idp = FakeIdp::new();
    let cache = cache(None);
    let app = app(&idp, &cache);
    idp.respond(
        400,
        refused(json!({"error_additional_info": ["client_mismatch"]})),
    );
    idp.respond(400, refused(json!({})));
    idp.respond(200, success(None));
    let result = app
        .acquire_token_silent(["User.Read"], &alice(&app))
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(redeemed(&idp), ["rt-family", "rt-own-new", "rt-own-old"]);
    // Refused tokens stay: invalid_grant may only concern these scopes.
    let secrets = rt_secrets(&cache);
    assert!(secrets.contains(&"rt-family".to_owned()) && secrets.contains(&"rt-own-new".to_owned()));
}

#[tokio::test]
async fn client_mismatch_as_a_suberror_is_understood_too() {
    let idp = FakeIdp::new();
    let cache = cache(Some(Some("1")));
    let app = app(&idp, &cache);
    idp.respond(400, refused(json!({"suberror": "client_mismatch"})));
    idp.respond(200, success(None));
    app.acquire_token_silent(["User.Read"], &alice(&app))
        .await
        .unwrap();
    assert_eq!(redeemed(&idp), ["rt-family", "rt-own-new"]);
}

#[tokio::test]
async fn an_app_outside_the_family_uses_only_its_own_tokens() {
    let idp = FakeIdp::new();
    let cache = cache(Some(None));
    let app = app(&idp, &cache);
    idp.respond(400, refused(json!({})));
    idp.respond(400, refused(json!({})));
    let error = app
        .acquire_token_silent(["User.Read"], &alice(&app))
        .await
        .unwrap_err();
    assert_eq!(redeemed(&idp), ["rt-own-new", "rt-own-old"]);
    match &error {
        Error::InteractionRequired {
            reason: InteractionReason::RefreshTokenRejected,
            service: Some(service),
        } => assert_eq!(service.aadsts_code(), Some(70000)),
        other => panic!("{other:?}"),
    }
    assert!(error.is_interaction_required());
    assert_eq!(rt_secrets(&cache), ["rt-family", "rt-own-new", "rt-own-old"]);
}

#[tokio::test]
async fn a_family_member_tries_the_family_then_its_own_and_errors_name_the_last_answer() {
    let idp = FakeIdp::new();
    let cache = cache(Some(Some("1")));
    let app = app(&idp, &cache);
    idp.respond(400, refused(json!({})));
    idp.respond(
        400,
        json!({"error": "consent_required", "error_description": "AADSTS65001"}),
    );
    idp.respond(
        400,
        json!({"error": "interaction_required", "claims": r#"{"access_token":{"capolids":{"essential":true}}}"#}),
    );
    let error = app
        .acquire_token_silent(["User.Read"], &alice(&app))
        .await
        .unwrap_err();
    assert_eq!(redeemed(&idp), ["rt-family", "rt-own-new", "rt-own-old"]);
    assert!(
        matches!(
            error,
            Error::InteractionRequired {
                reason: InteractionReason::ClaimsChallenge,
                ..
            }
        ),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_claims_challenge_skips_the_cached_token_and_reaches_the_idp_merged() {
    let idp = FakeIdp::new();
    let cache = cache(Some(None));
    let app = app(&idp, &cache);
    idp.respond(200, success(None));
    let account = alice(&app);
    app.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(idp.token_requests().len(), 1);
    // Cached now: a plain call is a hit, a challenged one is not.
    let hit = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
    assert_eq!(hit.token_source, TokenSource::Cache);
    assert_eq!(hit.account.as_ref(), Some(&account));
    idp.respond(200, success(None));
    let challenge = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;
    let fresh = app
        .acquire_token_silent_with(
            ["User.Read"],
            &account,
            &SilentOptions::default().claims_challenge(challenge),
        )
        .await
        .unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    let requests = idp.token_requests();
    assert_eq!(requests.len(), 2);
    let claims: Value = serde_json::from_str(&testing::form(&requests[1])["claims"]).unwrap();
    assert_eq!(claims["access_token"]["nbf"]["essential"], true);
    assert_eq!(claims["access_token"]["xms_cc"]["values"][0], "cp1");
    let telemetry = requests[1]
        .headers
        .iter()
        .find(|(n, _)| n == "x-client-current-telemetry")
        .map(|(_, v)| v.as_str());
    assert_eq!(telemetry, Some("4|84,1|"));
    // A challenge that is not JSON is refused before any request.
    let bad = app
        .acquire_token_silent_with(
            ["User.Read"],
            &account,
            &SilentOptions::default().claims_challenge("nope"),
        )
        .await;
    assert!(matches!(bad, Err(Error::InvalidArgument(_))), "{bad:?}");
    assert_eq!(idp.token_requests().len(), 2);
}

#[tokio::test]
async fn invalid_client_is_reported_at_once_not_as_interaction() {
    let idp = FakeIdp::new();
    let cache = cache(Some(None));
    let app = app(&idp, &cache);
    idp.respond(
        401,
        json!({"error": "invalid_client", "error_description": "AADSTS7000215"}),
    );
    let error = app
        .acquire_token_silent(["User.Read"], &alice(&app))
        .await
        .unwrap_err();
    assert_eq!(
        redeemed(&idp),
        ["rt-own-new"],
        "another refresh token cannot fix the client"
    );
    assert!(
        matches!(&error, Error::Service(s) if s.error == "invalid_client"),
        "{error:?}"
    );
    assert!(!error.is_interaction_required());
}

#[tokio::test]
async fn cache_hits_are_counted_in_the_next_request_s_telemetry_and_carry_the_id_token() {
    let idp = FakeIdp::new();
    let cache = cache(None);
    let app = app(&idp, &cache);
    let alice = alice(&app);
    idp.respond(200, success(Some("1")));
    let issued = app.acquire_token_silent(["User.Read"], &alice).await.unwrap();
    assert_eq!(issued.token_source, TokenSource::IdentityProvider);
    assert!(issued.correlation_id.is_some());
    for _ in 0..2 {
        let hit = app.acquire_token_silent(["User.Read"], &alice).await.unwrap();
        assert_eq!(hit.token_source, TokenSource::Cache);
        assert_eq!(hit.access_token, issued.access_token);
        assert_eq!(hit.correlation_id, None);
        assert_eq!(
            hit.id_token.as_ref().map(|t| t.expose_secret()),
            issued.id_token.as_ref().map(|t| t.expose_secret())
        );
        assert_eq!(hit.id_token_claims, issued.id_token_claims);
        assert_eq!(hit.tenant_id.as_deref(), Some(TENANT_ID));
        assert_eq!(
            hit.account.as_ref().map(|a| a.username.as_str()),
            Some("alice@contoso.com")
        );
    }
    idp.respond(200, success(Some("1")));
    let forced = SilentOptions::default().force_refresh(true);
    app.acquire_token_silent_with(["User.Read"], &alice, &forced)
        .await
        .unwrap();
    let requests = idp.token_requests();
    let last = requests[requests.len() - 1]
        .headers
        .iter()
        .find(|(n, _)| n == "x-client-last-telemetry")
        .map(|(_, v)| v.clone());
    assert_eq!(last.as_deref(), Some("4|2|||"));
}

/// Hits answered from the thread's memo (see `memo`) see every change of
/// the cache at once: a refresh's new access and ID tokens (and claims),
/// and a sign-out.
#[tokio::test]
async fn repeated_hits_follow_every_change_of_the_cache() {
    let idp = FakeIdp::new();
    let cache = cache(None);
    let app = app(&idp, &cache);
    let alice = alice(&app);
    idp.respond(200, success(None));
    app.acquire_token_silent(["User.Read"], &alice).await.unwrap();
    for _ in 0..3 {
        let hit = app.acquire_token_silent(["User.Read"], &alice).await.unwrap();
        assert_eq!(hit.token_source, TokenSource::Cache);
        assert_eq!(hit.access_token.expose_secret(), "at-secret-alice-oid");
        let claims = hit.id_token_claims.unwrap();
        assert_eq!(claims.preferred_username(), Some("alice@contoso.com"));
    }
    // A forced refresh brings a new access token and a new ID token.
    let mut renewed = testing::user_token_response(OID, "alice.renamed@contoso.com", "", 2000);
    renewed["scope"] = json!("User.Read openid profile");
    renewed["access_token"] = json!("at-renewed");
    idp.respond(200, renewed);
    let forced = SilentOptions::default().force_refresh(true);
    app.acquire_token_silent_with(["User.Read"], &alice, &forced)
        .await
        .unwrap();
    for _ in 0..3 {
        let hit = app.acquire_token_silent(["User.Read"], &alice).await.unwrap();
        assert_eq!(hit.token_source, TokenSource::Cache);
        assert_eq!(hit.access_token.expose_secret(), "at-renewed");
        let claims = hit.id_token_claims.unwrap();
        assert_eq!(claims.preferred_username(), Some("alice.renamed@contoso.com"));
    }
    // Signed out: no hit is left to serve, from the memo or otherwise.
    app.remove_account(&alice);
    let error = app.acquire_token_silent(["User.Read"], &alice).await.unwrap_err();
    assert!(error.is_interaction_required(), "{error:?}");
}
