//! Unit tests of the pipeline (purposes, throttle, HTTP cache, retries) over a scripted transport.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::SystemTime;

use super::throttle::{CAPACITY, DISCOVERY_TTL, UI_REQUIRED_WINDOW};
use super::*;
use crate::error::TransportErrorKind;
use crate::http::BoxFuture;

/// Answers from a script, one per request, and records what it was sent.
#[derive(Default)]
struct Script {
    answers: Mutex<VecDeque<Result<HttpResponse, TransportErrorKind>>>,
    sent: Mutex<Vec<HttpRequest>>,
}

impl Script {
    fn push(&self, status: u16, headers: &[(&str, &str)], body: &str) {
        self.answers.lock().unwrap().push_back(Ok(HttpResponse {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.as_bytes().to_vec(),
        }));
    }

    fn fail(&self, kind: TransportErrorKind) {
        self.answers.lock().unwrap().push_back(Err(kind));
    }

    fn sent(&self) -> usize {
        self.sent.lock().unwrap().len()
    }
}

impl HttpClient for Script {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        self.sent.lock().unwrap().push(request.clone());
        let answer = self.answers.lock().unwrap().pop_front();
        Box::pin(async move {
            match answer {
                Some(Ok(response)) => Ok(response),
                Some(Err(kind)) => Err(TransportError::new(
                    kind,
                    request.url.to_string(),
                    "scripted failure",
                )),
                None => panic!("unscripted request to {}", request.url),
            }
        })
    }
}

struct Fixture {
    script: Arc<Script>,
    offset: Arc<Mutex<Duration>>,
    pipeline: Pipeline,
}

/// An answer and the throttle's verdict on it.
#[derive(Debug)]
struct Sent {
    response: HttpResponse,
    throttled: Option<u64>,
}

impl std::ops::Deref for Sent {
    type Target = HttpResponse;
    fn deref(&self) -> &HttpResponse {
        &self.response
    }
}

fn fixture(public: bool) -> Fixture {
    let script = Arc::new(Script::default());
    let offset = Arc::new(Mutex::new(Duration::ZERO));
    let base = Instant::now();
    let clock_offset = offset.clone();
    let cache = HttpCache::with_clock(move || base + *clock_offset.lock().unwrap());
    let pipeline = Pipeline::new(
        script.clone(),
        cache,
        public,
        vec![("x-app-name".into(), "demo".into())],
    );
    Fixture {
        script,
        offset,
        pipeline,
    }
}

impl Fixture {
    fn advance(&self, by: Duration) {
        *self.offset.lock().unwrap() += by;
    }

    /// Sends `request` as the protocol layer would tag it: GETs are
    /// discovery, device code grants are polls, other POSTs token requests
    /// keyed by their client id, scope and user grant.
    async fn send(&self, request: HttpRequest) -> Result<Sent, TransportError> {
        let outgoing = match request.method {
            Method::Get => Outgoing::new(Purpose::Discovery, request),
            Method::Post => {
                let field = |name: &str| {
                    url::form_urlencoded::parse(&request.body)
                        .find(|(n, _)| n == name)
                        .map(|(_, v)| v.into_owned())
                };
                let poll =
                    field("grant_type").as_deref() == Some("urn:ietf:params:oauth:grant-type:device_code");
                let subject = ["refresh_token", "code", "username", "assertion", "device_code"]
                    .iter()
                    .find_map(|f| field(f));
                let key = ThrottleKey::new(
                    &field("client_id").unwrap_or_default(),
                    &field("scope").unwrap_or_default(),
                    subject.as_deref(),
                );
                let purpose = if poll {
                    Purpose::DevicePoll
                } else {
                    Purpose::TokenRequest
                };
                Outgoing::new(purpose, request).throttle_key(key)
            }
        };
        self.send_as(outgoing).await
    }

