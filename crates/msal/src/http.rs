//! HTTP transport: the small [`HttpClient`] trait every request goes
//! through, and [`ReqwestHttpClient`], the default implementation (reqwest
//! with rustls).
//!
//! The trait is deliberately tiny (one method, owned request and response) so
//! that tests, proxies and custom stacks can stand in for the network.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use url::Url;

use crate::error::{Error, TransportError, TransportErrorKind};

/// A boxed, sendable future, as returned by [`HttpClient::execute`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Default timeout of a whole request (connect, send, read).
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Default timeout for establishing a connection.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest response body accepted; identity provider responses are a few KiB.
pub const MAX_RESPONSE_BYTES: usize = 4 * 1024 * 1024;

/// HTTP method of an [`HttpRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// GET, for discovery documents.
    Get,
    /// POST, for token requests.
    Post,
}

/// A request to send. Its `Debug` output shows no header values and no body,
/// because both can carry credentials.
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpRequest {
    /// The method.
    pub method: Method,
    /// The full URL.
    pub url: Url,
    /// Header names and values.
    pub headers: Vec<(String, String)>,
    /// The body (a form for token requests); empty for GET.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// A request with no headers and no body.
    pub fn new(method: Method, url: Url) -> Self {
        HttpRequest {
            method,
            url,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }

    /// Adds a header.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: Vec<u8>) -> Self {
        self.body = body;
        self
    }

    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.headers.iter().map(|(n, _)| n.as_str()).collect();
        f.debug_struct("HttpRequest")
            .field("method", &self.method)
            .field("url", &self.url.as_str())
            .field("headers", &names)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// A response received. Its `Debug` output shows no body (it can carry tokens).
#[derive(Clone)]
#[non_exhaustive]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Header names (lowercase) and values.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// A response, as a transport received it.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: Vec<u8>) -> Self {
        HttpResponse {
            status,
            headers,
            body,
        }
    }

    /// The value of a header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        find_header(&self.headers, name)
    }
}

impl fmt::Debug for HttpResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpResponse")
            .field("status", &self.status)
            .field("body_len", &self.body.len())
            .finish()
    }
}

fn find_header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

/// Sends HTTP requests. Implement it to replace the network (tests, proxies,
/// a custom TLS stack); the library never touches process-wide settings.
pub trait HttpClient: Send + Sync + 'static {
    /// Sends one request and returns the whole response. Implementations must
    /// bound the time they take.
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>>;
}

impl<T: HttpClient + ?Sized> HttpClient for Arc<T> {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        (**self).execute(request)
    }
}

/// How the library waits before retrying a request. The default,
/// [`TokioSleeper`], waits on tokio's timer; tests and simulations
/// substitute one that records each wait and returns at once, so retry
/// schedules (a managed identity host's 410 storm waits minutes) are
/// checked without waiting them out.
pub trait Sleeper: Send + Sync + 'static {
    /// Waits `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()>;
}

/// The default [`Sleeper`]: `tokio::time::sleep`.
#[derive(Clone, Copy, Debug, Default)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, duration: Duration) -> BoxFuture<'static, ()> {
        Box::pin(tokio::time::sleep(duration))
    }
}

/// The default transport: reqwest over rustls, with timeouts on every
/// request, no redirects, and a response size limit.
///
/// The reqwest client (and with it the platform's trusted roots, a few
/// hundred files to read and parse) is built on the first request, not
/// when the application is: a process served from its token cache, such
/// as `msal token` on a warm cache, never pays for it.
#[derive(Clone, Debug)]
pub struct ReqwestHttpClient {
    inner: Arc<LazyClient>,
}

#[derive(Debug)]
struct LazyClient {
    settings: ReqwestHttpClientBuilder,
    /// The client, or why it could not be built (said by every request).
    client: OnceLock<Result<reqwest::Client, String>>,
}

