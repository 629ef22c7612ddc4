//! The username/password flow against a scripted Entra and federation
//! server: which requests go where, with what, and what lands in the cache.

use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::*;
use crate::error::TransportError;
use crate::http::{BoxFuture, HttpClient, HttpResponse};
use crate::testing::{self, AUTHORITY, CLIENT_ID, ENVIRONMENT, TENANT_ID};
use crate::wstrust::mex::tests::adfs_mex;
use crate::wstrust::response::tests::{FAULT, SAML2_ASSERTION, SAML11_ASSERTION, rstr_13, rstr_2005};
use crate::{ClientSecret, ConfidentialClientApplication, PublicClientApplication, TokenSource};

const PASSWORD: &str = "Pa<ss&\"wörd'>";
const FS: &str = "fs.woodgrove.com";

/// `(method, url prefix, status, content type, body)`.
type Route = (Method, String, u16, &'static str, String);

/// Answers by URL: `(method, url prefix) -> (status, content type, body)`,
/// first match wins; records every request.
#[derive(Clone, Default)]
struct Scripted {
    routes: Arc<Mutex<Vec<Route>>>,
    requests: Arc<Mutex<Vec<HttpRequest>>>,
}

impl Scripted {
    fn new() -> Self {
        let s = Self::default();
        let base = format!("https://{ENVIRONMENT}/{TENANT_ID}");
        s.route(
            Method::Get,
            &format!("https://{ENVIRONMENT}/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"),
            200,
            "application/json",
            json!({
                "token_endpoint": format!("{base}/oauth2/v2.0/token"),
                "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
                "issuer": format!("{base}/v2.0"),
            })
            .to_string(),
        );
        s
    }

    fn route(&self, method: Method, prefix: &str, status: u16, content_type: &'static str, body: String) {
        self.routes
            .lock()
            .unwrap()
            .push((method, prefix.to_owned(), status, content_type, body));
    }

    fn realm(&self, body: Value) {
        self.route(
            Method::Get,
            &format!("https://{ENVIRONMENT}/common/userrealm/"),
            200,
            "application/json",
            body.to_string(),
        );
    }

    fn token(&self, status: u16, body: Value) {
        self.route(
            Method::Post,
            &format!("https://{ENVIRONMENT}/{TENANT_ID}/oauth2/v2.0/token"),
            status,
            "application/json",
            body.to_string(),
        );
    }

    fn requests(&self) -> Vec<HttpRequest> {
        self.requests.lock().unwrap().clone()
    }

    fn requests_to(&self, prefix: &str) -> Vec<HttpRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.url.as_str().starts_with(prefix))
            .collect()
    }

    fn token_requests(&self) -> Vec<HttpRequest> {
        self.requests_to(&format!("https://{ENVIRONMENT}/{TENANT_ID}/oauth2/v2.0/token"))
    }
}

impl HttpClient for Scripted {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            self.requests.lock().unwrap().push(request.clone());
            let routes = self.routes.lock().unwrap();
            let found = routes.iter().find(|(m, prefix, ..)| {
                *m == request.method && request.url.as_str().starts_with(prefix.as_str())
            });
            let (status, content_type, body) = match found {
                Some((_, _, status, content_type, body)) => (*status, *content_type, body.clone()),
                None => (404, "text/plain", "not found".to_owned()),
            };
            Ok(HttpResponse {
                status,
                headers: vec![("content-type".into(), content_type.into())],
                body: body.into_bytes(),
            })
        })
    }
}

fn app(http: &Scripted) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .http_client(http.clone())
        .build()
        .unwrap()
}

/// A user token response whose ID token has `username` as preferred_username (or none).
fn user_tokens(oid: &str, username: Option<&str>) -> Value {
    let mut claims = testing::id_token_claims(oid, username.unwrap_or_default(), "", 1_700_000_000);
    let claims_map = claims.as_object_mut().unwrap();
    claims_map.remove("nonce");
    if username.is_none() {
        claims_map.remove("preferred_username");
    }
    json!({
        "token_type": "Bearer",
        "scope": "User.Read openid profile",
        "expires_in": 3599,
        "access_token": format!("at-{oid}"),
        "refresh_token": format!("rt-{oid}"),
        "id_token": testing::jwt(&claims),
        "client_info": testing::client_info(oid, TENANT_ID),
    })
}

