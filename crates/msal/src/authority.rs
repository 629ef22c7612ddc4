//! Authorities: which identity provider and tenant tokens come from, with
//! MSAL Python 1.39's rules for every kind: Entra ID (public and sovereign
//! clouds; tenants `common`, `organizations`, `consumers`, a GUID or a
//! domain), AD FS, Azure AD B2C (a user flow policy in the path), Entra
//! External ID (CIAM, `*.ciamlogin.com`), dSTS, and any OpenID Connect
//! provider.
//!
//! This module only parses and classifies; the network side (instance and
//! tenant discovery) lives in [`crate::discovery`].

use std::fmt;

use url::Url;

use crate::error::{Error, Result};

/// Hosts of the Microsoft clouds, which need no instance discovery.
pub const KNOWN_AUTHORITY_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.windows.net",
    "login.microsoft.com",
    "sts.windows.net",
    "login.chinacloudapi.cn",
    "login.partner.microsoftonline.cn",
    "login.microsoftonline.us",
    "login-us.microsoftonline.com",
    "login.usgovcloudapi.net",
    "login.microsoftonline.de",
];

/// Sovereign clouds that answer instance discovery on their own host
/// rather than through `login.microsoftonline.com`.
pub const SELF_DISCOVERING_HOSTS: &[&str] = &[
    "login.sovcloud-identity.fr",
    "login.sovcloud-identity.de",
    "login.sovcloud-identity.sg",
];

/// The tenant id of personal Microsoft accounts (the `consumers` tenant).
pub const CONSUMERS_TENANT_ID: &str = "9188040d-6c67-4c5b-b112-36a304b66dad";

/// Host suffixes of Azure AD B2C (MSAL Python's list).
const B2C_HOST_SUFFIXES: &[&str] = &[".b2clogin.com", ".b2clogin.cn", ".b2clogin.us", ".b2clogin.de"];

/// Host suffix of Entra External ID (CIAM).
const CIAM_HOST_SUFFIX: &str = ".ciamlogin.com";

/// Host names that are one cloud, as Entra's instance discovery groups them:
/// a cache written through one is valid through the others.
const KNOWN_ALIAS_GROUPS: &[&[&str]] = &[
    &[
        "login.microsoftonline.com",
        "login.windows.net",
        "login.microsoft.com",
        "sts.windows.net",
    ],
    &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    &["login.microsoftonline.de"],
    &["login.microsoftonline.us", "login.usgovcloudapi.net"],
    &["login-us.microsoftonline.com"],
];

