//! The device code flow against the fake identity provider, on tokio's
//! paused clock where timing matters: the waits between polls are then
//! exact, so the interval arithmetic (pending, slow_down, expiry) is checked
//! to the millisecond without the tests taking that long.

use std::sync::Mutex;

use serde_json::{Value, json};

use super::*;
use crate::http::{BoxFuture, HttpClient, HttpRequest, HttpResponse};
use crate::testing::{self, AUTHORITY, CLIENT_ID, FakeIdp, TENANT_ID};
use crate::{PublicClientApplication, TokenCache, TokenSource};

const DEVICE_CODE: &str = "device-code-SECRET-value";
const OID: &str = "oid-dave";

/// The fake identity provider, noting when (on tokio's clock) each token request arrived.
#[derive(Clone, Default)]
struct Timed {
    idp: FakeIdp,
    polls: Arc<Mutex<Vec<Instant>>>,
}

impl Timed {
    /// Seconds after the first poll at which each poll arrived.
    fn poll_offsets(&self) -> Vec<f64> {
        let polls = self.polls.lock().unwrap();
        polls
            .iter()
            .map(|t| t.duration_since(polls[0]).as_secs_f64())
            .collect()
    }

    fn poll_count(&self) -> usize {
        self.polls.lock().unwrap().len()
    }
}

impl HttpClient for Timed {
    fn execute(
        &self,
        request: HttpRequest,
    ) -> BoxFuture<'_, std::result::Result<HttpResponse, crate::error::TransportError>> {
        if request.url.path().ends_with("/oauth2/v2.0/token") {
            self.polls.lock().unwrap().push(Instant::now());
        }
        self.idp.execute(request)
    }
}

fn app(http: &Timed, cache: &TokenCache) -> PublicClientApplication {
    PublicClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .http_client(http.clone())
        .token_cache(cache.clone())
        .build()
        .unwrap()
}

/// Entra's device code answer.
fn device_code_response(interval: u64, expires_in: u64) -> Value {
    json!({
        "user_code": "ABCD2345K",
        "device_code": DEVICE_CODE,
        "verification_uri": "https://microsoft.com/devicelogin",
        "expires_in": expires_in,
        "interval": interval,
        "message": "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD2345K to authenticate.",
    })
}

fn error(code: &str, aadsts: i64) -> Value {
    json!({
        "error": code,
        "error_description": format!("AADSTS{aadsts}: {code}"),
        "error_codes": [aadsts],
    })
}

fn pending() -> Value {
    error("authorization_pending", 70016)
}

async fn started(
    http: &Timed,
    cache: &TokenCache,
    interval: u64,
    expires_in: u64,
) -> (PublicClientApplication, DeviceFlow) {
    let app = app(http, cache);
    http.idp.respond(200, device_code_response(interval, expires_in));
    let flow = app.initiate_device_flow(["User.Read"]).await.unwrap();
    (app, flow)
}

