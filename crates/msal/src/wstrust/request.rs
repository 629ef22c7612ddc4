//! The WS-Trust RequestSecurityToken (RST): a SOAP 1.2 envelope whose
//! WS-Security header carries the username token and a timestamp, and whose
//! body asks for a bearer token that applies to Entra's federation audience.
//! Built as text, with every inserted value escaped, because the password
//! must reach the server byte for byte whatever characters it holds.

use zeroize::Zeroizing;

use crate::error::{Error, Result};

use super::{Endpoint, NS_SOAP12, NS_WSA, NS_WSP, NS_WSSE, NS_WSU};

/// How long the request's timestamp says it is valid, as MSAL sends it.
const VALIDITY_SECS: u64 = 600;

/// The RST envelope. Zeroed on drop: it holds the password.
pub(crate) fn envelope(
    endpoint: &Endpoint,
    username: &str,
    password: &str,
    applies_to: &str,
    message_id: &uuid::Uuid,
    now: u64,
) -> Result<Zeroizing<String>> {
    let version = endpoint.version;
    let username = escape(username, "the username")?;
    let password = escape(password, "the password")?;
    let to = escape(endpoint.address.as_str(), "the endpoint address")?;
    let applies_to = escape(applies_to, "the cloud audience URN")?;
    let created = utc_timestamp(now);
    let expires = utc_timestamp(now.saturating_add(VALIDITY_SECS));
    let action = version.action();
    let wst = version.namespace();
    let key_type = version.key_type();
    let request_type = version.request_type();
    let mut out = Zeroizing::new(String::with_capacity(2048 + password.len()));
    // `format!` into a temporary would leave an unzeroed copy of the
    // password behind; pushing pieces into the zeroizing buffer does not.
    // The capacity covers the whole envelope, so no reallocation leaves a
    // stale copy either.
    let pieces: [&str; 29] = [
        "<s:Envelope xmlns:s=\"",
        NS_SOAP12,
        "\" xmlns:wsa=\"",
        NS_WSA,
        "\" xmlns:wsu=\"",
        NS_WSU,
        "\"><s:Header><wsa:Action s:mustUnderstand=\"1\">",
        action,
        "</wsa:Action><wsa:MessageID>urn:uuid:",
        &message_id.hyphenated().to_string(),
        "</wsa:MessageID><wsa:ReplyTo><wsa:Address>http://www.w3.org/2005/08/addressing/anonymous</wsa:Address></wsa:ReplyTo><wsa:To s:mustUnderstand=\"1\">",
        &to,
        "</wsa:To><wsse:Security s:mustUnderstand=\"1\" xmlns:wsse=\"",
        NS_WSSE,
        "\"><wsu:Timestamp wsu:Id=\"_0\"><wsu:Created>",
        &created,
        "</wsu:Created><wsu:Expires>",
        &expires,
        "</wsu:Expires></wsu:Timestamp><wsse:UsernameToken wsu:Id=\"ADALUsernameToken\"><wsse:Username>",
        &username,
        "</wsse:Username><wsse:Password>",
        &password,
        "</wsse:Password></wsse:UsernameToken></wsse:Security></s:Header><s:Body><wst:RequestSecurityToken xmlns:wst=\"",
        wst,
        &format!("\"><wsp:AppliesTo xmlns:wsp=\"{NS_WSP}\"><wsa:EndpointReference><wsa:Address>"),
        &applies_to,
        &format!(
            "</wsa:Address></wsa:EndpointReference></wsp:AppliesTo><wst:KeyType>{key_type}</wst:KeyType>"
        ),
        &format!("<wst:RequestType>{request_type}</wst:RequestType>"),
        "</wst:RequestSecurityToken></s:Body></s:Envelope>",
    ];
    for piece in pieces {
        out.push_str(piece);
    }
    Ok(out)
}

/// `value` as XML character data (also safe inside quoted attributes). A
/// character XML 1.0 cannot carry at all (most control characters) is an
/// error rather than silently changed, which would turn a right password
/// into a wrong one. The result is zeroed on drop: it may be the password.
fn escape(value: &str, what: &str) -> Result<Zeroizing<String>> {
    let mut out = Zeroizing::new(String::with_capacity(value.len() * 6));
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // A literal CR would be normalized to LF by the server's parser.
            '\r' => out.push_str("&#13;"),
            '\t' | '\n' => out.push(c),
            c if is_xml_char(c) => out.push(c),
            _ => {
                return Err(Error::InvalidArgument(format!(
                    "{what} contains a control character that XML cannot carry"
                )));
            }
        }
    }
    Ok(out)
}

/// The XML 1.0 `Char` production, less TAB, LF and CR (handled above).
fn is_xml_char(c: char) -> bool {
    matches!(c, '\u{20}'..='\u{D7FF}' | '\u{E000}'..='\u{FFFD}' | '\u{10000}'..='\u{10FFFF}')
}

