//! Silent acquisition, as MSAL Python's `acquire_token_silent` does it: a
//! cached access token when one covers the scopes, else the refresh token
//! grant (RFC 6749 section 6) with the account's refresh tokens, family
//! (FOCI) ones first; [`Error::InteractionRequired`] when neither works.
//!
//! Differences from MSAL Python, all on the safe side: concurrent callers
//! that need the same refresh share one request; the error says why the user
//! is needed instead of a bare `None`; and an identity provider error that a
//! different refresh token cannot fix (`invalid_client`, an outage) is
//! reported at once instead of being tried against every refresh token.

use crate::account::Account;
use crate::authority::Authority;
use crate::cache::{self, AccessTokenEntry, AccessTokenQuery, CachedAccessToken, RefreshTokenEntry};
use crate::core::{AppCore, Grant, save};
use crate::credential::ClientCredential;
use crate::discovery::AuthorityMetadata;
use crate::error::{Error, InteractionReason, Result, ServiceError};
use crate::result::AuthenticationResult;
use crate::secret::IdToken;
use crate::telemetry::{ApiId, RefreshReason};
use crate::time::now_epoch;

/// The family id of Microsoft's "family of client ids" (FOCI), whose
/// members redeem each other's refresh tokens. MSAL knows only this one.
const FAMILY_ID: &str = "1";

/// Tenants whose cache realm is not a tenant: tokens a multi-tenant
/// authority got may also be filed under the account's own tenant.
const MULTI_TENANT: [&str; 3] = ["common", "organizations", "consumers"];

/// Options of `acquire_token_silent_with`. Every field is optional.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct SilentOptions {
    /// Skip the cached access token and redeem a refresh token, for
    /// instance after the resource rejected the cached one.
    pub force_refresh: bool,
    /// A claims challenge from a resource's `WWW-Authenticate` header (a
    /// JSON object). It skips the cached access token, which does not
    /// satisfy it, and is sent with the refresh token.
    pub claims_challenge: Option<String>,
    /// Another authority (URL) for this call only, typically the same cloud
    /// with another tenant the user is a guest in.
    pub authority: Option<String>,
    /// The tenant to ask instead of the application's own (a tenant id or
    /// domain): a multi-tenant application uses one object for many
    /// tenants, each tenant's tokens cached under its own realm. Entra ID
    /// and External ID authorities only.
    pub tenant: Option<String>,
    /// An SSH certificate for this key instead of a bearer token (MSAL
    /// Python's `data={"token_type": "ssh-cert", ...}`), with the scope
    /// [`SSH_CERT_SCOPE`](crate::ssh_cert::SSH_CERT_SCOPE): served from the
    /// cache only for the same key id.
    pub ssh_cert: Option<crate::ssh_cert::SshCertRequest>,
}

/// The options of a call without any, for the hot path (no value built per call).
pub(crate) static DEFAULT_OPTIONS: SilentOptions = SilentOptions {
    force_refresh: false,
    claims_challenge: None,
    authority: None,
    tenant: None,
    ssh_cert: None,
};

impl SilentOptions {
    /// Sets [`ssh_cert`](Self::ssh_cert).
    pub fn ssh_cert(mut self, request: crate::ssh_cert::SshCertRequest) -> Self {
        self.ssh_cert = Some(request);
        self
    }

    /// Sets [`tenant`](Self::tenant).
    pub fn tenant(mut self, tenant: impl Into<String>) -> Self {
        self.tenant = Some(tenant.into());
        self
    }

    /// Sets [`force_refresh`](Self::force_refresh).
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }

    /// Sets [`claims_challenge`](Self::claims_challenge).
    pub fn claims_challenge(mut self, claims: impl Into<String>) -> Self {
        self.claims_challenge = Some(claims.into());
        self
    }

    /// Sets [`authority`](Self::authority).
    pub fn authority(mut self, authority: impl Into<String>) -> Self {
        self.authority = Some(authority.into());
        self
    }
}

