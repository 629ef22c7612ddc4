//! `ManagedIdentityClient` against the emulator's six managed identity
//! hosts, each reached through the environment variables the emulator says
//! a host of that kind sets: tokens, the cache, user-assigned identities,
//! and every bad answer a host can give.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use msal::http::{BoxFuture, Sleeper};
use msal::{
    Error, ManagedIdentity, ManagedIdentityClient, ManagedIdentityEnvironment, ManagedIdentityError,
    ManagedIdentityOptions, ManagedIdentitySource, TokenCache, TokenSource,
};
use msal_emulator::ManagedIdentitySource as EmulatedHost;
use msal_emulator::{Emulator, EmulatorConfig, Endpoint, Fault, FaultKind, builtin};
use serde_json::Value;

const RESOURCE: &str = builtin::KEY_VAULT_RESOURCE;

/// Records each retry wait and returns at once: the emulator counts the
/// attempts, this the waits between them.
#[derive(Clone, Default)]
struct RecordingSleeper(Arc<Mutex<Vec<Duration>>>);

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.0.lock().unwrap().push(duration);
        Box::pin(async {})
    }
}

struct Hosts {
    emulator: Emulator,
    arc_tokens: tempfile::TempDir,
}

async fn start() -> Hosts {
    let arc_tokens = tempfile::tempdir().unwrap();
    let config = EmulatorConfig::default()
        .with_managed_identity(true)
        .with_arc_token_directory(arc_tokens.path().to_owned());
    let emulator = msal_test_support::start_with(config).await.unwrap();
    Hosts { emulator, arc_tokens }
}

/// The library's name for an emulated host: both spell them alike.
fn ours(source: EmulatedHost) -> ManagedIdentitySource {
    ManagedIdentitySource::ALL
        .into_iter()
        .find(|s| s.name() == source.name())
        .unwrap()
}

impl Hosts {
    /// The environment a host of kind `source` sets, pointing at the emulator.
    fn environment(&self, source: EmulatedHost) -> ManagedIdentityEnvironment {
        let vars = self.emulator.managed_identity_env(source);
        assert!(!vars.is_empty(), "{source:?} has variables");
        ManagedIdentityEnvironment::from_vars(vars).with_arc_token_directory(self.arc_tokens.path())
    }

    fn client(&self, source: EmulatedHost, identity: ManagedIdentity) -> ManagedIdentityClient {
        self.client_with(source, identity, RecordingSleeper::default())
    }

    fn client_with(
        &self,
        source: EmulatedHost,
        identity: ManagedIdentity,
        sleeper: RecordingSleeper,
    ) -> ManagedIdentityClient {
        let client = ManagedIdentityClient::builder(identity)
            .environment(self.environment(source))
            .sleeper(sleeper)
            .build()
            .unwrap();
        assert_eq!(client.source(), ours(source));
        client
    }

    fn count(&self, source: EmulatedHost) -> u64 {
        self.emulator.request_count(source.endpoint())
    }
}

