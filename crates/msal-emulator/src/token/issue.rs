//! Minting tokens: the access-token claim sets (app-only and delegated, in
//! the v1.0 or v2.0 shape the resource accepts), v2.0 ID tokens, `client_info`, refresh tokens, and the token
//! response body.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::claims::ClaimsRequest;
use crate::context::RequestContext;
use crate::directory::{App, Tenant, User};
use crate::error::EntraError;
use crate::scopes::{self, Scopes};
use crate::server::AppState;
use crate::store::{self, RefreshGrant};

/// How the client authenticated, as access tokens say it: `azpacr` (v2.0)
/// and `appidacr` (v1.0) are "0" for a public client, "1" for a client
/// secret, "2" for a certificate (a signed client assertion).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ClientAcr {
    /// No credential: a public client.
    #[default]
    Public,
    /// A client secret.
    Secret,
    /// A client assertion signed with the app's certificate.
    Certificate,
}

impl ClientAcr {
    /// The claim's value.
    pub(crate) fn claim(self) -> &'static str {
        match self {
            ClientAcr::Public => "0",
            ClientAcr::Secret => "1",
            ClientAcr::Certificate => "2",
        }
    }
}

/// The v1.0 issuer: Entra's v1.0 tokens name its security token service,
/// `https://sts.windows.net/{tid}/` (Azure China's for its hosts), whichever
/// host the client asked.
pub(crate) fn v1_issuer(ctx: &RequestContext, tenant_id: &str) -> String {
    let authority = ctx.base_url.strip_prefix("https://").unwrap_or(&ctx.base_url);
    let host = authority.split(':').next().unwrap_or(authority);
    let china = host.ends_with(".cn");
    let sts = if china {
        "sts.chinacloudapi.cn"
    } else {
        "sts.windows.net"
    };
    format!("https://{sts}/{tenant_id}/")
}

/// Whether `iss` is a v1.0 issuer for `tid` (see [`v1_issuer`]).
pub(crate) fn is_v1_issuer(iss: &str, tid: &str) -> bool {
    !tid.is_empty()
        && ["sts.windows.net", "sts.chinacloudapi.cn"]
            .iter()
            .any(|sts| iss == format!("https://{sts}/{tid}/"))
}

/// The claims every access token has, in the shape of its version: v2.0
/// (`azp`, `azpacr`, the endpoint's issuer) or v1.0 (`appid`, `appidacr`,
/// the STS issuer), as Entra shapes a token by what its resource accepts.
struct AccessBase<'a> {
    ctx: &'a RequestContext,
    version: u8,
    audience: &'a str,
    tenant: &'a Tenant,
    client: &'a App,
    acr: ClientAcr,
    now: u64,
    lifetime: u64,
    idtyp: &'static str,
}

impl AccessBase<'_> {
    fn claims(&self) -> Map<String, Value> {
        let mut c = Map::new();
        c.insert("aud".into(), json!(self.audience));
        let v1 = self.version == 1;
        let iss = if v1 {
            v1_issuer(self.ctx, &self.tenant.id)
        } else {
            self.ctx.issuer(&self.tenant.id)
        };
        c.insert("iss".into(), json!(iss));
        c.insert("iat".into(), json!(self.now));
        c.insert("nbf".into(), json!(self.now));
        c.insert("exp".into(), json!(self.now + self.lifetime));
        c.insert("appid".into(), json!(self.client.client_id));
        if v1 {
            c.insert("appidacr".into(), json!(self.acr.claim()));
        } else {
            c.insert("azp".into(), json!(self.client.client_id));
            c.insert("azpacr".into(), json!(self.acr.claim()));
        }
        c.insert("idtyp".into(), json!(self.idtyp));
        c.insert("tid".into(), json!(self.tenant.id));
        c.insert("uti".into(), json!(unique_token_id()));
        c.insert("ver".into(), json!(if v1 { "1.0" } else { "2.0" }));
        c
    }
}

/// What an app-only token is for.
pub(crate) struct AppToken<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) client: &'a App,
    pub(crate) audience: &'a str,
    /// The access token version the resource accepts (1 or 2).
    pub(crate) version: u8,
    pub(crate) roles: &'a [String],
    /// What the request's `claims` parameter asked for.
    pub(crate) claims: &'a ClaimsRequest,
    /// The request's `fmi_path`, carried into the token as a claim.
    pub(crate) fmi_path: Option<&'a str>,
    /// How the client authenticated.
    pub(crate) acr: ClientAcr,
}

