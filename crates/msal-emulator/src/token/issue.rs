//! Minting access tokens: the v2.0 claim set, signing, and the token
//! response body.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::clock;
use crate::directory::{App, Tenant};
use crate::error::EntraError;
use crate::server::AppState;

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
}

/// What an app-only token is for.
pub(crate) struct AppToken<'a> {
    pub(crate) tenant: &'a Tenant,
    pub(crate) client: &'a App,
    pub(crate) audience: &'a str,
    pub(crate) roles: &'a [String],
}

/// Signs an app-only access token and builds Entra's token response.
pub(crate) fn app_token(state: &AppState, base_url: &str, token: &AppToken<'_>) -> Result<Value, EntraError> {
    let now = clock::unix_now();
    let lifetime = state.directory.token_lifetime_secs;
    let sp = service_principal_id(token.tenant, token.client);
    let claims = AppTokenClaims {
        aud: token.audience,
        iss: format!("{base_url}/{}/v2.0", token.tenant.id),
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
    };
    let access_token = state.signing_key.sign(&claims).map_err(|e| {
        tracing::error!(error = %e, "signing an access token failed");
        EntraError::server_error()
    })?;
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
fn unique_token_id() -> String {
    URL_SAFE_NO_PAD.encode(Uuid::new_v4().as_bytes())
}
