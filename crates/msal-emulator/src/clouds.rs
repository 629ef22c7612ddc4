//! Entra's clouds: the public cloud and the national (sovereign) ones, each
//! a group of host aliases with the preferred network and cache host that
//! instance discovery reports. The emulator serves every one of these hosts
//! with Entra's protocol when a client's resolver sends them to it.

/// One cloud: the alias group instance discovery reports for it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Cloud {
    /// The host clients should send requests to.
    pub(crate) preferred_network: &'static str,
    /// The host clients should key their token caches under.
    pub(crate) preferred_cache: &'static str,
    /// Every host of the cloud; tokens from one are good for all.
    pub(crate) aliases: &'static [&'static str],
}

/// The public cloud's hosts (the order the emulator always reported).
pub(crate) const PUBLIC_HOSTS: &[&str] = &[
    "login.microsoftonline.com",
    "login.microsoft.com",
    "login.windows.net",
    "sts.windows.net",
];

/// Every cloud, the public one first, as Entra's instance discovery
/// document lists them.
pub(crate) const CLOUDS: &[Cloud] = &[
    Cloud {
        preferred_network: "login.microsoftonline.com",
        preferred_cache: "login.windows.net",
        aliases: PUBLIC_HOSTS,
    },
    Cloud {
        preferred_network: "login.partner.microsoftonline.cn",
        preferred_cache: "login.partner.microsoftonline.cn",
        aliases: &["login.partner.microsoftonline.cn", "login.chinacloudapi.cn"],
    },
    Cloud {
        preferred_network: "login.microsoftonline.us",
        preferred_cache: "login.microsoftonline.us",
        aliases: &["login.microsoftonline.us", "login.usgovcloudapi.net"],
    },
    Cloud {
        preferred_network: "login.sovcloud-identity.fr",
        preferred_cache: "login.sovcloud-identity.fr",
        aliases: &["login.sovcloud-identity.fr"],
    },
    Cloud {
        preferred_network: "login.sovcloud-identity.de",
        preferred_cache: "login.sovcloud-identity.de",
        aliases: &["login.sovcloud-identity.de"],
    },
    Cloud {
        preferred_network: "login.sovcloud-identity.sg",
        preferred_cache: "login.sovcloud-identity.sg",
        aliases: &["login.sovcloud-identity.sg"],
    },
];

/// Every cloud host (lowercase), public first.
pub(crate) fn hosts() -> impl Iterator<Item = &'static str> {
    CLOUDS.iter().flat_map(|c| c.aliases.iter().copied())
}

/// Whether `host` (lowercase, no port) is one of a cloud's hosts.
pub(crate) fn is_cloud_host(host: &str) -> bool {
    hosts().any(|h| h == host)
}

/// Instance discovery's `metadata`: every cloud's alias group.
pub(crate) fn metadata() -> serde_json::Value {
    CLOUDS
        .iter()
        .map(|c| {
            serde_json::json!({
                "preferred_network": c.preferred_network,
                "preferred_cache": c.preferred_cache,
                "aliases": c.aliases,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_cloud_names_its_preferred_hosts_among_its_aliases() {
        for cloud in CLOUDS {
            assert!(cloud.aliases.contains(&cloud.preferred_network), "{cloud:?}");
            assert!(cloud.aliases.contains(&cloud.preferred_cache), "{cloud:?}");
        }
        let all: Vec<&str> = hosts().collect();
        let unique: std::collections::HashSet<&str> = all.iter().copied().collect();
        assert_eq!(all.len(), unique.len());
        assert!(is_cloud_host("login.microsoftonline.us"));
        assert!(!is_cloud_host("login.example.com"));
    }
}
