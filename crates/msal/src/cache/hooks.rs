//! Cache hooks: what an application plugs in to load its token cache from
//! a store of its own before each operation and save it after (MSAL Node's
//! `ICachePlugin`, MSAL .NET's cache notifications), keyed by the request's
//! suggested partition.

use crate::cache::TokenCache;
use crate::error::CacheError;
use crate::http::BoxFuture;

/// What a hook sees: the app's in-memory cache, the request's suggested
/// partition key (home account id for user flows; `"{client_id}_{tenant}"`
/// (.NET's AppTokenCacheKey shape) for app tokens; the user-assertion hash
/// for on-behalf-of; `None` when unknown, e.g. `get_accounts`), and (after
/// access) whether the operation changed the cache.
#[derive(Debug)]
pub struct CacheAccess<'a> {
    cache: &'a TokenCache,
    partition_key: Option<&'a str>,
    has_changed: bool,
}

impl<'a> CacheAccess<'a> {
    /// What the core hands a hook (also what a store's own tests build).
    #[cfg_attr(
        not(test),
        allow(dead_code, reason = "called by the core once the hooks are wired in")
    )]
    pub(crate) fn new(cache: &'a TokenCache, partition_key: Option<&'a str>, has_changed: bool) -> Self {
        Self {
            cache,
            partition_key,
            has_changed,
        }
    }

    /// The application's in-memory cache.
    pub fn cache(&self) -> &'a TokenCache {
        self.cache
    }

    /// The partition the operation reads and writes, when known.
    pub fn partition_key(&self) -> Option<&'a str> {
        self.partition_key
    }

    /// Whether the operation changed the cache (always false before access).
    pub fn has_changed(&self) -> bool {
        self.has_changed
    }
}

/// Before/after-access notifications (MSAL Node's `ICachePlugin`, MSAL
/// .NET's notifications). The core calls `before_access`, then the
/// operation, then `after_access`, and holds the app's hook lock in between
/// so two requests of one app never interleave their loads and saves.
pub trait CacheHooks: Send + Sync + 'static {
    /// Called before the operation reads the cache: load the partition.
    fn before_access<'a>(&'a self, access: &'a CacheAccess<'a>) -> BoxFuture<'a, Result<(), CacheError>>;
    /// Called after the operation: save the partition if it changed.
    fn after_access<'a>(&'a self, access: &'a CacheAccess<'a>) -> BoxFuture<'a, Result<(), CacheError>>;
}
