//! AD FS (Windows Server 2019) as an OpenID Connect authority on a host of
//! its own (`https://{host}/adfs`): its discovery document
//! (`/adfs/.well-known/openid-configuration`), keys (`/adfs/discovery/keys`),
//! authorize page and token endpoint (`/adfs/oauth2/authorize|token`, with
//! or without the trailing slash AD FS advertises), for the users of its
//! tenant's federated domains and the apps usable in that tenant.
//!
//! Responses are AD FS's, not Entra's: no `client_info` (whatever the
//! request asked), `token_type` `bearer`, a `resource`, ID tokens with
//! `upn`, `unique_name` (`DOMAIN\user`) and a pairwise `sub`, access tokens
//! with `appid`, `scp` and AD FS's `http://{host}/adfs/services/trust`
//! issuer, and `MSIS` error descriptions.

use std::sync::Arc;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use serde::Serialize;
use serde_json::{Value, json};

use crate::authorize::page::{self, escape};
use crate::authorize::{Reply, ResponseMode, pkce_challenge, redirect_matches};
use crate::context::RequestContext;
use crate::directory::{AdfsServer, App, AppKind, Tenant, User};
use crate::reply;
use crate::scopes::Scopes;
use crate::server::{AccessDetails, AppState, counted};
use crate::site::Site;
use crate::stats::Endpoint;
use crate::store::{self, AuthCode, Realm, RefreshGrant};
use crate::token::authorization_code::{CODE_LIFETIME_SECS, s256};
use crate::token::constant_time_eq;
use crate::token::form::TokenForm;
use crate::token::issue::{self, pairwise_subject, shown_name};

/// AD FS's default refresh token lifetime for public clients (8 hours).
const REFRESH_TOKEN_LIFETIME_SECS: u64 = 8 * 3600;

/// The audience of tokens that only carry OpenID Connect scopes.
const USERINFO_RESOURCE: &str = "urn:microsoft:userinfo";

/// The AD FS site's routes.
pub(crate) fn router(state: &Arc<AppState>) -> Router {
    Router::new()
        .route(
            "/adfs/.well-known/openid-configuration",
            counted(
                state,
                Endpoint::OpenIdConfiguration,
                "GET",
                get(openid_configuration),
            ),
        )
        .route(
            "/adfs/discovery/keys",
            counted(state, Endpoint::Jwks, "GET", get(jwks)),
        )
        .route(
            "/adfs/oauth2/authorize",
            counted(
                state,
                Endpoint::Authorize,
                "GET or POST",
                get(authorize).post(authorize),
            ),
        )
        .route(
            "/adfs/oauth2/authorize/",
            counted(
                state,
                Endpoint::Authorize,
                "GET or POST",
                get(authorize).post(authorize),
            ),
        )
        .route(
            "/adfs/oauth2/token",
            counted(state, Endpoint::Token, "POST", post(token)),
        )
        .route(
            "/adfs/oauth2/token/",
            counted(state, Endpoint::Token, "POST", post(token)),
        )
        .fallback(not_found)
        .with_state(state.clone())
}

/// An AD FS error: OAuth `error` and an `MSIS` description.
#[derive(Debug)]
struct AdfsError {
    status: StatusCode,
    error: &'static str,
    description: String,
}

impl AdfsError {
    fn new(error: &'static str, code: u32, message: &str) -> AdfsError {
        AdfsError {
            status: StatusCode::BAD_REQUEST,
            error,
            description: format!("MSIS{code}: {message}"),
        }
    }

    fn to_response(&self) -> Response {
        reply::json(
            self.status,
            &json!({ "error": self.error, "error_description": self.description }),
        )
    }

    fn page(&self) -> Response {
        let body = format!(
            "<main>\n<h1>An error occurred</h1>\n<div id=\"error\" role=\"alert\">{}</div>\n</main>\n",
            escape(&self.description)
        );
        page::html(self.status, page::document("Sign In", "", &body))
    }

    fn invalid_grant(code: u32, message: &str) -> AdfsError {
        AdfsError::new("invalid_grant", code, message)
    }

    fn invalid_client(message: &str) -> AdfsError {
        AdfsError {
            status: StatusCode::UNAUTHORIZED,
            ..AdfsError::new("invalid_client", 9622, message)
        }
    }
}

