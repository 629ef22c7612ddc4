//! The WS-Trust answer: a RequestSecurityTokenResponse (RSTR, in a
//! collection for 1.3) holding the token type and the SAML assertion, or a
//! SOAP fault.
//!
//! The assertion is handed on as the exact bytes the server sent: its XML
//! signature covers the canonical form of those bytes, and re-serializing
//! the element (namespace declarations moved, attributes re-quoted) could
//! change what the token endpoint canonicalizes and break the signature.

use roxmltree::Node;
use zeroize::Zeroizing;

use super::{
    NS_SOAP11, NS_SOAP12, NS_WST13, NS_WST2005, SamlAssertion, SamlVersion, describe_xml_error, parse_xml,
};

/// What the federation server answered.
#[derive(Debug)]
pub(crate) enum Rstr {
    /// A token.
    Token(SamlAssertion),
    /// A SOAP fault: `code` is the most specific code given (AD FS puts
    /// the meaningful one in the subcode), `reason` its text.
    Fault { code: String, reason: String },
}

/// Parses a WS-Trust response body. The error is a reason for
/// [`Error::InvalidResponse`](crate::Error::InvalidResponse): it never
/// quotes the document.
pub(crate) fn parse(body: &str) -> Result<Rstr, String> {
    let doc = parse_xml(body).map_err(|e| format!("the WS-Trust response is {}", describe_xml_error(&e)))?;
    let responses = doc
        .descendants()
        .filter(|n| is(*n, &[NS_WST13, NS_WST2005], "RequestSecurityTokenResponse"));
    for rstr in responses {
        let token_type = child(rstr, &[NS_WST13, NS_WST2005], "TokenType").and_then(|t| t.text());
        let token = child(rstr, &[NS_WST13, NS_WST2005], "RequestedSecurityToken");
        let (Some(token_type), Some(token)) = (token_type, token) else {
            continue;
        };
        let version = SamlVersion::from_token_type(token_type).ok_or_else(|| {
            // The token type is a URI chosen by the server, not a secret.
            format!(
                "the WS-Trust response holds a token of an unsupported type {:?}",
                truncate(token_type.trim(), 200)
            )
        })?;
        let Some(assertion) = token.first_element_child() else {
            return Err("the WS-Trust response's RequestedSecurityToken is empty".into());
        };
        let xml = body
            .get(assertion.range())
            .ok_or("the WS-Trust response's assertion has no source range")?;
        // The slice must stand alone: a prefix declared only on an ancestor
        // would leave the token endpoint with an assertion it cannot read.
        if parse_xml(xml).is_err() {
            return Err(
                "the WS-Trust response's assertion does not stand alone (it uses a namespace \
                 declared outside it)"
                    .into(),
            );
        }
        return Ok(Rstr::Token(SamlAssertion {
            xml: Zeroizing::new(xml.to_owned()),
            version,
        }));
    }
    if let Some(fault) = fault(doc.root_element()) {
        return Ok(fault);
    }
    Err("the WS-Trust response holds neither a token nor a SOAP fault".into())
}

/// The SOAP 1.2 (or, leniently, 1.1) fault in an envelope's body.
fn fault(envelope: Node<'_, '_>) -> Option<Rstr> {
    let body = child(envelope, &[NS_SOAP12, NS_SOAP11], "Body")?;
    if let Some(fault) = child(body, &[NS_SOAP12], "Fault") {
        let code = child(fault, &[NS_SOAP12], "Code");
        fn value<'a>(node: Option<Node<'a, '_>>) -> Option<&'a str> {
            node.and_then(|n| child(n, &[NS_SOAP12], "Value"))
                .and_then(|v| v.text())
                .map(str::trim)
        }
        let subcode = value(code.and_then(|c| child(c, &[NS_SOAP12], "Subcode")));
        let code = subcode.or(value(code)).unwrap_or_default();
        let reason = child(fault, &[NS_SOAP12], "Reason")
            .and_then(|r| child(r, &[NS_SOAP12], "Text"))
            .and_then(|t| t.text())
            .map(str::trim)
            .unwrap_or_default();
        return Some(Rstr::Fault {
            code: truncate(code, 500),
            reason: truncate(reason, 2000),
        });
    }
    let fault = child(body, &[NS_SOAP11], "Fault")?;
    // SOAP 1.1 fault children are unqualified.
    let text = |name: &str| {
        fault
            .children()
            .find(|n| n.is_element() && n.has_tag_name(name))
            .and_then(|n| n.text())
            .map(str::trim)
            .unwrap_or_default()
    };
    Some(Rstr::Fault {
        code: truncate(text("faultcode"), 500),
        reason: truncate(text("faultstring"), 2000),
    })
}

