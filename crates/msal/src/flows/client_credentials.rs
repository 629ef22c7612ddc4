//! The client credentials grant: an application's own token, cache first.

use std::borrow::Cow;

use crate::cache::{self, AccessTokenEntry, AccessTokenQuery, CachedAccessToken};
use crate::core::{AppCore, Grant, TokenShape, save};
use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::mtls::{self, MtlsPop};
use crate::pop::PopKey;
use crate::region;
use crate::result::AuthenticationResult;
use crate::telemetry::{ApiId, RefreshReason};
use crate::time::now_epoch;

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
    /// A claims challenge from a resource (the `claims` of its
    /// `WWW-Authenticate` header, as JSON), as MSAL Python's
    /// `acquire_token_for_client(claims_challenge=...)`: the cache is
    /// skipped and the challenge sent (merged with the client's capabilities).
    pub claims_challenge: Option<String>,
    /// The tenant to ask instead of the application's own (a tenant id or
    /// domain): a multi-tenant application uses one object for many
    /// tenants, each tenant's tokens cached under its own realm. Entra ID
    /// and External ID authorities only.
    pub tenant: Option<String>,
    /// Ask for a signed-request proof-of-possession token bound to this key
    /// (`token_type=pop` with `req_cnf`) instead of a bearer token. PoP
    /// tokens are cached apart from bearer tokens, by key; present one with
    /// [`pop_header`](crate::pop::pop_header).
    pub pop: Option<PopKey>,
    /// Ask for an mTLS proof-of-possession token (`token_type=mtls_pop`)
    /// over mutual TLS, presenting the application's certificate (a
    /// [`ClientCertificate`](crate::ClientCertificate) credential is
    /// required), instead of a bearer token. Such tokens are cached apart,
    /// under the certificate's `x5t#S256`; present one with
    /// [`MtlsPop::client`] and [`mtls::authorization_value`]. Excludes
    /// [`pop`](Self::pop).
    pub mtls_pop: Option<MtlsPop>,
}

/// The options of a call without any, for the hot path (no value built per call).
pub(crate) static DEFAULT_OPTIONS: ClientCredentialsOptions = ClientCredentialsOptions {
    force_refresh: false,
    fmi_path: None,
    claims_challenge: None,
    tenant: None,
    pop: None,
    mtls_pop: None,
};

impl ClientCredentialsOptions {
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

    /// Sets [`pop`](Self::pop).
    pub fn pop(mut self, key: PopKey) -> Self {
        self.pop = Some(key);
        self
    }

    /// Sets [`mtls_pop`](Self::mtls_pop).
    pub fn mtls_pop(mut self, settings: MtlsPop) -> Self {
        self.mtls_pop = Some(settings);
        self
    }

    /// Sets [`fmi_path`](Self::fmi_path).
    pub fn fmi_path(mut self, path: impl Into<String>) -> Self {
        self.fmi_path = Some(path.into());
        self
    }
}

/// The shape of an app token: its `fmi_path`, and the PoP key or mTLS
/// certificate it is bound to, if any.
fn shape_of(options: &ClientCredentialsOptions, credential: &ClientCredential) -> Result<TokenShape> {
    if options.fmi_path.is_none() && options.pop.is_none() && options.mtls_pop.is_none() {
        // A plain bearer token, nearly every call.
        return Ok(TokenShape::default());
    }
    let certificate = match (&options.mtls_pop, credential) {
        (None, _) => None,
        (Some(_), _) if options.pop.is_some() => {
            return Err(Error::InvalidArgument(
                "a token is bound either to a PoP key or to the mTLS certificate, not both".into(),
            ));
        }
        (Some(_), ClientCredential::Certificate(c)) => Some(c.x5t_s256().ok_or_else(mtls::no_certificate)?),
        (Some(_), _) => return Err(mtls::no_certificate()),
    };
    Ok(TokenShape::new(&[("fmi_path", options.fmi_path.as_deref())])?
        .pop(options.pop.as_ref())
        .mtls(certificate.as_deref()))
}