#[tokio::test]
async fn initiate_sends_decorated_scopes_and_keeps_the_answer() {
    let http = Timed::default();
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .client_capabilities(["cp1"])
        .http_client(http.clone())
        .build()
        .unwrap();
    // No interval, no expires_in, no message, and a field this library does not know.
    http.idp.respond(
        200,
        json!({
            "user_code": "WDJB-MJHT", "device_code": DEVICE_CODE,
            "verification_uri": "https://idp.example/device",
            "verification_uri_complete": "https://idp.example/device?user_code=WDJB-MJHT",
            "x_vendor": {"a": 1},
        }),
    );
    let before = now_epoch_f64();
    let flow = app
        .initiate_device_flow_with(
            ["User.Read", "Mail.Read"],
            &DeviceFlowOptions::default().claims_challenge(r#"{"access_token":{"nbf":{"essential":true}}}"#),
        )
        .await
        .unwrap();
    let requests = http.idp.token_requests();
    assert_eq!(requests.len(), 1);
    assert!(
        requests[0].url.path().ends_with("/oauth2/v2.0/devicecode"),
        "{}",
        requests[0].url
    );
    let form = testing::form(&requests[0]);
    assert_eq!(form["client_id"], CLIENT_ID);
    assert_eq!(form["scope"], "Mail.Read User.Read offline_access openid profile");
    let claims: Value = serde_json::from_str(&form["claims"]).unwrap();
    assert_eq!(claims["access_token"]["xms_cc"]["values"], json!(["cp1"]));
    assert_eq!(claims["access_token"]["nbf"]["essential"], json!(true));
    assert!(requests[0].header("client-request-id").is_some());
    assert!(!form.contains_key("client_secret"));

    // MSAL Python's defaults.
    assert_eq!(flow.interval(), Duration::from_secs(5));
    assert_eq!(flow.expires_in(), Duration::from_secs(1800));
    assert!(flow.expires_at >= before + 1800.0 && flow.expires_at <= now_epoch_f64() + 1800.0);
    assert_eq!(flow.user_code(), "WDJB-MJHT");
    assert_eq!(flow.verification_uri(), "https://idp.example/device");
    assert_eq!(
        flow.verification_uri_complete(),
        Some("https://idp.example/device?user_code=WDJB-MJHT")
    );
    assert!(flow.message().contains("https://idp.example/device") && flow.message().contains("WDJB-MJHT"));
    assert_eq!(flow.get("x_vendor"), Some(&json!({"a": 1})));
    assert_eq!(
        flow.correlation_id(),
        requests[0].header("client-request-id").unwrap()
    );

    // Reserved scopes are refused before any request.
    let refused = app.initiate_device_flow(["openid"]).await;
    assert!(matches!(refused, Err(Error::InvalidArgument(_))), "{refused:?}");
    assert_eq!(http.idp.token_requests().len(), 1);
}

#[tokio::test]
async fn an_error_answer_to_initiate_is_a_service_error() {
    let http = Timed::default();
    let app = app(&http, &TokenCache::new());
    http.idp.respond(400, error("invalid_client", 7000218));
    let err = app.initiate_device_flow(["User.Read"]).await.unwrap_err();
    assert_eq!(err.service_error().unwrap().error, "invalid_client");
}

#[tokio::test]
async fn the_flow_serializes_like_msal_pythons_and_never_debugs_the_device_code() {
    let http = Timed::default();
    let (_app, flow) = started(&http, &TokenCache::new(), 5, 900).await;
    let debug = format!("{flow:?}");
    assert!(!debug.contains("SECRET"), "{debug}");
    let json: Value = serde_json::to_value(&flow).unwrap();
    for key in [
        "user_code",
        "device_code",
        "verification_uri",
        "message",
        "interval",
        "expires_in",
        "expires_at",
        "_correlation_id",
    ] {
        assert!(json.get(key).is_some(), "{key} in {json}");
    }
    assert_eq!(json["device_code"], DEVICE_CODE);
    let back: DeviceFlow = serde_json::from_value(json).unwrap();
    assert_eq!(back.device_code(), DEVICE_CODE);
    assert_eq!(back.scopes(), flow.scopes());
    assert_eq!(back.expires_at(), flow.expires_at());

    // What MSAL Python's initiate_device_flow returns (no scope; a float expires_at).
    let python = json!({
        "user_code": "ABCD2345K", "device_code": DEVICE_CODE,
        "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 5,
        "message": "To sign in ...", "expires_at": 1_700_000_000.25, "_correlation_id": "c-1",
    });
    let flow: DeviceFlow = serde_json::from_value(python).unwrap();
    assert_eq!(flow.correlation_id(), "c-1");
    assert_eq!(
        flow.expires_at(),
        UNIX_EPOCH + Duration::from_secs_f64(1_700_000_000.25)
    );
}

#[tokio::test(start_paused = true)]
async fn polls_wait_the_interval_and_slow_down_adds_five_seconds() {
    let http = Timed::default();
    let cache = TokenCache::new();
    let (app, flow) = started(&http, &cache, 5, 900).await;
    http.idp.respond(400, pending());
    http.idp.respond(400, error("slow_down", 70016));
    http.idp.respond(400, pending());
    http.idp.respond(
        200,
        testing::user_token_response(OID, "dave@contoso.com", "", 1000),
    );
    let seen = Arc::new(Mutex::new(Vec::new()));
    let record = seen.clone();
    let polling = DeviceFlowPolling::default().on_poll(move |poll| {
        record
            .lock()
            .unwrap()
            .push((poll.polls, poll.error.clone(), poll.interval))
    });

    let result = app
        .acquire_token_by_device_flow_with(&flow, &polling)
        .await
        .unwrap();

    // 5 s after the pending answer, 10 s after slow_down and again after the next pending.
    assert_eq!(http.poll_offsets(), vec![0.0, 5.0, 15.0, 25.0]);
    let secs = Duration::from_secs;
    assert_eq!(
        *seen.lock().unwrap(),
        vec![
            (1, "authorization_pending".to_owned(), secs(5)),
            (2, "slow_down".to_owned(), secs(10)),
            (3, "authorization_pending".to_owned(), secs(10)),
        ]
    );
    let polls: Vec<_> = http.idp.token_requests().into_iter().skip(1).collect();
    assert_eq!(polls.len(), 4);
    for poll in &polls {
        let form = testing::form(poll);
        assert_eq!(form["grant_type"], "urn:ietf:params:oauth:grant-type:device_code");
        assert_eq!(form["device_code"], DEVICE_CODE);
        assert_eq!(
            form["code"], DEVICE_CODE,
            "the legacy parameter MSAL Python sends"
        );
        assert_eq!(form["client_id"], CLIENT_ID);
        assert_eq!(form["client_info"], "1");
        assert!(!form.contains_key("scope"));
        assert_eq!(poll.header("x-client-current-telemetry"), Some("4|622,0|"));
        assert_eq!(poll.header("client-request-id"), Some(flow.correlation_id()));
    }

    assert_eq!(result.token_source, TokenSource::IdentityProvider);
    let account = result.account.expect("an account");
    assert_eq!(account.home_account_id, format!("{OID}.{TENANT_ID}"));
    let cached: Value = serde_json::from_str(&cache.serialize()).unwrap();
    let accounts = cached["Account"].as_object().unwrap();
    assert_eq!(accounts.len(), 1);
    assert_eq!(
        accounts.values().next().unwrap()["account_source"],
        "urn:ietf:params:oauth:grant-type:device_code"
    );
    assert_eq!(cached["RefreshToken"].as_object().unwrap().len(), 1);
    // Silent calls now work from the cache.
    let silent = app
        .acquire_token_silent(["User.Read"], &app.get_accounts(None)[0])
        .await
        .unwrap();
    assert_eq!(silent.token_source, TokenSource::Cache);
}

#[tokio::test(start_paused = true)]
async fn the_identity_providers_expired_token_is_a_typed_error() {
    let http = Timed::default();
    let (app, flow) = started(&http, &TokenCache::new(), 5, 900).await;
    http.idp.respond(400, pending());
    http.idp.respond(400, error("expired_token", 70020));
    let err = app.acquire_token_by_device_flow(&flow).await.unwrap_err();
    match &err {
        Error::DeviceCodeExpired {
            service: Some(service),
        } => assert_eq!(service.aadsts_code(), Some(70020)),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        err.service_error().map(|s| s.error.as_str()),
        Some("expired_token")
    );
    assert_eq!(http.poll_count(), 2);
}

#[tokio::test(start_paused = true)]
async fn polling_stops_at_expires_at() {
    let http = Timed::default();
    let (app, flow) = started(&http, &TokenCache::new(), 5, 12).await;
    for _ in 0..10 {
        http.idp.respond(400, pending());
    }
    let start = Instant::now();
    let err = app.acquire_token_by_device_flow(&flow).await.unwrap_err();
    assert!(
        matches!(err, Error::DeviceCodeExpired { service: None }),
        "{err:?}"
    );
    // Polls at 0, 5 and 10 s; the next would come after the code expired, so
    // the call waits out the last 2 s and gives up at expires_at.
    assert_eq!(http.poll_offsets(), vec![0.0, 5.0, 10.0]);
    let elapsed = start.elapsed().as_secs_f64();
    assert!((11.9..=12.0).contains(&elapsed), "{elapsed}");

    // A flow that already expired makes no request at all.
    let mut stale = flow.clone();
    stale.expires_at = now_epoch_f64() - 1.0;
    let err = app.acquire_token_by_device_flow(&stale).await.unwrap_err();
    assert!(
        matches!(err, Error::DeviceCodeExpired { service: None }),
        "{err:?}"
    );
    assert_eq!(http.poll_count(), 3);
}

#[tokio::test(start_paused = true)]
async fn declined_is_a_typed_error_and_other_errors_are_service_errors() {
    let http = Timed::default();
    let (app, flow) = started(&http, &TokenCache::new(), 1, 900).await;
    for (code, aadsts) in [("authorization_declined", 70000), ("access_denied", 70000)] {
        http.idp.respond(400, pending());
        http.idp.respond(400, error(code, aadsts));
        match app.acquire_token_by_device_flow(&flow).await {
            Err(Error::AuthorizationDeclined { service }) => assert_eq!(service.error, code),
            other => panic!("{code}: {other:?}"),
        }
    }
    http.idp.respond(400, error("bad_verification_code", 70019));
    match app.acquire_token_by_device_flow(&flow).await {
        Err(Error::Service(service)) => assert_eq!(service.error, "bad_verification_code"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(start_paused = true)]
async fn a_cancellation_handle_stops_polling_at_once() {
    let http = Timed::default();
    let (app, flow) = started(&http, &TokenCache::new(), 5, 900).await;
    for _ in 0..10 {
        http.idp.respond(400, pending());
    }
    let handle = CancellationHandle::new();
    let canceller = handle.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(7)).await;
        canceller.cancel();
    });
    let start = Instant::now();
    let polling = DeviceFlowPolling::default().cancellation(handle.clone());
    let err = app
        .acquire_token_by_device_flow_with(&flow, &polling)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(
        start.elapsed(),
        Duration::from_secs(7),
        "returned when cancelled, mid-wait"
    );
    assert_eq!(http.poll_offsets(), vec![0.0, 5.0]);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(http.poll_count(), 2, "nothing polls on after cancellation");

    // An already cancelled handle sends nothing.
    let requests = http.idp.request_count();
    let err = app
        .acquire_token_by_device_flow_with(&flow, &polling)
        .await
        .unwrap_err();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert_eq!(http.idp.request_count(), requests);
}

