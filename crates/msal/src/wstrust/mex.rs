//! WS-MetadataExchange: which endpoint of a federation server takes a
//! username and password. A MEX document is a WSDL whose top-level
//! `wsp:Policy` elements describe authentication requirements, whose
//! `wsdl:binding`s point at a policy and name a SOAP action, and whose
//! `wsdl:service/wsdl:port`s give each binding an address.
//!
//! A usernamemixed endpoint is a port whose binding (over SOAP/HTTP) refers
//! to a policy that asks for a WSS 1.0 username token over a transport
//! (TLS) binding: under `sp:SignedEncryptedSupportingTokens` for WS-Trust
//! 1.3 policies, `sp2005:SignedSupportingTokens` for 2005 ones. The
//! binding's SOAP action tells the version; 1.3 wins when both are there,
//! as MSAL has always preferred it.

use std::collections::{HashMap, HashSet};

use roxmltree::{Document, Node};
use url::Url;

use super::{
    Endpoint, NS_SP, NS_SP2005, NS_WSA, NS_WSDL, NS_WSDL_SOAP12, NS_WSP, NS_WSU, SOAP_HTTP_TRANSPORT,
    WsTrustVersion, parse_xml,
};

/// The username/password endpoint a MEX document offers: WS-Trust 1.3 if
/// any, else 2005; `None` when it offers neither (typical of accounts that
/// cannot use a password, such as Microsoft accounts). Errors only when the
/// document is not XML.
pub(crate) fn username_password_endpoint(document: &str) -> Result<Option<Endpoint>, roxmltree::Error> {
    let doc = parse_xml(document)?;
    let endpoints = endpoints(&doc);
    let preferred = endpoints
        .iter()
        .find(|e| e.version == WsTrustVersion::Trust13)
        .or_else(|| endpoints.iter().find(|e| e.version == WsTrustVersion::Trust2005))
        .cloned();
    Ok(preferred)
}

/// Every usernamemixed endpoint, in document order.
fn endpoints(doc: &Document<'_>) -> Vec<Endpoint> {
    let root = doc.root_element();
    let policies = username_password_policy_ids(root);
    let bindings = bindings(root);
    let mut out = Vec::new();
    for service in children(root, NS_WSDL, "service") {
        for port in children(service, NS_WSDL, "port") {
            // `binding` is a QName (`tns:Name`); bindings are keyed by local name.
            let Some(binding_name) = port.attribute("binding").and_then(|b| b.rsplit(':').next()) else {
                continue;
            };
            let Some((policy, version)) = bindings.get(binding_name) else {
                continue;
            };
            if !policies.contains(policy.as_str()) {
                continue;
            }
            let address = children(port, NS_WSA, "EndpointReference")
                .flat_map(|reference| children(reference, NS_WSA, "Address"))
                .find_map(|address| address.text());
            // The password goes there: https only.
            let Some(address) = address.and_then(|a| Url::parse(a.trim()).ok()) else {
                continue;
            };
            if address.scheme() == "https" && address.host_str().is_some() {
                out.push(Endpoint {
                    address,
                    version: *version,
                });
            }
        }
    }
    out
}

/// `#Id` of every top-level policy that asks for a username token over TLS.
fn username_password_policy_ids(root: Node<'_, '_>) -> HashSet<String> {
    let path_13: [(&str, &str); 7] = [
        (NS_WSP, "ExactlyOne"),
        (NS_WSP, "All"),
        (NS_SP, "SignedEncryptedSupportingTokens"),
        (NS_WSP, "Policy"),
        (NS_SP, "UsernameToken"),
        (NS_WSP, "Policy"),
        (NS_SP, "WssUsernameToken10"),
    ];
    let path_2005: [(&str, &str); 7] = [
        (NS_WSP, "ExactlyOne"),
        (NS_WSP, "All"),
        (NS_SP2005, "SignedSupportingTokens"),
        (NS_WSP, "Policy"),
        (NS_SP2005, "UsernameToken"),
        (NS_WSP, "Policy"),
        (NS_SP2005, "WssUsernameToken10"),
    ];
    children(root, NS_WSP, "Policy")
        .filter(|policy| {
            (has_path(*policy, &path_13) && has_descendant(*policy, NS_SP, "TransportBinding"))
                || (has_path(*policy, &path_2005) && has_descendant(*policy, NS_SP2005, "TransportBinding"))
        })
        .filter_map(|policy| policy.attribute((NS_WSU, "Id")))
        .map(|id| format!("#{id}"))
        .collect()
}

