//! Regional token endpoints against the emulator over real HTTPS: the
//! authority is the public cloud's `login.microsoftonline.com`, and the
//! transport's resolver sends it and the regional hosts to the emulator (no
//! `/etc/hosts`). Region settings come from an injected environment, and
//! IMDS is the emulator's (its managed identity hosts), reached through a
//! transport that routes `169.254.169.254` to it: the library's IMDS
//! requests themselves are unchanged.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use crate::common::GRAPH_DEFAULT;
use msal::http::BoxFuture;
use msal::{
    AuthCodeFlowOptions, AzureRegion, ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication,
    Error, HttpClient, HttpRequest, HttpResponse, ReqwestHttpClient, ResponseMode, TokenCache, TokenSource,
    TransportError,
};
use msal_emulator::{Emulator, EmulatorConfig, Endpoint, Fault, FaultKind, ManagedIdentitySource, builtin};
use msal_test_support::{msal_http_builder, start, start_with, user};
use serde_json::Value;

const AUTHORITY: &str = "https://login.microsoftonline.com/contoso";
const REGIONS: [&str; 3] = ["westus2", "eastus", "northeurope"];

/// A transport that trusts only the emulator and resolves the public
/// cloud's global and regional hosts to it.
fn cloud_http(emulator: &Emulator) -> ReqwestHttpClient {
    let addr = SocketAddr::from(([127, 0, 0, 1], emulator.port()));
    let mut builder = msal_http_builder(emulator)
        .unwrap()
        .resolve("login.microsoftonline.com", addr);
    for region in REGIONS {
        builder = builder.resolve(&format!("{region}.login.microsoft.com"), addr);
    }
    builder.build().unwrap()
}

/// An environment with only these variables.
fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + Send + Sync + 'static {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

fn daemon(
    http: impl HttpClient,
    region: Option<AzureRegion>,
    vars: &[(&str, &str)],
) -> ConfidentialClientApplication {
    let mut builder = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(AUTHORITY)
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .token_cache(TokenCache::new())
        .http_client(http)
        .region_environment(env(vars));
    if let Some(region) = region {
        builder = builder.azure_region(region);
    }
    builder.build().unwrap()
}

/// The `environment` of every access token in the app's cache.
fn cached_environments(app: &ConfidentialClientApplication) -> Vec<String> {
    let cache: Value = serde_json::from_str(&app.token_cache().serialize()).unwrap();
    cache["AccessToken"]
        .as_object()
        .map(|entries| {
            entries
                .values()
                .map(|e| e["environment"].as_str().unwrap().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn an_explicit_region_sends_the_token_request_to_the_regional_host() {
    let emulator = start().await.unwrap();
    let app = daemon(
        cloud_http(&emulator),
        Some(AzureRegion::Explicit("westus2".into())),
        &[],
    );
    let result = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(result.tenant_id.as_deref(), Some(builtin::CONTOSO_TENANT_ID));
    // Discovery went to the global host; only the token request to the region.
    assert_eq!(emulator.request_count(Endpoint::OpenIdConfiguration), 1);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert_eq!(emulator.regional_requests(), 1);
    assert_eq!(emulator.regional_requests_to("westus2"), 1);
    // Cached under the global host, so regional and global tokens are one cache.
    assert_eq!(cached_environments(&app), ["login.microsoftonline.com"]);
    let again = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn off_uses_the_global_host_even_when_msal_force_region_is_set() {
    let emulator = start().await.unwrap();
    let app = daemon(
        cloud_http(&emulator),
        Some(AzureRegion::Off),
        &[("MSAL_FORCE_REGION", "eastus"), ("REGION_NAME", "westus2")],
    );
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert_eq!(emulator.regional_requests(), 0);
}

#[tokio::test]
async fn msal_force_region_applies_when_the_app_sets_no_region() {
    let emulator = start().await.unwrap();
    let app = daemon(cloud_http(&emulator), None, &[("MSAL_FORCE_REGION", "eastus")]);
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.regional_requests_to("eastus"), 1);
    // An explicit region wins over it.
    emulator.reset_counts();
    let app = daemon(
        cloud_http(&emulator),
        Some(AzureRegion::Explicit("westus2".into())),
        &[("MSAL_FORCE_REGION", "eastus")],
    );
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.regional_requests_to("westus2"), 1);
    assert_eq!(emulator.regional_requests_to("eastus"), 0);
    // Neither set: the global host.
    emulator.reset_counts();
    let app = daemon(cloud_http(&emulator), None, &[("REGION_NAME", "westus2")]);
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.regional_requests(), 0);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
}

#[tokio::test]
async fn a_malformed_msal_force_region_is_ignored() {
    let emulator = start().await.unwrap();
    let app = daemon(
        cloud_http(&emulator),
        None,
        &[("MSAL_FORCE_REGION", "evil.example.com/x")],
    );
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.regional_requests(), 0);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
}

/// An emulator whose IMDS says the VM is in `region`.
async fn start_in(region: &str) -> Emulator {
    let config = EmulatorConfig::default()
        .with_managed_identity(true)
        .with_imds_region(region);
    start_with(config).await.unwrap()
}

/// Requests IMDS's compute metadata endpoints received.
fn imds_requests(emulator: &Emulator) -> u64 {
    emulator.request_count(Endpoint::ImdsInstance)
}

#[tokio::test]
async fn auto_detect_reads_region_name_before_imds() {
    let emulator = start_in("eastus").await;
    let app = daemon(
        ImdsRoute::new(&emulator),
        Some(AzureRegion::AutoDetect),
        &[("REGION_NAME", "northeurope")],
    );
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.regional_requests_to("northeurope"), 1);
    assert_eq!(
        imds_requests(&emulator),
        0,
        "IMDS is not asked when REGION_NAME is set"
    );
}

