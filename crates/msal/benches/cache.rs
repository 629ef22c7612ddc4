//! Token cache benchmarks, network-free: the client credentials cache hit,
//! silent lookups with an exact and with a subset scope, `get_accounts`,
//! adding a token response, serialising and deserialising a large cache, and
//! a silent hit through the file store (`PersistedCache` over
//! `FilePersistence`), with and without its cross-process lock.
//!
//! Caches are generated in the unified schema (see `support`) and loaded
//! with `TokenCache::deserialize`, as an app loading a cache file would.
//! Run with `cargo bench -p msal --bench cache`; `bench/compare` runs the
//! same workloads side by side with MSAL Python and MSAL Node. Under `cargo
//! test --bench cache` each runs once, on caches of 100 and 1,000 accounts
//! (see `support::quick`).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    reason = "a benchmark: a failed setup ends the run"
)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use msal::cache::{FilePersistence, PersistedCache};
use msal::{ClientCredentialsOptions, TokenCache, TokenSource};

mod support;

/// Cache sizes in accounts: measured at 1,000 and 10,000; smaller as a smoke test.
fn sizes() -> [usize; 2] {
    if support::quick() {
        [100, 1_000]
    } else {
        [1_000, 10_000]
    }
}

/// The large cache of the serialise, deserialise and add workloads.
fn large() -> usize {
    sizes()[1]
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime starts")
}

fn loaded(accounts: usize) -> TokenCache {
    let cache = TokenCache::new();
    cache
        .deserialize(&support::cache_json(accounts))
        .expect("the generated cache is valid");
    cache
}

fn client_credentials_hit(c: &mut Criterion) {
    let rt = runtime();
    let app = support::offline_app(&TokenCache::new());
    let first = rt
        .block_on(app.acquire_token_for_client([support::APP_SCOPE]))
        .expect("the canned provider issues a token");
    assert_eq!(first.token_source, TokenSource::IdentityProvider);
    c.bench_function("client_credentials/cache_hit", |b| {
        b.iter(|| {
            let result = rt
                .block_on(app.acquire_token_for_client([support::APP_SCOPE]))
                .expect("cache hit");
            debug_assert_eq!(result.token_source, TokenSource::Cache);
            black_box(result)
        })
    });
}

fn silent_and_accounts(c: &mut Criterion) {
    let rt = runtime();
    for accounts in sizes() {
        let cache = loaded(accounts);
        let app = support::offline_app(&cache);
        let account = support::account(support::probe_index(accounts));
        let exact: Vec<&str> = support::USER_SCOPES.to_vec();
        let subset = [support::SUBSET_SCOPE];
        for scopes in [&exact[..], &subset[..]] {
            let result = rt
                .block_on(app.acquire_token_silent(scopes.iter().copied(), &account))
                .expect("the generated token is served");
            assert_eq!(
                result.token_source,
                TokenSource::Cache,
                "no request to the fake provider"
            );
        }

        let mut group = c.benchmark_group("silent");
        if accounts >= 10_000 {
            group.sample_size(30);
        }
        group.bench_with_input(BenchmarkId::new("exact_scope", accounts), &accounts, |b, _| {
            b.iter(|| black_box(rt.block_on(app.acquire_token_silent(exact.iter().copied(), &account))))
        });
        group.bench_with_input(BenchmarkId::new("subset_scope", accounts), &accounts, |b, _| {
            b.iter(|| black_box(rt.block_on(app.acquire_token_silent(subset, &account))))
        });
        group.finish();

        assert_eq!(app.get_accounts(None).len(), accounts);
        let mut group = c.benchmark_group("get_accounts");
        group.sample_size(10).measurement_time(Duration::from_secs(10));
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, _| {
            b.iter(|| black_box(app.get_accounts(None)))
        });
        group.finish();
    }
}

/// A client credentials response through the whole path (request, parse,
/// cache write), into an empty cache and into one holding 10,000 accounts:
/// adding should not depend on what else the cache holds.
fn add_token_response(c: &mut Criterion) {
    let rt = runtime();
    let options = ClientCredentialsOptions::default().force_refresh(true);
    let mut group = c.benchmark_group("add_token_response");
    for accounts in [0, large()] {
        let cache = loaded(accounts);
        let app = support::offline_app(&cache);
        group.bench_with_input(BenchmarkId::from_parameter(accounts), &accounts, |b, _| {
            b.iter(|| {
                black_box(
                    rt.block_on(app.acquire_token_for_client_with([support::APP_SCOPE], &options))
                        .expect("the canned provider issues a token"),
                )
            })
        });
    }
    group.finish();
}

fn serialize_and_deserialize(c: &mut Criterion) {
    let accounts = large();
    let json = support::cache_json(accounts);
    let cache = loaded(accounts);
    let mut group = c.benchmark_group(format!("cache_{accounts}_accounts"));
    group.sample_size(10).measurement_time(Duration::from_secs(15));
    group.throughput(criterion::Throughput::Bytes(json.len() as u64));
    group.bench_function("serialize", |b| b.iter(|| black_box(cache.serialize())));
    let target = TokenCache::new();
    group.bench_function("deserialize", |b| {
        b.iter(|| target.deserialize(black_box(&json)).expect("valid cache"))
    });
    group.finish();
}

/// A silent hit through the file store, on a cache of 1,000 accounts: the
/// file's modification time checked (unchanged, so not read again) before
/// the lookup, and with `locked` the lock file taken and released around
/// it, as the `msal` CLI does for every call.
fn file_store_hit(c: &mut Criterion) {
    let rt = runtime();
    let accounts = 1_000;
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("token_cache.json");
    std::fs::write(&path, support::cache_json(accounts)).expect("the cache file is written");
    let persisted = PersistedCache::new(FilePersistence::new(&path));
    assert!(
        persisted.refresh().expect("the file loads"),
        "the first read loads"
    );
    let app = support::offline_app(persisted.cache());
    let account = support::account(support::probe_index(accounts));
    let mut group = c.benchmark_group("file_store_hit");
    group.bench_with_input(
        BenchmarkId::new("reload_if_changed", accounts),
        &accounts,
        |b, _| {
            b.iter(|| {
                assert!(!persisted.refresh().expect("the file is readable"), "unchanged");
                black_box(
                    rt.block_on(app.acquire_token_silent(support::USER_SCOPES, &account))
                        .expect("cache hit"),
                )
            })
        },
    );
    group.bench_with_input(BenchmarkId::new("locked", accounts), &accounts, |b, _| {
        b.iter(|| {
            let guard = persisted.lock().expect("the lock is free");
            let hit = rt
                .block_on(app.acquire_token_silent(support::USER_SCOPES, &account))
                .expect("cache hit");
            assert!(!guard.save_if_changed().expect("saves"), "a hit changes nothing");
            black_box(hit)
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    client_credentials_hit,
    silent_and_accounts,
    add_token_response,
    serialize_and_deserialize,
    file_store_hit
);
criterion_main!(benches);
