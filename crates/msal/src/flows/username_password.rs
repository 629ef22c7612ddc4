//! Username/password sign-in (the resource owner password credentials
//! grant, RFC 6749 section 4.3), as MSAL Python does it against Entra:
//!
//! 1. User realm discovery asks the authority's host whether the user's
//!    domain is managed by Entra or federated to another identity provider.
//! 2. Managed (or unknown): the password grant at the token endpoint.
//! 3. Federated: the federation server's metadata (MEX) names its WS-Trust
//!    username/password endpoint; a WS-Trust request there exchanges the
//!    password for a SAML assertion, which the token endpoint redeems with a
//!    SAML bearer grant (RFC 7522). The WS-Trust side lives in the
//!    crate's `wstrust` module.
//!
//! Microsoft discourages this flow (it cannot do MFA or consent, and teaches
//! users to type passwords into apps); it exists for legacy and test setups.
//!
//! GET answers (user realm, MEX) are remembered for a day, as MSAL Python's
//! HTTP cache keeps them, so repeated sign-ins cost one request each.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use url::Url;
use zeroize::Zeroizing;

use crate::authority::AuthorityKind;
use crate::core::{AppCore, Grant, save};
use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::http::{HttpRequest, Method};
use crate::oauth2::{self};
use crate::pipeline::{Outgoing, Purpose};
use crate::result::AuthenticationResult;
use crate::secret::Password;
use crate::telemetry::ApiId;
use crate::wstrust::{self, Discovered, Endpoint, UserRealm, WsTrustVersion};

/// Options of `acquire_token_by_username_password_with`. Every field is optional.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct UsernamePasswordOptions {
    /// A claims challenge from a resource's `WWW-Authenticate` header (a JSON
    /// object), sent with the token request.
    pub claims_challenge: Option<String>,
    /// The tenant to ask instead of the application's own (a tenant id or
    /// domain): a multi-tenant application uses one object for many
    /// tenants, each tenant's tokens cached under its own realm. Entra ID
    /// and External ID authorities only.
    pub tenant: Option<String>,
    /// An SSH certificate for this key instead of a bearer token (MSAL
    /// Python's `data={"token_type": "ssh-cert", ...}`), with the scope
    /// [`SSH_CERT_SCOPE`](crate::ssh_cert::SSH_CERT_SCOPE).
    pub ssh_cert: Option<crate::ssh_cert::SshCertRequest>,
}

impl UsernamePasswordOptions {
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

    /// Sets [`claims_challenge`](Self::claims_challenge).
    pub fn claims_challenge(mut self, claims: impl Into<String>) -> Self {
        self.claims_challenge = Some(claims.into());
        self
    }
}

/// Signs `username` in with `password` and caches the tokens and account.
pub(crate) async fn acquire<I, S>(
    core: &AppCore,
    credential: Option<&ClientCredential>,
    username: &str,
    password: &Password,
    scopes: I,
    options: &UsernamePasswordOptions,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let username = username.trim();
    if username.is_empty() {
        return Err(Error::InvalidArgument("the username is empty".into()));
    }
    let scopes = super::decorate_scopes(scopes)?;
    let claims = core.claims(options.claims_challenge.as_deref())?;
    let correlation_id = uuid::Uuid::new_v4().to_string();
    let metadata = core.metadata(&correlation_id).await?;
    let api = ApiId::AcquireTokenByUsernamePassword;

    // Only Entra knows user realms; AD FS and other OIDC authorities take
    // the password themselves (MSAL Python skips the lookup for AD FS).
    let realm = if core.authority().kind() == AuthorityKind::Aad {
        Some(user_realm(core, username, &correlation_id).await?)
    } else {
        None
    };

    let call = core.call(api, &correlation_id, metadata);
    let assertion;
    let grant = match realm.filter(UserRealm::is_federated) {
        Some(realm) => {
            let endpoint = federation_endpoint(core, &realm).await?;
            tracing::debug!(
                client_id = %core.client_id,
                endpoint = %endpoint.address,
                version = ?endpoint.version,
                "federated user: requesting a SAML assertion over WS-Trust"
            );
            let saml = wstrust::request_assertion(
                &core.pipeline,
                &endpoint,
                username,
                password.expose_secret(),
                realm.cloud_audience_urn(),
            )
            .await?;
            // base64url without padding, as RFC 7522 section 2.1 and MSAL Python encode it.
            assertion = Zeroizing::new(URL_SAFE_NO_PAD.encode(saml.xml.as_bytes()));
            Grant::new(saml.version.grant_type(), &scopes).subject("assertion", &assertion)
        }
        // Routes the request to the user's home region (Entra's CCS), as MSAL Python does.
        None => Grant::new("password", &scopes)
            .subject("username", username)
            .param("password", password.expose_secret())
            .anchor_upn(username),
    };
    let grant_type = grant.grant_type();
    let grant = grant.claims(claims.as_deref()).credential(credential);
    let grant = super::ssh::grant(grant, options.ssh_cert.as_ref());
    tracing::debug!(client_id = %core.client_id, endpoint = %metadata.token_endpoint, grant_type, "requesting tokens for a username and password");
    let response = call.token(grant).await?;
    let claims = save::id_token_claims(&response)?;
    // An SSH certificate's entry carries its key id (see crate::ssh_cert).
    let tags = options.ssh_cert.as_ref().map(super::ssh::tags);
    save::save_with_username_tagged(
        &call.issued(&scopes, grant_type),
        response,
        claims,
        Some(username),
        tags.as_ref(),
    )
}