pub(crate) async fn acquire<I, S>(
    core: &AppCore,
    credential: &ClientCredential,
    scopes: I,
    options: &ClientCredentialsOptions,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    // A cache hit is answered synchronously, so its state stays off this
    // future. The network path's future is large (discovery, regional
    // fallback, the request): it is built, boxed, only on a miss, so a hit
    // neither initialises nor moves it.
    let miss = match look_up(core, credential, scopes, options)? {
        Lookup::Hit(result) => return Ok(result),
        Lookup::Miss(miss) => miss,
    };
    Box::pin(resolve(core, credential, miss)).await
}

#[expect(
    clippy::large_enum_variant,
    reason = "a hit is returned as is; boxing it would cost every hit an allocation"
)]
enum Lookup<'a> {
    Hit(AuthenticationResult),
    /// Boxed: a hit's return value should not be the size of a cache entry.
    Miss(Box<Miss<'a>>),
}

/// What a call that the offline cache lookup could not answer carries on with.
struct Miss<'a> {
    scopes: Vec<String>,
    shape: TokenShape,
    force: bool,
    /// A claims challenge to send (forces a request).
    claims_challenge: Option<&'a str>,
    /// The location the offline lookup looked in, if any.
    offline: Option<(Cow<'a, str>, Cow<'a, str>)>,
    /// What it found: a token past its `refresh_on`, or none.
    cached: Option<CachedAccessToken>,
    now: u64,
    /// The mTLS settings of an mTLS PoP request.
    mtls: Option<&'a MtlsPop>,
}

/// Checks the arguments and answers from the cache when it can, without
/// discovery when the realm is known offline, so a warm cache (even one
/// written by another MSAL) costs no request.
fn look_up<'a, I, S>(
    core: &'a AppCore,
    credential: &ClientCredential,
    scopes: I,
    options: &'a ClientCredentialsOptions,
) -> Result<Lookup<'a>>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let scopes = super::normalize_scopes(scopes)?;
    let shape = shape_of(options, credential)?;
    let challenge = options
        .claims_challenge
        .as_deref()
        .filter(|c| !c.trim().is_empty());
    let now = now_epoch();
    let mut miss = Miss {
        scopes,
        shape,
        force: options.force_refresh || challenge.is_some(),
        claims_challenge: challenge,
        offline: None,
        cached: None,
        now,
        mtls: options.mtls_pop.as_ref(),
    };
    if miss.force {
        return Ok(Lookup::Miss(Box::new(miss)));
    }
    miss.offline = core.offline_cache_location();
    if let Some((environment, realm)) = &miss.offline {
        match lookup(core, environment, realm, &miss.scopes, &miss.shape, now) {
            Some(entry) if fresh(&entry, now) => {
                let scopes = std::mem::take(&mut miss.scopes);
                return Ok(Lookup::Hit(hit(core, entry, Some(scopes))));
            }
            cached => miss.cached = cached,
        }
    }
    Ok(Lookup::Miss(Box::new(miss)))
}

/// Whether a cached token is before its `refresh_on` (if any): served as is.
fn fresh(entry: &AccessTokenEntry, now: u64) -> bool {
    entry.refresh_on.is_none_or(|refresh_on| refresh_on > now)
}

/// A token served from the cache, counted for the telemetry. Inlined, as
/// the two below: the result is built where it is returned, not copied
/// from frame to frame (it is a few hundred bytes, and this is every hit).
#[inline(always)]
fn hit(core: &AppCore, entry: CachedAccessToken, requested: Option<Vec<String>>) -> AuthenticationResult {
    core.telemetry.cache_hit();
    tracing::debug!(client_id = %core.client_id, token_source = "cache", "access token served from the cache");
    from_cache(entry, requested)
}

