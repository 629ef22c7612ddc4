//! The on-behalf-of flow: a web API trades the user's token it was called
//! with (the incoming assertion) for a token to a downstream API, for the
//! same user.
//!
//! Unlike MSAL Python, which always asks the identity provider, the cache
//! is read first, partitioned by the incoming assertion as MSAL .NET does:
//! tokens obtained for an assertion carry its SHA-256 hash
//! (`user_assertion_hash`), so a second call with the same incoming token
//! and scopes costs no request, and another incoming token (another user,
//! or the same user later) never receives them. When the access token has
//! expired, the refresh token obtained with it is redeemed, which keeps
//! long-running work going after the incoming token itself has expired;
//! only when that fails is a new on-behalf-of request sent.

use crate::cache::{self, CachedAccessToken, PartitionQuery, USER_ASSERTION_HASH};
use crate::core::{AppCore, Grant, save};
use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::oauth2::TokenResponse;
use crate::result::AuthenticationResult;
use crate::secret::UserAssertion;
use crate::telemetry::{ApiId, RefreshReason};
use crate::time::now_epoch;

/// The grant type of the on-behalf-of request (RFC 7523's JWT bearer grant).
const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";

/// Options of [`acquire_token_on_behalf_of_with`](crate::ConfidentialClientApplication::acquire_token_on_behalf_of_with).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct OnBehalfOfOptions {
    /// A claims challenge from the downstream API (the JSON in its
    /// `WWW-Authenticate` header's `claims`). The cache is skipped and a new
    /// on-behalf-of request carries it.
    pub claims_challenge: Option<String>,
    /// Skip the cache (and the cached refresh token) and send a new
    /// on-behalf-of request.
    pub force_refresh: bool,
    /// The tenant to ask instead of the application's own (a tenant id or
    /// domain): a multi-tenant application uses one object for many
    /// tenants, each tenant's tokens cached under its own realm. Entra ID
    /// and External ID authorities only.
    pub tenant: Option<String>,
}

impl OnBehalfOfOptions {
    /// Sets [`tenant`](Self::tenant).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets [`claims_challenge`](Self::claims_challenge).
    pub fn claims_challenge(mut self, claims: impl Into<String>) -> Self {
        self.claims_challenge = Some(claims.into());
        self
    }

    /// Sets [`force_refresh`](Self::force_refresh).
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }
}

pub(crate) async fn acquire<I, S>(
    core: &AppCore,
    credential: &ClientCredential,
    assertion: &UserAssertion,
    scopes: I,
    options: &OnBehalfOfOptions,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let incoming = incoming_of(assertion)?;
    acquire_in(
        core,
        credential,
        Session::new(Some(incoming), None),
        scopes,
        options,
    )
    .await
}

/// The incoming token, which must not be empty.
pub(crate) fn incoming_of(assertion: &UserAssertion) -> Result<&str> {
    let incoming = assertion.expose_secret().trim();
    if incoming.is_empty() {
        return Err(Error::InvalidArgument(
            "the user assertion (incoming token) is empty".into(),
        ));
    }
    Ok(incoming)
}

/// Where an on-behalf-of call's tokens are kept, and what it can send.
pub(crate) struct Session<'a> {
    /// The incoming token; absent when a long-running process continues
    /// with the session's refresh token alone.
    incoming: Option<&'a str>,
    /// The cache key (`user_assertion_hash`): the incoming token's hash, or
    /// the session key of a long-running process.
    key: String,
}

impl<'a> Session<'a> {
    /// A session for `incoming` under `key` (default: the incoming token's hash).
    pub(crate) fn new(incoming: Option<&'a str>, key: Option<String>) -> Self {
        let key = key.unwrap_or_else(|| incoming.map(cache::assertion_hash).unwrap_or_default());
        Session { incoming, key }
    }

    /// The cache key.
    pub(crate) fn key(&self) -> &str {
        &self.key
    }
}