    async fn send_as(&self, outgoing: Outgoing) -> Result<Sent, TransportError> {
        let delivered = self.pipeline.send(outgoing).await?;
        Ok(Sent {
            response: delivered.response,
            throttled: delivered.throttled.map(|d| d.as_millis() as u64),
        })
    }
}

const TOKEN_URL: &str = "https://login.example.com/t/oauth2/v2.0/token";

fn post(body: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Post,
        url: TOKEN_URL.parse().unwrap(),
        headers: Vec::new(),
        body: body.as_bytes().to_vec(),
    }
}

fn get(url: &str) -> HttpRequest {
    HttpRequest {
        method: Method::Get,
        url: url.parse().unwrap(),
        headers: Vec::new(),
        body: Vec::new(),
    }
}

fn throttled_ms(sent: &Sent) -> Option<u64> {
    sent.throttled
}

const RT_BODY: &str = "client_id=c&grant_type=refresh_token&refresh_token=secret-rt&scope=a+b";
const INVALID_GRANT: &str = r#"{"error":"invalid_grant","error_description":"revoked"}"#;

#[tokio::test]
async fn retry_after_holds_identical_requests_until_it_passes() {
    let f = fixture(false);
    f.script.push(
        429,
        &[("Retry-After", "3")],
        r#"{"error":"temporarily_unavailable"}"#,
    );
    let first = f.send(post(RT_BODY)).await.unwrap();
    assert_eq!(throttled_ms(&first), Some(3000));
    assert_eq!(f.script.sent(), 1, "a 429 is not retried");
    f.advance(Duration::from_secs(2));
    let held = f.send(post(RT_BODY)).await.unwrap();
    assert_eq!(held.status, 429);
    assert_eq!(throttled_ms(&held), Some(1000));
    assert_eq!(f.script.sent(), 1);
    // Another user (another refresh token) is not held back.
    f.script.push(200, &[], "{}");
    let other = f
        .send(post(
            "client_id=c&grant_type=refresh_token&refresh_token=other&scope=a+b",
        ))
        .await
        .unwrap();
    assert_eq!(other.status, 200);
    f.advance(Duration::from_secs(1));
    f.script.push(200, &[], "{}");
    let after = f.send(post(RT_BODY)).await.unwrap();
    assert_eq!((after.status, throttled_ms(&after)), (200, None));
    assert_eq!(f.script.sent(), 3);
    // Every request carried the app headers.
    assert!(
        f.script
            .sent
            .lock()
            .unwrap()
            .iter()
            .all(|r| r.header("x-app-name") == Some("demo"))
    );
}

#[tokio::test]
async fn keys_keep_no_secret() {
    let f = fixture(true);
    f.script.push(429, &[], "{}");
    f.send(post(RT_BODY)).await.unwrap();
    f.script.push(400, &[], INVALID_GRANT);
    f.send(post(
        "client_id=c&grant_type=password&username=u&password=hunter2",
    ))
    .await
    .unwrap();
    let entries = f.pipeline.cache.entries();
    assert_eq!(entries.len(), 2);
    for key in entries.keys() {
        assert!(!key.contains("secret-rt") && !key.contains("hunter2"), "{key}");
    }
}

#[tokio::test]
async fn default_windows_depend_on_the_client_kind() {
    for (public, window) in [(true, 60_000), (false, 5_000)] {
        let f = fixture(public);
        f.script.push(429, &[], "{}");
        let response = f.send(post(RT_BODY)).await.unwrap();
        assert_eq!(throttled_ms(&response), Some(window));
    }
}

#[tokio::test]
async fn retry_after_is_capped_and_reads_http_dates() {
    let f = fixture(false);
    f.script.push(429, &[("retry-after", "86400")], "{}");
    let response = f.send(post(RT_BODY)).await.unwrap();
    assert_eq!(throttled_ms(&response), Some(3_600_000));

    let at = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
    let response = HttpResponse {
        status: 429,
        headers: vec![("Retry-After".into(), at)],
        body: Vec::new(),
    };
    let delay = retry_after(&response).unwrap();
    assert!((118..=120).contains(&delay.as_secs()), "{delay:?}");
    let past = HttpResponse {
        status: 429,
        headers: vec![("Retry-After".into(), "Wed, 21 Oct 2015 07:28:00 GMT".into())],
        body: Vec::new(),
    };
    assert_eq!(retry_after(&past), Some(Duration::ZERO));
    let junk = HttpResponse {
        status: 429,
        headers: vec![("Retry-After".into(), "soon".into())],
        body: Vec::new(),
    };
    assert_eq!(retry_after(&junk), None);
}

