//! Minting tokens: the v2.0 access-token claim sets (app-only and
//! delegated), ID tokens, `client_info`, refresh tokens, and the token
//! response body.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::claims::ClaimsRequest;
use crate::context::RequestContext;
use crate::directory::{App, AppKind, Tenant, User};
use crate::error::EntraError;
use crate::scopes::{self, Scopes};
use crate::server::AppState;
use crate::store::{self, RefreshGrant};

/// Claims of an app-only (client credentials) v2.0 access token.
#[derive(Debug, Serialize)]
struct AppTokenClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    appid: &'a str,
    azp: &'a str,
    /// `1`: the client authenticated with a secret.
    azpacr: &'static str,
    idtyp: &'static str,
    oid: String,
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    roles: &'a [String],
    sub: String,
    tid: &'a str,
    uti: String,
    ver: &'static str,
    /// Client capabilities from the `claims` request (`cp1`: CAE-capable).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    xms_cc: &'a [String],
    /// The federated managed identity path the client asked for (`fmi_path`).
    #[serde(skip_serializing_if = "Option::is_none")]
    fmi_path: Option<&'a str>,
}

/// What an app-only token is for.
pub(crate) struct AppToken<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) client: &'a App,
    pub(crate) audience: &'a str,
    pub(crate) roles: &'a [String],
    /// What the request's `claims` parameter asked for.
    pub(crate) claims: &'a ClaimsRequest,
    /// The request's `fmi_path`, carried into the token as a claim.
    pub(crate) fmi_path: Option<&'a str>,
}

/// Signs an app-only access token and builds Entra's token response.
pub(crate) fn app_token(
    state: &AppState,
    ctx: &RequestContext,
    token: &AppToken<'_>,
) -> Result<Value, EntraError> {
    let now = token.claims.issue_time(state.clock.now(), None);
    let lifetime = state.directory.token_lifetime_secs;
    let sp = service_principal_id(token.tenant, token.client);
    let claims = AppTokenClaims {
        aud: token.audience,
        iss: ctx.issuer(&token.tenant.id),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        appid: &token.client.client_id,
        azp: &token.client.client_id,
        azpacr: "1",
        idtyp: "app",
        oid: sp.clone(),
        roles: token.roles,
        sub: sp,
        tid: &token.tenant.id,
        uti: unique_token_id(),
        ver: "2.0",
        xms_cc: &token.claims.xms_cc,
        fmi_path: token.fmi_path,
    };
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
    state.signing_key.sign(claims).map_err(|e| {
        tracing::error!(error = %e, "signing a token failed");
        EntraError::server_error()
    })
}

/// Claims of a delegated (user) v2.0 access token.
#[derive(Debug, Serialize)]
struct UserTokenClaims<'a> {
    aud: &'a str,
    iss: String,
    iat: u64,
    nbf: u64,
    exp: u64,
    appid: &'a str,
    azp: &'a str,
    /// `0`: public client, no credential; `1`: client secret.
    azpacr: &'static str,
    idtyp: &'static str,
    name: &'a str,
    oid: &'a str,
    preferred_username: &'a str,
    scp: String,
    sub: String,
    tid: &'a str,
    upn: &'a str,
    uti: String,
    ver: &'static str,
    /// Client capabilities from the `claims` request (`cp1`: CAE-capable).
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    xms_cc: &'a [String],
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
) -> Result<Value, EntraError> {
    let grant = scopes::grant(&state.directory, t.tenant, &t.client.client_id, t.scopes)?;
    let clock_now = state.clock.now();
    // The access token's issue time: may sit up to a second ahead of the
    // clock right after a session revocation (see `revoke_user_sessions`).
    let now = claims.issue_time(clock_now, state.revocations.revoked_at(&t.user.upn));
    let lifetime = state.directory.token_lifetime_secs;
    let issuer = ctx.issuer(&t.tenant.id);
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
    let access = UserTokenClaims {
        aud: &grant.audience,
        iss: issuer.clone(),
        iat: now,
        nbf: now,
        exp: now + lifetime,
        appid: &t.client.client_id,
        azp: &t.client.client_id,
        azpacr: match t.client.kind {
            AppKind::Public => "0",
            AppKind::Confidential => "1",
        },
        idtyp: "user",
        name,
        oid: &t.user.object_id,
        preferred_username: &t.user.upn,
        scp: scp.join(" "),
        sub: sub.clone(),
        tid: &t.tenant.id,
        upn: &t.user.upn,
        uti: unique_token_id(),
        ver: "2.0",
        xms_cc: &claims.xms_cc,
    };
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
        let id = IdTokenClaims {
            aud: &t.client.client_id,
            iss: issuer,
            // The ID token is about the sign-in, not resource access: the
            // CAE floor applied to the access token does not concern it,
            // and clients reject ID tokens from the future.
            iat: clock_now,
            nbf: clock_now,
            exp: clock_now + lifetime,
            auth_time: t.auth_time,
            name,
            nonce: t.nonce,
            oid: &t.user.object_id,
            preferred_username: &t.user.upn,
            sub,
            tid: &t.tenant.id,
            uti: unique_token_id(),
            ver: "2.0",
        };
        body.insert("id_token".into(), json!(sign(state, &id)?));
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
