//! SAML assertions: issuing them signed (enveloped XML-DSig, RSA-SHA256,
//! exc-c14n) for a federated user, and verifying the ones clients bring
//! back to the token endpoint.
//!
//! An assertion is written in canonical form, so its digest is computed
//! over the exact bytes written (minus the signature, which the
//! enveloped-signature transform removes). Verification does not rely on
//! that: it canonicalizes what it parsed, so reformatted input still checks.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use roxmltree::Node;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::key::FederationKey;
use super::xml::{self, XmlWriter};

/// SAML 1.1 assertion namespace (also its WS-Trust token type).
pub(crate) const SAML1_NS: &str = "urn:oasis:names:tc:SAML:1.0:assertion";
/// SAML 2.0 assertion namespace.
pub(crate) const SAML2_NS: &str = "urn:oasis:names:tc:SAML:2.0:assertion";
/// The audience Entra expects in assertions from a federation server.
pub(crate) const MICROSOFT_ONLINE: &str = "urn:federation:MicrosoftOnline";

const DSIG_NS: &str = "http://www.w3.org/2000/09/xmldsig#";
const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
/// AD FS's claim namespace for the UPN claim (SAML 1.1 `AttributeNamespace`).
const CLAIMS_NS: &str = "http://schemas.xmlsoap.org/claims";
/// The namespace of the ImmutableID claim Entra matches federated users with.
const LIVE_ID_NS: &str = "http://schemas.microsoft.com/LiveID/Federation/2008/05";
const UNSPECIFIED_NAME_ID: &str = "urn:oasis:names:tc:SAML:1.1:nameid-format:unspecified";

/// How long an assertion is valid (AD FS's default token lifetime: 1 hour).
pub(crate) const ASSERTION_LIFETIME_SECS: u64 = 3_600;
/// Clock skew tolerated on `NotBefore`.
const CLOCK_SKEW_SECS: u64 = 300;

/// Which SAML an assertion is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SamlVersion {
    /// SAML 1.1: what WS-Trust 2005 answers with.
    V1_1,
    /// SAML 2.0: what WS-Trust 1.3 answers with.
    V2_0,
}

impl SamlVersion {
    fn namespace(self) -> &'static str {
        match self {
            SamlVersion::V1_1 => SAML1_NS,
            SamlVersion::V2_0 => SAML2_NS,
        }
    }

    fn id_attribute(self) -> &'static str {
        match self {
            SamlVersion::V1_1 => "AssertionID",
            SamlVersion::V2_0 => "ID",
        }
    }
}

/// What an assertion says about whom.
pub(crate) struct Subject<'a> {
    /// The federation server's issuer URI.
    pub(crate) issuer: &'a str,
    pub(crate) upn: &'a str,
    /// Entra's anchor for a federated user (base64 of the object id bytes).
    pub(crate) immutable_id: &'a str,
    /// "Now", Unix seconds (the emulator's clock).
    pub(crate) now: u64,
}

/// The ImmutableID of a user: base64 of their object id's bytes, the way
/// AD FS sends base64 of the on-premises objectGUID.
pub(crate) fn immutable_id(object_id: &str) -> String {
    let bytes =
        Uuid::try_parse(object_id).map_or_else(|_| object_id.as_bytes().to_vec(), |u| u.as_bytes().to_vec());
    STANDARD.encode(bytes)
}

