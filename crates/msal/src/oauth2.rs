//! The OAuth2 wire protocol: token request bodies and headers, token and
//! error responses. Every request this library sends is built here, so the
//! protocol lives in one place and the flows stay thin.

use base64::Engine as _;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use url::Url;
use zeroize::Zeroizing;

use crate::error::{Error, Result, ServiceError};
use crate::http::{HttpRequest, Method};
use crate::pipeline::{Delivered, Outgoing, Pipeline, Purpose, ThrottleKey};
use crate::secret::CachedSecret;

/// `x-client-sku`: which MSAL this is.
pub(crate) const CLIENT_SKU: &str = "MSAL.Rust";
/// `x-client-ver`: this library's version.
pub(crate) const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

/// A successful token response, as the identity provider sent it.
#[derive(Debug, Deserialize)]
pub(crate) struct TokenResponse {
    pub access_token: Option<CachedSecret>,
    #[serde(default)]
    pub token_type: Option<String>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub ext_expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub refresh_in: Option<u64>,
    /// Absolute expiry, sent by some managed identity endpoints instead of `expires_in`.
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub expires_on: Option<u64>,
    #[serde(default)]
    pub scope: Option<String>,
    /// Present when `offline_access` was granted.
    #[serde(default)]
    pub refresh_token: Option<CachedSecret>,
    /// Present when `openid` was granted.
    #[serde(default)]
    pub id_token: Option<CachedSecret>,
    /// base64url JSON `{"uid": ..., "utid": ...}`, sent because requests carry `client_info=1`.
    #[serde(default)]
    pub client_info: Option<String>,
    /// The family of client ids (FOCI) the refresh token is shared with, e.g. `"1"`.
    #[serde(default, deserialize_with = "lenient_string")]
    pub foci: Option<String>,
}

/// `foci` is a string in Entra's responses; accept a bare number too.
fn lenient_string<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(deserializer)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(de::Error::custom("expected a string")),
    }
}

/// Entra sometimes sends numbers as strings (`"3599"`): accept both.
fn lenient_seconds<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<u64>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Seconds {
        Number(u64),
        Float(f64),
        Text(String),
    }
    match Option::<Seconds>::deserialize(deserializer)? {
        None => Ok(None),
        Some(Seconds::Number(n)) => Ok(Some(n)),
        Some(Seconds::Float(f)) if f.is_finite() && f >= 0.0 => Ok(Some(f as u64)),
        Some(Seconds::Float(_)) => Err(de::Error::custom("negative or non-finite seconds")),
        Some(Seconds::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| de::Error::custom("seconds must be a number")),
    }
}

/// Headers sent with every request: library identity and capabilities.
pub(crate) fn library_headers(correlation_id: &str) -> Vec<(String, String)> {
    vec![
        ("Accept".into(), "application/json".into()),
        ("x-client-sku".into(), CLIENT_SKU.into()),
        ("x-client-ver".into(), CLIENT_VERSION.into()),
        ("x-client-os".into(), std::env::consts::OS.into()),
        ("x-ms-lib-capability".into(), "retry-after, h429".into()),
        ("client-request-id".into(), correlation_id.into()),
    ]
}

/// The `X-AnchorMailbox` header value for a signed-in user, `Oid:{uid}@{utid}`,
/// built from the cache's `home_account_id` (`uid.utid`). Entra's cache
/// service (CCS) routes the request to the user's home region with it, as
/// MSAL Python sends it on refresh token requests. `None` for ids of
/// another shape (AD FS subjects), which carry no routing information.
pub(crate) fn anchor_mailbox(home_account_id: &str) -> Option<String> {
    let (uid, utid) = home_account_id.rsplit_once('.')?;
    (!uid.is_empty() && !utid.is_empty()).then(|| format!("Oid:{uid}@{utid}"))
}

/// A token request's form body. Values may be secrets: they are zeroed when
/// the form is dropped, and the body is never logged.
#[derive(Default)]
pub(crate) struct Form {
    pairs: Vec<(&'static str, Zeroizing<String>)>,
}

impl Form {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    pub(crate) fn add(mut self, name: &'static str, value: &str) -> Self {
        self.pairs.push((name, Zeroizing::new(value.to_owned())));
        self
    }

    /// Appends `other`'s fields.
    pub(crate) fn extend(mut self, other: Form) -> Self {
        self.pairs.extend(other.pairs);
        self
    }

