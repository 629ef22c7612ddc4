//! Loopback redirect receiver for interactive sign-in.
//!
//! This module owns the local end of `acquire_token_interactive`: a tiny
//! HTTP/1.1 listener on `127.0.0.1` that the browser is redirected to
//! ([`LoopbackListener`]), the pages shown to the user when the sign-in
//! response arrives ([`ResponsePages`]), and the way the authorization URI is
//! handed to a browser ([`BrowserLauncher`], [`open_browser`]).
//!
//! The listener is deliberately minimal and defensive, because anything on the
//! machine can connect to it while the user signs in:
//!
//! - it binds the loopback interface only (RFC 8252 §8.3), never all interfaces;
//! - a response whose `state` is not the expected one gets HTTP 400 and the
//!   listener keeps waiting, so a stray or forged request cannot end the flow;
//! - requests that are not authorization responses (`/favicon.ico`, a bare
//!   `GET /`) get 404 and are ignored;
//! - HTTP/1 is hyper's (already compiled for reqwest), not hand-written:
//!   request heads are bounded, a connection gets [`HEADER_READ_TIMEOUT`] to
//!   send its head and [`CONNECTION_DEADLINE`] in all, and is closed after
//!   one response;
//! - each connection is served on its own task, so idle or trickling local
//!   connections (hundreds of them) cannot delay the real redirect;
//! - values substituted into the pages are HTML-escaped.

use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use std::convert::Infallible;
use std::sync::{Mutex, PoisonError};

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use url::Url;

use crate::error::{Error, Result};

/// Largest request line plus headers accepted (hyper's read buffer). A
/// browser's redirect is well under 8 KiB; anything bigger is refused with 431.
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// Time a connection has to send its request head: a browser sends it at
/// once; an idle or trickling connection is closed after it.
pub(crate) const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(3);
/// Largest request body accepted (by `Content-Length`). A `form_post`
/// response with an authorization code and an ID token is a few KiB; anything
/// bigger is refused with 413.
pub(crate) const MAX_BODY_BYTES: usize = 64 * 1024;
/// Time one connection has to deliver its request and receive the answer.
/// It bounds what a slow or idle client ("slow loris") can hold on to.
pub(crate) const CONNECTION_DEADLINE: Duration = Duration::from_secs(10);

/// Connections served at the same time, each on its own task: enough that
/// idle local connections cannot crowd out the browser's redirect (they
/// cost a task each, and go after [`HEADER_READ_TIMEOUT`]), bounded so a
/// flood cannot exhaust memory or file descriptors.
const MAX_CONCURRENT_CONNECTIONS: usize = 1024;
/// Pause after a failed `accept` (e.g. out of file descriptors), so that a
/// persistent failure does not turn the loop into a busy spin.
const ACCEPT_RETRY_PAUSE: Duration = Duration::from_millis(100);

/// Default page shown when sign-in succeeded.
const DEFAULT_SUCCESS_HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
<title>Authentication complete</title></head><body>\
<p>Authentication complete. You can close this window and return to the application.</p>\
</body></html>\n";

/// Default page shown when the identity provider returned an error. The
/// placeholders are filled with the (escaped) values of the response.
const DEFAULT_ERROR_HTML: &str = "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">\
<title>Authentication failed</title></head><body>\
<p>Authentication failed. You can close this window and return to the application.</p>\
<p>Error: $error</p><p>$error_description</p></body></html>\n";

/// OAuth2 error fields that templates may use even when the response lacks
/// them; they render as empty text rather than as a literal `$error_uri`.
const DEFAULTED_PLACEHOLDERS: [&str; 3] = ["error", "error_description", "error_uri"];

/// The pages shown in the browser when the authorization response arrives.
///
/// Each is an HTML template: `$name` or `${name}` is replaced by the response
/// parameter `name` (for instance `$error` and `$error_description`, see
/// RFC 6749 §4.1.2.1), HTML-escaped; `$$` is a literal `$`. `$error`,
/// `$error_description` and `$error_uri` render as empty text when absent;
/// other unknown placeholders are left as written. `None` selects the
/// built-in page.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ResponsePages {
    /// Shown when the response carries an authorization code.
    pub success_html: Option<String>,
    /// Shown when the response carries an `error`.
    pub error_html: Option<String>,
}

impl ResponsePages {
    fn success_template(&self) -> &str {
        self.success_html.as_deref().unwrap_or(DEFAULT_SUCCESS_HTML)
    }

    fn error_template(&self) -> &str {
        self.error_html.as_deref().unwrap_or(DEFAULT_ERROR_HTML)
    }
}

