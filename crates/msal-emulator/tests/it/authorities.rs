//! Every kind of authority the emulator serves, each on its own host names
//! (which clients here resolve to the emulator, as `/etc/hosts` would):
//! the TLS certificate names them all, sovereign clouds speak Entra's
//! protocol, instance discovery answers as Entra's does, personal accounts
//! live in the consumers tenant, and B2C (local and social accounts), CIAM
//! and AD FS have their own paths and token shapes.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use msal_emulator::Emulator;
use msal_emulator::builtin::*;
use msal_test_support::user::{SignedIn, User};
use msal_test_support::{client, host_url, start};
use reqwest::Client;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::common::{assert_entra_error, get, post_form};

const VERIFIER: &str = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
const LOOPBACK: &str = "http://localhost:51234";

/// The claims of a JWT (signature not checked: other tests do).
fn claims(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).expect("a JWT");
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap()
}

fn decode_client_info(info: &str) -> Value {
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(info).unwrap()).unwrap()
}

/// An authorize URL under `authority` for a public client, as MSAL builds it.
fn authorize_url(authorize_endpoint: &str, client_id: &str, scope: &str) -> String {
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(VERIFIER.as_bytes()));
    let mut url = url::Url::parse(authorize_endpoint).unwrap();
    url.query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("response_type", "code")
        .append_pair("redirect_uri", LOOPBACK)
        .append_pair("scope", scope)
        .append_pair("state", "st-1")
        .append_pair("nonce", "n-1")
        .append_pair("code_challenge", &challenge)
        .append_pair("code_challenge_method", "S256")
        .append_pair("client_info", "1");
    url.into()
}

/// The code of a sign-in's redirect (its `state` checked).
fn code_of(signed_in: SignedIn) -> (String, Value) {
    let SignedIn::Redirect(location) = signed_in else {
        panic!("expected a redirect, got {signed_in:?}");
    };
    assert!(location.starts_with(LOOPBACK), "{location}");
    let url = url::Url::parse(&location).unwrap();
    let params: serde_json::Map<String, Value> = url
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), json!(v)))
        .collect();
    assert_eq!(params["state"], "st-1", "{location}");
    let code = params
        .get("code")
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("no code in {location}"))
        .to_owned();
    (code, Value::Object(params))
}

/// Redeems `code` at `token_endpoint` for the public client `client_id`.
async fn redeem(http: &Client, token_endpoint: &str, client_id: &str, code: &str) -> crate::common::Reply {
    post_form(
        http,
        token_endpoint,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", code),
            ("redirect_uri", LOOPBACK),
            ("code_verifier", VERIFIER),
            ("client_info", "1"),
        ],
    )
    .await
}

/// The sign-in page's error text after posting `username`/`password`.
async fn refused(em: &Emulator, auth_uri: &str, username: &str, password: &str) -> String {
    let user = User::new(em, username, password).unwrap();
    let error = user.sign_in(auth_uri).await.expect_err("the sign-in is refused");
    error.to_string()
}

#[tokio::test]
async fn every_host_is_named_in_the_certificate_and_served() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let hosts = em.hosts();
    for host in [
        "localhost",
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
        "login.microsoftonline.us",
        "login.usgovcloudapi.net",
        "login.chinacloudapi.cn",
        "login.partner.microsoftonline.cn",
        "login.sovcloud-identity.fr",
        "login.sovcloud-identity.de",
        "login.sovcloud-identity.sg",
        B2C_HOST,
        CIAM_HOST,
        &format!("{CIAM_TENANT_ID}.ciamlogin.com"),
        ADFS_HOST,
        SOCIAL_HOST,
    ] {
        assert!(hosts.iter().any(|h| h == host), "{host} in {hosts:?}");
    }
    // The client verifies every name against the certificate: each
    // handshake succeeds, and the emulator answers as that host.
    for host in &hosts {
        let url = format!("{}/nowhere/at/all", host_url(&em, host));
        let response = http
            .get(&url)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{host}: {e:?}"));
        assert_eq!(response.status(), 404, "{host}");
    }
}