/// A signed assertion, in canonical form.
pub(crate) fn issue(key: &FederationKey, version: SamlVersion, s: &Subject<'_>) -> Result<String, String> {
    let id = format!("_{}", Uuid::new_v4());
    let instant = xml::date_time(s.now);
    let expires = xml::date_time(s.now.saturating_add(ASSERTION_LIFETIME_SECS));
    let ns = version.namespace();
    // The signature goes where each schema puts it: after `Issuer` in SAML
    // 2.0, last in SAML 1.1. `before` + `after` is the signed content.
    let (before, after) = match version {
        SamlVersion::V1_1 => {
            let mut w = XmlWriter::new();
            w.open(
                "saml:Assertion",
                &[
                    ("xmlns:saml", ns),
                    ("AssertionID", &id),
                    ("IssueInstant", &instant),
                    ("Issuer", s.issuer),
                    ("MajorVersion", "1"),
                    ("MinorVersion", "1"),
                ],
            );
            w.open(
                "saml:Conditions",
                &[("NotBefore", &instant), ("NotOnOrAfter", &expires)],
            )
            .open("saml:AudienceRestrictionCondition", &[])
            .leaf("saml:Audience", &[], MICROSOFT_ONLINE)
            .close("saml:AudienceRestrictionCondition")
            .close("saml:Conditions");
            w.open("saml:AttributeStatement", &[]);
            subject_v1(&mut w, s.immutable_id);
            for (name, namespace, value) in [
                ("UPN", CLAIMS_NS, s.upn),
                ("ImmutableID", LIVE_ID_NS, s.immutable_id),
            ] {
                w.open(
                    "saml:Attribute",
                    &[("AttributeName", name), ("AttributeNamespace", namespace)],
                )
                .leaf("saml:AttributeValue", &[], value)
                .close("saml:Attribute");
            }
            w.close("saml:AttributeStatement");
            w.open(
                "saml:AuthenticationStatement",
                &[
                    ("AuthenticationInstant", &instant),
                    ("AuthenticationMethod", "urn:oasis:names:tc:SAML:1.0:am:password"),
                ],
            );
            subject_v1(&mut w, s.immutable_id);
            w.close("saml:AuthenticationStatement");
            (w.finish(), "</saml:Assertion>".to_owned())
        }
        SamlVersion::V2_0 => {
            let mut w = XmlWriter::new();
            w.open(
                "saml:Assertion",
                &[
                    ("xmlns:saml", ns),
                    ("ID", &id),
                    ("IssueInstant", &instant),
                    ("Version", "2.0"),
                ],
            )
            .leaf("saml:Issuer", &[], s.issuer);
            let before = w.finish();
            let mut w = XmlWriter::new();
            w.open("saml:Subject", &[])
                .leaf("saml:NameID", &[("Format", UNSPECIFIED_NAME_ID)], s.immutable_id)
                .open(
                    "saml:SubjectConfirmation",
                    &[("Method", "urn:oasis:names:tc:SAML:2.0:cm:bearer")],
                )
                .open("saml:SubjectConfirmationData", &[("NotOnOrAfter", &expires)])
                .close("saml:SubjectConfirmationData")
                .close("saml:SubjectConfirmation")
                .close("saml:Subject");
            w.open(
                "saml:Conditions",
                &[("NotBefore", &instant), ("NotOnOrAfter", &expires)],
            )
            .open("saml:AudienceRestriction", &[])
            .leaf("saml:Audience", &[], MICROSOFT_ONLINE)
            .close("saml:AudienceRestriction")
            .close("saml:Conditions");
            w.open("saml:AttributeStatement", &[]);
            for (name, value) in [
                (format!("{CLAIMS_NS}/UPN"), s.upn),
                (format!("{LIVE_ID_NS}/ImmutableID"), s.immutable_id),
            ] {
                w.open("saml:Attribute", &[("Name", &name)])
                    .leaf("saml:AttributeValue", &[], value)
                    .close("saml:Attribute");
            }
            w.close("saml:AttributeStatement");
            w.open("saml:AuthnStatement", &[("AuthnInstant", &instant)])
                .open("saml:AuthnContext", &[])
                .leaf(
                    "saml:AuthnContextClassRef",
                    &[],
                    "urn:oasis:names:tc:SAML:2.0:ac:classes:PasswordProtectedTransport",
                )
                .close("saml:AuthnContext")
                .close("saml:AuthnStatement")
                .raw("</saml:Assertion>");
            (before, w.finish())
        }
    };

    let digest = STANDARD.encode(
        Sha256::new()
            .chain_update(&before)
            .chain_update(&after)
            .finalize(),
    );
    // exc-c14n of SignedInfo on its own declares `ds`, which it inherits
    // from `ds:Signature` inside the assertion; that form is what is signed.
    let to_sign = signed_info(&id, &digest, true);
    let signature = STANDARD.encode(key.sign(to_sign.as_bytes())?);
    let mut w = XmlWriter::new();
    w.open("ds:Signature", &[("xmlns:ds", DSIG_NS)])
        .raw(&signed_info(&id, &digest, false))
        .leaf("ds:SignatureValue", &[], &signature)
        .open("ds:KeyInfo", &[])
        .open("ds:X509Data", &[])
        .leaf("ds:X509Certificate", &[], key.cert_base64())
        .close("ds:X509Data")
        .close("ds:KeyInfo")
        .close("ds:Signature");
    Ok(format!("{before}{}{after}", w.finish()))
}

