//! The emulated federation server (an AD FS look-alike on the same HTTPS
//! server) that federated domains' users sign in at:
//!
//! - `GET /adfs/services/trust/mex`: the WS-MetadataExchange WSDL, with a
//!   username/password policy, binding and port for WS-Trust 1.3 and 2005;
//! - `POST /adfs/services/trust/13/usernamemixed` and
//!   `/adfs/services/trust/2005/usernamemixed`: a SOAP 1.2
//!   RequestSecurityToken with a WS-Security `UsernameToken`, answered with
//!   a signed SAML 2.0 (1.3) or SAML 1.1 (2005) assertion for Entra, or a
//!   SOAP fault.
//!
//! The token endpoint then redeems the assertion (`saml1_1-bearer` /
//! `saml2-bearer` grants), verifying it with [`saml::verify`].

pub(crate) mod key;
pub(crate) mod saml;
pub(crate) mod xml;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use roxmltree::Node;

use crate::context::RequestContext;
use crate::server::AppState;
use crate::token::constant_time_eq;
use saml::{MICROSOFT_ONLINE, SamlVersion, Subject};
use xml::XmlWriter;

/// Where the MEX document is served.
pub(crate) const MEX_PATH: &str = "/adfs/services/trust/mex";
/// The WS-Trust 1.3 username/password endpoint.
pub(crate) const TRUST_13_PATH: &str = "/adfs/services/trust/13/usernamemixed";
/// The WS-Trust 2005 username/password endpoint.
pub(crate) const TRUST_2005_PATH: &str = "/adfs/services/trust/2005/usernamemixed";

/// Largest SOAP request read (MSAL's RST is about 2 KiB).
const MAX_SOAP_BYTES: usize = 32 * 1024;

const SOAP12_NS: &str = "http://www.w3.org/2003/05/soap-envelope";
const WSA_NS: &str = "http://www.w3.org/2005/08/addressing";
const WSU_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd";
const WSSE_NS: &str = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd";
const WSP_NS: &str = "http://schemas.xmlsoap.org/ws/2004/09/policy";
const SOAP_CONTENT_TYPE: &str = "application/soap+xml; charset=utf-8";

/// The federation server's issuer URI (AD FS: `…/adfs/services/trust`).
pub(crate) fn issuer(state: &AppState) -> String {
    format!("{}/adfs/services/trust", state.url)
}

/// The two WS-Trust versions served.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WsTrust {
    /// WS-Trust 1.3 (OASIS, 2005/12): answers with SAML 2.0.
    V13,
    /// WS-Trust February 2005: answers with SAML 1.1.
    V2005,
}

impl WsTrust {
    fn namespace(self) -> &'static str {
        match self {
            WsTrust::V13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512",
            WsTrust::V2005 => "http://schemas.xmlsoap.org/ws/2005/02/trust",
        }
    }

    /// The RST's SOAP action.
    fn action(self) -> &'static str {
        match self {
            WsTrust::V13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue",
            WsTrust::V2005 => "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue",
        }
    }

    fn response_action(self) -> &'static str {
        match self {
            WsTrust::V13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal",
            WsTrust::V2005 => "http://schemas.xmlsoap.org/ws/2005/02/trust/RSTR/Issue",
        }
    }

    fn request_type(self) -> &'static str {
        match self {
            WsTrust::V13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue",
            WsTrust::V2005 => "http://schemas.xmlsoap.org/ws/2005/02/trust/Issue",
        }
    }

    fn key_type(self) -> &'static str {
        match self {
            WsTrust::V13 => "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer",
            WsTrust::V2005 => "http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey",
        }
    }

    /// The `TokenType` of the issued assertion.
    fn token_type(self) -> &'static str {
        match self {
            WsTrust::V13 => "http://docs.oasis-open.org/wss/oasis-wss-saml-token-profile-1.1#SAMLV2.0",
            WsTrust::V2005 => saml::SAML1_NS,
        }
    }

    fn saml(self) -> SamlVersion {
        match self {
            WsTrust::V13 => SamlVersion::V2_0,
            WsTrust::V2005 => SamlVersion::V1_1,
        }
    }

    fn path(self) -> &'static str {
        match self {
            WsTrust::V13 => TRUST_13_PATH,
            WsTrust::V2005 => TRUST_2005_PATH,
        }
    }

    /// Prefix, binding and policy names for the MEX document.
    fn binding_name(self) -> &'static str {
        match self {
            WsTrust::V13 => "UserNameWSTrustBinding_IWSTrust13Async",
            WsTrust::V2005 => "UserNameWSTrustBinding_IWSTrustFeb2005Async",
        }
    }
}

