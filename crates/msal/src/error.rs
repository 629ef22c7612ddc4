//! Errors: one [`Error`] type for every fallible call, with the identity
//! provider's own fields kept intact in [`ServiceError`].
//!
//! No variant carries a secret: request bodies, client secrets and tokens never
//! reach an error message.

use std::fmt;

use serde::Deserialize;

/// Result alias for this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while acquiring a token. It is `Clone` so
/// that one failed request can be reported to every caller that waited on it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The authority URL is not one this library accepts (e.g. not `https`).
    /// Raised before any request is sent.
    #[error("invalid authority '{authority}': {reason}")]
    InvalidAuthority {
        /// The authority as given (URLs carry no secrets).
        authority: String,
        /// Why it was refused.
        reason: String,
    },
    /// Instance discovery does not know the authority's host
    /// (`invalid_instance`): it is not a Microsoft cloud, so tokens are not
    /// requested from it. Use a known host, or turn instance discovery off
    /// (`instance_discovery(false)`) for a host you trust yourself.
    #[error(
        "invalid_instance: the authority {authority} is not known to instance discovery ({description}); \
         if it is your own identity provider, turn instance discovery off"
    )]
    InvalidInstance {
        /// The authority as configured.
        authority: String,
        /// What instance discovery said.
        description: String,
    },
    /// An OIDC authority's discovery document names an issuer that is not
    /// that authority (or none): the document may be a mirror's or an
    /// attacker's, so no token is requested from the endpoints it lists.
    /// The same documents MSAL Python (1.35+) refuses.
    #[error("{}", issuer_mismatch_message(authority, issuer.as_deref()))]
    IssuerMismatch {
        /// The OIDC authority as configured.
        authority: String,
        /// The `issuer` its discovery document named, if any.
        issuer: Option<String>,
    },
    /// A long-running on-behalf-of process asked for a token under a
    /// session key the cache has no usable tokens for (never initiated, or
    /// its refresh token expired or was refused): start a new session with
    /// an incoming token.
    #[error("no usable tokens for the long-running on-behalf-of session {session_key:?}")]
    OnBehalfOfSessionNotFound {
        /// The session key (a hash or the application's own key, not a token).
        session_key: String,
    },
    /// A caller-supplied argument is invalid (empty scopes, reserved scopes, ...).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),

    /// A proof-of-possession key could not be made, read or used, or the
    /// identity provider answered a PoP request with another kind of token.
    #[error("proof of possession: {0}")]
    ProofOfPossession(String),

    /// The identity provider answered with an OAuth2 error. Boxed: it is
    /// by far the largest variant, and errors travel through every `Result`.
    #[error(transparent)]
    Service(Box<ServiceError>),
    /// The request did not complete: connection, TLS, timeout.
    #[error(transparent)]
    Transport(#[from] TransportError),
    /// The identity provider answered, but not with anything this library understands.
    #[error("unexpected response from {endpoint} (HTTP {status}): {reason}")]
    InvalidResponse {
        /// The endpoint URL that answered.
        endpoint: String,
        /// The HTTP status code.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// The token cache could not be read or written.
    #[error(transparent)]
    Cache(#[from] CacheError),
    /// The authorization response's `state` is not the one the auth code flow
    /// sent: the response may be forged (cross-site request forgery) or belong
    /// to another sign-in. Nothing was redeemed.
    #[error(
        "state mismatch: the authorization response does not belong to this auth code flow \
         (possible cross-site request forgery)"
    )]
    StateMismatch,
    /// The authorization response holds neither a `code` nor an `error`.
    #[error("invalid authorization response: {0}")]
    InvalidAuthResponse(String),
    /// The ID token's `nonce` is not the one the auth code flow sent: the
    /// token may be replayed or injected. Nothing was cached.
    #[error("nonce mismatch: the ID token was not issued for this auth code flow")]
    NonceMismatch,
    /// The flow asked for `max_age`, and the user last authenticated longer
    /// ago than it allows (with two minutes of clock skew). Nothing was cached.
    #[error(
        "the user last authenticated at {auth_time} (epoch seconds), longer ago than max_age={max_age}s allows"
    )]
    MaxAgeExceeded {
        /// The ID token's `auth_time`, in epoch seconds.
        auth_time: u64,
        /// The `max_age` the flow asked for, in seconds.
        max_age: u64,
    },
    /// The identity provider sent an ID token this library cannot use (not a
    /// JWT with a JSON payload, or missing a claim the flow needs).
    #[error("invalid ID token: {0}")]
    InvalidIdToken(String),
    /// The blocking facade was called from inside an async runtime, where it would deadlock.
    #[error("the blocking API was called from within an async runtime; use the async API instead")]
    BlockingInAsyncContext,
    /// Interactive sign-in did not complete: no authorization response reached
    /// the local redirect listener within the allowed time.
    #[error("no authorization response arrived within {after:?}")]
    InteractionTimeout {
        /// How long the listener waited.
        after: std::time::Duration,
    },
    /// The device code expired before the user finished signing in on the
    /// verification page: start a new device flow. `service` is the identity
    /// provider's `expired_token` answer; `None` when the flow's own
    /// `expires_at` passed first, so no poll was left to make.
    #[error("the device code expired before the user signed in; start a new device flow")]
    DeviceCodeExpired {
        /// The identity provider's answer, when it said so.
        service: Option<Box<ServiceError>>,
    },
    /// The user declined the sign-in (Entra's `authorization_declined`,
    /// RFC 8628's `access_denied`): asking again will not help until they
    /// change their mind.
    #[error("the user declined the sign-in; the identity provider said: {service}")]
    AuthorizationDeclined {
        /// The identity provider's answer.
        service: Box<ServiceError>,
    },
    /// The caller cancelled the operation through its
    /// [`CancellationHandle`](crate::CancellationHandle).
    #[error("the operation was cancelled")]
    Cancelled,
    /// The local redirect listener for interactive sign-in could not be
    /// started, for instance because the port is already in use.
    #[error("loopback redirect listener on port {port}: {source}")]
    LoopbackListener {
        /// The port that was asked for (0 means any free port).
        port: u16,
        /// The operating system's error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// The system browser could not be opened to show the sign-in page.
    #[error("could not open a browser: {reason}")]
    BrowserUnavailable {
        /// Why, as the platform reported it.
        reason: String,
    },
    /// A silent call cannot get a token without the user: sign the user in
    /// interactively (or with another user flow), passing the service
    /// error's [`claims`](ServiceError::claims) as the claims challenge when
    /// there is one. The message names no token.
    #[error("{}", interaction_message(*reason, service.as_deref()))]
    InteractionRequired {
        /// Why the cache and the refresh tokens were not enough.
        reason: InteractionReason,
        /// The identity provider's answer, when it refused a refresh token.
        service: Option<Box<ServiceError>>,
    },
    /// The user's federation server (AD FS or similar) refused a
    /// username/password sign-in with a SOAP fault: wrong password, locked
    /// or disabled account, ... `code` and `reason` are the server's; the
    /// password never appears in them.
    #[error("the federation server {endpoint} refused the sign-in (HTTP {status}): {code}: {reason}")]
    WsTrustFault {
        /// The WS-Trust endpoint that answered.
        endpoint: String,
        /// The HTTP status (AD FS uses 500 for a wrong password).
        status: u16,
        /// The SOAP fault's most specific code, e.g. `a:FailedAuthentication`.
        code: String,
        /// The SOAP fault's reason text, e.g. `MSIS7068: Access denied.`.
        reason: String,
    },
    /// A federated user's domain offers no WS-Trust username/password
    /// endpoint (1.3 or 2005) in its metadata, so a password cannot be used:
    /// typical of Microsoft (personal) accounts. Sign the user in
    /// interactively instead.
    #[error(
        "no WS-Trust 1.3 or 2005 username/password endpoint found through {url}: \
         this account cannot sign in with a username and password"
    )]
    NoWsTrustEndpoint {
        /// The federation metadata (MEX) or active authentication URL that was tried.
        url: String,
    },
    /// The application's client credential (certificate, key, PKCS#12 file
    /// or assertion source) cannot be used. Raised before any request is
    /// sent; no key material appears in it.
    #[error(transparent)]
    Credential(#[from] CredentialError),
    /// ID token validation (opt-in, see `validate_id_tokens` on the
    /// application builders) refused the identity provider's ID token:
    /// nothing was cached.
    #[error(transparent)]
    IdToken(#[from] IdTokenError),
    /// A managed identity request could not be made or its host's answer
    /// cannot be used: see [`ManagedIdentityError`]. Errors the host states
    /// in its own body come as [`Error::Service`].
    #[error(transparent)]
    ManagedIdentity(#[from] ManagedIdentityError),
    /// The identity provider throttled this request (HTTP 429 or 5xx, or
    /// an error with `Retry-After`), now or for an identical request
    /// moments ago: until `retry_after` has passed, identical requests are
    /// answered with this error without being sent. `service` is the
    /// identity provider's answer, when it was an OAuth2 error.
    #[error("{}", throttled_message(*retry_after, service.as_deref()))]
    Throttled {
        /// How long to wait before sending the request again.
        retry_after: std::time::Duration,
        /// The identity provider's answer, when it was an OAuth2 error.
        service: Option<Box<ServiceError>>,
    },
}

/// The message of [`Error::Throttled`].
fn throttled_message(retry_after: std::time::Duration, service: Option<&ServiceError>) -> String {
    let mut message = format!(
        "throttled by the identity provider: retry after {} s",
        retry_after.as_secs_f64().ceil()
    );
    if let Some(service) = service {
        message.push_str(&format!("; the identity provider said: {service}"));
    }
    message
}

/// Why a silent call needs the user: see [`Error::InteractionRequired`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InteractionReason {
    /// The cache does not know the account (never signed in here, or removed).
    NoAccount,
    /// The account is known but no refresh token this application may use
    /// is cached for it (and no usable access token either).
    NoRefreshToken,
    /// The identity provider refused every usable refresh token
    /// (`invalid_grant`: expired, revoked, password changed, ...).
    RefreshTokenRejected,
    /// The identity provider asks for a claims challenge to be satisfied
    /// (conditional access such as MFA, or continuous access evaluation).
    ClaimsChallenge,
    /// The user must consent to the scopes (`consent_required`).
    ConsentRequired,
    /// The user must sign in again (`login_required`, `interaction_required`).
    LoginRequired,
}

impl InteractionReason {
    /// A short description, for messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            InteractionReason::NoAccount => "the account is not in the token cache",
            InteractionReason::NoRefreshToken => "no refresh token is cached for the account",
            InteractionReason::RefreshTokenRejected => "the identity provider rejected the refresh token",
            InteractionReason::ClaimsChallenge => "the identity provider requires a claims challenge",
            InteractionReason::ConsentRequired => "the user must consent to the scopes",
            InteractionReason::LoginRequired => "the user must sign in again",
        }
    }
}