#[tokio::test(start_paused = true)]
async fn dropping_the_future_stops_polling() {
    let http = Timed::default();
    let (app, flow) = started(&http, &TokenCache::new(), 5, 900).await;
    for _ in 0..10 {
        http.idp.respond(400, pending());
    }
    let outcome = tokio::time::timeout(Duration::from_secs(7), app.acquire_token_by_device_flow(&flow)).await;
    assert!(outcome.is_err(), "still polling after 7 s");
    assert_eq!(http.poll_count(), 2);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(http.poll_count(), 2, "no poll after the future was dropped");
}

#[test]
fn the_blocking_facade_is_cancelled_from_another_thread() {
    let http = Timed::default();
    for _ in 0..10 {
        http.idp.respond(400, pending());
    }
    let app = PublicClientApplication::builder(CLIENT_ID)
        .authority(AUTHORITY)
        .http_client(http.clone())
        .build_blocking()
        .unwrap();
    // A flow as a program would have persisted it, so every queued answer is a poll's.
    let flow: DeviceFlow = serde_json::from_value(json!({
        "user_code": "ABCD2345K", "device_code": DEVICE_CODE,
        "verification_uri": "https://microsoft.com/devicelogin", "expires_in": 900, "interval": 5,
        "message": "m", "expires_at": now_epoch_f64() + 900.0,
    }))
    .unwrap();
    let handle = CancellationHandle::new();
    let ctrl_c = handle.clone();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        ctrl_c.cancel();
    });
    let start = std::time::Instant::now();
    let err = app
        .acquire_token_by_device_flow_with(&flow, &DeviceFlowPolling::default().cancellation(handle))
        .unwrap_err();
    canceller.join().unwrap();
    assert!(matches!(err, Error::Cancelled), "{err:?}");
    assert!(start.elapsed() < Duration::from_secs(3), "{:?}", start.elapsed());
    assert_eq!(http.poll_count(), 1);
}

#[test]
fn slow_down_never_overflows_and_bad_expiry_values_do_not_panic() {
    assert_eq!(seconds(f64::NAN), Duration::ZERO);
    assert_eq!(seconds(-5.0), Duration::ZERO);
    assert_eq!(seconds(f64::INFINITY), MAX_WAIT);
    assert_eq!(seconds(1e300), MAX_WAIT);
    assert_eq!(seconds(2.5), Duration::from_millis(2500));
}