fn soap_response(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SOAP_CONTENT_TYPE));
    response
}

/// `GET /adfs/services/trust/mex`.
pub(crate) async fn mex(ctx: RequestContext) -> Response {
    soap_response(StatusCode::OK, mex_document(&ctx.base_url))
}

/// The WSDL MSAL reads: for each version, a policy (a `wsu:Id`'d
/// `wsp:Policy` child of the root with a transport binding and a
/// username token), a SOAP 1.2 binding over HTTP referencing it with the
/// version's soapAction, and a port with a `wsa:EndpointReference` address.
fn mex_document(base_url: &str) -> String {
    const SP13: &str = "http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702";
    const SP2005: &str = "http://schemas.xmlsoap.org/ws/2005/07/securitypolicy";
    let mut w = XmlWriter::new();
    w.open(
        "wsdl:definitions",
        &[
            ("name", "SecurityTokenService"),
            ("targetNamespace", "http://tempuri.org/"),
            ("xmlns:wsdl", "http://schemas.xmlsoap.org/wsdl/"),
            ("xmlns:soap12", "http://schemas.xmlsoap.org/wsdl/soap12/"),
            ("xmlns:wsp", WSP_NS),
            ("xmlns:wsu", WSU_NS),
            ("xmlns:sp", SP13),
            ("xmlns:sp2005", SP2005),
            ("xmlns:wsa10", WSA_NS),
            ("xmlns:tns", "http://tempuri.org/"),
        ],
    );
    for (version, sp, supporting) in [
        (WsTrust::V13, "sp", "SignedEncryptedSupportingTokens"),
        (WsTrust::V2005, "sp2005", "SignedSupportingTokens"),
    ] {
        let policy_id = format!("{}_policy", version.binding_name());
        let el = |name: &str| format!("{sp}:{name}");
        let include_token = match version {
            WsTrust::V13 => format!("{SP13}/IncludeToken/AlwaysToRecipient"),
            WsTrust::V2005 => format!("{SP2005}/IncludeToken/AlwaysToRecipient"),
        };
        w.open("wsp:Policy", &[("wsu:Id", &policy_id)])
            .open("wsp:ExactlyOne", &[])
            .open("wsp:All", &[]);
        w.open(&el("TransportBinding"), &[])
            .open("wsp:Policy", &[])
            .open(&el("TransportToken"), &[])
            .open("wsp:Policy", &[])
            .open(&el("HttpsToken"), &[("RequireClientCertificate", "false")])
            .close(&el("HttpsToken"))
            .close("wsp:Policy")
            .close(&el("TransportToken"))
            .open(&el("AlgorithmSuite"), &[])
            .open("wsp:Policy", &[])
            .open(&el("Basic256"), &[])
            .close(&el("Basic256"))
            .close("wsp:Policy")
            .close(&el("AlgorithmSuite"))
            .open(&el("IncludeTimestamp"), &[])
            .close(&el("IncludeTimestamp"))
            .close("wsp:Policy")
            .close(&el("TransportBinding"));
        w.open(&el(supporting), &[])
            .open("wsp:Policy", &[])
            .open(&el("UsernameToken"), &[(&el("IncludeToken"), &include_token)])
            .open("wsp:Policy", &[])
            .open(&el("WssUsernameToken10"), &[])
            .close(&el("WssUsernameToken10"))
            .close("wsp:Policy")
            .close(&el("UsernameToken"))
            .close("wsp:Policy")
            .close(&el(supporting));
        w.close("wsp:All").close("wsp:ExactlyOne").close("wsp:Policy");
    }
    for version in [WsTrust::V13, WsTrust::V2005] {
        let name = version.binding_name();
        let policy_uri = format!("#{name}_policy");
        let operation = match version {
            WsTrust::V13 => "Trust13IssueAsync",
            WsTrust::V2005 => "TrustFeb2005IssueAsync",
        };
        let port_type = match version {
            WsTrust::V13 => "tns:IWSTrust13Async",
            WsTrust::V2005 => "tns:IWSTrustFeb2005Async",
        };
        w.open("wsdl:binding", &[("name", name), ("type", port_type)])
            .open("wsp:PolicyReference", &[("URI", &policy_uri)])
            .close("wsp:PolicyReference")
            .open(
                "soap12:binding",
                &[("transport", "http://schemas.xmlsoap.org/soap/http")],
            )
            .close("soap12:binding")
            .open("wsdl:operation", &[("name", operation)])
            .open(
                "soap12:operation",
                &[("soapAction", version.action()), ("style", "document")],
            )
            .close("soap12:operation");
        for direction in ["wsdl:input", "wsdl:output"] {
            w.open(direction, &[])
                .open("soap12:body", &[("use", "literal")])
                .close("soap12:body")
                .close(direction);
        }
        w.close("wsdl:operation").close("wsdl:binding");
    }
    w.open("wsdl:service", &[("name", "SecurityTokenService")]);
    for version in [WsTrust::V13, WsTrust::V2005] {
        let name = version.binding_name();
        let binding = format!("tns:{name}");
        let address = format!("{base_url}{}", version.path());
        w.open("wsdl:port", &[("name", name), ("binding", &binding)])
            .open("soap12:address", &[("location", &address)])
            .close("soap12:address")
            .open("wsa10:EndpointReference", &[])
            .leaf("wsa10:Address", &[], &address)
            .close("wsa10:EndpointReference")
            .close("wsdl:port");
    }
    w.close("wsdl:service").close("wsdl:definitions");
    w.finish()
}

