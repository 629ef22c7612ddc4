//! The client credentials grant: an application's own token, cache first.

use crate::app::ClientCore;
use crate::cache::{self, AccessTokenEntry, AccessTokenQuery, PartitionQuery};
use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::oauth2::{self, Form};
use crate::region;
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
    /// A federated managed identity (FMI) credential path, sent as
    /// `fmi_path`. Tokens of different paths are cached apart (under MSAL
    /// Python's extended cache key), and apart from tokens without one.
    pub fmi_path: Option<String>,
}

impl ClientCredentialsOptions {
    /// Sets [`force_refresh`](Self::force_refresh).
    pub fn force_refresh(mut self, force: bool) -> Self {
        self.force_refresh = force;
        self
    }

    /// Sets [`fmi_path`](Self::fmi_path).
    pub fn fmi_path(mut self, path: impl Into<String>) -> Self {
        self.fmi_path = Some(path.into());
        self
    }
}

/// What shapes an app token beyond its scopes: the extra request fields and
/// their extended cache key (empty when there are none).
struct Shape<'a> {
    fmi_path: Option<&'a str>,
    ext_key: String,
}

impl<'a> Shape<'a> {
    fn of(options: &'a ClientCredentialsOptions) -> Result<Self> {
        let fmi_path = match options.fmi_path.as_deref().map(str::trim) {
            Some("") => return Err(Error::InvalidArgument("the fmi_path is empty".into())),
            other => other,
        };
        let ext_key = cache::ext_cache_key(&[("fmi_path", fmi_path.unwrap_or_default())]);
        Ok(Shape { fmi_path, ext_key })
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
    let shape = Shape::of(options)?;
    let shape = &shape;
    let correlation_id = uuid::Uuid::new_v4().to_string();
    if options.force_refresh {
        return request(
            core,
            credential,
            &scopes,
            shape,
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
        cached = lookup(core, environment, realm, &scopes, shape, now);
    }
    if cached.is_none() {
        let metadata = core.metadata(&correlation_id).await?;
        let location = (metadata.environment.clone(), metadata.realm.clone());
        if offline.as_ref() != Some(&location) {
            cached = lookup(core, &location.0, &location.1, &scopes, shape, now);
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
                shape,
                &correlation_id,
                RefreshReason::AccessTokenAging,
            )
            .await
            {
                Ok(fresh) => Ok(fresh),
                Err(Error::Service(_) | Error::Transport(_) | Error::Throttled { .. }) => {
                    Ok(from_cache(entry))
                }
                Err(other) => Err(other),
            }
        }
        None => {
            shared_request(
                core,
                credential,
                &scopes,
                shape,
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
    shape: &Shape<'_>,
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    let metadata = core.metadata(correlation_id).await?;
    let key = format!(
        "{}|{}|{}|{}",
        metadata.environment,
        metadata.realm,
        cache::target(scopes),
        shape.ext_key
    );
    core.flights
        .run(&key, || async {
            // A flight that just landed may have filled the cache.
            if reason == RefreshReason::AccessTokenAbsent
                && let Some(entry) = lookup(
                    core,
                    &metadata.environment,
                    &metadata.realm,
                    scopes,
                    shape,
                    now_epoch(),
                )
            {
                return Ok(from_cache(entry));
            }
            request(core, credential, scopes, shape, correlation_id, reason).await
        })
        .await
}

fn lookup(
    core: &ClientCore,
    environment: &str,
    realm: &str,
    scopes: &[String],
    shape: &Shape<'_>,
    now: u64,
) -> Option<AccessTokenEntry> {
    if !shape.ext_key.is_empty() {
        let environments = [environment.to_owned()];
        let query = PartitionQuery {
            client_id: &core.client_id,
            environments: &environments,
            realm,
        };
        return core
            .cache
            .find_extended_access_token(&query, &shape.ext_key, scopes, now);
    }
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
    shape: &Shape<'_>,
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    let metadata = core.metadata(correlation_id).await?;
    let api = ApiId::AcquireTokenForClient;
    let mut headers = oauth2::library_headers(correlation_id);
    headers.extend(core.telemetry.headers(api, reason));
    // The regional host, when the application uses a region; tokens are
    // still cached under the global environment (metadata.environment), as
    // MSAL Python does, so regional and global tokens are one cache.
    let regional = match core.region.region(core.http.as_ref()).await {
        Some(region) => region::regional_endpoint(&core.authority, &metadata.token_endpoint, &region.name)
            .map(|endpoint| (region, endpoint)),
        None => None,
    };
    let mut response = None;
    if let Some((region, endpoint)) = &regional {
        tracing::debug!(client_id = %core.client_id, region = %region.name, source = ?region.source, %endpoint, "requesting an app token from the region");
        match send(core, credential, scopes, shape, endpoint, headers.clone()).await {
            Err(e) if region::is_regional_outage(&e) => {
                // A regional outage must not stop the application: this
                // request goes to the global host instead.
                tracing::warn!(region = %region.name, error = %e, "the regional token endpoint failed; falling back to the global one");
            }
            other => response = Some(other),
        }
    }
    let response = match response {
        Some(response) => response,
        None => {
            tracing::debug!(client_id = %core.client_id, endpoint = %metadata.token_endpoint, "requesting an app token");
            send(core, credential, scopes, shape, &metadata.token_endpoint, headers).await
        }
    };
    let response = match response {
        Ok(r) => {
            core.telemetry.record(api, correlation_id, None);
            r
        }
        Err(e) => {
            core.telemetry.record_error(api, correlation_id, &e);
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
    if shape.ext_key.is_empty() {
        return tokens::save(&issued, response, None);
    }
    let mut tags = tokens::EntryTags::default();
    tags.access_token.insert(
        cache::EXT_CACHE_KEY.to_owned(),
        serde_json::Value::String(shape.ext_key.clone()),
    );
    tokens::save_tagged(&issued, response, None, &tags)
}

/// One client credentials request to `endpoint`.
async fn send(
    core: &ClientCore,
    credential: &ClientCredential,
    scopes: &[String],
    shape: &Shape<'_>,
    endpoint: &url::Url,
    headers: Vec<(String, String)>,
) -> Result<oauth2::TokenResponse> {
    let form = Form::new()
        .add("client_id", &core.client_id)
        .add("grant_type", "client_credentials")
        .add("scope", &cache::target(scopes))
        .add("client_info", "1");
    let form = match shape.fmi_path {
        Some(path) => form.add("fmi_path", path),
        None => form,
    };
    let form = match oauth2::merge_claims(&core.client_capabilities, None)? {
        Some(claims) => form.add("claims", &claims),
        None => form,
    };
    // The assertion (if any) names the endpoint it is sent to as its audience.
    let form = credential.apply(form, &core.client_id, endpoint.as_str()).await?;
    oauth2::post_token_request(core.http.as_ref(), endpoint, form, headers).await
}

fn from_cache(entry: AccessTokenEntry) -> AuthenticationResult {
    AuthenticationResult {
        access_token: AccessToken::new(entry.secret.expose()),
        token_type: entry.token_type.as_deref().unwrap_or("Bearer").to_owned(),
        expires_on: from_epoch(entry.expires_on),
        extended_expires_on: entry.extended_expires_on.map(from_epoch),
        refresh_on: entry.refresh_on.map(from_epoch),
        scopes: entry.target.split_whitespace().map(str::to_owned).collect(),
        token_source: TokenSource::Cache,
        tenant_id: Some(entry.realm.to_string()),
        correlation_id: None,
        id_token: None,
        id_token_claims: None,
        account: None,
    }
}