    pub(crate) fn finish(self) -> Vec<u8> {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs {
            serializer.append_pair(name, value);
        }
        serializer.finish().into_bytes()
    }
}

/// POSTs a form (a token request, or a device authorization request) and
/// parses the answer: `T` on success, an [`Error::Service`] carrying the
/// IdP's fields otherwise, [`Error::Throttled`] when the pipeline holds
/// requests like it.
pub(crate) async fn post_form<T: DeserializeOwned>(
    pipeline: &Pipeline,
    purpose: Purpose,
    endpoint: &Url,
    form: Form,
    headers: Vec<(String, String)>,
    throttle: ThrottleKey,
) -> Result<T> {
    post_form_via(pipeline, purpose, endpoint, form, headers, throttle, None).await
}

/// [`post_form`] over `via` instead of the pipeline's transport, when given
/// (mutual TLS).
pub(crate) async fn post_form_via<T: DeserializeOwned>(
    pipeline: &Pipeline,
    purpose: Purpose,
    endpoint: &Url,
    form: Form,
    headers: Vec<(String, String)>,
    throttle: ThrottleKey,
    via: Option<std::sync::Arc<dyn crate::http::HttpClient>>,
) -> Result<T> {
    let mut headers = headers;
    headers.push((
        "Content-Type".into(),
        "application/x-www-form-urlencoded;charset=utf-8".into(),
    ));
    let mut request = HttpRequest::new(Method::Post, endpoint.clone()).with_body(form.finish());
    request.headers = headers;
    let mut outgoing = Outgoing::new(purpose, request).throttle_key(throttle);
    if let Some(via) = via {
        outgoing = outgoing.via(via);
    }
    let delivered = pipeline.send(outgoing).await?;
    parse_json_response(endpoint, &delivered)
}

/// GETs a public JSON document (discovery), with the library headers.
pub(crate) async fn get_json<T: DeserializeOwned>(
    pipeline: &Pipeline,
    url: &Url,
    correlation_id: &str,
) -> Result<T> {
    let mut request = HttpRequest::new(Method::Get, url.clone());
    request.headers = library_headers(correlation_id);
    let delivered = pipeline.send(Outgoing::new(Purpose::Discovery, request)).await?;
    parse_json_response(url, &delivered)
}

/// Success (2xx) is parsed as `T`; anything else as an OAuth2 error.
fn parse_json_response<T: DeserializeOwned>(url: &Url, delivered: &Delivered) -> Result<T> {
    let response = &delivered.response;
    let endpoint = || {
        let mut u = url.clone();
        u.set_query(None);
        u.to_string()
    };
    if (200..300).contains(&response.status) {
        return serde_json::from_slice(&response.body).map_err(|e| Error::InvalidResponse {
            endpoint: endpoint(),
            status: response.status,
            // serde_json's message names the position and the expected type, never the content.
            reason: format!("not the expected JSON: {e}"),
        });
    }
    let service = match serde_json::from_slice::<ServiceError>(&response.body) {
        Ok(mut error) if !error.error.is_empty() => {
            error.status = response.status;
            if error.correlation_id.is_none() {
                error.correlation_id = response.header("client-request-id").map(str::to_owned);
            }
            Some(error)
        }
        _ => None,
    };
    if let Some(retry_after) = delivered.throttled {
        return Err(Error::Throttled {
            retry_after,
            service: service.map(Box::new),
        });
    }
    match service {
        Some(error) => Err(Error::from(error)),
        None => Err(Error::InvalidResponse {
            endpoint: endpoint(),
            status: response.status,
            reason: format!(
                "an error without an OAuth2 error body (content-type {:?})",
                response.header("content-type").unwrap_or("none")
            ),
        }),
    }
}

/// base64url as JWTs and `client_info` use it: encoded without padding,
/// decoded with or without, tolerating non-canonical trailing bits.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// The JSON object in a JWT's payload, decoded WITHOUT checking the
/// signature: the token came straight from the token endpoint over TLS (OIDC
/// Core 3.1.3.7 step 6), and MSAL Python (>= 1.38) does the same. `None` for
/// anything that is not three dot-separated parts with a JSON object in the
/// middle.
pub(crate) fn decode_jwt_payload(jwt: &str) -> Option<Map<String, Value>> {
    let mut parts = jwt.split('.');
    let (_header, payload, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    let bytes = BASE64URL.decode(payload).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(claims) => Some(claims),
        _ => None,
    }
}

/// base64url (padded or not), as JWT parts and JWK members use it.
pub(crate) fn decode_base64url(text: &str) -> Option<Vec<u8>> {
    BASE64URL.decode(text.trim()).ok()
}

/// The `uid` and `utid` of a `client_info` value: the user's object id and
/// home tenant id, which form the cache's `home_account_id` (`uid.utid`).
/// `None` when the value does not decode or lacks either field.
pub(crate) fn decode_client_info(client_info: &str) -> Option<(String, String)> {
    let bytes = BASE64URL.decode(client_info.trim()).ok()?;
    let value: Value = serde_json::from_slice(&bytes).ok()?;
    let field = |name: &str| value.get(name)?.as_str().map(str::to_owned);
    Some((field("uid")?, field("utid")?))
}

/// `len` bytes from the operating system's CSPRNG. uuid's v4 generator reads
/// `getrandom`, which this crate already depends on through it, so no crypto
/// dependency is added; bytes 6 and 8 of each UUID carry its fixed version
/// and variant bits and are skipped.
fn random_bytes(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 16);
    while out.len() < len {
        let uuid = uuid::Uuid::new_v4().into_bytes();
        out.extend(
            uuid.iter()
                .enumerate()
                .filter(|(i, _)| *i != 6 && *i != 8)
                .map(|(_, b)| *b),
        );
    }
    out.truncate(len);
    out
}