/// The URL MSAL Python asks about a user: `https://{authority host}/common/userrealm/{username}?api-version=1.0`,
/// the username percent-encoded as one path segment.
pub(crate) fn user_realm_url(host_and_port: &str, username: &str) -> Result<Url> {
    let mut url = Url::parse(&format!("https://{host_and_port}/common/userrealm"))
        .map_err(|e| Error::InvalidArgument(format!("cannot form the user realm URL: {e}")))?;
    url.path_segments_mut()
        .map_err(|()| Error::InvalidArgument("cannot form the user realm URL".into()))?
        .push(username);
    url.query_pairs_mut().append_pair("api-version", "1.0");
    Ok(url)
}

/// Asks the authority's host about the user's domain. A 404 (a cloud
/// without user realm discovery) means "not federated", as in MSAL Python.
async fn user_realm(core: &AppCore, username: &str, correlation_id: &str) -> Result<UserRealm> {
    let url = user_realm_url(&core.authority().host_and_port(), username)?;
    let key = url.as_str().to_ascii_lowercase();
    if let Some(Discovered::Realm(realm)) = core.authority.federation.get(&key) {
        return Ok(realm);
    }
    let mut request = HttpRequest::new(Method::Get, url.clone());
    request.headers = oauth2::library_headers(correlation_id);
    // Logs and errors name the endpoint without the username: it is personal data.
    let endpoint = format!("https://{}/common/userrealm", core.authority().host_and_port());
    let response = core
        .pipeline
        .send(Outgoing::new(Purpose::Discovery, request).log_as(&endpoint))
        .await?
        .response;
    if response.status == 404 {
        return Ok(UserRealm::default());
    }
    if !(200..300).contains(&response.status) {
        return Err(Error::InvalidResponse {
            endpoint,
            status: response.status,
            reason: "user realm discovery failed".into(),
        });
    }
    let realm: UserRealm = serde_json::from_slice(&response.body).map_err(|e| Error::InvalidResponse {
        endpoint: endpoint.clone(),
        status: response.status,
        reason: format!("the user realm is not the expected JSON: {e}"),
    })?;
    core.authority
        .federation
        .put(key, Discovered::Realm(realm.clone()));
    Ok(realm)
}

/// The WS-Trust endpoint of a federated realm: from its MEX document when
/// it names one, else its active authentication URL, whose path tells the
/// WS-Trust version. A MEX without a usable endpoint is final, as in MSAL
/// Python: the active URL is not tried behind it.
async fn federation_endpoint(core: &AppCore, realm: &UserRealm) -> Result<Endpoint> {
    let non_empty = |u: &Option<String>| {
        u.as_deref()
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(str::to_owned)
    };
    if let Some(mex) = non_empty(&realm.federation_metadata_url) {
        let url = https_url(core, &mex, "federation_metadata_url")?;
        let key = url.as_str().to_owned();
        if let Some(Discovered::Mex(endpoint)) = core.authority.federation.get(&key) {
            return Ok(endpoint);
        }
        let endpoint = wstrust::discover_endpoint(&core.pipeline, &url).await?;
        core.authority
            .federation
            .put(key, Discovered::Mex(endpoint.clone()));
        return Ok(endpoint);
    }
    if let Some(active) = non_empty(&realm.federation_active_auth_url) {
        let address = https_url(core, &active, "federation_active_auth_url")?;
        return match WsTrustVersion::from_address(&address) {
            Some(version) => Ok(Endpoint { address, version }),
            None => Err(Error::NoWsTrustEndpoint {
                url: address.to_string(),
            }),
        };
    }
    Err(Error::NoWsTrustEndpoint {
        url: format!("https://{}/common/userrealm", core.authority().host_and_port()),
    })
}

/// A federation URL from the user realm: https only, since the password follows it.
fn https_url(core: &AppCore, url: &str, field: &str) -> Result<Url> {
    match Url::parse(url) {
        Ok(parsed) if parsed.scheme() == "https" && parsed.host_str().is_some() => Ok(parsed),
        _ => Err(Error::InvalidResponse {
            endpoint: format!("https://{}/common/userrealm", core.authority().host_and_port()),
            status: 200,
            reason: format!("the user realm's {field} is not an https URL"),
        }),
    }
}

#[cfg(test)]
mod tests;