#[tokio::test]
async fn sovereign_clouds_speak_entra_under_their_own_host() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    for host in [
        "login.microsoftonline.us",
        "login.chinacloudapi.cn",
        "login.sovcloud-identity.fr",
    ] {
        let base = host_url(&em, host);
        let doc = get(
            &http,
            &format!("{base}/{CONTOSO_DOMAIN}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(doc.status, 200, "{}", doc.body);
        assert_eq!(doc.body["issuer"], format!("{base}/{CONTOSO_TENANT_ID}/v2.0"));
        let token_endpoint = doc.body["token_endpoint"].as_str().unwrap().to_owned();
        assert_eq!(
            token_endpoint,
            format!("{base}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token")
        );

        let reply = post_form(
            &http,
            &token_endpoint,
            &[
                ("grant_type", "client_credentials"),
                ("client_id", DAEMON_CLIENT_ID),
                ("client_secret", DAEMON_CLIENT_SECRET),
                ("scope", "https://graph.microsoft.com/.default"),
            ],
        )
        .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let at = claims(reply.body["access_token"].as_str().unwrap());
        // Graph's tokens are v1.0: their issuer is Entra's STS, whichever
        // host of the cloud asked (the ID token keeps the host's issuer).
        // (Azure China's own STS for its hosts.)
        let sts = if host.ends_with(".cn") {
            "sts.chinacloudapi.cn"
        } else {
            "sts.windows.net"
        };
        assert_eq!(at["ver"], "1.0");
        assert_eq!(at["iss"], format!("https://{sts}/{CONTOSO_TENANT_ID}/"));
        assert_eq!(at["tid"], CONTOSO_TENANT_ID);
        assert_eq!(at["appid"], DAEMON_CLIENT_ID);
    }
}

#[tokio::test]
async fn instance_discovery_answers_as_entra_for_every_cloud() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let discover = |host: &str, endpoint: &str| {
        let mut url = url::Url::parse(&format!("{}/common/discovery/instance", host_url(&em, host))).unwrap();
        url.query_pairs_mut()
            .append_pair("api-version", "1.1")
            .append_pair("authorization_endpoint", endpoint);
        url.to_string()
    };
    let reply = get(
        &http,
        &discover(
            "login.microsoftonline.com",
            "https://login.microsoftonline.us/contoso/oauth2/v2.0/authorize",
        ),
    )
    .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["tenant_discovery_endpoint"],
        "https://login.microsoftonline.us/contoso/v2.0/.well-known/openid-configuration"
    );
    assert_eq!(reply.body["api-version"], "1.1");
    let metadata = reply.body["metadata"].as_array().unwrap();
    let group = |preferred: &str| {
        metadata
            .iter()
            .find(|g| g["preferred_network"] == preferred)
            .unwrap_or_else(|| panic!("no {preferred} group in {metadata:?}"))
            .clone()
    };
    assert_eq!(
        group("login.microsoftonline.com"),
        json!({
            "preferred_network": "login.microsoftonline.com",
            "preferred_cache": "login.windows.net",
            "aliases": ["login.microsoftonline.com", "login.microsoft.com", "login.windows.net", "sts.windows.net"],
        })
    );
    assert_eq!(
        group("login.microsoftonline.us")["aliases"],
        json!(["login.microsoftonline.us", "login.usgovcloudapi.net"])
    );
    assert_eq!(
        group("login.partner.microsoftonline.cn")["aliases"],
        json!(["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"])
    );
    for sov in [
        "login.sovcloud-identity.fr",
        "login.sovcloud-identity.de",
        "login.sovcloud-identity.sg",
    ] {
        assert_eq!(group(sov)["aliases"], json!([sov]));
    }
    // The same document from a sovereign host, for a China authority.
    let reply = get(
        &http,
        &discover(
            "login.chinacloudapi.cn",
            "https://login.chinacloudapi.cn/contoso/oauth2/v2.0/authorize",
        ),
    )
    .await;
    assert_eq!(
        reply.body["tenant_discovery_endpoint"],
        "https://login.chinacloudapi.cn/contoso/v2.0/.well-known/openid-configuration"
    );
    assert_eq!(reply.body["metadata"].as_array().unwrap().len(), metadata.len());

    // Hosts Entra does not know, B2C's and CIAM's included: AADSTS50049.
    for endpoint in [
        "https://login.example.com/contoso/oauth2/v2.0/authorize".to_owned(),
        format!("https://{B2C_HOST}/{B2C_DOMAIN}/oauth2/v2.0/authorize"),
        format!("https://{CIAM_HOST}/{CIAM_DOMAIN}/oauth2/v2.0/authorize"),
        format!("https://{ADFS_HOST}/adfs/oauth2/authorize"),
    ] {
        let reply = get(&http, &discover("login.microsoftonline.com", &endpoint)).await;
        assert_entra_error(&reply, 400, "invalid_instance", 50049);
        assert!(
            reply.body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADSTS50049: Unknown or invalid instance."),
            "{}",
            reply.body
        );
    }
}

