//! Server lifecycle, TLS, routing fallbacks and request counters.

use std::time::Duration;

use crate::common::{Reply, assert_entra_error, get, post_form};
use msal_emulator::builtin::{CONTOSO_TENANT_ID, DAEMON_CLIENT_ID, DAEMON_CLIENT_SECRET};
use msal_emulator::{Directory, Emulator, EmulatorConfig, EmulatorError, Endpoint};
use msal_test_support::{client, start};

#[tokio::test]
async fn certificate_is_valid_for_ip_and_localhost() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    for base in [
        format!("https://127.0.0.1:{}", em.port()),
        format!("https://localhost:{}", em.port()),
    ] {
        let reply = get(
            &http,
            &format!("{base}/contoso/v2.0/.well-known/openid-configuration"),
        )
        .await;
        assert_eq!(reply.status, 200, "{base}");
    }
    assert!(em.ca_cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(em.url(), format!("https://127.0.0.1:{}", em.port()));
    assert_eq!(em.authority("contoso"), format!("{}/contoso", em.url()));
    assert_ne!(em.port(), 0);
}

#[tokio::test]
async fn a_client_without_the_ca_is_refused() {
    let em = start().await.unwrap();
    let other = Emulator::start(EmulatorConfig::default()).await.unwrap();
    // Trusts another emulator's CA only: every emulator has its own CA.
    let wrong_ca = client(&other).unwrap();
    let result = wrong_ca
        .get(format!("{}/common/discovery/v2.0/keys", em.url()))
        .send()
        .await;
    assert!(result.is_err(), "TLS must fail with a foreign CA");
}

#[tokio::test]
async fn ca_certificate_can_be_written() {
    let em = start().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ca.pem");
    em.write_ca_cert(&path).unwrap();
    assert_eq!(std::fs::read_to_string(&path).unwrap(), em.ca_cert_pem());
}

#[tokio::test]
async fn unknown_paths_and_methods_get_entra_errors() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let reply = get(&http, &format!("{}/nope", em.url())).await;
    assert_entra_error(&reply, 404, "invalid_request", 9002313);

    let reply = get(&http, &format!("{}/contoso/oauth2/v2.0/token", em.url())).await;
    assert_entra_error(&reply, 405, "invalid_request", 900561);

    let response = http
        .post(format!("{}/contoso/discovery/v2.0/keys", em.url()))
        .send()
        .await
        .unwrap();
    assert_entra_error(
        &Reply::from_response(response).await,
        405,
        "invalid_request",
        900561,
    );
}

#[tokio::test]
async fn counters_count_every_request_by_endpoint() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let base = em.url();
    assert_eq!(em.total_requests(), 0);

    get(
        &http,
        &format!("{base}/contoso/v2.0/.well-known/openid-configuration"),
    )
    .await;
    get(
        &http,
        &format!("{base}/nowhere/v2.0/.well-known/openid-configuration"),
    )
    .await;
    get(
        &http,
        &format!("{base}/common/discovery/instance?api-version=1.1"),
    )
    .await;
    get(&http, &format!("{base}/common/discovery/v2.0/keys")).await;
    get(&http, &format!("{base}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token")).await; // 405
    post_form(
        &http,
        &format!("{base}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token"),
        &[
            ("grant_type", "client_credentials"),
            ("client_id", DAEMON_CLIENT_ID),
            ("client_secret", DAEMON_CLIENT_SECRET),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    get(&http, &format!("{base}/somewhere/else")).await;

    assert_eq!(em.request_count(Endpoint::OpenIdConfiguration), 2);
    assert_eq!(em.request_count(Endpoint::InstanceDiscovery), 1);
    assert_eq!(em.request_count(Endpoint::Jwks), 1);
    assert_eq!(em.request_count(Endpoint::Token), 2);
    assert_eq!(em.request_count(Endpoint::Other), 1);
    assert_eq!(em.total_requests(), 7);

    em.reset_counts();
    assert_eq!(em.total_requests(), 0);
    get(&http, &format!("{base}/common/discovery/keys")).await;
    assert_eq!(em.request_count(Endpoint::Jwks), 1);
}

#[tokio::test]
async fn shutdown_and_drop_stop_the_server() {
    let em = start().await.unwrap();
    let http = client(&em).unwrap();
    let url = format!("{}/common/discovery/v2.0/keys", em.url());
    assert_eq!(get(&http, &url).await.status, 200);
    let port = em.port();
    em.shutdown().await;
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "nothing listens after shutdown"
    );

    let em = start().await.unwrap();
    let port = em.port();
    drop(em);
    // Shutdown on drop is asynchronous; the port is released shortly after.
    let mut released = false;
    for _ in 0..50 {
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            released = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(released, "port {port} still in use after drop");
}

#[tokio::test]
async fn fixed_port_and_invalid_directory() {
    // Find a free port, release it, then ask for it explicitly.
    let port = std::net::TcpListener::bind(("127.0.0.1", 0))
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let em = Emulator::start(EmulatorConfig::default().with_port(port))
        .await
        .unwrap();
    assert_eq!(em.port(), port);
    let clash = Emulator::start(EmulatorConfig::default().with_port(port)).await;
    assert!(matches!(clash, Err(EmulatorError::Bind { .. })), "{clash:?}");

    let mut directory = Directory::builtin();
    directory.users[0].tenant = "nowhere".into();
    let err = Emulator::start(EmulatorConfig::new(directory)).await.unwrap_err();
    assert!(matches!(err, EmulatorError::Directory(_)), "{err}");
    assert!(err.to_string().contains("users[0].tenant"), "{err}");
}

#[tokio::test]
async fn successful_responses_carry_request_ids() {
    let em = start().await.unwrap();
    let response = client(&em)
        .unwrap()
        .get(format!("{}/common/discovery/v2.0/keys", em.url()))
        .header("client-request-id", "9d0c1b2a-3e4f-4a5b-8c6d-7e8f9a0b1c2d")
        .send()
        .await
        .unwrap();
    let reply = Reply::from_response(response).await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.header("client-request-id"),
        Some("9d0c1b2a-3e4f-4a5b-8c6d-7e8f9a0b1c2d")
    );
    let request_id = reply.header("x-ms-request-id").unwrap();
    assert!(uuid::Uuid::parse_str(request_id).is_ok(), "{request_id}");
}

