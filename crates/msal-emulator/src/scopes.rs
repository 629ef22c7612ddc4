//! Delegated scopes: splitting a `scope` parameter into OpenID Connect
//! scopes and resource scopes, resolving resource scopes to their resource
//! (Microsoft Graph or an app's API), and the `scp` / `aud` / response
//! `scope` they lead to.
//!
//! A bare scope (`User.Read`) means Microsoft Graph, as in Entra; a prefixed
//! one (`api://…/Orders.Read`, `https://graph.microsoft.com/User.Read`,
//! `{client id}/Orders.Read`) names its resource before the last `/`.

use crate::directory::{Directory, MICROSOFT_GRAPH_APP_ID, Resource, Tenant};
use crate::error::EntraError;

/// OpenID Connect scopes; they do not name a resource.
pub(crate) const OIDC_SCOPES: [&str; 4] = ["openid", "profile", "offline_access", "email"];

/// The delegated permission a Graph `.default` stands for: the emulator does
/// not model consent, and `User.Read` is what a new registration is given.
const GRAPH_DEFAULT_SCOPE: &str = "User.Read";

/// A `scope` parameter, split.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Scopes {
    /// OpenID Connect scopes asked for, lowercased, without duplicates.
    pub(crate) oidc: Vec<String>,
    /// Resource scopes as sent, without duplicates.
    pub(crate) resource: Vec<String>,
}

impl Scopes {
    /// Splits a space-separated `scope` value.
    pub(crate) fn parse(scope: &str) -> Scopes {
        let mut scopes = Scopes::default();
        for s in scope.split_whitespace() {
            let lower = s.to_ascii_lowercase();
            if OIDC_SCOPES.contains(&lower.as_str()) {
                if !scopes.oidc.contains(&lower) {
                    scopes.oidc.push(lower);
                }
            } else if !scopes.resource.iter().any(|r| r == s) {
                scopes.resource.push(s.to_owned());
            }
        }
        scopes
    }

    /// Whether the OpenID Connect scope `name` (lowercase) was asked for.
    pub(crate) fn has(&self, name: &str) -> bool {
        self.oidc.iter().any(|o| o == name)
    }

    /// Every scope, OIDC ones first, as a list of strings.
    pub(crate) fn all(&self) -> Vec<String> {
        self.oidc.iter().chain(&self.resource).cloned().collect()
    }
}

/// What one resource scope names.
struct Parsed<'s> {
    /// What goes before the scope value in the response (`api://x/`, or empty).
    prefix: &'s str,
    /// The resource identifier as requested.
    resource_id: &'s str,
    /// The scope value (`Orders.Read`, `.default`).
    value: &'s str,
}

fn split(scope: &str) -> Result<Parsed<'_>, EntraError> {
    match scope.rsplit_once('/') {
        Some((resource_id, value)) => {
            if resource_id.is_empty() || value.is_empty() {
                return Err(EntraError::invalid_scope(scope));
            }
            Ok(Parsed {
                prefix: &scope[..=resource_id.len()],
                resource_id,
                value,
            })
        }
        None => Ok(Parsed {
            prefix: "",
            resource_id: MICROSOFT_GRAPH_APP_ID,
            value: scope,
        }),
    }
}

/// The delegated permissions a resource grants for its scopes.
#[derive(Debug, Clone)]
pub(crate) struct Grant<'a> {
    /// The resource tokens are for.
    pub(crate) resource: Resource<'a>,
    /// The `aud` claim.
    pub(crate) audience: String,
    /// The access token version the resource accepts (1 or 2).
    pub(crate) version: u8,
    /// The `scp` values.
    pub(crate) scp: Vec<String>,
    /// The resource scopes for the response's `scope`, `.default` expanded.
    pub(crate) granted: Vec<String>,
}

