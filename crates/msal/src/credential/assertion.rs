//! Client assertions the application supplies: a fixed signed JWT, or a
//! callback (sync or async) asked for one when needed — e.g. reading a
//! Kubernetes projected service account token, which the kubelet rotates.
//!
//! A callback's answer is reused for 540 s (MSAL's assertion reuse window,
//! MSAL Python's `AutoRefresher` default), never past a minute before the
//! `exp` it carries, so the callback is not called on every request.

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use super::certificate::ASSERTION_REUSE_SECS;
use super::{CredentialError, jwt};
use crate::http::BoxFuture;
use crate::time::now_epoch;

/// An error a callback returns.
type CallbackError = Box<dyn StdError + Send + Sync>;
type SyncCallback = dyn Fn(&AssertionRequest) -> Result<String, CallbackError> + Send + Sync;
type AsyncCallback =
    dyn Fn(AssertionRequest) -> BoxFuture<'static, Result<String, CallbackError>> + Send + Sync;

/// Stop reusing an assertion this long before the `exp` it carries.
const EXPIRY_MARGIN_SECS: u64 = 60;

/// What an assertion callback is asked for.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct AssertionRequest {
    /// The application's client id (the assertion's `iss` and `sub`).
    pub client_id: String,
    /// The token endpoint the assertion is for (its `aud`).
    pub token_endpoint: String,
}

enum Source {
    Fixed(SecretString),
    Sync(Box<SyncCallback>),
    Async(Box<AsyncCallback>),
}

struct Cached {
    request: (String, String),
    reuse_until: u64,
    assertion: Zeroizing<String>,
}

/// A client assertion supplied by the application (`client_assertion`).
/// `Debug` never shows the assertion.
#[derive(Clone)]
pub struct ClientAssertion {
    source: Arc<Source>,
    reuse_secs: u64,
    cache: Arc<Mutex<Option<Cached>>>,
}

impl ClientAssertion {
    /// A fixed, already signed assertion, sent as is on every request.
    pub fn new(assertion: impl Into<String>) -> Self {
        Self::from_source(Source::Fixed(SecretString::from(assertion.into())))
    }

    /// A callback returning a fresh assertion; called when no reusable one
    /// is cached. It runs on the calling task, so it should be quick (reading
    /// a file is fine).
    pub fn from_callback<F>(callback: F) -> Self
    where
        F: Fn(&AssertionRequest) -> Result<String, CallbackError> + Send + Sync + 'static,
    {
        Self::from_source(Source::Sync(Box::new(callback)))
    }