/// A listener on `127.0.0.1` that receives the browser's redirect at the end of
/// interactive sign-in.
///
/// ```no_run
/// # async fn run() -> msal::Result<()> {
/// use std::time::Duration;
/// use msal::{LoopbackListener, ResponsePages};
///
/// let listener = LoopbackListener::bind(0).await?;
/// let redirect_uri = listener.redirect_uri(); // e.g. http://localhost:53187
/// // ... send the user to the authorization URI built with `redirect_uri` ...
/// let params = listener
///     .wait_for_auth_response("the-state-sent", Duration::from_secs(300), &ResponsePages::default())
///     .await?;
/// let code = params.get("code");
/// # let _ = (redirect_uri, code); Ok(()) }
/// ```
#[derive(Debug)]
pub struct LoopbackListener {
    listener: TcpListener,
    port: u16,
    require_form_post: bool,
    connection_deadline: Duration,
}

impl LoopbackListener {
    /// Listens on `127.0.0.1:port`; port 0 picks any free port.
    ///
    /// Only the IPv4 loopback interface is bound, as RFC 8252 recommends: the
    /// redirect URI still says `localhost`, which browsers resolve to it.
    ///
    /// # Errors
    /// [`Error::LoopbackListener`] when the port cannot be bound (typically
    /// because it is in use).
    pub async fn bind(port: u16) -> Result<Self> {
        let io_error = |source: std::io::Error| Error::LoopbackListener {
            port,
            source: Arc::new(source),
        };
        let listener = TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port)))
            .await
            .map_err(io_error)?;
        let bound_port = listener.local_addr().map_err(io_error)?.port();
        Ok(Self {
            listener,
            port: bound_port,
            require_form_post: false,
            connection_deadline: CONNECTION_DEADLINE,
        })
    }

    /// When `true`, an authorization code that arrives in a query string (a
    /// `GET` redirect, `response_mode=query`) is refused with 400 and the
    /// listener keeps waiting: only `form_post` delivers a code. This is what
    /// current MSAL Python does, since codes in URLs end up in browser history.
    /// Error responses are accepted either way. Off by default.
    #[must_use]
    pub fn require_form_post(mut self, required: bool) -> Self {
        self.require_form_post = required;
        self
    }

    /// The port actually listened on (never 0).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The redirect URI to register and send: `http://localhost:{port}`, the
    /// form every MSAL uses (no trailing slash).
    pub fn redirect_uri(&self) -> String {
        format!("http://localhost:{}", self.port)
    }

    /// Serves requests until an authorization response whose `state` equals
    /// `expected_state` arrives, answers it with the success page (or the
    /// error page, when the response carries `error`) and returns its
    /// parameters, e.g. `code` and `state`, or `error` and
    /// `error_description`.
    ///
    /// Both response shapes are accepted on any path: `form_post` (a `POST`
    /// with an `application/x-www-form-urlencoded` body) and `query` (a `GET`
    /// with a query string; see [`require_form_post`](Self::require_form_post)).
    /// A response with a wrong or missing `state` gets HTTP 400 and the wait
    /// goes on; requests without `code` or `error` get 404 and are ignored.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] when `expected_state` is empty (the state
    /// check is what ties the response to this request), and
    /// [`Error::InteractionTimeout`] when no matching response arrived within
    /// `timeout`.
    pub async fn wait_for_auth_response(
        &self,
        expected_state: &str,
        timeout: Duration,
        pages: &ResponsePages,
    ) -> Result<HashMap<String, String>> {
        if expected_state.is_empty() {
            return Err(Error::InvalidArgument(
                "the expected state of an interactive sign-in must not be empty".into(),
            ));
        }
        let context = Arc::new(ConnectionContext {
            expected_state: expected_state.to_owned(),
            pages: pages.clone(),
            require_form_post: self.require_form_post,
            deadline: self.connection_deadline,
        });
        // Dropping the serving future on timeout drops its JoinSet, which
        // aborts every connection still in progress.
        match tokio::time::timeout(timeout, self.serve(context)).await {
            Ok(params) => Ok(params),
            Err(_elapsed) => Err(Error::InteractionTimeout { after: timeout }),
        }
    }

    /// Accepts and serves connections until one yields the awaited response.
    async fn serve(&self, context: Arc<ConnectionContext>) -> HashMap<String, String> {
        let mut connections = JoinSet::new();
        loop {
            tokio::select! {
                accepted = self.listener.accept(), if connections.len() < MAX_CONCURRENT_CONNECTIONS => {
                    match accepted {
                        Ok((stream, _peer)) => {
                            let context = Arc::clone(&context);
                            connections.spawn(handle_connection(stream, context));
                        }
                        Err(e) => {
                            // Accept errors are per connection or transient
                            // (aborted handshake, descriptor exhaustion): the
                            // listener itself stays usable, so keep waiting.
                            tracing::debug!(error = %e, "loopback listener: accept failed");
                            tokio::time::sleep(ACCEPT_RETRY_PAUSE).await;
                        }
                    }
                }
                Some(joined) = connections.join_next() => {
                    match joined {
                        Ok(Some(params)) => return params,
                        Ok(None) => {}
                        Err(e) => tracing::debug!(error = %e, "loopback listener: connection task failed"),
                    }
                }
            }
        }
    }
}

