//! The OAuth2 wire protocol: token request bodies and headers, token and
//! error responses. Every request this library sends is built here, so the
//! protocol lives in one place and the flows stay thin.

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer};
use url::Url;
use zeroize::Zeroizing;

use crate::error::{Error, Result, ServiceError};
use crate::http::{HttpClient, HttpRequest, HttpResponse, Method};
use crate::secret::CachedSecret;

/// `x-client-sku`: which MSAL this is.
pub const CLIENT_SKU: &str = "MSAL.Rust";
/// `x-client-ver`: this library's version.
pub const CLIENT_VERSION: &str = env!("CARGO_PKG_VERSION");

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

    fn finish(self) -> Vec<u8> {
        let mut serializer = url::form_urlencoded::Serializer::new(String::new());
        for (name, value) in &self.pairs {
            serializer.append_pair(name, value);
        }
        serializer.finish().into_bytes()
    }
}

/// POSTs a token request and parses the answer: a [`TokenResponse`] on
/// success, an [`Error::Service`] carrying the IdP's fields otherwise.
pub(crate) async fn post_token_request(
    http: &dyn HttpClient,
    endpoint: &Url,
    form: Form,
    headers: Vec<(String, String)>,
) -> Result<TokenResponse> {
    let mut headers = headers;
    headers.push((
        "Content-Type".into(),
        "application/x-www-form-urlencoded;charset=utf-8".into(),
    ));
    let request = HttpRequest {
        method: Method::Post,
        url: endpoint.clone(),
        headers,
        body: form.finish(),
    };
    let response = http.execute(request).await?;
    parse_json_response(endpoint, &response)
}

/// GETs a JSON document (discovery), with the library headers.
pub(crate) async fn get_json<T: DeserializeOwned>(
    http: &dyn HttpClient,
    url: &Url,
    correlation_id: &str,
) -> Result<T> {
    let request = HttpRequest {
        method: Method::Get,
        url: url.clone(),
        headers: library_headers(correlation_id),
        body: Vec::new(),
    };
    let response = http.execute(request).await?;
    parse_json_response(url, &response)
}

/// Success (2xx) is parsed as `T`; anything else as an OAuth2 error.
fn parse_json_response<T: DeserializeOwned>(url: &Url, response: &HttpResponse) -> Result<T> {
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
    match serde_json::from_slice::<ServiceError>(&response.body) {
        Ok(mut error) if !error.error.is_empty() => {
            error.status = response.status;
            if error.correlation_id.is_none() {
                error.correlation_id = response.header("client-request-id").map(str::to_owned);
            }
            Err(Error::from(error))
        }
        _ => Err(Error::InvalidResponse {
            endpoint: endpoint(),
            status: response.status,
            reason: format!(
                "an error without an OAuth2 error body (content-type {:?})",
                response.header("content-type").unwrap_or("none")
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        let response = HttpResponse {
            status: 401,
            headers: vec![],
            body: br#"{"error":"invalid_client","error_description":"AADSTS7000215: Invalid client secret provided.","error_codes":[7000215],"correlation_id":"c"}"#.to_vec(),
        };
        let err = parse_json_response::<TokenResponse>(&url, &response).unwrap_err();
        let service = err.service_error().unwrap();
        assert_eq!(service.status, 401);
        assert_eq!(service.aadsts_code(), Some(7000215));
        let html = HttpResponse {
            status: 502,
            headers: vec![],
            body: b"<html>bad gateway</html>".to_vec(),
        };
        assert!(matches!(
            parse_json_response::<TokenResponse>(&url, &html),
            Err(Error::InvalidResponse { status: 502, .. })
        ));
    }
}
