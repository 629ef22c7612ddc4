//! Cache hooks: where an application's cache comes from before a call and
//! goes after it, for caches kept outside the process (a file shared with
//! other processes, the OS keyring, Redis). The before/after-access pair of
//! MSAL Node's `ICachePlugin` and MSAL .NET's notifications, with the
//! request's suggested partition key, so a distributed store can keep one
//! entry per user (or per app tenant, or per on-behalf-of assertion).
//!
//! With hooks, every call runs on a cache of its own: the core hands the
//! hook an empty [`TokenCache`] to fill in `before_access`, runs the call
//! on it, and hands it back in `after_access`, saying whether the call
//! changed it. Calls of one application therefore never see each other's
//! partitions and need no lock between them; a sign-in, whose partition is
//! known only from its result, is merged into that partition's current
//! contents after the user has signed in (no hook runs while the user types).

use crate::cache::TokenCache;
use crate::error::CacheError;
use crate::http::BoxFuture;

/// What a hook is told about one access to the cache.
#[derive(Debug)]
pub struct CacheAccess<'a> {
    cache: &'a TokenCache,
    partition_key: Option<&'a str>,
    changed: bool,
}

impl<'a> CacheAccess<'a> {
    pub(crate) fn new(cache: &'a TokenCache, partition_key: Option<&'a str>, changed: bool) -> Self {
        Self {
            cache,
            partition_key,
            changed,
        }
    }

    /// The cache of this call: fill it in `before_access` (e.g. with
    /// [`TokenCache::deserialize`]), persist it in `after_access`.
    pub fn cache(&self) -> &'a TokenCache {
        self.cache
    }

    /// The suggested partition: the account's home account id
    /// (`uid.utid`) for user flows, `{client_id}_{tenant}_AppTokenCache`
    /// for app tokens, the base64url SHA-256 of the incoming assertion for
    /// on-behalf-of (the key MSAL .NET and Go suggest). `None` when the call
    /// concerns no one partition (listing accounts) or a sign-in produced
    /// no account.
    pub fn partition_key(&self) -> Option<&'a str> {
        self.partition_key
    }

    /// Whether the call changed the cache: persist only then. Always
    /// `false` in `before_access`.
    pub fn has_changed(&self) -> bool {
        self.changed
    }
}

/// Loads an application's cache before each call and saves it after.
///
/// Errors are [`CacheError`]s and fail the call. A store that prefers to
/// keep serving when it is down (a distributed cache falling back to the
/// identity provider) logs and returns `Ok` instead.
pub trait CacheHooks: Send + Sync + 'static {
    /// Fills `access.cache()` for the partition before the call reads it.
    fn before_access<'a>(&'a self, access: &'a CacheAccess<'a>) -> BoxFuture<'a, Result<(), CacheError>>;

    /// Persists `access.cache()` after the call, typically only when
    /// [`CacheAccess::has_changed`].
    fn after_access<'a>(&'a self, access: &'a CacheAccess<'a>) -> BoxFuture<'a, Result<(), CacheError>>;
}