fn federated_realm(mex: bool) -> Value {
    let mut realm = json!({
        "ver": "1.0",
        "account_type": "Federated",
        "domain_name": "woodgrove.com",
        "federation_protocol": "WSTrust",
        "federation_active_auth_url": format!("https://{FS}/adfs/services/trust/2005/usernamemixed"),
        "cloud_audience_urn": "urn:federation:MicrosoftOnline:test",
        "cloud_instance_name": "microsoftonline.com",
    });
    if mex {
        realm["federation_metadata_url"] = json!(format!("https://{FS}/adfs/services/trust/mex"));
    }
    realm
}

#[test]
fn user_realm_url_is_formed_like_msal_python() {
    assert_eq!(
        user_realm_url("login.microsoftonline.com", "alice@contoso.com")
            .unwrap()
            .as_str(),
        "https://login.microsoftonline.com/common/userrealm/alice@contoso.com?api-version=1.0"
    );
    assert_eq!(
        user_realm_url("127.0.0.1:8443", "a b/c?#%@x.com")
            .unwrap()
            .as_str(),
        "https://127.0.0.1:8443/common/userrealm/a%20b%2Fc%3F%23%25@x.com?api-version=1.0"
    );
}

#[test]
fn user_realm_answers_parse() {
    let managed: UserRealm = serde_json::from_value(json!({
        "ver": "1.0", "account_type": "Managed", "domain_name": "contoso.onmicrosoft.com",
        "cloud_instance_name": "microsoftonline.com", "cloud_audience_urn": "urn:federation:MicrosoftOnline"
    }))
    .unwrap();
    assert!(!managed.is_federated());
    let unknown: UserRealm = serde_json::from_value(json!({"account_type": "Unknown"})).unwrap();
    assert!(!unknown.is_federated());
    let federated: UserRealm = serde_json::from_value(federated_realm(true)).unwrap();
    assert!(federated.is_federated());
    assert_eq!(
        federated.cloud_audience_urn(),
        "urn:federation:MicrosoftOnline:test"
    );
    assert_eq!(
        federated.federation_metadata_url.as_deref(),
        Some("https://fs.woodgrove.com/adfs/services/trust/mex")
    );
    let bare: UserRealm = serde_json::from_value(json!({"account_type": "federated"})).unwrap();
    assert!(bare.is_federated());
    assert_eq!(bare.cloud_audience_urn(), "urn:federation:MicrosoftOnline");
}

#[tokio::test]
async fn managed_user_uses_the_password_grant() {
    let http = Scripted::new();
    http.realm(json!({"ver": "1.0", "account_type": "Managed", "domain_name": "contoso.com"}));
    http.token(200, user_tokens("alice-oid", Some("alice@contoso.com")));
    let app = app(&http);
    let result = app
        .acquire_token_by_username_password("alice@contoso.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(result.access_token.expose_secret(), "at-alice-oid");

    let realm = http.requests_to(&format!("https://{ENVIRONMENT}/common/userrealm/"));
    assert_eq!(realm.len(), 1);
    assert_eq!(
        realm[0].url.as_str(),
        "https://login.microsoftonline.com/common/userrealm/alice@contoso.com?api-version=1.0"
    );
    assert_eq!(realm[0].header("Accept"), Some("application/json"));
    assert!(realm[0].header("client-request-id").is_some());

    let token = &http.token_requests()[0];
    let form = testing::form(token);
    assert_eq!(form["grant_type"], "password");
    assert_eq!(form["username"], "alice@contoso.com");
    assert_eq!(form["password"], PASSWORD);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["client_info"], "1");
    assert_eq!(form["scope"], "User.Read offline_access openid profile");
    assert!(!form.contains_key("client_secret") && !form.contains_key("claims"));
    assert_eq!(token.header("X-AnchorMailbox"), Some("upn:alice@contoso.com"));
    assert_eq!(token.header("x-client-current-telemetry"), Some("4|301,0|"));
    // Nothing went to a federation server.
    assert!(http.requests_to(&format!("https://{FS}")).is_empty());

    let accounts = app.get_accounts(None);
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].username, "alice@contoso.com");
    assert_eq!(accounts[0].account_source.as_deref(), Some("password"));
    assert_eq!(accounts[0].home_account_id, format!("alice-oid.{TENANT_ID}"));
    // The cached token answers a silent call.
    let silent = app
        .acquire_token_silent(["User.Read"], &accounts[0])
        .await
        .unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
}

