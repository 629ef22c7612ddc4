//! The L1: serialized cache partitions in memory, bounded by a byte budget
//! (and optionally an entry count), evicting expired partitions first and
//! then the least recently used.
//!
//! Three structures under one mutex, each operation O(log n) at worst: an
//! LRU map (key -> slot, in recency order; O(1) lookups and promotion), an
//! ordered set of (expiry, key) to find the earliest expiring partition, and
//! a running byte total. Nothing scans every entry: an insert evicts from
//! the front of one of the two orders until the new partition fits.
//!
//! Values are `Arc<str>`: a hit copies a pointer under the lock, and the
//! caller parses the JSON after releasing it.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use lru::LruCache;

use crate::time::{MAX_EPOCH, now_epoch};

/// What one partition costs besides its key and value bytes: the LRU node
/// (key and slot, two links), its hash table slot, the two `Arc` headers
/// (key, value) and its place in the expiry order, with allocator rounding.
/// Counted so that a budget holds for many small partitions too.
pub const ENTRY_OVERHEAD_BYTES: usize = 192;

/// A bounded in-memory store of serialized cache partitions: the L1 of
/// [`DistributedTokenCache`](super::DistributedTokenCache), or on its own
/// the bounded cache of a long-running service without Redis.
///
/// Cloning is cheap and clones share the entries. Safe to use from many
/// tasks and threads at once.
#[derive(Clone)]
pub struct MemoryPartitionStore {
    inner: Arc<Mutex<Inner>>,
    max_bytes: usize,
    max_entries: usize,
}

struct Inner {
    /// Partitions in recency order (most recent at the front).
    entries: LruCache<Arc<str>, Slot>,
    /// (expiry in epoch seconds, key): the earliest expiry first.
    by_expiry: BTreeSet<(u64, Arc<str>)>,
    /// Bytes of every partition held, as [`charge`] counts them.
    bytes: usize,
}

struct Slot {
    value: Arc<str>,
    expires_on: u64,
    size: usize,
}

/// What a partition costs against the byte budget.
fn charge(key: &str, value: &str) -> usize {
    key.len()
        .saturating_add(value.len())
        .saturating_add(ENTRY_OVERHEAD_BYTES)
}

fn epoch_of(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
        .min(MAX_EPOCH)
}

impl MemoryPartitionStore {
    /// A store holding at most `max_bytes` (keys, values and
    /// [`ENTRY_OVERHEAD_BYTES`] per partition).
    pub fn with_byte_budget(max_bytes: usize) -> Self {
        Self::with_budget(max_bytes, usize::MAX)
    }

    /// A store holding at most `max_entries` partitions, whatever their size.
    pub fn with_entry_budget(max_entries: usize) -> Self {
        Self::with_budget(usize::MAX, max_entries)
    }

    /// A store bounded by both bytes and partitions, whichever is reached first.
    pub fn with_budget(max_bytes: usize, max_entries: usize) -> Self {
        Self {
            inner: Arc::new(Mutex::new(Inner {
                entries: LruCache::unbounded(),
                by_expiry: BTreeSet::new(),
                bytes: 0,
            })),
            max_bytes,
            max_entries,
        }
    }

    /// The byte budget.
    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The partition budget.
    pub fn max_entries(&self) -> usize {
        self.max_entries
    }

    /// The bytes held now, as counted against the budget.
    pub fn bytes(&self) -> usize {
        self.lock().bytes
    }

    /// The number of partitions held now (expired ones not yet evicted included).
    pub fn len(&self) -> usize {
        self.lock().entries.len()
    }

    /// Whether the store holds no partition.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The partition `key`, unless absent or expired; a hit makes it the
    /// most recently used, an expired one is dropped.
    pub fn get(&self, key: &str) -> Option<Arc<str>> {
        self.get_at(key, now_epoch())
    }

    fn get_at(&self, key: &str, now: u64) -> Option<Arc<str>> {
        let mut inner = self.lock();
        let (value, expires_on) = {
            let slot = inner.entries.get(key)?;
            (slot.value.clone(), slot.expires_on)
        };
        if expires_on <= now {
            let expired = inner.remove(key);
            drop(inner);
            drop(expired);
            return None;
        }
        Some(value)
    }

