//! The `client_credentials` grant: an app-only token for a confidential
//! client, for the resource of a single `{resource}/.default` scope, carrying
//! the app roles the client was granted on it.

use serde_json::Value;

use super::TokenRequest;
use super::client_auth::{self, ClientAuth};
use super::issue::{self, AppToken};
use super::user_fic;
use crate::directory::{AppKind, Resource};
use crate::error::EntraError;
use crate::scopes::{OIDC_SCOPES, audience};

const DEFAULT_SUFFIX: &str = "/.default";

/// Handles `grant_type=client_credentials`.
pub(crate) fn grant(req: &TokenRequest<'_>) -> Result<Value, EntraError> {
    let auth = ClientAuth::read(req.form, req.headers)?;
    let scope = req.form.required("scope")?;
    // Client credentials name no user, so nothing says which tenant `common` means.
    let tenant = req.tenant.ok_or_else(EntraError::tenant_required)?;
    let client = client_auth::find_client(req.state, tenant, &auth.client_id)?;
    if client.kind == AppKind::Public {
        return Err(EntraError::public_client_not_allowed("client_credentials"));
    }
    client_auth::authenticate_confidential(req, client, &auth.credential)?;

    let resource_id = default_scope_resource(scope)?;
    let fmi_path = req.form.get("fmi_path");
    // Entra's token exchange resource: the app's federated identity
    // credential (for the `user_fic` grant), which carries no roles.
    if resource_id.eq_ignore_ascii_case(user_fic::TOKEN_EXCHANGE_AUDIENCE) {
        return issue::app_token(
            req.state,
            req.ctx,
            &AppToken {
                tenant,
                client,
                audience: user_fic::TOKEN_EXCHANGE_AUDIENCE,
                // The token exchange audience takes v2.0 tokens.
                version: 2,
                roles: &[],
                claims: &req.claims,
                fmi_path,
                acr: req.client_acr.get(),
            },
        );
    }
    let resource = req
        .state
        .directory()
        .resource_named(resource_id)
        .filter(|r| match r {
            Resource::MicrosoftGraph => true,
            Resource::App(app) => app.usable_in(tenant),
        })
        .ok_or_else(|| EntraError::invalid_resource(resource_id, tenant.shown_name()))?;

    let mut roles: Vec<String> = Vec::new();
    for grant in client
        .app_permissions
        .iter()
        .filter(|g| resource.is_named(&g.resource))
    {
        for role in &grant.roles {
            if !roles.contains(role) {
                roles.push(role.clone());
            }
        }
    }
    issue::app_token(
        req.state,
        req.ctx,
        &AppToken {
            tenant,
            client,
            audience: audience(&resource, resource_id),
            version: crate::scopes::token_version(&resource),
            roles: &roles,
            claims: &req.claims,
            fmi_path,
            acr: req.client_acr.get(),
        },
    )
}

/// The resource of the one `{resource}/.default` scope in `scope`.
fn default_scope_resource(scope: &str) -> Result<&str, EntraError> {
    let scopes: Vec<&str> = scope
        .split_whitespace()
        .filter(|s| !OIDC_SCOPES.iter().any(|o| o.eq_ignore_ascii_case(s)))
        .collect();
    let [single] = scopes.as_slice() else {
        return Err(if scopes.is_empty() {
            EntraError::client_credentials_scope(scope)
        } else {
            EntraError::invalid_scope(scope)
        });
    };
    let split = single.len().saturating_sub(DEFAULT_SUFFIX.len());
    match single.get(split..) {
        Some(suffix) if split > 0 && suffix.eq_ignore_ascii_case(DEFAULT_SUFFIX) => Ok(&single[..split]),
        _ => Err(EntraError::client_credentials_scope(single)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_default_scope_resource() {
        assert_eq!(
            default_scope_resource("https://graph.microsoft.com/.default").unwrap(),
            "https://graph.microsoft.com"
        );
        assert_eq!(
            default_scope_resource("openid api://x/.DEFAULT offline_access").unwrap(),
            "api://x"
        );
        assert_eq!(default_scope_resource("User.Read").unwrap_err().code, 1002012);
        assert_eq!(default_scope_resource("/.default").unwrap_err().code, 1002012);
        assert_eq!(default_scope_resource("openid").unwrap_err().code, 1002012);
        assert_eq!(
            default_scope_resource("a/.default b/.default").unwrap_err().code,
            70011
        );
        assert_eq!(default_scope_resource("é").unwrap_err().code, 1002012);
    }
}