#[tokio::test]
async fn server_errors_are_retried_once() {
    let f = fixture(false);
    f.script.push(500, &[], "{}");
    f.script.push(200, &[], "{}");
    let response = f.send(post(RT_BODY)).await.unwrap();
    assert_eq!((response.status, f.script.sent()), (200, 2));

    // Twice a 5xx: the second is throttled with the default window.
    f.script.push(503, &[], "{}");
    f.script.push(503, &[], "{}");
    let response = f.send(post(RT_BODY)).await.unwrap();
    assert_eq!((throttled_ms(&response), f.script.sent()), (Some(5_000), 4));

    // A long Retry-After on a 5xx is not waited out: the throttle holds it.
    let f = fixture(false);
    f.script.push(503, &[("Retry-After", "30")], "{}");
    let response = f.send(post(RT_BODY)).await.unwrap();
    assert_eq!((throttled_ms(&response), f.script.sent()), (Some(30_000), 1));
}

#[tokio::test]
async fn connection_failures_are_retried_once_but_timeouts_are_not() {
    let f = fixture(false);
    f.script.fail(TransportErrorKind::Connect);
    f.script.push(200, &[], "{}");
    assert_eq!(f.send(post(RT_BODY)).await.unwrap().status, 200);
    assert_eq!(f.script.sent(), 2);

    f.script.fail(TransportErrorKind::Other);
    f.script.fail(TransportErrorKind::Other);
    assert!(f.send(post(RT_BODY)).await.is_err());
    assert_eq!(f.script.sent(), 4);

    f.script.fail(TransportErrorKind::Timeout);
    let error = f.send(post(RT_BODY)).await.unwrap_err();
    assert_eq!((error.kind, f.script.sent()), (TransportErrorKind::Timeout, 5));
}

#[tokio::test]
async fn ui_required_is_remembered_for_public_clients_only() {
    let f = fixture(true);
    f.script.push(400, &[], INVALID_GRANT);
    assert_eq!(f.send(post(RT_BODY)).await.unwrap().status, 400);
    let replay = f.send(post(RT_BODY)).await.unwrap();
    assert_eq!((replay.status, throttled_ms(&replay)), (400, None));
    assert_eq!(f.script.sent(), 1);
    f.advance(UI_REQUIRED_WINDOW);
    f.script.push(200, &[], "{}");
    assert_eq!(f.send(post(RT_BODY)).await.unwrap().status, 200);

    let f = fixture(false);
    f.script.push(400, &[], INVALID_GRANT);
    f.script.push(400, &[], INVALID_GRANT);
    f.send(post(RT_BODY)).await.unwrap();
    f.send(post(RT_BODY)).await.unwrap();
    assert_eq!(f.script.sent(), 2);
}

