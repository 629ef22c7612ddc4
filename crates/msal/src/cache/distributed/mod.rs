//! A distributed token cache for services with many users: each partition
//! of the cache (one user's tokens, or one app-and-tenant's app tokens) is
//! kept apart, in a bounded memory layer (L1) in front of Redis (L2,
//! feature `redis`) that every instance of the service shares.
//!
//! ## Reads and writes
//! [`DistributedTokenCache`] is a set of [`CacheHooks`]: before an
//! operation it loads the request's partition into the application's
//! [`TokenCache`] (from L1; on a miss from L2, copied into L1; else an
//! empty cache), and after an operation that changed the cache it writes
//! the partition to L1 and then to L2. Values are the unified JSON every
//! MSAL reads. An L1 entry lives until the latest token in it expires (a
//! partition holding a refresh token lives for the refresh token lifetime,
//! 90 days unless set); L2 entries get the same TTL; a partition left with
//! no unexpired token is deleted from both. A request without a partition
//! key leaves the cache as it is.
//!
//! ## The L1
//! [`MemoryPartitionStore`] is bounded in bytes (keys, values and a
//! per-entry overhead) and optionally in entries; when full it evicts
//! expired partitions first, then the least recently used, at O(log n) per
//! operation. Without Redis it is the whole cache: a bounded in-memory
//! cache for long-running services (applications opt in; the default is
//! the plain, unbounded [`TokenCache`]).
//!
//! ## When Redis is down
//! No error reaches the caller: reads are misses (L1, then the identity
//! provider), writes stay in this instance's L1. The store logs the outage
//! once (WARN) and its end once (INFO), skips Redis at once meanwhile, and
//! probes it again after an exponential backoff, one caller at a time.
//! Commands are bounded by short timeouts.
//!
//! ## Encryption
//! With a `CacheEncryptionKey` (feature `redis`; 32 bytes, the same on every instance)
//! values are sealed with AES-256-GCM under a random nonce per write, in a
//! versioned envelope bound to the partition's Redis key. A value that does
//! not open (another key, altered, copied from another partition, or not
//! encrypted) is a logged miss.
//!
//! ## Redis Cluster
//! `RedisConfig::cluster` (feature `redis`) takes some node URLs and discovers the rest.
//! Each partition is one key, hashed whole, so partitions spread over
//! every slot and node and no command spans slots.
//!
//! ## Consistency
//! As in the other MSALs' distributed caches, the last writer of a
//! partition wins, and an instance serves its L1 copy until it expires or
//! is evicted, even if another instance wrote a newer one to L2 meanwhile
//! (both hold valid tokens).

#[cfg(feature = "redis")]
mod envelope;
#[cfg(feature = "redis")]
mod health;
mod memory;
#[cfg(feature = "redis")]
mod redis_store;

use std::sync::Arc;
use std::time::Duration;

use crate::cache::TokenCache;
use crate::cache::hooks::{CacheAccess, CacheHooks};
use crate::error::CacheError;
use crate::http::BoxFuture;
use crate::time::{epoch_after, from_epoch, now_epoch};

#[cfg(feature = "redis")]
pub use envelope::{CacheEncryptionKey, ENCRYPTION_KEY_LEN, InvalidEncryptionKey};
pub use memory::{ENTRY_OVERHEAD_BYTES, MemoryPartitionStore};
#[cfg(feature = "redis")]
pub use redis_store::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_INITIAL_BACKOFF, DEFAULT_KEY_PREFIX, DEFAULT_MAX_BACKOFF,
    DEFAULT_RESPONSE_TIMEOUT, RedisConfig, RedisConfigError, RedisStore,
};

/// How long a partition holding a refresh token is kept unless set: Entra
/// ID's refresh token lifetime.
pub const DEFAULT_REFRESH_TOKEN_LIFETIME: Duration = Duration::from_secs(90 * 24 * 3600);

/// Where [`DistributedTokenCache::load`] found the partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Loaded {
    /// In this instance's memory (L1).
    Memory,
    /// In Redis (L2); now in L1 too.
    Redis,
    /// Nowhere (or unreadable): the cache was emptied.
    Empty,
}

/// Where [`DistributedTokenCache::save`] put the partition (or, for a
/// partition without an unexpired token, whether it was deleted there).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Saved {
    /// In this instance's memory (false when the partition alone exceeds the L1 budget).
    pub memory: bool,
    /// In Redis (false without Redis, or while it is unreachable).
    pub redis: bool,
}

/// A token cache partitioned by key: a bounded L1 in memory, and with the
/// `redis` feature a Redis L2 shared by every instance. Use it as the
/// application's cache hooks, or call [`load`](Self::load) and
/// [`save`](Self::save) around an operation. Cheap to clone; clones share
/// both layers.
#[derive(Clone, Debug)]
pub struct DistributedTokenCache {
    memory: MemoryPartitionStore,
    #[cfg(feature = "redis")]
    redis: Option<RedisStore>,
    refresh_token_lifetime: Duration,
}