    /// Whether `key` is held and unexpired, without making it more recent.
    pub fn contains(&self, key: &str) -> bool {
        self.contains_at(key, now_epoch())
    }

    fn contains_at(&self, key: &str, now: u64) -> bool {
        self.lock()
            .entries
            .peek(key)
            .is_some_and(|slot| slot.expires_on > now)
    }

    /// Stores `value` as the partition `key` until `expires_on`, replacing
    /// what was there, and evicts (expired partitions first, then the least
    /// recently used) until the budget holds. Returns false, storing
    /// nothing, when the partition alone exceeds the budget or has expired.
    pub fn insert(&self, key: &str, value: Arc<str>, expires_on: SystemTime) -> bool {
        self.insert_at(key, value, epoch_of(expires_on), now_epoch())
    }

    fn insert_at(&self, key: &str, value: Arc<str>, expires_on: u64, now: u64) -> bool {
        let size = charge(key, &value);
        let mut inner = self.lock();
        // What leaves the store is dropped after the lock is released.
        let mut evicted: Vec<Slot> = Vec::new();
        evicted.extend(inner.remove(key));
        if size > self.max_bytes || self.max_entries == 0 || expires_on <= now {
            drop(inner);
            return false;
        }
        while inner.bytes.saturating_add(size) > self.max_bytes || inner.entries.len() >= self.max_entries {
            match inner.evict_one(now) {
                Some(slot) => evicted.push(slot),
                None => break,
            }
        }
        let key: Arc<str> = Arc::from(key);
        inner.by_expiry.insert((expires_on, key.clone()));
        inner.bytes = inner.bytes.saturating_add(size);
        inner.entries.push(
            key,
            Slot {
                value,
                expires_on,
                size,
            },
        );
        drop(inner);
        drop(evicted);
        true
    }

    /// Forgets the partition `key`; returns whether it was held.
    pub fn remove(&self, key: &str) -> bool {
        let removed = self.lock().remove(key);
        removed.is_some()
    }

    /// Checks that the three structures agree and returns the bytes held,
    /// summed from the slots (not the running total).
    #[cfg(test)]
    fn audit(&self) -> usize {
        let inner = self.lock();
        assert_eq!(
            inner.by_expiry.len(),
            inner.entries.len(),
            "one expiry per partition"
        );
        let mut sum = 0usize;
        for (key, slot) in inner.entries.iter() {
            assert!(inner.by_expiry.contains(&(slot.expires_on, key.clone())));
            assert_eq!(slot.size, charge(key, &slot.value));
            sum += slot.size;
        }
        assert_eq!(sum, inner.bytes, "the running total is the sum of the slots");
        sum
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every method leaves the three structures agreeing before it can
        // panic (allocation only), so a poisoned lock holds consistent data.
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    fn remove(&mut self, key: &str) -> Option<Slot> {
        let (key, slot) = self.entries.pop_entry(key)?;
        self.by_expiry.remove(&(slot.expires_on, key));
        self.bytes = self.bytes.saturating_sub(slot.size);
        Some(slot)
    }

    /// Evicts the earliest-expiring partition if it has expired, else the
    /// least recently used one.
    fn evict_one(&mut self, now: u64) -> Option<Slot> {
        let expired = self
            .by_expiry
            .first()
            .filter(|(expires_on, _)| *expires_on <= now)
            .map(|(_, key)| key.clone());
        let victim = match expired {
            Some(key) => key,
            None => self.entries.peek_lru().map(|(key, _)| key.clone())?,
        };
        self.remove(&victim)
    }
}

impl std::fmt::Debug for MemoryPartitionStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Sizes only: keys name users and values hold tokens.
        let inner = self.lock();
        f.debug_struct("MemoryPartitionStore")
            .field("partitions", &inner.entries.len())
            .field("bytes", &inner.bytes)
            .field("max_bytes", &self.max_bytes)
            .field("max_entries", &self.max_entries)
            .finish()
    }
}

#[cfg(test)]
mod tests;