#[tokio::test]
async fn unknown_realm_and_404_fall_back_to_the_password_grant_and_errors_stay_typed() {
    // No realm route at all: the fake answers 404, as clouds without user realm discovery do.
    let http = Scripted::new();
    http.token(
        400,
        json!({"error": "invalid_grant", "error_description": "AADSTS50126: Error validating credentials due to invalid username or password.", "error_codes": [50126]}),
    );
    let err = app(&http)
        .acquire_token_by_username_password("bob@contoso.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap_err();
    let service = err.service_error().unwrap();
    assert_eq!(service.error, "invalid_grant");
    assert_eq!(service.aadsts_code(), Some(50126));
    assert!(!format!("{err:?} {err}").contains(PASSWORD));
    assert_eq!(testing::form(&http.token_requests()[0])["grant_type"], "password");

    // A failing realm endpoint is an error, naming no username.
    let http = Scripted::new();
    http.route(
        Method::Get,
        &format!("https://{ENVIRONMENT}/common/userrealm/"),
        500,
        "text/plain",
        "oops".into(),
    );
    let err = app(&http)
        .acquire_token_by_username_password("carol@contoso.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidResponse { status: 500, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("carol"), "{err}");
    assert!(http.token_requests().is_empty());
}

#[tokio::test]
async fn arguments_are_checked_before_any_request() {
    let http = Scripted::new();
    let app = app(&http);
    for (username, scopes) in [("  ", vec!["User.Read"]), ("a@b.c", vec!["openid"])] {
        let err = app
            .acquire_token_by_username_password(username, Password::new("x"), scopes)
            .await
            .unwrap_err();
        assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    }
    assert!(http.requests().is_empty());
}

#[tokio::test]
async fn federated_user_goes_through_ws_trust_13_and_the_saml2_grant() {
    let http = Scripted::new();
    http.realm(federated_realm(true));
    http.route(
        Method::Get,
        &format!("https://{FS}/adfs/services/trust/mex"),
        200,
        "application/soap+xml",
        adfs_mex(FS, true, true),
    );
    http.route(
        Method::Post,
        &format!("https://{FS}/adfs/services/trust/13/usernamemixed"),
        200,
        "application/soap+xml",
        rstr_13(SAML2_ASSERTION),
    );
    // The ID token names no user: the account takes the username signed in with.
    http.token(200, user_tokens("dave-oid", None));
    let app = app(&http);
    let result = app
        .acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap();
    assert_eq!(result.access_token.expose_secret(), "at-dave-oid");

    let rst = http.requests_to(&format!("https://{FS}/adfs/services/trust/13/"));
    assert_eq!(rst.len(), 1);
    assert_eq!(
        rst[0].header("Content-Type"),
        Some("application/soap+xml; charset=utf-8")
    );
    assert_eq!(
        rst[0].header("SOAPAction"),
        Some("http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue")
    );
    // No Entra telemetry or library headers go to a third-party server.
    assert!(rst[0].header("x-client-current-telemetry").is_none());
    let body = String::from_utf8(rst[0].body.clone()).unwrap();
    let doc = crate::wstrust::parse_xml(&body).unwrap();
    let text = |ns: &str, name: &str| {
        doc.descendants()
            .find(|n| n.has_tag_name((ns, name)))
            .and_then(|n| n.text())
            .map(str::to_owned)
    };
    assert_eq!(
        text(crate::wstrust::NS_WSSE, "Password").as_deref(),
        Some(PASSWORD)
    );
    assert_eq!(
        text(crate::wstrust::NS_WSSE, "Username").as_deref(),
        Some("dave@woodgrove.com")
    );
    assert!(body.contains("<wsa:Address>urn:federation:MicrosoftOnline:test</wsa:Address>"));

    let token = &http.token_requests()[0];
    let form = testing::form(token);
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:saml2-bearer"
    );
    assert_eq!(form["assertion"], URL_SAFE_NO_PAD.encode(SAML2_ASSERTION));
    assert_eq!(
        URL_SAFE_NO_PAD.decode(&form["assertion"]).unwrap(),
        SAML2_ASSERTION.as_bytes()
    );
    assert_eq!(form["scope"], "User.Read offline_access openid profile");
    assert_eq!(form["client_info"], "1");
    assert!(!form.contains_key("password") && !form.contains_key("username"));
    assert!(!form.values().any(|v| v.contains("wörd")));
    assert_eq!(token.header("x-client-current-telemetry"), Some("4|301,0|"));

    let accounts = app.get_accounts(None);
    assert_eq!(accounts.len(), 1);
    assert_eq!(accounts[0].username, "dave@woodgrove.com");
    // MSAL Python records account_source only for the grants that establish
    // an account by themselves (password, code, device code), not SAML ones.
    assert_eq!(accounts[0].account_source, None);

    // A second sign-in reuses the user realm and MEX answers.
    app.acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap();
    assert_eq!(
        http.requests_to(&format!("https://{ENVIRONMENT}/common/userrealm/"))
            .len(),
        1
    );
    assert_eq!(
        http.requests_to(&format!("https://{FS}/adfs/services/trust/mex"))
            .len(),
        1
    );
    assert_eq!(
        http.requests_to(&format!("https://{FS}/adfs/services/trust/13/"))
            .len(),
        2
    );
}

#[tokio::test]
async fn federated_user_on_2005_gets_the_saml11_grant() {
    let http = Scripted::new();
    http.realm(federated_realm(true));
    http.route(
        Method::Get,
        &format!("https://{FS}/adfs/services/trust/mex"),
        200,
        "text/xml",
        adfs_mex(FS, false, true),
    );
    http.route(
        Method::Post,
        &format!("https://{FS}/adfs/services/trust/2005/usernamemixed"),
        200,
        "application/soap+xml",
        rstr_2005(SAML11_ASSERTION),
    );
    http.token(200, user_tokens("dave-oid", Some("dave@woodgrove.com")));
    app(&http)
        .acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap();
    let rst = &http.requests_to(&format!("https://{FS}/adfs/services/trust/2005/"))[0];
    assert_eq!(
        rst.header("SOAPAction"),
        Some("http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue")
    );
    let form = testing::form(&http.token_requests()[0]);
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
    );
    assert_eq!(
        URL_SAFE_NO_PAD.decode(&form["assertion"]).unwrap(),
        SAML11_ASSERTION.as_bytes()
    );
}

