//! The authorization code flow with PKCE (RFC 6749 4.1, RFC 7636, OIDC Core
//! 3.1): `initiate_auth_code_flow` builds the URL the user signs in at and
//! the [`AuthCodeFlow`] to keep until the identity provider redirects back;
//! `acquire_token_by_auth_code_flow` checks the redirect's parameters
//! ([`AuthResponse`]) against the flow and redeems the code. Both
//! application types expose the pair.
//!
//! Interactive sign-in is the same two steps around a loopback listener:
//! `initiate` with `response_mode=form_post` and `http://localhost:{port}`,
//! the listener's form fields into [`AuthResponse`], then `acquire` with
//! [`ApiId::AcquireTokenInteractive`](crate::telemetry::ApiId).

use std::collections::HashMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::cache;
use crate::core::{AppCore, Grant, save};
use crate::credential::ClientCredential;
use crate::error::{Error, Result, ServiceError};
use crate::oauth2::{self, AuthorizeRequest};
use crate::result::{AuthenticationResult, IdTokenClaims};
use crate::secret::CachedSecret;
use crate::telemetry::ApiId;
use crate::time::now_epoch;

/// Clock skew tolerated when checking `auth_time` against `max_age` (MSAL's two minutes).
const MAX_AGE_SKEW_SECS: u64 = 120;

/// How the identity provider should treat the user at sign-in (`prompt`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum Prompt {
    /// No interaction at all: fails with `login_required` or
    /// `interaction_required` if the user would have to act.
    None,
    /// Ask for credentials even when a session exists.
    Login,
    /// Show the consent screen even when consent was given.
    Consent,
    /// Let the user pick an account, or add one.
    SelectAccount,
    /// Offer to create an account (self-service sign-up).
    Create,
}

impl Prompt {
    /// The `prompt` value on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            Prompt::None => "none",
            Prompt::Login => "login",
            Prompt::Consent => "consent",
            Prompt::SelectAccount => "select_account",
            Prompt::Create => "create",
        }
    }
}

/// How the identity provider sends the authorization response back (`response_mode`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ResponseMode {
    /// In the redirect URI's query string (a GET). The default.
    Query,
    /// As a form POSTed to the redirect URI, which keeps the code out of
    /// browser history and server logs; recommended.
    FormPost,
}

impl ResponseMode {
    /// The `response_mode` value on the wire.
    pub fn as_str(&self) -> &'static str {
        match self {
            ResponseMode::Query => "query",
            ResponseMode::FormPost => "form_post",
        }
    }
}

/// Options of `initiate_auth_code_flow`. Every field is optional.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct AuthCodeFlowOptions {
    /// The `state` to send; a random one when `None`. It comes back in the
    /// authorization response, which must carry the same value.
    pub state: Option<String>,
    /// The `prompt`; none is sent by default.
    pub prompt: Option<Prompt>,
    /// Pre-fills the sign-in name (usually the UPN).
    pub login_hint: Option<String>,
    /// Skips home realm discovery: `consumers`, `organizations` or a tenant domain.
    pub domain_hint: Option<String>,
    /// A claims challenge from a resource's `WWW-Authenticate` header (a JSON object).
    pub claims_challenge: Option<String>,
    /// Maximum seconds since the user last authenticated; the ID token's
    /// `auth_time` is checked against it.
    pub max_age: Option<u64>,
    /// How the response comes back; the identity provider's default (query) when `None`.
    pub response_mode: Option<ResponseMode>,
    /// Scopes of other resources to consent to now, so later silent calls
    /// can get their tokens; the token this flow returns is not for them.
    pub extra_scopes_to_consent: Vec<String>,
}

impl AuthCodeFlowOptions {
    /// Sets [`state`](Self::state).
    pub fn state(mut self, state: impl Into<String>) -> Self {
        self.state = Some(state.into());
        self
    }

    /// Sets [`prompt`](Self::prompt).
    pub fn prompt(mut self, prompt: Prompt) -> Self {
        self.prompt = Some(prompt);
        self
    }

