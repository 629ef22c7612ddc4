//! Authorities: which identity provider and tenant tokens come from.
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

/// What kind of identity provider an [`Authority`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum AuthorityKind {
    /// Microsoft Entra ID (`https://host/tenant`): work and school, personal
    /// Microsoft accounts, and any host that speaks Entra's protocol.
    Aad,
    /// Active Directory Federation Services (`https://host/adfs`).
    Adfs,
    /// Any OpenID Connect provider, found through `{url}/.well-known/openid-configuration`.
    Oidc,
}

/// A validated authority URL.
#[derive(Clone, PartialEq, Eq)]
pub struct Authority {
    url: Url,
    kind: AuthorityKind,
    tenant: Option<String>,
}

impl Authority {
    /// Parses an Entra-style authority, `https://host/tenant` (`tenant` being a
    /// name, a domain, a GUID, `common`, `organizations`, `consumers` or `adfs`).
    ///
    /// Refuses anything but `https`, a URL without a host or tenant, and URLs
    /// with a query, fragment or credentials, before any request is sent.
    pub fn parse(authority: &str) -> Result<Self> {
        let url = parse_https(authority)?;
        let tenant = url
            .path_segments()
            .and_then(|mut segments| segments.next())
            .filter(|segment| !segment.is_empty())
            .map(str::to_owned)
            .ok_or_else(|| {
                invalid(
                    authority,
                    "the path must name a tenant, as in https://login.microsoftonline.com/contoso",
                )
            })?;
        let kind = if tenant.eq_ignore_ascii_case("adfs") {
            AuthorityKind::Adfs
        } else {
            AuthorityKind::Aad
        };
        // Keep only the tenant segment: "https://host/tenant/v2.0" and "https://host/tenant/" mean the same.
        let mut canonical = url;
        canonical.set_path(&format!("/{tenant}"));
        Ok(Self {
            url: canonical,
            kind,
            tenant: Some(tenant),
        })
    }

    /// An OpenID Connect authority: the issuer URL, whose configuration is at
    /// `{url}/.well-known/openid-configuration`.
    pub fn oidc(issuer: &str) -> Result<Self> {
        let mut url = parse_https(issuer)?;
        let trimmed = url.path().trim_end_matches('/').to_owned();
        url.set_path(&trimmed);
        Ok(Self {
            url,
            kind: AuthorityKind::Oidc,
            tenant: None,
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

    /// The tenant segment as given (Entra and ADFS authorities only).
    pub fn tenant(&self) -> Option<&str> {
        self.tenant.as_deref()
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

    /// Where the OpenID configuration document of this authority is.
    pub fn openid_configuration_url(&self) -> String {
        match self.kind {
            AuthorityKind::Aad => format!("{}/v2.0/.well-known/openid-configuration", self.url()),
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

impl fmt::Debug for Authority {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Authority")
            .field("url", &self.url())
            .field("kind", &self.kind)
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

    #[test]
    fn parses_aad_authorities() {
        let a = Authority::parse("https://login.microsoftonline.com/contoso.onmicrosoft.com/").unwrap();
        assert_eq!(
            a.url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com"
        );
        assert_eq!(a.tenant(), Some("contoso.onmicrosoft.com"));
        assert_eq!(a.kind(), AuthorityKind::Aad);
        assert!(a.is_known_host());
        assert_eq!(
            a.openid_configuration_url(),
            "https://login.microsoftonline.com/contoso.onmicrosoft.com/v2.0/.well-known/openid-configuration"
        );
        let local = Authority::parse("https://127.0.0.1:8443/contoso/v2.0").unwrap();
        assert_eq!(local.url(), "https://127.0.0.1:8443/contoso");
        assert_eq!(local.host(), "127.0.0.1");
        assert_eq!(local.host_and_port(), "127.0.0.1:8443");
        assert!(!local.is_known_host());
        assert_eq!(
            Authority::parse("https://adfs.contoso.com/adfs").unwrap().kind(),
            AuthorityKind::Adfs
        );
    }

    #[test]
    fn refuses_bad_authorities() {
        for bad in [
            "http://login.microsoftonline.com/common",
            "https://login.microsoftonline.com",
            "https://login.microsoftonline.com/",
            "https://login.microsoftonline.com/common?x=1",
            "https://user:pw@login.microsoftonline.com/common",
            "login.microsoftonline.com/common",
            "",
        ] {
            match Authority::parse(bad) {
                Err(Error::InvalidAuthority { .. }) => {}
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
        assert_eq!(
            a.openid_configuration_url(),
            "https://127.0.0.1:9000/op/.well-known/openid-configuration"
        );
    }
}