impl fmt::Display for InteractionReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The message of [`Error::InteractionRequired`]. Only the IdP's error code
/// and description appear (Entra never echoes a token in them), never the
/// request, so no token or secret can leak into logs through it.
fn interaction_message(reason: InteractionReason, service: Option<&ServiceError>) -> String {
    let mut message = format!("interaction required: a user must sign in interactively ({reason})");
    if let Some(service) = service {
        message.push_str(&format!("; the identity provider said: {service}"));
    }
    message
}

/// OAuth2 errors that only the user can resolve, by signing in again.
const INTERACTION_ERRORS: [&str; 4] = [
    "invalid_grant",
    "interaction_required",
    "login_required",
    "consent_required",
];

impl From<ServiceError> for Error {
    fn from(e: ServiceError) -> Self {
        Error::Service(Box::new(e))
    }
}

impl Error {
    /// The identity provider's error, when this is one (including the
    /// answers behind [`Error::InteractionRequired`], [`Error::DeviceCodeExpired`]
    /// and [`Error::AuthorizationDeclined`]).
    pub fn service_error(&self) -> Option<&ServiceError> {
        match self {
            Error::Service(e) => Some(e),
            // The IdP's refusal that made interaction necessary keeps its fields.
            Error::InteractionRequired { service: Some(e), .. } => Some(e),
            Error::DeviceCodeExpired { service: Some(e) } | Error::AuthorizationDeclined { service: e } => {
                Some(e)
            }
            Error::Throttled { service: Some(e), .. } => Some(e),
            _ => None,
        }
    }