/// Resolves one resource scope in `tenant`.
fn resolve<'a>(
    directory: &'a Directory,
    tenant: &Tenant,
    client_id: &str,
    scope: &str,
) -> Result<Grant<'a>, EntraError> {
    let parsed = split(scope)?;
    let resource = directory
        .resource_named(parsed.resource_id)
        .filter(|r| match r {
            Resource::MicrosoftGraph => true,
            Resource::App(app) => app.usable_in(tenant),
        })
        .ok_or_else(|| EntraError::invalid_resource(parsed.resource_id, tenant.shown_name()))?;
    let is_default = parsed.value.eq_ignore_ascii_case(".default");
    let scp: Vec<String> = match &resource {
        Resource::MicrosoftGraph if is_default => vec![GRAPH_DEFAULT_SCOPE.to_owned()],
        // Graph's permission catalogue is not modelled: any value is accepted.
        Resource::MicrosoftGraph => vec![parsed.value.to_owned()],
        Resource::App(app) if is_default => app.scopes.clone(),
        Resource::App(app) => {
            let registered = app
                .scopes
                .iter()
                .find(|s| s.eq_ignore_ascii_case(parsed.value))
                .ok_or_else(|| EntraError::scope_not_found(parsed.value, client_id, parsed.resource_id))?;
            vec![registered.clone()]
        }
    };
    let granted = scp.iter().map(|v| format!("{}{v}", parsed.prefix)).collect();
    Ok(Grant {
        audience: audience(&resource, parsed.resource_id).to_owned(),
        version: token_version(&resource),
        resource,
        scp,
        granted,
    })
}

fn same_resource(a: &Resource<'_>, b: &Resource<'_>) -> bool {
    match (a, b) {
        (Resource::MicrosoftGraph, Resource::MicrosoftGraph) => true,
        (Resource::App(x), Resource::App(y)) => x.client_id == y.client_id,
        _ => false,
    }
}

/// Checks every resource scope of an authorize request; several resources
/// are fine there (consent covers them all), as in Entra.
pub(crate) fn check(
    directory: &Directory,
    tenant: &Tenant,
    client_id: &str,
    scopes: &Scopes,
) -> Result<(), EntraError> {
    for scope in &scopes.resource {
        resolve(directory, tenant, client_id, scope)?;
    }
    Ok(())
}

/// The single resource a token request's scopes are for, and what it grants.
/// Only OIDC scopes mean Microsoft Graph with no delegated permission.
pub(crate) fn grant<'a>(
    directory: &'a Directory,
    tenant: &Tenant,
    client_id: &str,
    scopes: &Scopes,
) -> Result<Grant<'a>, EntraError> {
    let mut merged: Option<Grant<'a>> = None;
    for scope in &scopes.resource {
        let next = resolve(directory, tenant, client_id, scope)?;
        match &mut merged {
            None => merged = Some(next),
            Some(g) if same_resource(&g.resource, &next.resource) => {
                for (v, full) in next.scp.into_iter().zip(next.granted) {
                    if !g.scp.contains(&v) {
                        g.scp.push(v);
                        g.granted.push(full);
                    }
                }
            }
            Some(_) => return Err(EntraError::multiple_resources(&scopes.resource.join(" "))),
        }
    }
    Ok(merged.unwrap_or_else(|| Grant {
        resource: Resource::MicrosoftGraph,
        audience: MICROSOFT_GRAPH_APP_ID.to_owned(),
        version: token_version(&Resource::MicrosoftGraph),
        scp: Vec::new(),
        granted: Vec::new(),
    }))
}

/// The access token version a resource gets: Microsoft Graph takes v1.0
/// tokens (Entra issues them whichever endpoint asked); an app's API the
/// version its registration accepts, v1.0 unless it says 2.
pub(crate) fn token_version(resource: &Resource<'_>) -> u8 {
    match resource {
        Resource::MicrosoftGraph => 1,
        Resource::App(app) => app.accepted_token_version(),
    }
}