/// One silent call: what it asks for, and for whom.
struct Silent<'a> {
    core: &'a AppCore,
    credential: Option<&'a ClientCredential>,
    account: &'a Account,
    /// The caller's scopes: what a cached access token must cover.
    scopes: Vec<String>,
    /// The scopes with `openid profile offline_access`: what a refresh token is redeemed for.
    decorated: Vec<String>,
    /// The `claims` parameter: the challenge merged with the client capabilities.
    claims: Option<String>,
    force: bool,
    correlation_id: String,
    /// The SSH certificate asked for instead of a bearer token.
    ssh_cert: Option<crate::ssh_cert::SshCertRequest>,
}

/// How one set of refresh tokens fared.
enum Outcome {
    Issued(Box<AuthenticationResult>),
    /// Every one was refused with an error only the user can resolve; the last one.
    Rejected(Box<ServiceError>),
    /// None was tried, or (family tokens) the identity provider said this client is not in the family.
    Nothing,
}

pub(crate) async fn acquire<I, S>(
    core: &AppCore,
    credential: Option<&ClientCredential>,
    scopes: I,
    account: &Account,
    options: &SilentOptions,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    // A cache hit is answered synchronously, so its state stays off this
    // future; the refresh path's large future is built, boxed, only on a miss.
    let miss = match look_up(core, scopes, account, options)? {
        Lookup::Hit(result) => return Ok(result),
        Lookup::Miss(miss) => miss,
    };
    Box::pin(resolve(core, credential, account, miss)).await
}

#[expect(
    clippy::large_enum_variant,
    reason = "a hit is returned as is; boxing it would cost every hit an allocation"
)]
enum Lookup {
    Hit(AuthenticationResult),
    /// Boxed: a hit's return value should not be the size of a cache entry.
    Miss(Box<Miss>),
}

/// A call the offline cache lookup could not answer: its checked arguments
/// and what the lookup found.
struct Miss {
    scopes: Vec<String>,
    /// The `claims` parameter when the caller passed a challenge (made early
    /// to check it); without one it is made for the request, from the client
    /// capabilities alone, which cannot fail.
    challenge_claims: Option<String>,
    authority: Option<Authority>,
    force: bool,
    /// A token past its `refresh_on`, or none.
    cached: Option<CachedAccessToken>,
    now: u64,
    ssh_cert: Option<crate::ssh_cert::SshCertRequest>,
}

/// Checks everything the caller passed, before the cache or the network is
/// touched, and answers from the cache when the location is known offline
/// (a warm cache costs no discovery).
fn look_up<I, S>(core: &AppCore, scopes: I, account: &Account, options: &SilentOptions) -> Result<Lookup>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let scopes = super::normalize_scopes(scopes)?;
    super::check_reserved(&scopes)?;
    let challenge = options
        .claims_challenge
        .as_deref()
        .map(str::trim)
        .filter(|c| !c.is_empty());
    let challenge_claims = match challenge {
        Some(_) => core.claims(challenge)?,
        None => None,
    };
    let authority = match options
        .authority
        .as_deref()
        .map(str::trim)
        .filter(|a| !a.is_empty())
    {
        Some(authority) => Some(Authority::parse(authority)?),
        None => None,
    };
    if account.home_account_id.trim().is_empty() {
        return Err(Error::InvalidArgument(
            "the account has no home_account_id: pass an account from get_accounts or a token result".into(),
        ));
    }
    let force = options.force_refresh || challenge.is_some();

    let now = now_epoch();
    let key_id = options
        .ssh_cert
        .as_ref()
        .map(crate::ssh_cert::SshCertRequest::key_id);
    let mut cached = None;
    if !force && let Some((environment, realm)) = core.offline_cache_location_of(authority.as_ref()) {
        // The location's own host first; its cloud's aliases only when that has nothing.
        let host = crate::core::lowercase(&environment);
        cached = lookup(core, account, &scopes, key_id, [host.as_ref()], &realm, now).or_else(|| {
            let aliases = core.environments_of(&environment, &[]);
            lookup(
                core,
                account,
                &scopes,
                key_id,
                aliases.iter().skip(1).map(String::as_str),
                &realm,
                now,
            )
        });
    }
    match cached {
        Some(entry) if !aging(&entry, now) => Ok(Lookup::Hit(hit(core, account, entry, Some(scopes)))),
        cached => Ok(Lookup::Miss(Box::new(Miss {
            scopes,
            challenge_claims,
            authority,
            force,
            cached,
            now,
            ssh_cert: options.ssh_cert.clone(),
        }))),
    }
}