    /// Whether a user must sign in interactively to get past this error:
    /// [`Error::InteractionRequired`], and identity provider errors
    /// `invalid_grant`, `interaction_required`, `login_required` and
    /// `consent_required`.
    pub fn is_interaction_required(&self) -> bool {
        match self {
            Error::InteractionRequired { .. } => true,
            Error::Service(e) => e.requires_interaction(),
            _ => false,
        }
    }
}

/// An OAuth2 / OpenID Connect error response from the identity provider, with
/// the fields Entra ID sends (`error`, `error_description`, `error_codes`, ...).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceError {
    /// HTTP status of the response; `0` when the error came back in the
    /// authorization response (a redirect), not from an HTTP request.
    #[serde(skip)]
    pub status: u16,
    /// The OAuth2 error code, such as `invalid_client`.
    pub error: String,
    /// Human readable description; for Entra it starts with the `AADSTS` code.
    #[serde(default)]
    pub error_description: Option<String>,
    /// Entra's numeric error codes (the `AADSTS` numbers).
    #[serde(default)]
    pub error_codes: Vec<i64>,
    /// When the error occurred, as the server formatted it.
    #[serde(default)]
    pub timestamp: Option<String>,
    /// The server-side trace id.
    #[serde(default)]
    pub trace_id: Option<String>,
    /// The correlation id (the `client-request-id` this library sent).
    #[serde(default)]
    pub correlation_id: Option<String>,
    /// A link to the error's documentation.
    #[serde(default)]
    pub error_uri: Option<String>,
    /// A finer-grained classification, such as `basic_action` or `consent_required`.
    #[serde(default)]
    pub suberror: Option<String>,
    /// A claims challenge to pass to the next interactive request.
    #[serde(default)]
    pub claims: Option<String>,
    /// Entra's extra classification, such as `client_mismatch` when a
    /// family refresh token is redeemed by an app outside the family.
    #[serde(default, deserialize_with = "lenient_strings")]
    pub error_additional_info: Vec<String>,
}

