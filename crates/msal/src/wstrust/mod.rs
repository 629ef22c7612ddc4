//! WS-Trust, for federated username/password sign-in: when the user realm
//! says a user's domain is federated (AD FS and similar), the password goes
//! to the federation server, not to Entra. The server's metadata (MEX)
//! names its WS-Trust endpoints ([`mex`]); a SOAP RequestSecurityToken
//! ([`request`]) exchanges the username and password for a SAML assertion
//! ([`response`]), which the token endpoint then redeems with a SAML bearer
//! grant (RFC 7522). The user realm answer and the memo of discovery
//! answers are in `realm`.
//!
//! Everything here follows what MSAL Python sends and accepts, so that the
//! same federation servers work with both libraries.

pub(crate) mod mex;
mod realm;
pub(crate) mod request;
pub(crate) mod response;

pub(crate) use realm::{Discovered, FederationMemo, UserRealm};

use std::fmt;

use url::Url;
use zeroize::Zeroizing;

use crate::error::{Error, Result};
use crate::http::{HttpRequest, Method};
use crate::pipeline::{Outgoing, Pipeline, Purpose, ThrottleKey};

/// WSDL 1.1.
pub(crate) const NS_WSDL: &str = "http://schemas.xmlsoap.org/wsdl/";
/// The SOAP 1.2 binding of WSDL 1.1.
pub(crate) const NS_WSDL_SOAP12: &str = "http://schemas.xmlsoap.org/wsdl/soap12/";
/// WS-Policy (the 2004/09 version AD FS publishes).
pub(crate) const NS_WSP: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
/// WS-SecurityPolicy 1.2, which WS-Trust 1.3 endpoints use.
pub(crate) const NS_SP: &str = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702";
/// WS-SecurityPolicy of 2005, which WS-Trust 2005 endpoints use.
pub(crate) const NS_SP2005: &str = "http://schemas.xmlsoap.org/ws/2005/07/securitypolicy";
/// WS-Security utility (`wsu:Id`, `wsu:Timestamp`).
pub(crate) const NS_WSU: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
/// WS-Security extensions (`wsse:Security`, `wsse:UsernameToken`).
pub(crate) const NS_WSSE: &str =
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
/// WS-Addressing 1.0.
pub(crate) const NS_WSA: &str = "http://www.w3.org/2005/08/addressing";
/// The SOAP 1.2 envelope.
pub(crate) const NS_SOAP12: &str = "http://www.w3.org/2003/05/soap-envelope";
/// The SOAP 1.1 envelope (faults from older servers).
pub(crate) const NS_SOAP11: &str = "http://schemas.xmlsoap.org/soap/envelope/";
/// WS-Trust 1.3.
pub(crate) const NS_WST13: &str = "http://docs.oasis-open.org/ws-sx/ws-trust/200512";
/// WS-Trust 2005 (February 2005 draft).
pub(crate) const NS_WST2005: &str = "http://schemas.xmlsoap.org/ws/2005/02/trust";
/// The only transport a usable MEX binding may name: SOAP over HTTP.
pub(crate) const SOAP_HTTP_TRANSPORT: &str = "http://schemas.xmlsoap.org/soap/http";

/// The audience Entra's federation trusts expect when the user realm names none.
pub(crate) const DEFAULT_CLOUD_AUDIENCE_URN: &str = "urn:federation:MicrosoftOnline";

/// The grant that redeems a SAML 1.1 assertion.
pub(crate) const GRANT_TYPE_SAML1_1: &str = "urn:ietf:params:oauth:grant-type:saml1_1-bearer";
/// The grant that redeems a SAML 2.0 assertion (RFC 7522).
pub(crate) const GRANT_TYPE_SAML2: &str = "urn:ietf:params:oauth:grant-type:saml2-bearer";

/// Largest XML document parsed, in nodes: far above any real MEX document or
/// RSTR (a few hundred nodes), far below what would hurt memory.
const MAX_XML_NODES: u32 = 200_000;

/// Parses untrusted XML: no DTD (so no entity expansion attacks), and a
/// bounded node count on top of the transport's size cap.
pub(crate) fn parse_xml(text: &str) -> std::result::Result<roxmltree::Document<'_>, roxmltree::Error> {
    let options = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_XML_NODES,
        ..Default::default()
    };
    roxmltree::Document::parse_with_options(text, options)
}

/// A parse error's position only: roxmltree's messages can quote names and
/// entity references from the document, which is not ours to log.
pub(crate) fn describe_xml_error(error: &roxmltree::Error) -> String {
    let pos = error.pos();
    format!("not well-formed XML (line {}, column {})", pos.row, pos.col)
}