async fn not_found(State(state): State<Arc<AppState>>, request: Request) -> Response {
    state.stats.record(Endpoint::Other);
    AdfsError {
        status: StatusCode::NOT_FOUND,
        ..AdfsError::new(
            "invalid_request",
            7065,
            &format!(
                "There are no registered protocol handlers on path {} to process the incoming request.",
                request.uri().path()
            ),
        )
    }
    .to_response()
}

/// The server and tenant this host is.
fn server<'a>(state: &'a AppState, ctx: &RequestContext) -> Option<(&'a AdfsServer, &'a Tenant)> {
    let Site::Adfs(host) = &ctx.site else {
        return None;
    };
    let server = state
        .directory()
        .adfs
        .iter()
        .find(|s| s.host.eq_ignore_ascii_case(host))?;
    let tenant = state.directory().tenant(&server.tenant)?;
    Some((server, tenant))
}

fn no_server() -> Response {
    AdfsError::new(
        "invalid_request",
        7065,
        "No AD FS server is configured on this host.",
    )
    .to_response()
}

/// The authority: `https://{host}[:port]/adfs`, also the ID tokens' issuer.
fn authority(ctx: &RequestContext) -> String {
    format!("{}/adfs", ctx.base_url)
}

/// AD FS's access token issuer (plain `http`, no port: it is a name).
fn access_token_issuer(server: &AdfsServer) -> String {
    format!("http://{}/adfs/services/trust", server.host.to_ascii_lowercase())
}

/// `GET /adfs/.well-known/openid-configuration`.
async fn openid_configuration(State(state): State<Arc<AppState>>, ctx: RequestContext) -> Response {
    let Some((server, _)) = server(&state, &ctx) else {
        return no_server();
    };
    let base = authority(&ctx);
    let body = json!({
        "issuer": base,
        "authorization_endpoint": format!("{base}/oauth2/authorize/"),
        "token_endpoint": format!("{base}/oauth2/token/"),
        "jwks_uri": format!("{base}/discovery/keys"),
        "token_endpoint_auth_methods_supported":
            ["client_secret_post", "client_secret_basic", "private_key_jwt", "windows_client_authentication"],
        "response_types_supported":
            ["code", "id_token", "code id_token", "id_token token", "code token", "code id_token token"],
        "response_modes_supported": ["query", "fragment", "form_post"],
        "grant_types_supported":
            ["authorization_code", "refresh_token", "client_credentials", "urn:ietf:params:oauth:grant-type:jwt-bearer", "implicit", "password", "srv_challenge", "urn:ietf:params:oauth:grant-type:device_code", "device_code"],
        "subject_types_supported": ["pairwise"],
        "scopes_supported":
            ["openid", "profile", "email", "allatclaims", "logon_cert", "aza", "vpn_cert", "user_impersonation", "winhello_cert"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256"],
        "access_token_issuer": access_token_issuer(server),
        "claims_supported":
            ["aud", "iss", "iat", "exp", "auth_time", "nonce", "at_hash", "c_hash", "sub", "upn", "unique_name", "pwd_url", "pwd_exp", "mfa_auth_time", "sid", "nbf"],
        "microsoft_multi_refresh_token": true,
        "userinfo_endpoint": format!("{base}/userinfo"),
        "capabilities": [],
        "end_session_endpoint": format!("{base}/oauth2/logout"),
        "as_access_token_token_binding_supported": true,
        "as_refresh_token_token_binding_supported": true,
        "resource_access_token_token_binding_supported": true,
        "op_id_token_token_binding_supported": true,
        "rp_id_token_token_binding_supported": true,
        "frontchannel_logout_supported": true,
        "frontchannel_logout_session_supported": true,
    });
    reply::json(StatusCode::OK, &body)
}

/// `GET /adfs/discovery/keys`.
async fn jwks(State(state): State<Arc<AppState>>, ctx: RequestContext) -> Response {
    if server(&state, &ctx).is_none() {
        return no_server();
    }
    let mut body = state.signing_keys.jwks("");
    // AD FS's keys carry no `issuer` member (Entra's addition).
    if let Some(keys) = body["keys"].as_array_mut() {
        for key in keys {
            if let Some(key) = key.as_object_mut() {
                key.remove("issuer");
            }
        }
    }
    reply::json(StatusCode::OK, &body)
}

/// The users who sign in at this server: the tenant's users of its
/// federated domains.
fn federated_user<'a>(state: &'a AppState, tenant: &Tenant, username: &str) -> Option<&'a User> {
    state.directory().user(username).filter(|u| {
        tenant.is_named(&u.tenant)
            && u.upn
                .rsplit_once('@')
                .is_some_and(|(_, domain)| tenant.is_federated_domain(domain))
    })
}