/// The rest of [`acquire`] when the offline lookup did not answer: forced,
/// or discovery, the cache at the discovered location, and the request.
async fn resolve(
    core: &AppCore,
    credential: &ClientCredential,
    miss: Box<Miss<'_>>,
) -> Result<AuthenticationResult> {
    let Miss {
        scopes,
        shape,
        force,
        claims_challenge,
        offline,
        mut cached,
        now,
        mtls,
    } = *miss;
    let (scopes, shape) = (scopes.as_slice(), &shape);
    let correlation_id = super::new_correlation_id();
    if force {
        return request(
            core,
            (credential, mtls),
            scopes,
            shape,
            claims_challenge,
            &correlation_id,
            RefreshReason::ForceRefresh,
        )
        .await;
    }
    if cached.is_none() {
        let metadata = core.metadata(&correlation_id).await?;
        if offline.as_ref().is_none_or(|(environment, realm)| {
            *environment != metadata.environment || *realm != metadata.realm
        }) {
            cached = lookup(core, &metadata.environment, &metadata.realm, scopes, shape, now);
        }
    }

    match cached {
        Some(entry) if fresh(&entry, now) => Ok(hit(core, entry, None)),
        // Past refresh_on: refresh now, but keep the still-valid token as a fallback.
        Some(entry) => {
            match shared_request(
                core,
                (credential, mtls),
                scopes,
                shape,
                &correlation_id,
                RefreshReason::AccessTokenAging,
            )
            .await
            {
                Ok(fresh) => Ok(fresh),
                Err(Error::Service(_) | Error::Transport(_) | Error::Throttled { .. }) => {
                    Ok(from_cache(entry, None))
                }
                Err(other) => Err(other),
            }
        }
        None => {
            shared_request(
                core,
                (credential, mtls),
                scopes,
                shape,
                &correlation_id,
                RefreshReason::AccessTokenAbsent,
            )
            .await
        }
    }
}

/// Renews the token for `scopes` ahead of time (background refresh): a
/// request whatever the cache holds, through the same single-flight as
/// callers, so one that misses the cache meanwhile shares it.
pub(crate) async fn renew(
    core: &AppCore,
    credential: &ClientCredential,
    scopes: &[String],
    options: &ClientCredentialsOptions,
) -> Result<AuthenticationResult> {
    let scopes = super::normalize_scopes(scopes)?;
    let shape = shape_of(options, credential)?;
    let correlation_id = super::new_correlation_id();
    shared_request(
        core,
        (credential, options.mtls_pop.as_ref()),
        &scopes,
        &shape,
        &correlation_id,
        RefreshReason::AccessTokenAging,
    )
    .await
}

/// One request per token at a time: callers that arrive while it is in
/// flight wait for it and share its result instead of stampeding the IdP.
async fn shared_request(
    core: &AppCore,
    credential: (&ClientCredential, Option<&MtlsPop>),
    scopes: &[String],
    shape: &TokenShape,
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    let metadata = core.metadata(correlation_id).await?;
    let key = format!(
        "{}|{}|{}|{}",
        metadata.environment,
        metadata.realm,
        cache::target(scopes),
        shape.ext_key()
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
                return Ok(from_cache(entry, None));
            }
            request(core, credential, scopes, shape, None, correlation_id, reason).await
        })
        .await
}

/// The cached token for `scopes` at `environment` and `realm`, else at an
/// alias of the environment (an application configured with
/// `login.windows.net` finds what one on `login.microsoftonline.com` cached).
fn lookup(
    core: &AppCore,
    environment: &str,
    realm: &str,
    scopes: &[String],
    shape: &TokenShape,
    now: u64,
) -> Option<CachedAccessToken> {
    if let Some(found) = lookup_at(core, environment, realm, scopes, shape, now) {
        return Some(found);
    }
    // Only on a miss: the alias list is built for it.
    core.environments_of(environment, &[])
        .iter()
        .skip(1)
        .find_map(|alias| lookup_at(core, alias, realm, scopes, shape, now))
}

fn lookup_at(
    core: &AppCore,
    environment: &str,
    realm: &str,
    scopes: &[String],
    shape: &TokenShape,
    now: u64,
) -> Option<CachedAccessToken> {
    let query = AccessTokenQuery {
        home_account_id: None,
        environment,
        client_id: &core.client_id,
        realm,
    };
    shape.find_access_token(&core.cache, &query, scopes, now)
}