#[tokio::test]
async fn personal_accounts_land_in_the_consumers_tenant() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let scope = "openid profile offline_access User.Read";
    for segment in ["common", "consumers"] {
        let authorize = format!("{}/oauth2/v2.0/authorize", em.authority(segment));
        let user = User::new(&em, ERIN_UPN, ERIN_PASSWORD).unwrap();
        let (code, params) = code_of(
            user.sign_in(&authorize_url(&authorize, PUBLIC_CLIENT_ID, scope))
                .await
                .unwrap(),
        );
        let info = decode_client_info(params["client_info"].as_str().unwrap());
        assert_eq!(info, json!({"uid": ERIN_OBJECT_ID, "utid": CONSUMERS_TENANT_ID}));
        let token_endpoint = format!("{}/oauth2/v2.0/token", em.authority(segment));
        let reply = redeem(&http, &token_endpoint, PUBLIC_CLIENT_ID, &code).await;
        assert_eq!(reply.status, 200, "{segment}: {}", reply.body);
        let id = claims(reply.body["id_token"].as_str().unwrap());
        assert_eq!(id["tid"], CONSUMERS_TENANT_ID);
        assert_eq!(id["iss"], format!("{}/{CONSUMERS_TENANT_ID}/v2.0", em.url()));
        assert_eq!(id["preferred_username"], ERIN_UPN);
        assert_eq!(
            decode_client_info(reply.body["client_info"].as_str().unwrap())["utid"],
            CONSUMERS_TENANT_ID
        );
        // Refreshing at the same authority works.
        let refreshed = post_form(
            &http,
            &token_endpoint,
            &[
                ("grant_type", "refresh_token"),
                ("client_id", PUBLIC_CLIENT_ID),
                ("refresh_token", reply.body["refresh_token"].as_str().unwrap()),
                ("scope", scope),
            ],
        )
        .await;
        assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    }

    // organizations: work and school accounts only.
    let organizations = authorize_url(
        &format!("{}/oauth2/v2.0/authorize", em.authority("organizations")),
        PUBLIC_CLIENT_ID,
        scope,
    );
    let error = refused(&em, &organizations, ERIN_UPN, ERIN_PASSWORD).await;
    assert!(error.contains("AADSTS500200"), "{error}");
    assert!(error.contains("personal Microsoft account"), "{error}");
    // A tenant refuses them too.
    let contoso = authorize_url(
        &format!("{}/oauth2/v2.0/authorize", em.authority(CONTOSO_TENANT_NAME)),
        PUBLIC_CLIENT_ID,
        scope,
    );
    assert!(
        refused(&em, &contoso, ERIN_UPN, ERIN_PASSWORD)
            .await
            .contains("AADSTS500200")
    );
    // consumers: personal accounts only.
    let consumers = authorize_url(
        &format!("{}/oauth2/v2.0/authorize", em.authority("consumers")),
        PUBLIC_CLIENT_ID,
        scope,
    );
    let error = refused(&em, &consumers, ALICE_UPN, ALICE_PASSWORD).await;
    assert!(error.contains("AADSTS50034"), "{error}");
    // An app not enabled for personal accounts refuses them at common.
    let foci = authorize_url(
        &format!("{}/oauth2/v2.0/authorize", em.authority("common")),
        FOCI_APP_A_CLIENT_ID,
        scope,
    );
    let error = refused(&em, &foci, ERIN_UPN, ERIN_PASSWORD).await;
    assert!(
        error.contains("AADSTS700016") && error.contains("not enabled for consumers"),
        "{error}"
    );
    // Work accounts still sign in at organizations.
    let user = User::new(&em, ALICE_UPN, ALICE_PASSWORD).unwrap();
    code_of(user.sign_in(&organizations).await.unwrap());
}