    /// Sets [`login_hint`](Self::login_hint).
    pub fn login_hint(mut self, login_hint: impl Into<String>) -> Self {
        self.login_hint = Some(login_hint.into());
        self
    }

    /// Sets [`domain_hint`](Self::domain_hint).
    pub fn domain_hint(mut self, domain_hint: impl Into<String>) -> Self {
        self.domain_hint = Some(domain_hint.into());
        self
    }

    /// Sets [`claims_challenge`](Self::claims_challenge).
    pub fn claims_challenge(mut self, claims: impl Into<String>) -> Self {
        self.claims_challenge = Some(claims.into());
        self
    }

    /// Sets [`max_age`](Self::max_age), in seconds.
    pub fn max_age(mut self, seconds: u64) -> Self {
        self.max_age = Some(seconds);
        self
    }

    /// Sets [`response_mode`](Self::response_mode).
    pub fn response_mode(mut self, mode: ResponseMode) -> Self {
        self.response_mode = Some(mode);
        self
    }

    /// Sets [`extra_scopes_to_consent`](Self::extra_scopes_to_consent).
    pub fn extra_scopes_to_consent<I, S>(mut self, scopes: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.extra_scopes_to_consent = scopes.into_iter().map(Into::into).collect();
        self
    }
}

/// A started auth code flow: send the user to [`auth_uri`](Self::auth_uri),
/// keep the flow (a web app puts it in the user's session; it serializes with
/// serde), and pass it with the authorization response to
/// `acquire_token_by_auth_code_flow`.
///
/// It holds the PKCE code verifier, which redeems the code: keep it where
/// only this user's session can read it (a server-side session, or an
/// encrypted cookie). `Debug` never shows it.
#[derive(Clone, Serialize, Deserialize)]
pub struct AuthCodeFlow {
    auth_uri: String,
    state: String,
    redirect_uri: String,
    /// The decorated scopes redeemed for (the field name MSAL Python's flow uses).
    #[serde(rename = "scope")]
    scopes: Vec<String>,
    /// The secret nonce; the authorization request sent its SHA-256.
    nonce: String,
    code_verifier: CachedSecret,
    #[serde(default)]
    claims_challenge: Option<String>,
    #[serde(default)]
    max_age: Option<u64>,
}

impl AuthCodeFlow {
    /// The URL to send the user's browser to.
    pub fn auth_uri(&self) -> &str {
        &self.auth_uri
    }

    /// The `state` the authorization response must carry back.
    pub fn state(&self) -> &str {
        &self.state
    }

    /// Where the identity provider sends the response.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// The scopes the code is redeemed for, including `openid`, `profile`
    /// and `offline_access`.
    pub fn scopes(&self) -> &[String] {
        &self.scopes
    }

    /// The claims challenge the flow was started with.
    pub fn claims_challenge(&self) -> Option<&str> {
        self.claims_challenge.as_deref()
    }

    /// The `max_age` the flow was started with, in seconds.
    pub fn max_age(&self) -> Option<u64> {
        self.max_age
    }
}

impl fmt::Debug for AuthCodeFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AuthCodeFlow")
            .field("auth_uri", &self.auth_uri)
            .field("state", &self.state)
            .field("redirect_uri", &self.redirect_uri)
            .field("scopes", &self.scopes)
            .field("nonce", &"[REDACTED]")
            .field("code_verifier", &self.code_verifier)
            .field("claims_challenge", &self.claims_challenge)
            .field("max_age", &self.max_age)
            .finish()
    }
}

/// The parameters the identity provider sent to the redirect URI: the query
/// string of a GET (`response_mode=query`) or the form of a POST
/// (`form_post`). `Debug` lists the parameter names only, since `code`
/// redeems tokens.
#[derive(Clone, Default)]
pub struct AuthResponse {
    params: HashMap<String, String>,
}

impl AuthResponse {
    /// Parses a query string (with or without its leading `?`) or a
    /// `application/x-www-form-urlencoded` body. A repeated parameter keeps
    /// its first value, so an appended `&state=...` cannot override it.
    pub fn from_query(query: &str) -> Self {
        Self::from_urlencoded(query.strip_prefix('?').unwrap_or(query).as_bytes())
    }