/// Bindings over SOAP/HTTP with a WS-Trust issue action: name → (policy
/// URI, version). A binding with several policy references counts under the
/// last, as MSAL Python keeps it.
fn bindings(root: Node<'_, '_>) -> HashMap<String, (String, WsTrustVersion)> {
    let mut out = HashMap::new();
    for binding in children(root, NS_WSDL, "binding") {
        let over_http = children(binding, NS_WSDL_SOAP12, "binding")
            .next()
            .and_then(|b| b.attribute("transport"))
            .is_some_and(|t| t.trim() == SOAP_HTTP_TRANSPORT);
        if !over_http {
            continue;
        }
        let action = children(binding, NS_WSDL, "operation")
            .flat_map(|operation| children(operation, NS_WSDL_SOAP12, "operation"))
            .find_map(|operation| operation.attribute("soapAction"));
        let (Some(name), Some(version)) = (
            binding.attribute("name"),
            action.and_then(WsTrustVersion::from_action),
        ) else {
            continue;
        };
        for reference in children(binding, NS_WSP, "PolicyReference") {
            if let Some(uri) = reference.attribute("URI") {
                out.insert(name.to_owned(), (uri.to_owned(), version));
            }
        }
    }
    out
}

/// Child elements with this namespace and local name.
fn children<'a, 'input: 'a>(
    node: Node<'a, 'input>,
    namespace: &'static str,
    name: &'static str,
) -> impl Iterator<Item = Node<'a, 'input>> + 'a {
    node.children()
        .filter(move |child| child.is_element() && child.has_tag_name((namespace, name)))
}

/// Whether some chain of child elements from `node` follows `path`.
fn has_path(node: Node<'_, '_>, path: &[(&'static str, &'static str)]) -> bool {
    match path.split_first() {
        None => true,
        Some((&(namespace, name), rest)) => {
            children(node, namespace, name).any(|child| has_path(child, rest))
        }
    }
}

