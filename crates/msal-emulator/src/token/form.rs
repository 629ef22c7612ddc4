//! Reading `application/x-www-form-urlencoded` parameters: a token
//! request's body, or an authorize request's query string or body.

use axum::body::Body;
use axum::http::{HeaderMap, header};

use crate::error::EntraError;

/// Largest request body accepted (Entra's forms are a few KiB at most).
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;

/// The decoded form parameters of a token request.
#[derive(Debug, Default)]
pub(crate) struct TokenForm {
    params: Vec<(String, String)>,
}

impl TokenForm {
    /// Reads and decodes the body; rejects other content types, oversized
    /// bodies and repeated parameters.
    pub(crate) async fn read(headers: &HeaderMap, body: Body) -> Result<TokenForm, EntraError> {
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type.split(';').next().unwrap_or("").trim();
        if !mime.eq_ignore_ascii_case("application/x-www-form-urlencoded") {
            return Err(EntraError::malformed(
                "The request body must be application/x-www-form-urlencoded.",
            ));
        }
        let bytes = axum::body::to_bytes(body, MAX_BODY_BYTES)
            .await
            .map_err(|_| EntraError::body_too_large(MAX_BODY_BYTES))?;
        TokenForm::parse(&bytes)
    }

    /// Decodes a query string (without the `?`) with the same rules as a body.
    pub(crate) fn from_query(query: &str) -> Result<TokenForm, EntraError> {
        TokenForm::parse(query.as_bytes())
    }

    fn parse(bytes: &[u8]) -> Result<TokenForm, EntraError> {
        if std::str::from_utf8(bytes).is_err() {
            return Err(EntraError::malformed("The request body is not valid UTF-8."));
        }
        let mut params: Vec<(String, String)> = Vec::new();
        // Names seen: a hash set keeps the duplicate check linear (a list
        // scan made 15,000 parameters take most of a second).
        let mut seen = std::collections::HashSet::new();
        for (name, value) in url::form_urlencoded::parse(bytes) {
            // A repeated parameter is ambiguous; Entra rejects it too.
            if !seen.insert(name.clone()) {
                return Err(EntraError::malformed(&format!(
                    "The parameter '{name}' is duplicated."
                )));
            }
            params.push((name.into_owned(), value.into_owned()));
        }
        Ok(TokenForm { params })
    }

    /// Parses `bytes` as a form, for the fuzz targets.
    #[cfg(feature = "fuzzing")]
    pub(crate) fn fuzz(bytes: &[u8]) -> Option<Vec<(String, String)>> {
        TokenForm::parse(bytes).ok().map(|form| form.params)
    }

    /// The parameter's value, if present and not empty.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    /// The parameter's value as sent, even if empty.
    pub(crate) fn raw(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Every parameter, in the order sent.
    pub(crate) fn params(&self) -> &[(String, String)] {
        &self.params
    }

    /// The parameter's value, or Entra's missing-parameter error.
    pub(crate) fn required(&self, name: &str) -> Result<&str, EntraError> {
        self.get(name).ok_or_else(|| EntraError::missing_parameter(name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_rejects_duplicates() {
        let form = TokenForm::parse(b"grant_type=client_credentials&scope=a+b%2F.default&x=").unwrap();
        assert_eq!(form.get("grant_type"), Some("client_credentials"));
        assert_eq!(form.get("scope"), Some("a b/.default"));
        assert_eq!(form.get("x"), None);
        assert_eq!(form.required("x").unwrap_err().code, 900144);
        let dup = TokenForm::parse(b"a=1&a=2").unwrap_err();
        assert_eq!(dup.code, 9002313);
        assert!(TokenForm::parse(&[0xff, b'=', b'1']).is_err());
    }
}
