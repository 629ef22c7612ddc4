//! Fault injection and the telemetry check, driven through the Rust API
//! and through the `/_admin` HTTP endpoints.

use std::time::{Duration, Instant};

use msal_emulator::{Emulator, EmulatorConfig, Endpoint, Fault, FaultKind, builtin};
use msal_test_support::{client, start};
use serde_json::json;

fn token_url(emulator: &Emulator) -> String {
    format!(
        "{}/oauth2/v2.0/token",
        emulator.authority(builtin::CONTOSO_TENANT_NAME)
    )
}

async fn json_of(response: reqwest::Response) -> serde_json::Value {
    serde_json::from_slice(&response.bytes().await.unwrap()).unwrap()
}

const TELEMETRY: [(&str, &str); 6] = [
    ("x-client-sku", "MSAL.Test"),
    ("x-client-ver", "1.0"),
    ("x-client-os", "linux"),
    ("client-request-id", "0f8fad5b-d9cb-469f-a165-70867728950e"),
    ("x-client-current-telemetry", "4|730,2|"),
    ("x-client-last-telemetry", "4|0|||"),
];

/// A client credentials request, with MSAL's headers when `telemetry`.
async fn client_credentials(
    emulator: &Emulator,
    client_id: &str,
    telemetry: bool,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut request = client(emulator).unwrap().post(token_url(emulator)).form(&[
        ("client_id", client_id),
        ("client_secret", builtin::DAEMON_CLIENT_SECRET),
        ("grant_type", "client_credentials"),
        ("scope", "https://graph.microsoft.com/.default"),
    ]);
    if telemetry {
        for (name, value) in TELEMETRY {
            request = request.header(name, value);
        }
    }
    request.send().await
}

#[tokio::test]
async fn throttling_server_errors_and_latency_then_normal_answers() {
    let emulator = start().await.unwrap();
    emulator.inject_fault(Fault::new(FaultKind::TooManyRequests { retry_after: Some(3) }).times(1));
    emulator.inject_fault(Fault::new(FaultKind::TooManyRequests { retry_after: None }).times(1));
    emulator.inject_fault(Fault::new(FaultKind::ServerError(503)).times(1));
    emulator.inject_fault(Fault::new(FaultKind::Latency(Duration::from_millis(400))).times(1));

    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert_eq!(r.headers()["retry-after"], "3");
    let body: serde_json::Value = json_of(r).await;
    assert_eq!(body["error"], "temporarily_unavailable");
    assert_eq!(body["correlation_id"], TELEMETRY[3].1);

    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().get("retry-after").is_none());

    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 503);

    let started = Instant::now();
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(started.elapsed() >= Duration::from_millis(400));

    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(emulator.faults().is_empty(), "counted faults run out");
    assert_eq!(emulator.request_count(Endpoint::Token), 5);
    assert_eq!(emulator.telemetry_checked(), 5);
    assert!(emulator.telemetry_violations().is_empty());
}

