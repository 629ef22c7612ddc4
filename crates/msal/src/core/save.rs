//! What a token response becomes, for every grant: its ID token decoded, its
//! tokens, account and app metadata written to the cache exactly as MSAL
//! Python's `TokenCache.add` writes them, and the [`AuthenticationResult`]
//! handed back. Grants validate what is theirs to validate (nonce, max_age)
//! between [`id_token_claims`] and [`save`], so nothing unchecked is cached.

use super::ClientCore;
use crate::cache::{
    self, AUTHORITY_TYPE_ADFS, AUTHORITY_TYPE_MSSTS, AccessTokenEntry, AccountEntry, AppMetadataEntry,
    CacheWrite, IdTokenEntry, RefreshTokenEntry, Str,
};
use crate::discovery::AuthorityMetadata;
use crate::error::{Error, Result};
use crate::oauth2::{self, TokenResponse};
use crate::result::{AuthenticationResult, IdTokenClaims, TokenSource};
use crate::secret::{AccessToken, IdToken};
use crate::shared_str::SharedStr;
use crate::time::{epoch_after, from_epoch, now_epoch};

/// Lifetime assumed when the identity provider omits `expires_in` (RFC 6749 allows it; MSAL uses 600 s).
pub(crate) const DEFAULT_EXPIRES_IN: u64 = 600;

/// Grants after which MSAL Python records how the account was established.
const ACCOUNT_SOURCES: [&str; 4] = [
    "authorization_code",
    "password",
    "urn:ietf:params:oauth:grant-type:device_code",
    "user_fic",
];

/// Fields added to the access and refresh token entries a response writes,
/// beyond the schema's own: the partition tags of
/// [`crate::cache`]'s `assertion` module (`user_assertion_hash`, `ext_cache_key`).
#[derive(Default)]
pub(crate) struct EntryTags {
    pub access_token: serde_json::Map<String, serde_json::Value>,
    pub refresh_token: serde_json::Map<String, serde_json::Value>,
}

/// The request a token response answers.
pub(crate) struct Issued<'a> {
    pub core: &'a ClientCore,
    pub metadata: &'a AuthorityMetadata,
    /// The scopes asked for: the cache target when the response names none.
    pub requested: &'a [String],
    pub grant_type: &'a str,
    pub correlation_id: &'a str,
}

/// The claims of the response's ID token, if it has one. A token that does
/// not decode is an error rather than a panic or a silently claim-less
/// account: the account's identity comes from it.
pub(crate) fn id_token_claims(response: &TokenResponse) -> Result<Option<IdTokenClaims>> {
    let Some(id_token) = &response.id_token else {
        return Ok(None);
    };
    oauth2::decode_jwt_payload(id_token.expose())
        .map(|claims| Some(IdTokenClaims::new(claims)))
        .ok_or_else(|| Error::InvalidIdToken("it is not a JWT with a JSON object payload".into()))
}

/// Caches what `response` carries and returns the result.
pub(crate) fn save(
    issued: &Issued<'_>,
    response: TokenResponse,
    claims: Option<IdTokenClaims>,
) -> Result<AuthenticationResult> {
    save_as(issued, response, claims, false, None, None)
}

/// [`save`], adding `tags` to the access and refresh token entries.
pub(crate) fn save_tagged(
    issued: &Issued<'_>,
    response: TokenResponse,
    claims: Option<IdTokenClaims>,
    tags: &EntryTags,
) -> Result<AuthenticationResult> {
    save_as(issued, response, claims, false, None, Some(tags))
}

/// [`save`] for a refresh token from outside the cache
/// (`acquire_token_by_refresh_token`): unlike a silent refresh, it writes
/// the account, since the cache has never seen this user, as MSAL Python's
/// migration path does.
pub(crate) fn save_establishing_account(
    issued: &Issued<'_>,
    response: TokenResponse,
    claims: Option<IdTokenClaims>,
) -> Result<AuthenticationResult> {
    save_as(issued, response, claims, true, None, None)
}

