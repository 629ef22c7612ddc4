//! The client credentials grant: an application's own token, cache first.

use crate::app::ClientCore;
use crate::cache::{self, AccessTokenEntry, AccessTokenQuery};
use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::oauth2::{self, Form};
use crate::result::{AuthenticationResult, TokenSource};
use crate::secret::AccessToken;
use crate::telemetry::{ApiId, RefreshReason};
use crate::time::{from_epoch, now_epoch};

/// Lifetime assumed when the identity provider omits `expires_in` (RFC 6749 allows it; MSAL uses 600 s).
const DEFAULT_EXPIRES_IN: u64 = 600;

/// Options of [`acquire_token_for_client_with`](crate::ConfidentialClientApplication::acquire_token_for_client_with).
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct ClientCredentialsOptions {
    /// Skip the cache and ask the identity provider.
    pub force_refresh: bool,
}

impl ClientCredentialsOptions {
    /// Sets [`force_refresh`](Self::force_refresh).
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }
}

pub(crate) async fn acquire<I, S>(
    core: &ClientCore,
    credential: &ClientCredential,
    scopes: I,
    options: &ClientCredentialsOptions,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let scopes = super::normalize_scopes(scopes)?;
    let correlation_id = uuid::Uuid::new_v4().to_string();
    if options.force_refresh {
        return request(
            core,
            credential,
            &scopes,
            &correlation_id,
            RefreshReason::ForceRefresh,
        )
        .await;
    }

    // Look in the cache before any discovery when the realm is known offline,
    // so a warm cache (even one written by another MSAL) costs no request.
    let now = now_epoch();
    let mut cached = None;
    let offline = core.offline_cache_location();
    if let Some((environment, realm)) = &offline {
        cached = lookup(core, environment, realm, &scopes, now);
    }
    if cached.is_none() {
        let metadata = core.metadata(&correlation_id).await?;
        let location = (metadata.environment.clone(), metadata.realm.clone());
        if offline.as_ref() != Some(&location) {
            cached = lookup(core, &location.0, &location.1, &scopes, now);
        }
    }

    match cached {
        Some(entry) if entry.refresh_on.is_none_or(|refresh_on| refresh_on > now) => {
            core.telemetry.cache_hit();
            tracing::debug!(client_id = %core.client_id, "access token served from the cache");
            Ok(from_cache(entry))
        }
        // Past refresh_on: refresh now, but keep the still-valid token as a fallback.
        Some(entry) => {
            match shared_request(
                core,
                credential,
                &scopes,
                &correlation_id,
                RefreshReason::AccessTokenAging,
            )
            .await
            {
                Ok(fresh) => Ok(fresh),
                Err(Error::Service(_) | Error::Transport(_)) => Ok(from_cache(entry)),
                Err(other) => Err(other),
            }
        }
        None => {
            shared_request(
                core,
                credential,
                &scopes,
                &correlation_id,
                RefreshReason::AccessTokenAbsent,
            )
            .await
        }
    }
}

/// One request per token at a time: callers that arrive while it is in
/// flight wait for it and share its result instead of stampeding the IdP.
async fn shared_request(
    core: &ClientCore,
    credential: &ClientCredential,
    scopes: &[String],
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    let metadata = core.metadata(correlation_id).await?;
    let key = format!(
        "{}|{}|{}",
        metadata.environment,
        metadata.realm,
        cache::target(scopes)
    );
    core.flights
        .run(&key, || async {
            // A flight that just landed may have filled the cache.
            if reason == RefreshReason::AccessTokenAbsent
                && let Some(entry) = lookup(core, &metadata.environment, &metadata.realm, scopes, now_epoch())
            {
                return Ok(from_cache(entry));
            }
            request(core, credential, scopes, correlation_id, reason).await
        })
        .await
}