/// `error_additional_info` is a list of strings in Entra's answers; a single
/// string is accepted, and any other shape is ignored rather than turning
/// the whole error into an unreadable response.
fn lenient_strings<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Vec<String>, D::Error> {
    Ok(match Option::<serde_json::Value>::deserialize(deserializer)? {
        Some(serde_json::Value::String(s)) => vec![s],
        Some(serde_json::Value::Array(items)) => items
            .into_iter()
            .filter_map(|item| item.as_str().map(str::to_owned))
            .collect(),
        _ => Vec::new(),
    })
}

impl ServiceError {
    /// The first `AADSTS` code, e.g. `7000215` for an invalid client secret.
    pub fn aadsts_code(&self) -> Option<i64> {
        self.error_codes.first().copied()
    }

    /// Whether only the user can resolve this error, by signing in again
    /// (`invalid_grant`, `interaction_required`, `login_required`, `consent_required`).
    pub fn requires_interaction(&self) -> bool {
        INTERACTION_ERRORS.contains(&self.error.as_str())
    }

    /// Whether Entra refused a family refresh token because this client is
    /// not (or no longer) in the family.
    pub(crate) fn is_client_mismatch(&self) -> bool {
        self.suberror.as_deref() == Some("client_mismatch")
            || self.error_additional_info.iter().any(|i| i == "client_mismatch")
    }
}