/// The on-behalf-of flow for a session: the cache under its key, then the
/// refresh token obtained for it, then (with an incoming token) a new
/// on-behalf-of request. Without an incoming token and without a usable
/// refresh token it fails with [`Error::OnBehalfOfSessionNotFound`].
pub(crate) async fn acquire_in<I, S>(
    core: &AppCore,
    credential: &ClientCredential,
    session: Session<'_>,
    scopes: I,
    options: &OnBehalfOfOptions,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    if session.key.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "the on-behalf-of session key is empty".into(),
        ));
    }
    let scopes: Vec<String> = super::normalize_scopes(scopes)?;
    // Checked before the cache, so reserved scopes fail the same way every time.
    let requested = super::decorate_scopes(&scopes)?;
    let claims = core.claims(options.claims_challenge.as_deref())?;
    let hash = session.key.clone();
    let incoming = session.incoming;
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let challenged = options
        .claims_challenge
        .as_deref()
        .is_some_and(|c| !c.trim().is_empty());
    if options.force_refresh || challenged {
        return obo_request(
            core,
            credential,
            incoming,
            &hash,
            &requested,
            claims.as_deref(),
            &correlation_id,
            RefreshReason::ForceRefresh,
        )
        .await;
    }

    // The cache first, before discovery when the realm is known offline.
    let now = now_epoch();
    let offline = core.offline_cache_location();
    let mut cached = None;
    if let Some((environment, realm)) = &offline {
        let environments = core.environments_of(environment, &core.environment_aliases());
        cached = lookup(core, &environments, realm, &hash, &scopes, now);
    }
    if cached.is_none() {
        let metadata = core.metadata(&correlation_id).await?;
        if offline.as_ref().is_none_or(|(environment, realm)| {
            *environment != metadata.environment || *realm != metadata.realm
        }) {
            let environments = core.environments_of(&metadata.environment, &metadata.aliases);
            cached = lookup(core, &environments, &metadata.realm, &hash, &scopes, now);
        }
    }
    let mut fallback = None;
    if let Some((environments, entry)) = cached {
        if entry.refresh_on.is_none_or(|refresh_on| refresh_on > now) {
            core.telemetry.cache_hit();
            tracing::debug!(client_id = %core.client_id, token_source = "cache", "on-behalf-of token served from the cache");
            return Ok(from_cache(core, &environments, entry));
        }
        // Past refresh_on: refresh, but keep the still-valid token as a fallback.
        fallback = Some(entry);
    }

    let metadata = core.metadata(&correlation_id).await?;
    let environments = core.environments_of(&metadata.environment, &metadata.aliases);
    let reason = if fallback.is_some() {
        RefreshReason::AccessTokenAging
    } else if core.cache.has_expired_access_token_for_assertion(
        &PartitionQuery {
            client_id: &core.client_id,
            environments: &environments,
            realm: &metadata.realm,
        },
        &hash,
        &scopes,
    ) {
        RefreshReason::AccessTokenExpired
    } else {
        RefreshReason::AccessTokenAbsent
    };
    let flight = format!(
        "obo|{}|{}|{hash}|{}",
        metadata.environment,
        metadata.realm,
        cache::target(&requested)
    );
    let fresh = core
        .flights
        .run(&flight, || async {
            // A flight that just landed may have filled the cache.
            let query = PartitionQuery {
                client_id: &core.client_id,
                environments: &environments,
                realm: &metadata.realm,
            };
            if fallback.is_none()
                && let Some(entry) =
                    core.cache
                        .find_access_token_for_assertion(&query, &hash, &scopes, now_epoch())
            {
                return Ok(from_cache(core, &environments, entry));
            }
            // Long-running work: the refresh token obtained for this assertion
            // outlives the assertion itself.
            if let Some(rt) = core
                .cache
                .find_refresh_token_for_assertion(&core.client_id, &environments, &hash)
            {
                match redeem(
                    core,
                    credential,
                    rt.secret.expose(),
                    &hash,
                    &requested,
                    claims.as_deref(),
                    &correlation_id,
                    reason,
                )
                .await
                {
                    Ok(result) => return Ok(result),
                    Err(Error::Service(e)) if e.requires_interaction() => {
                        tracing::debug!(error = %e.error, "the on-behalf-of refresh token was refused; asking again with the assertion");
                    }
                    Err(other) => return Err(other),
                }
            }
            obo_request(
                core,
                credential,
                incoming,
                &hash,
                &requested,
                claims.as_deref(),
                &correlation_id,
                reason,
            )
            .await
        })
        .await;
    match (fresh, fallback) {
        (Ok(result), _) => Ok(result),
        (Err(Error::Service(_) | Error::Transport(_)), Some(entry)) => {
            Ok(from_cache(core, &environments, entry))
        }
        (Err(e), _) => Err(e),
    }
}

