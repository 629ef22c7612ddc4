use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::json;

use crate::http::{BoxFuture, Sleeper};
use crate::testing::{FakeIdp, query};
use crate::{
    Error, ManagedIdentity, ManagedIdentityClient, ManagedIdentityEnvironment, ManagedIdentityError,
    ManagedIdentitySource, TokenSource,
};

/// Records each wait and returns at once.
#[derive(Clone, Default)]
struct RecordingSleeper(Arc<Mutex<Vec<Duration>>>);

impl Sleeper for RecordingSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        self.0.lock().unwrap().push(duration);
        Box::pin(async {})
    }
}

impl RecordingSleeper {
    fn waits(&self) -> Vec<Duration> {
        self.0.lock().unwrap().clone()
    }
}

fn env(vars: &[(&str, &str)]) -> ManagedIdentityEnvironment {
    ManagedIdentityEnvironment::from_vars(vars.iter().map(|(k, v)| (*k, *v)))
}

const SF_THUMBPRINT: &str = "A1B2C3D4E5F60718293A4B5C6D7E8F9011223344";

#[test]
fn sources_are_detected_in_msal_pythons_order() {
    use ManagedIdentitySource::*;
    let cases: &[(&[(&str, &str)], ManagedIdentitySource)] = &[
        (&[], Imds),
        (&[("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://10.0.0.1")], Imds),
        (
            &[
                ("IDENTITY_ENDPOINT", "https://x"),
                ("IDENTITY_HEADER", "h"),
                ("IDENTITY_SERVER_THUMBPRINT", SF_THUMBPRINT),
            ],
            ServiceFabric,
        ),
        (
            &[("IDENTITY_ENDPOINT", "http://x"), ("IDENTITY_HEADER", "h")],
            AppService,
        ),
        (
            &[
                ("IDENTITY_ENDPOINT", "http://x"),
                ("IDENTITY_HEADER", "h"),
                ("MSI_ENDPOINT", "http://y"),
                ("MSI_SECRET", "s"),
            ],
            AppService,
        ),
        (&[("MSI_ENDPOINT", "http://y"), ("MSI_SECRET", "s")], AzureMl),
        (
            &[("IDENTITY_ENDPOINT", "http://x"), ("IMDS_ENDPOINT", "http://z")],
            AzureArc,
        ),
        (&[("MSI_ENDPOINT", "http://y")], CloudShell),
        (&[("AZUREPS_HOST_ENVIRONMENT", "cloud-shell/1.0")], CloudShell),
        (&[("AZUREPS_HOST_ENVIRONMENT", "vscode")], Imds),
        // Blank values count as unset.
        (&[("IDENTITY_ENDPOINT", " "), ("IDENTITY_HEADER", "h")], Imds),
    ];
    for (vars, expected) in cases {
        assert_eq!(env(vars).source(), *expected, "{vars:?}");
    }
    assert_eq!(env(&[]).with_arc_agent(true).source(), AzureArc);
}

#[test]
fn debug_shows_no_host_secret() {
    let environment = env(&[
        ("IDENTITY_ENDPOINT", "http://x"),
        ("IDENTITY_HEADER", "header-secret-value"),
    ]);
    assert!(!format!("{environment:?}").contains("header-secret-value"));
    let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
        .environment(environment)
        .http_client(FakeIdp::new())
        .build()
        .unwrap();
    assert!(!format!("{client:?}").contains("header-secret-value"));
}