    /// An async callback returning a fresh assertion (e.g. from a key vault
    /// or another token service); called when no reusable one is cached.
    pub fn from_async_callback<F, Fut>(callback: F) -> Self
    where
        F: Fn(AssertionRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<String, CallbackError>> + Send + 'static,
    {
        Self::from_source(Source::Async(Box::new(move |request| {
            Box::pin(callback(request))
        })))
    }

    /// How long a callback's assertion is reused (default 540 s; zero calls
    /// the callback for every request). Whole seconds.
    pub fn with_reuse_for(mut self, reuse: Duration) -> Self {
        self.reuse_secs = reuse.as_secs();
        self.cache = Arc::default();
        self
    }

    fn from_source(source: Source) -> Self {
        ClientAssertion {
            source: Arc::new(source),
            reuse_secs: ASSERTION_REUSE_SECS,
            cache: Arc::default(),
        }
    }

    /// The assertion to send for `client_id` at `token_endpoint`.
    pub(crate) async fn get(&self, client_id: &str, token_endpoint: &str) -> Result<String, CredentialError> {
        self.get_at(client_id, token_endpoint, now_epoch()).await
    }

    /// [`get`](Self::get) with "now" given, so tests can move time.
    pub(crate) async fn get_at(
        &self,
        client_id: &str,
        token_endpoint: &str,
        now: u64,
    ) -> Result<String, CredentialError> {
        let request = AssertionRequest {
            client_id: client_id.to_owned(),
            token_endpoint: token_endpoint.to_owned(),
        };
        let key = (request.client_id.clone(), request.token_endpoint.clone());
        if let Some(cached) = self.cache.lock().unwrap_or_else(PoisonError::into_inner).as_ref()
            && cached.request == key
            && now < cached.reuse_until
        {
            return Ok(cached.assertion.to_string());
        }
        // The lock is not held across the callback: it may be slow or async.
        let assertion = match self.source.as_ref() {
            Source::Fixed(assertion) => assertion.expose_secret().to_owned(),
            Source::Sync(callback) => callback(&request).map_err(callback_error)?,
            Source::Async(callback) => callback(request).await.map_err(callback_error)?,
        };
        let assertion = assertion.trim().to_owned();
        if assertion.is_empty() {
            return Err(CredentialError::EmptyAssertion);
        }
        if !matches!(self.source.as_ref(), Source::Fixed(_)) && self.reuse_secs > 0 {
            let mut reuse_until = now.saturating_add(self.reuse_secs);
            if let Some(exp) = jwt::expires_at(&assertion) {
                reuse_until = reuse_until.min(exp.saturating_sub(EXPIRY_MARGIN_SECS));
            }
            *self.cache.lock().unwrap_or_else(PoisonError::into_inner) = Some(Cached {
                request: key,
                reuse_until,
                assertion: Zeroizing::new(assertion.clone()),
            });
        }
        Ok(assertion)
    }
}

fn callback_error(e: CallbackError) -> CredentialError {
    CredentialError::AssertionCallback(Arc::from(e))
}

impl fmt::Debug for ClientAssertion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let kind = match self.source.as_ref() {
            Source::Fixed(_) => "fixed",
            Source::Sync(_) => "callback",
            Source::Async(_) => "async callback",
        };
        f.debug_struct("ClientAssertion")
            .field("source", &kind)
            .field("reuse_secs", &self.reuse_secs)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn counting() -> (Arc<AtomicU32>, ClientAssertion) {
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let assertion = ClientAssertion::from_callback(move |req| {
            let n = seen.fetch_add(1, Ordering::SeqCst) + 1;
            Ok(format!("assertion-{n}-for-{}", req.client_id))
        });
        (calls, assertion)
    }

    #[tokio::test]
    async fn callback_is_reused_for_540_seconds() {
        let (calls, assertion) = counting();
        let t0 = 1_000_000;
        assert_eq!(
            assertion.get_at("cid", "https://t", t0).await.unwrap(),
            "assertion-1-for-cid"
        );
        assert_eq!(
            assertion.get_at("cid", "https://t", t0 + 539).await.unwrap(),
            "assertion-1-for-cid"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(
            assertion.get_at("cid", "https://t", t0 + 540).await.unwrap(),
            "assertion-2-for-cid"
        );
        // Another audience needs another assertion.
        assert_eq!(
            assertion.get_at("cid", "https://other", t0 + 541).await.unwrap(),
            "assertion-3-for-cid"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn short_lived_assertions_are_not_reused_past_their_exp() {
        use base64::Engine as _;
        let t0 = 1_000_000u64;
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("{{\"exp\":{}}}", t0 + 120));
        let calls = Arc::new(AtomicU32::new(0));
        let seen = calls.clone();
        let assertion = ClientAssertion::from_async_callback(move |_req| {
            seen.fetch_add(1, Ordering::SeqCst);
            let jwt = format!("h.{payload}.s");
            async move { Ok(jwt) }
        });
        assertion.get_at("cid", "a", t0).await.unwrap();
        assertion.get_at("cid", "a", t0 + 59).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assertion.get_at("cid", "a", t0 + 60).await.unwrap();
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn callback_errors_and_empty_assertions_are_typed() {
        let failing = ClientAssertion::from_callback(|_| Err("token file missing".into()));
        let err = failing.get_at("cid", "a", 0).await.unwrap_err();
        assert!(matches!(err, CredentialError::AssertionCallback(_)), "{err}");
        assert!(err.to_string().contains("token file missing"));
        let empty = ClientAssertion::new("  ");
        assert!(matches!(
            empty.get_at("cid", "a", 0).await,
            Err(CredentialError::EmptyAssertion)
        ));
        let fixed = ClientAssertion::new("a.b.c");
        assert_eq!(fixed.get_at("cid", "a", 0).await.unwrap(), "a.b.c");
        assert!(!format!("{fixed:?}").contains("a.b.c"));
    }
}