/// Signs an app-only access token and builds Entra's token response.
pub(crate) fn app_token(
    state: &AppState,
    ctx: &RequestContext,
    token: &AppToken<'_>,
) -> Result<Value, EntraError> {
    let now = token.claims.issue_time(state.clock.now(), None);
    let lifetime = state.directory().token_lifetime_secs;
    let sp = service_principal_id(token.tenant, token.client);
    let mut claims = AccessBase {
        ctx,
        version: token.version,
        audience: token.audience,
        tenant: token.tenant,
        client: token.client,
        acr: token.acr,
        now,
        lifetime,
        idtyp: "app",
    }
    .claims();
    if token.version == 1 {
        // v1.0 app tokens name the tenant's STS as identity provider.
        claims.insert("idp".into(), json!(v1_issuer(ctx, &token.tenant.id)));
    }
    claims.insert("oid".into(), json!(sp));
    if !token.roles.is_empty() {
        claims.insert("roles".into(), json!(token.roles));
    }
    claims.insert("sub".into(), json!(sp));
    if !token.claims.xms_cc.is_empty() {
        claims.insert("xms_cc".into(), json!(token.claims.xms_cc));
    }
    if let Some(path) = token.fmi_path {
        claims.insert("fmi_path".into(), json!(path));
    }
    let access_token = sign(state, &claims)?;
    tracing::info!(
        tenant = %token.tenant.id,
        client_id = %token.client.client_id,
        audience = token.audience,
        "issued app token"
    );
    Ok(json!({
        "token_type": "Bearer",
        "expires_in": lifetime,
        "ext_expires_in": lifetime,
        "access_token": access_token,
    }))
}

/// Signs `claims` with the emulator's key.
pub(crate) fn sign<T: Serialize>(state: &AppState, claims: &T) -> Result<String, EntraError> {
    state.signing_keys.sign(claims).map_err(|e| {
        tracing::error!(error = %e, "signing a token failed");
        EntraError::server_error()
    })
}

/// Claims of a v2.0 ID token.
#[derive(Debug, Serialize)]
struct IdTokenClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    auth_time: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    c_hash: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    at_hash: Option<&'a str>,
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<&'a str>,
    oid: &'a str,
    preferred_username: &'a str,
    sub: String,
    tid: &'a str,
    uti: String,
    ver: &'static str,
}

/// What a user's tokens are for.
pub(crate) struct UserTokens<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) client: &'a App,
    pub(crate) user: &'a User,
    /// The scopes of the token request (or of the code, if it sent none).
    pub(crate) scopes: &'a Scopes,
    /// The nonce of the authorize request, for the ID token.
    pub(crate) nonce: Option<&'a str>,
    /// When the user entered their password.
    pub(crate) auth_time: u64,
    /// Whether to issue a refresh token (`offline_access` was asked).
    pub(crate) offline: bool,
    /// Whether the client asked for `client_info=1`.
    pub(crate) client_info: bool,
}

/// Issues a user's access token, ID token (if `openid` was asked), refresh
/// token (if `offline_access` was asked) and `client_info`, and builds
/// Entra's token response; `foci` for family apps. The access token carries
/// the client capabilities `claims` asked for, and is issued no earlier than
/// its requested `nbf` nor the user's last session revocation (so a token
/// minted after a revocation passes the resource's check).
pub(crate) fn user_tokens_with_claims(
    state: &AppState,
    ctx: &RequestContext,
    t: &UserTokens<'_>,
    claims: &ClaimsRequest,
    acr: ClientAcr,
) -> Result<Value, EntraError> {
    let grant = scopes::grant(state.directory(), t.tenant, &t.client.client_id, t.scopes)?;
    let clock_now = state.clock.now();
    // The access token's issue time: may sit up to a second ahead of the
    // clock right after a session revocation (see `revoke_user_sessions`).
    let now = claims.issue_time(clock_now, state.revocations.revoked_at(&t.user.upn));
    let lifetime = state.directory().token_lifetime_secs;
    let sub = pairwise_subject(&t.user.object_id, &t.client.client_id);
    let name = shown_name(t.user);

    // With only OIDC scopes the token is Graph's and carries those scopes.
    let scp: Vec<String> = if grant.scp.is_empty() {
        t.scopes
            .oidc
            .iter()
            .filter(|s| *s != "offline_access")
            .cloned()
            .collect()
    } else {
        grant.scp.clone()
    };
    let mut access = AccessBase {
        ctx,
        version: grant.version,
        audience: &grant.audience,
        tenant: t.tenant,
        client: t.client,
        acr,
        now,
        lifetime,
        idtyp: "user",
    }
    .claims();
    access.insert("name".into(), json!(name));
    access.insert("oid".into(), json!(t.user.object_id));
    if grant.version == 1 {
        access.insert("unique_name".into(), json!(t.user.upn));
    } else {
        access.insert("preferred_username".into(), json!(t.user.upn));
    }
    access.insert("scp".into(), json!(scp.join(" ")));
    access.insert("sub".into(), json!(sub));
    access.insert("upn".into(), json!(t.user.upn));
    if !claims.xms_cc.is_empty() {
        access.insert("xms_cc".into(), json!(claims.xms_cc));
    }
    let mut body = serde_json::Map::new();
    body.insert("token_type".into(), json!("Bearer"));
    // The granted scopes, plus the OIDC ones asked for; never offline_access.
    let mut scope: Vec<String> = grant.granted.clone();
    scope.extend(t.scopes.oidc.iter().filter(|s| *s != "offline_access").cloned());
    body.insert("scope".into(), json!(scope.join(" ")));
    body.insert("expires_in".into(), json!(lifetime));
    body.insert("ext_expires_in".into(), json!(lifetime));
    body.insert("access_token".into(), json!(sign(state, &access)?));
    if t.offline {
        let rt = store::random_token("1.AR.");
        state.store.refresh_tokens().insert(
            rt.clone(),
            RefreshGrant {
                client_id: t.client.client_id.clone(),
                upn: t.user.upn.clone(),
                tenant_id: t.tenant.id.clone(),
                scopes: t.scopes.all(),
                auth_time: t.auth_time,
                issued_at: clock_now,
                realm: store::Realm::Entra,
            },
        );
        body.insert("refresh_token".into(), json!(rt));
    }
    if t.scopes.has("openid") {
        body.insert("id_token".into(), json!(id_token(state, ctx, t, None)?));
    }
    if t.client.family {
        // MSAL stores the refresh token as a family one ("1" is the only family).
        body.insert("foci".into(), json!("1"));
    }
    if t.client_info {
        body.insert(
            "client_info".into(),
            json!(client_info(&t.user.object_id, &t.tenant.id)),
        );
    }
    tracing::info!(
        tenant = %t.tenant.id,
        client_id = %t.client.client_id,
        user = %t.user.upn,
        audience = %grant.audience,
        "issued user tokens"
    );
    Ok(Value::Object(body))
}