/// `DOMAIN\user`, as AD FS's `unique_name` reads.
fn unique_name(tenant: &Tenant, user: &User) -> String {
    let local = user.upn.split('@').next().unwrap_or(&user.upn);
    format!("{}\\{local}", tenant.name.to_ascii_uppercase())
}

/// `GET|POST /adfs/oauth2/authorize`: AD FS's forms sign-in page.
async fn authorize(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let Some((server, tenant)) = server(&state, &ctx) else {
        return no_server();
    };
    let (parts, body) = request.into_parts();
    let form = if parts.method == Method::POST {
        TokenForm::read(&parts.headers, body).await
    } else {
        TokenForm::from_query(parts.uri.query().unwrap_or(""))
    };
    let Ok(form) = form else {
        return AdfsError::new(
            "invalid_request",
            9200,
            "Received invalid OAuth request. The request is malformed.",
        )
        .page();
    };
    let details = AccessDetails::new(None, form.get("client_id"));
    let client = match form
        .get("client_id")
        .and_then(|id| state.directory().app(id))
        .filter(|a| a.usable_in(tenant))
    {
        Some(client) => client,
        None => {
            let e = AdfsError::new(
                "invalid_client",
                9223,
                "Received invalid OAuth authorization request. The received 'client_id' is invalid as no registered client was found with this client identifier. Make sure that the client is registered.",
            );
            return details.attach(e.page());
        }
    };
    let redirect_uri = form.get("redirect_uri").unwrap_or("");
    if !client
        .redirect_uris
        .iter()
        .any(|r| redirect_matches(r, redirect_uri))
    {
        let e = AdfsError::new(
            "invalid_request",
            9224,
            "Received invalid OAuth authorization request. The received 'redirect_uri' parameter is not a valid registered redirect uri for the client identifier.",
        );
        return details.attach(e.page());
    }
    let Some(mode) = ResponseMode::parse(form.get("response_mode")) else {
        let e = AdfsError::new(
            "invalid_request",
            9233,
            "Received invalid OAuth authorization request. The 'response_mode' parameter value is not supported.",
        );
        return details.attach(e.page());
    };
    let reply = Reply {
        redirect_uri: redirect_uri.to_owned(),
        mode,
        state: form.get("state").map(str::to_owned),
    };
    let to_app = |e: AdfsError| {
        reply.send(vec![
            ("error", e.error.to_owned()),
            ("error_description", e.description),
        ])
    };
    if form.get("response_type") != Some("code") {
        return details.attach(to_app(AdfsError::new(
            "unsupported_response_type",
            9331,
            "Received invalid OAuth authorization request. The 'response_type' parameter value is not supported.",
        )));
    }
    let code_challenge = match pkce_challenge(&form, client) {
        Ok(challenge) => challenge,
        Err(e) => return details.attach(to_app(AdfsError::new("invalid_request", 9229, &e.message))),
    };
    let params: Vec<(String, String)> = form
        .params()
        .iter()
        .filter(|(n, _)| n != "username" && n != "password")
        .cloned()
        .collect();
    let response = if parts.method == Method::POST && form.raw("password").is_some() {
        let username = form.raw("username").unwrap_or("").trim();
        let password = form.raw("password").unwrap_or("");
        match federated_user(&state, tenant, username) {
            Some(user) if constant_time_eq(&user.password, password) => {
                let code = store::random_token("adfs.");
                let now = state.clock.now();
                state.store.codes().insert(
                    code.clone(),
                    AuthCode {
                        client_id: client.client_id.clone(),
                        redirect_uri: redirect_uri.to_owned(),
                        code_challenge,
                        upn: user.upn.clone(),
                        tenant_id: tenant.id.clone(),
                        scopes: form
                            .get("scope")
                            .unwrap_or("openid")
                            .split_whitespace()
                            .map(str::to_owned)
                            .collect(),
                        nonce: form.get("nonce").map(str::to_owned),
                        auth_time: now,
                        issued_at: now,
                        redeemed: false,
                        realm: Realm::Adfs {
                            host: server.host.to_ascii_lowercase(),
                        },
                    },
                );
                tracing::info!(host = %server.host, client_id = %client.client_id, user = %user.upn, "issued AD FS authorization code");
                // No client_info, even when asked: AD FS does not know it.
                reply.send(vec![("code", code)])
            }
            _ => sign_in_page(
                &params,
                username,
                Some("Incorrect user ID or password. Type the correct user ID and password, and try again."),
            ),
        }
    } else {
        sign_in_page(&params, form.get("login_hint").unwrap_or(""), None)
    };
    details.attach(response)
}