/// The `aud` claim. A v1.0 token's `aud` is the resource as it was asked
/// for: its identifier URI (as registered) or its app id; a v2.0 token's is
/// always the API's client id, whichever form the scope used
/// (`api://{id}/.default`, an identifier URI, the GUID), as Entra documents
/// for `accessTokenAcceptedVersion` 2.
pub(crate) fn audience<'a>(resource: &Resource<'a>, requested: &'a str) -> &'a str {
    match resource {
        Resource::MicrosoftGraph if requested.trim_end_matches('/').contains("://") => {
            crate::directory::MICROSOFT_GRAPH_RESOURCE
        }
        Resource::MicrosoftGraph => MICROSOFT_GRAPH_APP_ID,
        Resource::App(app) if app.accepted_token_version() == 1 => {
            let wanted = requested.trim_end_matches('/');
            app.identifier_uris
                .iter()
                .find(|u| u.trim_end_matches('/').eq_ignore_ascii_case(wanted))
                .map_or(app.client_id.as_str(), String::as_str)
        }
        Resource::App(app) => app.client_id.as_str(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builtin::*;

    fn contoso(dir: &Directory) -> &Tenant {
        dir.tenant(CONTOSO_TENANT_NAME).unwrap()
    }

    #[test]
    fn parses_oidc_and_resource_scopes() {
        let s = Scopes::parse("openid User.Read  OpenID offline_access api://x/A User.Read");
        assert_eq!(s.oidc, ["openid", "offline_access"]);
        assert_eq!(s.resource, ["User.Read", "api://x/A"]);
        assert!(s.has("offline_access") && !s.has("profile"));
    }

    #[test]
    fn graph_and_api_grants() {
        let dir = Directory::builtin();
        let t = contoso(&dir);
        let g = grant(
            &dir,
            t,
            PUBLIC_CLIENT_ID,
            &Scopes::parse("openid User.Read Mail.Read"),
        )
        .unwrap();
        assert_eq!(g.audience, MICROSOFT_GRAPH_APP_ID);
        assert_eq!(g.scp, ["User.Read", "Mail.Read"]);
        assert_eq!(g.granted, ["User.Read", "Mail.Read"]);

        let g = grant(
            &dir,
            t,
            PUBLIC_CLIENT_ID,
            &Scopes::parse("https://graph.microsoft.com/.default"),
        )
        .unwrap();
        assert_eq!(g.audience, "https://graph.microsoft.com");
        assert_eq!(g.granted, ["https://graph.microsoft.com/User.Read"]);

        let api = format!("{API_IDENTIFIER_URI}/orders.read");
        let g = grant(&dir, t, PUBLIC_CLIENT_ID, &Scopes::parse(&api)).unwrap();
        // v2.0: the API's client id, whichever form the scope used.
        assert_eq!(g.audience, API_CLIENT_ID);
        assert_eq!(g.scp, ["Orders.Read"]);

        let g = grant(
            &dir,
            t,
            PUBLIC_CLIENT_ID,
            &Scopes::parse(&format!("{API_CLIENT_ID}/.default")),
        )
        .unwrap();
        assert_eq!(g.audience, API_CLIENT_ID);
        assert_eq!(g.scp, API_SCOPES);

        let g = grant(&dir, t, PUBLIC_CLIENT_ID, &Scopes::parse("openid profile")).unwrap();
        assert!(g.scp.is_empty() && g.granted.is_empty());
    }

    #[test]
    fn scope_errors() {
        let dir = Directory::builtin();
        let t = contoso(&dir);
        let mixed = Scopes::parse(&format!("User.Read {API_IDENTIFIER_URI}/Orders.Read"));
        assert_eq!(grant(&dir, t, PUBLIC_CLIENT_ID, &mixed).unwrap_err().code, 28000);
        // Several resources are fine on authorize.
        check(&dir, t, PUBLIC_CLIENT_ID, &mixed).unwrap();
        let missing = Scopes::parse(&format!("{API_IDENTIFIER_URI}/Nope"));
        assert_eq!(
            check(&dir, t, PUBLIC_CLIENT_ID, &missing).unwrap_err().code,
            650053
        );
        let unknown = Scopes::parse("api://unknown/X");
        assert_eq!(
            check(&dir, t, PUBLIC_CLIENT_ID, &unknown).unwrap_err().code,
            500011
        );
        assert_eq!(
            check(&dir, t, PUBLIC_CLIENT_ID, &Scopes::parse("api://x/"))
                .unwrap_err()
                .code,
            70011
        );
    }
}
