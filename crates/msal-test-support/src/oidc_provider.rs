//! A real OpenID Certified provider for the tests: panva's `oidc-provider`
//! (pinned in `node/package.json`), run by `node/oidc_provider_server.mjs`
//! over HTTPS on `127.0.0.1`, mounted under `/op`.
//!
//! [`OidcProvider::start`] makes the TLS certificate (a CA of its own, as the
//! emulator does), a client secret and an RSA key with a certificate for the
//! `private_key_jwt` client, starts the script, waits for its ready line and
//! kills that exact process when dropped (the script also exits when its
//! stdin closes, so a test that dies leaves no server behind). It registers
//! three clients ([`CONFIDENTIAL_CLIENT_ID`], [`ASSERTION_CLIENT_ID`],
//! [`PUBLIC_CLIENT_ID`]) and one user ([`USERNAME`], [`PASSWORD`]), whose
//! login and consent pages [`OidcUser`] goes through as a person would,
//! with cookies and without a browser.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use msal::ReqwestHttpClient;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
    KeyPair, KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, SanType,
};
use reqwest::{Client, StatusCode};
use serde_json::{Value, json};
use url::Url;

use crate::html;
use crate::user::SignedIn;
use crate::{Context, Failure, Result};

/// The confidential client that authenticates with a secret in the request
/// body (`client_secret_post`, as MSAL sends it).
pub const CONFIDENTIAL_CLIENT_ID: &str = "msal-rs-confidential";
/// The confidential client that authenticates with a signed assertion
/// (`private_key_jwt`, RS256 or PS256).
pub const ASSERTION_CLIENT_ID: &str = "msal-rs-assertion";
/// The public (native) client: no secret, PKCE, `http://localhost` and
/// `http://127.0.0.1` redirect URIs on any port (RFC 8252 7.3).
pub const PUBLIC_CLIENT_ID: &str = "msal-rs-public";
/// The confidential client's registered redirect URI (nothing listens there:
/// the scripted user reads the redirect instead of following it).
pub const WEB_REDIRECT_URI: &str = "https://app.msal-rs.test/callback";
/// The API every access token is for (its audience): tokens are JWTs.
pub const RESOURCE: &str = "https://api.msal-rs.test";
/// The API's scopes, which clients ask for by these names.
pub const RESOURCE_SCOPES: [&str; 2] = ["api.read", "api.write"];
/// The one user who can sign in (also their email).
pub const USERNAME: &str = "ada@msal-rs.test";
/// The user's password.
pub const PASSWORD: &str = "correct horse battery staple";
/// The user's subject (`sub`): MSAL's `home_account_id` for this provider.
pub const SUBJECT: &str = "ada-5f0c";
/// The user's display name (`name`).
pub const DISPLAY_NAME: &str = "Ada Lovelace";

/// How long the script may take to print its ready line.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A running `oidc-provider`; dropping it stops the process.
pub struct OidcProvider {
    child: Child,
    stdin: Option<ChildStdin>,
    stderr: Arc<Mutex<String>>,
    issuer: String,
    impostor_issuer: String,
    port: u16,
    ca_pem: String,
    ca_path: PathBuf,
    client_secret: String,
    assertion_key_pem: String,
    assertion_certificate_pem: String,
    dir: tempfile::TempDir,
}

impl OidcProvider {
    /// Generates the keys, starts the provider on a free port and waits
    /// until it serves.
    pub async fn start() -> Result<OidcProvider> {
        tokio::task::spawn_blocking(Self::start_blocking)
            .await
            .context("the provider's start thread")?
    }

