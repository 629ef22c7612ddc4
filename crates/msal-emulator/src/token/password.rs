//! The `password` grant (resource owner password credentials): tokens for a
//! managed user whose password Entra checks itself. A federated user's
//! password is the federation server's to check, so it is refused here;
//! clients use user realm discovery and WS-Trust for them.

use serde_json::Value;

use super::TokenRequest;
use super::client_auth::{self, ClientAuth};
use super::issue::UserTokens;
use crate::error::EntraError;
use crate::scopes::Scopes;

/// Handles `grant_type=password`.
pub(crate) fn grant(req: &TokenRequest<'_>) -> Result<Value, EntraError> {
    let auth = ClientAuth::read(req.form, req.headers)?;
    let username = req.form.required("username")?.trim();
    let password = req.form.required("password")?;
    let scope = req.form.required("scope")?;
    let directory = req.state.directory();
    let Some(user) = directory.user(username) else {
        let shown = match req.tenant {
            Some(t) => t.shown_name(),
            None => username.rsplit_once('@').map_or(username, |(_, domain)| domain),
        };
        return Err(EntraError::user_not_found(username, shown));
    };
    let home = req.user_home(user)?;
    let client = client_auth::find_client(req.state, home, &auth.client_id)?;
    client_auth::authenticate(req, client, &auth.credential)?;
    if directory.is_federated(user) {
        let domain = user.upn.rsplit_once('@').map_or("", |(_, d)| d);
        return Err(EntraError::federated_user_password(domain));
    }
    if !client_auth::constant_time_eq(&user.password, password) {
        return Err(EntraError::invalid_credentials());
    }
    let scopes = Scopes::parse(scope);
    req.user_tokens(&UserTokens {
        tenant: home,
        client,
        user,
        scopes: &scopes,
        nonce: None,
        auth_time: req.state.clock.now(),
        offline: scopes.has("offline_access"),
        client_info: req.form.get("client_info") == Some("1"),
    })
}