#[tokio::test]
async fn without_mex_the_active_auth_url_is_used_as_2005() {
    let http = Scripted::new();
    http.realm(federated_realm(false));
    http.route(
        Method::Post,
        &format!("https://{FS}/adfs/services/trust/2005/usernamemixed"),
        200,
        "application/soap+xml",
        rstr_2005(SAML11_ASSERTION),
    );
    http.token(200, user_tokens("dave-oid", Some("dave@woodgrove.com")));
    app(&http)
        .acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap();
    let rst = &http.requests_to(&format!("https://{FS}/"))[0];
    assert_eq!(
        rst.header("SOAPAction"),
        Some("http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue")
    );
    assert!(String::from_utf8_lossy(&rst.body).contains(crate::wstrust::NS_WST2005));
}

#[tokio::test]
async fn federation_without_a_usable_endpoint_is_a_typed_error() {
    // MEX with only a Kerberos endpoint.
    let http = Scripted::new();
    http.realm(federated_realm(true));
    http.route(
        Method::Get,
        &format!("https://{FS}/adfs/services/trust/mex"),
        200,
        "text/xml",
        adfs_mex(FS, false, false),
    );
    let err = app(&http)
        .acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap_err();
    match &err {
        Error::NoWsTrustEndpoint { url } => {
            assert_eq!(url, "https://fs.woodgrove.com/adfs/services/trust/mex")
        }
        other => panic!("{other:?}"),
    }
    assert!(
        http.requests_to(&format!("https://{FS}/adfs/services/trust/2005/"))
            .is_empty()
    );
    assert!(http.token_requests().is_empty());

    // An active auth URL of no known shape, and no MEX.
    let http = Scripted::new();
    let mut realm = federated_realm(false);
    realm["federation_active_auth_url"] = json!(format!("https://{FS}/adfs/ls"));
    http.realm(realm);
    let err = app(&http)
        .acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::NoWsTrustEndpoint { .. }), "{err:?}");

    // A federation URL over plain http: the password never follows it.
    let http = Scripted::new();
    let mut realm = federated_realm(false);
    realm["federation_active_auth_url"] =
        json!(format!("http://{FS}/adfs/services/trust/2005/usernamemixed"));
    http.realm(realm);
    let err = app(&http)
        .acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidResponse { .. }), "{err:?}");
    assert!(http.requests_to(&format!("http://{FS}")).is_empty());
}