/// The SAML 1.1 `Subject` of a bearer assertion.
fn subject_v1(w: &mut XmlWriter, name_id: &str) {
    w.open("saml:Subject", &[])
        .leaf("saml:NameIdentifier", &[("Format", UNSPECIFIED_NAME_ID)], name_id)
        .open("saml:SubjectConfirmation", &[])
        .leaf(
            "saml:ConfirmationMethod",
            &[],
            "urn:oasis:names:tc:SAML:1.0:cm:bearer",
        )
        .close("saml:SubjectConfirmation")
        .close("saml:Subject");
}

/// `ds:SignedInfo` for one enveloped reference to `#id`.
fn signed_info(id: &str, digest: &str, declare_ds: bool) -> String {
    let reference = format!("#{id}");
    let mut w = XmlWriter::new();
    if declare_ds {
        w.open("ds:SignedInfo", &[("xmlns:ds", DSIG_NS)]);
    } else {
        w.open("ds:SignedInfo", &[]);
    }
    w.open("ds:CanonicalizationMethod", &[("Algorithm", EXC_C14N)])
        .close("ds:CanonicalizationMethod")
        .open("ds:SignatureMethod", &[("Algorithm", RSA_SHA256)])
        .close("ds:SignatureMethod")
        .open("ds:Reference", &[("URI", &reference)])
        .open("ds:Transforms", &[])
        .open("ds:Transform", &[("Algorithm", ENVELOPED)])
        .close("ds:Transform")
        .open("ds:Transform", &[("Algorithm", EXC_C14N)])
        .close("ds:Transform")
        .close("ds:Transforms")
        .open("ds:DigestMethod", &[("Algorithm", SHA256)])
        .close("ds:DigestMethod")
        .leaf("ds:DigestValue", &[], digest)
        .close("ds:Reference")
        .close("ds:SignedInfo");
    w.finish()
}

/// Why an assertion was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum SamlError {
    /// Not a well-formed assertion of the expected kind.
    #[error("{0}")]
    Malformed(String),
    /// The digest or the signature does not match: altered, or not ours.
    #[error("the assertion's signature is not valid")]
    Signature,
    /// Outside `NotBefore`..`NotOnOrAfter`.
    #[error("the assertion is not within its valid time range")]
    Expired,
    /// Issued for another audience or by another issuer.
    #[error("{0}")]
    NotForUs(String),
}

fn malformed(detail: impl Into<String>) -> SamlError {
    SamlError::Malformed(detail.into())
}

/// What a verified assertion says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Verified {
    /// The UPN claim.
    pub(crate) upn: String,
    /// When the user authenticated, if stated.
    pub(crate) auth_instant: Option<u64>,
}

fn is(node: &Node<'_, '_>, ns: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(ns) && node.tag_name().name() == name
}

/// The only child element of `node` named `ns:name`.
fn only_child<'a, 'i>(node: Node<'a, 'i>, ns: &str, name: &str) -> Result<Node<'a, 'i>, SamlError> {
    let mut found = node.children().filter(|c| is(c, ns, name));
    match (found.next(), found.next()) {
        (Some(n), None) => Ok(n),
        (None, _) => Err(malformed(format!("{name} is missing."))),
        (Some(_), Some(_)) => Err(malformed(format!("{name} appears more than once."))),
    }
}

fn algorithm<'a>(node: Node<'a, '_>) -> &'a str {
    node.attribute("Algorithm").unwrap_or("")
}

/// Base64 that may be wrapped over lines.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