/// [`save`], with the username the caller signed in with as the account's
/// username when the ID token names none, as MSAL Python falls back to the
/// username of a username/password sign-in; adding `tags` (an SSH
/// certificate's key id) to the access and refresh token entries.
pub(crate) fn save_with_username_tagged(
    issued: &Issued<'_>,
    response: TokenResponse,
    claims: Option<IdTokenClaims>,
    username_hint: Option<&str>,
    tags: Option<&EntryTags>,
) -> Result<AuthenticationResult> {
    save_as(issued, response, claims, false, username_hint, tags)
}

fn save_as(
    issued: &Issued<'_>,
    response: TokenResponse,
    claims: Option<IdTokenClaims>,
    establish_account: bool,
    username_hint: Option<&str>,
    tags: Option<&EntryTags>,
) -> Result<AuthenticationResult> {
    let Issued {
        core,
        metadata,
        requested,
        grant_type,
        correlation_id,
    } = issued;
    let Some(access_token) = response.access_token.clone() else {
        return Err(Error::InvalidResponse {
            endpoint: metadata.token_endpoint.to_string(),
            status: 200,
            reason: "the token response has no access_token".into(),
        });
    };

    let now = now_epoch();
    let environment = metadata.environment.clone();
    // MSAL Python's realm is the tenant segment of the token endpoint (the
    // tenant id for a tenant authority, `common` for `common`), so caches
    // written here and there find each other's entries.
    let realm = metadata.realm.clone();
    let expires_in = response
        .expires_in
        .or_else(|| response.expires_on.map(|on| on.saturating_sub(now)))
        .unwrap_or(DEFAULT_EXPIRES_IN);
    let ext_expires_in = response.ext_expires_in.unwrap_or(expires_in);
    // The cache target is what the IdP granted when it says so, else what was asked.
    let granted: Vec<String> = match &response.scope {
        Some(scope) if !scope.trim().is_empty() => scope.split_whitespace().map(str::to_owned).collect(),
        _ => requested.to_vec(),
    };
    let target = cache::target(&granted);
    let token_type: Str = response.token_type.as_deref().unwrap_or("Bearer").into();

    // uid.utid from client_info; else the ID token's subject (AD FS sends no
    // client_info); else no account at all (app-only tokens).
    let from_client_info = response.client_info.as_deref().and_then(|info| {
        let decoded = oauth2::decode_client_info(info);
        if decoded.is_none() {
            tracing::warn!("the token response's client_info does not decode; using the ID token's subject");
        }
        decoded
    });
    let home_account_id = match from_client_info {
        Some((uid, utid)) => Some(format!("{uid}.{utid}")),
        None => claims.as_ref().and_then(|c| c.subject()).map(str::to_owned),
    };

    // Shared by the entries of this response: one allocation per value.
    let shared_hid: Option<Str> = home_account_id.as_deref().map(Str::from);
    let shared_environment = Str::from(environment.as_str());
    let shared_realm = Str::from(realm.as_str());
    let shared_client = Str::from(core.client_id.as_str());
    let shared_target = Str::from(target.as_str());
    let shared_family: Option<Str> = response.foci.as_deref().map(Str::from);

    let account = shared_hid.as_ref().map(|hid| AccountEntry {
        home_account_id: Some(hid.clone()),
        environment: shared_environment.clone(),
        realm: shared_realm.clone(),
        local_account_id: claims
            .as_ref()
            .and_then(|c| c.object_id().or_else(|| c.subject()))
            .map(Str::from),
        username: claims
            .as_ref()
            .and_then(|c| c.preferred_username().or_else(|| c.get_str("upn")))
            .or(username_hint)
            .unwrap_or_default()
            .into(),
        authority_type: if realm.eq_ignore_ascii_case("adfs") {
            AUTHORITY_TYPE_ADFS
        } else {
            AUTHORITY_TYPE_MSSTS
        }
        .into(),
        account_source: ACCOUNT_SOURCES.contains(grant_type).then(|| (*grant_type).into()),
        extra: Default::default(),
    });

    // Like MSAL Python (`skip_account_creation`), a refresh does not write the
    // account: a concurrent remove_account wins over a refresh in flight, and
    // the entry keeps the grant that established it (`account_source`).
    let refresh = *grant_type == "refresh_token" && !establish_account;
    let account = match (&account, refresh) {
        (Some(built), true) => core
            .cache
            .accounts_of(
                built.home_account_id.as_deref().unwrap_or_default(),
                std::slice::from_ref(&environment),
            )
            .into_iter()
            .find(|cached| cached.realm.eq_ignore_ascii_case(&realm))
            .or(account),
        _ => account,
    };

    let write = CacheWrite {
        access_token: Some(AccessTokenEntry {
            credential_type: "AccessToken".into(),
            secret: access_token.clone(),
            home_account_id: shared_hid.clone(),
            environment: shared_environment.clone(),
            client_id: shared_client.clone(),
            target: shared_target.clone(),
            realm: shared_realm.clone(),
            token_type: Some(token_type.clone()),
            cached_at: now,
            expires_on: epoch_after(now, expires_in),
            extended_expires_on: Some(epoch_after(now, ext_expires_in)),
            refresh_on: response.refresh_in.map(|r| epoch_after(now, r)),
            extra: tags.map(|t| t.access_token.clone().into()).unwrap_or_default(),
        }),
        id_token: response.id_token.as_ref().map(|id_token| IdTokenEntry {
            credential_type: "IdToken".into(),
            secret: id_token.clone(),
            home_account_id: shared_hid.clone(),
            environment: shared_environment.clone(),
            realm: shared_realm.clone(),
            client_id: shared_client.clone(),
            extra: Default::default(),
        }),
        refresh_token: response
            .refresh_token
            .as_ref()
            .map(|refresh_token| RefreshTokenEntry {
                credential_type: "RefreshToken".into(),
                secret: refresh_token.clone(),
                home_account_id: shared_hid.clone(),
                environment: shared_environment.clone(),
                client_id: shared_client.clone(),
                target: Some(shared_target.clone()),
                last_modification_time: Some(now),
                family_id: shared_family.clone(),
                extra: tags.map(|t| t.refresh_token.clone().into()).unwrap_or_default(),
            }),
        account: if refresh { None } else { account.clone() },
        app_metadata: AppMetadataEntry {
            client_id: shared_client,
            environment: shared_environment,
            family_id: shared_family,
            extra: Default::default(),
        },
    };
    core.cache.add(write);
    tracing::debug!(
        client_id = %core.client_id,
        correlation_id = %correlation_id,
        grant_type = %grant_type,
        token_source = "identity_provider",
        "tokens from the identity provider cached"
    );

    Ok(AuthenticationResult {
        access_token: AccessToken::shared(&access_token),
        token_type: SharedStr::from(token_type),
        expires_on: from_epoch(epoch_after(now, expires_in)),
        extended_expires_on: Some(from_epoch(epoch_after(now, ext_expires_in))),
        refresh_on: response.refresh_in.map(|r| from_epoch(epoch_after(now, r))),
        scopes: granted,
        token_source: TokenSource::IdentityProvider,
        // The tenant that issued the token, even when the authority was `common`.
        tenant_id: Some(
            claims
                .as_ref()
                .and_then(|c| c.tenant_id())
                .map_or(realm, str::to_owned)
                .into(),
        ),
        correlation_id: Some((*correlation_id).to_owned()),
        id_token: response.id_token.as_ref().map(IdToken::shared),
        id_token_claims: claims,
        account: account.and_then(|e| e.to_account()),
    })
}