#[tokio::test]
async fn soap_fault_is_a_typed_error_without_the_password() {
    let http = Scripted::new();
    http.realm(federated_realm(true));
    http.route(
        Method::Get,
        &format!("https://{FS}/adfs/services/trust/mex"),
        200,
        "text/xml",
        adfs_mex(FS, true, true),
    );
    // AD FS answers a wrong password with HTTP 500 and a fault; this one
    // even echoes the (escaped) password in its reason.
    let echoing = FAULT.replace(
        "Access denied.",
        "Access denied for Pa&lt;ss&amp;&quot;wörd'&gt;.",
    );
    http.route(
        Method::Post,
        &format!("https://{FS}/adfs/services/trust/13/usernamemixed"),
        500,
        "application/soap+xml",
        echoing,
    );
    let err = app(&http)
        .acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap_err();
    match &err {
        Error::WsTrustFault {
            endpoint,
            status,
            code,
            reason,
        } => {
            assert_eq!(
                endpoint,
                "https://fs.woodgrove.com/adfs/services/trust/13/usernamemixed"
            );
            assert_eq!(*status, 500);
            assert_eq!(code, "a:FailedAuthentication");
            assert_eq!(reason, "MSIS7068: Access denied for [REDACTED].");
        }
        other => panic!("{other:?}"),
    }
    let shown = format!("{err} {err:?}");
    assert!(!shown.contains(PASSWORD) && !shown.contains("wörd"), "{shown}");
    assert!(!err.is_interaction_required());
    assert!(http.token_requests().is_empty());

    // Not XML at all: an invalid response, not a panic.
    let http = Scripted::new();
    http.realm(federated_realm(false));
    http.route(
        Method::Post,
        &format!("https://{FS}/adfs/services/trust/2005/usernamemixed"),
        503,
        "text/html",
        "<html><body>Service Unavailable".into(),
    );
    let err = app(&http)
        .acquire_token_by_username_password("dave@woodgrove.com", Password::new(PASSWORD), ["User.Read"])
        .await
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidResponse { status: 503, .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn confidential_clients_send_their_credential_and_claims() {
    let http = Scripted::new();
    http.realm(json!({"account_type": "Managed"}));
    http.token(200, user_tokens("alice-oid", Some("alice@contoso.com")));
    let app = ConfidentialClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .client_secret(ClientSecret::new("app-secret"))
        .client_capabilities(["cp1"])
        .http_client(http.clone())
        .build()
        .unwrap();
    let options =
        UsernamePasswordOptions::default().claims_challenge(r#"{"access_token":{"nbf":{"essential":true}}}"#);
    app.acquire_token_by_username_password_with(
        "alice@contoso.com",
        Password::new(PASSWORD),
        ["User.Read"],
        &options,
    )
    .await
    .unwrap();
    let form = testing::form(&http.token_requests()[0]);
    assert_eq!(form["client_secret"], "app-secret");
    assert_eq!(form["grant_type"], "password");
    let claims: Value = serde_json::from_str(&form["claims"]).unwrap();
    assert_eq!(claims["access_token"]["xms_cc"]["values"][0], "cp1");
    assert_eq!(claims["access_token"]["nbf"]["essential"], true);
    assert_eq!(app.get_accounts(None).len(), 1);
}

#[test]
fn blocking_facade_signs_in() {
    let http = Scripted::new();
    http.realm(json!({"account_type": "Managed"}));
    http.token(200, user_tokens("alice-oid", Some("alice@contoso.com")));
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .http_client(http.clone())
        .build_blocking()
        .unwrap();
    let result = app
        .acquire_token_by_username_password("alice@contoso.com", Password::new(PASSWORD), ["User.Read"])
        .unwrap();
    assert_eq!(result.account.unwrap().username, "alice@contoso.com");
}