impl fmt::Display for ServiceError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.status == 0 {
            write!(f, "{} (in the authorization response)", self.error)?;
        } else {
            write!(f, "{} (HTTP {})", self.error, self.status)?;
        }
        if let Some(description) = &self.error_description {
            write!(f, ": {description}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ServiceError {}

/// What kind of failure a [`TransportError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TransportErrorKind {
    /// Could not connect (refused, DNS, TLS handshake).
    Connect,
    /// The request did not complete in time.
    Timeout,
    /// The response was larger than this library accepts.
    TooLarge,
    /// Anything else.
    Other,
}

/// A request that did not complete. The message never contains the request
/// body; the transport's own error, when there is one, is its
/// [`source`](std::error::Error::source).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct TransportError {
    /// The failure's kind.
    pub kind: TransportErrorKind,
    /// The URL, without its query string.
    pub url: String,
    /// A description from the transport.
    pub message: String,
    /// The transport's error: shared, so that one failed request can be
    /// reported to every caller that waited on it.
    source: Option<std::sync::Arc<dyn std::error::Error + Send + Sync>>,
}

impl fmt::Display for TransportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "HTTP request to {} failed ({:?}): {}",
            self.url, self.kind, self.message
        )
    }
}

impl std::error::Error for TransportError {
    /// The transport's own error itself (not the `Arc` that shares it), so
    /// callers can downcast it.
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        let source: &(dyn std::error::Error + Send + Sync + 'static) = self.source.as_deref()?;
        Some(source)
    }
}

impl TransportError {
    /// A failure of `kind` on a request to `url`; pass the URL without its
    /// query string, which may carry secrets.
    pub fn new(kind: TransportErrorKind, url: impl Into<String>, message: impl Into<String>) -> Self {
        TransportError {
            kind,
            url: url.into(),
            message: message.into(),
            source: None,
        }
    }

    /// Keeps `source`, the transport's own error, as this error's cause.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(std::sync::Arc::new(source));
        self
    }
}

/// The token cache could not be read or written.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CacheError {
    /// The serialized cache is not valid: the cache is left as it was.
    #[error("malformed token cache at line {line}, column {column}: {reason}")]
    Malformed {
        /// 1-based line of the problem.
        line: usize,
        /// 1-based column of the problem.
        column: usize,
        /// What the parser found.
        reason: String,
    },
    /// Reading or writing a cache file failed.
    #[error("token cache file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The underlying error.
        #[source]
        source: std::sync::Arc<std::io::Error>,
    },
    /// Another process held the cache file's lock (`<cache>.lockfile`)
    /// for longer than the wait allowed: it may still be writing, or it was
    /// killed and left the lock file behind (then remove that file).
    #[error(
        "the token cache is locked by another process ({holder}); waited {waited:?}. \
         If no msal program is running, remove {lock_file}"
    )]
    Locked {
        /// The lock file.
        lock_file: String,
        /// What the lock file says about its holder (`"{pid} {program}"`), if readable.
        holder: String,
        /// How long this process waited.
        waited: std::time::Duration,
    },
    /// The OS keyring (the Secret Service on Linux) could not be used; see
    /// [`KeyringError`] for why. Nothing was read or written.
    #[error("OS keyring: {0}")]
    Keyring(#[from] KeyringError),
    /// A shared (locked) cache file is a symbolic link: refused, because
    /// processes reaching the target through another path would take
    /// another lock file and overwrite each other, and a link planted in a
    /// shared directory could redirect the tokens. Point at the target.
    #[error("token cache file {path} is a symbolic link (to {target}): use the target's path")]
    SymlinkRefused {
        /// The path given.
        path: String,
        /// Where the link points.
        target: String,
    },
}

