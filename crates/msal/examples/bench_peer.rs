//! The Rust runner of `bench/compare`, which runs the same workloads in this
//! library, MSAL Python and MSAL Node and compares their medians. Not an
//! example to copy: a measuring tool that shares its cache generator with the
//! criterion benches (`benches/support`).
//!
//! ```text
//! bench_peer spec --out-dir DIR      # caches (1 user, 1k, 10k accounts) and spec.json for all runners
//! bench_peer run --spec DIR/spec.json --workload NAME [--accounts N]
//!                [--iterations N] [--budget SECONDS] [--emulator URL --ca PEM]
//!                [--cache-file PATH] [--redis URL]
//! ```
//!
//! The persistent-cache workloads go through the stores an application
//! would use: `file_hit` and `file_hit_locked` a [`PersistedCache`] over a
//! [`FilePersistence`] at `--cache-file` (a copy of the generated cache that
//! MSAL Python and Node read too); `redis_hit` and `redis_l2_hit` a
//! [`DistributedTokenCache`] with a [`RedisStore`] at `--redis`, as the
//! application's cache hooks.
//!
//! `run` prints one JSON line: `{"median_us", "min_us", "samples"}`, or for
//! the `rss` workload `{"peak_rss_kb", "rss_kb"}`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    reason = "a benchmark runner: a failed setup ends the run"
)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use msal::cache::distributed::{RedisConfig, RedisStore};
use msal::cache::{DistributedTokenCache, FilePersistence, MemoryPartitionStore, PersistedCache};
use msal::{ClientSecret, ConfidentialClientApplication, ReqwestHttpClient, TokenCache, TokenSource};
use serde_json::{Value, json};

#[path = "../benches/support/mod.rs"]
mod support;

/// Cache sizes in accounts; the one-account cache is one user's partition
/// in the distributed cache workloads.
const SIZES: [usize; 3] = [1, 1_000, 10_000];

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let outcome = match args.first().map(String::as_str) {
        Some("spec") => spec(&args[1..]),
        Some("run") => run(&args[1..]),
        _ => Err(
            "usage: bench_peer spec --out-dir DIR | bench_peer run --spec FILE --workload NAME ...".into(),
        ),
    };
    if let Err(message) = outcome {
        eprintln!("bench_peer: {message}");
        std::process::exit(2);
    }
}

fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

fn required(args: &[String], name: &str) -> Result<String, String> {
    flag(args, name).ok_or_else(|| format!("{name} is required"))
}

fn number<T: std::str::FromStr>(args: &[String], name: &str, default: T) -> Result<T, String> {
    match flag(args, name) {
        Some(v) => v.parse().map_err(|_| format!("{name}: not a number: {v}")),
        None => Ok(default),
    }
}

/// Writes the caches and the spec every runner reads: file names, ids,
/// scopes, the probe accounts, and the canned identity provider answers.
fn spec(args: &[String]) -> Result<(), String> {
    let dir = PathBuf::from(required(args, "--out-dir")?);
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    // Absolute paths: the runners start in other directories.
    let dir = dir
        .canonicalize()
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut caches = serde_json::Map::new();
    let mut probes = serde_json::Map::new();
    for accounts in SIZES {
        let path = dir.join(format!("cache-{accounts}.json"));
        std::fs::write(&path, support::cache_json(accounts))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        caches.insert(accounts.to_string(), json!(path));
        let account = support::account(support::probe_index(accounts));
        probes.insert(
            accounts.to_string(),
            serde_json::to_value(&account).map_err(|e| e.to_string())?,
        );
    }
    let idp = support::CannedIdp::new();
    let spec = json!({
        "authority": support::authority(),
        "tenant_id": support::TENANT_ID,
        "environment": support::ENVIRONMENT,
        "client_id": support::CLIENT_ID,
        "client_secret": support::CLIENT_SECRET,
        "user_scopes": support::USER_SCOPES,
        "subset_scope": support::SUBSET_SCOPE,
        "app_scope": support::APP_SCOPE,
        "caches": caches,
        "probe_accounts": probes,
        "canned": idp.bodies(),
        "emulator_app": {
            "tenant_id": msal_emulator::builtin::CONTOSO_TENANT_ID,
            "client_id": msal_emulator::builtin::DAEMON_CLIENT_ID,
            "client_secret": msal_emulator::builtin::DAEMON_CLIENT_SECRET,
            "scope": "https://graph.microsoft.com/.default",
        },
    });
    let path = dir.join("spec.json");
    let text = serde_json::to_string_pretty(&spec).map_err(|e| e.to_string())?;
    std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))?;
    println!("{}", path.display());
    Ok(())
}

/// Times `op` call by call: a few warm-up calls, then until `iterations`
/// samples or `budget` elapsed (at least 3 samples).
fn measure(iterations: usize, budget: Duration, mut op: impl FnMut()) -> Value {
    for _ in 0..(iterations / 10).clamp(1, 3) {
        op();
    }
    measure_after(iterations, budget, || (), |()| op())
}