/// Sends the token request (over mutual TLS for an mTLS PoP token, the
/// second member of `credential`) and caches the answer.
async fn request(
    core: &AppCore,
    (credential, mtls): (&ClientCredential, Option<&MtlsPop>),
    scopes: &[String],
    shape: &TokenShape,
    claims_challenge: Option<&str>,
    correlation_id: &str,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    let metadata = core.metadata(correlation_id).await?;
    let call = core.call(ApiId::AcquireTokenForClient, correlation_id, metadata);
    let claims = core.claims(claims_challenge)?;
    if let Some(mtls) = mtls {
        let to = (&call, &metadata.token_endpoint);
        return request_mtls(
            core,
            to,
            (credential, mtls),
            scopes,
            shape,
            claims.as_deref(),
            reason,
        )
        .await;
    }
    let grant = || {
        Grant::new("client_credentials", scopes)
            .shape(shape)
            .claims(claims.as_deref())
            .credential(Some(credential))
            .reason(reason)
    };
    // The regional host, when the application uses a region; tokens are
    // still cached under the global environment (metadata.environment), as
    // MSAL Python does, so regional and global tokens are one cache.
    let regional = match core.authority.region.region(&core.pipeline).await {
        Some(region) => region::regional_endpoint(core.authority(), &metadata.token_endpoint, &region.name)
            .map(|endpoint| (region, endpoint)),
        None => None,
    };
    let mut response = None;
    if let Some((region, endpoint)) = &regional {
        tracing::debug!(client_id = %core.client_id, region = %region.name, source = ?region.source, %endpoint, "requesting an app token from the region");
        match call.token(grant().endpoint(endpoint)).await {
            Err(e) if region::is_regional_outage(&e) => {
                // A regional outage must not stop the application: this
                // request goes to the global host instead.
                tracing::warn!(region = %region.name, error = %e, "the regional token endpoint failed; falling back to the global one");
            }
            other => response = Some(other),
        }
    }
    let response = match response {
        Some(response) => response?,
        None => {
            tracing::debug!(client_id = %core.client_id, endpoint = %metadata.token_endpoint, "requesting an app token");
            call.token(grant()).await?
        }
    };
    shape.check_response(&response)?;
    let issued = call.issued(scopes, "client_credentials");
    // App tokens carry no ID token to decode or validate.
    save::save_tagged(&issued, response, None, &shape.tags())
}