/// The other hosts of a known Microsoft cloud (empty for other hosts).
pub(crate) fn known_aliases(host: &str) -> Vec<String> {
    KNOWN_ALIAS_GROUPS
        .iter()
        .find(|group| group.iter().any(|h| h.eq_ignore_ascii_case(host)))
        .map(|group| {
            group
                .iter()
                .filter(|h| !h.eq_ignore_ascii_case(host))
                .map(|h| (*h).to_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn ends_with_ignore_case(text: &str, suffix: &str) -> bool {
    text.len() > suffix.len()
        && text.is_char_boundary(text.len() - suffix.len())
        && text[text.len() - suffix.len()..].eq_ignore_ascii_case(suffix)
}

/// What kind of identity provider an [`Authority`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum AuthorityKind {
    /// Microsoft Entra ID (`https://host/tenant`): work and school, personal
    /// Microsoft accounts, and any host that speaks Entra's protocol.
    Aad,
    /// Active Directory Federation Services (`https://host/adfs`).
    Adfs,
    /// Azure AD B2C (`https://{name}.b2clogin.com/{tenant}/{policy}`), the
    /// user flow (policy) kept through sign-in, refresh and the cache.
    B2c,
    /// Microsoft Entra External ID for customers (`https://{name}.ciamlogin.com`).
    Ciam,
    /// Distributed STS (`https://host/dstsv2/{tenant}`), Microsoft-internal.
    Dsts,
    /// Any OpenID Connect provider, found through `{url}/.well-known/openid-configuration`.
    Oidc,
}

/// A validated authority URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Authority {
    url: Url,
    kind: AuthorityKind,
    tenant: Option<String>,
    /// B2C's user flow, as given (`B2C_1_signupsignin`).
    policy: Option<String>,
}

impl Authority {
    /// Parses a Microsoft authority URL and classifies it by MSAL Python's
    /// rules: `https://{name}.ciamlogin.com[/{tenant}]` is External ID
    /// (CIAM; without a path the tenant is `{name}.onmicrosoft.com`); a
    /// `*.b2clogin.*` host, or any host whose second path segment starts
    /// with `b2c_`, is B2C (`/{tenant}/{policy}`, an optional `tfp/` in
    /// front); a first segment `adfs` is AD FS and `dstsv2` is dSTS; anything
    /// else is Entra ID, `https://host/{tenant}` (a GUID, a domain, `common`,
    /// `organizations` or `consumers`; a trailing `/v2.0` is ignored).
    ///
    /// Refuses, before any request is sent: anything but `https`, a URL
    /// without a host or tenant, a query, fragment or credentials, empty
    /// path segments, a B2C URL without a policy, and a CIAM URL with more
    /// than a tenant in its path. For other OpenID Connect providers use
    /// [`Authority::oidc`].
    pub fn parse(authority: &str) -> Result<Self> {
        let url = parse_https(authority)?;
        let host = url.host_str().unwrap_or_default().to_owned();
        let segments = path_segments(&url, authority)?;
        let (kind, path, tenant, policy) = if ends_with_ignore_case(&host, CIAM_HOST_SUFFIX) {
            let name = &host[..host.len() - CIAM_HOST_SUFFIX.len()];
            let tenant = match segments.as_slice() {
                [] => format!("{name}.onmicrosoft.com"),
                [tenant] => (*tenant).to_owned(),
                [tenant, version] if version.eq_ignore_ascii_case("v2.0") => (*tenant).to_owned(),
                _ => {
                    return Err(invalid(
                        authority,
                        "an External ID (CIAM) authority is https://{name}.ciamlogin.com or https://{name}.ciamlogin.com/{tenant}",
                    ));
                }
            };
            (AuthorityKind::Ciam, vec![tenant.clone()], Some(tenant), None)
        } else if is_b2c(&host, &segments) {
            let rest = match segments.split_first() {
                Some((first, rest)) if first.eq_ignore_ascii_case("tfp") => rest,
                _ => segments.as_slice(),
            };
            match rest {
                [tenant, policy] | [tenant, policy, _] if !policy.eq_ignore_ascii_case("v2.0") => (
                    AuthorityKind::B2c,
                    vec![(*tenant).to_owned(), (*policy).to_owned()],
                    Some((*tenant).to_owned()),
                    Some((*policy).to_owned()),
                ),
                _ => {
                    return Err(invalid(
                        authority,
                        "a B2C authority names its tenant and user flow, as in https://{name}.b2clogin.com/{name}.onmicrosoft.com/B2C_1_signupsignin",
                    ));
                }
            }
        } else {
            match segments.as_slice() {
                [] => {
                    return Err(invalid(
                        authority,
                        "the path must name a tenant, as in https://login.microsoftonline.com/contoso",
                    ));
                }
                [first, ..] if first.eq_ignore_ascii_case("adfs") => (
                    AuthorityKind::Adfs,
                    vec![(*first).to_owned()],
                    Some((*first).to_owned()),
                    None,
                ),
                [first, tenant, ..] if first.eq_ignore_ascii_case("dstsv2") => (
                    AuthorityKind::Dsts,
                    vec![(*first).to_owned(), (*tenant).to_owned()],
                    Some((*tenant).to_owned()),
                    None,
                ),
                [first] if first.eq_ignore_ascii_case("dstsv2") => {
                    return Err(invalid(
                        authority,
                        "a dSTS authority is https://host/dstsv2/{tenant}",
                    ));
                }
                // Only the tenant matters: "https://host/tenant/v2.0" and "https://host/tenant/" mean the same.
                [tenant, ..] => (
                    AuthorityKind::Aad,
                    vec![(*tenant).to_owned()],
                    Some((*tenant).to_owned()),
                    None,
                ),
            }
        };
        let mut canonical = url;
        canonical.set_path(&format!("/{}", path.join("/")));
        Ok(Self {
            url: canonical,
            kind,
            tenant,
            policy,
        })
    }

    /// An OpenID Connect authority: the issuer URL, whose configuration is at
    /// `{url}/.well-known/openid-configuration` and whose `issuer` must be
    /// this URL.
    pub fn oidc(issuer: &str) -> Result<Self> {
        let mut url = parse_https(issuer)?;
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(Self {
            url,
            kind: AuthorityKind::Oidc,
            tenant: None,
            policy: None,
        })
    }

    /// This authority with another tenant: the per-request tenant override
    /// of Entra ID and External ID authorities. AD FS, B2C, dSTS and OIDC
    /// authorities have no tenant to swap, and `tenant` must be one path
    /// segment.
    pub fn with_tenant(&self, tenant: &str) -> Result<Self> {
        let tenant = tenant.trim();
        if tenant.is_empty()
            || tenant.contains(['/', '?', '#', '\\', '@'])
            || tenant.chars().any(char::is_whitespace)
        {
            return Err(Error::InvalidArgument(format!(
                "the tenant {tenant:?} is not a tenant name, domain or id"
            )));
        }
        if !matches!(self.kind, AuthorityKind::Aad | AuthorityKind::Ciam) {
            return Err(Error::InvalidArgument(format!(
                "a per-request tenant applies to Entra ID and External ID authorities, not to {:?} ones",
                self.kind
            )));
        }
        let mut url = self.url.clone();
        url.set_path(&format!("/{tenant}"));
        Ok(Self {
            url,
            kind: self.kind,
            tenant: Some(tenant.to_owned()),
            policy: None,
        })
    }

    /// The authority URL, without a trailing slash.
    pub fn url(&self) -> &str {
        self.url.as_str().trim_end_matches('/')
    }

    /// The kind of identity provider.
    pub fn kind(&self) -> AuthorityKind {
        self.kind
    }

    /// The tenant segment as given (all kinds but OIDC; B2C's is the
    /// directory, `{name}.onmicrosoft.com`).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
    }

    /// B2C's user flow (policy), as given.
    pub fn policy(&self) -> Option<&str> {
        self.policy.as_deref()
    }

    /// The host, without the port: MSAL's cache `environment`.
    pub fn host(&self) -> &str {
        self.url.host_str().unwrap_or_default()
    }

    /// The host with the port when one is given, as it appears in URLs.
    pub fn host_and_port(&self) -> String {
        match self.url.port() {
            Some(port) => format!("{}:{port}", self.host()),
            None => self.host().to_owned(),
        }
    }

    /// Whether the host is a Microsoft cloud host that needs no instance discovery.
    pub fn is_known_host(&self) -> bool {
        KNOWN_AUTHORITY_HOSTS
            .iter()
            .any(|known| known.eq_ignore_ascii_case(self.host()))
    }

    /// Whether the host is this machine (`localhost`, `127.0.0.0/8`, `::1`):
    /// a development identity provider, such as the msal emulator.
    pub fn is_loopback(&self) -> bool {
        match self.url.host() {
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
            None => false,
        }
    }

    /// Whether tokens from this authority need instance discovery before
    /// use: Entra ID authorities on hosts that are not known Microsoft
    /// clouds. B2C, External ID, AD FS, dSTS and OIDC authorities are the
    /// developer's own choice, as in MSAL Python.
    pub(crate) fn needs_instance_discovery(&self) -> bool {
        self.kind == AuthorityKind::Aad && !self.is_known_host()
    }

    /// The host that answers instance discovery for this authority itself,
    /// rather than the trusted endpoint: the sovereign clouds that discover
    /// on their own host, and loopback hosts (a local development identity
    /// provider that no cloud knows).
    pub(crate) fn discovers_itself(&self) -> bool {
        self.is_loopback()
            || SELF_DISCOVERING_HOSTS
                .iter()
                .any(|h| h.eq_ignore_ascii_case(self.host()))
    }

    /// Where the OpenID configuration document of this authority is.
    pub fn openid_configuration_url(&self) -> String {
        match self.kind {
            AuthorityKind::Aad | AuthorityKind::B2c | AuthorityKind::Ciam | AuthorityKind::Dsts => {
                format!("{}/v2.0/.well-known/openid-configuration", self.url())
            }
            AuthorityKind::Adfs | AuthorityKind::Oidc => {
                format!("{}/.well-known/openid-configuration", self.url())
            }
        }
    }

    /// The authorization endpoint instance discovery asks about.
    pub fn authorization_endpoint_guess(&self) -> String {
        format!("{}/oauth2/v2.0/authorize", self.url())
    }
}

/// Whether a host and path are B2C's, by MSAL Python's rule.
fn is_b2c(host: &str, segments: &[&str]) -> bool {
    B2C_HOST_SUFFIXES.iter().any(|s| ends_with_ignore_case(host, s))
        || segments
            .get(1)
            .is_some_and(|s| s.len() >= 4 && s.is_char_boundary(4) && s[..4].eq_ignore_ascii_case("b2c_"))
}

/// The path's segments; a trailing slash is ignored, an empty segment
/// elsewhere refused.
fn path_segments<'a>(url: &'a Url, authority: &str) -> Result<Vec<&'a str>> {
    let mut segments: Vec<&str> = url.path_segments().map(Iterator::collect).unwrap_or_default();
    if segments.last() == Some(&"") {
        segments.pop();
    }
    if segments.iter().any(|s| s.is_empty()) {
        return Err(invalid(authority, "the path has an empty segment"));
    }
    Ok(segments)
}

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("url", &self.url())
            .field("kind", &self.kind)
            .field("policy", &self.policy)
            .finish()
    }
}

