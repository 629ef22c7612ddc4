//! Managed identity tokens: the cache first (a token with under five
//! minutes left counts as expired; one past its `refresh_on` is refreshed,
//! and served if the host fails), then the host, one request per identity
//! and resource at a time. A claims challenge skips the cached token and
//! names it to the host (its SHA-256) so the host issues a new one.

use sha2::{Digest, Sha256};

use crate::cache::{AccessTokenQuery, CachedAccessToken};
use crate::core::{ClientCore, save};
use crate::discovery::AuthorityMetadata;
use crate::error::{Error, Result};
use crate::managed_identity::{self, Extras, Host, ManagedIdentity};
use crate::result::AuthenticationResult;
use crate::time::now_epoch;

/// Options of [`acquire_token_for_client_with`](crate::ManagedIdentityClient::acquire_token_for_client_with).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ManagedIdentityOptions {
    /// A claims challenge from a resource that refused the cached token
    /// (it was revoked): the cached token is not served, and the host is
    /// asked for a new one.
    pub claims_challenge: Option<String>,
    /// Skip the cache and ask the host.
    pub force_refresh: bool,
}

impl ManagedIdentityOptions {
    /// Sets [`claims_challenge`](Self::claims_challenge).
    pub fn claims_challenge(mut self, challenge: impl Into<String>) -> Self {
        self.claims_challenge = Some(challenge.into());
        self
    }

    /// Sets [`force_refresh`](Self::force_refresh).
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }
}

/// The identity and host a managed identity client asks for tokens.
pub(crate) struct Target<'a> {
    pub core: &'a ClientCore,
    pub host: &'a Host,
    pub identity: &'a ManagedIdentity,
    /// Where its tokens are keyed in the cache (MSAL Python's
    /// `https://localhost/managed_identity`).
    pub cache_location: &'a AuthorityMetadata,
}

pub(crate) async fn acquire(
    target: &Target<'_>,
    resource: &str,
    options: &ManagedIdentityOptions,
) -> Result<AuthenticationResult> {
    let Target {
        core, host, identity, ..
    } = *target;
    let resource = managed_identity::resource_of(resource);
    if resource.is_empty() {
        return Err(Error::InvalidArgument("the resource is empty".into()));
    }
    host.check(identity)?;
    let scopes = vec![resource.to_owned()];
    let cached = lookup(target, &scopes);
    let challenged = options.claims_challenge.is_some();
    let fallback = match cached {
        // The token the resource refused: named to the host, never served.
        Some(entry) if challenged => {
            let revoked = hex_sha256(entry.secret.expose());
            return request(target, &scopes, Some(&revoked)).await;
        }
        Some(entry) if !options.force_refresh => {
            if entry.refresh_on.is_none_or(|on| on > now_epoch()) {
                core.telemetry.cache_hit();
                tracing::debug!(client_id = %core.client_id, token_source = "cache", "managed identity token served from the cache");
                return Ok(from_cache(&entry, &scopes));
            }
            Some(entry)
        }
        _ => None,
    };
    if options.force_refresh || challenged {
        return request(target, &scopes, None).await;
    }
    let key = format!("mi|{}|{}", core.client_id, resource);
    let outcome = core
        .flights
        .run(&key, || async {
            // A flight that just landed may have filled the cache.
            if fallback.is_none()
                && let Some(entry) = lookup(target, &scopes)
            {
                return Ok(from_cache(&entry, &scopes));
            }
            request(target, &scopes, None).await
        })
        .await;
    match (outcome, fallback) {
        (Ok(result), _) => Ok(result),
        // Past refresh_on: the host failed, the cached token is still valid.
        (Err(Error::Service(_) | Error::Transport(_) | Error::Throttled { .. }), Some(entry)) => {
            Ok(from_cache(&entry, &scopes))
        }
        (Err(error), _) => Err(error),
    }
}

fn lookup(target: &Target<'_>, scopes: &[String]) -> Option<CachedAccessToken> {
    let find = |client_id: &str| {
        let query = AccessTokenQuery {
            home_account_id: None,
            environment: &target.cache_location.environment,
            client_id,
            realm: &target.cache_location.realm,
        };
        target.core.cache.find_access_token(&query, scopes, now_epoch())
    };
    find(&target.core.client_id).or_else(|| {
        // MSAL Python 1.39 caches the system-assigned identity's tokens
        // under a null client id (read as empty), not under
        // SYSTEM_ASSIGNED_MANAGED_IDENTITY as the other MSALs do.
        (!target.identity.is_user_assigned()).then(|| find("")).flatten()
    })
}

fn from_cache(entry: &CachedAccessToken, scopes: &[String]) -> AuthenticationResult {
    super::cached_result(entry, super::result_scopes(&entry.target, Some(scopes.to_vec())))
}

async fn request(
    target: &Target<'_>,
    scopes: &[String],
    revoked_sha256: Option<&str>,
) -> Result<AuthenticationResult> {
    let Target {
        core,
        host,
        identity,
        cache_location,
    } = *target;
    let correlation_id = super::new_correlation_id();
    let extras = Extras {
        token_sha256_to_refresh: revoked_sha256,
        client_capabilities: &core.client_capabilities,
    };
    let resource = scopes.first().map(String::as_str).unwrap_or_default();
    tracing::debug!(
        correlation_id = %correlation_id,
        source = %host.source,
        identity = identity.cache_client_id(),
        "requesting a managed identity token"
    );
    let response =
        managed_identity::obtain(&core.pipeline, host, identity, resource, &extras, &correlation_id).await?;
    let issued = save::Issued {
        core,
        metadata: cache_location,
        requested: scopes,
        grant_type: "managed_identity",
        correlation_id: &correlation_id,
    };
    save::save(&issued, response, None)
}

fn hex_sha256(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
