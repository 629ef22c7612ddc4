//! `acquire_token_by_refresh_token`: MSAL Python's migration helper. An
//! application that kept refresh tokens itself (from ADAL, or its own OAuth2
//! code) redeems each one once here; the new tokens, the new refresh token
//! and the account land in the cache, and from then on
//! `acquire_token_silent` serves the user. The refresh token passed in is
//! not cached: the identity provider's new one replaces it.

use crate::core::{AppCore, Grant, save};
use crate::credential::ClientCredential;
use crate::error::{Error, Result};
use crate::result::AuthenticationResult;
use crate::telemetry::{ApiId, RefreshReason};

pub(crate) async fn acquire<I, S>(
    core: &AppCore,
    credential: Option<&ClientCredential>,
    refresh_token: &str,
    scopes: I,
) -> Result<AuthenticationResult>
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let refresh_token = refresh_token.trim();
    if refresh_token.is_empty() {
        return Err(Error::InvalidArgument("the refresh token is empty".into()));
    }
    // Decorated like every user flow, so the answer carries an ID token (the
    // account) and a refresh token (for silent calls later).
    let scopes = super::decorate_scopes(scopes)?;
    let claims = core.claims(None)?;
    let correlation_id = super::new_correlation_id();
    let metadata = core.metadata(&correlation_id).await?;
    let grant = Grant::new("refresh_token", &scopes)
        .subject("refresh_token", refresh_token)
        .claims(claims.as_deref())
        .credential(credential)
        // MSAL Python reports this API as a forced refresh: the cache was not consulted.
        .reason(RefreshReason::ForceRefresh);
    tracing::debug!(client_id = %core.client_id, endpoint = %metadata.token_endpoint, "redeeming a refresh token from outside the cache");
    let call = core.call(ApiId::AcquireTokenByRefreshToken, &correlation_id, metadata);
    let response = call.token(grant).await?;
    let claims = save::id_token_claims(&response)?;
    let issued = call.issued(&scopes, "refresh_token");
    save::save_establishing_account(&issued, response, claims)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::testing::{self, AUTHORITY, CLIENT_ID, FakeIdp, TENANT_ID};
    use crate::{
        ClientSecret, ConfidentialClientApplication, Error, PublicClientApplication, TokenCache, TokenSource,
    };

    fn cached(cache: &TokenCache, section: &str) -> serde_json::Map<String, Value> {
        let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
        json[section].as_object().cloned().unwrap_or_default()
    }

    #[tokio::test]
    async fn a_foreign_refresh_token_is_redeemed_and_the_user_lands_in_the_cache() {
        let idp = FakeIdp::new();
        let cache = TokenCache::new();
        let app = PublicClientApplication::builder(CLIENT_ID)
            .authority(AUTHORITY)
            .client_capabilities(["cp1"])
            .http_client(idp.clone())
            .token_cache(cache.clone())
            .build()
            .unwrap();
        idp.respond(
            200,
            testing::user_token_response("oid-erin", "erin@contoso.com", "", 1000),
        );
        let result = app
            .acquire_token_by_refresh_token(" rt-from-adal ", ["User.Read"])
            .await
            .unwrap();
        assert_eq!(result.token_source, TokenSource::IdentityProvider);

        let request = &idp.token_requests()[0];
        let form = testing::form(request);
        assert_eq!(form["grant_type"], "refresh_token");
        assert_eq!(form["refresh_token"], "rt-from-adal");
        assert_eq!(form["scope"], "User.Read offline_access openid profile");
        assert_eq!(form["client_info"], "1");
        assert!(form["claims"].contains("cp1"));
        assert_eq!(request.header("x-client-current-telemetry"), Some("4|85,1|"));

        // The account is written (unlike a silent refresh), with no account_source,
        // and the cache holds the identity provider's new refresh token only.
        let accounts = cached(&cache, "Account");
        assert_eq!(accounts.len(), 1);
        assert!(accounts.values().next().unwrap().get("account_source").is_none());
        let rts = cached(&cache, "RefreshToken");
        assert_eq!(rts.len(), 1);
        assert_eq!(rts.values().next().unwrap()["secret"], "rt-secret-oid-erin");

        let account = app.get_accounts(Some("erin@contoso.com"))[0].clone();
        assert_eq!(account.home_account_id, format!("oid-erin.{TENANT_ID}"));
        let silent = app.acquire_token_silent(["User.Read"], &account).await.unwrap();
        assert_eq!(silent.token_source, TokenSource::Cache);
        assert_eq!(idp.token_requests().len(), 1);
    }

    #[tokio::test]
    async fn a_confidential_client_sends_its_secret_and_errors_are_checked() {
        let idp = FakeIdp::new();
        let app = ConfidentialClientApplication::builder(CLIENT_ID)
            .authority(AUTHORITY)
            .client_secret(ClientSecret::new("s3cret"))
            .http_client(idp.clone())
            .build()
            .unwrap();
        for (rt, scopes) in [("", vec!["User.Read"]), ("rt", vec!["offline_access"])] {
            let refused = app.acquire_token_by_refresh_token(rt, scopes).await;
            assert!(matches!(refused, Err(Error::InvalidArgument(_))), "{refused:?}");
        }
        assert_eq!(idp.request_count(), 0, "checked before any request");

        idp.respond(
            400,
            json!({"error": "invalid_grant", "error_description": "AADSTS70000: revoked", "error_codes": [70000]}),
        );
        let err = app
            .acquire_token_by_refresh_token("rt", ["User.Read"])
            .await
            .unwrap_err();
        assert!(err.is_interaction_required(), "{err:?}");
        assert_eq!(testing::form(&idp.token_requests()[0])["client_secret"], "s3cret");
    }
}