/// A random, URL-safe string carrying `bytes` bytes of entropy.
pub(crate) fn random_urlsafe(bytes: usize) -> String {
    BASE64URL.encode(random_bytes(bytes))
}

/// A new PKCE code verifier (RFC 7636): 32 random bytes as 43 base64url
/// characters, the shortest length the RFC allows and the one MSAL uses.
pub(crate) fn new_code_verifier() -> String {
    random_urlsafe(32)
}

/// The S256 code challenge of a verifier: base64url(sha256(verifier)).
pub(crate) fn code_challenge(verifier: &str) -> String {
    BASE64URL.encode(Sha256::digest(verifier.as_bytes()))
}

/// What the authorize request sends as `nonce`: the lowercase hex SHA-256 of
/// the flow's secret nonce, as MSAL Python does, so the value the browser
/// sees is not the one kept in the flow.
pub(crate) fn nonce_hash(nonce: &str) -> String {
    Sha256::digest(nonce.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// The `claims` request parameter: the caller's claims challenge (a JSON
/// object) with the client capabilities merged in as
/// `{"access_token": {"xms_cc": {"values": [...]}}}`, as MSAL does. `None`
/// when there is neither.
pub(crate) fn merge_claims(capabilities: &[String], challenge: Option<&str>) -> Result<Option<String>> {
    let challenge = challenge.map(str::trim).filter(|c| !c.is_empty());
    if capabilities.is_empty() {
        // Sent as given: the resource's challenge must reach the IdP byte for byte.
        if let Some(challenge) = challenge {
            parse_claims(challenge)?;
        }
        return Ok(challenge.map(str::to_owned));
    }
    let mut claims = match challenge {
        Some(challenge) => parse_claims(challenge)?,
        None => Map::new(),
    };
    let access_token = claims
        .entry("access_token")
        .or_insert_with(|| Value::Object(Map::new()));
    if !access_token.is_object() {
        return Err(Error::InvalidArgument(
            "the claims challenge's \"access_token\" member must be a JSON object".into(),
        ));
    }
    if let Value::Object(access_token) = access_token {
        access_token.insert("xms_cc".into(), serde_json::json!({ "values": capabilities }));
    }
    Ok(Some(Value::Object(claims).to_string()))
}

fn parse_claims(challenge: &str) -> Result<Map<String, Value>> {
    match serde_json::from_str(challenge) {
        Ok(Value::Object(claims)) => Ok(claims),
        _ => Err(Error::InvalidArgument(
            "the claims challenge must be a JSON object, as sent in the resource's WWW-Authenticate header"
                .into(),
        )),
    }
}

/// The parameters of an authorization request (OIDC Core 3.1.2.1 with PKCE).
pub(crate) struct AuthorizeRequest<'a> {
    pub client_id: &'a str,
    pub redirect_uri: &'a str,
    /// Space separated, sorted.
    pub scope: &'a str,
    pub state: &'a str,
    pub code_challenge: &'a str,
    /// The hash of the flow's nonce, see [`nonce_hash`].
    pub nonce: &'a str,
    pub login_hint: Option<&'a str>,
    pub prompt: Option<&'a str>,
    pub domain_hint: Option<&'a str>,
    pub claims: Option<&'a str>,
    pub max_age: Option<u64>,
    pub response_mode: Option<&'a str>,
}

/// The URL the user's browser visits to sign in: the authorization endpoint
/// with the request's parameters, in MSAL Python's order. Optional ones are
/// omitted when absent, never sent empty.
pub(crate) fn authorize_url(endpoint: &Url, request: &AuthorizeRequest<'_>) -> Url {
    let mut url = endpoint.clone();
    let max_age = request.max_age.map(|m| m.to_string());
    // MSAL Python puts its CCS routing hint in the query too; Entra uses it to route the request.
    let anchor = request.login_hint.map(|hint| format!("UPN:{hint}"));
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("client_id", request.client_id)
            .append_pair("response_type", "code")
            .append_pair("redirect_uri", request.redirect_uri)
            .append_pair("scope", request.scope)
            .append_pair("state", request.state)
            .append_pair("code_challenge", request.code_challenge)
            .append_pair("code_challenge_method", "S256")
            .append_pair("nonce", request.nonce)
            .append_pair("client_info", "1");
        let optional = [
            ("login_hint", request.login_hint),
            ("X-AnchorMailbox", anchor.as_deref()),
            ("prompt", request.prompt),
            ("domain_hint", request.domain_hint),
            ("claims", request.claims),
            ("max_age", max_age.as_deref()),
            ("response_mode", request.response_mode),
        ];
        for (name, value) in optional {
            if let Some(value) = value {
                query.append_pair(name, value);
            }
        }
    }
    url
}