    /// Parses a `form_post` body (`application/x-www-form-urlencoded`).
    pub fn from_form_body(body: &[u8]) -> Self {
        Self::from_urlencoded(body)
    }

    /// The parameters of a full redirect URL's query string.
    pub fn from_redirect_url(url: &str) -> Result<Self> {
        let url = Url::parse(url)
            .map_err(|e| Error::InvalidArgument(format!("the redirect URL does not parse: {e}")))?;
        Ok(Self::from_query(url.query().unwrap_or_default()))
    }

    fn from_urlencoded(bytes: &[u8]) -> Self {
        url::form_urlencoded::parse(bytes)
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect()
    }

    /// A parameter's value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// The `state` parameter.
    pub fn state(&self) -> Option<&str> {
        self.get("state")
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for AuthResponse {
    fn from_iter<T: IntoIterator<Item = (K, V)>>(iter: T) -> Self {
        let mut params = HashMap::new();
        for (name, value) in iter {
            params.entry(name.into()).or_insert_with(|| value.into());
        }
        Self { params }
    }
}

impl From<HashMap<String, String>> for AuthResponse {
    fn from(params: HashMap<String, String>) -> Self {
        Self { params }
    }
}

impl fmt::Debug for AuthResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.params.keys().map(String::as_str).collect();
        names.sort_unstable();
        f.debug_struct("AuthResponse").field("params", &names).finish()
    }
}

/// Starts a flow: checks the input (before any request), discovers the
/// authorization endpoint, and builds the authorization URL with PKCE,
/// `state` and `nonce`.
pub(crate) async fn initiate<I, S>(
    core: &AppCore,
    scopes: I,
    redirect_uri: &str,
    options: &AuthCodeFlowOptions,
) -> Result<AuthCodeFlow>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let scopes = super::decorate_scopes(scopes)?;
    let extra = super::normalize_scope_list(&options.extra_scopes_to_consent)?;
    let redirect_uri = redirect_uri.trim();
    Url::parse(redirect_uri).map_err(|e| {
        Error::InvalidArgument(format!(
            "the redirect URI {redirect_uri:?} is not an absolute URL: {e}"
        ))
    })?;
    let claims = core.claims(options.claims_challenge.as_deref())?;
    let state = match options.state.as_deref().map(str::trim) {
        Some("") => return Err(Error::InvalidArgument("the state is empty".into())),
        Some(state) => state.to_owned(),
        None => oauth2::random_urlsafe(16),
    };
    let nonce = oauth2::random_urlsafe(16);
    let code_verifier = oauth2::new_code_verifier();

    let correlation_id = uuid::Uuid::new_v4().to_string();
    let metadata = core.metadata(&correlation_id).await?;
    let Some(endpoint) = &metadata.authorization_endpoint else {
        return Err(Error::InvalidResponse {
            endpoint: core.authority().openid_configuration_url(),
            status: 200,
            reason: "the OpenID configuration has no authorization_endpoint".into(),
        });
    };
    // Consent to the extra resources' scopes too; the code is still redeemed for `scopes` only.
    let mut consent = scopes.clone();
    for scope in extra {
        if !consent.contains(&scope) {
            consent.push(scope);
        }
    }
    let auth_uri = oauth2::authorize_url(
        endpoint,
        &AuthorizeRequest {
            client_id: &core.client_id,
            redirect_uri,
            scope: &cache::target(&consent),
            state: &state,
            code_challenge: &oauth2::code_challenge(&code_verifier),
            nonce: &oauth2::nonce_hash(&nonce),
            login_hint: non_empty(&options.login_hint),
            prompt: options.prompt.as_ref().map(Prompt::as_str),
            domain_hint: non_empty(&options.domain_hint),
            claims: claims.as_deref(),
            max_age: options.max_age,
            response_mode: options.response_mode.as_ref().map(ResponseMode::as_str),
        },
    );
    tracing::debug!(client_id = %core.client_id, "auth code flow initiated");
    Ok(AuthCodeFlow {
        auth_uri: auth_uri.into(),
        state,
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        nonce,
        code_verifier: CachedSecret::new(code_verifier),
        claims_challenge: options.claims_challenge.clone(),
        max_age: options.max_age,
    })
}

