//! A misbehaving identity provider (a raw TLS server of the test's own) and
//! hostile local input: each case gives its typed error within the
//! client's timeout, never a panic or a hang, and leaves the cache as it
//! was. The test writes what happened to `docs/fault-table.md` and fails
//! when that file says something else (run with `UPDATE_FAULT_TABLE=1` to
//! rewrite it after a deliberate change).

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use msal::{
    ClientSecret, ConfidentialClientApplication, Error, ReqwestHttpClient, TokenCache, TransportErrorKind,
};
use rcgen::{CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair, SanType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The client's whole-request timeout in these tests.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(2);

/// How the token endpoint misbehaves.
#[derive(Clone, Copy, Debug)]
enum Misbehaviour {
    /// Headers, then the body one byte a second.
    SlowBody,
    /// Headers announcing 1000 bytes, ten of them, then the connection closes.
    ClosedMidBody,
    /// `{"access_token": "ab` and the end.
    TruncatedJson,
    /// 200 with an HTML page.
    NotJson,
    /// 200 with 5 MB of JSON.
    HugeBody,
    /// 200, a valid token, `Content-Type: text/plain`.
    WrongContentType,
    /// 500 with an HTML page, twice (the one retry too).
    HtmlServerError,
    /// 200 with `expires_in` of 10^30 and `refresh_in` past u64.
    AbsurdLifetimes,
    /// Accepts, and never answers.
    Silence,
}

/// Which certificate the server presents.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Presented {
    Trusted,
    UnknownCa,
    Expired,
    WrongHost,
}

struct Tls {
    ca_pem: String,
    config: Arc<ServerConfig>,
}

fn tls(presented: Presented) -> Tls {
    let now = time::OffsetDateTime::now_utc();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca = CertificateParams::default();
    ca.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca.distinguished_name = DistinguishedName::new();
    ca.distinguished_name.push(DnType::CommonName, "hostile test CA");
    ca.not_before = now - time::Duration::days(2);
    ca.not_after = now + time::Duration::days(2);
    let ca_cert = ca.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca, ca_key);
    let leaf_key = KeyPair::generate().unwrap();
    let mut leaf = CertificateParams::default();
    leaf.subject_alt_names = match presented {
        Presented::WrongHost => vec![SanType::DnsName("other.example".try_into().unwrap())],
        _ => vec![SanType::IpAddress([127, 0, 0, 1].into())],
    };
    (leaf.not_before, leaf.not_after) = match presented {
        Presented::Expired => (now - time::Duration::days(2), now - time::Duration::days(1)),
        _ => (now - time::Duration::days(1), now + time::Duration::days(1)),
    };
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).unwrap();
    // The unknown CA's chain is real; the client trusts another CA.
    let trusted_pem = if presented == Presented::UnknownCa {
        let other = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params.self_signed(&other).unwrap().pem()
    } else {
        ca_cert.pem()
    };
    let config = ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![
                CertificateDer::from(leaf_cert.der().to_vec()),
                CertificateDer::from(ca_cert.der().to_vec()),
            ],
            PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf_key.serialize_der())),
        )
        .unwrap();
    Tls {
        ca_pem: trusted_pem,
        config: Arc::new(config),
    }
}

/// Serves the OpenID configuration properly and the token endpoint badly.
async fn serve(presented: Presented, misbehaviour: Misbehaviour) -> (SocketAddr, String) {
    let Tls { ca_pem, config } = tls(presented);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let acceptor = TlsAcceptor::from(config);
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut stream) = acceptor.accept(tcp).await else {
                    return;
                };
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    match stream.read(&mut byte).await {
                        Ok(1) => head.push(byte[0]),
                        _ => return,
                    }
                }
                let head = String::from_utf8_lossy(&head).to_string();
                if head.contains("openid-configuration") {
                    let body = serde_json::json!({
                        "token_endpoint": format!("https://{addr}/t/oauth2/v2.0/token"),
                        "authorization_endpoint": format!("https://{addr}/t/oauth2/v2.0/authorize"),
                        "issuer": format!("https://{addr}/t/v2.0"),
                    })
                    .to_string();
                    let _ = write(&mut stream, 200, "application/json", body.as_bytes()).await;
                    return;
                }
                misbehave(&mut stream, misbehaviour).await;
            });
        }
    });
    (addr, ca_pem)
}