/// `YYYY-MM-DDTHH:MM:SSZ`, the whole-second UTC form WS-Security timestamps
/// take (and MSAL sends).
pub(crate) fn utc_timestamp(epoch: u64) -> String {
    let days = epoch / 86_400;
    let secs = epoch % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01: count whole
/// 400-year eras (146,097 days each), then years within the era in a
/// calendar that starts on March 1st, so the leap day falls at the end.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468; // days from 0000-03-01 to 1970-01-01
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::super::{NS_WST13, NS_WST2005, WsTrustVersion, parse_xml};
    use super::*;

    fn endpoint(version: WsTrustVersion) -> Endpoint {
        let path = match version {
            WsTrustVersion::Trust13 => "13",
            WsTrustVersion::Trust2005 => "2005",
        };
        Endpoint {
            address: url::Url::parse(&format!(
                "https://fs.contoso.com/adfs/services/trust/{path}/usernamemixed?a=1&b=2"
            ))
            .unwrap(),
            version,
        }
    }

    #[test]
    fn timestamps_are_utc_whole_seconds() {
        assert_eq!(utc_timestamp(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc_timestamp(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc_timestamp(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc_timestamp(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(utc_timestamp(1_709_251_199), "2024-02-29T23:59:59Z");
    }

    #[test]
    fn envelope_has_the_ws_trust_13_shape_and_escapes_credentials() {
        let id = uuid::Uuid::new_v4();
        let username = r#"<dave>&"o'neil"@contoso.com"#;
        let password = "p<&\">'w\r\td]]>";
        let xml = envelope(
            &endpoint(WsTrustVersion::Trust13),
            username,
            password,
            "urn:federation:MicrosoftOnline",
            &id,
            1_700_000_000,
        )
        .unwrap();
        assert!(
            xml.contains(
                "<wsse:Username>&lt;dave&gt;&amp;&quot;o&apos;neil&quot;@contoso.com</wsse:Username>"
            )
        );
        assert!(!xml.contains(password));
        let doc = parse_xml(&xml).unwrap();
        let find = |ns: &str, name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name((ns, name)))
                .unwrap_or_else(|| panic!("{name} missing"))
        };
        let envelope = doc.root_element();
        assert!(envelope.has_tag_name((NS_SOAP12, "Envelope")));
        // The parser gives back exactly what went in.
        assert_eq!(find(NS_WSSE, "Username").text(), Some(username));
        assert_eq!(find(NS_WSSE, "Password").text(), Some(password));
        assert_eq!(
            find(NS_WSA, "Action").text(),
            Some("http://docs.oasis-open.org/ws-sx/ws-trust/200512/RST/Issue")
        );
        assert_eq!(
            find(NS_WSA, "To").text(),
            Some("https://fs.contoso.com/adfs/services/trust/13/usernamemixed?a=1&b=2")
        );
        assert_eq!(
            find(NS_WSA, "MessageID").text().unwrap(),
            format!("urn:uuid:{id}")
        );
        assert_eq!(find(NS_WSU, "Created").text(), Some("2023-11-14T22:13:20Z"));
        assert_eq!(find(NS_WSU, "Expires").text(), Some("2023-11-14T22:23:20Z"));
        let rst = find(NS_WST13, "RequestSecurityToken");
        assert_eq!(rst.parent_element().unwrap().tag_name().name(), "Body");
        let applies_to = find(NS_WSP, "AppliesTo");
        assert_eq!(
            applies_to
                .descendants()
                .find(|n| n.has_tag_name((NS_WSA, "Address")))
                .unwrap()
                .text(),
            Some("urn:federation:MicrosoftOnline")
        );
        assert_eq!(
            find(NS_WST13, "KeyType").text(),
            Some("http://docs.oasis-open.org/ws-sx/ws-trust/200512/Bearer")
        );
        assert_eq!(
            find(NS_WST13, "RequestType").text(),
            Some("http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue")
        );
        let security = find(NS_WSSE, "Security");
        assert_eq!(security.attribute((NS_SOAP12, "mustUnderstand")), Some("1"));
    }

    #[test]
    fn envelope_for_2005_uses_the_2005_vocabulary() {
        let xml = envelope(
            &endpoint(WsTrustVersion::Trust2005),
            "dave@woodgrove.com",
            "pw",
            "urn:federation:Custom",
            &uuid::Uuid::new_v4(),
            0,
        )
        .unwrap();
        let doc = parse_xml(&xml).unwrap();
        let text = |ns: &str, name: &str| {
            doc.descendants()
                .find(|n| n.has_tag_name((ns, name)))
                .and_then(|n| n.text())
                .map(str::to_owned)
        };
        assert!(
            doc.descendants()
                .any(|n| n.has_tag_name((NS_WST2005, "RequestSecurityToken")))
        );
        assert_eq!(
            text(NS_WSA, "Action").as_deref(),
            Some("http://schemas.xmlsoap.org/ws/2005/02/trust/RST/Issue")
        );
        assert_eq!(
            text(NS_WST2005, "KeyType").as_deref(),
            Some("http://schemas.xmlsoap.org/ws/2005/05/identity/NoProofKey")
        );
        assert_eq!(
            text(NS_WST2005, "RequestType").as_deref(),
            Some("http://schemas.xmlsoap.org/ws/2005/02/trust/Issue")
        );
        assert!(xml.contains("<wsa:Address>urn:federation:Custom</wsa:Address>"));
    }

    #[test]
    fn characters_xml_cannot_carry_are_refused_without_echoing_them() {
        let err = envelope(
            &endpoint(WsTrustVersion::Trust13),
            "u",
            "secret\u{1}value",
            "urn:x",
            &uuid::Uuid::new_v4(),
            0,
        )
        .unwrap_err();
        let message = err.to_string();
        assert!(message.contains("password"), "{message}");
        assert!(!message.contains("secret"), "{message}");
    }
}