/// What every connection of one wait needs to know.
struct ConnectionContext {
    expected_state: String,
    pages: ResponsePages,
    require_form_post: bool,
    deadline: Duration,
}

/// Serves one connection (one request, hyper's HTTP/1) within its deadline;
/// returns the parameters when it carried the awaited authorization
/// response, once the answer has been written.
async fn handle_connection(
    stream: TcpStream,
    context: Arc<ConnectionContext>,
) -> Option<HashMap<String, String>> {
    let found: Arc<Mutex<Option<HashMap<String, String>>>> = Arc::default();
    let slot = Arc::clone(&found);
    let deadline = context.deadline;
    let service = service_fn(move |request: hyper::Request<Incoming>| {
        let (context, slot) = (Arc::clone(&context), Arc::clone(&slot));
        async move { Ok::<_, Infallible>(answer(request, &context, &slot).await) }
    });
    let connection = http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .keep_alive(false)
        .max_buf_size(MAX_HEAD_BYTES)
        .serve_connection(TokioIo::new(stream), service);
    match tokio::time::timeout(deadline, connection).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::debug!(error = %e, "loopback listener: connection ended"),
        Err(_elapsed) => tracing::debug!("loopback listener: connection closed at its deadline"),
    }
    found.lock().unwrap_or_else(PoisonError::into_inner).take()
}

/// Reads the request's body (at most [`MAX_BODY_BYTES`]), decides, and
/// keeps the parameters of the awaited response in `slot`.
async fn answer(
    request: hyper::Request<Incoming>,
    context: &ConnectionContext,
    slot: &Mutex<Option<HashMap<String, String>>>,
) -> hyper::Response<Full<Bytes>> {
    let (parts, body) = request.into_parts();
    // A declared length over the limit is refused before any byte of it is awaited.
    if hyper::body::Body::size_hint(&body).lower() > MAX_BODY_BYTES as u64 {
        return response(Reply::page(
            413,
            "Content Too Large",
            "The request body is too large.",
        ));
    }
    let body = match Limited::new(body, MAX_BODY_BYTES).collect().await {
        Ok(collected) => collected.to_bytes().to_vec(),
        Err(e) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => {
            return response(Reply::page(
                413,
                "Content Too Large",
                "The request body is too large.",
            ));
        }
        Err(_) => {
            return response(Reply::page(
                400,
                "Bad Request",
                "The request body could not be read.",
            ));
        }
    };
    let request = Request {
        method: parts.method.as_str().to_owned(),
        target: parts
            .uri
            .path_and_query()
            .map_or("/", |target| target.as_str())
            .to_owned(),
        headers: parts
            .headers
            .iter()
            .filter_map(|(name, value)| Some((name.as_str().to_owned(), value.to_str().ok()?.to_owned())))
            .collect(),
        body,
    };
    let (reply, params) = decide(&request, context);
    tracing::debug!(
        method = %request.method,
        path = %request.path(),
        status = reply.status,
        "loopback listener: request served"
    );
    if let Some(params) = params {
        *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(params);
    }
    response(reply)
}

/// [`decide`] on a request made of these parts, for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_decide(method: &str, target: &str, content_type: Option<&str>, body: &[u8]) {
    let context = ConnectionContext {
        expected_state: "expected-state".into(),
        pages: ResponsePages::default(),
        require_form_post: body.len().is_multiple_of(2),
        deadline: CONNECTION_DEADLINE,
    };
    let request = Request {
        method: method.to_owned(),
        target: target.to_owned(),
        headers: content_type
            .map(|c| vec![("content-type".to_owned(), c.to_owned())])
            .unwrap_or_default(),
        body: body.to_vec(),
    };
    let (reply, params) = decide(&request, &context);
    assert!((200..600).contains(&reply.status));
    // Only a response naming the expected state ends the wait.
    if let Some(params) = params {
        assert_eq!(params.get("state").map(String::as_str), Some("expected-state"));
    }
}

/// [`parse_params`], for the fuzz targets.
#[cfg(feature = "fuzzing")]
pub(crate) fn fuzz_params(raw: &[u8]) -> Option<HashMap<String, String>> {
    parse_params(raw)
}