fn has_descendant(node: Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.descendants()
        .any(|d| d.is_element() && d.has_tag_name((namespace, name)))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A MEX document shaped like AD FS's: a Kerberos (windowstransport)
    /// policy, username policies for 1.3 and 2005, bindings for each, and
    /// ports in the order AD FS lists them (2005 first), plus an http port
    /// and a port whose binding is not over SOAP/HTTP, both to be ignored.
    pub(crate) fn adfs_mex(host: &str, with_13: bool, with_2005: bool) -> String {
        let policy_13 = r#"
  <wsp:Policy wsu:Id="UserNameWSTrustBinding_IWSTrust13Async_policy">
    <wsp:ExactlyOne><wsp:All>
      <sp:TransportBinding xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702">
        <wsp:Policy><sp:TransportToken><wsp:Policy><sp:HttpsToken/></wsp:Policy></sp:TransportToken></wsp:Policy>
      </sp:TransportBinding>
      <sp:SignedEncryptedSupportingTokens xmlns:sp="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702">
        <wsp:Policy>
          <sp:UsernameToken sp:IncludeToken="http://docs.oasis-open.org/ws-sx/ws-securitypolicy/200702/IncludeToken/AlwaysToRecipient">
            <wsp:Policy><sp:WssUsernameToken10/></wsp:Policy>
          </sp:UsernameToken>
        </wsp:Policy>
      </sp:SignedEncryptedSupportingTokens>
    </wsp:All></wsp:ExactlyOne>
  </wsp:Policy>"#;
        let policy_2005 = r#"
  <wsp:Policy wsu:Id="UserNameWSTrustBinding_IWSTrustFeb2005Async_policy">
    <wsp:ExactlyOne><wsp:All>
      <sp:TransportBinding xmlns:sp="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy">
        <wsp:Policy><sp:TransportToken><wsp:Policy><sp:HttpsToken RequireClientCertificate="false"/></wsp:Policy></sp:TransportToken></wsp:Policy>
      </sp:TransportBinding>
      <sp:SignedSupportingTokens xmlns:sp="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy">
        <wsp:Policy>
          <sp:UsernameToken sp:IncludeToken="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy/IncludeToken/AlwaysToRecipient">
            <wsp:Policy><sp:WssUsernameToken10/></wsp:Policy>
          </sp:UsernameToken>
        </wsp:Policy>
      </sp:SignedSupportingTokens>
    </wsp:All></wsp:ExactlyOne>
  </wsp:Policy>"#;
        let policy_kerberos = r#"
  <wsp:Policy wsu:Id="CertificateWSTrustBinding_IWSTrustFeb2005Async_policy">
    <wsp:ExactlyOne><wsp:All>
      <http:NegotiateAuthentication xmlns:http="http://schemas.microsoft.com/ws/06/2004/policy/http"/>
      <sp:TransportBinding xmlns:sp="http://schemas.xmlsoap.org/ws/2005/07/securitypolicy"/>
    </wsp:All></wsp:ExactlyOne>
  </wsp:Policy>"#;
        let binding = |name: &str, policy: &str, action: &str, transport: &str| {
            format!(
                r##"
  <wsdl:binding name="{name}" type="tns:IWSTrust">
    <wsp:PolicyReference URI="#{policy}"/>
    <soap12:binding transport="{transport}"/>
    <wsdl:operation name="Trust13IssueAsync">
      <soap12:operation soapAction="{action}" style="document"/>
      <wsdl:input><soap12:body use="literal"/></wsdl:input>
    </wsdl:operation>
  </wsdl:binding>"##
            )
        };
        let port = |name: &str, binding: &str, address: &str| {
            format!(
                r#"
    <wsdl:port name="{name}" binding="tns:{binding}">
      <soap12:address location="{address}"/>
      <wsa10:EndpointReference><wsa10:Address>{address}</wsa10:Address></wsa10:EndpointReference>
    </wsdl:port>"#
            )
        };
        let http = "http://schemas.xmlsoap.org/soap/http";
        let a13 = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue";
        let a2005 = "http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue";
        let mut policies = String::from(policy_kerberos);
        let mut bindings = binding(
            "CertificateWSTrustBinding_IWSTrustFeb2005Async",
            "CertificateWSTrustBinding_IWSTrustFeb2005Async_policy",
            a2005,
            http,
        );
        let mut ports = port(
            "CertificateWSTrustBinding_IWSTrustFeb2005Async",
            "CertificateWSTrustBinding_IWSTrustFeb2005Async",
            &format!("https://{host}/adfs/services/trust/2005/windowstransport"),
        );
        if with_2005 {
            policies.push_str(policy_2005);
            bindings.push_str(&binding(
                "UserNameWSTrustBinding_IWSTrustFeb2005Async",
                "UserNameWSTrustBinding_IWSTrustFeb2005Async_policy",
                a2005,
                http,
            ));
            // A plain-http port of the same binding: never used for a password.
            ports.push_str(&port(
                "UserNameWSTrustBinding_IWSTrustFeb2005Async_http",
                "UserNameWSTrustBinding_IWSTrustFeb2005Async",
                &format!("http://{host}/adfs/services/trust/2005/usernamemixed"),
            ));
            ports.push_str(&port(
                "UserNameWSTrustBinding_IWSTrustFeb2005Async",
                "UserNameWSTrustBinding_IWSTrustFeb2005Async",
                &format!("https://{host}/adfs/services/trust/2005/usernamemixed"),
            ));
        }
        if with_13 {
            policies.push_str(policy_13);
            // Same policy, another transport: not a usable binding.
            bindings.push_str(&binding(
                "UserNameWSTrustBinding_IWSTrust13Async_tcp",
                "UserNameWSTrustBinding_IWSTrust13Async_policy",
                a13,
                "http://schemas.microsoft.com/soap/tcp",
            ));
            bindings.push_str(&binding(
                "UserNameWSTrustBinding_IWSTrust13Async",
                "UserNameWSTrustBinding_IWSTrust13Async_policy",
                a13,
                http,
            ));
            ports.push_str(&port(
                "UserNameWSTrustBinding_IWSTrust13Async_tcp",
                "UserNameWSTrustBinding_IWSTrust13Async_tcp",
                &format!("https://{host}/adfs/services/trust/13/usernamemixed-tcp"),
            ));
            ports.push_str(&port(
                "UserNameWSTrustBinding_IWSTrust13Async",
                "UserNameWSTrustBinding_IWSTrust13Async",
                &format!("https://{host}/adfs/services/trust/13/usernamemixed"),
            ));
        }
        format!(
            r#"<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions name="SecurityTokenService" targetNamespace="http://tempuri.org/"
    xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
    xmlns:wsu="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
    xmlns:wsp="http://schemas.xmlsoap.org/ws/2004/09/policy"
    xmlns:wsa10="http://www.w3.org/2005/08/addressing"
    xmlns:tns="http://tempuri.org/">{policies}
  <wsdl:types/>{bindings}
  <wsdl:service name="SecurityTokenService">{ports}
  </wsdl:service>
</wsdl:definitions>"#
        )
    }

    #[test]
    fn trust_13_is_preferred_over_2005() {
        let endpoint = username_password_endpoint(&adfs_mex("fs.contoso.com", true, true))
            .unwrap()
            .unwrap();
        assert_eq!(endpoint.version, WsTrustVersion::Trust13);
        assert_eq!(
            endpoint.address.as_str(),
            "https://fs.contoso.com/adfs/services/trust/13/usernamemixed"
        );
        let all = endpoints(&parse_xml(&adfs_mex("fs.contoso.com", true, true)).unwrap());
        assert_eq!(all.len(), 2, "{all:?}");
    }

    #[test]
    fn trust_2005_is_the_fallback() {
        let endpoint = username_password_endpoint(&adfs_mex("fs.contoso.com", false, true))
            .unwrap()
            .unwrap();
        assert_eq!(endpoint.version, WsTrustVersion::Trust2005);
        assert_eq!(
            endpoint.address.as_str(),
            "https://fs.contoso.com/adfs/services/trust/2005/usernamemixed"
        );
    }

    #[test]
    fn no_usernamemixed_endpoint_is_none_and_junk_is_an_error() {
        // Only the Kerberos endpoint: nothing takes a password.
        assert_eq!(
            username_password_endpoint(&adfs_mex("fs.contoso.com", false, false)).unwrap(),
            None
        );
        assert_eq!(
            username_password_endpoint("<definitions xmlns='urn:x'/>").unwrap(),
            None
        );
        for junk in [
            "",
            "not xml",
            "<a><b></a>",
            "<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>",
            "<x:y/>",
        ] {
            assert!(username_password_endpoint(junk).is_err(), "{junk:?}");
        }
    }

    #[test]
    fn deep_or_huge_documents_do_not_panic() {
        let deep = format!("{}{}", "<a>".repeat(5000), "</a>".repeat(5000));
        let _ = username_password_endpoint(&deep);
        let wide = format!("<a>{}</a>", "<b/>".repeat(300_000));
        assert!(username_password_endpoint(&wide).is_err());
    }
}
