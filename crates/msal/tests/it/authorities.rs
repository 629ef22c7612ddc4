//! Authority kinds and tenants over real HTTPS against the emulator: the
//! per-request tenant override (one multi-tenant app object, each tenant's
//! tokens under its own realm), and instance discovery that asks a trusted
//! endpoint rather than the authority's own host.

use msal::{
    ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication, Error, TokenCache, TokenSource,
};
use msal_emulator::{Directory, EmulatorConfig, Endpoint, builtin};
use msal_test_support::{msal_http, start_with};
use serde_json::Value;

use crate::common::GRAPH_DEFAULT;

fn realms_of_access_tokens(cache: &TokenCache) -> Vec<String> {
    let json: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let mut realms: Vec<String> = json["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .map(|at| at["realm"].as_str().unwrap().to_owned())
        .collect();
    realms.sort();
    realms
}

#[tokio::test]
async fn one_multi_tenant_app_gets_each_tenants_token_under_its_own_realm() {
    let mut directory = Directory::builtin();
    let daemon = directory
        .apps
        .iter_mut()
        .find(|a| a.client_id == builtin::DAEMON_CLIENT_ID)
        .unwrap();
    daemon.multi_tenant = true;
    let emulator = start_with(EmulatorConfig::new(directory)).await.unwrap();
    let cache = TokenCache::new();
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_NAME))
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(cache.clone())
        .http_client(msal_http(&emulator).unwrap())
        .build()
        .unwrap();

    let in_fabrikam = ClientCredentialsOptions::default().tenant(builtin::FABRIKAM_TENANT_NAME);
    let fabrikam = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &in_fabrikam)
        .await
        .unwrap();
    assert_eq!(fabrikam.tenant_id.as_deref(), Some(builtin::FABRIKAM_TENANT_ID));
    let contoso = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(contoso.tenant_id.as_deref(), Some(builtin::CONTOSO_TENANT_ID));
    assert_ne!(
        fabrikam.access_token.expose_secret(),
        contoso.access_token.expose_secret()
    );
    let mut expected = vec![
        builtin::CONTOSO_TENANT_ID.to_owned(),
        builtin::FABRIKAM_TENANT_ID.to_owned(),
    ];
    expected.sort();
    assert_eq!(realms_of_access_tokens(&cache), expected);

    // Each tenant's token is served from the cache, never the other's.
    let again = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &in_fabrikam)
        .await
        .unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(
        again.access_token.expose_secret(),
        fabrikam.access_token.expose_secret()
    );
    let by_id = ClientCredentialsOptions::default().tenant(builtin::FABRIKAM_TENANT_ID);
    let again = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &by_id)
        .await
        .unwrap();
    assert_eq!(
        again.access_token.expose_secret(),
        fabrikam.access_token.expose_secret()
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 2);

    // A tenant that is not one path segment is refused before any request.
    let bad = ClientCredentialsOptions::default().tenant("fabrikam/../contoso");
    let err = app
        .acquire_token_for_client_with([GRAPH_DEFAULT], &bad)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err:?}");
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
}