/// The mTLS PoP request: to the mTLS endpoint (regional, or the
/// configured one), over a transport presenting the certificate, which
/// authenticates the client (no assertion is sent).
async fn request_mtls(
    core: &AppCore,
    (call, token_endpoint): (&crate::core::Call<'_>, &url::Url),
    (credential, mtls): (&ClientCredential, &MtlsPop),
    scopes: &[String],
    shape: &TokenShape,
    claims: Option<&str>,
    reason: RefreshReason,
) -> Result<AuthenticationResult> {
    let ClientCredential::Certificate(certificate) = credential else {
        return Err(mtls::no_certificate());
    };
    let region = core.authority.region.region(&core.pipeline).await;
    let endpoint = mtls.endpoint(region.map(|r| r.name.as_str()), token_endpoint)?;
    let transport = mtls.transport(certificate)?;
    tracing::debug!(client_id = %core.client_id, %endpoint, "requesting an mTLS PoP app token");
    let grant = Grant::new("client_credentials", scopes)
        .shape(shape)
        .claims(claims)
        .reason(reason)
        .endpoint(&endpoint)
        .via(transport);
    let response = call.token(grant).await?;
    shape.check_response(&response)?;
    let issued = call.issued(scopes, "client_credentials");
    save::save_tagged(&issued, response, None, &shape.tags())
}

/// A cached token as a result; `requested` as in [`super::result_scopes`].
#[inline(always)]
fn from_cache(entry: CachedAccessToken, requested: Option<Vec<String>>) -> AuthenticationResult {
    super::cached_result(&entry, super::result_scopes(&entry.target, requested))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::testing::{AUTHORITY, FakeIdp};
    use crate::{
        ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication, TokenCache, TokenSource,
    };

    const SCOPE: &str = "https://graph.microsoft.com/.default";

    fn app(idp: &FakeIdp) -> ConfidentialClientApplication {
        ConfidentialClientApplication::builder(crate::testing::CLIENT_ID)
            .authority(AUTHORITY)
            .client_secret(ClientSecret::new("app-secret"))
            .http_client(idp.clone())
            .token_cache(TokenCache::new())
            .build()
            .unwrap()
    }

    fn token(secret: &str, refresh_in: Option<u64>) -> serde_json::Value {
        let mut body = json!({"access_token": secret, "token_type": "Bearer", "expires_in": 3600});
        if let Some(refresh_in) = refresh_in {
            body["refresh_in"] = json!(refresh_in);
        }
        body
    }

    fn header(idp: &FakeIdp, request: usize, name: &str) -> Option<String> {
        idp.token_requests()[request]
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    #[tokio::test]
    async fn cache_hits_are_counted_in_the_next_request_s_telemetry() {
        let idp = FakeIdp::new();
        let app = app(&idp);
        idp.respond(200, token("at-1", None));
        let first = app.acquire_token_for_client([SCOPE]).await.unwrap();
        assert_eq!(first.token_source, TokenSource::IdentityProvider);
        assert!(first.correlation_id.is_some());
        assert_eq!(
            header(&idp, 0, "x-client-current-telemetry").as_deref(),
            Some("4|730,2|")
        );
        for _ in 0..2 {
            let hit = app.acquire_token_for_client([SCOPE]).await.unwrap();
            assert_eq!(hit.token_source, TokenSource::Cache);
            assert_eq!(hit.access_token.expose_secret(), "at-1");
            assert_eq!(hit.scopes, [SCOPE]);
            assert_eq!(hit.correlation_id, None);
        }
        let forced = ClientCredentialsOptions::default().force_refresh(true);
        idp.respond(200, token("at-2", None));
        app.acquire_token_for_client_with([SCOPE], &forced).await.unwrap();
        assert_eq!(
            header(&idp, 1, "x-client-current-telemetry").as_deref(),
            Some("4|730,1|")
        );
        assert_eq!(
            header(&idp, 1, "x-client-last-telemetry").as_deref(),
            Some("4|2|||")
        );
        // A successful request starts the count afresh.
        app.acquire_token_for_client([SCOPE]).await.unwrap();
        idp.respond(200, token("at-3", None));
        app.acquire_token_for_client_with([SCOPE], &forced).await.unwrap();
        assert_eq!(
            header(&idp, 2, "x-client-last-telemetry").as_deref(),
            Some("4|1|||")
        );
    }

    #[tokio::test]
    async fn past_refresh_on_the_token_is_refreshed_and_kept_when_the_idp_fails() {
        let idp = FakeIdp::new();
        let app = app(&idp);
        // refresh_in 0: refresh_on is now, so the next call finds the token aging.
        idp.respond(200, token("at-aging", Some(0)));
        app.acquire_token_for_client([SCOPE]).await.unwrap();
        idp.respond(503, json!({"error": "temporarily_unavailable"}));
        let kept = app.acquire_token_for_client([SCOPE]).await.unwrap();
        assert_eq!(kept.token_source, TokenSource::Cache);
        assert_eq!(kept.access_token.expose_secret(), "at-aging");
        assert_eq!(
            header(&idp, 1, "x-client-current-telemetry").as_deref(),
            Some("4|730,4|")
        );
        idp.respond(200, token("at-fresh", None));
        let fresh = app.acquire_token_for_client([SCOPE]).await.unwrap();
        assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
        assert_eq!(fresh.access_token.expose_secret(), "at-fresh");
        let requests = idp.request_count();
        let hit = app.acquire_token_for_client([SCOPE]).await.unwrap();
        assert_eq!(hit.access_token.expose_secret(), "at-fresh");
        assert_eq!(idp.request_count(), requests, "a fresh token is a cache hit");
    }

    #[tokio::test]
    async fn arguments_are_checked_before_the_cache_or_the_network() {
        let idp = FakeIdp::new();
        let app = app(&idp);
        assert!(app.acquire_token_for_client(Vec::<String>::new()).await.is_err());
        assert!(app.acquire_token_for_client(["a b"]).await.is_err());
        let blank = ClientCredentialsOptions::default().fmi_path(" ");
        assert!(app.acquire_token_for_client_with([SCOPE], &blank).await.is_err());
        assert_eq!(idp.request_count(), 0);
    }
}
