//! The L1's budget and eviction order, including 100,000 partitions
//! inserted from many threads at once.

use super::*;

const NOW: u64 = 1_700_000_000;
const HOUR: u64 = 3600;

fn value(len: usize) -> Arc<str> {
    Arc::from("x".repeat(len))
}

#[test]
fn a_partition_is_charged_its_key_value_and_overhead() {
    let store = MemoryPartitionStore::with_byte_budget(1 << 20);
    assert!(store.insert_at("user-a", value(1000), NOW + HOUR, NOW));
    assert_eq!(store.bytes(), 6 + 1000 + ENTRY_OVERHEAD_BYTES);
    // Replacing a partition replaces its charge.
    assert!(store.insert_at("user-a", value(10), NOW + HOUR, NOW));
    assert_eq!(store.bytes(), 6 + 10 + ENTRY_OVERHEAD_BYTES);
    assert_eq!(store.len(), 1);
    assert!(store.remove("user-a"));
    assert!(!store.remove("user-a"));
    assert_eq!(store.bytes(), 0);
    assert!(store.is_empty());
    store.audit();
}

#[test]
fn expired_partitions_go_first_then_the_least_recently_used() {
    let each = charge("p0", &value(100));
    let store = MemoryPartitionStore::with_byte_budget(each * 4);
    // p0 and p1 expire soon; p2 and p3 later.
    for (key, expires) in [
        ("p0", NOW + 10),
        ("p1", NOW + 20),
        ("p2", NOW + HOUR),
        ("p3", NOW + HOUR),
    ] {
        assert!(store.insert_at(key, value(100), expires, NOW));
    }
    // p1 is the most recently used, but once expired it goes before any live one.
    assert!(store.get_at("p1", NOW + 5).is_some());
    assert!(store.insert_at("p4", value(100), NOW + HOUR, NOW + 15));
    assert!(!store.contains_at("p0", NOW), "the expired p0 was evicted first");
    assert!(store.insert_at("p5", value(100), NOW + HOUR, NOW + 25));
    assert!(
        !store.contains_at("p1", NOW),
        "then the expired p1, although just used"
    );
    assert!(store.contains_at("p2", NOW) && store.contains_at("p3", NOW));

    // Nothing expired now: the least recently used goes. Using p2 makes p3 the oldest.
    assert!(store.get_at("p2", NOW + 30).is_some());
    assert!(store.insert_at("p6", value(100), NOW + HOUR, NOW + 30));
    assert!(!store.contains_at("p3", NOW), "least recently used");
    for key in ["p2", "p4", "p5", "p6"] {
        assert!(store.contains_at(key, NOW), "{key} stays");
    }
    assert_eq!(store.len(), 4);
    assert!(store.bytes() <= store.max_bytes());
    store.audit();
}

#[test]
fn an_expired_partition_is_a_miss_and_is_dropped() {
    let store = MemoryPartitionStore::with_byte_budget(1 << 20);
    assert!(store.insert_at("p", value(10), NOW + 60, NOW));
    assert_eq!(
        store.get_at("p", NOW + 59).as_deref(),
        Some("x".repeat(10).as_str())
    );
    assert!(store.get_at("p", NOW + 60).is_none());
    assert_eq!(store.len(), 0);
    assert_eq!(store.bytes(), 0);
    // Already expired when offered: not stored at all.
    assert!(!store.insert_at("q", value(10), NOW, NOW));
    assert!(store.is_empty());
}

#[test]
fn a_partition_larger_than_the_budget_is_not_stored_and_evicts_nothing() {
    let store = MemoryPartitionStore::with_byte_budget(2000);
    assert!(store.insert_at("small", value(100), NOW + HOUR, NOW));
    assert!(!store.insert_at("huge", value(5000), NOW + HOUR, NOW));
    assert!(store.contains_at("small", NOW));
    assert!(!store.contains_at("huge", NOW));
    // A partition that grew past the budget is dropped rather than kept stale.
    assert!(!store.insert_at("small", value(5000), NOW + HOUR, NOW));
    assert!(!store.contains_at("small", NOW));
    store.audit();
}