/// An optional text parameter, trimmed; blank means absent.
fn non_empty(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|v| !v.is_empty())
}

/// Completes a flow: the response must carry the flow's `state` (else
/// [`Error::StateMismatch`]) and a `code` (an `error` becomes
/// [`Error::Service`]); the code is redeemed with the PKCE verifier (and
/// `credential`, for confidential clients); the ID token's nonce and
/// `auth_time` are checked before anything is cached.
pub(crate) async fn acquire(
    core: &AppCore,
    credential: Option<&ClientCredential>,
    flow: &AuthCodeFlow,
    response: &AuthResponse,
    api: ApiId,
) -> Result<AuthenticationResult> {
    let code = check_auth_response(flow, response)?;
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let metadata = core.metadata(&correlation_id).await?;

    let claims = core.claims(flow.claims_challenge.as_deref())?;
    let mut grant = Grant::new("authorization_code", &flow.scopes)
        .subject("code", code)
        .param("redirect_uri", &flow.redirect_uri)
        .param("code_verifier", flow.code_verifier.expose())
        .claims(claims.as_deref())
        .credential(credential);
    // Routes the request to the user's home region (Entra's CCS), as MSAL Python does.
    if let Some((uid, utid)) = response.get("client_info").and_then(oauth2::decode_client_info) {
        grant = grant.anchor_account(&format!("{uid}.{utid}"));
    }
    let call = core.call(api, &correlation_id, metadata);
    let token_response = call.token(grant).await?;

    let claims = save::id_token_claims(&token_response)?;
    // Like MSAL Python, a response without an ID token has nothing to check;
    // unlike it, the checks come before the cache write, not after.
    if let Some(claims) = &claims {
        check_id_token(flow, claims, now_epoch())?;
    }
    save::save(
        &call.issued(&flow.scopes, "authorization_code"),
        token_response,
        claims,
    )
}

/// The code of an authorization response that belongs to `flow`.
fn check_auth_response<'a>(flow: &AuthCodeFlow, response: &'a AuthResponse) -> Result<&'a str> {
    if flow.state.is_empty() {
        return Err(Error::InvalidArgument(
            "the auth code flow has no state: pass the flow initiate_auth_code_flow returned".into(),
        ));
    }
    // The state is checked first, so that a forged response cannot even surface an error.
    if response.state() != Some(flow.state.as_str()) {
        return Err(Error::StateMismatch);
    }
    if let Some(error) = response.get("error").filter(|e| !e.is_empty()) {
        let field = |name: &str| response.get(name).map(str::to_owned);
        return Err(Error::from(ServiceError {
            status: 0,
            error: error.to_owned(),
            error_description: field("error_description"),
            error_uri: field("error_uri"),
            suberror: field("suberror"),
            claims: field("claims"),
            correlation_id: field("correlation_id"),
            trace_id: field("trace_id"),
            timestamp: field("timestamp"),
            ..Default::default()
        }));
    }
    match response.get("code") {
        Some(code) if !code.is_empty() => Ok(code),
        _ => Err(Error::InvalidAuthResponse(
            "it holds neither a code nor an error".into(),
        )),
    }
}

/// OIDC Core 3.1.3.7 steps 11 and 13: the nonce is the one this flow sent,
/// and the user authenticated recently enough for `max_age`.
fn check_id_token(flow: &AuthCodeFlow, claims: &IdTokenClaims, now: u64) -> Result<()> {
    if claims.nonce() != Some(oauth2::nonce_hash(&flow.nonce).as_str()) {
        return Err(Error::NonceMismatch);
    }
    if let Some(max_age) = flow.max_age {
        let auth_time = claims.auth_time().ok_or_else(|| {
            Error::InvalidIdToken("max_age was requested but the ID token has no auth_time".into())
        })?;
        if now.saturating_sub(MAX_AGE_SKEW_SECS) > auth_time.saturating_add(max_age) {
            return Err(Error::MaxAgeExceeded { auth_time, max_age });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
