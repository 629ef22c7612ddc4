//! Test support: a fake Entra ID behind the [`HttpClient`] trait, answering
//! discovery like `login.microsoftonline.com` and token requests with
//! whatever the test queued, and recording every request it received.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::error::TransportError;
use crate::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse, Method};

pub(crate) const TENANT_ID: &str = "72f988bf-86f1-41af-91ab-2d7cd011db47";
pub(crate) const AUTHORITY: &str = "https://login.microsoftonline.com/contoso.onmicrosoft.com";
pub(crate) const ENVIRONMENT: &str = "login.microsoftonline.com";
pub(crate) const CLIENT_ID: &str = "04b07795-8ddb-461a-bbee-02f9e1bf7b46";
pub(crate) const REDIRECT_URI: &str = "http://localhost:8400/redirect";

#[derive(Clone, Default)]
pub(crate) struct FakeIdp {
    state: Arc<Mutex<State>>,
}

#[derive(Default)]
struct State {
    token_responses: VecDeque<(u16, Value)>,
    requests: Vec<HttpRequest>,
}

impl FakeIdp {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Queues the next token endpoint answer.
    pub(crate) fn respond(&self, status: u16, body: Value) {
        self.state
            .lock()
            .unwrap()
            .token_responses
            .push_back((status, body));
    }

    /// Token requests received so far (discovery excluded).
    pub(crate) fn token_requests(&self) -> Vec<HttpRequest> {
        self.state
            .lock()
            .unwrap()
            .requests
            .iter()
            .filter(|r| r.method == Method::Post)
            .cloned()
            .collect()
    }

    /// Every request received so far.
    pub(crate) fn requests(&self) -> Vec<HttpRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    pub(crate) fn request_count(&self) -> usize {
        self.state.lock().unwrap().requests.len()
    }
}

impl HttpClient for FakeIdp {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let mut state = self.state.lock().unwrap();
            state.requests.push(request.clone());
            let base = format!("https://{ENVIRONMENT}/{TENANT_ID}");
            let (status, body) = if request.url.path().ends_with("/.well-known/openid-configuration") {
                (
                    200,
                    json!({
                        "token_endpoint": format!("{base}/oauth2/v2.0/token"),
                        "authorization_endpoint": format!("{base}/oauth2/v2.0/authorize"),
                        "device_authorization_endpoint": format!("{base}/oauth2/v2.0/devicecode"),
                        "issuer": format!("{base}/v2.0"),
                        "jwks_uri": format!("https://{ENVIRONMENT}/{TENANT_ID}/discovery/v2.0/keys"),
                    }),
                )
            } else {
                state.token_responses.pop_front().unwrap_or((
                    400,
                    json!({"error": "invalid_request", "error_description": "no response queued"}),
                ))
            };
            Ok(HttpResponse {
                status,
                headers: vec![("content-type".into(), "application/json".into())],
                body: body.to_string().into_bytes(),
            })
        })
    }
}

/// The form fields of a request body.
pub(crate) fn form(request: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(&request.body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// The query parameters of a URL.
pub(crate) fn query(url: &str) -> HashMap<String, String> {
    let url = url::Url::parse(url).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// An unsigned JWT with these claims (signatures are not checked).
pub(crate) fn jwt(claims: &Value) -> String {
    format!(
        "{}.{}.c2lnbmF0dXJl",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}

pub(crate) fn client_info(uid: &str, utid: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({"uid": uid, "utid": utid}).to_string())
}

/// A user's ID token claims as Entra v2.0 issues them.
pub(crate) fn id_token_claims(oid: &str, username: &str, nonce: &str, auth_time: u64) -> Value {
    json!({
        "aud": CLIENT_ID,
        "iss": format!("https://{ENVIRONMENT}/{TENANT_ID}/v2.0"),
        "iat": auth_time,
        "nbf": auth_time,
        "exp": auth_time + 3600,
        "auth_time": auth_time,
        "name": "Test User",
        "nonce": nonce,
        "oid": oid,
        "preferred_username": username,
        "sub": format!("sub-{oid}"),
        "tid": TENANT_ID,
        "ver": "2.0",
    })
}

/// An Entra token response for a user, the way the token endpoint answers an
/// authorization code redemption.
pub(crate) fn user_token_response(oid: &str, username: &str, nonce: &str, auth_time: u64) -> Value {
    json!({
        "token_type": "Bearer",
        "scope": "User.Read openid profile email",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": format!("at-secret-{oid}"),
        "refresh_token": format!("rt-secret-{oid}"),
        "id_token": jwt(&id_token_claims(oid, username, nonce, auth_time)),
        "client_info": client_info(oid, TENANT_ID),
    })
}