/// The B2C authority of `policy`, as the app configures it.
fn b2c_authority(em: &Emulator, policy: &str) -> String {
    format!("{}/{B2C_DOMAIN}/{policy}", host_url(em, B2C_HOST))
}

#[tokio::test]
async fn b2c_discovery_names_the_policy_and_the_tenant_issuer() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let base = host_url(&em, B2C_HOST);
    // Policies match in any case; endpoints are written in lowercase.
    for policy in [B2C_SIGNUP_SIGNIN_POLICY, "b2c_1_SIGNUPSIGNIN"] {
        let doc = get(
            &http,
            &format!(
                "{}/v2.0/.well-known/openid-configuration",
                b2c_authority(&em, policy)
            ),
        )
        .await;
        assert_eq!(doc.status, 200, "{}", doc.body);
        let endpoints = format!("{base}/{B2C_DOMAIN}/b2c_1_signupsignin");
        assert_eq!(doc.body["issuer"], format!("{base}/{B2C_TENANT_ID}/v2.0/"));
        assert_eq!(
            doc.body["authorization_endpoint"],
            format!("{endpoints}/oauth2/v2.0/authorize")
        );
        assert_eq!(
            doc.body["token_endpoint"],
            format!("{endpoints}/oauth2/v2.0/token")
        );
        assert_eq!(doc.body["jwks_uri"], format!("{endpoints}/discovery/v2.0/keys"));
        assert!(
            doc.body["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!("tfp"))
        );
        let keys = get(&http, doc.body["jwks_uri"].as_str().unwrap()).await;
        assert_eq!(keys.status, 200);
        assert_eq!(keys.body["keys"][0]["kty"], "RSA");
    }
    // An unknown policy, an unknown tenant, and Entra's paths: B2C errors.
    for url in [
        format!(
            "{}/v2.0/.well-known/openid-configuration",
            b2c_authority(&em, "B2C_1_nope")
        ),
        format!(
            "{base}/contoso.onmicrosoft.com/{B2C_SIGNUP_SIGNIN_POLICY}/v2.0/.well-known/openid-configuration"
        ),
        format!("{base}/{B2C_DOMAIN}/v2.0/.well-known/openid-configuration"),
    ] {
        let reply = get(&http, &url).await;
        assert_eq!(reply.status, 404, "{url}: {}", reply.body);
        assert!(
            reply.body["error_description"]
                .as_str()
                .unwrap()
                .starts_with("AADB2C"),
            "{}",
            reply.body
        );
    }
}