/// Idle and trickling connections (TCP only, or TLS without a request)
/// neither hold up a real client nor stay open past the idle timeout.
#[tokio::test]
async fn idle_connections_are_closed_and_do_not_hold_up_real_requests() {
    use tokio::io::AsyncReadExt as _;
    use tokio::net::TcpStream;

    let em =
        msal_test_support::start_with(EmulatorConfig::default().with_idle_timeout(Duration::from_secs(1)))
            .await
            .unwrap();
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], em.port()));
    let mut idle = Vec::new();
    for _ in 0..300 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // A few that trickle: one byte of a TLS ClientHello, then nothing.
    for stream in idle.iter_mut().take(20) {
        use tokio::io::AsyncWriteExt as _;
        stream.write_all(&[0x16]).await.unwrap();
    }
    let http = client(&em).unwrap();
    let started = std::time::Instant::now();
    let reply = post_form(
        &http,
        &format!("{}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token", em.url()),
        &[
            ("client_id", DAEMON_CLIENT_ID),
            ("client_secret", DAEMON_CLIENT_SECRET),
            ("grant_type", "client_credentials"),
            ("scope", "https://graph.microsoft.com/.default"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    // Every idle connection is closed by the server within a few timeouts.
    let closed = tokio::time::timeout(Duration::from_secs(5), async {
        for mut stream in idle {
            let mut buf = [0u8; 64];
            loop {
                match stream.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "idle connections still open after 5 s");
}

/// With a state directory, a restart continues the last run: the same CA,
/// and a refresh token issued before it is redeemed after it.
#[tokio::test]
async fn a_state_directory_keeps_the_ca_and_refresh_tokens_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = || EmulatorConfig::default().with_state_dir(dir.path().join("state"));
    let first = msal_test_support::start_with(config()).await.unwrap();
    let token_url = |em: &Emulator| format!("{}/{CONTOSO_TENANT_ID}/oauth2/v2.0/token", em.url());
    let reply = post_form(
        &client(&first).unwrap(),
        &token_url(&first),
        &[
            ("client_id", msal_emulator::builtin::PUBLIC_CLIENT_ID),
            ("grant_type", "password"),
            ("username", msal_emulator::builtin::ALICE_UPN),
            ("password", msal_emulator::builtin::ALICE_PASSWORD),
            ("scope", "User.Read offline_access"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    let refresh_token = reply.body["refresh_token"].as_str().unwrap().to_owned();
    let ca = first.ca_cert_pem().to_owned();
    let jwks_before = get(
        &client(&first).unwrap(),
        &format!("{}/{CONTOSO_TENANT_ID}/discovery/v2.0/keys", first.url()),
    )
    .await;
    first.shutdown().await;

    let second = msal_test_support::start_with(config()).await.unwrap();
    assert_eq!(second.ca_cert_pem(), ca, "the same CA");
    let jwks_after = get(
        &client(&second).unwrap(),
        &format!("{}/{CONTOSO_TENANT_ID}/discovery/v2.0/keys", second.url()),
    )
    .await;
    assert_eq!(
        jwks_before.body["keys"][0]["kid"], jwks_after.body["keys"][0]["kid"],
        "the same signing key"
    );
    let reply = post_form(
        &client(&second).unwrap(),
        &token_url(&second),
        &[
            ("client_id", msal_emulator::builtin::PUBLIC_CLIENT_ID),
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh_token),
            ("scope", "User.Read offline_access"),
        ],
    )
    .await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    // Without the state directory, nothing carries over.
    let fresh = msal_test_support::start().await.unwrap();
    assert_ne!(fresh.ca_cert_pem(), ca);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join("state/keys.json"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "keys readable by the owner only");
    }
}