#[tokio::test]
async fn auto_detect_asks_imds_once_per_application() {
    let emulator = start_in("eastus").await;
    let app = daemon(ImdsRoute::new(&emulator), Some(AzureRegion::AutoDetect), &[]);
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let forced = ClientCredentialsOptions::default().force_refresh(true);
    app.acquire_token_for_client_with([GRAPH_DEFAULT], &forced)
        .await
        .unwrap();
    assert_eq!(emulator.regional_requests_to("eastus"), 2);
    assert_eq!(imds_requests(&emulator), 1, "the detected region is kept");
    assert_eq!(cached_environments(&app), ["login.microsoftonline.com"]);
}

#[tokio::test]
async fn auto_detect_falls_back_to_the_plain_text_location() {
    // The compute metadata (MSAL Python's JSON form) fails once; the
    // location alone (MSAL Go's and .NET's form) still tells the region.
    let emulator = start_in("northeurope").await;
    emulator.inject_fault(
        Fault::new(FaultKind::Status(503))
            .at(Endpoint::ImdsInstance)
            .times(1),
    );
    let app = daemon(ImdsRoute::new(&emulator), Some(AzureRegion::AutoDetect), &[]);
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.regional_requests_to("northeurope"), 1);
    assert_eq!(imds_requests(&emulator), 2);
}

#[tokio::test]
async fn auto_detect_without_an_answer_uses_the_global_host() {
    let emulator = start_in("eastus").await;
    // IMDS never answers in time: detection gives up after 2 s.
    emulator.inject_fault(Fault::new(FaultKind::Latency(Duration::from_secs(20))).at(Endpoint::ImdsInstance));
    let app = daemon(ImdsRoute::new(&emulator), Some(AzureRegion::AutoDetect), &[]);
    let started = Instant::now();
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(2) && took < Duration::from_secs(10),
        "{took:?}"
    );
    assert_eq!(emulator.regional_requests(), 0);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    // The failure is kept too: the next request does not wait again.
    let forced = ClientCredentialsOptions::default().force_refresh(true);
    let started = Instant::now();
    app.acquire_token_for_client_with([GRAPH_DEFAULT], &forced)
        .await
        .unwrap();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(imds_requests(&emulator), 1);

    // A malformed region name from IMDS is no region either.
    let emulator = start_in("West US 2").await;
    let app = daemon(ImdsRoute::new(&emulator), Some(AzureRegion::AutoDetect), &[]);
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(imds_requests(&emulator), 1);
    assert_eq!(emulator.regional_requests(), 0);
}