#[tokio::test]
async fn device_code_polls_and_other_400s_are_not_remembered() {
    let f = fixture(true);
    let poll = "client_id=c&grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=d";
    let pending = r#"{"error":"authorization_pending"}"#;
    f.script.push(400, &[], pending);
    f.script.push(400, &[], r#"{"error":"invalid_grant"}"#);
    f.script.push(400, &[], r#"{"error":"invalid_grant"}"#);
    f.send(post(poll)).await.unwrap();
    f.send(post(poll)).await.unwrap();
    f.send(post(poll)).await.unwrap();
    assert_eq!(f.script.sent(), 3);

    f.script.push(400, &[], r#"{"error":"invalid_scope"}"#);
    f.script.push(400, &[], r#"{"error":"invalid_scope"}"#);
    f.send(post(RT_BODY)).await.unwrap();
    f.send(post(RT_BODY)).await.unwrap();
    assert_eq!(f.script.sent(), 5);
}

#[tokio::test]
async fn successful_gets_are_cached_for_a_day() {
    let f = fixture(false);
    let url = "https://login.example.com/t/v2.0/.well-known/openid-configuration";
    f.script.push(404, &[], "{}");
    f.script.push(
        200,
        &[("content-type", "application/json"), ("set-cookie", "x")],
        "{\"a\":1}",
    );
    assert_eq!(f.send(get(url)).await.unwrap().status, 404);
    assert_eq!(f.send(get(url)).await.unwrap().status, 200);
    let cached = f.send(get(url)).await.unwrap();
    assert_eq!((cached.status, cached.body.as_slice()), (200, &b"{\"a\":1}"[..]));
    assert_eq!(cached.header("set-cookie"), None, "only the content type is kept");
    assert_eq!(f.script.sent(), 2);
    f.advance(DISCOVERY_TTL);
    f.script.push(200, &[], "{}");
    f.send(get(url)).await.unwrap();
    assert_eq!(f.script.sent(), 3);
}

#[tokio::test]
async fn only_discovery_documents_are_served_from_the_http_cache() {
    let f = fixture(false);
    // A managed-identity-style GET that returns a bearer token, and a token
    // endpoint answering a GET: asked twice, sent twice.
    let mi = "https://169.254.169.254/metadata/identity/oauth2/token?resource=r&api-version=2018-02-01";
    for purpose in [
        Purpose::ManagedIdentity,
        Purpose::TokenRequest,
        Purpose::ImdsProbe,
    ] {
        let before = f.script.sent();
        for token in ["at-1", "at-2"] {
            f.script
                .push(200, &[], &format!("{{\"access_token\":\"{token}\"}}"));
            let sent = f.send_as(Outgoing::new(purpose, get(mi))).await.unwrap();
            let body = String::from_utf8(sent.body.clone()).unwrap();
            assert!(body.contains(token), "{purpose}: {body}");
        }
        assert_eq!(
            f.script.sent(),
            before + 2,
            "{purpose} is never answered from the cache"
        );
    }
    let kept: Vec<String> = f.pipeline.cache.entries().keys().cloned().collect();
    assert!(kept.is_empty(), "no token response is kept: {kept:?}");
    // The same GET as a discovery document: the second is served from the cache.
    let url = "https://login.example.com/t/v2.0/.well-known/openid-configuration";
    f.script.push(200, &[], "{}");
    f.send_as(Outgoing::new(Purpose::Discovery, get(url)))
        .await
        .unwrap();
    f.send_as(Outgoing::new(Purpose::Discovery, get(url)))
        .await
        .unwrap();
    assert_eq!(f.script.sent(), 7);
}

#[tokio::test]
async fn imds_probes_are_not_retried() {
    let f = fixture(false);
    f.script.fail(TransportErrorKind::Connect);
    let probe = Outgoing::new(
        Purpose::ImdsProbe,
        get("http://169.254.169.254/metadata/instance"),
    );
    assert!(f.send_as(probe).await.is_err());
    assert_eq!(f.script.sent(), 1);
}

#[test]
fn capacity_is_bounded() {
    let cache = HttpCache::new();
    let response = HttpResponse {
        status: 200,
        headers: Vec::new(),
        body: Vec::new(),
    };
    for i in 0..CAPACITY + 10 {
        cache.store(format!("k{i}"), &response, Duration::from_secs(60 + i as u64));
    }
    assert_eq!(cache.len(), CAPACITY);
    // The newest entries are kept, the ones closest to expiring went first.
    assert!(cache.lookup(&format!("k{}", CAPACITY + 9)).is_some());
    assert!(cache.lookup("k0").is_none());
    cache.clear();
    assert!(cache.is_empty());
}
