//! The one token-request path. Every grant's request goes through
//! [`Call::token`]: the flow describes its grant ([`Grant`]), and this module
//! adds the library and telemetry headers, the `X-AnchorMailbox` routing
//! hint, `client_info`, the `claims` parameter, the client's authentication,
//! the throttle key, sends it through the pipeline with its purpose, records
//! the outcome for telemetry and logs it. [`Call::issued`] then hands the
//! response to [`save`](super::save), which writes the cache entries.

use url::Url;

use crate::cache;
use crate::credential::ClientCredential;
use crate::discovery::AuthorityMetadata;
use crate::error::{Error, Result};
use crate::oauth2::{self, DeviceAuthorizationResponse, Form, TokenResponse};
use crate::pipeline::{Purpose, ThrottleKey};
use crate::telemetry::{ApiId, RefreshReason};

use super::ClientCore;
use super::save::Issued;

/// One public API call's requests: which API, its correlation id, and the
/// authority's endpoints.
pub(crate) struct Call<'a> {
    core: &'a ClientCore,
    api: ApiId,
    correlation_id: &'a str,
    metadata: &'a AuthorityMetadata,
}

/// What a grant puts in its token request; everything else is the core's.
pub(crate) struct Grant<'a> {
    grant_type: &'a str,
    /// The `scope` parameter; none is sent when empty.
    scopes: &'a [String],
    /// The grant's own fields, in order, after `client_id` and `grant_type`.
    params: Form,
    /// The user's grant (refresh token, code, username, assertion, device
    /// code): what tells one user's request from another's for the throttle.
    subject: Option<&'a str>,
    /// The `claims` parameter: capabilities merged with a claims challenge
    /// (see [`ClientCore::claims`]).
    claims: Option<&'a str>,
    /// The `X-AnchorMailbox` header value, routing the request to the user's home region.
    anchor: Option<String>,
    credential: Option<&'a ClientCredential>,
    /// Another endpoint than the authority's token endpoint (a regional one).
    endpoint: Option<&'a Url>,
    /// Another transport than the pipeline's (mutual TLS, see crate::mtls).
    via: Option<std::sync::Arc<dyn crate::http::HttpClient>>,
    purpose: Purpose,
    reason: RefreshReason,
}

impl<'a> Grant<'a> {
    /// A `grant_type` request for `scopes`, not on a cache miss (reason
    /// "non-silent"), without client authentication.
    pub(crate) fn new(grant_type: &'a str, scopes: &'a [String]) -> Self {
        Grant {
            grant_type,
            scopes,
            params: Form::new(),
            subject: None,
            claims: None,
            anchor: None,
            credential: None,
            endpoint: None,
            via: None,
            purpose: Purpose::TokenRequest,
            reason: RefreshReason::NonSilent,
        }
    }

    /// The grant type.
    pub(crate) fn grant_type(&self) -> &'a str {
        self.grant_type
    }

    /// The scopes asked for.
    pub(crate) fn scopes(&self) -> &'a [String] {
        self.scopes
    }

    /// Adds a grant field.
    pub(crate) fn param(mut self, name: &'static str, value: &str) -> Self {
        self.params = self.params.add(name, value);
        self
    }

    /// Adds a grant field that identifies the user (see [`Grant::subject`]).
    pub(crate) fn subject(mut self, name: &'static str, value: &'a str) -> Self {
        self.params = self.params.add(name, value);
        self.subject = Some(value);
        self
    }

    /// Adds the parameters that shape the token (see [`TokenShape`](super::TokenShape)).
    pub(crate) fn shape(mut self, shape: &super::TokenShape) -> Self {
        for (name, value) in shape.params() {
            self.params = self.params.add(name, value);
        }
        self
    }

    /// Sets the `claims` parameter.
    pub(crate) fn claims(mut self, claims: Option<&'a str>) -> Self {
        self.claims = claims;
        self
    }

    /// Sets the `X-AnchorMailbox` value (`Oid:{oid}@{tenant}` or `upn:{name}`).
    pub(crate) fn anchor(mut self, value: String) -> Self {
        self.anchor = Some(value);
        self
    }

    /// Routes the request by the user's `home_account_id` (`uid.utid`).
    pub(crate) fn anchor_account(mut self, home_account_id: &str) -> Self {
        self.anchor = oauth2::anchor_mailbox(home_account_id);
        self
    }

    /// Routes the request by the user's sign-in name.
    pub(crate) fn anchor_upn(mut self, username: &str) -> Self {
        // A header value must be printable ASCII.
        if username.bytes().all(|b| b.is_ascii_graphic()) {
            self.anchor = Some(format!("upn:{username}"));
        }
        self
    }

    /// Authenticates the client with `credential` (confidential clients).
    pub(crate) fn credential(mut self, credential: Option<&'a ClientCredential>) -> Self {
        self.credential = credential;
        self
    }

    /// Sends the request over `transport` instead of the pipeline's client.
    pub(crate) fn via(mut self, transport: std::sync::Arc<dyn crate::http::HttpClient>) -> Self {
        self.via = Some(transport);
        self
    }

    /// Sends the request to `endpoint` instead of the token endpoint.
    pub(crate) fn endpoint(mut self, endpoint: &'a Url) -> Self {
        self.endpoint = Some(endpoint);
        self
    }

    /// Marks the request as a device code poll.
    pub(crate) fn device_poll(mut self) -> Self {
        self.purpose = Purpose::DevicePoll;
        self
    }

    /// Why the cache did not answer (telemetry).
    pub(crate) fn reason(mut self, reason: RefreshReason) -> Self {
        self.reason = reason;
        self
    }
}