/// Why the OS keyring could not hold the token cache. Each kind says what
/// to do about it; none names a secret.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyringError {
    /// No D-Bus session bus to talk to (`DBUS_SESSION_BUS_ADDRESS` unset
    /// or unreachable), as over SSH without a desktop session.
    #[error(
        "no D-Bus session bus ({reason}); the keyring needs a desktop session \
         (or `dbus-run-session` with a keyring daemon), else use the file store"
    )]
    NoSession {
        /// What was missing or failed.
        reason: String,
    },
    /// The session bus has no Secret Service (no GNOME Keyring, KWallet or
    /// KeePassXC running or activatable).
    #[error("no Secret Service on the D-Bus session bus ({reason}); start gnome-keyring-daemon or KWallet")]
    NoService {
        /// What the bus answered.
        reason: String,
    },
    /// The keyring collection is locked and unlocking it needs the user to
    /// type a password in a prompt, which this program does not show.
    #[error(
        "the keyring collection {collection} is locked and unlocking it needs a password prompt; \
         unlock it (e.g. by logging in to the desktop) and try again"
    )]
    Locked {
        /// The collection's D-Bus object path.
        collection: String,
    },
    /// The keyring has no collection with this alias, and creating one was
    /// not allowed or needs a password prompt.
    #[error(
        "the keyring has no '{alias}' collection and cannot create one without a password prompt; \
         create it in the desktop's keyring manager (e.g. Seahorse)"
    )]
    NoCollection {
        /// The collection alias (`default`).
        alias: String,
    },
    /// The keyring did not answer in time.
    #[error("the keyring did not answer {operation} within {after:?}")]
    Timeout {
        /// What was asked.
        operation: String,
        /// How long it was waited for.
        after: std::time::Duration,
    },
    /// The Secret Service refused or failed an operation.
    #[error("the Secret Service failed {operation}: {reason}")]
    Failed {
        /// What was asked.
        operation: String,
        /// The D-Bus error, which names no secret.
        reason: String,
    },
    /// The stored entry is not a token cache (not UTF-8).
    #[error("the keyring entry is not a token cache: {0}")]
    Corrupt(String),
    /// This build has no keyring store for this platform.
    #[error("no OS keyring support in this build for this platform ({0})")]
    Unsupported(&'static str),
}

/// Why a client credential could not be loaded or used. Messages describe
/// the problem, never the key material or passphrase.
/// A certificate, key or assertion that cannot be used.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialError {
    /// The text is not PEM, or a PEM block is damaged.
    #[error("invalid PEM: {0}")]
    InvalidPem(&'static str),
    /// The PEM text holds no private key.
    #[error("no private key found (expected a PEM 'PRIVATE KEY' or 'RSA PRIVATE KEY' block)")]
    NoPrivateKey,
    /// The private key is encrypted; decrypt it first or use a PKCS#12 file
    /// with its passphrase.
    #[error(
        "the PEM private key is encrypted; decrypt it first, or use a PKCS#12 (PFX) file and its passphrase"
    )]
    EncryptedPrivateKey,
    /// The private key is not an RSA key (Entra's certificate credentials
    /// sign with RS256 or PS256).
    #[error("unsupported private key: {0}")]
    UnsupportedKey(&'static str),
    /// The private key could not be parsed.
    #[error("the private key is not a valid RSA key")]
    InvalidPrivateKey,
    /// No certificate was found where one is required.
    #[error("no certificate found (expected a PEM 'CERTIFICATE' block or a certificate in the PKCS#12 file)")]
    NoCertificate,
    /// A certificate could not be parsed.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),
    /// None of the certificates holds the private key's public key.
    #[error("the certificate does not match the private key")]
    KeyCertificateMismatch,
    /// A thumbprint that is not 40 (SHA-1) hexadecimal digits.
    #[error("invalid SHA-1 thumbprint: expected 40 hexadecimal digits")]
    InvalidThumbprint,
    /// The PKCS#12 (PFX) data cannot be read.
    #[error("invalid PKCS#12 (PFX) data: {0}")]
    InvalidPkcs12(String),
    /// The PKCS#12 passphrase is wrong (its integrity check failed).
    #[error("wrong PKCS#12 passphrase (the file's integrity check failed)")]
    WrongPassphrase,
    /// Signing the assertion failed.
    #[error("signing the client assertion failed")]
    Signing,
    /// The application's assertion callback failed.
    #[error("the client assertion callback failed: {0}")]
    AssertionCallback(#[source] std::sync::Arc<dyn std::error::Error + Send + Sync>),
    /// The assertion (string or callback result) is empty.
    #[error("the client assertion is empty")]
    EmptyAssertion,
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use super::*;

    #[test]
    fn errors_keep_their_sources() {
        let io = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        let transport =
            TransportError::new(TransportErrorKind::Connect, "https://idp/token", "refused").with_source(io);
        let error = Error::from(transport);
        let cause = error.source().and_then(|e| e.downcast_ref::<std::io::Error>());
        assert_eq!(
            cause.map(std::io::Error::kind),
            Some(std::io::ErrorKind::ConnectionRefused)
        );
        // Cloned for every waiter of a shared request, the cause comes along.
        assert!(error.clone().source().is_some());

        let callback: std::sync::Arc<dyn std::error::Error + Send + Sync> =
            std::sync::Arc::new(std::io::Error::other("vault down"));
        let credential = Error::from(CredentialError::AssertionCallback(callback));
        assert!(credential.source().is_some(), "{credential}");
        assert!(
            TransportError::new(TransportErrorKind::Other, "u", "m")
                .source()
                .is_none()
        );
    }
}

/// The Azure host a managed identity token comes from, detected from the
/// environment in MSAL Python's order (see
/// [`ManagedIdentityEnvironment::source`](crate::ManagedIdentityEnvironment::source)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ManagedIdentitySource {
    /// The Azure instance metadata service: virtual machines, scale sets,
    /// AKS pod identity. The default when nothing else is detected.
    Imds,
    /// App Service, Azure Functions, Azure Automation, Container Apps.
    AppService,
    /// Azure Machine Learning compute.
    AzureMl,
    /// A Service Fabric cluster's managed identity token service.
    ServiceFabric,
    /// A server connected through Azure Arc (its hybrid instance metadata service).
    AzureArc,
    /// Azure Cloud Shell.
    CloudShell,
}