fn lookup(
    core: &ClientCore,
    environment: &str,
    realm: &str,
    scopes: &[String],
    now: u64,
) -> Option<AccessTokenEntry> {
    let query = AccessTokenQuery {
        home_account_id: None,
        environment,
        client_id: &core.client_id,
        realm,
    };
    core.cache.find_access_token(&query, scopes, now)
}

async fn request(
    core: &ClientCore,
    credential: &ClientCredential,
    scopes: &[String],
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    let metadata = core.metadata(correlation_id).await?;
    let api = ApiId::AcquireTokenForClient;
    let mut headers = oauth2::library_headers(correlation_id);
    headers.extend(core.telemetry.headers(api, reason));
    let form = Form::new()
        .add("client_id", &core.client_id)
        .add("grant_type", "client_credentials")
        .add("scope", &cache::target(scopes))
        .add("client_info", "1");
    let form = credential.apply(form);
    tracing::debug!(client_id = %core.client_id, endpoint = %metadata.token_endpoint, "requesting an app token");
    let response =
        oauth2::post_token_request(core.http.as_ref(), &metadata.token_endpoint, form, headers).await;
    let response = match response {
        Ok(r) => {
            core.telemetry.record(api, correlation_id, None);
            r
        }
        Err(e) => {
            if let Error::Service(service) = &e {
                core.telemetry.record(api, correlation_id, Some(&service.error));
            }
            return Err(e);
        }
    };
    let Some(access_token) = response.access_token.as_ref() else {
        return Err(Error::InvalidResponse {
            endpoint: metadata.token_endpoint.to_string(),
            status: 200,
            reason: "the token response has no access_token".into(),
        });
    };

    let now = now_epoch();
    let expires_in = response
        .expires_in
        .or_else(|| response.expires_on.map(|on| on.saturating_sub(now)))
        .unwrap_or(DEFAULT_EXPIRES_IN);
    let ext_expires_in = response.ext_expires_in.unwrap_or(expires_in);
    // The cache target is what the IdP granted when it says so, else what was asked.
    let granted: Vec<String> = match &response.scope {
        Some(scope) if !scope.trim().is_empty() => scope.split_whitespace().map(str::to_owned).collect(),
        _ => scopes.to_vec(),
    };
    let token_type = response.token_type.clone().unwrap_or_else(|| "Bearer".to_owned());
    let entry = AccessTokenEntry {
        credential_type: "AccessToken".to_owned(),
        secret: access_token.clone(),
        home_account_id: None,
        environment: metadata.environment.clone(),
        client_id: core.client_id.clone(),
        target: cache::target(&granted),
        realm: metadata.realm.clone(),
        token_type: Some(token_type.clone()),
        cached_at: now,
        expires_on: now + expires_in,
        extended_expires_on: Some(now + ext_expires_in),
        refresh_on: response.refresh_in.map(|r| now + r),
        extra: Default::default(),
    };
    core.cache.add_access_token(entry);
    Ok(AuthenticationResult {
        access_token: AccessToken::new(access_token.expose()),
        token_type,
        expires_on: from_epoch(now + expires_in),
        extended_expires_on: Some(from_epoch(now + ext_expires_in)),
        refresh_on: response.refresh_in.map(|r| from_epoch(now + r)),
        scopes: granted,
        token_source: TokenSource::IdentityProvider,
        tenant_id: Some(metadata.realm.clone()),
        correlation_id: Some(correlation_id.to_owned()),
    })
}

fn from_cache(entry: AccessTokenEntry) -> AuthenticationResult {
    AuthenticationResult {
        access_token: AccessToken::new(entry.secret.expose()),
        token_type: entry.token_type.unwrap_or_else(|| "Bearer".to_owned()),
        expires_on: from_epoch(entry.expires_on),
        extended_expires_on: entry.extended_expires_on.map(from_epoch),
        refresh_on: entry.refresh_on.map(from_epoch),
        scopes: entry.target.split_whitespace().map(str::to_owned).collect(),
        token_source: TokenSource::Cache,
        tenant_id: Some(entry.realm),
        correlation_id: None,
    }
}