/// Times `op` on what an untimed `setup` prepared, once per sample, until
/// `iterations` samples or `budget` elapsed (at least 3 samples). What
/// `setup` made is dropped after the clock stops.
fn measure_after<T>(
    iterations: usize,
    budget: Duration,
    mut setup: impl FnMut() -> T,
    mut op: impl FnMut(&T),
) -> Value {
    let start = Instant::now();
    let mut samples = Vec::with_capacity(iterations);
    while samples.len() < iterations && (samples.len() < 3 || start.elapsed() < budget) {
        let prepared = setup();
        let t = Instant::now();
        op(&prepared);
        samples.push(t.elapsed().as_secs_f64() * 1e6);
        drop(prepared);
    }
    samples.sort_by(f64::total_cmp);
    json!({
        "median_us": samples[samples.len() / 2],
        "min_us": samples[0],
        "samples": samples.len(),
    })
}

fn run(args: &[String]) -> Result<(), String> {
    let spec_path = required(args, "--spec")?;
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).map_err(|e| format!("{spec_path}: {e}"))?)
            .map_err(|e| format!("{spec_path}: {e}"))?;
    let workload = required(args, "--workload")?;
    let accounts: usize = number(args, "--accounts", 0)?;
    let iterations: usize = number(args, "--iterations", 1000)?;
    let budget = Duration::from_secs_f64(number(args, "--budget", 3.0)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;

    let load = |accounts: usize| -> Result<(TokenCache, String), String> {
        let path = spec["caches"][accounts.to_string()]
            .as_str()
            .ok_or_else(|| format!("no cache of {accounts} accounts in the spec"))?;
        let json = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let cache = TokenCache::new();
        cache.deserialize(&json).map_err(|e| e.to_string())?;
        Ok((cache, json))
    };

    let result = match workload.as_str() {
        "cc_hit" => {
            let app = support::offline_app(&TokenCache::new());
            let first = rt
                .block_on(app.acquire_token_for_client([support::APP_SCOPE]))
                .map_err(|e| e.to_string())?;
            check(
                first.token_source == TokenSource::IdentityProvider,
                "first call goes to the provider",
            )?;
            measure(iterations, budget, || {
                let hit = rt.block_on(app.acquire_token_for_client([support::APP_SCOPE]));
                assert!(matches!(hit, Ok(ref r) if r.token_source == TokenSource::Cache));
            })
        }
        "silent_exact" | "silent_subset" => {
            let (cache, _) = load(accounts)?;
            let app = support::offline_app(&cache);
            let account = support::account(support::probe_index(accounts));
            let scopes: Vec<&str> = if workload == "silent_exact" {
                support::USER_SCOPES.to_vec()
            } else {
                vec![support::SUBSET_SCOPE]
            };
            measure(iterations, budget, || {
                let hit = rt.block_on(app.acquire_token_silent(scopes.iter().copied(), &account));
                assert!(matches!(hit, Ok(ref r) if r.token_source == TokenSource::Cache));
            })
        }
        "file_hit" | "file_hit_locked" => {
            // The silent exact-scope hit through the file store: every call
            // first checks whether the file changed (it does not, so it is
            // not read again), as MSAL Python's PersistedTokenCache and MSAL
            // Node's PersistenceCachePlugin do; `_locked` also takes and
            // releases the cross-process lock file around it, as a call that
            // may write must.
            let path = PathBuf::from(required(args, "--cache-file")?);
            let persisted = PersistedCache::new(FilePersistence::new(path));
            check(persisted.refresh().map_err(|e| e.to_string())?, "the file loads")?;
            check(
                persisted.cache().access_token_count() == accounts,
                "every token loaded",
            )?;
            let app = support::offline_app(persisted.cache());
            let account = support::account(support::probe_index(accounts));
            let scopes = support::USER_SCOPES;
            let hit = || {
                let hit = rt.block_on(app.acquire_token_silent(scopes, &account));
                assert!(matches!(hit, Ok(ref r) if r.token_source == TokenSource::Cache));
            };
            if workload == "file_hit" {
                measure(iterations, budget, || {
                    assert!(
                        !persisted.refresh().expect("the file is readable"),
                        "unchanged, not reloaded"
                    );
                    hit();
                })
            } else {
                measure(iterations, budget, || {
                    let guard = persisted.lock().expect("the lock is free");
                    hit();
                    assert!(!guard.save_if_changed().expect("saves"), "a hit changes nothing");
                })
            }
        }
        "redis_hit" | "redis_l2_hit" => {
            // One user's partition in Redis; the silent exact-scope hit with
            // the distributed cache as the app's hooks. `redis_hit`: the
            // default shape, L1 in front (the partition stays in memory
            // after the first read); `redis_l2_hit`: an L1 of 0 bytes, so
            // every call reads Redis, as MSAL Python's and Node's recipes do.
            let url = required(args, "--redis")?;
            let config = RedisConfig::single(&url)
                .map_err(|e| e.to_string())?
                .key_prefix("msal-bench-rust:");
            let store = RedisStore::new(config).map_err(|e| e.to_string())?;
            let memory = if workload == "redis_hit" {
                MemoryPartitionStore::with_byte_budget(64 << 20)
            } else {
                MemoryPartitionStore::with_byte_budget(0)
            };
            let distributed = DistributedTokenCache::with_redis(memory, store);
            let (partition, _) = load(1)?;
            let account = support::account(support::probe_index(1));
            let saved = rt.block_on(distributed.save(&account.home_account_id, &partition));
            check(saved.redis, "the partition is in Redis")?;
            distributed.memory().remove(&account.home_account_id);
            let app = ConfidentialClientApplication::builder(support::CLIENT_ID)
                .authority(&support::authority())
                .client_secret(ClientSecret::new(support::CLIENT_SECRET))
                .cache_hooks(distributed.clone())
                .http_client(support::CannedIdp::new())
                .build()
                .map_err(|e| e.to_string())?;
            let scopes = support::USER_SCOPES;
            let result = measure(iterations, budget, || {
                let hit = rt.block_on(app.acquire_token_silent(scopes, &account));
                assert!(matches!(hit, Ok(ref r) if r.token_source == TokenSource::Cache));
            });
            let in_memory = distributed.memory().contains(&account.home_account_id);
            check(in_memory == (workload == "redis_hit"), "L1 used as configured")?;
            result
        }
        "get_accounts" => {
            let (cache, _) = load(accounts)?;
            let app = support::offline_app(&cache);
            check(app.get_accounts(None).len() == accounts, "every account listed")?;
            measure(iterations, budget, || {
                std::hint::black_box(app.get_accounts(None));
            })
        }
        "get_accounts_first" => {
            // The first listing after a load: ours builds the shared list here,
            // so this is its cost when the cache's accounts have just changed.
            let (_, json) = load(accounts)?;
            measure_after(
                iterations,
                budget,
                || support::offline_app(&TokenCache::from_json(&json).expect("the cache loads")),
                |app| assert_eq!(app.get_accounts(None).len(), accounts),
            )
        }
        "serialize" => {
            let (cache, _) = load(accounts)?;
            measure(iterations, budget, || {
                std::hint::black_box(cache.serialize());
            })
        }
        "deserialize" => {
            let (_, json) = load(accounts)?;
            let cache = TokenCache::new();
            measure(iterations, budget, || {
                assert!(cache.deserialize(&json).is_ok());
            })
        }
        "rss" => {
            // Loaded the way this library loads a cache file: streamed from
            // the file, with no copy of the whole text in memory.
            let path = spec["caches"][accounts.to_string()]
                .as_str()
                .ok_or_else(|| format!("no cache of {accounts} accounts in the spec"))?;
            let cache = TokenCache::load_from_file(std::path::Path::new(path)).map_err(|e| e.to_string())?;
            check(cache.access_token_count() == accounts, "every token loaded")?;
            let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
            let field = |name: &str| -> Value {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
                    .map_or(Value::Null, Value::from)
            };
            json!({"peak_rss_kb": field("VmHWM:"), "rss_kb": field("VmRSS:")})
        }
        "first_token" => {
            let url = required(args, "--emulator")?;
            let ca = std::fs::read(required(args, "--ca")?).map_err(|e| e.to_string())?;
            let app_spec = &spec["emulator_app"];
            let text = |key: &str| app_spec[key].as_str().unwrap_or_default().to_owned();
            let authority = format!("{url}/{}", text("tenant_id"));
            let scope = text("scope");
            let new_app = || -> Result<ConfidentialClientApplication, String> {
                let http = ReqwestHttpClient::builder()
                    .add_root_certificates_pem(&ca)
                    .and_then(|b| b.only_added_roots(true).build())
                    .map_err(|e| e.to_string())?;
                ConfidentialClientApplication::builder(text("client_id"))
                    .authority(&authority)
                    .instance_discovery(false)
                    .client_secret(ClientSecret::new(text("client_secret")))
                    .http_client(http)
                    .build()
                    .map_err(|e| e.to_string())
            };
            new_app()?;
            measure(iterations, budget, || {
                // Building the app is part of it: a new transport, so a new TLS connection.
                let issued = new_app().map(|app| rt.block_on(app.acquire_token_for_client([scope.as_str()])));
                assert!(matches!(issued, Ok(Ok(ref r)) if r.token_source == TokenSource::IdentityProvider));
            })
        }
        other => return Err(format!("unknown workload {other}")),
    };
    println!("{result}");
    Ok(())
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}