#[test]
fn unusable_environments_fail_the_build() {
    let build = |vars: &[(&str, &str)]| {
        ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
            .environment(env(vars))
            .http_client(FakeIdp::new())
            .build()
    };
    for vars in [
        &[("IDENTITY_ENDPOINT", "not a url"), ("IDENTITY_HEADER", "h")][..],
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", "ftp://x")][..],
        &[
            ("IDENTITY_ENDPOINT", "http://insecure"),
            ("IDENTITY_HEADER", "h"),
            ("IDENTITY_SERVER_THUMBPRINT", SF_THUMBPRINT),
        ][..],
        &[
            ("IDENTITY_ENDPOINT", "https://x"),
            ("IDENTITY_HEADER", "h"),
            ("IDENTITY_SERVER_THUMBPRINT", "123"),
        ][..],
    ] {
        match build(vars) {
            Err(Error::ManagedIdentity(ManagedIdentityError::InvalidEnvironment { .. })) => {}
            other => panic!("{vars:?}: {other:?}"),
        }
    }
}

async fn one_request(
    vars: &[(&str, &str)],
    identity: ManagedIdentity,
    body: serde_json::Value,
) -> crate::HttpRequest {
    let idp = FakeIdp::new();
    idp.respond(200, body);
    let client = ManagedIdentityClient::builder(identity)
        .environment(env(vars))
        .http_client(idp.clone())
        .build()
        .unwrap();
    client
        .acquire_token_for_client("https://vault.azure.net/.default")
        .await
        .unwrap();
    let requests = idp.requests();
    assert_eq!(requests.len(), 1);
    requests.into_iter().next().unwrap()
}

#[tokio::test]
async fn each_source_sends_its_own_request() {
    let token = json!({"access_token": "at", "expires_in": "3600", "expires_on": "4102444800", "token_type": "Bearer"});
    let imds = one_request(
        &[("AZURE_POD_IDENTITY_AUTHORITY_HOST", "http://10.0.0.1:81/")],
        ManagedIdentity::ResourceId("/subscriptions/s/id".into()),
        token.clone(),
    )
    .await;
    assert_eq!(imds.url.path(), "/metadata/identity/oauth2/token");
    assert_eq!(imds.url.host_str(), Some("10.0.0.1"));
    let q = query(imds.url.as_str());
    assert_eq!(q["api-version"], "2018-02-01");
    assert_eq!(q["resource"], "https://vault.azure.net");
    assert_eq!(q["msi_res_id"], "/subscriptions/s/id");
    assert_eq!(imds.header("Metadata"), Some("true"));

    let app = one_request(
        &[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:41741/msi/token"),
            ("IDENTITY_HEADER", "hdr"),
        ],
        ManagedIdentity::ResourceId("/subscriptions/s/id".into()),
        token.clone(),
    )
    .await;
    let q = query(app.url.as_str());
    assert_eq!(
        (q["api-version"].as_str(), q["mi_res_id"].as_str()),
        ("2019-08-01", "/subscriptions/s/id")
    );
    assert_eq!(app.header("X-IDENTITY-HEADER"), Some("hdr"));

    let ml = one_request(
        &[
            ("MSI_ENDPOINT", "http://127.0.0.1:46808/msi/auth"),
            ("MSI_SECRET", "sec"),
        ],
        ManagedIdentity::ClientId("cid".into()),
        token.clone(),
    )
    .await;
    let q = query(ml.url.as_str());
    assert_eq!(
        (q["api-version"].as_str(), q["clientid"].as_str()),
        ("2017-09-01", "cid")
    );
    assert!(!q.contains_key("client_id"));
    assert_eq!(ml.header("secret"), Some("sec"));

    let shell = one_request(
        &[("MSI_ENDPOINT", "http://localhost:50342/oauth2/token")],
        ManagedIdentity::SystemAssigned,
        token.clone(),
    )
    .await;
    assert_eq!(shell.method, crate::http::Method::Post);
    assert_eq!(
        String::from_utf8(shell.body.clone()).unwrap(),
        "resource=https%3A%2F%2Fvault.azure.net"
    );
    assert_eq!(shell.header("Metadata"), Some("true"));
}