    fn start_blocking() -> Result<OidcProvider> {
        let node_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("node");
        Failure::unless(node_dir.join("node_modules/oidc-provider").is_dir(), || {
            format!(
                "{}/node_modules/oidc-provider is missing: run scripts/test (it runs npm ci there)",
                node_dir.display()
            )
        })?;
        let dir = tempfile::tempdir().context("a temporary directory")?;
        let tls = tls_material().context("generating the TLS certificate")?;
        let ca_path = dir.path().join("ca.pem");
        let cert_path = dir.path().join("server-chain.pem");
        let key_path = dir.path().join("server-key.pem");
        std::fs::write(&ca_path, &tls.ca_pem).context("writing the CA")?;
        std::fs::write(&cert_path, &tls.chain_pem).context("writing the certificate")?;
        write_private(&key_path, &tls.key_pem)?;

        let (assertion_key_pem, assertion_certificate_pem) =
            assertion_material().context("generating the private_key_jwt key")?;
        let client_secret = format!("secret-{}", uuid::Uuid::new_v4().simple());
        let config = json!({
            "tls_cert_path": cert_path,
            "tls_key_path": key_path,
            "confidential_client_id": CONFIDENTIAL_CLIENT_ID,
            "client_secret": client_secret,
            "assertion_client_id": ASSERTION_CLIENT_ID,
            "assertion_certificate_pem": assertion_certificate_pem,
            "public_client_id": PUBLIC_CLIENT_ID,
            "web_redirect_uri": WEB_REDIRECT_URI,
            "resource": RESOURCE,
            "resource_scopes": RESOURCE_SCOPES,
            "username": USERNAME,
            "password": PASSWORD,
            "subject": SUBJECT,
            "display_name": DISPLAY_NAME,
        });
        let config_path = dir.path().join("config.json");
        write_private(&config_path, &config.to_string())?;

        let mut child = Command::new("node")
            .arg(node_dir.join("oidc_provider_server.mjs"))
            .arg(&config_path)
            .current_dir(&node_dir)
            // This machine points it at the system bundle; the provider
            // makes no outgoing TLS connections, so it needs none.
            .env_remove("NODE_EXTRA_CA_CERTS")
            .env("NODE_ENV", "test")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .context("starting node")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().context("node's stdout")?;
        let stderr = Arc::new(Mutex::new(String::new()));
        if let Some(pipe) = child.stderr.take() {
            collect(pipe, Arc::clone(&stderr));
        }
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            // Keep draining so the script never blocks on a full pipe.
            for _ in lines {}
        });
        let mut provider = OidcProvider {
            child,
            stdin,
            stderr,
            issuer: String::new(),
            impostor_issuer: String::new(),
            port: 0,
            ca_pem: tls.ca_pem,
            ca_path,
            client_secret,
            assertion_key_pem,
            assertion_certificate_pem,
            dir,
        };
        let line = match rx.recv_timeout(START_TIMEOUT) {
            Ok(Some(Ok(line))) => line,
            Ok(_) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                // Let the stderr thread catch up with a crash's last words.
                std::thread::sleep(Duration::from_millis(200));
                return Err(Failure::new(format!(
                    "oidc-provider exited before it was ready: {}",
                    provider.logs()
                )));
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {
                return Err(Failure::new(format!(
                    "oidc-provider was not ready within {START_TIMEOUT:?}: {}",
                    provider.logs()
                )));
            }
        };
        let ready: Value = serde_json::from_str(&line).context("the ready line")?;
        Failure::unless(ready["ready"] == true, || format!("not a ready line: {line}"))?;
        provider.issuer = ready["issuer"].as_str().context("the issuer")?.to_owned();
        provider.impostor_issuer = ready["impostor_issuer"]
            .as_str()
            .context("the impostor's issuer")?
            .to_owned();
        provider.port = ready["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .context("the port")?;
        Ok(provider)
    }

    /// The issuer, `https://127.0.0.1:{port}/op`: what `oidc_authority` takes.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's origin, `https://127.0.0.1:{port}`.
    pub fn origin(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    /// An authority whose discovery document names another issuer
    /// ([`impostor_issuer`](Self::impostor_issuer)) while pointing at this
    /// provider's endpoints: clients must refuse it.
    pub fn impostor_authority(&self) -> String {
        format!("{}/impostor", self.origin())
    }

    /// The issuer the impostor's document claims, on another host.
    pub fn impostor_issuer(&self) -> &str {
        &self.impostor_issuer
    }

    /// The CA that signed the server certificate (PEM).
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// The CA's PEM file: for peers' `REQUESTS_CA_BUNDLE` and `NODE_EXTRA_CA_CERTS`.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    /// [`CONFIDENTIAL_CLIENT_ID`]'s secret, new for every start.
    pub fn client_secret(&self) -> &str {
        &self.client_secret
    }

    /// [`ASSERTION_CLIENT_ID`]'s RSA private key (PKCS#8 PEM).
    pub fn assertion_key_pem(&self) -> &str {
        &self.assertion_key_pem
    }

    /// The self-signed certificate of [`assertion_key_pem`](Self::assertion_key_pem)
    /// (PEM): the provider knows the client by its public key.
    pub fn assertion_certificate_pem(&self) -> &str {
        &self.assertion_certificate_pem
    }

    /// A directory that lives as long as the provider (for cache files).
    pub fn scratch_dir(&self) -> &Path {
        self.dir.path()
    }

    /// What the script wrote to stderr so far (its errors).
    pub fn logs(&self) -> String {
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Runs MSAL Python's `python/oidc_provider.py` with `args` (its
    /// `oidc_authority` defaults to this issuer), trusting only this
    /// provider's CA, with `secret` as the client secret when given.
    pub async fn run_python(&self, args: &Value, secret: Option<&str>) -> Result<Value> {
        let mut args = args.clone();
        if args.get("oidc_authority").is_none() {
            args["oidc_authority"] = json!(self.issuer);
        }
        crate::python::run_trusting(&self.ca_path, "oidc_provider.py", &args, secret, &[]).await
    }

    /// msal's transport, trusting only this provider's CA.
    pub fn msal_http(&self) -> Result<ReqwestHttpClient> {
        ReqwestHttpClient::builder()
            .add_root_certificates_pem(self.ca_pem.as_bytes())
            .context("the provider's CA")?
            .only_added_roots(true)
            .build()
            .context("building msal's transport")
    }

    /// A reqwest client trusting only this provider's CA, following no
    /// redirects (callers read `Location`).
    pub fn http_client(&self) -> Result<Client> {
        let ca = reqwest::Certificate::from_pem(self.ca_pem.as_bytes()).context("the provider's CA")?;
        Client::builder()
            .tls_certs_only([ca])
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(30))
            .no_proxy()
            .build()
            .context("building the client")
    }

    /// The user, [`USERNAME`] with `password`, at a browser of their own
    /// (cookies kept across sign-ins, as a browser keeps its session).
    pub fn user(&self, password: &str) -> Result<OidcUser> {
        Ok(OidcUser {
            http: self.http_client()?,
            origin: Url::parse(&self.origin()).context("the origin")?,
            password: password.to_owned(),
            cookies: Mutex::new(BTreeMap::new()),
        })
    }
}