/// The device code grant type (RFC 8628 section 3.4).
pub(crate) const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Seconds between polls when the identity provider names none (RFC 8628 section 3.2).
pub(crate) const DEFAULT_DEVICE_INTERVAL: u64 = 5;

/// Device code lifetime assumed when the identity provider names none, as MSAL Python assumes.
pub(crate) const DEFAULT_DEVICE_EXPIRES_IN: u64 = 1800;

/// What the device authorization endpoint answers (RFC 8628 section 3.2,
/// plus Entra's `message`). Fields this library does not know are kept, as
/// MSAL Python hands the whole JSON to the caller.
#[derive(Deserialize)]
pub(crate) struct DeviceAuthorizationResponse {
    pub user_code: String,
    pub device_code: CachedSecret,
    /// Entra's v1 endpoint and some older providers spell it `verification_url`.
    #[serde(alias = "verification_url")]
    pub verification_uri: String,
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub expires_in: Option<u64>,
    #[serde(default, deserialize_with = "lenient_seconds")]
    pub interval: Option<u64>,
    #[serde(default)]
    pub message: Option<String>,
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// How a device code poll's error answer is to be treated (RFC 8628
/// section 3.5, with the codes Entra uses).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DevicePollError {
    /// The user has not finished yet: poll again after the interval.
    Pending,
    /// Polled too often: add five seconds to the interval, then poll again.
    SlowDown,
    /// The device code expired before the user finished.
    Expired,
    /// The user refused the sign-in.
    Declined,
    /// Anything else ends the flow as is.
    Other,
}