impl fmt::Display for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.url())
    }
}

fn invalid(authority: &str, reason: &str) -> Error {
    Error::InvalidAuthority {
        authority: authority.to_owned(),
        reason: reason.to_owned(),
    }
}

fn parse_https(authority: &str) -> Result<Url> {
    let url = Url::parse(authority).map_err(|e| invalid(authority, &e.to_string()))?;
    if url.scheme() != "https" {
        return Err(invalid(authority, "only https authorities are accepted"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(invalid(authority, "the URL has no host"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(invalid(authority, "the URL must not have a query or fragment"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(invalid(authority, "the URL must not carry credentials"));
    }
    Ok(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn parsed(url: &str) -> Authority {
        Authority::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
    }

    #[test]
    fn parses_entra_authorities() {
        let a = parsed("https://login.microsoftonline.com/contoso.onmicrosoft.com/");
        assert_eq!(
            a.url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com"
        );
        assert_eq!(a.tenant(), Some("contoso.onmicrosoft.com"));
        assert_eq!(a.kind(), AuthorityKind::Aad);
        assert!(a.is_known_host() && !a.needs_instance_discovery() && !a.is_loopback());
        assert_eq!(
            a.openid_configuration_url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        );
        for tenant in ["common", "organizations", "consumers", CONSUMERS_TENANT_ID] {
            let a = parsed(&format!("https://login.microsoftonline.com/{tenant}/v2.0"));
            assert_eq!(a.tenant(), Some(tenant));
            assert_eq!(a.url(), format!("https://login.microsoftonline.com/{tenant}"));
        }
        let local = parsed("https://127.0.0.1:8443/contoso/v2.0");
        assert_eq!(local.url(), "https://127.0.0.1:8443/contoso");
        assert_eq!(local.host(), "127.0.0.1");
        assert_eq!(local.host_and_port(), "127.0.0.1:8443");
        assert!(!local.is_known_host() && local.needs_instance_discovery());
        assert!(local.is_loopback() && local.discovers_itself());
        let private = parsed("https://login.contoso-cloud.example/contoso");
        assert!(private.needs_instance_discovery() && !private.discovers_itself());
        let sovereign = parsed("https://login.microsoftonline.us/contoso");
        assert!(sovereign.is_known_host() && !sovereign.needs_instance_discovery());
        let bleu = parsed("https://login.sovcloud-identity.fr/contoso");
        assert!(bleu.needs_instance_discovery() && bleu.discovers_itself());
    }

    #[test]
    fn parses_adfs_dsts_b2c_and_ciam() {
        let adfs = parsed("https://adfs.contoso.com/adfs/");
        assert_eq!(
            (adfs.kind(), adfs.url()),
            (AuthorityKind::Adfs, "https://adfs.contoso.com/adfs")
        );
        assert_eq!(
            adfs.openid_configuration_url(),
            "https://adfs.contoso.com/adfs/.well-known/openid-configuration"
        );
        assert!(!adfs.needs_instance_discovery());

        let dsts = parsed(
            "https://co2agg04-passive-dsts.dsts.core.windows.net/dstsv2/7a433bfc-2514-4697-b467-e0933190487f",
        );
        assert_eq!(dsts.kind(), AuthorityKind::Dsts);
        assert_eq!(dsts.tenant(), Some("7a433bfc-2514-4697-b467-e0933190487f"));

        let b2c = parsed("https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signupsignin/v2.0/");
        assert_eq!(b2c.kind(), AuthorityKind::B2c);
        assert_eq!(
            b2c.url(),
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signupsignin"
        );
        assert_eq!(b2c.tenant(), Some("contoso.onmicrosoft.com"));
        assert_eq!(b2c.policy(), Some("B2C_1_signupsignin"));
        assert_eq!(
            b2c.openid_configuration_url(),
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_signupsignin/v2.0/.well-known/openid-configuration"
        );
        assert!(!b2c.needs_instance_discovery());
        // The legacy tfp/ prefix, and a custom domain recognised by its b2c_ policy.
        let tfp = parsed("https://contoso.b2clogin.com/tfp/contoso.onmicrosoft.com/B2C_1_susi");
        assert_eq!(
            tfp.url(),
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_susi"
        );
        let custom = parsed("https://login.contoso.com/contoso.onmicrosoft.com/b2c_1_susi");
        assert_eq!(
            (custom.kind(), custom.policy()),
            (AuthorityKind::B2c, Some("b2c_1_susi"))
        );
        for cn in ["b2clogin.cn", "b2clogin.us", "b2clogin.de"] {
            assert_eq!(
                parsed(&format!("https://x.{cn}/x.onmicrosoft.com/p")).kind(),
                AuthorityKind::B2c
            );
        }

        let ciam = parsed("https://contoso.ciamlogin.com");
        assert_eq!(ciam.kind(), AuthorityKind::Ciam);
        assert_eq!(
            ciam.url(),
            "https://contoso.ciamlogin.com/contoso.onmicrosoft.com"
        );
        assert_eq!(ciam.tenant(), Some("contoso.onmicrosoft.com"));
        assert_eq!(
            ciam.openid_configuration_url(),
            "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        );
        let by_id = parsed("https://contoso.ciamlogin.com/aaaabbbb-0000-cccc-1111-dddd2222eeee/");
        assert_eq!(by_id.tenant(), Some("aaaabbbb-0000-cccc-1111-dddd2222eeee"));
        assert!(!ciam.needs_instance_discovery());
    }

    #[test]
    fn refuses_bad_authorities_with_a_reason() {
        for (bad, reason) in [
            ("http://login.microsoftonline.com/common", "https"),
            ("https://login.microsoftonline.com", "tenant"),
            ("https://login.microsoftonline.com/", "tenant"),
            ("https://login.microsoftonline.com//common", "empty segment"),
            ("https://login.microsoftonline.com/common?x=1", "query"),
            ("https://login.microsoftonline.com/common#f", "fragment"),
            ("https://user:pw@login.microsoftonline.com/common", "credentials"),
            ("login.microsoftonline.com/common", ""),
            ("https://[::1/common", ""),
            ("", ""),
            (
                "https://contoso.b2clogin.com/contoso.onmicrosoft.com",
                "user flow",
            ),
            ("https://contoso.b2clogin.com/", "user flow"),
            (
                "https://contoso.b2clogin.com/contoso.onmicrosoft.com/v2.0",
                "user flow",
            ),
            (
                "https://contoso.ciamlogin.com/contoso.onmicrosoft.com/extra/path",
                "ciamlogin",
            ),
            ("https://host.example/dstsv2", "dSTS"),
        ] {
            match Authority::parse(bad) {
                Err(Error::InvalidAuthority {
                    authority,
                    reason: why,
                }) => {
                    assert_eq!(authority, bad);
                    assert!(why.contains(reason), "{bad:?}: {why}");
                }
                other => panic!("{bad:?} gave {other:?}"),
            }
        }
        assert!(matches!(
            Authority::oidc("http://op.example/"),
            Err(Error::InvalidAuthority { .. })
        ));
    }

    #[test]
    fn oidc_authority_keeps_its_path() {
        let a = Authority::oidc("https://127.0.0.1:9000/op/").unwrap();
        assert_eq!(a.url(), "https://127.0.0.1:9000/op");
        assert_eq!(a.kind(), AuthorityKind::Oidc);
        assert_eq!(
            a.openid_configuration_url(),
            "https://127.0.0.1:9000/op/.well-known/openid-configuration"
        );
        assert!(!a.needs_instance_discovery());
    }

    #[test]
    fn a_per_request_tenant_swaps_the_tenant_of_entra_and_ciam_only() {
        let common = parsed("https://login.microsoftonline.com/common");
        let fabrikam = common.with_tenant("fabrikam.onmicrosoft.com").unwrap();
        assert_eq!(
            fabrikam.url(),
            "https://login.microsoftonline.com/fabrikam.onmicrosoft.com"
        );
        assert_eq!(fabrikam.tenant(), Some("fabrikam.onmicrosoft.com"));
        let ciam = parsed("https://contoso.ciamlogin.com")
            .with_tenant("other.onmicrosoft.com")
            .unwrap();
        assert_eq!(ciam.url(), "https://contoso.ciamlogin.com/other.onmicrosoft.com");
        for bad in ["", " ", "a/b", "a?b", "a#b", "a b"] {
            assert!(
                matches!(common.with_tenant(bad), Err(Error::InvalidArgument(_))),
                "{bad:?}"
            );
        }
        for other in [
            "https://adfs.contoso.com/adfs",
            "https://contoso.b2clogin.com/contoso.onmicrosoft.com/B2C_1_susi",
        ] {
            assert!(matches!(
                parsed(other).with_tenant("x"),
                Err(Error::InvalidArgument(_))
            ));
        }
        assert!(
            Authority::oidc("https://op.example")
                .unwrap()
                .with_tenant("x")
                .is_err()
        );
    }

    /// Text that looks like authorities: schemes, hosts of every kind,
    /// paths with policies, GUIDs, odd characters and empty segments.
    fn authority_like() -> impl Strategy<Value = String> {
        let pieces = prop::sample::select(vec![
            "https://",
            "http://",
            "https:",
            "//",
            "/",
            "login.microsoftonline.com",
            "contoso.b2clogin.com",
            "x.b2clogin.cn",
            "contoso.ciamlogin.com",
            ".ciamlogin.com",
            "adfs",
            "dstsv2",
            "tfp",
            "B2C_1_susi",
            "b2c_",
            "v2.0",
            "common",
            "consumers",
            "contoso.onmicrosoft.com",
            "127.0.0.1:8443",
            "[::1]",
            ":",
            "?",
            "#",
            "@",
            "%",
            "%2F",
            " ",
            "é",
            "\u{0}",
            "..",
            "x",
        ]);
        prop::collection::vec(pieces, 0..12).prop_map(|p| p.concat())
    }

    proptest! {
        #[test]
        fn parsing_never_panics_and_what_it_accepts_is_canonical(text in authority_like()) {
            if let Ok(a) = Authority::parse(&text) {
                prop_assert!(a.url().starts_with("https://"));
                prop_assert!(!a.url().ends_with('/'));
                // Canonical: parsing the canonical URL gives the same authority.
                let again = Authority::parse(a.url());
                prop_assert_eq!(again.as_ref().ok(), Some(&a));
                match a.kind() {
                    AuthorityKind::B2c => prop_assert!(a.policy().is_some() && a.tenant().is_some()),
                    AuthorityKind::Oidc => prop_assert!(false, "parse never gives an OIDC authority"),
                    _ => prop_assert!(a.tenant().is_some_and(|t| !t.is_empty()) && a.policy().is_none()),
                }
            }
            if let Ok(a) = Authority::oidc(&text) {
                prop_assert!(a.url().starts_with("https://"));
            }
        }

        #[test]
        fn arbitrary_text_never_panics(text in ".{0,64}") {
            let _ = Authority::parse(&text);
            let _ = Authority::oidc(&text);
        }
    }
}