#[tokio::test]
async fn faults_for_one_client_and_dropped_connections() {
    let emulator = start().await.unwrap();
    emulator.inject_fault(Fault::new(FaultKind::DropConnection).for_client("someone-else"));
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "another client's fault does not apply");

    emulator.inject_fault(Fault::new(FaultKind::DropConnection).for_client(builtin::DAEMON_CLIENT_ID));
    let outcome = match client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true).await {
        Ok(r) => r.bytes().await.map(|_| ()),
        Err(e) => Err(e),
    };
    assert!(outcome.is_err(), "the connection is dropped");
    emulator.clear_faults();
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn admin_endpoints_refuse_callers_without_the_token_and_web_pages() {
    let emulator = start().await.unwrap();
    let client = client(&emulator).unwrap();
    let faults = format!("{}/_admin/faults", emulator.url());
    let body = json!({"kind": "server_error", "status": 500}).to_string();
    for (token, origin, status) in [
        (None, None, 401),
        (Some("not-the-token"), None, 401),
        (Some(emulator.admin_token()), Some("https://evil.example"), 403),
        (Some(emulator.admin_token()), Some("null"), 403),
    ] {
        let mut request = client.post(&faults).body(body.clone());
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        if let Some(origin) = origin {
            request = request.header("Origin", origin);
        }
        let refused = request.send().await.unwrap();
        assert_eq!(refused.status(), status, "{token:?} {origin:?}");
        let error: serde_json::Value = json_of(refused).await;
        assert_eq!(error["error"], "unauthorized_client");
    }
    for method in [reqwest::Method::GET, reqwest::Method::DELETE] {
        for path in ["faults", "telemetry"] {
            let url = format!("{}/_admin/{path}", emulator.url());
            let refused = client.request(method.clone(), url).send().await.unwrap();
            assert_eq!(refused.status(), 401, "{method} {path}");
        }
    }
    assert!(emulator.faults().is_empty(), "nothing was injected");
    // The emulator's own origin, with the token, is fine.
    let own = client
        .post(&faults)
        .bearer_auth(emulator.admin_token())
        .header("Origin", emulator.url())
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(own.status(), 200);
    assert_eq!(emulator.faults().len(), 1);
}

#[tokio::test]
async fn admin_endpoints_drive_faults_and_report_telemetry() {
    let emulator = start().await.unwrap();
    let client = client(&emulator).unwrap();
    let admin = |path: &str| format!("{}/_admin/{path}", emulator.url());

    let r = client
        .post(admin("faults"))
        .bearer_auth(emulator.admin_token())
        .body(
            json!([
                {"kind": "server_error", "status": 500, "count": 1},
                {"kind": "too_many_requests", "retry_after": 7, "client_id": builtin::DAEMON_CLIENT_ID}
            ])
            .to_string(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let listed: serde_json::Value = json_of(r).await;
    assert_eq!(listed["faults"].as_array().unwrap().len(), 2);
    assert_eq!(
        emulator.faults()[1].kind,
        FaultKind::TooManyRequests { retry_after: Some(7) }
    );

    let r = client
        .post(admin("faults"))
        .bearer_auth(emulator.admin_token())
        .body(json!({"kind": "server_error", "status": 418}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);

    // Without MSAL's headers: answered by the faults, and counted as violations.
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, false)
        .await
        .unwrap();
    assert_eq!(r.status(), 500);
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, false)
        .await
        .unwrap();
    assert_eq!(
        (r.status().as_u16(), r.headers()["retry-after"].to_str().unwrap()),
        (429, "7")
    );

    let r = client
        .delete(admin("faults"))
        .bearer_auth(emulator.admin_token())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(emulator.faults().is_empty());
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    let report: serde_json::Value = json_of(
        client
            .get(admin("telemetry"))
            .bearer_auth(emulator.admin_token())
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(report["checked"], 3);
    // Two requests, each missing five headers.
    assert_eq!(report["violation_count"], 10);
    let first = report["violations"][0].as_str().unwrap();
    assert!(
        first.starts_with(&format!(
            "grant client_credentials (client {})",
            builtin::DAEMON_CLIENT_ID
        )),
        "{first}"
    );
    assert_eq!(emulator.telemetry_violations().len(), 10);
    client
        .delete(admin("telemetry"))
        .bearer_auth(emulator.admin_token())
        .send()
        .await
        .unwrap();
    assert!(emulator.telemetry_violations().is_empty());
    assert_eq!(emulator.total_requests(), 3, "admin requests are not counted");
}

#[tokio::test]
async fn config_faults_and_strict_telemetry() {
    let config = EmulatorConfig::default()
        .with_fault(Fault::new(FaultKind::ServerError(502)).times(1))
        .with_strict_telemetry(true);
    let emulator = Emulator::start(config).await.unwrap();
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 502);
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, false)
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let body: serde_json::Value = json_of(r).await;
    assert_eq!(body["error"], "invalid_request");
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("missing x-client-sku")
    );
    let r = client_credentials(&emulator, builtin::DAEMON_CLIENT_ID, true)
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}