/// The usable access token obtained for this assertion, with the
/// environments it was searched in.
fn lookup(
    core: &AppCore,
    environments: &[String],
    realm: &str,
    hash: &str,
    scopes: &[String],
    now: u64,
) -> Option<(Vec<String>, CachedAccessToken)> {
    let query = PartitionQuery {
        client_id: &core.client_id,
        environments,
        realm,
    };
    core.cache
        .find_access_token_for_assertion(&query, hash, scopes, now)
        .map(|entry| (environments.to_vec(), entry))
}

/// The tags every entry obtained for this assertion carries.
fn tags(hash: &str) -> save::EntryTags {
    let mut tags = save::EntryTags::default();
    let value = serde_json::Value::String(hash.to_owned());
    tags.access_token
        .insert(USER_ASSERTION_HASH.to_owned(), value.clone());
    tags.refresh_token.insert(USER_ASSERTION_HASH.to_owned(), value);
    tags
}

#[allow(clippy::too_many_arguments)]
async fn obo_request(
    core: &AppCore,
    credential: &ClientCredential,
    incoming: Option<&str>,
    hash: &str,
    scopes: &[String],
    claims: Option<&str>,
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    let Some(incoming) = incoming else {
        // A long-running process without a usable refresh token: only a
        // new incoming token (a new session) helps.
        return Err(Error::OnBehalfOfSessionNotFound {
            session_key: hash.to_owned(),
        });
    };
    tracing::debug!(client_id = %core.client_id, "requesting a token on behalf of the caller");
    let grant = Grant::new(GRANT_TYPE, scopes)
        .subject("assertion", incoming)
        .param("requested_token_use", "on_behalf_of");
    send(core, credential, grant, hash, claims, correlation_id, reason).await
}

#[allow(clippy::too_many_arguments)]
async fn redeem(
    core: &AppCore,
    credential: &ClientCredential,
    refresh_token: &str,
    hash: &str,
    scopes: &[String],
    claims: Option<&str>,
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    tracing::debug!(client_id = %core.client_id, "redeeming the on-behalf-of refresh token");
    let grant = Grant::new("refresh_token", scopes).subject("refresh_token", refresh_token);
    send(core, credential, grant, hash, claims, correlation_id, reason).await
}

/// Sends an on-behalf-of grant and caches its tokens under the assertion's hash.
async fn send(
    core: &AppCore,
    credential: &ClientCredential,
    grant: Grant<'_>,
    hash: &str,
    claims: Option<&str>,
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    // Discovered once and remembered, so asking here costs nothing extra.
    let metadata = core.metadata(correlation_id).await?;
    let call = core.call(ApiId::AcquireTokenOnBehalfOf, correlation_id, metadata);
    let (grant_type, scopes) = (grant.grant_type(), grant.scopes());
    let grant = grant.claims(claims).credential(Some(credential)).reason(reason);
    let response: TokenResponse = call.token(grant).await?;
    let claims = save::id_token_claims(&response)?;
    save::save_tagged(&call.issued(scopes, grant_type), response, claims, &tags(hash))
}

/// A cached on-behalf-of token as a result, with the user's account when
/// the cache knows it.
fn from_cache(core: &AppCore, environments: &[String], entry: CachedAccessToken) -> AuthenticationResult {
    let account = entry.home_account_id.as_deref().and_then(|hid| {
        core.cache
            .accounts_of(hid, environments)
            .into_iter()
            .find(|a| a.realm.eq_ignore_ascii_case(&entry.realm))
            .and_then(|e| e.to_account())
    });
    AuthenticationResult {
        account,
        ..super::cached_result(&entry, super::scopes_of(&entry.target))
    }
}