impl ClientCore {
    /// The `claims` parameter: the client's capabilities merged with a
    /// caller's claims challenge. Flows ask for it before any request, so a
    /// malformed challenge fails before the network.
    pub(crate) fn claims(&self, challenge: Option<&str>) -> Result<Option<String>> {
        oauth2::merge_claims(&self.client_capabilities, challenge)
    }
}

impl<'a> Call<'a> {
    pub(crate) fn new(
        core: &'a ClientCore,
        api: ApiId,
        correlation_id: &'a str,
        metadata: &'a AuthorityMetadata,
    ) -> Self {
        Call {
            core,
            api,
            correlation_id,
            metadata,
        }
    }

    /// Sends `grant` to the token endpoint and returns the identity
    /// provider's answer; nothing is cached yet (see [`Call::issued`]).
    pub(crate) async fn token(&self, grant: Grant<'_>) -> Result<TokenResponse> {
        let core = self.core;
        let endpoint = grant.endpoint.unwrap_or(&self.metadata.token_endpoint);
        let mut headers = oauth2::library_headers(self.correlation_id);
        headers.extend(core.telemetry.headers(self.api, grant.reason));
        if let Some(anchor) = grant.anchor {
            headers.push(("X-AnchorMailbox".into(), anchor));
        }
        let target = cache::target(grant.scopes);
        let mut form = Form::new()
            .add("client_id", &core.client_id)
            .add("grant_type", grant.grant_type)
            .extend(grant.params);
        if !grant.scopes.is_empty() {
            form = form.add("scope", &target);
        }
        form = form.add("client_info", "1");
        if let Some(claims) = grant.claims {
            form = form.add("claims", claims);
        }
        if let Some(credential) = grant.credential {
            // The assertion (if any) names the endpoint it is sent to as its audience.
            for (name, value) in credential
                .parameters(
                    &core.client_id,
                    endpoint.as_str(),
                    self.metadata.single_use_assertions,
                )
                .await?
            {
                form = form.add(name, &value);
            }
        }
        let throttle = ThrottleKey::new(&core.client_id, &target, grant.subject);
        tracing::debug!(
            api_id = self.api as u32,
            correlation_id = %self.correlation_id,
            client_id = %core.client_id,
            grant_type = grant.grant_type,
            "requesting tokens"
        );
        let mut outcome: Result<TokenResponse> = oauth2::post_form_via(
            &core.pipeline,
            grant.purpose,
            endpoint,
            form,
            headers,
            throttle,
            grant.via,
        )
        .await;
        if core.id_tokens.enabled
            && let Ok(response) = &outcome
            && let Some(id_token) = &response.id_token
            && let Err(refused) = core
                .id_tokens
                .validate(
                    &core.pipeline,
                    self.metadata,
                    &core.client_id,
                    id_token.expose(),
                    self.correlation_id,
                )
                .await
        {
            tracing::warn!(correlation_id = %self.correlation_id, error = %refused, "ID token refused");
            outcome = Err(refused);
        }
        match &outcome {
            Ok(_) => core.telemetry.record(self.api, self.correlation_id, None),
            // A device code poll's "not yet" is the protocol, not a failure.
            Err(Error::Service(service))
                if grant.purpose == Purpose::DevicePoll
                    && matches!(
                        oauth2::device_poll_error(service),
                        oauth2::DevicePollError::Pending | oauth2::DevicePollError::SlowDown
                    ) => {}
            Err(error) => core.telemetry.record_error(self.api, self.correlation_id, error),
        }
        outcome
    }

    /// Asks the device authorization endpoint for a device code (RFC 8628
    /// section 3.1): no grant, no client authentication.
    pub(crate) async fn device_authorization(
        &self,
        endpoint: &Url,
        scopes: &[String],
        claims: Option<&str>,
    ) -> Result<DeviceAuthorizationResponse> {
        let core = self.core;
        let target = cache::target(scopes);
        let mut form = Form::new()
            .add("client_id", &core.client_id)
            .add("scope", &target);
        if let Some(claims) = claims {
            form = form.add("claims", claims);
        }
        tracing::debug!(correlation_id = %self.correlation_id, client_id = %core.client_id, "requesting a device code");
        let throttle = ThrottleKey::new(&core.client_id, &target, None);
        oauth2::post_form(
            &core.pipeline,
            Purpose::DeviceCode,
            endpoint,
            form,
            oauth2::library_headers(self.correlation_id),
            throttle,
        )
        .await
    }

    /// What [`save`](super::save) needs to cache the answer to a
    /// `grant_type` request for `requested` scopes.
    pub(crate) fn issued(&self, requested: &'a [String], grant_type: &'a str) -> Issued<'a> {
        Issued {
            core: self.core,
            metadata: self.metadata,
            requested,
            grant_type,
            correlation_id: self.correlation_id,
        }
    }
}