impl ManagedIdentitySource {
    /// Every source, in detection order (IMDS, the default, last).
    pub const ALL: [ManagedIdentitySource; 6] = [
        ManagedIdentitySource::ServiceFabric,
        ManagedIdentitySource::AppService,
        ManagedIdentitySource::AzureMl,
        ManagedIdentitySource::AzureArc,
        ManagedIdentitySource::CloudShell,
        ManagedIdentitySource::Imds,
    ];

    /// The source's name, as logs, the CLI and the emulator's ready line
    /// spell it: `imds`, `app_service`, `azure_ml`, `service_fabric`,
    /// `azure_arc`, `cloud_shell`.
    pub fn name(self) -> &'static str {
        match self {
            ManagedIdentitySource::Imds => "imds",
            ManagedIdentitySource::AppService => "app_service",
            ManagedIdentitySource::AzureMl => "azure_ml",
            ManagedIdentitySource::ServiceFabric => "service_fabric",
            ManagedIdentitySource::AzureArc => "azure_arc",
            ManagedIdentitySource::CloudShell => "cloud_shell",
        }
    }
}

impl fmt::Display for ManagedIdentitySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a managed identity token could not be had, other than an error the
/// host stated ([`Error::Service`]) or the network ([`Error::Transport`]).
/// No secret (identity header, Arc key, token) appears in it.
#[derive(Clone, Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ManagedIdentityError {
    /// The host cannot serve a user-assigned identity chosen this way.
    /// Raised before any request.
    #[error("{host} does not support a user-assigned managed identity chosen by {id_kind}")]
    UserAssignedNotSupported {
        /// The detected host.
        host: ManagedIdentitySource,
        /// How the identity was chosen: `client id`, `resource id` or `object id`.
        id_kind: &'static str,
    },
    /// An environment variable the detected host sets is unusable (not a
    /// URL, a thumbprint that is not 40 hex digits, ...). Raised before any request.
    #[error("{variable} is not usable for {host}: {reason}")]
    InvalidEnvironment {
        /// The detected host.
        host: ManagedIdentitySource,
        /// The variable's name.
        variable: &'static str,
        /// What is wrong with it (its value is not repeated: it may be a secret).
        reason: String,
    },
    /// Azure Arc's first answer was not the 401 challenge naming a key file
    /// (`WWW-Authenticate: Basic realm=<path>`).
    #[error("Azure Arc did not send a usable challenge (HTTP {status}): {reason}")]
    ArcChallenge {
        /// The HTTP status of the first answer.
        status: u16,
        /// What was wrong with it.
        reason: String,
    },
    /// The key file an Azure Arc challenge names was not read: outside the
    /// agent's token directory, not a `.key` file, larger than 4096 bytes,
    /// or unreadable.
    #[error("Azure Arc key file {path}: {reason}")]
    ArcKeyFile {
        /// The file the challenge named.
        path: std::path::PathBuf,
        /// Why it was not used.
        reason: String,
    },
    /// The host answered with a token for another identity than the one
    /// asked for (Azure Arc names the identity in its answer).
    #[error("{host} answered for identity {actual}, not the requested {expected}")]
    IdentityMismatch {
        /// The detected host.
        host: ManagedIdentitySource,
        /// The identity asked for.
        expected: String,
        /// The identity the answer names.
        actual: String,
    },
    /// The Service Fabric endpoint's certificate is not the one
    /// `IDENTITY_SERVER_THUMBPRINT` pins: nothing was sent to it.
    #[error(
        "the Service Fabric endpoint's certificate does not match IDENTITY_SERVER_THUMBPRINT \
         (SHA-1 {actual}); the request was not sent"
    )]
    ServerCertificateMismatch {
        /// The SHA-1 thumbprint of the certificate the endpoint presented.
        actual: String,
    },
}

