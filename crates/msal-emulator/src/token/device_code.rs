//! The device code grant (`urn:ietf:params:oauth:grant-type:device_code`):
//! a client polls with its `device_code` until the user approved or
//! declined on the verification page, or the code expired. Polling sooner
//! than `interval` after the previous poll of the same code gets
//! `slow_down`. An approved code is redeemed once.

use serde_json::Value;

use super::TokenRequest;
use super::client_auth::{self, ClientAuth};
use super::issue::{self, UserTokens};
use crate::device::DeviceStatus;
use crate::error::EntraError;
use crate::scopes::Scopes;

/// The grant's `grant_type` value.
pub(crate) const GRANT_TYPE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// What an approved device code stands for, taken out under the lock.
struct Approved {
    upn: String,
    auth_time: u64,
    scopes: Vec<String>,
    claims: crate::claims::ClaimsRequest,
}

/// Handles the device code grant.
pub(crate) fn grant(req: &TokenRequest<'_>) -> Result<Value, EntraError> {
    let auth = ClientAuth::read(req.form, req.headers)?;
    // MSAL Python also sends the legacy `code` parameter with the same value.
    let device_code = req
        .form
        .get("device_code")
        .or_else(|| req.form.get("code"))
        .ok_or_else(|| EntraError::missing_parameter("device_code"))?;
    let shown_tenant = req.tenant.map_or("common", |t| t.shown_name());
    let app = req
        .state
        .directory()
        .app(&auth.client_id)
        .ok_or_else(|| EntraError::app_not_found(&auth.client_id, shown_tenant))?;
    client_auth::authenticate(req, app, &auth.credential)?;

    let approved = poll(req, device_code, &auth.client_id)?;
    let user = req
        .state
        .directory()
        .user(&approved.upn)
        .ok_or_else(|| EntraError::invalid_grant("The user no longer exists."))?;
    let home = req
        .state
        .directory()
        .tenant(&user.tenant)
        .ok_or_else(|| EntraError::invalid_grant("The user's tenant no longer exists."))?;
    let tenant = req.user_tenant(&home.id)?;
    let client = client_auth::find_client(req.state, tenant, &auth.client_id)?;
    let scopes = req
        .form
        .get("scope")
        .map(Scopes::parse)
        .unwrap_or_else(|| Scopes::parse(&approved.scopes.join(" ")));
    issue::user_tokens_with_claims(
        req.state,
        req.ctx,
        &UserTokens {
            tenant,
            client,
            user,
            scopes: &scopes,
            nonce: None,
            auth_time: approved.auth_time,
            offline: scopes.has("offline_access"),
            client_info: req.form.get("client_info") == Some("1"),
        },
        &approved.claims.merged(&req.claims),
        req.client_acr.get(),
    )
}

/// Answers one poll; on approval, marks the code redeemed (under the lock,
/// so two concurrent polls cannot both get tokens) and returns what it stands for.
fn poll(req: &TokenRequest<'_>, device_code: &str, client_id: &str) -> Result<Approved, EntraError> {
    let state = req.state;
    let now = state.clock.now();
    let now_ms = state.clock.now_millis();
    let mut codes = state.device.lock();
    let authorization = codes
        .get_mut(device_code)
        .ok_or_else(EntraError::bad_verification_code)?;
    if !authorization.client_id.eq_ignore_ascii_case(client_id) {
        return Err(EntraError::invalid_grant(
            "The device code was issued to another client.",
        ));
    }
    if let (Some(asked), Some(issued)) = (req.tenant, &authorization.tenant_id)
        && !asked.id.eq_ignore_ascii_case(issued)
    {
        return Err(EntraError::invalid_grant(
            "The grant was issued in another tenant than the one in the request.",
        ));
    }
    if now >= authorization.expires_at {
        return Err(EntraError::device_code_expired());
    }
    match &authorization.status {
        DeviceStatus::Pending => {
            // Only waiting is rate limited: once the user acted, the answer
            // is ready and there is nothing to protect by delaying it.
            let interval_ms = state.device_interval_secs.saturating_mul(1000);
            let previous = authorization.last_poll_ms.replace(now_ms);
            match previous {
                Some(last) if now_ms.saturating_sub(last) < interval_ms => {
                    Err(EntraError::slow_down(state.device_interval_secs))
                }
                _ => Err(EntraError::authorization_pending()),
            }
        }
        DeviceStatus::Declined => Err(EntraError::authorization_declined()),
        DeviceStatus::Redeemed => Err(EntraError::invalid_grant(
            "The device code was already redeemed; start a new device code flow.",
        )),
        DeviceStatus::Approved { upn, auth_time } => {
            let approved = Approved {
                upn: upn.clone(),
                auth_time: *auth_time,
                scopes: authorization.scopes.clone(),
                claims: authorization.claims.clone(),
            };
            authorization.status = DeviceStatus::Redeemed;
            Ok(approved)
        }
    }
}