impl Drop for OidcProvider {
    fn drop(&mut self) {
        // Closing stdin asks the script to exit; the kill makes sure, by its own pid.
        drop(self.stdin.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The provider's user at a cookie-keeping, script-driven browser.
pub struct OidcUser {
    http: Client,
    origin: Url,
    password: String,
    cookies: Mutex<BTreeMap<String, String>>,
}

/// How many pages and redirects one sign-in may take before it is a loop.
const MAX_STEPS: usize = 12;

impl OidcUser {
    /// Opens `auth_uri`, signs in on the login page and allows on the consent
    /// page (each only when the provider shows it), and returns where the
    /// provider sent the browser: a redirect to the app, or the page that
    /// form-posts the response to it.
    pub async fn sign_in(&self, auth_uri: &str) -> Result<SignedIn> {
        let mut url = Url::parse(auth_uri).context("the authorize URL")?;
        let mut form: Option<Vec<(String, String)>> = None;
        for _ in 0..MAX_STEPS {
            let request = match form.take() {
                Some(fields) => self.http.post(url.clone()).form(&fields),
                None => self.http.get(url.clone()),
            };
            let response = request
                .header("cookie", self.cookie_header())
                .send()
                .await
                .context(&format!("requesting {url}"))?;
            self.keep_cookies(&response);
            let status = response.status();
            if status.is_redirection() {
                let location = response
                    .headers()
                    .get("location")
                    .context("a Location")?
                    .to_str()
                    .context("an ASCII Location")?;
                let next = url.join(location).context("the Location")?;
                if next.origin() != self.origin.origin() {
                    return Ok(SignedIn::Redirect(next.to_string()));
                }
                url = next;
                continue;
            }
            let page = response.text().await.context("reading the page")?;
            Failure::unless(status == StatusCode::OK, || {
                format!("{url} answered {status}: {page}")
            })?;
            if page.contains("id=\"error\"") {
                return Err(Failure::new(format!(
                    "the provider refused the sign-in: {}",
                    html::div_text(&page, "error").unwrap_or(&page)
                )));
            }
            let (next, fields) = if page.contains("id=\"login-form\"") {
                let mut login = html::read_form(&page, Some("login-form"))?;
                login.set("username", USERNAME);
                login.set("password", &self.password);
                (login.action, login.fields)
            } else if page.contains("id=\"consent-form\"") {
                let consent = html::read_form(&page, Some("consent-form"))?;
                (consent.action, consent.fields)
            } else {
                // The page that posts the authorization response to the app.
                return Ok(SignedIn::FormPost(html::read_form(&page, None)?));
            };
            url = url.join(&next).context("the form's action")?;
            form = Some(fields);
        }
        Err(Failure::new(format!(
            "the sign-in did not finish within {MAX_STEPS} steps (at {url})"
        )))
    }

    fn cookie_header(&self) -> String {
        let cookies = self.cookies.lock().map(|c| c.clone()).unwrap_or_default();
        cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    /// A browser's jar, simplified: one host, every cookie sent on every
    /// request (the provider's cookies are scoped by path, which only
    /// narrows where they go); expired or emptied ones removed.
    fn keep_cookies(&self, response: &reqwest::Response) {
        let Ok(mut jar) = self.cookies.lock() else {
            return;
        };
        for header in response.headers().get_all("set-cookie") {
            let Ok(header) = header.to_str() else {
                continue;
            };
            let mut attributes = header.split(';');
            let Some((name, value)) = attributes.next().and_then(|pair| pair.split_once('=')) else {
                continue;
            };
            let expired = attributes.any(|a| {
                let a = a.trim().to_ascii_lowercase();
                a == "max-age=0" || a.starts_with("expires=thu, 01 jan 1970")
            });
            if expired || value.is_empty() {
                jar.remove(name.trim());
            } else {
                jar.insert(name.trim().to_owned(), value.trim().to_owned());
            }
        }
    }
}

/// Copies `pipe` into `into` on a thread of its own.
fn collect(mut pipe: impl Read + Send + 'static, into: Arc<Mutex<String>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = pipe.read(&mut buf) {
            if n == 0 {
                break;
            }
            if let Ok(mut text) = into.lock() {
                text.push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        }
    });
}

/// Writes a file only its owner can read (keys, the secret).
fn write_private(path: &Path, contents: &str) -> Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options
        .open(path)
        .context(&format!("creating {}", path.display()))?;
    file.write_all(contents.as_bytes())
        .context(&format!("writing {}", path.display()))
}

struct TlsMaterial {
    ca_pem: String,
    chain_pem: String,
    key_pem: String,
}

/// A CA of this run and a server certificate for `127.0.0.1` and
/// `localhost` signed by it (with the authority key identifier strict
/// verifiers such as Python 3.13's require).
fn tls_material() -> std::result::Result<TlsMaterial, rcgen::Error> {
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut ca_params = CertificateParams::default();
    ca_params.distinguished_name = common_name("msal-rs oidc-provider test CA");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca_params.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?;
    let mut leaf = CertificateParams::default();
    leaf.distinguished_name = common_name("127.0.0.1");
    leaf.subject_alt_names = vec![
        SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        SanType::DnsName("localhost".try_into()?),
    ];
    leaf.key_usages = vec![KeyUsagePurpose::DigitalSignature];
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.use_authority_key_identifier_extension = true;
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer)?;
    let ca_pem = ca_cert.pem();
    Ok(TlsMaterial {
        chain_pem: format!("{}{ca_pem}", leaf_cert.pem()),
        ca_pem,
        key_pem: leaf_key.serialize_pem(),
    })
}

