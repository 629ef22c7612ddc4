//! Starting the emulator, and HTTPS clients that trust only its CA (never
//! the machine's roots, so a test cannot reach anything else by mistake).
//! reqwest clients resolve every host the emulator serves
//! ([`Emulator::hosts`]: `localhost`, the clouds' hosts, the B2C, CIAM,
//! AD FS and identity provider hosts) to its IPv4 loopback address and
//! never use a proxy from the environment.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::Duration;

use msal::ReqwestHttpClient;
use msal::http::ReqwestHttpClientBuilder;
use msal_emulator::{Emulator, EmulatorConfig};
use reqwest::{Certificate, Client, ClientBuilder};

use crate::{Context, Result};

/// An emulator with the built-in directory, on a free port.
pub async fn start() -> Result<Emulator> {
    start_with(EmulatorConfig::default()).await
}

/// An emulator from `config`.
pub async fn start_with(config: EmulatorConfig) -> Result<Emulator> {
    Emulator::start(config).await.context("starting the emulator")
}

/// A reqwest client builder that trusts only the emulator's CA and sends
/// every host it serves to it; add to it (more `resolve`s, a redirect
/// policy) before building.
pub fn client_builder(emulator: &Emulator) -> Result<ClientBuilder> {
    let ca = Certificate::from_pem(emulator.ca_cert_pem().as_bytes()).context("the emulator's CA")?;
    let addr = emulator_addr(emulator);
    let mut builder = Client::builder().tls_certs_only([ca]).no_proxy();
    for host in emulator.hosts() {
        builder = builder.resolve(&host, addr);
    }
    Ok(builder)
}

/// Where every emulator host resolves to: `127.0.0.1` and its port.
fn emulator_addr(emulator: &Emulator) -> SocketAddr {
    SocketAddr::from((Ipv4Addr::LOCALHOST, emulator.port()))
}

/// `https://{host}:{port}`: the emulator as `host` (one of
/// [`Emulator::hosts`], e.g. `fabrikamb2c.b2clogin.com`), for clients from
/// this module, which resolve it to the emulator.
pub fn host_url(emulator: &Emulator, host: &str) -> String {
    format!("https://{host}:{}", emulator.port())
}

/// A client that trusts only the emulator and follows redirects.
pub fn client(emulator: &Emulator) -> Result<Client> {
    client_builder(emulator)?.build().context("building the client")
}

/// What a cookie-less browser does: trusts only the emulator, never follows
/// redirects (tests read the `Location`), and gives up on a hung page.
pub fn browser(emulator: &Emulator) -> Result<Client> {
    client_builder(emulator)?
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .build()
        .context("building the browser client")
}

/// msal's transport builder, trusting only the emulator's CA.
pub fn msal_http_builder(emulator: &Emulator) -> Result<ReqwestHttpClientBuilder> {
    Ok(ReqwestHttpClient::builder()
        .add_root_certificates_pem(emulator.ca_cert_pem().as_bytes())
        .context("the emulator's CA")?
        .only_added_roots(true))
}

/// msal's transport, trusting only the emulator's CA.
pub fn msal_http(emulator: &Emulator) -> Result<ReqwestHttpClient> {
    msal_http_builder(emulator)?
        .build()
        .context("building msal's transport")
}

/// msal's transport builder, trusting only the emulator's CA and resolving
/// every host it serves ([`Emulator::hosts`]) to it: for authorities on
/// the clouds' hosts (`https://login.microsoftonline.us/...`), B2C
/// (`https://fabrikamb2c.b2clogin.com:PORT/fabrikamb2c.onmicrosoft.com/B2C_1_signupsignin`),
/// CIAM (`https://contosociam.ciamlogin.com:PORT/`) and AD FS
/// (`https://adfs.woodgrove.com:PORT/adfs`). Without a port in the
/// authority the client dials 443, which the resolver also sends to the
/// emulator's port.
pub fn msal_http_all_hosts_builder(emulator: &Emulator) -> Result<ReqwestHttpClientBuilder> {
    let addr = emulator_addr(emulator);
    let mut builder = msal_http_builder(emulator)?;
    for host in emulator.hosts() {
        builder = builder.resolve(&host, addr);
    }
    Ok(builder)
}

/// [`msal_http_all_hosts_builder`], built.
pub fn msal_http_all_hosts(emulator: &Emulator) -> Result<ReqwestHttpClient> {
    msal_http_all_hosts_builder(emulator)?
        .build()
        .context("building msal's transport")
}

/// The public cloud's hosts, as applications name them in authorities.
pub const CLOUD_HOSTS: [&str; 2] = ["login.microsoftonline.com", "login.windows.net"];

/// [`msal_http`] that also sends the public cloud's hosts ([`CLOUD_HOSTS`])
/// to the emulator, whose certificate names them: for tests of authorities
/// written as users write them, aliases included.
pub fn msal_http_for_cloud(emulator: &Emulator) -> Result<ReqwestHttpClient> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, emulator.port()));
    let mut builder = msal_http_builder(emulator)?;
    for host in CLOUD_HOSTS {
        builder = builder.resolve(host, addr);
    }
    builder.build().context("the msal transport builds")
}