/// `POST /adfs/services/trust/13/usernamemixed`.
pub(crate) async fn trust_13(State(state): State<Arc<AppState>>, request: Request) -> Response {
    username_mixed(&state, WsTrust::V13, request.into_body()).await
}

/// `POST /adfs/services/trust/2005/usernamemixed`.
pub(crate) async fn trust_2005(State(state): State<Arc<AppState>>, request: Request) -> Response {
    username_mixed(&state, WsTrust::V2005, request.into_body()).await
}

/// A SOAP fault: AD FS answers them with HTTP 500, whatever the cause.
struct Fault {
    /// `s:Sender` or `s:Receiver`.
    code: &'static str,
    /// The WS-Trust subcode (`FailedAuthentication`, `InvalidRequest`, …).
    subcode: &'static str,
    reason: String,
}

impl Fault {
    fn invalid_request(reason: impl Into<String>) -> Fault {
        Fault {
            code: "s:Sender",
            subcode: "InvalidRequest",
            reason: reason.into(),
        }
    }

    fn failed_authentication() -> Fault {
        Fault {
            code: "s:Sender",
            subcode: "FailedAuthentication",
            reason: "ID3242: The security token could not be authenticated or authorized.".into(),
        }
    }

    fn server_error() -> Fault {
        Fault {
            code: "s:Receiver",
            subcode: "RequestFailed",
            reason: "MSIS7012: An error occurred while processing the request.".into(),
        }
    }

    fn to_response(&self, version: WsTrust) -> Response {
        let mut w = XmlWriter::new();
        w.open("s:Envelope", &[("xmlns:s", SOAP12_NS), ("xmlns:a", WSA_NS)])
            .open("s:Header", &[])
            .leaf(
                "a:Action",
                &[("s:mustUnderstand", "1")],
                "http://www.w3.org/2005/08/addressing/soap/fault",
            )
            .close("s:Header")
            .open("s:Body", &[])
            .open("s:Fault", &[])
            .open("s:Code", &[])
            .leaf("s:Value", &[], self.code)
            .open("s:Subcode", &[])
            .leaf(
                "s:Value",
                &[("xmlns:t", version.namespace())],
                &format!("t:{}", self.subcode),
            )
            .close("s:Subcode")
            .close("s:Code")
            .open("s:Reason", &[])
            .leaf("s:Text", &[("xml:lang", "en-US")], &self.reason)
            .close("s:Reason")
            .close("s:Fault")
            .close("s:Body")
            .close("s:Envelope");
        soap_response(StatusCode::INTERNAL_SERVER_ERROR, w.finish())
    }
}

