//! The resolver from the host a request came to (its `Host` header, or
//! HTTP/2 `:authority`; any port) to the kind of authority it addresses:
//! an Entra ID host (loopback, public, sovereign and regional clouds), a
//! CIAM tenant's `ciamlogin.com` host, a B2C tenant's `b2clogin.com` host,
//! an AD FS server, or an external identity provider's sign-in host. The
//! path is then the routes' business.
//!
//! It also owns the list of host names the emulator serves, which its TLS
//! certificate names, so a client whose resolver (or `/etc/hosts`) sends
//! those names to the emulator's address cannot tell it from the real one.

use crate::directory::{Directory, Tenant, TenantKind};

/// Hosts the emulator always serves, whatever the directory: `localhost`
/// and every cloud's hosts (`127.0.0.1` too, not a name).
pub(crate) const FIXED_HOSTS: &[&str] = &[
    "localhost",
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
    "login.partner.microsoftonline.cn",
    "login.chinacloudapi.cn",
    "login.microsoftonline.us",
    "login.usgovcloudapi.net",
    "login.sovcloud-identity.fr",
    "login.sovcloud-identity.de",
    "login.sovcloud-identity.sg",
];

/// What a request's host addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Site {
    /// Entra ID's protocol: loopback, the clouds' hosts, and any host the
    /// emulator does not know (as it always answered them).
    Entra,
    /// Entra ID's protocol for one CIAM tenant (its id).
    Ciam(String),
    /// Azure AD B2C for one tenant (its id).
    B2c(String),
    /// An AD FS server (its host).
    Adfs(String),
    /// An external identity provider's sign-in pages (its name).
    Social(String),
}

impl Site {
    /// The site `host` (lowercase, without the port) names in `directory`.
    pub(crate) fn of(directory: &Directory, host: &str) -> Site {
        if let Some(label) = host.strip_suffix(".b2clogin.com")
            && let Some(t) = directory
                .tenants
                .iter()
                .find(|t| t.kind == TenantKind::B2c && t.name.eq_ignore_ascii_case(label))
        {
            return Site::B2c(t.id.clone());
        }
        if let Some(label) = host.strip_suffix(".ciamlogin.com")
            && let Some(t) = directory.tenants.iter().find(|t| {
                t.kind == TenantKind::Ciam
                    && (t.name.eq_ignore_ascii_case(label) || t.id.eq_ignore_ascii_case(label))
            })
        {
            return Site::Ciam(t.id.clone());
        }
        if let Some(server) = directory.adfs.iter().find(|s| s.host.eq_ignore_ascii_case(host)) {
            return Site::Adfs(server.host.to_ascii_lowercase());
        }
        if let Some(idp) = directory
            .identity_providers
            .iter()
            .find(|p| p.host.eq_ignore_ascii_case(host))
        {
            return Site::Social(idp.name.clone());
        }
        Site::Entra
    }
}

/// The tenant an Entra-protocol path's tenant segment names at `site`: on a
/// CIAM host only that tenant (by name, domain or id); elsewhere any tenant
/// but B2C ones (served on their own hosts only), with `consumers` naming
/// the personal accounts' tenant.
pub(crate) fn tenant_at<'a>(directory: &'a Directory, site: &Site, segment: &str) -> Option<&'a Tenant> {
    match site {
        Site::Ciam(id) => directory.tenant(id).filter(|t| t.is_named(segment)),
        _ if segment.eq_ignore_ascii_case("consumers") => directory.consumers_tenant(),
        _ => directory.tenant(segment).filter(|t| t.kind != TenantKind::B2c),
    }
}

/// Every host name the emulator serves for `directory` (lowercase): the
/// fixed ones, then each B2C and CIAM tenant's (a CIAM tenant also by its
/// id, its issuer's host), each AD FS server's and identity provider's.
/// Regional hosts (`{region}.login.microsoft.com`) are served too, under
/// wildcard names in the certificate.
pub(crate) fn served_hosts(directory: &Directory) -> Vec<String> {
    let mut hosts: Vec<String> = FIXED_HOSTS.iter().map(|h| (*h).to_owned()).collect();
    for t in &directory.tenants {
        hosts.extend(t.login_host());
        if t.kind == TenantKind::Ciam {
            hosts.push(format!("{}.ciamlogin.com", t.id.to_ascii_lowercase()));
        }
    }
    hosts.extend(directory.adfs.iter().map(|s| s.host.to_ascii_lowercase()));
    hosts.extend(
        directory
            .identity_providers
            .iter()
            .map(|p| p.host.to_ascii_lowercase()),
    );
    hosts
}

/// The host of an `authority` (`host:port` or `host`, lowercase).
pub(crate) fn host_of(authority: &str) -> &str {
    authority
        .rsplit_once(':')
        .filter(|(_, port)| !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()))
        .map_or(authority, |(host, _)| host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_hosts_are_localhost_and_every_cloud() {
        use crate::clouds;
        let clouds: Vec<&str> = clouds::hosts().collect();
        assert_eq!(&FIXED_HOSTS[1..], clouds.as_slice());
    }

    #[test]
    fn hosts_resolve_to_their_sites() {
        let dir = Directory::builtin();
        use crate::builtin::*;
        assert_eq!(Site::of(&dir, "login.microsoftonline.us"), Site::Entra);
        assert_eq!(Site::of(&dir, "127.0.0.1"), Site::Entra);
        assert_eq!(
            Site::of(&dir, "fabrikamb2c.b2clogin.com"),
            Site::B2c(B2C_TENANT_ID.into())
        );
        assert_eq!(Site::of(&dir, "nope.b2clogin.com"), Site::Entra);
        assert_eq!(
            Site::of(&dir, "contosociam.ciamlogin.com"),
            Site::Ciam(CIAM_TENANT_ID.into())
        );
        assert_eq!(
            Site::of(&dir, &format!("{CIAM_TENANT_ID}.ciamlogin.com")),
            Site::Ciam(CIAM_TENANT_ID.into())
        );
        assert_eq!(Site::of(&dir, ADFS_HOST), Site::Adfs(ADFS_HOST.into()));
        assert_eq!(Site::of(&dir, SOCIAL_HOST), Site::Social(SOCIAL_IDP_NAME.into()));
        let hosts = served_hosts(&dir);
        for host in [B2C_HOST, CIAM_HOST, ADFS_HOST, SOCIAL_HOST] {
            assert!(hosts.iter().any(|h| h == host), "{host}");
        }
        assert_eq!(host_of("a.b:443"), "a.b");
        assert_eq!(host_of("a.b"), "a.b");
    }
}