/// The two WS-Trust versions federation servers offer for username/password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WsTrustVersion {
    /// WS-Trust 1.3 (OASIS), preferred when both are offered, as MSAL does.
    Trust13,
    /// WS-Trust 2005 (the February 2005 draft).
    Trust2005,
}

impl WsTrustVersion {
    /// The `SOAPAction` (and `wsa:Action`) of an issue request.
    pub(crate) fn action(self) -> &'static str {
        match self {
            WsTrustVersion::Trust13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue",
            WsTrustVersion::Trust2005 => "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue",
        }
    }

    /// The version a MEX binding's `soapAction` stands for.
    pub(crate) fn from_action(action: &str) -> Option<Self> {
        [WsTrustVersion::Trust13, WsTrustVersion::Trust2005]
            .into_iter()
            .find(|v| v.action() == action.trim())
    }

    /// The version an endpoint address implies, for the user realm's
    /// `federation_active_auth_url` when there is no MEX to ask (AD FS's
    /// conventional paths, which MSAL Python recognizes the same way).
    pub(crate) fn from_address(address: &Url) -> Option<Self> {
        let path = address.path().to_ascii_lowercase();
        if path.contains("/trust/2005/usernamemixed") {
            Some(WsTrustVersion::Trust2005)
        } else if path.contains("/trust/13/usernamemixed") {
            Some(WsTrustVersion::Trust13)
        } else {
            None
        }
    }

    /// The WS-Trust namespace of the request body.
    pub(crate) fn namespace(self) -> &'static str {
        match self {
            WsTrustVersion::Trust13 => NS_WST13,
            WsTrustVersion::Trust2005 => NS_WST2005,
        }
    }

    /// The `wst:KeyType`: a bearer token, no proof key.
    pub(crate) fn key_type(self) -> &'static str {
        match self {
            WsTrustVersion::Trust13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer",
            WsTrustVersion::Trust2005 => "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
        }
    }

    /// The `wst:RequestType`: issue a token.
    pub(crate) fn request_type(self) -> &'static str {
        match self {
            WsTrustVersion::Trust13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
            WsTrustVersion::Trust2005 => "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
        }
    }
}

/// A WS-Trust username/password ("usernamemixed") endpoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Endpoint {
    /// Where the request is POSTed; always https (it carries the password).
    pub address: Url,
    /// Which WS-Trust version it speaks.
    pub version: WsTrustVersion,
}

/// Which SAML version an assertion is, from the RSTR's `TokenType`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SamlVersion {
    /// SAML 1.1 (what WS-Trust 2005 endpoints issue).
    Saml11,
    /// SAML 2.0 (what WS-Trust 1.3 endpoints issue).
    Saml20,
}

impl SamlVersion {
    /// The version a `TokenType` URI names: the SAML assertion namespaces,
    /// and the WSS SAML token profile 1.1 names, as MSAL Python maps them.
    pub(crate) fn from_token_type(token_type: &str) -> Option<Self> {
        match token_type.trim() {
            "urn:oasis:names:tc:SAML:1.0:assertion"
            | "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV1.1" => {
                Some(SamlVersion::Saml11)
            }
            "urn:oasis:names:tc:SAML:2.0:assertion"
            | "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0" => {
                Some(SamlVersion::Saml20)
            }
            _ => None,
        }
    }

    /// The OAuth2 grant type that redeems such an assertion.
    pub(crate) fn grant_type(self) -> &'static str {
        match self {
            SamlVersion::Saml11 => GRANT_TYPE_SAML1_1,
            SamlVersion::Saml20 => GRANT_TYPE_SAML2,
        }
    }
}

/// A SAML assertion from the federation server: a bearer credential for the
/// user, so it is zeroed on drop and never shown in `Debug`. The text is the
/// assertion element exactly as the server sent it, so its XML signature
/// stays valid.
pub(crate) struct SamlAssertion {
    pub xml: Zeroizing<String>,
    pub version: SamlVersion,
}

impl fmt::Debug for SamlAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SamlAssertion")
            .field("version", &self.version)
            .field("xml", &"[REDACTED]")
            .finish()
    }
}

/// GETs the federation metadata (MEX) at `url` and picks its username/password
/// endpoint: WS-Trust 1.3 when offered, else 2005.
pub(crate) async fn discover_endpoint(pipeline: &Pipeline, url: &Url) -> Result<Endpoint> {
    // No library or telemetry headers: the federation server is not Entra,
    // and MSAL Python sends it a bare GET too.
    let request = HttpRequest::new(Method::Get, url.clone());
    let response = pipeline
        .send(Outgoing::new(Purpose::Discovery, request))
        .await?
        .response;
    let invalid = |reason: String| Error::InvalidResponse {
        endpoint: strip_query(url),
        status: response.status,
        reason,
    };
    if !(200..300).contains(&response.status) {
        return Err(invalid("the federation metadata (MEX) request failed".into()));
    }
    let text = std::str::from_utf8(&response.body)
        .map_err(|_| invalid("the federation metadata (MEX) is not UTF-8".into()))?;
    match mex::username_password_endpoint(text) {
        Ok(Some(endpoint)) => Ok(endpoint),
        Ok(None) => Err(Error::NoWsTrustEndpoint {
            url: strip_query(url),
        }),
        Err(e) => Err(invalid(format!(
            "the federation metadata (MEX) is {}",
            describe_xml_error(&e)
        ))),
    }
}