/// Checks that `assertion` (XML) is a `version` assertion signed with
/// `key`, issued by `issuer` for Entra, and valid at `now`.
pub(crate) fn verify(
    assertion: &str,
    version: SamlVersion,
    key: &FederationKey,
    issuer: &str,
    now: u64,
) -> Result<Verified, SamlError> {
    let doc = xml::parse(assertion).map_err(|e| malformed(e.to_string()))?;
    let root = doc.root_element();
    let ns = version.namespace();
    if !is(&root, ns, "Assertion") {
        return Err(malformed(format!(
            "The token is not a SAML {} assertion.",
            match version {
                SamlVersion::V1_1 => "1.1",
                SamlVersion::V2_0 => "2.0",
            }
        )));
    }
    let id = root
        .attribute(version.id_attribute())
        .filter(|id| !id.is_empty())
        .ok_or_else(|| malformed("The assertion has no identifier."))?;

    // Exactly one signature, a child of the assertion, covering the whole
    // assertion: then everything read below is what was signed.
    let signature = only_child(root, DSIG_NS, "Signature")?;
    if root.descendants().filter(|n| is(n, DSIG_NS, "Signature")).count() != 1 {
        return Err(malformed("The assertion has more than one signature."));
    }
    let signed_info = only_child(signature, DSIG_NS, "SignedInfo")?;
    if algorithm(only_child(signed_info, DSIG_NS, "CanonicalizationMethod")?) != EXC_C14N
        || algorithm(only_child(signed_info, DSIG_NS, "SignatureMethod")?) != RSA_SHA256
    {
        return Err(malformed("The signature must use exc-c14n and RSA-SHA256."));
    }
    let reference = only_child(signed_info, DSIG_NS, "Reference")?;
    if reference.attribute("URI") != Some(&format!("#{id}")) {
        return Err(malformed("The signature does not reference the assertion."));
    }
    let transforms: Vec<Node<'_, '_>> = only_child(reference, DSIG_NS, "Transforms")?
        .children()
        .filter(Node::is_element)
        .collect();
    let transforms_ok = transforms.len() == 2
        && transforms
            .iter()
            .all(|t| is(t, DSIG_NS, "Transform") && !t.has_children())
        && algorithm(transforms[0]) == ENVELOPED
        && algorithm(transforms[1]) == EXC_C14N;
    if !transforms_ok || algorithm(only_child(reference, DSIG_NS, "DigestMethod")?) != SHA256 {
        return Err(malformed(
            "The reference must use the enveloped-signature and exc-c14n transforms and SHA-256.",
        ));
    }
    let digest = decode_base64(
        only_child(reference, DSIG_NS, "DigestValue")?
            .text()
            .unwrap_or(""),
    )
    .ok_or_else(|| malformed("The digest is not base64."))?;
    let signature_value = decode_base64(
        only_child(signature, DSIG_NS, "SignatureValue")?
            .text()
            .unwrap_or(""),
    )
    .ok_or_else(|| malformed("The signature value is not base64."))?;

    let content = xml::canonicalize(root, Some(signature.id())).map_err(|e| malformed(e.to_string()))?;
    if Sha256::digest(content.as_bytes()).as_slice() != digest.as_slice() {
        return Err(SamlError::Signature);
    }
    let signed = xml::canonicalize(signed_info, None).map_err(|e| malformed(e.to_string()))?;
    if !key.verify(signed.as_bytes(), &signature_value) {
        return Err(SamlError::Signature);
    }

    let stated_issuer = match version {
        SamlVersion::V1_1 => root.attribute("Issuer").unwrap_or(""),
        SamlVersion::V2_0 => only_child(root, ns, "Issuer")?.text().unwrap_or("").trim(),
    };
    if stated_issuer != issuer {
        return Err(SamlError::NotForUs(format!(
            "The assertion was issued by '{stated_issuer}', not by this emulator's federation server."
        )));
    }
    let conditions = only_child(root, ns, "Conditions")?;
    let not_on_or_after = conditions
        .attribute("NotOnOrAfter")
        .and_then(xml::parse_date_time)
        .ok_or_else(|| malformed("The assertion has no valid NotOnOrAfter."))?;
    let not_before = match conditions.attribute("NotBefore") {
        Some(t) => Some(xml::parse_date_time(t).ok_or_else(|| malformed("NotBefore is not a date."))?),
        None => None,
    };
    if now >= not_on_or_after || not_before.is_some_and(|nb| now.saturating_add(CLOCK_SKEW_SECS) < nb) {
        return Err(SamlError::Expired);
    }
    let restriction = match version {
        SamlVersion::V1_1 => "AudienceRestrictionCondition",
        SamlVersion::V2_0 => "AudienceRestriction",
    };
    let for_entra = conditions
        .children()
        .filter(|c| is(c, ns, restriction))
        .flat_map(|r| r.children().filter(|c| is(c, ns, "Audience")))
        .any(|a| a.text().map(str::trim) == Some(MICROSOFT_ONLINE));
    if !for_entra {
        return Err(SamlError::NotForUs(format!(
            "The assertion's audience is not '{MICROSOFT_ONLINE}'."
        )));
    }

    let statement = only_child(root, ns, "AttributeStatement")?;
    let upn_name = format!("{CLAIMS_NS}/UPN");
    let upn = statement
        .children()
        .filter(|c| is(c, ns, "Attribute"))
        .find(|a| match version {
            SamlVersion::V1_1 => {
                a.attribute("AttributeName") == Some("UPN")
                    && a.attribute("AttributeNamespace") == Some(CLAIMS_NS)
            }
            SamlVersion::V2_0 => a.attribute("Name") == Some(upn_name.as_str()),
        })
        .and_then(|a| a.children().find(|c| is(c, ns, "AttributeValue")))
        .and_then(|v| v.text())
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .ok_or_else(|| malformed("The assertion has no UPN claim."))?;
    let auth_instant = match version {
        SamlVersion::V1_1 => only_child(root, ns, "AuthenticationStatement")
            .ok()
            .and_then(|s| s.attribute("AuthenticationInstant")),
        SamlVersion::V2_0 => only_child(root, ns, "AuthnStatement")
            .ok()
            .and_then(|s| s.attribute("AuthnInstant")),
    }
    .and_then(xml::parse_date_time);
    Ok(Verified {
        upn: upn.to_owned(),
        auth_instant,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUER: &str = "https://127.0.0.1:1/adfs/services/trust";
    const NOW: u64 = 1_700_000_000;

    fn subject() -> Subject<'static> {
        Subject {
            issuer: ISSUER,
            upn: "dave@woodgrove.com",
            immutable_id: "AAAA+/==",
            now: NOW,
        }
    }

    #[test]
    fn issued_assertions_are_canonical_and_verify() {
        let key = FederationKey::generate().unwrap();
        for version in [SamlVersion::V1_1, SamlVersion::V2_0] {
            let a = issue(&key, version, &subject()).unwrap();
            // Canonical as written: re-canonicalizing changes nothing.
            let doc = xml::parse(&a).unwrap();
            assert_eq!(xml::canonicalize(doc.root_element(), None).unwrap(), a);
            let v = verify(&a, version, &key, ISSUER, NOW + 10).unwrap();
            assert_eq!(v.upn, "dave@woodgrove.com");
            assert_eq!(v.auth_instant, Some(NOW));

            // Reformatting (line breaks in tags, empty-element tags) still verifies.
            let reformatted = format!(
                "<?xml version='1.0'?>\n{}",
                a.replacen("<saml:Assertion ", "<saml:Assertion\n  ", 1)
                    .replace("></ds:Transform>", " />")
            );
            assert_ne!(reformatted, a);
            assert!(verify(&reformatted, version, &key, ISSUER, NOW).is_ok());

            let tampered = a.replacen("dave@", "dbve@", 1);
            assert_eq!(
                verify(&tampered, version, &key, ISSUER, NOW),
                Err(SamlError::Signature)
            );
            assert_eq!(
                verify(&a, version, &key, ISSUER, NOW + ASSERTION_LIFETIME_SECS),
                Err(SamlError::Expired)
            );
            assert!(matches!(
                verify(&a, version, &key, "https://other", NOW),
                Err(SamlError::NotForUs(_))
            ));
            let other = FederationKey::generate().unwrap();
            assert_eq!(
                verify(&a, version, &other, ISSUER, NOW),
                Err(SamlError::Signature)
            );
        }
        let v1 = issue(&key, SamlVersion::V1_1, &subject()).unwrap();
        assert!(matches!(
            verify(&v1, SamlVersion::V2_0, &key, ISSUER, NOW),
            Err(SamlError::Malformed(_))
        ));
    }

    #[test]
    fn a_second_signature_or_garbage_is_refused() {
        let key = FederationKey::generate().unwrap();
        let a = issue(&key, SamlVersion::V1_1, &subject()).unwrap();
        let start = a.find("<ds:Signature").unwrap();
        let end = a.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
        let doubled = format!("{}{}{}", &a[..end], &a[start..end], &a[end..]);
        assert!(matches!(
            verify(&doubled, SamlVersion::V1_1, &key, ISSUER, NOW),
            Err(SamlError::Malformed(_))
        ));
        for garbage in [
            "",
            "<a/>",
            "not xml",
            "<saml:Assertion xmlns:saml='urn:oasis:names:tc:SAML:1.0:assertion'/>",
        ] {
            assert!(matches!(
                verify(garbage, SamlVersion::V1_1, &key, ISSUER, NOW),
                Err(SamlError::Malformed(_))
            ));
        }
    }
}