/// The rest of [`acquire`] when the offline lookup did not answer:
/// discovery, the cache at the discovered location, and the refresh.
async fn resolve(
    core: &AppCore,
    credential: Option<&ClientCredential>,
    account: &Account,
    miss: Box<Miss>,
) -> Result<AuthenticationResult> {
    let Miss {
        scopes,
        challenge_claims,
        authority,
        force,
        mut cached,
        now,
        ssh_cert,
    } = *miss;
    let claims = match challenge_claims {
        Some(claims) => Some(claims),
        None => core.claims(None)?,
    };
    let silent = Silent {
        core,
        credential,
        account,
        decorated: super::with_reserved_scopes(&scopes),
        scopes,
        claims,
        force,
        correlation_id: super::new_correlation_id(),
        ssh_cert,
    };

    let metadata = core
        .metadata_of(authority.as_ref(), &silent.correlation_id)
        .await?;
    let environments = core.environments_of(&metadata.environment, &metadata.aliases);
    if !silent.force && cached.is_none() {
        cached = silent.lookup(&environments, &metadata.realm, now);
    }
    let located = Located {
        silent: &silent,
        metadata: &metadata,
        environments: &environments,
    };
    match cached {
        Some(entry) if !aging(&entry, now) => Ok(silent.hit(entry)),
        // Past refresh_on the token is still valid: refresh, but fall back to it.
        Some(entry) => match located.shared_refresh(RefreshReason::AccessTokenAging).await {
            Ok(fresh) => Ok(fresh),
            Err(error) => {
                tracing::warn!(client_id = %core.client_id, %error, "proactive refresh failed; using the cached access token");
                Ok(silent.hit(entry))
            }
        },
        None => {
            let reason = if silent.force {
                RefreshReason::ForceRefresh
            } else if silent.lookup(&environments, &metadata.realm, 0).is_some() {
                // Any expiry passes the check at time 0: a matching token exists, but expired.
                RefreshReason::AccessTokenExpired
            } else {
                RefreshReason::AccessTokenAbsent
            };
            located.shared_refresh(reason).await
        }
    }
}

/// Whether the token is past the `refresh_on` the identity provider set.
fn aging(entry: &AccessTokenEntry, now: u64) -> bool {
    entry.refresh_on.is_some_and(|refresh_on| refresh_on <= now)
}

/// The account's access token for this client covering the scopes, in the
/// authority's realm (and, for a multi-tenant authority, the account's own
/// realm), in the first of `environments` that has one.
fn lookup<'e>(
    core: &AppCore,
    account: &Account,
    scopes: &[String],
    key_id: Option<&str>,
    environments: impl IntoIterator<Item = &'e str>,
    realm: &str,
    now: u64,
) -> Option<CachedAccessToken> {
    let home_realm = (MULTI_TENANT.iter().any(|t| t.eq_ignore_ascii_case(realm))
        && !account.realm.is_empty()
        && !account.realm.eq_ignore_ascii_case(realm))
    .then_some(account.realm.as_str());
    environments.into_iter().find_map(|environment| {
        [Some(realm), home_realm].into_iter().flatten().find_map(|realm| {
            let query = AccessTokenQuery {
                home_account_id: Some(&account.home_account_id),
                environment,
                client_id: &core.client_id,
                realm,
            };
            match key_id {
                // Key-bound tokens (SSH certificates): see crate::ssh_cert.
                Some(key_id) => core
                    .cache
                    .find_key_bound_access_token(&query, key_id, scopes, now),
                None => core.cache.find_access_token(&query, scopes, now),
            }
        })
    })
}

