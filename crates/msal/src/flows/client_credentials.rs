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

use super::tokens::{self, Issued};

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
    let form = match oauth2::merge_claims(&core.client_capabilities, None)? {
        Some(claims) => form.add("claims", &claims),
        None => form,
    };
    let form = credential
        .apply(form, &core.client_id, metadata.token_endpoint.as_str())
        .await?;
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
    let issued = Issued {
        core,
        metadata,
        requested: scopes,
        grant_type: "client_credentials",
        correlation_id,
    };
    // App tokens carry no ID token to decode or validate.
    tokens::save(&issued, response, None)
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
        id_token: None,
        id_token_claims: None,
        account: None,
    }
}