/// AD FS's forms sign-in page.
fn sign_in_page(params: &[(String, String)], username: &str, error: Option<&str>) -> Response {
    let mut body = String::from("<main>\n<h1>Sign in</h1>\n");
    if let Some(error) = error {
        body.push_str(&format!(
            "<div id=\"error\" role=\"alert\">{}</div>\n",
            escape(error)
        ));
    }
    body.push_str("<form id=\"signin-form\" method=\"post\" action=\"/adfs/oauth2/authorize/\">\n");
    for (name, value) in params {
        body.push_str(&format!(
            "<input type=\"hidden\" name=\"{}\" value=\"{}\">\n",
            escape(name),
            escape(value)
        ));
    }
    body.push_str(&format!(
        "<label for=\"username\">someone@example.com</label>\n\
         <input id=\"username\" name=\"username\" type=\"email\" value=\"{}\" autocomplete=\"username\" autofocus>\n\
         <label for=\"password\">Password</label>\n\
         <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\">\n\
         <button id=\"signin\" type=\"submit\">Sign in</button>\n</form>\n\
         <p><small>msal-emulator: a local AD FS for development and tests.</small></p>\n</main>\n",
        escape(username)
    ));
    page::html(StatusCode::OK, page::document("Sign In", "", &body))
}

/// Claims of an AD FS ID token.
#[derive(Serialize)]
struct IdTokenClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    sub: &'a str,
    upn: &'a str,
    unique_name: &'a str,
    name: &'a str,
    sid: &'a str,
    ver: &'static str,
}

/// Claims of an AD FS access token.
#[derive(Serialize)]
struct AccessTokenClaims<'a> {
    aud: &'a str,
    iss: &'a str,
    iat: u64,
    nbf: u64,
    exp: u64,
    apptype: &'static str,
    appid: &'a str,
    authmethod: &'static str,
    auth_time: u64,
    ver: &'static str,
    scp: &'a str,
    upn: &'a str,
    unique_name: &'a str,
    sid: &'a str,
}

/// The resource of the request's scopes (`{resource}/{value}`), and the
/// scope values; only OpenID Connect scopes mean AD FS's userinfo.
fn resource_and_scp(scopes: &Scopes) -> (String, Vec<String>) {
    let mut resource = None;
    let mut scp: Vec<String> = scopes
        .oidc
        .iter()
        .filter(|s| *s != "offline_access")
        .cloned()
        .collect();
    for scope in &scopes.resource {
        match scope.rsplit_once('/') {
            Some((r, value)) if !r.is_empty() && !value.is_empty() => {
                resource.get_or_insert_with(|| r.to_owned());
                scp.push(value.to_owned());
            }
            _ => scp.push(scope.clone()),
        }
    }
    (resource.unwrap_or_else(|| USERINFO_RESOURCE.to_owned()), scp)
}

struct Mint<'a> {
    server: &'a AdfsServer,
    tenant: &'a Tenant,
    client: &'a App,
    user: &'a User,
    scopes: &'a Scopes,
    nonce: Option<&'a str>,
    auth_time: u64,
}