/// Sends the RequestSecurityToken for `username` and `password` to
/// `endpoint` and returns the SAML assertion of the answer, or
/// [`Error::WsTrustFault`] when the server refused (wrong password, locked
/// account, ...).
pub(crate) async fn request_assertion(
    pipeline: &Pipeline,
    endpoint: &Endpoint,
    username: &str,
    password: &str,
    cloud_audience_urn: &str,
) -> Result<SamlAssertion> {
    let message_id = uuid::Uuid::new_v4();
    let envelope = request::envelope(
        endpoint,
        username,
        password,
        cloud_audience_urn,
        &message_id,
        crate::time::now_epoch(),
    )?;
    let request = HttpRequest::new(Method::Post, endpoint.address.clone())
        // SOAP 1.2's media type, for both versions, as AD FS expects.
        .with_header("Content-Type", "application/soap+xml; charset=utf-8")
        .with_header("SOAPAction", endpoint.version.action())
        .with_body(envelope.as_bytes().to_vec());
    drop(envelope);
    // Throttled per user: a locked-out user must not hold back the others.
    let throttle = ThrottleKey::new("", "", Some(username));
    let response = pipeline
        .send(Outgoing::new(Purpose::Federation, request).throttle_key(throttle))
        .await?
        .response;
    let address = strip_query(&endpoint.address);
    // No status check first: AD FS answers a wrong password with HTTP 500
    // and a SOAP fault in the body, which is the part worth reporting.
    let Ok(text) = std::str::from_utf8(&response.body) else {
        return Err(Error::InvalidResponse {
            endpoint: address,
            status: response.status,
            reason: "the WS-Trust response is not UTF-8".into(),
        });
    };
    match response::parse(text) {
        Ok(response::Rstr::Token(assertion)) => Ok(assertion),
        Ok(response::Rstr::Fault { code, reason }) => Err(Error::WsTrustFault {
            endpoint: address,
            status: response.status,
            code: redact(&code, password),
            reason: redact(&reason, password),
        }),
        Err(reason) => Err(Error::InvalidResponse {
            endpoint: address,
            status: response.status,
            reason,
        }),
    }
}

/// The password never reaches an error, even if a server echoes it back.
fn redact(text: &str, password: &str) -> String {
    if password.is_empty() {
        text.to_owned()
    } else {
        text.replace(password, "[REDACTED]")
    }
}

fn strip_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_map_actions_addresses_and_token_types() {
        for v in [WsTrustVersion::Trust13, WsTrustVersion::Trust2005] {
            assert_eq!(WsTrustVersion::from_action(v.action()), Some(v));
        }
        assert_eq!(WsTrustVersion::from_action("urn:other"), None);
        let url = |s: &str| Url::parse(s).unwrap();
        assert_eq!(
            WsTrustVersion::from_address(&url("https://fs.example/adfs/services/trust/2005/usernamemixed")),
            Some(WsTrustVersion::Trust2005)
        );
        assert_eq!(
            WsTrustVersion::from_address(&url("https://fs.example/adfs/services/trust/13/UsernameMixed")),
            Some(WsTrustVersion::Trust13)
        );
        assert_eq!(
            WsTrustVersion::from_address(&url("https://fs.example/adfs/services/trust/13/windows")),
            None
        );
        assert_eq!(
            SamlVersion::from_token_type(" urn:oasis:names:tc:SAML:1.0:assertion "),
            Some(SamlVersion::Saml11)
        );
        assert_eq!(
            SamlVersion::from_token_type(
                "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0"
            )
            .map(SamlVersion::grant_type),
            Some(GRANT_TYPE_SAML2)
        );
        assert_eq!(
            SamlVersion::Saml11.grant_type(),
            "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
        );
        assert_eq!(SamlVersion::from_token_type("urn:jwt"), None);
    }

    #[test]
    fn redaction_hides_the_password() {
        assert_eq!(redact("bad pw hunter2!", "hunter2"), "bad pw [REDACTED]!");
        assert_eq!(redact("x", ""), "x");
        let assertion = SamlAssertion {
            xml: Zeroizing::new("<Assertion>secret-bits</Assertion>".into()),
            version: SamlVersion::Saml20,
        };
        assert!(!format!("{assertion:?}").contains("secret-bits"));
    }
}