/// The claims of a JWT (the emulator's tokens are JWTs).
fn claims(token: &str) -> Value {
    let payload = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

#[tokio::test]
async fn every_host_gives_a_token_and_the_cache_serves_it_again() {
    let hosts = start().await;
    for source in EmulatedHost::ALL {
        let client = hosts.client(source, ManagedIdentity::SystemAssigned);
        let first = client.acquire_token_for_client(RESOURCE).await.unwrap();
        assert_eq!(first.token_source, TokenSource::IdentityProvider, "{source:?}");
        let token = claims(first.access_token.expose_secret());
        assert_eq!(token["aud"], RESOURCE, "{source:?}");
        if source != EmulatedHost::CloudShell {
            // Cloud Shell's token is the signed-in user's; the others are the VM's identity.
            assert_eq!(token["oid"], builtin::MI_SYSTEM_ASSIGNED_OBJECT_ID, "{source:?}");
        }
        // Arc answers a challenge first: two requests for one token.
        let requests = hosts.count(source);
        assert_eq!(
            requests,
            if source == EmulatedHost::AzureArc { 2 } else { 1 },
            "{source:?}"
        );

        let again = client
            .acquire_token_for_client(&format!("{RESOURCE}/.default"))
            .await
            .unwrap();
        assert_eq!(again.token_source, TokenSource::Cache, "{source:?}");
        assert_eq!(
            again.access_token.expose_secret(),
            first.access_token.expose_secret()
        );
        assert_eq!(hosts.count(source), requests, "{source:?}: the cache answered");
    }
}

#[tokio::test]
async fn user_assigned_identities_by_each_id_kind_where_the_host_supports_it() {
    let hosts = start().await;
    let ids = [
        ManagedIdentity::ClientId(builtin::MI_USER_ASSIGNED_CLIENT_ID.into()),
        ManagedIdentity::ResourceId(builtin::MI_USER_ASSIGNED_RESOURCE_ID.into()),
        ManagedIdentity::ObjectId(builtin::MI_USER_ASSIGNED_OBJECT_ID.into()),
    ];
    for source in EmulatedHost::ALL {
        for identity in &ids {
            let supported = match source {
                EmulatedHost::Imds | EmulatedHost::AppService | EmulatedHost::AzureArc => true,
                EmulatedHost::AzureMl => matches!(identity, ManagedIdentity::ClientId(_)),
                _ => false,
            };
            let client = hosts.client(source, identity.clone());
            let before = hosts.count(source);
            let outcome = client.acquire_token_for_client(RESOURCE).await;
            if supported {
                let result = outcome.unwrap_or_else(|e| panic!("{source:?} {identity:?}: {e}"));
                let token = claims(result.access_token.expose_secret());
                assert_eq!(
                    token["oid"],
                    builtin::MI_USER_ASSIGNED_OBJECT_ID,
                    "{source:?} {identity:?}"
                );
                assert_eq!(token["appid"], builtin::MI_USER_ASSIGNED_CLIENT_ID);
                // Cached under the id it was chosen by, as MSAL Python keys it.
                let cache: Value = serde_json::from_str(&client.token_cache().serialize()).unwrap();
                let entry = cache["AccessToken"].as_object().unwrap().values().next().unwrap();
                assert_eq!(entry["client_id"], identity.id().unwrap());
            } else {
                match outcome {
                    Err(Error::ManagedIdentity(ManagedIdentityError::UserAssignedNotSupported {
                        host,
                        ..
                    })) => {
                        assert_eq!(host, ours(source));
                    }
                    other => panic!("{source:?} {identity:?}: {other:?}"),
                }
                assert_eq!(hosts.count(source), before, "refused before any request");
            }
        }
    }
}

#[tokio::test]
async fn malformed_answers_are_typed_errors() {
    let hosts = start().await;
    for (kind, source) in [
        (FaultKind::NotJson, EmulatedHost::AppService),
        (FaultKind::MissingAccessToken, EmulatedHost::AzureMl),
        (FaultKind::NotJson, EmulatedHost::Imds),
        (FaultKind::MissingAccessToken, EmulatedHost::ServiceFabric),
    ] {
        hosts
            .emulator
            .inject_fault(Fault::new(kind.clone()).at(source.endpoint()).times(1));
        let client = hosts.client(source, ManagedIdentity::SystemAssigned);
        match client.acquire_token_for_client(RESOURCE).await {
            Err(Error::InvalidResponse { status: 200, .. }) => {}
            other => panic!("{kind:?} at {source:?}: {other:?}"),
        }
        assert!(
            client.token_cache().serialize().contains("\"AccessToken\": {}")
                || client.token_cache().access_token_count() == 0
        );
    }
}

#[tokio::test]
async fn a_service_fabric_endpoint_with_another_certificate_gets_nothing() {
    let hosts = start().await;
    let vars: Vec<(String, String)> = hosts
        .emulator
        .managed_identity_env(EmulatedHost::ServiceFabric)
        .into_iter()
        .map(|(name, value)| {
            if name == "IDENTITY_SERVER_THUMBPRINT" {
                // One digit off.
                let flipped = if value.starts_with('0') { "1" } else { "0" };
                (name, format!("{flipped}{}", &value[1..]))
            } else {
                (name, value)
            }
        })
        .collect();
    let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
        .environment(ManagedIdentityEnvironment::from_vars(vars))
        .build()
        .unwrap();
    match client.acquire_token_for_client(RESOURCE).await {
        Err(Error::ManagedIdentity(ManagedIdentityError::ServerCertificateMismatch { actual })) => {
            assert_eq!(actual.len(), 40);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        hosts.count(EmulatedHost::ServiceFabric),
        0,
        "the identity header never left"
    );
}

#[tokio::test]
async fn azure_arc_key_files_are_read_only_from_the_token_directory() {
    let hosts = start().await;
    for (kind, expected) in [
        (FaultKind::ArcKeyOutsideDirectory, "outside"),
        (FaultKind::ArcKeyTooLarge, "larger"),
        (FaultKind::ArcKeyMissing, "cannot be opened"),
    ] {
        hosts
            .emulator
            .inject_fault(Fault::new(kind.clone()).at(Endpoint::AzureArc).times(1));
        let client = hosts.client(EmulatedHost::AzureArc, ManagedIdentity::SystemAssigned);
        let before = hosts.count(EmulatedHost::AzureArc);
        match client.acquire_token_for_client(RESOURCE).await {
            Err(Error::ManagedIdentity(ManagedIdentityError::ArcKeyFile { reason, .. })) => {
                assert!(reason.contains(expected), "{kind:?}: {reason}");
            }
            other => panic!("{kind:?}: {other:?}"),
        }
        assert_eq!(
            hosts.count(EmulatedHost::AzureArc),
            before + 1,
            "no second request without a key"
        );
    }
    // An answer for another identity than the one asked for (the fault
    // stays until cleared: the challenge request would consume a single one).
    hosts
        .emulator
        .inject_fault(Fault::new(FaultKind::WrongIdentity).at(Endpoint::AzureArc));
    let client = hosts.client(
        EmulatedHost::AzureArc,
        ManagedIdentity::ClientId(builtin::MI_USER_ASSIGNED_CLIENT_ID.into()),
    );
    match client.acquire_token_for_client(RESOURCE).await {
        Err(Error::ManagedIdentity(ManagedIdentityError::IdentityMismatch { expected, .. })) => {
            assert_eq!(expected, builtin::MI_USER_ASSIGNED_CLIENT_ID);
        }
        other => panic!("{other:?}"),
    }
    hosts.emulator.clear_faults();
    assert_eq!(client.token_cache().access_token_count(), 0);
}

#[tokio::test]
async fn storms_are_retried_a_bounded_number_of_times() {
    let hosts = start().await;
    let secs = |list: &[u64]| list.iter().map(|s| Duration::from_secs(*s)).collect::<Vec<_>>();
    // (host, status, attempts, waits)
    let cases = [
        (EmulatedHost::Imds, 410, 8, secs(&[10; 7])),
        (EmulatedHost::Imds, 500, 4, secs(&[1, 2, 4])),
        (EmulatedHost::AppService, 503, 4, secs(&[1, 2, 4])),
        (EmulatedHost::AppService, 404, 1, Vec::new()),
        (EmulatedHost::AzureMl, 429, 4, secs(&[1, 2, 4])),
    ];
    for (source, status, attempts, waits) in cases {
        hosts.emulator.clear_faults();
        hosts
            .emulator
            .inject_fault(Fault::new(FaultKind::Status(status)).at(source.endpoint()));
        let sleeper = RecordingSleeper::default();
        let client = hosts.client_with(source, ManagedIdentity::SystemAssigned, sleeper.clone());
        let before = hosts.count(source);
        let outcome = client.acquire_token_for_client(RESOURCE).await;
        assert!(outcome.is_err(), "{source:?} {status}");
        assert_eq!(hosts.count(source) - before, attempts, "{source:?} {status}");
        assert_eq!(*sleeper.0.lock().unwrap(), waits, "{source:?} {status}");
    }
    // Retry-After is honoured when longer than the backoff.
    hosts.emulator.clear_faults();
    hosts.emulator.inject_fault(
        Fault::new(FaultKind::TooManyRequests { retry_after: Some(3) }).at(Endpoint::AppService),
    );
    let sleeper = RecordingSleeper::default();
    let client = hosts.client_with(
        EmulatedHost::AppService,
        ManagedIdentity::SystemAssigned,
        sleeper.clone(),
    );
    match client.acquire_token_for_client(RESOURCE).await {
        Err(Error::Throttled { retry_after, .. }) => assert_eq!(retry_after, Duration::from_secs(3)),
        other => panic!("{other:?}"),
    }
    assert_eq!(*sleeper.0.lock().unwrap(), secs(&[3, 3, 4]));

    // A storm that ends: IMDS's upgrade is over after three 410s.
    hosts.emulator.clear_faults();
    hosts
        .emulator
        .inject_fault(Fault::new(FaultKind::Status(410)).at(Endpoint::Imds).times(3));
    let sleeper = RecordingSleeper::default();
    let client = hosts.client_with(
        EmulatedHost::Imds,
        ManagedIdentity::SystemAssigned,
        sleeper.clone(),
    );
    let result = client.acquire_token_for_client(RESOURCE).await.unwrap();
    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    assert_eq!(sleeper.0.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_claims_challenge_replaces_the_cached_token() {
    let hosts = start().await;
    let client = hosts.client(EmulatedHost::ServiceFabric, ManagedIdentity::SystemAssigned);
    let first = client.acquire_token_for_client(RESOURCE).await.unwrap();
    hosts.emulator.advance_clock(Duration::from_secs(5));
    let options = ManagedIdentityOptions::default()
        .claims_challenge(r#"{"access_token":{"nbf":{"essential":true,"value":"1"}}}"#);
    let second = client
        .acquire_token_for_client_with(RESOURCE, &options)
        .await
        .unwrap();
    assert_eq!(second.token_source, TokenSource::IdentityProvider);
    assert_ne!(
        second.access_token.expose_secret(),
        first.access_token.expose_secret()
    );
    assert_eq!(hosts.count(EmulatedHost::ServiceFabric), 2);
    // The new token is what the cache serves now.
    let third = client.acquire_token_for_client(RESOURCE).await.unwrap();
    assert_eq!(
        third.access_token.expose_secret(),
        second.access_token.expose_secret()
    );
}

#[tokio::test]
async fn the_blocking_facade_gets_a_token_and_a_shared_cache_file_round_trips() {
    let hosts = start().await;
    let environment = hosts.environment(EmulatedHost::AppService);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.json");
    // A thread of its own: the facade refuses to block a runtime's threads.
    let thread = std::thread::spawn(move || {
        let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
            .environment(environment)
            .build_blocking()
            .unwrap();
        let result = client.acquire_token_for_client(RESOURCE).unwrap();
        client.token_cache().save_to_file(&path).unwrap();
        (result.access_token.expose_secret().to_owned(), path)
    });
    // Waited for off the runtime, which serves the emulator meanwhile.
    let token = tokio::task::spawn_blocking(move || thread.join().unwrap())
        .await
        .unwrap();
    // A new client (a new process) on the same cache file: no request.
    let cache = TokenCache::load_from_file(&token.1).unwrap();
    let before = hosts.count(EmulatedHost::AppService);
    let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
        .environment(hosts.environment(EmulatedHost::AppService))
        .token_cache(cache)
        .build()
        .unwrap();
    let again = client.acquire_token_for_client(RESOURCE).await.unwrap();
    assert_eq!(again.access_token.expose_secret(), token.0);
    assert_eq!(hosts.count(EmulatedHost::AppService), before);
}

/// MSAL Python 1.39.0's `ManagedIdentityClient`, given the same host
/// environment, gets tokens from the same emulator endpoints, and each
/// library serves what the other cached. Azure Arc's keys are where MSAL
/// Python looks for them (the agent's own directory, fixed in its code).
#[tokio::test]
async fn msal_python_and_this_library_share_managed_identity_tokens() {
    let config = EmulatorConfig::default()
        .with_managed_identity(true)
        .with_arc_token_directory(msal_emulator::DEFAULT_ARC_TOKEN_DIRECTORY.into());
    let emulator = msal_test_support::start_with(config).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sf_cert = dir.path().join("service-fabric.pem");
    std::fs::write(&sf_cert, emulator.service_fabric_cert_pem().unwrap()).unwrap();
    let user_assigned = serde_json::json!({
        "ManagedIdentityIdType": "ClientId",
        "Id": builtin::MI_USER_ASSIGNED_CLIENT_ID,
    });
    // Python's managed identity client does not speak Cloud Shell.
    for source in EmulatedHost::ALL
        .into_iter()
        .filter(|s| *s != EmulatedHost::CloudShell)
    {
        let env = emulator.managed_identity_env(source);
        let python_cache = dir.path().join(format!("{}-python.json", source.name()));
        let user_assigned_here = source != EmulatedHost::ServiceFabric;
        let (python_identity, identity) = if user_assigned_here {
            (
                user_assigned.clone(),
                ManagedIdentity::ClientId(builtin::MI_USER_ASSIGNED_CLIENT_ID.into()),
            )
        } else {
            (Value::Null, ManagedIdentity::SystemAssigned)
        };
        let args = serde_json::json!({
            "resource": RESOURCE,
            "cache_path": python_cache,
            "identity": python_identity,
            "verify": sf_cert,
        });
        let out =
            msal_test_support::python::run_with_env(&emulator, "managed_identity.py", &args, None, &env)
                .await
                .unwrap();
        assert_eq!(out["error"], Value::Null, "{source:?}: {out}");
        assert_eq!(out["source"], source.name(), "{out}");
        assert_eq!(out["token_source"], "identity_provider", "{out}");

        // This library, on the cache MSAL Python wrote: no request.
        let before = emulator.request_count(source.endpoint());
        let client = ManagedIdentityClient::builder(identity.clone())
            .environment(ManagedIdentityEnvironment::from_vars(env.clone()))
            .token_cache(TokenCache::load_from_file(&python_cache).unwrap_or_else(|e| {
                panic!(
                    "{e}: {}",
                    std::fs::read_to_string(&python_cache).unwrap_or_default()
                )
            }))
            .build()
            .unwrap();
        let ours = client.acquire_token_for_client(RESOURCE).await.unwrap();
        assert_eq!(ours.token_source, TokenSource::Cache, "{source:?}");
        assert_eq!(
            ours.access_token.expose_secret(),
            out["access_token"].as_str().unwrap()
        );
        assert_eq!(emulator.request_count(source.endpoint()), before);

        // And the reverse: this library's cache file, read by MSAL Python.
        // Only for a user-assigned identity: MSAL Python 1.39 looks up a
        // system-assigned one under a null client id, so it never finds the
        // SYSTEM_ASSIGNED_MANAGED_IDENTITY entries every other MSAL writes.
        if !identity.is_user_assigned() {
            continue;
        }
        let rust_cache = dir.path().join(format!("{}-rust.json", source.name()));
        let client = ManagedIdentityClient::builder(identity)
            .environment(ManagedIdentityEnvironment::from_vars(env.clone()))
            .build()
            .unwrap();
        let fresh = client.acquire_token_for_client(RESOURCE).await.unwrap();
        assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
        client.token_cache().save_to_file(&rust_cache).unwrap();
        let after_ours = emulator.request_count(source.endpoint());
        let args = serde_json::json!({
            "resource": RESOURCE,
            "cache_path": rust_cache,
            "identity": python_identity,
            "verify": sf_cert,
        });
        let theirs =
            msal_test_support::python::run_with_env(&emulator, "managed_identity.py", &args, None, &env)
                .await
                .unwrap();
        assert_eq!(theirs["token_source"], "cache", "{source:?}: {theirs}");
        assert_eq!(
            theirs["access_token"].as_str().unwrap(),
            fresh.access_token.expose_secret()
        );
        assert_eq!(emulator.request_count(source.endpoint()), after_ours);
    }
}