fn mint(state: &AppState, ctx: &RequestContext, m: &Mint<'_>) -> Result<Value, AdfsError> {
    let server_error = || AdfsError::new("server_error", 9000, "An error occurred issuing the token.");
    let now = state.clock.now();
    let lifetime = state.directory().token_lifetime_secs;
    let (resource, scp) = resource_and_scp(m.scopes);
    let scp = scp.join(" ");
    let unique = unique_name(m.tenant, m.user);
    let sid = issue::unique_token_id();
    let access = AccessTokenClaims {
        aud: &resource,
        iss: &access_token_issuer(m.server),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        apptype: match m.client.kind {
            AppKind::Public => "Public",
            AppKind::Confidential => "Confidential",
        },
        appid: &m.client.client_id,
        authmethod: "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
        auth_time: m.auth_time,
        ver: "1.0",
        scp: &scp,
        upn: &m.user.upn,
        unique_name: &unique,
        sid: &sid,
    };
    let mut body = serde_json::Map::new();
    body.insert(
        "access_token".into(),
        json!(issue::sign(state, &access).map_err(|_| server_error())?),
    );
    body.insert("token_type".into(), json!("bearer"));
    body.insert("expires_in".into(), json!(lifetime));
    body.insert("resource".into(), json!(resource));
    if m.scopes.has("offline_access") {
        let rt = store::random_token("adfs.rt.");
        state.store.refresh_tokens().insert(
            rt.clone(),
            RefreshGrant {
                client_id: m.client.client_id.clone(),
                upn: m.user.upn.clone(),
                tenant_id: m.tenant.id.clone(),
                scopes: m.scopes.all(),
                auth_time: m.auth_time,
                issued_at: now,
                realm: Realm::Adfs {
                    host: m.server.host.to_ascii_lowercase(),
                },
            },
        );
        body.insert("refresh_token".into(), json!(rt));
        body.insert(
            "refresh_token_expires_in".into(),
            json!(REFRESH_TOKEN_LIFETIME_SECS),
        );
    }
    body.insert("scope".into(), json!(scp));
    if m.scopes.has("openid") {
        let sub = pairwise_subject(&m.user.object_id, &m.client.client_id);
        let id = IdTokenClaims {
            aud: &m.client.client_id,
            iss: &authority(ctx),
            iat: now,
            nbf: now,
            exp: now + lifetime,
            auth_time: m.auth_time,
            nonce: m.nonce,
            sub: &sub,
            upn: &m.user.upn,
            unique_name: &unique,
            name: shown_name(m.user),
            sid: &sid,
            ver: "1.0",
        };
        body.insert(
            "id_token".into(),
            json!(issue::sign(state, &id).map_err(|_| server_error())?),
        );
    }
    tracing::info!(host = %m.server.host, client_id = %m.client.client_id, user = %m.user.upn, "issued AD FS tokens");
    Ok(Value::Object(body))
}

/// `POST /adfs/oauth2/token`: `authorization_code`, `refresh_token` and
/// `password`.
async fn token(State(state): State<Arc<AppState>>, ctx: RequestContext, request: Request) -> Response {
    let Some((server, tenant)) = server(&state, &ctx) else {
        return no_server();
    };
    let (parts, body) = request.into_parts();
    let form = match TokenForm::read(&parts.headers, body).await {
        Ok(form) => form,
        Err(_) => {
            return AdfsError::new(
                "invalid_request",
                9200,
                "Received invalid OAuth request. The request body is malformed.",
            )
            .to_response();
        }
    };
    let grant = form.get("grant_type");
    state.stats.record_grant(grant.unwrap_or(""));
    let details = AccessDetails::new(crate::token::logged_grant(grant), form.get("client_id"));
    let response = match redeem(&state, &ctx, server, tenant, &form) {
        Ok(body) => reply::json_no_store(StatusCode::OK, &body),
        Err(e) => e.to_response(),
    };
    details.attach(response)
}