/// The HTTP response for `reply`: HTML, never cached, never sniffed.
fn response(reply: Reply) -> hyper::Response<Full<Bytes>> {
    let status =
        hyper::StatusCode::from_u16(reply.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let mut response = hyper::Response::new(Full::new(Bytes::from(reply.body)));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    for (name, value) in [
        (hyper::header::CONTENT_TYPE, "text/html; charset=utf-8"),
        (hyper::header::CACHE_CONTROL, "no-store"),
        (hyper::header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (hyper::header::REFERRER_POLICY, "no-referrer"),
        (hyper::header::CONNECTION, "close"),
    ] {
        headers.insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}

/// A parsed request: only what the receiver looks at.
#[derive(Debug)]
struct Request {
    method: String,
    target: String,
    /// Header names are lowercase.
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Request {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The target without its query: safe to log (the query can hold a code).
    fn path(&self) -> &str {
        self.target.split(['?', '#']).next().unwrap_or_default()
    }

    /// The raw query string; browsers never send the fragment, but a
    /// hand-made request might.
    fn query(&self) -> &str {
        match self.target.split_once('?') {
            Some((_, query)) => query.split('#').next().unwrap_or_default(),
            None => "",
        }
    }
}

/// An HTTP answer: status and HTML body.
#[derive(Debug)]
struct Reply {
    status: u16,
    body: String,
}

impl Reply {
    fn page(status: u16, title: &str, message: &str) -> Self {
        Reply {
            status,
            body: format!(
                "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{title}</title></head>\
                 <body><p>{message}</p></body></html>\n",
                title = html_escape(title),
                message = html_escape(message),
            ),
        }
    }
}

/// Chooses the answer to a well-formed request, and whether it ends the wait.
fn decide(request: &Request, context: &ConnectionContext) -> (Reply, Option<HashMap<String, String>>) {
    let (raw, is_form_post) = match request.method.as_str() {
        "GET" => (request.query().as_bytes(), false),
        "POST" => {
            let is_form = request.header("content-type").is_none_or(|content_type| {
                let media_type = content_type.split(';').next().unwrap_or_default().trim();
                media_type.eq_ignore_ascii_case("application/x-www-form-urlencoded")
            });
            if !is_form {
                return (
                    Reply::page(415, "Unsupported Media Type", "Expected a form-encoded body."),
                    None,
                );
            }
            (request.body.as_slice(), true)
        }
        _ => {
            return (
                Reply::page(405, "Method Not Allowed", "Method not allowed."),
                None,
            );
        }
    };

    let Some(params) = parse_params(raw) else {
        return (Reply::page(400, "Bad Request", "A parameter is repeated."), None);
    };

    let has = |name: &str| params.get(name).is_some_and(|value| !value.is_empty());
    if !has("code") && !has("error") {
        // Not an authorization response: the browser's favicon request, a
        // user opening the redirect URI by hand, a port scanner.
        return (Reply::page(404, "Not Found", "Not found."), None);
    }
    if context.require_form_post && !is_form_post && has("code") {
        return (
            Reply::page(
                400,
                "Bad Request",
                "This application accepts the sign-in response only with response_mode=form_post.",
            ),
            None,
        );
    }
    let state_matches = params
        .get("state")
        .is_some_and(|state| constant_time_eq(state.as_bytes(), context.expected_state.as_bytes()));
    if !state_matches {
        // Possibly forged (a login CSRF attempt) or left over from an earlier
        // sign-in: refuse it without ending the wait, and echo nothing back.
        return (
            Reply::page(
                400,
                "Bad Request",
                "This sign-in response does not belong to the sign-in in progress.",
            ),
            None,
        );
    }
    let template = if has("error") {
        context.pages.error_template()
    } else {
        context.pages.success_template()
    };
    let body = render_template(template, &params);
    (Reply { status: 200, body }, Some(params))
}

/// Decodes `application/x-www-form-urlencoded` data; `None` when a name is
/// repeated, since two `state`s or two `code`s would be ambiguous.
fn parse_params(raw: &[u8]) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    for (name, value) in url::form_urlencoded::parse(raw) {
        if params.insert(name.into_owned(), value.into_owned()).is_some() {
            return None;
        }
    }
    Some(params)
}

/// Compares without an early exit, so that timing does not reveal how much of
/// a guessed state was right.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Fills `$name` and `${name}` placeholders with HTML-escaped values; `$$` is
/// a literal `$`; unknown placeholders stay as written.
fn render_template(template: &str, values: &HashMap<String, String>) -> String {
    let lookup = |name: &str| -> Option<&str> {
        values
            .get(name)
            .map(String::as_str)
            .or_else(|| DEFAULTED_PLACEHOLDERS.contains(&name).then_some(""))
    };
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(dollar) = rest.find('$') {
        out.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        if let Some(tail) = after.strip_prefix('$') {
            out.push('$');
            rest = tail;
            continue;
        }
        // (name, bytes after the `$` that the placeholder spans)
        let placeholder = match after.strip_prefix('{') {
            Some(braced) => braced
                .find('}')
                .filter(|&end| end > 0 && identifier_len(&braced[..end]) == end)
                .map(|end| (&braced[..end], end + 2)),
            None => match identifier_len(after) {
                0 => None,
                len => Some((&after[..len], len)),
            },
        };
        match placeholder.and_then(|(name, span)| lookup(name).map(|value| (value, span))) {
            Some((value, span)) => {
                out.push_str(&html_escape(value));
                rest = &after[span..];
            }
            None => {
                out.push('$');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Length of the ASCII identifier (`[_A-Za-z][_A-Za-z0-9]*`) that starts
/// `text`; ASCII only, so the result is always a char boundary.
fn identifier_len(text: &str) -> usize {
    let bytes = text.as_bytes();
    match bytes.first() {
        Some(b) if b.is_ascii_alphabetic() || *b == b'_' => bytes
            .iter()
            .position(|b| !(b.is_ascii_alphanumeric() || *b == b'_'))
            .unwrap_or(bytes.len()),
        _ => 0,
    }
}

/// Escapes text for HTML element content and quoted attribute values.
fn html_escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#x27;"),
            other => out.push(other),
        }
    }
    out
}

/// A function that sends the user to the authorization URI, for
/// [`BrowserLauncher::Callback`].
pub type BrowserCallback = dyn Fn(&Url) -> Result<()> + Send + Sync;

/// How the authorization URI reaches the user.
#[derive(Clone, Default)]
pub enum BrowserLauncher {
    /// Open the system's default browser ([`open_browser`]).
    #[default]
    System,
    /// Hand the URI to this function instead: for headless programs (print
    /// it, show a QR code), embedded web views, and tests that drive the
    /// sign-in themselves.
    Callback(Arc<BrowserCallback>),
}

impl BrowserLauncher {
    /// A launcher that calls `launch` with the authorization URI.
    pub fn callback(launch: impl Fn(&Url) -> Result<()> + Send + Sync + 'static) -> Self {
        BrowserLauncher::Callback(Arc::new(launch))
    }

    /// Sends the user to `uri`. The URI is checked as [`open_browser`]
    /// checks it, whichever launcher is used, so that a callback never
    /// receives what the system launcher would refuse.
    ///
    /// # Errors
    /// [`Error::InvalidArgument`] for a URI that is not plain `http`/`https`,
    /// [`Error::BrowserUnavailable`] when the system browser cannot be
    /// opened, or whatever the callback returns.
    pub fn launch(&self, uri: &Url) -> Result<()> {
        check_browser_uri(uri.as_str())?;
        match self {
            BrowserLauncher::System => open_browser(uri),
            BrowserLauncher::Callback(launch) => launch(uri),
        }
    }
}

impl fmt::Debug for BrowserLauncher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BrowserLauncher::System => f.write_str("BrowserLauncher::System"),
            BrowserLauncher::Callback(_) => f.write_str("BrowserLauncher::Callback(..)"),
        }
    }
}

/// Opens `uri` in the system's default browser.
///
/// Only `http` and `https` URIs without CR, LF or TAB are opened: the URI
/// is handed to the operating system's opener, which would also run
/// `javascript:`, `file:` or custom scheme handlers, and control characters
/// could smuggle extra arguments into it. This call may block briefly while
/// the opener starts; from async code, run it with `spawn_blocking`.
///
/// # Errors
/// [`Error::InvalidArgument`] for a URI that is refused, and
/// [`Error::BrowserUnavailable`] when no browser could be opened (for
/// instance on a headless machine).
pub fn open_browser(uri: &Url) -> Result<()> {
    check_browser_uri(uri.as_str())?;
    webbrowser::open(uri.as_str()).map_err(|e| Error::BrowserUnavailable {
        reason: e.to_string(),
    })
}

/// The check behind [`open_browser`], on the text actually handed over. (A
/// parsed `Url` already drops tabs and newlines, so checking the text again
/// costs nothing and keeps the rule true even if that changes.)
fn check_browser_uri(uri: &str) -> Result<()> {
    let lowercase = uri.to_ascii_lowercase();
    if !(lowercase.starts_with("http://") || lowercase.starts_with("https://")) {
        return Err(Error::InvalidArgument(
            "only http and https URIs can be opened in a browser".into(),
        ));
    }
    if uri.contains(['\r', '\n', '\t']) {
        return Err(Error::InvalidArgument(
            "a URI to open in a browser must not contain CR, LF or TAB".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;
    use std::time::Instant;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::task::JoinHandle;

    use super::*;

    const STATE: &str = "s-7f3a";
    const WAIT: Duration = Duration::from_secs(10);

    type Waiter = JoinHandle<Result<HashMap<String, String>>>;

    fn start(listener: LoopbackListener, pages: ResponsePages) -> Waiter {
        tokio::spawn(async move { listener.wait_for_auth_response(STATE, WAIT, &pages).await })
    }

    async fn bind_and_start() -> (u16, Waiter) {
        let listener = LoopbackListener::bind(0).await.unwrap();
        let port = listener.port();
        (port, start(listener, ResponsePages::default()))
    }

    async fn connect(port: u16) -> TcpStream {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).await.unwrap();
        stream.set_nodelay(true).unwrap();
        stream
    }

    /// Sends `request` one byte per write, as a pathological client would,
    /// then reads the whole answer.
    async fn send_bytewise(port: u16, request: &[u8]) -> String {
        let mut stream = connect(port).await;
        for byte in request {
            stream.write_all(std::slice::from_ref(byte)).await.unwrap();
        }
        read_to_end(&mut stream).await
    }

    /// Sends `request` in one write and reads the whole answer.
    async fn send(port: u16, request: &[u8]) -> String {
        let mut stream = connect(port).await;
        stream.write_all(request).await.unwrap();
        read_to_end(&mut stream).await
    }

    async fn read_to_end(stream: &mut TcpStream) -> String {
        let mut answer = Vec::new();
        tokio::time::timeout(Duration::from_secs(5), stream.read_to_end(&mut answer))
            .await
            .expect("the listener answers and closes")
            .unwrap();
        String::from_utf8(answer).unwrap()
    }

    fn status_of(answer: &str) -> u16 {
        answer
            .split(' ')
            .nth(1)
            .and_then(|status| status.parse().ok())
            .unwrap_or(0)
    }

    async fn assert_still_waiting(waiter: &Waiter) {
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "the listener must keep waiting");
    }

    fn form_post(body: &str) -> Vec<u8> {
        format!(
            "POST /callback HTTP/1.1\r\nHost: localhost\r\n\
             Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .into_bytes()
    }

    #[tokio::test]
    async fn query_response_succeeds() {
        let (port, waiter) = bind_and_start().await;
        let answer = send_bytewise(
            port,
            format!("GET /?code=abc%20def&state={STATE} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), 200, "{answer}");
        assert!(answer.to_ascii_lowercase().contains("connection: close"));
        assert!(answer.contains("Authentication complete"));
        let params = waiter.await.unwrap().unwrap();
        assert_eq!(params.get("code").map(String::as_str), Some("abc def"));
        assert_eq!(params.get("state").map(String::as_str), Some(STATE));
    }

    #[tokio::test]
    async fn form_post_response_succeeds() {
        let (port, waiter) = bind_and_start().await;
        let answer = send_bytewise(
            port,
            &form_post(&format!("code=c0de&state={STATE}&id_token=x.y.z")),
        )
        .await;
        assert_eq!(status_of(&answer), 200, "{answer}");
        let params = waiter.await.unwrap().unwrap();
        assert_eq!(params.get("code").map(String::as_str), Some("c0de"));
        assert_eq!(params.get("id_token").map(String::as_str), Some("x.y.z"));
    }

    #[tokio::test]
    async fn wrong_or_missing_state_is_refused_and_the_wait_goes_on() {
        let (port, waiter) = bind_and_start().await;
        let wrong = send(port, b"GET /?code=evil&state=other HTTP/1.1\r\n\r\n").await;
        assert_eq!(status_of(&wrong), 400, "{wrong}");
        assert!(
            !wrong.contains("evil") && !wrong.contains("other"),
            "nothing is echoed"
        );
        assert_still_waiting(&waiter).await;

        let missing = send(port, &form_post("code=evil")).await;
        assert_eq!(status_of(&missing), 400, "{missing}");
        assert_still_waiting(&waiter).await;

        let good = send(port, &form_post(&format!("code=good&state={STATE}"))).await;
        assert_eq!(status_of(&good), 200, "{good}");
        let params = waiter.await.unwrap().unwrap();
        assert_eq!(params.get("code").map(String::as_str), Some("good"));
    }

    #[tokio::test]
    async fn error_response_shows_the_escaped_error_page() {
        let (port, waiter) = bind_and_start().await;
        let body = format!(
            "error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E&state={STATE}"
        );
        let answer = send_bytewise(port, &form_post(&body)).await;
        assert_eq!(status_of(&answer), 200, "{answer}");
        assert!(answer.contains("access_denied"));
        assert!(
            answer.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
            "{answer}"
        );
        assert!(!answer.contains("<script>"));
        let params = waiter.await.unwrap().unwrap();
        assert_eq!(params.get("error").map(String::as_str), Some("access_denied"));
        assert_eq!(
            params.get("error_description").map(String::as_str),
            Some("<script>alert(1)</script>")
        );
    }

    #[tokio::test]
    async fn requests_that_are_not_auth_responses_are_ignored() {
        let (port, waiter) = bind_and_start().await;
        for request in [
            &b"GET /favicon.ico HTTP/1.1\r\nHost: localhost\r\n\r\n"[..],
            b"GET / HTTP/1.1\r\n\r\n",
            b"GET /?state=s-7f3a HTTP/1.0\r\n\r\n",
            &form_post("foo=bar")[..],
        ] {
            let answer = send(port, request).await;
            assert_eq!(status_of(&answer), 404, "{answer}");
            assert_still_waiting(&waiter).await;
        }
        let answer = send(
            port,
            format!("GET /?code=c&state={STATE} HTTP/1.1\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), 200);
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn oversize_and_malformed_requests_are_refused() {
        let (port, waiter) = bind_and_start().await;

        let mut huge_head = b"GET /?code=c HTTP/1.1\r\nX-Filler: ".to_vec();
        huge_head.extend(std::iter::repeat_n(b'a', MAX_HEAD_BYTES + 1));
        huge_head.extend_from_slice(b"\r\n\r\n");
        assert_eq!(status_of(&send(port, &huge_head).await), 431);

        let huge_body = format!(
            "POST / HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY_BYTES + 1
        );
        assert_eq!(status_of(&send(port, huge_body.as_bytes()).await), 413);
        let overflowing = b"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n";
        assert!(matches!(status_of(&send(port, overflowing).await), 400 | 413));

        // Chunked bodies are read, within the same limit.
        let chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n6\r\ncode=c\r\n0\r\n\r\n";
        assert_eq!(status_of(&send(port, chunked).await), 400, "no state: refused");
        let mut huge_chunked = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
        for _ in 0..(MAX_BODY_BYTES / 1024 + 2) {
            huge_chunked.extend_from_slice(b"400\r\n");
            huge_chunked.extend(std::iter::repeat_n(b'a', 1024));
            huge_chunked.extend_from_slice(b"\r\n");
        }
        huge_chunked.extend_from_slice(b"0\r\n\r\n");
        assert_eq!(status_of(&send(port, &huge_chunked).await), 413);

        for malformed in [
            &b"\xff\xfe\x00garbage\r\n\r\n"[..],
            b"GET /\r\n\r\n",
            b"GET / HTTP/2.0\r\n\r\n",
            b"GET / HTTP/1.1\r\nNo-Colon\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
            b"POST / HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        ] {
            let answer = send(port, malformed).await;
            assert_eq!(status_of(&answer), 400, "{malformed:?} -> {answer}");
        }
        let duplicate = format!("GET /?code=a&code=b&state={STATE} HTTP/1.1\r\n\r\n");
        assert_eq!(status_of(&send(port, duplicate.as_bytes()).await), 400);

        // A client that sends half a request and leaves gets no answer and
        // does not disturb the listener.
        let mut gone = connect(port).await;
        gone.write_all(b"GET /?code=").await.unwrap();
        drop(gone);

        assert_still_waiting(&waiter).await;
        let answer = send(port, &form_post(&format!("code=ok&state={STATE}"))).await;
        assert_eq!(status_of(&answer), 200);
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn slow_connection_does_not_block_a_good_request() {
        let (port, waiter) = bind_and_start().await;
        let mut slow = connect(port).await;
        slow.write_all(b"GET /?code=slow").await.unwrap();
        tokio::time::sleep(Duration::from_millis(50)).await;

        let started = Instant::now();
        let answer = send(
            port,
            format!("GET /?code=c&state={STATE} HTTP/1.1\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), 200);
        assert!(waiter.await.unwrap().is_ok());
        assert!(started.elapsed() < Duration::from_secs(2));
        drop(slow);
    }

    #[tokio::test]
    async fn slow_connection_is_cut_at_its_deadline() {
        let mut listener = LoopbackListener::bind(0).await.unwrap();
        listener.connection_deadline = Duration::from_millis(200);
        let port = listener.port();
        let waiter = start(listener, ResponsePages::default());

        let started = Instant::now();
        let mut slow = connect(port).await;
        slow.write_all(b"GET /?co").await.unwrap();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(3), slow.read_to_end(&mut rest))
            .await
            .expect("the listener closes the slow connection");
        assert!(read.is_ok_and(|n| n == 0), "closed without an answer");
        assert!(started.elapsed() < Duration::from_secs(2));
        assert_still_waiting(&waiter).await;
        waiter.abort();
    }

    #[tokio::test]
    async fn timeout_returns_the_typed_error_promptly() {
        let listener = LoopbackListener::bind(0).await.unwrap();
        let port = listener.port();
        // An idle connection must not keep the wait alive past its timeout.
        let _idle = connect(port).await;
        let started = Instant::now();
        let outcome = listener
            .wait_for_auth_response(STATE, Duration::from_millis(200), &ResponsePages::default())
            .await;
        assert!(
            matches!(outcome, Err(Error::InteractionTimeout { after }) if after == Duration::from_millis(200)),
            "{outcome:?}"
        );
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    #[tokio::test]
    async fn empty_expected_state_is_refused() {
        let listener = LoopbackListener::bind(0).await.unwrap();
        let outcome = listener
            .wait_for_auth_response("", WAIT, &ResponsePages::default())
            .await;
        assert!(matches!(outcome, Err(Error::InvalidArgument(_))), "{outcome:?}");
    }

    #[tokio::test]
    async fn binds_the_loopback_interface_only() {
        let listener = LoopbackListener::bind(0).await.unwrap();
        let address = listener.listener.local_addr().unwrap();
        assert_eq!(address.ip(), Ipv4Addr::LOCALHOST);
        assert_ne!(listener.port(), 0);
        assert_eq!(address.port(), listener.port());
        assert_eq!(
            listener.redirect_uri(),
            format!("http://localhost:{}", listener.port())
        );

        // The same port cannot be taken twice: a typed error, not a panic.
        let outcome = LoopbackListener::bind(listener.port()).await;
        assert!(
            matches!(&outcome, Err(Error::LoopbackListener { port, .. }) if *port == listener.port()),
            "{outcome:?}"
        );
    }

    #[tokio::test]
    async fn form_post_can_be_required() {
        let listener = LoopbackListener::bind(0).await.unwrap().require_form_post(true);
        let port = listener.port();
        let waiter = start(listener, ResponsePages::default());
        let answer = send(
            port,
            format!("GET /?code=c&state={STATE} HTTP/1.1\r\n\r\n").as_bytes(),
        )
        .await;
        assert_eq!(status_of(&answer), 400);
        assert!(answer.contains("form_post"));
        assert_still_waiting(&waiter).await;
        let answer = send(port, &form_post(&format!("code=c&state={STATE}"))).await;
        assert_eq!(status_of(&answer), 200);
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn hundreds_of_idle_connections_do_not_delay_the_redirect() {
        let (port, waiter) = bind_and_start().await;
        let mut idle = Vec::new();
        for _ in 0..400 {
            idle.push(connect(port).await);
        }
        // Some of them trickle half a request.
        for stream in idle.iter_mut().take(50) {
            stream.write_all(b"GET /?co").await.unwrap();
        }
        let started = Instant::now();
        let answer = send(port, &form_post(&format!("code=c&state={STATE}"))).await;
        assert_eq!(status_of(&answer), 200, "{answer}");
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "{:?}",
            started.elapsed()
        );
        assert!(waiter.await.unwrap().is_ok());
    }

    #[tokio::test]
    async fn custom_pages_are_used_with_escaped_values() {
        let listener = LoopbackListener::bind(0).await.unwrap();
        let port = listener.port();
        let pages = ResponsePages {
            success_html: None,
            error_html: Some("<h1>Oops: ${error}</h1><p>$error_description</p>".into()),
        };
        let waiter = start(listener, pages);
        let query = format!("error=%3Cscript%3Ex%3C%2Fscript%3E&state={STATE}");
        let answer = send(port, format!("GET /?{query} HTTP/1.1\r\n\r\n").as_bytes()).await;
        assert!(
            answer.ends_with("<h1>Oops: &lt;script&gt;x&lt;/script&gt;</h1><p></p>"),
            "{answer}"
        );
        assert!(waiter.await.unwrap().is_ok());
    }

    #[test]
    fn templates_escape_and_follow_placeholder_rules() {
        let values = HashMap::from([
            ("error".to_owned(), "<script>alert('x')</script>".to_owned()),
            ("state".to_owned(), "a&b\"".to_owned()),
        ]);
        assert_eq!(
            render_template(
                "$error|${state}|$$error|$unknown|${error_uri}|$|${}|$1|${bad",
                &values
            ),
            "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;|a&amp;b&quot;|$error|$unknown||$|${}|$1|${bad"
        );
        assert_eq!(render_template("€ $error_description €", &HashMap::new()), "€  €");
        let page = render_template(DEFAULT_ERROR_HTML, &values);
        assert!(!page.contains("<script>") && page.contains("&lt;script&gt;"));
    }

    #[test]
    fn open_browser_refuses_unsafe_uris() {
        for uri in [
            "javascript:alert(1)",
            "file:///etc/passwd",
            "ms-settings:privacy",
            "data:text/html,x",
        ] {
            let url = Url::parse(uri).unwrap();
            assert!(
                matches!(open_browser(&url), Err(Error::InvalidArgument(_))),
                "{uri}"
            );
        }
        for uri in [
            "https://a.example/\r\nX: y",
            "https://a.example/\nx",
            "https://a.example/\tx",
        ] {
            assert!(
                matches!(check_browser_uri(uri), Err(Error::InvalidArgument(_))),
                "{uri:?}"
            );
        }
        assert!(
            check_browser_uri("https://login.microsoftonline.com/common/oauth2/v2.0/authorize?x=1").is_ok()
        );
        assert!(check_browser_uri("HTTP://localhost:8080/").is_ok());
    }

    #[test]
    fn callback_launcher_receives_the_uri() {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = Arc::clone(&seen);
        let launcher = BrowserLauncher::callback(move |uri: &Url| {
            record.lock().unwrap().push(uri.to_string());
            Ok(())
        });
        let uri = Url::parse("https://login.example/authorize?state=1").unwrap();
        launcher.launch(&uri).unwrap();
        assert_eq!(*seen.lock().unwrap(), vec![uri.to_string()]);
        // The same check applies to callbacks.
        let refused = launcher.launch(&Url::parse("javascript:alert(1)").unwrap());
        assert!(matches!(refused, Err(Error::InvalidArgument(_))));
        assert_eq!(seen.lock().unwrap().len(), 1);
        assert_eq!(format!("{launcher:?}"), "BrowserLauncher::Callback(..)");
    }
}