#[tokio::test]
async fn hosts_that_cannot_serve_a_user_assigned_identity_say_so_before_any_request() {
    let cases: &[(&[(&str, &str)], ManagedIdentity)] = &[
        (
            &[("MSI_ENDPOINT", "http://y")],
            ManagedIdentity::ClientId("c".into()),
        ),
        (
            &[("MSI_ENDPOINT", "http://y"), ("MSI_SECRET", "s")],
            ManagedIdentity::ObjectId("o".into()),
        ),
        (
            &[("MSI_ENDPOINT", "http://y"), ("MSI_SECRET", "s")],
            ManagedIdentity::ResourceId("r".into()),
        ),
        (
            &[
                ("IDENTITY_ENDPOINT", "https://127.0.0.1:1/"),
                ("IDENTITY_HEADER", "h"),
                ("IDENTITY_SERVER_THUMBPRINT", SF_THUMBPRINT),
            ],
            ManagedIdentity::ClientId("c".into()),
        ),
    ];
    for (vars, identity) in cases {
        let idp = FakeIdp::new();
        let client = ManagedIdentityClient::builder(identity.clone())
            .environment(env(vars))
            .http_client(idp.clone())
            .build()
            .unwrap();
        match client.acquire_token_for_client("r").await {
            Err(Error::ManagedIdentity(ManagedIdentityError::UserAssignedNotSupported { .. })) => {}
            other => panic!("{vars:?}: {other:?}"),
        }
        assert_eq!(idp.request_count(), 0);
    }
}

#[tokio::test]
async fn answers_are_normalised_and_cached_as_msal_python_writes_them() {
    let idp = FakeIdp::new();
    // App Service: expires_on only, as a string; a long-lived token.
    let expires_on = crate::time::now_epoch() + 86_400;
    idp.respond(200, json!({"access_token": "at-1", "expires_on": expires_on.to_string(), "resource": "https://vault.azure.net", "token_type": "Bearer"}));
    let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
        .environment(env(&[
            ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
            ("IDENTITY_HEADER", "h"),
        ]))
        .http_client(idp.clone())
        .build()
        .unwrap();
    let first = client
        .acquire_token_for_client("https://vault.azure.net")
        .await
        .unwrap();
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    assert!(
        first.refresh_on.is_some(),
        "tokens of 2 h or more refresh at half their life"
    );
    let again = client
        .acquire_token_for_client("https://vault.azure.net/.default")
        .await
        .unwrap();
    assert_eq!(again.token_source, TokenSource::Cache);
    assert_eq!(again.access_token.expose_secret(), "at-1");
    assert_eq!(idp.request_count(), 1);
    let cache: serde_json::Value = serde_json::from_str(&client.token_cache().serialize()).unwrap();
    let entries = cache["AccessToken"].as_object().unwrap();
    let (key, entry) = entries.iter().next().unwrap();
    assert_eq!(
        key,
        "-localhost-accesstoken-system_assigned_managed_identity-managed_identity-https://vault.azure.net"
    );
    assert_eq!(entry["client_id"], "SYSTEM_ASSIGNED_MANAGED_IDENTITY");
    assert_eq!(entry["environment"], "localhost");
    assert_eq!(entry["realm"], "managed_identity");
    assert_eq!(entry["target"], "https://vault.azure.net");
    assert!(cache["RefreshToken"].as_object().is_none_or(|m| m.is_empty()));
}

#[tokio::test]
async fn bad_answers_are_typed_errors() {
    let cases = [
        (200, json!("not an object")),
        (200, json!({"token_type": "Bearer", "expires_in": 3600})),
        (200, json!({"access_token": "at"})),
        (
            400,
            json!({"error": "invalid_request", "error_description": "Identity not found"}),
        ),
        (400, json!({"statusCode": 400, "message": "bad resource"})),
        (
            401,
            json!({"error": {"code": "SecretHeaderNotFound", "message": "no secret", "correlationId": "c"}}),
        ),
        (418, json!({"unrelated": true})),
    ];
    for (status, body) in cases {
        let idp = FakeIdp::new();
        idp.respond(status, body.clone());
        let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
            .environment(env(&[
                ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
                ("IDENTITY_HEADER", "h"),
            ]))
            .http_client(idp)
            .build()
            .unwrap();
        let error = client.acquire_token_for_client("r").await.unwrap_err();
        match (status, &error) {
            (200 | 418, Error::InvalidResponse { .. }) => {}
            (400, Error::Service(service)) => assert_eq!(service.error, "invalid_request", "{body}"),
            (401, Error::Service(service)) => {
                assert_eq!(service.error, "unauthorized_client");
                assert_eq!(service.correlation_id.as_deref(), Some("c"));
            }
            _ => panic!("{status} {body}: {error:?}"),
        }
    }
}