impl ReqwestHttpClient {
    fn client(&self) -> Result<&reqwest::Client, &str> {
        self.inner
            .client
            .get_or_init(|| {
                self.inner
                    .settings
                    .clone()
                    .build_reqwest()
                    .map_err(|e| e.to_string())
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

impl ReqwestHttpClient {
    /// A client with the platform's trusted roots and the default timeouts.
    pub fn new() -> Result<Self, Error> {
        Self::builder().build()
    }

    /// A builder to add trusted roots or change timeouts.
    pub fn builder() -> ReqwestHttpClientBuilder {
        ReqwestHttpClientBuilder::default()
    }
}

/// Builds a [`ReqwestHttpClient`].
#[derive(Clone, Debug)]
pub struct ReqwestHttpClientBuilder {
    timeout: Duration,
    connect_timeout: Duration,
    roots: Vec<reqwest::Certificate>,
    roots_only: bool,
    resolve: Vec<(String, std::net::SocketAddr)>,
    /// A TLS configuration of the library's own (a pinned certificate),
    /// replacing root-based validation.
    tls: Option<rustls::ClientConfig>,
    no_proxy: bool,
    /// The client certificate presented in handshakes (mutual TLS).
    identity: Option<reqwest::Identity>,
}

impl Default for ReqwestHttpClientBuilder {
    fn default() -> Self {
        Self {
            timeout: DEFAULT_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            roots: Vec::new(),
            roots_only: false,
            resolve: Vec::new(),
            tls: None,
            no_proxy: false,
            identity: None,
        }
    }
}

impl ReqwestHttpClientBuilder {
    /// Trusts the certificates in `pem` (one or more) in addition to the
    /// platform's roots, for this client only.
    pub fn add_root_certificates_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        let certs = reqwest::Certificate::from_pem_bundle(pem)
            .map_err(|e| Error::InvalidArgument(format!("invalid PEM certificate: {e}")))?;
        if certs.is_empty() {
            return Err(Error::InvalidArgument(
                "no certificate found in the PEM data".into(),
            ));
        }
        self.roots.extend(certs);
        Ok(self)
    }

    /// Trusts only the added roots, not the platform's.
    pub fn only_added_roots(mut self, only: bool) -> Self {
        self.roots_only = only;
        self
    }

    /// Timeout of a whole request.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Timeout to establish a connection.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Sends requests for `host` to `addr` instead of resolving it (for
    /// regional hosts in tests, without editing `/etc/hosts`).
    pub fn resolve(mut self, host: &str, addr: std::net::SocketAddr) -> Self {
        self.resolve.push((host.to_owned(), addr));
        self
    }

    /// Validates servers with `config` instead of trusted roots (the
    /// Service Fabric endpoint's pinned certificate), and never through a
    /// proxy, so the pinned connection is the server's own.
    pub(crate) fn pinned_tls(mut self, config: rustls::ClientConfig) -> Self {
        self.tls = Some(config);
        self.no_proxy = true;
        self
    }

    /// Presents the client certificate of `pem` (a private key and its
    /// chain, leaf first) in every handshake: mutual TLS (see [`crate::mtls`]).
    pub(crate) fn client_identity_pem(mut self, pem: &[u8]) -> Result<Self, Error> {
        // reqwest's message names no key material.
        let identity = reqwest::Identity::from_pem(pem).map_err(|e| {
            Error::InvalidArgument(format!("unusable client certificate for mutual TLS: {e}"))
        })?;
        self.identity = Some(identity);
        Ok(self)
    }

    /// Builds the client. The settings are checked now (certificates are
    /// parsed as they are added); the reqwest client itself is built on the
    /// first request (see [`ReqwestHttpClient`]).
    pub fn build(self) -> Result<ReqwestHttpClient, Error> {
        Ok(ReqwestHttpClient {
            inner: Arc::new(LazyClient {
                settings: self,
                client: OnceLock::new(),
            }),
        })
    }

    /// Builds the underlying reqwest client.
    pub(crate) fn build_reqwest(self) -> Result<reqwest::Client, Error> {
        let mut builder = reqwest::Client::builder()
            .timeout(self.timeout)
            .connect_timeout(self.connect_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("msal-rust/", env!("CARGO_PKG_VERSION")));
        builder = match self.tls {
            Some(config) => builder.tls_backend_preconfigured(config),
            None if self.roots_only => builder.tls_certs_only(self.roots),
            None => builder.tls_certs_merge(self.roots),
        };
        if self.no_proxy {
            builder = builder.no_proxy();
        }
        for (host, addr) in &self.resolve {
            builder = builder.resolve(host, *addr);
        }
        if let Some(identity) = self.identity {
            builder = builder.identity(identity);
        }
        builder
            .build()
            .map_err(|e| Error::InvalidArgument(format!("cannot build the HTTP client: {e}")))
    }
}

impl HttpClient for ReqwestHttpClient {
    fn execute(&self, request: HttpRequest) -> BoxFuture<'_, Result<HttpResponse, TransportError>> {
        Box::pin(async move {
            let url_for_errors = strip_query(&request.url);
            let to_error = |e: reqwest::Error| {
                let kind = if e.is_timeout() {
                    TransportErrorKind::Timeout
                } else if e.is_connect() {
                    TransportErrorKind::Connect
                } else {
                    TransportErrorKind::Other
                };
                // reqwest's message names the URL (with its query); keep only the cause chain.
                let e = e.without_url();
                TransportError::new(kind, url_for_errors.clone(), error_chain(&e)).with_source(e)
            };
            let client = self.client().map_err(|reason| {
                TransportError::new(
                    TransportErrorKind::Other,
                    url_for_errors.clone(),
                    reason.to_owned(),
                )
            })?;
            let mut builder = match request.method {
                Method::Get => client.get(request.url.clone()),
                Method::Post => client.post(request.url.clone()),
            };
            for (name, value) in &request.headers {
                builder = builder.header(name.as_str(), value.as_str());
            }
            if request.method == Method::Post {
                builder = builder.body(request.body);
            }
            let mut response = builder.send().await.map_err(to_error)?;
            let status = response.status().as_u16();
            let headers = response
                .headers()
                .iter()
                .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
                .collect();
            let mut body = Vec::new();
            while let Some(chunk) = response.chunk().await.map_err(to_error)? {
                if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
                    return Err(TransportError::new(
                        TransportErrorKind::TooLarge,
                        url_for_errors,
                        format!("response larger than {MAX_RESPONSE_BYTES} bytes"),
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(HttpResponse {
                status,
                headers,
                body,
            })
        })
    }
}

fn strip_query(url: &Url) -> String {
    let mut url = url.clone();
    url.set_query(None);
    url.set_fragment(None);
    url.into()
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