fn redeem(
    state: &AppState,
    ctx: &RequestContext,
    server: &AdfsServer,
    tenant: &Tenant,
    form: &TokenForm,
) -> Result<Value, AdfsError> {
    let client = form
        .get("client_id")
        .and_then(|id| state.directory().app(id))
        .filter(|a| a.usable_in(tenant))
        .ok_or_else(|| {
            AdfsError::invalid_client("Received invalid Client credentials. The client_id is not registered.")
        })?;
    match (client.kind, form.get("client_secret")) {
        (AppKind::Public, None) => {}
        (AppKind::Confidential, Some(secret))
            if client.secrets.iter().any(|s| constant_time_eq(s, secret)) => {}
        _ => {
            return Err(AdfsError::invalid_client(
                "Received invalid Client credentials. The client does not exist or does not have the right credentials.",
            ));
        }
    }
    let realm = Realm::Adfs {
        host: server.host.to_ascii_lowercase(),
    };
    let now = state.clock.now();
    let (user, scopes, nonce, auth_time) = match form.get("grant_type") {
        Some("authorization_code") => {
            let code = form.get("code").unwrap_or("");
            let invalid = || {
                AdfsError::invalid_grant(
                    9612,
                    "The authorization code received in [code] parameter is invalid. ",
                )
            };
            let record = state
                .store
                .codes()
                .get(code)
                .cloned()
                .filter(|c| c.realm == realm)
                .ok_or_else(invalid)?;
            if !record.client_id.eq_ignore_ascii_case(&client.client_id)
                || record.redeemed
                || now.saturating_sub(record.issued_at) >= CODE_LIFETIME_SECS
                || form.get("redirect_uri") != Some(record.redirect_uri.as_str())
            {
                return Err(invalid());
            }
            if let Some(challenge) = &record.code_challenge
                && !form
                    .get("code_verifier")
                    .is_some_and(|v| constant_time_eq(&s256(v), challenge))
            {
                return Err(AdfsError::invalid_grant(
                    9609,
                    "The code_verifier does not match the code_challenge.",
                ));
            }
            match state.store.codes().get_mut(code) {
                Some(c) if !c.redeemed => c.redeemed = true,
                _ => return Err(invalid()),
            }
            let user = state.directory().user(&record.upn).ok_or_else(invalid)?;
            (
                user,
                Scopes::parse(&record.scopes.join(" ")),
                record.nonce,
                record.auth_time,
            )
        }
        Some("refresh_token") => {
            let token = form.get("refresh_token").unwrap_or("");
            let invalid = || {
                AdfsError::invalid_grant(
                    9615,
                    "The refresh token received in refresh_token parameter is invalid.",
                )
            };
            let record = state
                .store
                .refresh_tokens()
                .get(token)
                .cloned()
                .filter(|r| r.realm == realm)
                .ok_or_else(invalid)?;
            if !record.client_id.eq_ignore_ascii_case(&client.client_id)
                || now.saturating_sub(record.issued_at) >= REFRESH_TOKEN_LIFETIME_SECS
            {
                return Err(invalid());
            }
            let user = state.directory().user(&record.upn).ok_or_else(invalid)?;
            let issued = record.scopes.join(" ");
            (
                user,
                Scopes::parse(form.get("scope").unwrap_or(&issued)),
                None,
                record.auth_time,
            )
        }
        Some("password") => {
            let username = form.get("username").unwrap_or("");
            let password = form.raw("password").unwrap_or("");
            let user = federated_user(state, tenant, username)
                .filter(|u| constant_time_eq(&u.password, password))
                .ok_or_else(|| AdfsError::invalid_grant(9659, "Invalid 'username' or 'password'."))?;
            (
                user,
                Scopes::parse(form.get("scope").unwrap_or("openid")),
                None,
                now,
            )
        }
        Some(_) => {
            return Err(AdfsError::new(
                "unsupported_grant_type",
                9611,
                "The authorization server does not support the requested 'grant_type'. The authorization server only supports 'authorization_code' or 'client_credentials' or 'urn:ietf:params:oauth:grant-type:saml1_1-bearer' or 'urn:ietf:params:oauth:grant-type:saml2-bearer' or 'urn:ietf:params:oauth:grant-type:jwt-bearer' or 'refresh_token' or 'password' as the grant type.",
            ));
        }
        None => {
            return Err(AdfsError::new(
                "invalid_request",
                9610,
                "The 'grant_type' parameter is missing.",
            ));
        }
    };
    mint(
        state,
        ctx,
        &Mint {
            server,
            tenant,
            client,
            user,
            scopes: &scopes,
            nonce: nonce.as_deref(),
            auth_time,
        },
    )
}