/// Classifies a device code poll's error. Entra says `authorization_declined`
/// where RFC 8628 says `access_denied`, and its v1 endpoint said
/// `code_expired` for `expired_token`: both spellings are understood, so the
/// flow works against Entra and standard providers alike.
pub(crate) fn device_poll_error(error: &ServiceError) -> DevicePollError {
    match error.error.as_str() {
        "authorization_pending" => DevicePollError::Pending,
        "slow_down" => DevicePollError::SlowDown,
        "expired_token" | "code_expired" => DevicePollError::Expired,
        "authorization_declined" | "access_denied" => DevicePollError::Declined,
        _ => DevicePollError::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_payloads_and_client_info_decode_and_junk_is_none() {
        let payload = BASE64URL.encode(br#"{"sub":"s","tid":"t","n":1}"#);
        let claims = decode_jwt_payload(&format!("eyJhbGciOiJub25lIn0.{payload}.sig")).unwrap();
        assert_eq!(claims["sub"], "s");
        // Padded payloads are accepted too.
        let padded = base64::engine::general_purpose::URL_SAFE.encode(br#"{"a":"bc"}"#);
        assert!(padded.ends_with('='));
        assert!(decode_jwt_payload(&format!("h.{padded}.s")).is_some());
        let not_object = BASE64URL.encode(b"[1,2]");
        for junk in [
            "",
            "a.b",
            "a.b.c.d",
            "a.!!!.c",
            &format!("a.{not_object}.c"),
            "\u{0}.\u{ffff}.x",
            "...",
        ] {
            assert!(decode_jwt_payload(junk).is_none(), "{junk:?}");
        }
        let info = BASE64URL.encode(br#"{"uid":"u-1","utid":"t-1"}"#);
        assert_eq!(decode_client_info(&info), Some(("u-1".into(), "t-1".into())));
        assert_eq!(decode_client_info(&BASE64URL.encode(br#"{"uid":"u"}"#)), None);
        assert_eq!(decode_client_info("%%%"), None);
    }

    #[test]
    fn pkce_state_and_nonce() {
        let verifier = new_code_verifier();
        assert_eq!(verifier.len(), 43);
        assert!(
            verifier
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_ne!(verifier, new_code_verifier());
        // RFC 7636 appendix B.
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert_eq!(
            nonce_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(random_urlsafe(16).len(), 22);
    }

    #[test]
    fn claims_merge_capabilities_like_msal() {
        assert_eq!(merge_claims(&[], None).unwrap(), None);
        assert_eq!(
            merge_claims(&[], Some(r#"{"id_token":{"auth_time":null}}"#))
                .unwrap()
                .as_deref(),
            Some(r#"{"id_token":{"auth_time":null}}"#)
        );
        let caps = vec!["cp1".to_owned()];
        assert_eq!(
            merge_claims(&caps, None).unwrap().as_deref(),
            Some(r#"{"access_token":{"xms_cc":{"values":["cp1"]}}}"#)
        );
        let merged = merge_claims(&caps, Some(r#"{"access_token":{"nbf":{"essential":true}}}"#))
            .unwrap()
            .unwrap();
        let merged: Value = serde_json::from_str(&merged).unwrap();
        assert_eq!(merged["access_token"]["nbf"]["essential"], true);
        assert_eq!(merged["access_token"]["xms_cc"]["values"][0], "cp1");
        assert!(matches!(
            merge_claims(&[], Some("not json")),
            Err(Error::InvalidArgument(_))
        ));
        assert!(merge_claims(&caps, Some(r#"{"access_token":1}"#)).is_err());
    }

    #[test]
    fn token_response_accepts_numbers_and_numeric_strings() {
        let r: TokenResponse = serde_json::from_str(
            r#"{"access_token":"at","token_type":"Bearer","expires_in":"3599","ext_expires_in":3599.0}"#,
        )
        .unwrap();
        assert_eq!(r.expires_in, Some(3599));
        assert_eq!(r.ext_expires_in, Some(3599));
        assert_eq!(r.access_token.unwrap().expose(), "at");
        assert!(serde_json::from_str::<TokenResponse>(r#"{"expires_in":"soon"}"#).is_err());
        assert!(serde_json::from_str::<TokenResponse>(r#"{"expires_in":-5.0}"#).is_err());
    }

    #[test]
    fn token_response_debug_hides_tokens() {
        let r: TokenResponse =
            serde_json::from_str(r#"{"access_token":"eyJ.secret.part","token_type":"Bearer"}"#).unwrap();
        let debug = format!("{r:?}");
        assert!(!debug.contains("secret.part"), "{debug}");
    }

    #[test]
    fn error_responses_become_service_errors() {
        let url = Url::parse("https://login.example/t/oauth2/v2.0/token").unwrap();
        let delivered = |status, body: &[u8]| Delivered {
            response: crate::http::HttpResponse::new(status, vec![], body.to_vec()),
            throttled: None,
        };
        let response = delivered(
            401,
            br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"correlation_id":"c"}"#,
        );
        let err = parse_json_response::<TokenResponse>(&url, &response).unwrap_err();
        let service = err.service_error().unwrap();
        assert_eq!(service.status, 401);
        assert_eq!(service.aadsts_code(), Some(7000215));
        let html = delivered(502, b"<html>bad gateway</html>");
        assert!(matches!(
            parse_json_response::<TokenResponse>(&url, &html),
            Err(Error::InvalidResponse { status: 502, .. })
        ));
    }
}