#[tokio::test]
async fn imds_waits_out_a_410_storm_and_backs_off_on_server_errors() {
    let storm = |status: u16, count: usize| {
        let idp = FakeIdp::new();
        for _ in 0..count {
            idp.respond(status, json!({"error": "unavailable"}));
        }
        idp
    };
    let run = |idp: FakeIdp, vars: &'static [(&'static str, &'static str)]| async move {
        let sleeper = RecordingSleeper::default();
        let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
            .environment(env(vars))
            .http_client(idp.clone())
            .sleeper(sleeper.clone())
            .build()
            .unwrap();
        let outcome = client.acquire_token_for_client("r").await;
        (outcome, idp.request_count(), sleeper.waits())
    };
    let secs = |v: &[u64]| v.iter().map(|s| Duration::from_secs(*s)).collect::<Vec<_>>();

    // 410 for ever: one request and seven retries ten seconds apart.
    let (outcome, sent, waits) = run(storm(410, 20), &[]).await;
    assert!(outcome.is_err());
    assert_eq!(sent, 8);
    assert_eq!(waits, secs(&[10; 7]));

    // 500 for ever: three retries with exponential backoff.
    let (outcome, sent, waits) = run(storm(500, 20), &[]).await;
    assert!(
        matches!(outcome, Err(Error::Throttled { .. }) | Err(Error::Service(_))),
        "{outcome:?}"
    );
    assert_eq!(sent, 4);
    assert_eq!(waits, secs(&[1, 2, 4]));

    // IMDS retries a 404 (identity not yet assigned); App Service does not.
    let idp = storm(404, 1);
    idp.respond(200, json!({"access_token": "at", "expires_in": "3600"}));
    let (outcome, sent, waits) = run(idp, &[]).await;
    assert!(outcome.is_ok(), "{outcome:?}");
    assert_eq!((sent, waits), (2, secs(&[1])));
    let app_service: &'static [(&str, &str)] = &[
        ("IDENTITY_ENDPOINT", "http://127.0.0.1:1/msi/token"),
        ("IDENTITY_HEADER", "h"),
    ];
    let (outcome, sent, waits) = run(storm(404, 5), app_service).await;
    assert!(outcome.is_err());
    assert_eq!((sent, waits.len()), (1, 0));
}

#[tokio::test]
async fn absurd_lifetimes_saturate_instead_of_panicking() {
    for body in [
        json!({"access_token": "at", "expires_in": "18446744073709551000"}),
        json!({"access_token": "at", "expires_in": 18446744073709551u64, "refresh_in": 18446744073709551000u64}),
        json!({"access_token": "at", "expires_on": "18446744073709551615"}),
    ] {
        let idp = FakeIdp::new();
        idp.respond(200, body.clone());
        let client = ManagedIdentityClient::builder(ManagedIdentity::SystemAssigned)
            .environment(env(&[]))
            .http_client(idp)
            .build()
            .unwrap();
        let result = client.acquire_token_for_client("r").await.unwrap();
        assert!(result.expires_on > std::time::SystemTime::now(), "{body}");
        // Served again from the cache, whose instants saturated too.
        let again = client.acquire_token_for_client("r").await.unwrap();
        assert_eq!(again.token_source, TokenSource::Cache, "{body}");
    }
}