/// A cached access token as a result, with the account and the claims of
/// the ID token cached beside it; counted for the telemetry.
/// `requested` (the normalized scopes, when the caller has no further use
/// for them) may become the result's scopes; see [`super::result_scopes`].
fn hit(
    core: &AppCore,
    account: &Account,
    entry: CachedAccessToken,
    requested: Option<Vec<String>>,
) -> AuthenticationResult {
    core.telemetry.cache_hit();
    tracing::debug!(client_id = %core.client_id, token_source = "cache", "access token served from the cache");
    let extras = memo::extras(core, &account.home_account_id, &entry.environment, &entry.realm);
    let mut result = super::cached_result(&entry, super::result_scopes(&entry.target, requested));
    if let Some(known) = extras.known {
        // The tenant that issued the token, even when the authority was `common`.
        if let Some(tenant) = known.tenant_id {
            result.tenant_id = Some(tenant);
        }
        result.id_token_claims = Some(known.claims);
    }
    result.id_token = extras.id_token.as_ref().map(IdToken::shared);
    result.account = Some(extras.account.unwrap_or_else(|| account.clone()));
    result
}

impl Silent<'_> {
    fn lookup(&self, environments: &[String], realm: &str, now: u64) -> Option<CachedAccessToken> {
        lookup(
            self.core,
            self.account,
            &self.scopes,
            self.ssh_cert
                .as_ref()
                .map(crate::ssh_cert::SshCertRequest::key_id),
            environments.iter().map(String::as_str),
            realm,
            now,
        )
    }

    fn hit(&self, entry: CachedAccessToken) -> AuthenticationResult {
        hit(self.core, self.account, entry, None)
    }
}

/// A silent call whose authority is resolved.
struct Located<'a> {
    silent: &'a Silent<'a>,
    metadata: &'a AuthorityMetadata,
    environments: &'a [String],
}