/// Redeems a B2C code and checks the tokens' B2C shape; returns the reply body.
async fn b2c_tokens(http: &Client, em: &Emulator, code: &str, oid: &str, idp: Option<&str>) -> Value {
    let token_endpoint = format!(
        "{}/oauth2/v2.0/token",
        b2c_authority(em, B2C_SIGNUP_SIGNIN_POLICY)
    );
    let reply = redeem(http, &token_endpoint, B2C_CLIENT_ID, code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = reply.body;
    let issuer = format!("{}/{B2C_TENANT_ID}/v2.0/", host_url(em, B2C_HOST));
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], issuer);
    assert_eq!(id["aud"], B2C_CLIENT_ID);
    assert_eq!(id["sub"], oid);
    assert_eq!(id["oid"], oid);
    assert_eq!(id["tfp"], B2C_SIGNUP_SIGNIN_POLICY);
    assert_eq!(id["nonce"], "n-1");
    assert_eq!(id.get("idp").and_then(Value::as_str), idp);
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["iss"], issuer);
    assert_eq!(at["aud"], B2C_API_CLIENT_ID);
    assert_eq!(at["scp"], "demo.read");
    assert_eq!(at["tfp"], B2C_SIGNUP_SIGNIN_POLICY);
    assert_eq!(at.get("idp").and_then(Value::as_str), idp);
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(
        body["scope"],
        format!("{B2C_API_IDENTIFIER_URI}/demo.read openid offline_access")
    );
    assert_eq!(
        decode_client_info(body["client_info"].as_str().unwrap()),
        json!({"uid": format!("{oid}-b2c_1_signupsignin"), "utid": B2C_TENANT_ID})
    );
    assert!(body["refresh_token"].is_string());
    body
}

const B2C_SCOPE: &str = "https://fabrikamb2c.onmicrosoft.com/api/demo.read openid offline_access";

#[tokio::test]
async fn b2c_local_account_code_flow_and_refresh_under_the_same_policy() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let authority = b2c_authority(&em, B2C_SIGNUP_SIGNIN_POLICY);
    let auth_uri = authorize_url(
        &format!("{authority}/oauth2/v2.0/authorize"),
        B2C_CLIENT_ID,
        B2C_SCOPE,
    );
    let user = User::new(&em, EMMA_EMAIL, EMMA_PASSWORD).unwrap();
    let (code, params) = code_of(user.sign_in(&auth_uri).await.unwrap());
    assert_eq!(
        decode_client_info(params["client_info"].as_str().unwrap())["uid"],
        format!("{EMMA_OBJECT_ID}-b2c_1_signupsignin")
    );
    let body = b2c_tokens(&http, &em, &code, EMMA_OBJECT_ID, None).await;
    let rt = body["refresh_token"].as_str().unwrap();

    // The same policy (any case) refreshes; another policy refuses the grant.
    let refresh = |policy: &str| {
        let url = format!("{}/oauth2/v2.0/token", b2c_authority(&em, policy));
        let http = http.clone();
        let rt = rt.to_owned();
        async move {
            post_form(
                &http,
                &url,
                &[
                    ("grant_type", "refresh_token"),
                    ("client_id", B2C_CLIENT_ID),
                    ("refresh_token", &rt),
                    ("scope", B2C_SCOPE),
                    ("client_info", "1"),
                ],
            )
            .await
        }
    };
    let refreshed = refresh("b2c_1_signupsignin").await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    let at = claims(refreshed.body["access_token"].as_str().unwrap());
    assert_eq!(at["tfp"], B2C_SIGNUP_SIGNIN_POLICY);
    assert_eq!(at["oid"], EMMA_OBJECT_ID);
    let other = refresh(B2C_PROFILE_EDIT_POLICY).await;
    assert_eq!(other.status, 400, "{}", other.body);
    assert_eq!(other.body["error"], "invalid_grant");
    assert!(
        other.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("AADB2C90088:"),
        "{}",
        other.body
    );
    // The code is single-use; Entra's token endpoint does not take B2C grants.
    let again = redeem(
        &http,
        &format!("{authority}/oauth2/v2.0/token"),
        B2C_CLIENT_ID,
        &code,
    )
    .await;
    assert_eq!(again.status, 400);
    let entra = post_form(
        &http,
        &format!("{}/oauth2/v2.0/token", em.authority("common")),
        &[
            ("grant_type", "refresh_token"),
            ("client_id", B2C_CLIENT_ID),
            ("refresh_token", rt),
        ],
    )
    .await;
    assert_eq!(entra.status, 400, "{}", entra.body);

    // Wrong passwords and social accounts stay on the local account form.
    let error = refused(&em, &auth_uri, EMMA_EMAIL, "wrong").await;
    assert!(error.contains("Your password is incorrect"), "{error}");
    let error = refused(&em, &auth_uri, FRANK_EMAIL, FRANK_PASSWORD).await;
    assert!(error.contains("find your account"), "{error}");
    // B2C users cannot sign in at Entra's hosts.
    let entra_uri = authorize_url(
        &format!("{}/oauth2/v2.0/authorize", em.authority("common")),
        PUBLIC_CLIENT_ID,
        "openid",
    );
    assert!(
        refused(&em, &entra_uri, EMMA_EMAIL, EMMA_PASSWORD)
            .await
            .contains("AADSTS50034")
    );
}