/// An RSA-2048 key (PKCS#8 PEM) and a self-signed certificate for it, the
/// form MSAL's certificate credentials take.
fn assertion_material() -> std::result::Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate_for(&PKCS_RSA_SHA256)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = common_name(ASSERTION_CLIENT_ID);
    let cert = params.self_signed(&key)?;
    Ok((key.serialize_pem(), cert.pem()))
}

fn common_name(name: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, name);
    dn
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;

    #[test]
    fn the_server_exits_when_its_stdin_closes_and_dies_with_its_handle() {
        let mut provider = OidcProvider::start_blocking().unwrap();
        assert!(provider.issuer().ends_with(&format!(":{}/op", provider.port())));
        // Its own exit, as when the test process dies: not the kill on drop.
        drop(provider.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        let status = loop {
            if let Some(status) = provider.child.try_wait().unwrap() {
                break status;
            }
            assert!(
                Instant::now() < deadline,
                "node kept serving after its stdin closed"
            );
            std::thread::sleep(Duration::from_millis(50));
        };
        assert!(status.success(), "{status:?}: {}", provider.logs());

        let second = OidcProvider::start_blocking().unwrap();
        let pid = second.child.id();
        assert!(Path::new(&format!("/proc/{pid}")).exists());
        drop(second);
        assert!(
            !Path::new(&format!("/proc/{pid}")).exists(),
            "killed and reaped on drop"
        );
    }
}