/// Why an ID token was refused by the opt-in validation. Nothing of the
/// response it came in was cached.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdTokenError {
    /// Not a JWS compact serialization with a JSON header and payload.
    #[error("the ID token is malformed: {0}")]
    Malformed(String),
    /// Signed with an algorithm this library does not accept (only RS256).
    #[error("the ID token is signed with {0}, not RS256")]
    UnsupportedAlgorithm(String),
    /// No key of the issuer's JWKS has this `kid`, even after fetching the keys again.
    #[error("no signing key '{kid}' in the issuer's keys")]
    UnknownKey {
        /// The token's `kid`.
        kid: String,
    },
    /// The signature does not verify with the issuer's key.
    #[error("the ID token's signature does not verify")]
    Signature,
    /// `iss` is not the issuer the authority's metadata names.
    #[error("the ID token's issuer is {actual:?}, expected {expected:?}")]
    Issuer {
        /// The issuer expected (with `{tenantid}` filled in).
        expected: String,
        /// The token's `iss`.
        actual: String,
    },
    /// `aud` is not this application's client id.
    #[error("the ID token is for audience {actual:?}, not this application ({expected:?})")]
    Audience {
        /// The application's client id.
        expected: String,
        /// The token's `aud`.
        actual: String,
    },
    /// `exp` has passed (beyond the clock skew allowed).
    #[error("the ID token expired at {exp} (epoch seconds)")]
    Expired {
        /// The token's `exp`.
        exp: u64,
    },
    /// `nbf` is still ahead (beyond the clock skew allowed).
    #[error("the ID token is not valid before {nbf} (epoch seconds)")]
    NotYetValid {
        /// The token's `nbf`.
        nbf: u64,
    },
    /// The authority's metadata gives no issuer or keys to validate against.
    #[error("the authority's metadata has no {0} to validate ID tokens with")]
    NoMetadata(&'static str),
}

/// The message of [`Error::IssuerMismatch`]: the issuer is the network's
/// text, so it is quoted with escapes rather than printed raw.
fn issuer_mismatch_message(authority: &str, issuer: Option<&str>) -> String {
    match issuer {
        Some(issuer) => format!(
            "the discovery document of OIDC authority '{authority}' names the issuer {issuer:?}, \
             which is not this authority; use the issuer's own URL as the authority"
        ),
        None => format!("the discovery document of OIDC authority '{authority}' names no issuer"),
    }
}