async fn username_mixed(state: &AppState, version: WsTrust, body: Body) -> Response {
    let response = match axum::body::to_bytes(body, MAX_SOAP_BYTES).await {
        Err(_) => Err(Fault::invalid_request(format!(
            "The request is larger than {MAX_SOAP_BYTES} bytes."
        ))),
        Ok(bytes) => match std::str::from_utf8(&bytes) {
            Err(_) => Err(Fault::invalid_request("The request is not UTF-8.")),
            Ok(text) => issue(state, version, text),
        },
    };
    match response {
        Ok(rstr) => soap_response(StatusCode::OK, rstr),
        Err(fault) => {
            tracing::debug!(subcode = fault.subcode, reason = %fault.reason, "WS-Trust fault");
            fault.to_response(version)
        }
    }
}

fn is(node: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

fn child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Option<Node<'a, 'i>> {
    node.children().find(|c| is(c, ns, name))
}

/// What the RST asks for.
struct Rst {
    username: String,
    password: String,
    message_id: Option<String>,
}

/// Reads an RST: SOAP 1.2 envelope, `wsse:UsernameToken` in the header, a
/// `RequestSecurityToken` of `version` for Entra in the body.
fn read_rst(text: &str, version: WsTrust) -> Result<Rst, Fault> {
    let doc = xml::parse(text).map_err(|e| Fault::invalid_request(format!("ID3035: {e}")))?;
    let envelope = doc.root_element();
    if !is(&envelope, SOAP12_NS, "Envelope") {
        return Err(Fault::invalid_request(
            "ID3035: The request is not a SOAP 1.2 envelope.",
        ));
    }
    let header = child(envelope, SOAP12_NS, "Header")
        .ok_or_else(|| Fault::invalid_request("ID3035: The request has no SOAP header."))?;
    let token = child(header, WSSE_NS, "Security")
        .and_then(|s| child(s, WSSE_NS, "UsernameToken"))
        .ok_or_else(|| Fault::invalid_request("ID3035: The request has no wsse:UsernameToken."))?;
    let text_of = |name: &str| {
        child(token, WSSE_NS, name)
            .and_then(|n| n.text())
            .map(str::to_owned)
            .unwrap_or_default()
    };
    let (username, password) = (text_of("Username").trim().to_owned(), text_of("Password"));
    let rst = child(envelope, SOAP12_NS, "Body")
        .and_then(|b| child(b, version.namespace(), "RequestSecurityToken"))
        .ok_or_else(|| {
            Fault::invalid_request(format!(
                "ID3035: The request has no RequestSecurityToken in namespace {}.",
                version.namespace()
            ))
        })?;
    if let Some(request_type) = child(rst, version.namespace(), "RequestType")
        && request_type.text().map(str::trim) != Some(version.request_type())
    {
        return Err(Fault::invalid_request(
            "ID3035: Only the Issue request type is supported.",
        ));
    }
    let applies_to = child(rst, WSP_NS, "AppliesTo")
        .and_then(|a| a.descendants().find(|n| is(n, WSA_NS, "Address")))
        .and_then(|a| a.text())
        .map(str::trim);
    if applies_to != Some(MICROSOFT_ONLINE) {
        return Err(Fault::invalid_request(format!(
            "ID3082: The request scope is not valid or is unsupported: this federation server only issues tokens for '{MICROSOFT_ONLINE}'."
        )));
    }
    let message_id = child(header, WSA_NS, "MessageID")
        .and_then(|m| m.text())
        .map(|m| m.trim().to_owned());
    Ok(Rst {
        username,
        password,
        message_id,
    })
}

/// Checks the credentials of an RST and answers with an RSTR.
fn issue(state: &AppState, version: WsTrust, text: &str) -> Result<String, Fault> {
    let rst = read_rst(text, version)?;
    // Only users of federated domains are "on premises"; every other
    // name is unknown here, and unknown users fail like a wrong password.
    let user = state
        .directory()
        .user(&rst.username)
        .filter(|u| state.directory().is_federated(u));
    let matched = user.is_some_and(|u| constant_time_eq(&u.password, &rst.password));
    let Some(user) = user.filter(|_| matched) else {
        tracing::info!(user = %rst.username, "federation server refused credentials");
        return Err(Fault::failed_authentication());
    };
    let now = state.clock.now();
    let immutable_id = saml::immutable_id(&user.object_id);
    let issuer = issuer(state);
    let assertion = saml::issue(
        &state.federation_key,
        version.saml(),
        &Subject {
            issuer: &issuer,
            upn: &user.upn,
            immutable_id: &immutable_id,
            now,
        },
    )
    .map_err(|e| {
        tracing::error!(error = %e, "signing an assertion failed");
        Fault::server_error()
    })?;
    tracing::info!(user = %user.upn, ?version, "federation server issued an assertion");
    Ok(rstr(version, &assertion, rst.message_id.as_deref(), now))
}

/// The RSTR (1.3: inside a `RequestSecurityTokenResponseCollection`). The
/// assertion is the exact content of `RequestedSecurityToken`, with no
/// whitespace around it: MSAL takes that text as-is.
fn rstr(version: WsTrust, assertion: &str, relates_to: Option<&str>, now: u64) -> String {
    let created = xml::date_time(now);
    let expires = xml::date_time(now.saturating_add(saml::ASSERTION_LIFETIME_SECS));
    let timestamp_expires = xml::date_time(now.saturating_add(300));
    let mut w = XmlWriter::new();
    w.open(
        "s:Envelope",
        &[("xmlns:s", SOAP12_NS), ("xmlns:a", WSA_NS), ("xmlns:u", WSU_NS)],
    )
    .open("s:Header", &[])
    .leaf(
        "a:Action",
        &[("s:mustUnderstand", "1")],
        version.response_action(),
    );
    if let Some(id) = relates_to {
        w.leaf("a:RelatesTo", &[], id);
    }
    w.open("o:Security", &[("s:mustUnderstand", "1"), ("xmlns:o", WSSE_NS)])
        .open("u:Timestamp", &[("u:Id", "_0")])
        .leaf("u:Created", &[], &created)
        .leaf("u:Expires", &[], &timestamp_expires)
        .close("u:Timestamp")
        .close("o:Security")
        .close("s:Header")
        .open("s:Body", &[]);
    if version == WsTrust::V13 {
        w.open(
            "t:RequestSecurityTokenResponseCollection",
            &[("xmlns:t", version.namespace())],
        )
        .open("t:RequestSecurityTokenResponse", &[]);
    } else {
        w.open(
            "t:RequestSecurityTokenResponse",
            &[("xmlns:t", version.namespace())],
        );
    }
    w.open("t:Lifetime", &[])
        .leaf("u:Created", &[], &created)
        .leaf("u:Expires", &[], &expires)
        .close("t:Lifetime")
        .open("wsp:AppliesTo", &[("xmlns:wsp", WSP_NS)])
        .open("a:EndpointReference", &[])
        .leaf("a:Address", &[], MICROSOFT_ONLINE)
        .close("a:EndpointReference")
        .close("wsp:AppliesTo")
        .open("t:RequestedSecurityToken", &[])
        .raw(assertion)
        .close("t:RequestedSecurityToken")
        .leaf("t:TokenType", &[], version.token_type())
        .leaf("t:RequestType", &[], version.request_type())
        .leaf("t:KeyType", &[], version.key_type())
        .close("t:RequestSecurityTokenResponse");
    if version == WsTrust::V13 {
        w.close("t:RequestSecurityTokenResponseCollection");
    }
    w.close("s:Body").close("s:Envelope");
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mex_has_both_endpoints_where_msal_looks() {
        let doc_text = mex_document("https://127.0.0.1:9");
        let doc = xml::parse(&doc_text).unwrap();
        let root = doc.root_element();
        assert_eq!(root.tag_name().name(), "definitions");
        let ports: Vec<_> = root
            .descendants()
            .filter(|n| is(n, WSA_NS, "Address"))
            .filter_map(|n| n.text())
            .collect();
        assert_eq!(
            ports,
            [
                "https://127.0.0.1:9/adfs/services/trust/13/usernamemixed",
                "https://127.0.0.1:9/adfs/services/trust/2005/usernamemixed"
            ]
        );
        let policies = root
            .children()
            .filter(|n| is(n, WSP_NS, "Policy"))
            .filter_map(|n| n.attribute((WSU_NS, "Id")))
            .count();
        assert_eq!(policies, 2);
    }

    #[test]
    fn fault_reads_like_ad_fs() {
        let response = Fault::failed_authentication().to_response(WsTrust::V2005);
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
    }

    #[test]
    fn bad_rsts_are_refused() {
        for text in [
            "",
            "<a/>",
            "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'/>",
            "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><s:Header/></s:Envelope>",
        ] {
            assert!(read_rst(text, WsTrust::V13).is_err(), "{text}");
        }
    }
}