#[tokio::test]
async fn a_failing_region_falls_back_to_the_global_host() {
    let emulator = start().await.unwrap();
    emulator.fail_region("westus2");
    let app = daemon(
        cloud_http(&emulator),
        Some(AzureRegion::Explicit("westus2".into())),
        &[],
    );
    let result = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    // The refused regional request and its one retry (counted per region
    // only), then the global one.
    assert_eq!(emulator.regional_requests_to("westus2"), 2);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert_eq!(cached_environments(&app), ["login.microsoftonline.com"]);

    // An unreachable region (its host resolves to a closed port) falls back too.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let http = msal_http_builder(&emulator)
        .unwrap()
        .resolve(
            "login.microsoftonline.com",
            SocketAddr::from(([127, 0, 0, 1], emulator.port())),
        )
        .resolve("nowhere.login.microsoft.com", closed)
        .build()
        .unwrap();
    let app = daemon(http, Some(AzureRegion::Explicit("nowhere".into())), &[]);
    let result = app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(emulator.request_count(Endpoint::Token), 2);
    // Still only westus2's two: nothing reached the unreachable region.
    assert_eq!(emulator.regional_requests(), 2);

    // A region that answers, but with a client error, is not retried globally.
    emulator.restore_region("westus2");
    let app = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(AUTHORITY)
        .client_secret(ClientSecret::new("wrong secret"))
        .http_client(cloud_http(&emulator))
        .azure_region(AzureRegion::Explicit("westus2".into()))
        .build()
        .unwrap();
    emulator.reset_counts();
    match app.acquire_token_for_client([GRAPH_DEFAULT]).await {
        Err(Error::Service(e)) => assert_eq!(e.error, "invalid_client"),
        other => panic!("expected invalid_client, got {other:?}"),
    }
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    assert_eq!(emulator.regional_requests_to("westus2"), 1);
}

#[test]
fn an_invalid_region_name_fails_the_build() {
    for bad in ["West US 2", "", "westus2.evil.com", "westus2-"] {
        let built = ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
            .authority(AUTHORITY)
            .client_secret(ClientSecret::new("s"))
            .azure_region(AzureRegion::Explicit(bad.into()))
            .build();
        match built {
            Err(Error::InvalidArgument(message)) => assert!(message.contains("region"), "{message}"),
            other => panic!("{bad:?}: expected InvalidArgument, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn user_flows_never_use_the_region() {
    let emulator = start().await.unwrap();
    let app = ConfidentialClientApplication::builder(builtin::WEBAPP_CLIENT_ID)
        .authority(AUTHORITY)
        .client_secret(ClientSecret::new(builtin::WEBAPP_CLIENT_SECRET))
        .http_client(cloud_http(&emulator))
        .azure_region(AzureRegion::Explicit("westus2".into()))
        .build()
        .unwrap();
    let options = AuthCodeFlowOptions::default()
        .response_mode(ResponseMode::Query)
        .login_hint(builtin::ALICE_UPN);
    let flow = app
        .initiate_auth_code_flow(["User.Read"], builtin::WEBAPP_REDIRECT_URI, &options)
        .await
        .unwrap();
    assert!(flow.auth_uri().starts_with("https://login.microsoftonline.com/"));
    // The scripted user has no resolver override: send it to the emulator's address.
    let auth_uri = flow.auth_uri().replacen(
        "login.microsoftonline.com",
        &format!("127.0.0.1:{}", emulator.port()),
        1,
    );
    let response = user::sign_in(&emulator, &auth_uri, builtin::ALICE_UPN, builtin::ALICE_PASSWORD)
        .await
        .unwrap();
    let result = app
        .acquire_token_by_auth_code_flow(&flow, &response)
        .await
        .unwrap();
    let account = result.account.expect("an account");
    assert_eq!(account.environment, "login.microsoftonline.com");
    // Silent refresh of the user's tokens: global host too.
    let forced = msal::SilentOptions::default().force_refresh(true);
    app.acquire_token_silent_with(["User.Read"], &account, &forced)
        .await
        .unwrap();
    assert_eq!(emulator.grant_count("authorization_code"), 1);
    assert_eq!(emulator.grant_count("refresh_token"), 1);
    assert_eq!(emulator.regional_requests(), 0);
    // The same app's client credentials request does use it.
    app.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(emulator.regional_requests_to("westus2"), 1);
}

/// Routes requests for IMDS's link-local address to the emulator's IMDS
/// (an IP address is never resolved, so the resolver override cannot do
/// it), and everything else through the cloud transport.
struct ImdsRoute {
    inner: ReqwestHttpClient,
    imds: SocketAddr,
}

impl ImdsRoute {
    fn new(emulator: &Emulator) -> Self {
        let url = emulator
            .managed_identity_url(ManagedIdentitySource::Imds)
            .unwrap();
        let imds = url.strip_prefix("http://").unwrap().parse().unwrap();
        Self {
            inner: cloud_http(emulator),
            imds,
        }
    }
}

impl HttpClient for ImdsRoute {
    fn execute(&self, mut request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        if request.url.host_str() == Some("169.254.169.254") {
            assert_eq!(request.url.scheme(), "http");
            request.url.set_ip_host(self.imds.ip()).unwrap();
            request.url.set_port(Some(self.imds.port())).unwrap();
        }
        self.inner.execute(request)
    }
}