#[tokio::test]
async fn b2c_social_account_signs_in_at_the_provider_and_carries_idp() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let authority = b2c_authority(&em, B2C_SIGNUP_SIGNIN_POLICY);
    let auth_uri = authorize_url(
        &format!("{authority}/oauth2/v2.0/authorize"),
        B2C_CLIENT_ID,
        B2C_SCOPE,
    );
    let user = User::new(&em, FRANK_EMAIL, FRANK_PASSWORD).unwrap();
    let (code, _) = code_of(
        user.sign_in_with_provider(&auth_uri, SOCIAL_IDP_NAME)
            .await
            .unwrap(),
    );
    b2c_tokens(&http, &em, &code, FRANK_OBJECT_ID, Some(SOCIAL_IDP)).await;

    // The provider's page is on its own host and checks the password.
    let page = msal_test_support::browser(&em)
        .unwrap()
        .get(&auth_uri)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let href = msal_test_support::html::link_href(&page, &format!("idp-{SOCIAL_IDP_NAME}")).unwrap();
    assert!(
        href.starts_with(&format!("{}/oauth2/authorize?", host_url(&em, SOCIAL_HOST))),
        "{href}"
    );
    let wrong = User::new(&em, FRANK_EMAIL, "wrong").unwrap();
    let error = wrong
        .sign_in_with_provider(&auth_uri, SOCIAL_IDP_NAME)
        .await
        .expect_err("a wrong password is refused")
        .to_string();
    assert!(error.contains("Wrong email or password"), "{error}");
    // Local accounts are not the provider's.
    let emma = User::new(&em, EMMA_EMAIL, EMMA_PASSWORD).unwrap();
    assert!(
        emma.sign_in_with_provider(&auth_uri, SOCIAL_IDP_NAME)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn ciam_discovery_and_sign_in_use_the_tenant_guid_and_its_issuer() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let base = host_url(&em, CIAM_HOST);
    let issuer = format!(
        "{}/{CIAM_TENANT_ID}/v2.0",
        host_url(&em, &format!("{CIAM_TENANT_ID}.ciamlogin.com"))
    );
    let mut token_endpoint = String::new();
    let mut authorize_endpoint = String::new();
    for segment in [CIAM_DOMAIN, CIAM_TENANT_ID] {
        let doc = get(
            &http,
            &format!("{base}/{segment}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(doc.status, 200, "{}", doc.body);
        assert_eq!(doc.body["issuer"], issuer);
        assert_eq!(
            doc.body["token_endpoint"],
            format!("{base}/{CIAM_TENANT_ID}/oauth2/v2.0/token")
        );
        token_endpoint = doc.body["token_endpoint"].as_str().unwrap().to_owned();
        authorize_endpoint = doc.body["authorization_endpoint"].as_str().unwrap().to_owned();
    }
    // Only its own tenant is served on a CIAM host.
    for other in [CONTOSO_DOMAIN, "common"] {
        let reply = get(
            &http,
            &format!("{base}/{other}/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_entra_error(&reply, 400, "invalid_tenant", 90002);
    }
    let scope = "openid profile offline_access";
    let auth_uri = authorize_url(&authorize_endpoint, CIAM_CLIENT_ID, scope);
    let user = User::new(&em, GRACE_EMAIL, GRACE_PASSWORD).unwrap();
    let (code, params) = code_of(user.sign_in(&auth_uri).await.unwrap());
    assert_eq!(
        decode_client_info(params["client_info"].as_str().unwrap()),
        json!({"uid": GRACE_OBJECT_ID, "utid": CIAM_TENANT_ID})
    );
    let reply = redeem(&http, &token_endpoint, CIAM_CLIENT_ID, &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let id = claims(reply.body["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], issuer);
    assert_eq!(id["tid"], CIAM_TENANT_ID);
    assert_eq!(id["preferred_username"], GRACE_EMAIL);
    // A workforce user is not one of its customers.
    let error = refused(&em, &auth_uri, ALICE_UPN, ALICE_PASSWORD).await;
    assert!(error.contains("AADSTS50020"), "{error}");
}

#[tokio::test]
async fn adfs_discovery_and_code_flow_without_client_info() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let authority = format!("{}/adfs", host_url(&em, ADFS_HOST));
    let doc = get(&http, &format!("{authority}/.well-known/openid-configuration")).await;
    assert_eq!(doc.status, 200, "{}", doc.body);
    assert_eq!(doc.body["issuer"], authority);
    assert_eq!(
        doc.body["authorization_endpoint"],
        format!("{authority}/oauth2/authorize/")
    );
    assert_eq!(doc.body["token_endpoint"], format!("{authority}/oauth2/token/"));
    assert_eq!(doc.body["jwks_uri"], format!("{authority}/discovery/keys"));
    assert_eq!(
        doc.body["access_token_issuer"],
        format!("http://{ADFS_HOST}/adfs/services/trust")
    );
    let keys = get(&http, doc.body["jwks_uri"].as_str().unwrap()).await;
    assert_eq!(keys.status, 200);
    assert!(keys.body["keys"][0].get("issuer").is_none(), "{}", keys.body);

    let scope = "openid profile offline_access";
    let auth_uri = authorize_url(
        doc.body["authorization_endpoint"].as_str().unwrap(),
        PUBLIC_CLIENT_ID,
        scope,
    );
    let user = User::new(&em, DAVE_UPN, DAVE_PASSWORD).unwrap();
    let (code, params) = code_of(user.sign_in(&auth_uri).await.unwrap());
    assert!(params.get("client_info").is_none(), "{params}");
    let token_endpoint = doc.body["token_endpoint"].as_str().unwrap();
    let reply = redeem(&http, token_endpoint, PUBLIC_CLIENT_ID, &code).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let body = &reply.body;
    assert!(body.get("client_info").is_none(), "{body}");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["resource"], "urn:microsoft:userinfo");
    let id = claims(body["id_token"].as_str().unwrap());
    assert_eq!(id["iss"], authority);
    assert_eq!(id["aud"], PUBLIC_CLIENT_ID);
    assert_eq!(id["upn"], DAVE_UPN);
    assert_eq!(id["unique_name"], "WOODGROVE\\dave");
    assert_eq!(id["nonce"], "n-1");
    assert!(id["sub"].as_str().is_some_and(|s| !s.is_empty()));
    let at = claims(body["access_token"].as_str().unwrap());
    assert_eq!(at["appid"], PUBLIC_CLIENT_ID);
    assert_eq!(at["scp"], "openid profile");
    assert_eq!(at["iss"], format!("http://{ADFS_HOST}/adfs/services/trust"));

    let refreshed = post_form(
        &http,
        token_endpoint,
        &[
            ("grant_type", "refresh_token"),
            ("client_id", PUBLIC_CLIENT_ID),
            ("refresh_token", body["refresh_token"].as_str().unwrap()),
            ("client_info", "1"),
        ],
    )
    .await;
    assert_eq!(refreshed.status, 200, "{}", refreshed.body);
    assert!(refreshed.body.get("client_info").is_none());
    // A replayed code, and a managed (not federated) user: refused.
    let again = redeem(&http, token_endpoint, PUBLIC_CLIENT_ID, &code).await;
    assert_eq!(again.status, 400);
    assert!(
        again.body["error_description"]
            .as_str()
            .unwrap()
            .starts_with("MSIS9612")
    );
    let error = refused(&em, &auth_uri, ALICE_UPN, ALICE_PASSWORD).await;
    assert!(error.contains("Incorrect user ID or password"), "{error}");
}
