//! Claims challenges from resources: reading the `WWW-Authenticate` header a
//! protected API answers with when it wants a fresh token (Continuous Access
//! Evaluation, conditional access), so the app can pass the claims to
//! `acquire_token_silent_with(.., SilentOptions::default().claims_challenge(..))`
//! or to an interactive sign-in.
//!
//! Entra-protected APIs send `Bearer error="insufficient_claims",
//! claims="<base64 JSON>"`; the claims value is base64 (standard, sometimes
//! url-safe, padded or not), and this module hands back the JSON itself.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};

/// The parameters of a `Bearer` challenge that matter to a token client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BearerChallenge {
    /// `error`, e.g. `insufficient_claims` or `invalid_token`.
    pub error: Option<String>,
    /// The decoded `claims` JSON, ready to pass as a claims challenge.
    pub claims: Option<String>,
    /// `authorization_uri`: where to get a token for this resource.
    pub authorization_uri: Option<String>,
}

impl BearerChallenge {
    /// Reads the first `Bearer` challenge of a `WWW-Authenticate` header
    /// value. `None` when there is no Bearer challenge; a `claims` value that
    /// is not base64 of UTF-8 JSON is left out rather than guessed at.
    pub fn parse(www_authenticate: &str) -> Option<BearerChallenge> {
        let start = find_scheme(www_authenticate, "bearer")?;
        let mut challenge = BearerChallenge::default();
        for (name, value) in parameters(&www_authenticate[start..]) {
            match name.to_ascii_lowercase().as_str() {
                "error" => challenge.error = Some(value),
                "claims" => challenge.claims = decode_claims(&value),
                "authorization_uri" => challenge.authorization_uri = Some(value),
                _ => {}
            }
        }
        Some(challenge)
    }

    /// Whether the resource asks for more claims (`insufficient_claims`
    /// with a claims value): get a new token with [`claims`](Self::claims).
    pub fn is_claims_challenge(&self) -> bool {
        self.claims.is_some() && self.error.as_deref() == Some("insufficient_claims")
    }
}

/// Byte offset just after the scheme name, if the header has that scheme.
fn find_scheme(header: &str, scheme: &str) -> Option<usize> {
    let lower = header.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(scheme) {
        let at = from + found;
        let end = at + scheme.len();
        let starts_token = at == 0 || matches!(lower.as_bytes()[at - 1], b' ' | b',');
        let ends_token = lower.as_bytes().get(end).is_none_or(|b| *b == b' ');
        if starts_token && ends_token {
            return Some(end);
        }
        from = end;
    }
    None
}

/// `name=value` and `name="quoted value"` pairs, until the next scheme.
fn parameters(mut rest: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        let Some(eq) = rest.find('=') else { break };
        let name = rest[..eq].trim();
        if name.is_empty() || name.contains(' ') {
            // `Bearer a=b, Basic realm=..`: another scheme starts here.
            break;
        }
        let after = &rest[eq + 1..];
        let (value, remaining) = if let Some(quoted) = after.strip_prefix('"') {
            let mut value = String::new();
            let mut chars = quoted.char_indices();
            let mut end = quoted.len();
            while let Some((i, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        end = i + 1;
                        break;
                    }
                    other => value.push(other),
                }
            }
            (value, &quoted[end.min(quoted.len())..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim().to_owned(), &after[end..])
        };
        out.push((name.to_owned(), value));
        rest = remaining;
    }
    out
}

fn decode_claims(value: &str) -> Option<String> {
    let value = value.trim();
    // Already JSON: some resources send it unencoded.
    if value.starts_with('{') {
        return serde_json::from_str::<serde_json::Value>(value)
            .ok()
            .map(|_| value.to_owned());
    }
    [STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD]
        .iter()
        .find_map(|engine| engine.decode(value).ok())
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .filter(|json| serde_json::from_str::<serde_json::Value>(json).is_ok_and(|v| v.is_object()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLAIMS: &str = r#"{"access_token":{"nbf":{"essential":true,"value":"1700000000"}}}"#;

    #[test]
    fn reads_an_entra_cae_challenge() {
        let header = format!(
            r#"Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="{}""#,
            STANDARD.encode(CLAIMS)
        );
        let challenge = BearerChallenge::parse(&header).unwrap();
        assert!(challenge.is_claims_challenge());
        assert_eq!(challenge.claims.as_deref(), Some(CLAIMS));
        assert_eq!(
            challenge.authorization_uri.as_deref(),
            Some("https://login.microsoftonline.com/common/oauth2/authorize")
        );
    }

    #[test]
    fn other_schemes_unpadded_and_broken_values() {
        let header = format!(
            r#"Basic realm="x", Bearer error="insufficient_claims", claims="{}""#,
            URL_SAFE_NO_PAD.encode(CLAIMS)
        );
        assert_eq!(
            BearerChallenge::parse(&header).unwrap().claims.as_deref(),
            Some(CLAIMS)
        );
        assert_eq!(BearerChallenge::parse(r#"Basic realm="x""#), None);
        let junk = BearerChallenge::parse(r#"Bearer error="insufficient_claims", claims="%%%""#).unwrap();
        assert_eq!(junk.claims, None);
        assert!(!junk.is_claims_challenge());
        let plain = BearerChallenge::parse(r#"Bearer error="invalid_token""#).unwrap();
        assert_eq!(plain.error.as_deref(), Some("invalid_token"));
        assert!(!plain.is_claims_challenge());
        // Escapes inside quoted strings and unterminated quotes do not panic.
        assert!(BearerChallenge::parse(r#"Bearer error="a\"b", claims="#).is_some());
        assert!(BearerChallenge::parse("Bearer error=\"unterminated").is_some());
    }
}