#[test]
fn an_entry_budget_bounds_the_partition_count() {
    let store = MemoryPartitionStore::with_entry_budget(3);
    for i in 0..10 {
        assert!(store.insert_at(&format!("p{i}"), value(i * 1000), NOW + HOUR, NOW));
        assert!(store.len() <= 3);
    }
    assert!(store.contains_at("p7", NOW) && store.contains_at("p8", NOW) && store.contains_at("p9", NOW));
    assert!(!store.contains_at("p6", NOW));
    let none = MemoryPartitionStore::with_entry_budget(0);
    assert!(!none.insert_at("p", value(1), NOW + HOUR, NOW));
}

/// 100,000 users' partitions (sizes of a real partition: one account, a few
/// tokens) through an L1 of 4 MiB: the budget holds after every insert, the
/// newest partitions are there, and the bookkeeping agrees.
#[test]
fn the_budget_holds_under_100_000_partitions() {
    const USERS: usize = 100_000;
    let budget = 4 << 20;
    let store = MemoryPartitionStore::with_byte_budget(budget);
    let sizes: Vec<Arc<str>> = (0..16).map(|i| value(1500 + i * 300)).collect();
    for user in 0..USERS {
        let key = format!("{user:08}-uid.utid");
        // A tenth of the users hold tokens that have already expired by the time of the insert.
        let expires = if user % 10 == 0 { NOW + 1 } else { NOW + HOUR };
        assert!(store.insert_at(&key, sizes[user % sizes.len()].clone(), expires, NOW));
        assert!(store.bytes() <= budget, "over budget after user {user}");
    }
    let held = store.audit();
    assert!(held <= budget);
    // Nearly full: eviction frees only what the new partition needs.
    assert!(held > budget - charge("00000000-uid.utid", &sizes[15]));
    assert!(store.contains_at(&format!("{:08}-uid.utid", USERS - 1), NOW));
    assert!(!store.contains_at("00000001-uid.utid", NOW));

    // Time passes: the short-lived tenth expires, and new users evict those
    // first (each new partition is no larger than any held one, so one
    // eviction each is enough): every long-lived partition stays.
    let later = NOW + 2;
    let held_users: Vec<usize> = (USERS - store.len()..USERS).collect();
    assert!(
        held_users
            .iter()
            .all(|u| store.contains_at(&format!("{u:08}-uid.utid"), NOW))
    );
    let (short_lived, long_lived): (Vec<usize>, Vec<usize>) = held_users.iter().partition(|u| *u % 10 == 0);
    assert!(!short_lived.is_empty());
    for user in USERS..USERS + short_lived.len() {
        assert!(store.insert_at(
            &format!("{user:08}-uid.utid"),
            sizes[0].clone(),
            later + HOUR,
            later
        ));
        assert!(store.bytes() <= budget);
    }
    for user in &long_lived {
        assert!(
            store.contains_at(&format!("{user:08}-uid.utid"), NOW),
            "long-lived {user} evicted"
        );
    }
    store.audit();
}

/// The same load from eight threads at once, each also reading back.
#[test]
fn many_threads_share_one_budget() {
    const USERS: usize = 100_000;
    const THREADS: usize = 8;
    let budget = 2 << 20;
    let store = MemoryPartitionStore::with_byte_budget(budget);
    let value = value(2000);
    std::thread::scope(|scope| {
        for thread in 0..THREADS {
            let store = store.clone();
            let value = value.clone();
            scope.spawn(move || {
                for user in (thread..USERS).step_by(THREADS) {
                    let key = format!("user-{user}");
                    store.insert_at(&key, value.clone(), NOW + HOUR, NOW);
                    let _ = store.get_at(&format!("user-{}", user / 2), NOW);
                    assert!(store.bytes() <= budget);
                }
            });
        }
    });
    let held = store.audit();
    assert!(held <= budget);
    // Full up to the last partition's worth: evictions freed no more than needed.
    assert!(held > budget - charge("user-99999", &value));
}