fn is(node: Node<'_, '_>, namespaces: &[&str], name: &str) -> bool {
    node.is_element()
        && node.tag_name().name() == name
        && node
            .tag_name()
            .namespace()
            .is_some_and(|ns| namespaces.contains(&ns))
}

fn child<'a, 'input>(node: Node<'a, 'input>, namespaces: &[&str], name: &str) -> Option<Node<'a, 'input>> {
    node.children().find(|n| is(*n, namespaces, name))
}

/// At most `max` bytes of `text`, cut on a character boundary: a hostile
/// server's fault text must not flood logs.
fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A SAML 2.0 assertion the way AD FS writes one: its own namespace
    /// declarations, an enveloped signature, odd but significant whitespace
    /// and attribute quoting that a re-serialization would change.
    pub(crate) const SAML2_ASSERTION: &str = "<Assertion ID=\"_d4f1\" IssueInstant='2026-11-26T12:00:00.000Z' Version=\"2.0\" xmlns=\"urn:oasis:names:tc:SAML:2.0:assertion\"><Issuer>http://fs.contoso.com/adfs/services/trust</Issuer><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo><ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\" /></ds:SignedInfo><ds:SignatureValue>c2ln</ds:SignatureValue></ds:Signature><Subject><NameID>dave@woodgrove.com</NameID></Subject>\n  <AttributeStatement><Attribute Name=\"upn\"><AttributeValue>a &amp; b</AttributeValue></Attribute></AttributeStatement></Assertion>";

    /// A SAML 1.1 assertion (prefixed, as AD FS's 2005 endpoint sends it).
    pub(crate) const SAML11_ASSERTION: &str = "<saml:Assertion MajorVersion=\"1\" MinorVersion=\"1\" AssertionID=\"_a1\" Issuer=\"http://fs.contoso.com/adfs/services/trust\" IssueInstant=\"2026-11-26T12:00:00.000Z\" xmlns:saml=\"urn:oasis:names:tc:SAML:1.0:assertion\"><saml:Conditions NotBefore=\"2026-11-26T12:00:00.000Z\" NotOnOrAfter=\"2026-11-26T13:00:00.000Z\"><saml:AudienceRestrictionCondition><saml:Audience>urn:federation:MicrosoftOnline</saml:Audience></saml:AudienceRestrictionCondition></saml:Conditions><saml:AttributeStatement><saml:Subject><saml:NameIdentifier>ImmutableId</saml:NameIdentifier></saml:Subject></saml:AttributeStatement></saml:Assertion>";

    /// An RSTR collection (WS-Trust 1.3) around a SAML 2.0 assertion.
    pub(crate) fn rstr_13(assertion: &str) -> String {
        format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://www.w3.org/2005/08/addressing\" xmlns:u=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\"><s:Header><a:Action s:mustUnderstand=\"1\">http://docs.oasis-open.org/ws-sx/ws-trust/200512/RSTRC/IssueFinal</a:Action></s:Header><s:Body><trust:RequestSecurityTokenResponseCollection xmlns:trust=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\"><trust:RequestSecurityTokenResponse><trust:Lifetime><wsu:Created xmlns:wsu=\"http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd\">2026-11-26T12:00:00.000Z</wsu:Created></trust:Lifetime><wsp:AppliesTo xmlns:wsp=\"http://schemas.xmlsoap.org/ws/2004/09/policy\"><wsa:EndpointReference xmlns:wsa=\"http://www.w3.org/2005/08/addressing\"><wsa:Address>urn:federation:MicrosoftOnline</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><trust:RequestedSecurityToken>\n    {assertion}\n  </trust:RequestedSecurityToken><trust:TokenType>urn:oasis:names:tc:SAML:2.0:assertion</trust:TokenType><trust:RequestType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue</trust:RequestType><trust:KeyType>http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer</trust:KeyType></trust:RequestSecurityTokenResponse></trust:RequestSecurityTokenResponseCollection></s:Body></s:Envelope>"
        )
    }

    /// An RSTR (WS-Trust 2005) around a SAML 1.1 assertion.
    pub(crate) fn rstr_2005(assertion: &str) -> String {
        format!(
            "<?xml version=\"1.0\"?><s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><t:RequestSecurityTokenResponse xmlns:t=\"http://schemas.xmlsoap.org/ws/2005/02/trust\"><t:Lifetime/><t:TokenType>urn:oasis:names:tc:SAML:1.0:assertion</t:TokenType><t:RequestedSecurityToken>{assertion}</t:RequestedSecurityToken><t:RequestType>http://schemas.xmlsoap.org/ws/2005/02/trust/Issue</t:RequestType></t:RequestSecurityTokenResponse></s:Body></s:Envelope>"
        )
    }

    /// A SOAP 1.2 fault as AD FS sends it for a wrong password.
    pub(crate) const FAULT: &str = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:a=\"http://www.w3.org/2005/08/addressing\"><s:Header><a:Action s:mustUnderstand=\"1\">http://www.w3.org/2005/08/addressing/soap/fault</a:Action></s:Header><s:Body><s:Fault><s:Code><s:Value>s:Sender</s:Value><s:Subcode><s:Value xmlns:a=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\">a:FailedAuthentication</s:Value></s:Subcode></s:Code><s:Reason><s:Text xml:lang=\"en-US\">MSIS7068: Access denied.</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>";

    #[test]
    fn saml2_assertion_is_taken_byte_exact_from_a_13_collection() {
        let body = rstr_13(SAML2_ASSERTION);
        let Rstr::Token(token) = parse(&body).unwrap() else {
            panic!("no token")
        };
        assert_eq!(token.version, SamlVersion::Saml20);
        assert_eq!(
            token.version.grant_type(),
            "urn:ietf:params:oauth:grant-type:saml2-bearer"
        );
        assert_eq!(token.xml.as_str(), SAML2_ASSERTION);
    }

    #[test]
    fn saml11_assertion_from_a_2005_response() {
        let Rstr::Token(token) = parse(&rstr_2005(SAML11_ASSERTION)).unwrap() else {
            panic!("no token")
        };
        assert_eq!(token.version, SamlVersion::Saml11);
        assert_eq!(
            token.version.grant_type(),
            "urn:ietf:params:oauth:grant-type:saml1_1-bearer"
        );
        assert_eq!(token.xml.as_str(), SAML11_ASSERTION);
    }

    #[test]
    fn soap_faults_carry_the_subcode_and_reason() {
        match parse(FAULT).unwrap() {
            Rstr::Fault { code, reason } => {
                assert_eq!(code, "a:FailedAuthentication");
                assert_eq!(reason, "MSIS7068: Access denied.");
            }
            other => panic!("{other:?}"),
        }
        let soap11 = "<e:Envelope xmlns:e=\"http://schemas.xmlsoap.org/soap/envelope/\"><e:Body><e:Fault><faultcode>e:Client</faultcode><faultstring>bad</faultstring></e:Fault></e:Body></e:Envelope>";
        match parse(soap11).unwrap() {
            Rstr::Fault { code, reason } => assert_eq!((code.as_str(), reason.as_str()), ("e:Client", "bad")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unusable_responses_are_errors_not_panics() {
        let unknown_type = rstr_2005(SAML11_ASSERTION).replace(
            "urn:oasis:names:tc:SAML:1.0:assertion</t:TokenType>",
            "urn:ietf:params:oauth:token-type:jwt</t:TokenType>",
        );
        assert!(parse(&unknown_type).unwrap_err().contains("unsupported type"));
        assert!(parse(&rstr_2005("")).unwrap_err().contains("empty"));
        // The assertion's prefix is declared on the envelope only.
        let dependent = "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\" xmlns:saml=\"urn:oasis:names:tc:SAML:1.0:assertion\"><s:Body><t:RequestSecurityTokenResponse xmlns:t=\"http://schemas.xmlsoap.org/ws/2005/02/trust\"><t:TokenType>urn:oasis:names:tc:SAML:1.0:assertion</t:TokenType><t:RequestedSecurityToken><saml:Assertion/></t:RequestedSecurityToken></t:RequestSecurityTokenResponse></s:Body></s:Envelope>";
        assert!(parse(dependent).unwrap_err().contains("stand alone"));
        for junk in [
            "",
            "<html>500</html>",
            "\u{feff}<a",
            "<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><lolz>&lol;</lolz>",
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>",
        ] {
            assert!(parse(junk).is_err(), "{junk:?}");
        }
        let secret = "<x>hunter2</x";
        assert!(!parse(secret).unwrap_err().contains("hunter2"));
        let long = format!(
            "<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><s:Fault><s:Reason><s:Text>{}\u{e9}</s:Text></s:Reason></s:Fault></s:Body></s:Envelope>",
            "x".repeat(1999)
        );
        match parse(&long).unwrap() {
            Rstr::Fault { reason, code } => {
                assert!(reason.len() <= 2003 && code.is_empty(), "{}", reason.len());
            }
            other => panic!("{other:?}"),
        }
    }
}
