//! Whether the `issuer` an OIDC authority's discovery document names
//! belongs to that authority: MSAL Python's (1.35+) `has_valid_issuer`, so
//! the two libraries accept and refuse the same documents. A document
//! served at one URL that names an issuer elsewhere (a mirror, a mix-up, an
//! attacker's copy) is refused before any token request is sent.

use url::Url;

use crate::authority::{Authority, KNOWN_AUTHORITY_HOSTS, SELF_DISCOVERING_HOSTS};

/// The B2C and CIAM host suffixes whose subdomains MSAL Python accepts as
/// issuers of any OIDC authority (`tenant.b2clogin.com`).
const B2C_HOSTS: &[&str] = &[
    "b2clogin.com",
    "b2clogin.cn",
    "b2clogin.us",
    "b2clogin.de",
    "ciamlogin.com",
];

/// Whether `issuer` is valid for `authority`, as MSAL Python decides: the
/// same URL (trailing slashes aside); or the same scheme, host and port
/// (the path may differ); or a Microsoft cloud host; or a one-label
/// regional prefix on a Microsoft cloud host or on the authority's own host
/// (`westus2.login.microsoft.com`, `us.idp.example` for `idp.example`); or
/// a subdomain of a B2C/CIAM host.
pub(crate) fn is_valid_issuer(authority: &Authority, issuer: &str) -> bool {
    if issuer.trim_end_matches('/') == authority.url() {
        return true;
    }
    let Ok(parsed) = Url::parse(issuer) else {
        return false;
    };
    let Some(host) = parsed.host_str().filter(|h| !h.is_empty()) else {
        return false;
    };
    // Url lowercases domain names already; this also covers IP literals.
    let host = host.to_ascii_lowercase();
    let is_known = |h: &str| {
        KNOWN_AUTHORITY_HOSTS
            .iter()
            .chain(SELF_DISCOVERING_HOSTS)
            .any(|k| k.eq_ignore_ascii_case(h))
    };
    if is_known(&host) {
        return true;
    }
    if let Some((region, base)) = host.split_once('.')
        && !region.is_empty()
        && (is_known(base) || base.eq_ignore_ascii_case(authority.host()))
    {
        return true;
    }
    if parsed.scheme() == "https" && same_origin(&parsed, authority) {
        return true;
    }
    B2C_HOSTS.iter().any(|b2c| host.ends_with(&format!(".{b2c}")))
}

/// Same host and port as the authority (whose scheme is always https).
fn same_origin(issuer: &Url, authority: &Authority) -> bool {
    let port = issuer.port().map_or_else(String::new, |p| format!(":{p}"));
    let issuer_netloc = format!("{}{port}", issuer.host_str().unwrap_or_default());
    issuer_netloc.eq_ignore_ascii_case(&authority.host_and_port())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid(authority: &str, issuer: &str) -> bool {
        is_valid_issuer(&Authority::oidc(authority).unwrap(), issuer)
    }

    #[test]
    fn accepts_what_msal_python_accepts() {
        let op = "https://127.0.0.1:9443/op";
        assert!(valid(op, "https://127.0.0.1:9443/op"));
        assert!(valid(op, "https://127.0.0.1:9443/op/"));
        assert!(valid("https://127.0.0.1:9443/op/", "https://127.0.0.1:9443/op"));
        // Same scheme, host and port: the path may differ.
        assert!(valid(op, "https://127.0.0.1:9443/other"));
        // Microsoft cloud hosts, and their regional names.
        assert!(valid(op, "https://login.microsoftonline.com/tenant/v2.0"));
        assert!(valid(op, "https://westus2.login.microsoft.com/tenant/v2.0"));
        // A regional prefix on the authority's own host.
        assert!(valid(
            "https://idp.example/tenant",
            "https://us.idp.example/tenant"
        ));
        // B2C and CIAM tenants.
        assert!(valid(
            "https://login.contoso.com/tenant",
            "https://contoso.ciamlogin.com/tenant/v2.0"
        ));
        assert!(valid(
            "https://idp.example/t",
            "https://contoso.b2clogin.com/t/v2.0"
        ));
    }

    #[test]
    fn refuses_other_issuers() {
        let op = "https://127.0.0.1:9443/op";
        assert!(!valid(op, "https://impostor.example/op"));
        // Another port is another server.
        assert!(!valid(op, "https://127.0.0.1:9444/op"));
        // http is not https.
        assert!(!valid(op, "http://127.0.0.1:9443/other"));
        // Look-alikes: no dot before the B2C suffix, two-label prefixes.
        assert!(!valid(op, "https://fakeb2clogin.com/t"));
        assert!(!valid("https://idp.example/t", "https://a.b.idp.example/t"));
        assert!(!valid(op, "not a url"));
        assert!(!valid(op, ""));
        assert!(!valid(op, "https:///op"));
    }
}