async fn write<S: AsyncWriteExt + Unpin>(
    stream: &mut S,
    status: u16,
    content_type: &str,
    body: &[u8],
) -> std::io::Result<()> {
    let head = format!(
        "HTTP/1.1 {status} X\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body).await?;
    stream.shutdown().await
}

async fn misbehave<S: AsyncWriteExt + Unpin>(stream: &mut S, misbehaviour: Misbehaviour) {
    let token = br#"{"access_token":"at","token_type":"Bearer","expires_in":3600}"#;
    let _ = match misbehaviour {
        Misbehaviour::SlowBody => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 64\r\n\r\n")
                .await;
            for byte in token.iter() {
                if stream.write_all(&[*byte]).await.is_err() {
                    return;
                }
                let _ = stream.flush().await;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            Ok(())
        }
        Misbehaviour::ClosedMidBody => {
            let _ = stream
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 1000\r\n\r\n{\"access_")
                .await;
            stream.shutdown().await
        }
        Misbehaviour::TruncatedJson => {
            write(stream, 200, "application/json", br#"{"access_token": "ab"#).await
        }
        Misbehaviour::NotJson => write(stream, 200, "text/html", b"<html><body>Sign in</body></html>").await,
        Misbehaviour::HugeBody => {
            let mut body = br#"{"access_token":""#.to_vec();
            body.extend(std::iter::repeat_n(b'a', 5 * 1024 * 1024));
            body.extend_from_slice(br#""}"#);
            write(stream, 200, "application/json", &body).await
        }
        Misbehaviour::WrongContentType => write(stream, 200, "text/plain", token).await,
        Misbehaviour::HtmlServerError => write(stream, 500, "text/html", b"<h1>Internal error</h1>").await,
        Misbehaviour::AbsurdLifetimes => {
            let body = br#"{"access_token":"at","token_type":"Bearer","expires_in":1e30,"refresh_in":99999999999999999999999}"#;
            write(stream, 200, "application/json", body).await
        }
        Misbehaviour::Silence => {
            tokio::time::sleep(Duration::from_secs(60)).await;
            Ok(())
        }
    };
}

/// A short name for an outcome, stable across runs (no ports, no ids).
fn outcome(result: &Result<msal::AuthenticationResult, Error>) -> String {
    match result {
        Ok(result) => format!("token served ({:?})", result.token_source),
        Err(Error::Transport(e)) => format!(
            "`Error::Transport` ({})",
            match e.kind {
                TransportErrorKind::Timeout => "timeout",
                TransportErrorKind::Connect => "connect",
                TransportErrorKind::TooLarge => "too large",
                _ => "other",
            }
        ),
        Err(Error::InvalidResponse { status, .. }) => format!("`Error::InvalidResponse` (HTTP {status})"),
        Err(Error::Service(s)) => format!("`Error::Service` ({})", s.error),
        Err(Error::Throttled { .. }) => "`Error::Throttled`".to_owned(),
        Err(Error::Cache(_)) => "`Error::Cache`".to_owned(),
        Err(other) => format!("other error: {other}"),
    }
}

/// One client call against a server with this certificate and misbehaviour.
async fn call(presented: Presented, misbehaviour: Misbehaviour) -> (String, Duration, usize) {
    let (addr, ca_pem) = serve(presented, misbehaviour).await;
    let http = ReqwestHttpClient::builder()
        .add_root_certificates_pem(ca_pem.as_bytes())
        .unwrap()
        .only_added_roots(true)
        .timeout(CLIENT_TIMEOUT)
        .connect_timeout(CLIENT_TIMEOUT)
        .build()
        .unwrap();
    let cache = TokenCache::new();
    let app = ConfidentialClientApplication::builder("client")
        .authority(&format!("https://{addr}/t"))
        .instance_discovery(false)
        .client_secret(ClientSecret::new("s"))
        .token_cache(cache.clone())
        .http_client(http)
        .build()
        .unwrap();
    let started = Instant::now();
    let result = app.acquire_token_for_client(["api://x/.default"]).await;
    (outcome(&result), started.elapsed(), cache.access_token_count())
}

/// The rows of the table: case, outcome.
async fn network_rows() -> Vec<(String, String)> {
    let mut rows = Vec::new();
    let cases: [(Presented, Misbehaviour, &str); 12] = [
        (
            Presented::Trusted,
            Misbehaviour::SlowBody,
            "token response trickles past the timeout",
        ),
        (
            Presented::Trusted,
            Misbehaviour::Silence,
            "token endpoint never answers",
        ),
        (
            Presented::Trusted,
            Misbehaviour::ClosedMidBody,
            "connection closed mid-body",
        ),
        (Presented::Trusted, Misbehaviour::TruncatedJson, "truncated JSON"),
        (Presented::Trusted, Misbehaviour::NotJson, "HTML instead of JSON"),
        (Presented::Trusted, Misbehaviour::HugeBody, "5 MB response body"),
        (
            Presented::Trusted,
            Misbehaviour::WrongContentType,
            "token with `Content-Type: text/plain`",
        ),
        (
            Presented::Trusted,
            Misbehaviour::HtmlServerError,
            "500 with an HTML body",
        ),
        (
            Presented::Trusted,
            Misbehaviour::AbsurdLifetimes,
            "`expires_in` 10^30, `refresh_in` past u64",
        ),
        (
            Presented::UnknownCa,
            Misbehaviour::NotJson,
            "TLS: certificate from an unknown CA",
        ),
        (
            Presented::Expired,
            Misbehaviour::NotJson,
            "TLS: expired certificate",
        ),
        (
            Presented::WrongHost,
            Misbehaviour::NotJson,
            "TLS: certificate for another host name",
        ),
    ];
    for (presented, misbehaviour, case) in cases {
        let (outcome, took, tokens) = call(presented, misbehaviour).await;
        // Within the timeout (twice for the one retry, plus its pause), never a hang.
        assert!(
            took < CLIENT_TIMEOUT * 2 + Duration::from_secs(2),
            "{case}: {took:?}"
        );
        let served = outcome.starts_with("token served");
        assert_eq!(
            tokens,
            usize::from(served),
            "{case}: the cache holds only a served token"
        );
        rows.push((case.to_owned(), outcome));
    }
    rows
}

/// Local bad input: cache files.
fn cache_rows(dir: &Path) -> Vec<(String, String)> {
    let load = |name: &str, content: &[u8]| {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        let outcome = match TokenCache::load_from_file(&path) {
            Ok(cache) => format!("loaded ({} access tokens)", cache.access_token_count()),
            Err(e) => format!(
                "`CacheError` ({})",
                if e.to_string().contains("malformed") {
                    "malformed"
                } else {
                    "io"
                }
            ),
        };
        assert_eq!(
            std::fs::read(&path).unwrap(),
            content,
            "{name}: the file is left as it was"
        );
        outcome
    };
    let entry = |expires_on: &str, client_id: &str| {
        format!(
            r#"{{"AccessToken": {{"k": {{"credential_type": "AccessToken", "secret": "s", "home_account_id": null,
            "environment": "e", "client_id": {client_id}, "target": "t", "realm": "r", "cached_at": "1",
            "expires_on": {expires_on}, "extended_expires_on": {expires_on}}}}}}}"#
        )
    };
    let mut rows = vec![
        (
            "cache file: not JSON".to_owned(),
            load("a.json", b"{ this is not a cache"),
        ),
        (
            "cache file: truncated".to_owned(),
            load("b.json", &entry("\"5\"", "\"c\"").as_bytes()[..60]),
        ),
        ("cache file: empty".to_owned(), load("c.json", b"  \n")),
        (
            "cache file: `expires_on` of 10^20 (string)".to_owned(),
            load("d.json", entry("\"100000000000000000000\"", "\"c\"").as_bytes()),
        ),
        (
            "cache file: `expires_on` of 10^20 (number)".to_owned(),
            load("e.json", entry("100000000000000000000", "\"c\"").as_bytes()),
        ),
        (
            "cache file: `\"client_id\": null` (MSAL Python's system-assigned identity)".to_owned(),
            load("f.json", entry("\"5\"", "null").as_bytes()),
        ),
        (
            "cache file: a lone surrogate escape (`\\ud800`, which MSAL Python reads)".to_owned(),
            load("g.json", entry("\"5\"", "\"c\\ud800\"").as_bytes()),
        ),
        ("cache file: a directory".to_owned(), {
            match TokenCache::load_from_file(dir) {
                Ok(_) => "loaded".to_owned(),
                Err(_) => "`CacheError` (io), at once".to_owned(),
            }
        }),
    ];
    rows.sort();
    rows
}

#[tokio::test]
async fn hostile_servers_and_files_give_typed_errors_and_the_table_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut table = String::from(
        "# Faults and bad input, and what the library does\n\n\
         Produced by `crates/msal/tests/it/hostile_servers.rs` (a raw TLS server of the test's own, \
         a client timeout of 2 s); that test fails when this file differs from what it observed. \
         Every case ends within the timeout, never with a panic or a hang, and leaves the cache as it was.\n\n\
         | case | outcome |\n|---|---|\n",
    );
    for (case, outcome) in network_rows().await.into_iter().chain(cache_rows(dir.path())) {
        table.push_str(&format!("| {case} | {outcome} |\n"));
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/fault-table.md");
    if std::env::var_os("UPDATE_FAULT_TABLE").is_some() {
        std::fs::write(&path, &table).unwrap();
    }
    let written = std::fs::read_to_string(&path).unwrap_or_default();
    assert_eq!(
        written, table,
        "docs/fault-table.md is not what the tests observed; rerun with UPDATE_FAULT_TABLE=1 if the change is deliberate"
    );
}