impl Located<'_> {
    /// One refresh per account, scopes and claims at a time: callers that
    /// arrive while it is in flight share its result instead of each
    /// redeeming a refresh token.
    async fn shared_refresh(&self, reason: RefreshReason) -> Result<AuthenticationResult> {
        let silent = self.silent;
        let key = format!(
            "silent|{}|{}|{}|{}|{}|{}|{}|{}",
            self.metadata.environment,
            self.metadata.realm,
            silent.core.client_id,
            silent.account.home_account_id,
            cache::target(&silent.scopes),
            silent.claims.as_deref().unwrap_or_default(),
            // A forced refresh must not be answered by a flight that found the cache filled.
            silent.force,
            // A certificate for one key does not answer a request for another.
            silent.ssh_cert.as_ref().map_or("", |r| r.key_id()),
        );
        silent
            .core
            .flights
            .run(&key, || async {
                // A flight that just landed may have cached a fresh token.
                if !silent.force
                    && let Some(entry) = silent.lookup(self.environments, &self.metadata.realm, now_epoch())
                    && !aging(&entry, now_epoch())
                {
                    return Ok(silent.hit(entry));
                }
                self.refresh(reason).await
            })
            .await
    }

    /// Redeems the account's refresh tokens in MSAL's order: the family's
    /// when this client is in the family or its membership is unknown (no
    /// app metadata yet), then this client's own; newest first within each.
    async fn refresh(&self, reason: RefreshReason) -> Result<AuthenticationResult> {
        let core = self.silent.core;
        let hid = &self.silent.account.home_account_id;
        let mut tried = Vec::new();
        let mut rejection = None;

        let family = match core.cache.app_metadata(self.environments, &core.client_id) {
            None => Some(FAMILY_ID.to_owned()),
            Some(metadata) => metadata
                .family_id
                .filter(|f| !f.is_empty())
                .map(|f| f.to_string()),
        };
        if let Some(family) = family {
            let family_rts = core.cache.refresh_tokens_of(hid, self.environments, |rt| {
                rt.family_id.as_deref() == Some(family.as_str())
            });
            match self.redeem_each(family_rts, &mut tried, reason, true).await? {
                Outcome::Issued(result) => return Ok(*result),
                Outcome::Rejected(service) => rejection = Some(service),
                Outcome::Nothing => {}
            }
        }
        let own_rts = core.cache.refresh_tokens_of(hid, self.environments, |rt| {
            rt.client_id.eq_ignore_ascii_case(&core.client_id)
        });
        match self.redeem_each(own_rts, &mut tried, reason, false).await? {
            Outcome::Issued(result) => return Ok(*result),
            Outcome::Rejected(service) => rejection = Some(service),
            Outcome::Nothing => {}
        }

        Err(match rejection {
            Some(service) => Error::InteractionRequired {
                reason: reason_for(&service),
                service: Some(service),
            },
            None if core.cache.accounts_of(hid, self.environments).is_empty() => Error::InteractionRequired {
                reason: InteractionReason::NoAccount,
                service: None,
            },
            None => Error::InteractionRequired {
                reason: InteractionReason::NoRefreshToken,
                service: None,
            },
        })
    }

    /// Tries `rts` in order until one works. A refused refresh token stays in
    /// the cache, as in MSAL: `invalid_grant` may come from a policy that
    /// applies to these scopes or this tenant only, and the token may still
    /// serve others.
    async fn redeem_each(
        &self,
        rts: Vec<RefreshTokenEntry>,
        tried: &mut Vec<RefreshTokenEntry>,
        reason: RefreshReason,
        family: bool,
    ) -> Result<Outcome> {
        let mut rejection = None;
        for rt in rts {
            // A family token of this client comes up again among its own.
            if tried.contains(&rt) {
                continue;
            }
            tried.push(rt.clone());
            match self.redeem(&rt, reason).await {
                Ok(result) => return Ok(Outcome::Issued(Box::new(result))),
                // Entra's word that this client left (or never joined) the family.
                Err(Error::Service(service)) if family && service.is_client_mismatch() => {
                    tracing::debug!(client_id = %self.silent.core.client_id, "not in the refresh token's family; using own refresh tokens");
                    return Ok(Outcome::Nothing);
                }
                Err(Error::Service(service)) if service.requires_interaction() => {
                    tracing::debug!(client_id = %self.silent.core.client_id, error = %service.error, "refresh token refused; trying the next");
                    rejection = Some(service);
                }
                // Family tokens are other apps' tokens: whatever the IdP says about
                // them, this client's own tokens still deserve a try.
                Err(Error::Service(service)) if family => {
                    tracing::debug!(client_id = %self.silent.core.client_id, error = %service.error, "family refresh token failed; trying own refresh tokens");
                    return Ok(Outcome::Nothing);
                }
                // Another refresh token cannot fix a bad credential, an outage or the network.
                Err(other) => return Err(other),
            }
        }
        Ok(rejection.map_or(Outcome::Nothing, Outcome::Rejected))
    }

    /// One refresh token grant request, and its tokens cached.
    async fn redeem(&self, rt: &RefreshTokenEntry, reason: RefreshReason) -> Result<AuthenticationResult> {
        let silent = self.silent;
        let core = silent.core;
        let correlation_id = silent.correlation_id.as_str();
        let grant = Grant::new("refresh_token", &silent.decorated)
            .subject("refresh_token", rt.secret.expose())
            .claims(silent.claims.as_deref())
            .credential(silent.credential)
            .anchor_account(&silent.account.home_account_id)
            .reason(reason);
        let grant = super::ssh::grant(grant, silent.ssh_cert.as_ref());
        tracing::debug!(client_id = %core.client_id, endpoint = %self.metadata.token_endpoint, "redeeming a refresh token");
        let call = core.call(ApiId::AcquireTokenSilent, correlation_id, self.metadata);
        let response = call.token(grant).await?;
        let new_rt = response.refresh_token.clone();
        let claims = save::id_token_claims(&response)?;
        let issued = call.issued(&silent.decorated, "refresh_token");
        let result = match &silent.ssh_cert {
            Some(ssh) => save::save_tagged(&issued, response, claims, &super::ssh::tags(ssh))?,
            None => save::save(&issued, response, claims)?,
        };
        if let Some(new_rt) = new_rt {
            core.cache.update_refresh_token(rt, &new_rt, now_epoch());
        }
        Ok(result)
    }
}

/// Which kind of interaction an identity provider error asks for.
fn reason_for(service: &ServiceError) -> InteractionReason {
    if service.claims.as_deref().is_some_and(|c| !c.trim().is_empty()) {
        return InteractionReason::ClaimsChallenge;
    }
    if service.suberror.as_deref() == Some("consent_required") {
        return InteractionReason::ConsentRequired;
    }
    match service.error.as_str() {
        "consent_required" => InteractionReason::ConsentRequired,
        "login_required" | "interaction_required" => InteractionReason::LoginRequired,
        _ => InteractionReason::RefreshTokenRejected,
    }
}

mod memo;
#[cfg(test)]
mod tests;