/// The hashes an ID token from the authorize endpoint carries of what
/// travels with it (OpenID Connect Core 3.3.2.11): `c_hash` of the code,
/// `at_hash` of the access token.
#[derive(Debug, Default)]
pub(crate) struct IdTokenHashes {
    pub(crate) c_hash: Option<String>,
    pub(crate) at_hash: Option<String>,
}

/// OpenID Connect's `c_hash`/`at_hash` for RS256: base64url of the left
/// half of the value's SHA-256.
pub(crate) fn half_hash(value: &str) -> String {
    let digest = Sha256::digest(value.as_bytes());
    URL_SAFE_NO_PAD.encode(&digest[..16])
}

/// Signs the user's v2.0 ID token for `t.client`.
pub(crate) fn id_token(
    state: &AppState,
    ctx: &RequestContext,
    t: &UserTokens<'_>,
    hashes: Option<&IdTokenHashes>,
) -> Result<String, EntraError> {
    // The ID token is about the sign-in, not resource access: the CAE
    // floor applied to access tokens does not concern it, and clients
    // reject ID tokens from the future.
    let now = state.clock.now();
    let lifetime = state.directory().token_lifetime_secs;
    let id = IdTokenClaims {
        aud: &t.client.client_id,
        iss: ctx.issuer(&t.tenant.id),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        auth_time: t.auth_time,
        c_hash: hashes.and_then(|h| h.c_hash.as_deref()),
        at_hash: hashes.and_then(|h| h.at_hash.as_deref()),
        name: shown_name(t.user),
        nonce: t.nonce,
        oid: &t.user.object_id,
        preferred_username: &t.user.upn,
        sub: pairwise_subject(&t.user.object_id, &t.client.client_id),
        tid: &t.tenant.id,
        uti: unique_token_id(),
        ver: "2.0",
    };
    sign(state, &id)
}

/// The user's display name, or the UPN when none is set.
pub(crate) fn shown_name(user: &User) -> &str {
    if user.display_name.is_empty() {
        &user.upn
    } else {
        &user.display_name
    }
}

/// `client_info`: base64url (no padding) of `{"uid": oid, "utid": tid}`;
/// MSAL builds the account's `home_account_id` (`uid.utid`) from it.
pub(crate) fn client_info(oid: &str, tid: &str) -> String {
    URL_SAFE_NO_PAD.encode(json!({ "uid": oid, "utid": tid }).to_string())
}

/// Entra's pairwise `sub`: stable for a user and an app, different across
/// apps, so apps cannot correlate users through it.
pub(crate) fn pairwise_subject(oid: &str, client_id: &str) -> String {
    let digest = Sha256::new()
        .chain_update(oid.to_ascii_lowercase())
        .chain_update(client_id.to_ascii_lowercase())
        .finalize();
    URL_SAFE_NO_PAD.encode(digest)
}

/// A stable object id for the app's service principal in a tenant: the same
/// app gets the same id in a tenant across restarts, and different ids in
/// different tenants, as in Entra.
pub(crate) fn service_principal_id(tenant: &Tenant, app: &App) -> String {
    let digest = Sha256::new()
        .chain_update(b"msal-emulator service principal\0")
        .chain_update(tenant.id.to_ascii_lowercase())
        .chain_update(b"\0")
        .chain_update(app.client_id.to_ascii_lowercase())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid().to_string()
}

/// Entra's `uti`: an opaque, unique token id.
pub(crate) fn unique_token_id() -> String {
    URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_info_and_subject() {
        let info = client_info("o", "t");
        let decoded = URL_SAFE_NO_PAD.decode(info).unwrap();
        assert_eq!(decoded, br#"{"uid":"o","utid":"t"}"#);
        let a = pairwise_subject("oid", "app1");
        assert_eq!(a, pairwise_subject("OID", "APP1"));
        assert_ne!(a, pairwise_subject("oid", "app2"));
        assert_eq!(a.len(), 43);
    }
}
