//! The SAML bearer grants (`urn:ietf:params:oauth:grant-type:saml1_1-bearer`
//! and `…:saml2-bearer`, RFC 7522): tokens for a federated user, in
//! exchange for an assertion the emulator's federation server issued.

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use serde_json::Value;

use super::TokenRequest;
use super::client_auth::{self, ClientAuth};
use super::issue::UserTokens;
use crate::error::EntraError;
use crate::federation::{self, saml};
use crate::scopes::Scopes;

/// Handles the SAML 1.1 and 2.0 bearer grants.
pub(crate) fn grant(req: &TokenRequest<'_>, version: saml::SamlVersion) -> Result<Value, EntraError> {
    let auth = ClientAuth::read(req.form, req.headers)?;
    let assertion = req.form.required("assertion")?;
    let scope = req.form.required("scope")?;
    let xml = decode_assertion(assertion)
        .ok_or_else(|| EntraError::saml_invalid("The assertion is not base64 of UTF-8 XML."))?;
    let now = req.state.clock.now();
    let verified = saml::verify(
        &xml,
        version,
        &req.state.federation_key,
        &federation::issuer(req.state),
        now,
    )
    .map_err(|e| match e {
        saml::SamlError::Malformed(detail) => EntraError::saml_invalid(&detail),
        saml::SamlError::Signature => EntraError::saml_signature(),
        e @ saml::SamlError::Expired => EntraError::saml_assertion_rejected(&format!("{}.", e)),
        saml::SamlError::NotForUs(detail) => EntraError::saml_assertion_rejected(&detail),
    })?;
    let directory = req.state.directory();
    // The federation server speaks only for users of federated domains.
    let user = directory
        .user(&verified.upn)
        .filter(|u| directory.is_federated(u))
        .ok_or_else(|| {
            EntraError::saml_invalid(&format!(
                "The assertion names '{}', who is not a user of a federated domain.",
                verified.upn
            ))
        })?;
    let home = req.user_home(user)?;
    let client = client_auth::find_client(req.state, home, &auth.client_id)?;
    client_auth::authenticate(req, client, &auth.credential)?;
    let scopes = Scopes::parse(scope);
    req.user_tokens(&UserTokens {
        tenant: home,
        client,
        user,
        scopes: &scopes,
        nonce: None,
        auth_time: verified.auth_instant.unwrap_or(now),
        offline: scopes.has("offline_access"),
        client_info: req.form.get("client_info") == Some("1"),
    })
}

/// The assertion XML from base64, url-safe (what MSAL Python sends, per
/// RFC 7522) or standard, padded or not.
fn decode_assertion(value: &str) -> Option<String> {
    let trimmed = value.trim().trim_end_matches('=');
    let bytes = URL_SAFE_NO_PAD
        .decode(trimmed)
        .or_else(|_| STANDARD_NO_PAD.decode(trimmed))
        .ok()?;
    String::from_utf8(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::engine::general_purpose::{STANDARD, URL_SAFE};

    #[test]
    fn decodes_every_base64_flavour() {
        let xml = "<a b='??>>'/>";
        for encoded in [
            STANDARD.encode(xml),
            STANDARD_NO_PAD.encode(xml),
            URL_SAFE.encode(xml),
            URL_SAFE_NO_PAD.encode(xml),
        ] {
            assert_eq!(decode_assertion(&encoded).as_deref(), Some(xml), "{encoded}");
        }
        assert_eq!(decode_assertion("!!!"), None);
        assert_eq!(decode_assertion(&STANDARD.encode([0xff, 0xfe])), None);
    }
}