impl DistributedTokenCache {
    /// The bounded in-memory cache alone (no L2).
    pub fn in_memory(memory: MemoryPartitionStore) -> Self {
        Self {
            memory,
            #[cfg(feature = "redis")]
            redis: None,
            refresh_token_lifetime: DEFAULT_REFRESH_TOKEN_LIFETIME,
        }
    }

    /// `memory` in front of `redis`.
    #[cfg(feature = "redis")]
    pub fn with_redis(memory: MemoryPartitionStore, redis: RedisStore) -> Self {
        Self {
            redis: Some(redis),
            ..Self::in_memory(memory)
        }
    }

    /// How long a partition holding a refresh token is kept
    /// ([`DEFAULT_REFRESH_TOKEN_LIFETIME`] unless set).
    pub fn refresh_token_lifetime(mut self, lifetime: Duration) -> Self {
        self.refresh_token_lifetime = lifetime;
        self
    }

    /// The L1.
    pub fn memory(&self) -> &MemoryPartitionStore {
        &self.memory
    }

    /// The L2, if any.
    #[cfg(feature = "redis")]
    pub fn redis(&self) -> Option<&RedisStore> {
        self.redis.as_ref()
    }

    /// Replaces the entries of `cache` with the partition `partition`: from
    /// L1, else from L2 (then kept in L1), else none. Never fails: an
    /// unreachable Redis or an unreadable value is a miss (logged).
    pub async fn load(&self, partition: &str, cache: &TokenCache) -> Loaded {
        if let Some(json) = self.memory.get(partition) {
            match cache.deserialize(&json) {
                Ok(()) => return Loaded::Memory,
                Err(e) => {
                    // Only this library writes L1, so this is a bug rather than data; drop it.
                    tracing::warn!(error = %e, "a cached partition in memory is unreadable; dropped");
                    self.memory.remove(partition);
                }
            }
        }
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis
            && let Some(json) = redis.get(partition).await
        {
            match cache.deserialize(&json) {
                Ok(()) => {
                    if let Some(expires_on) = self.expiry(cache, now_epoch()) {
                        self.memory
                            .insert(partition, Arc::from(json), from_epoch(expires_on));
                    }
                    return Loaded::Redis;
                }
                Err(e) => {
                    tracing::warn!(error = %e, "a partition in Redis is not a valid token cache (treated as a miss)");
                }
            }
        }
        cache.replace(super::schema::CacheData::default());
        Loaded::Empty
    }

    /// Writes `cache` as the partition `partition`: to L1, then to L2, both
    /// until its latest token expires. A cache without an unexpired token
    /// deletes the partition instead. Never fails: an unreachable Redis
    /// leaves the partition in L1 only (logged).
    pub async fn save(&self, partition: &str, cache: &TokenCache) -> Saved {
        let now = now_epoch();
        let expiry = self.expiry(cache, now);
        let json: Arc<str> = Arc::from(cache.serialize());
        let Some(expires_on) = expiry else {
            self.memory.remove(partition);
            #[cfg(feature = "redis")]
            if let Some(redis) = &self.redis {
                let removed = redis.remove(partition).await;
                return Saved {
                    memory: true,
                    redis: removed,
                };
            }
            return Saved {
                memory: true,
                redis: false,
            };
        };
        let memory = self
            .memory
            .insert(partition, Arc::clone(&json), from_epoch(expires_on));
        #[cfg(feature = "redis")]
        if let Some(redis) = &self.redis {
            let ttl = Duration::from_secs(expires_on.saturating_sub(now));
            let redis = redis.set(partition, &json, ttl).await;
            return Saved { memory, redis };
        }
        Saved { memory, redis: false }
    }

    /// When the partition in `cache` is no longer worth keeping: when its
    /// latest access token expires, or (holding a refresh token) after the
    /// refresh token lifetime. `None` when nothing in it is still valid.
    fn expiry(&self, cache: &TokenCache, now: u64) -> Option<u64> {
        let state = cache.read();
        let data = &state.data;
        let refresh = (!data.refresh_tokens.is_empty())
            .then(|| epoch_after(now, self.refresh_token_lifetime.as_secs()));
        let access = data.access_tokens.values().map(|token| token.expires_on).max();
        refresh.max(access).filter(|expires_on| *expires_on > now)
    }
}

impl CacheHooks for DistributedTokenCache {
    fn before_access<'a>(&'a self, access: &'a CacheAccess<'a>) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            if let Some(partition) = access.partition_key() {
                self.load(partition, access.cache()).await;
            }
            Ok(())
        })
    }

    fn after_access<'a>(&'a self, access: &'a CacheAccess<'a>) -> BoxFuture<'a, Result<(), CacheError>> {
        Box::pin(async move {
            if access.has_changed()
                && let Some(partition) = access.partition_key()
            {
                self.save(partition, access.cache()).await;
            }
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests;
