//! The Rust runner of `bench/compare`, which runs the same workloads in this
//! library, MSAL Python and MSAL Node and compares their medians. Not an
//! example to copy: a measuring tool that shares its cache generator with the
//! criterion benches (`benches/support`).
//!
//! ```text
//! bench_peer spec --out-dir DIR      # caches (1 user, 1k, 10k accounts; 10k OBO users) and spec.json
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
//! How calls are timed (the same in the MSAL Python and Node runners): a
//! few warm-up calls, then the batch size k is found by doubling it until
//! one batch of k consecutive calls takes at least [`MIN_BATCH`] (k = 1 for
//! calls slower than that); each sample is then the time of one batch / k,
//! and the result is the median sample. So a sub-microsecond call is not
//! dominated by the two clock reads around it. The whole loop runs inside
//! one `block_on`, awaiting each call, as an async application calls the
//! library. Every call's result is still checked (a field compare), as a
//! caller would.
//!
//! The `scaling_*` workloads measure throughput instead: calls per second
//! from one thread, then from every core at once (one thread per core, each
//! with its own loop and current-thread runtime, on one shared application),
//! the threads released together by a barrier and stopped after a fixed time.
//!
//! `run` prints one JSON line: `{"median_us", "min_us", "samples", "batch"}`;
//! for the `rss` workload `{"peak_rss_kb", "rss_kb"}`; for `scaling_*`
//! `{"threads", "one_thread_per_s", "all_threads_per_s", "scaling",
//! "cpu_scaling", "one_thread": {..}, "all_threads": {..}, ...}` (see
//! [`scaling`]).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    unreachable_pub,
    reason = "a benchmark runner: a failed setup ends the run"
)]

use std::path::PathBuf;
use std::sync::Barrier;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use msal::cache::distributed::{RedisConfig, RedisStore};
use msal::cache::{DistributedTokenCache, FilePersistence, MemoryPartitionStore, PersistedCache};
use msal::{
    ClientSecret, ConfidentialClientApplication, ReqwestHttpClient, TokenCache, TokenSource, UserAssertion,
};
use serde_json::{Value, json};

#[path = "../benches/support/mod.rs"]
mod support;

/// Cache sizes in accounts; the one-account cache is one user's partition
/// in the distributed cache workloads.
const SIZES: [usize; 3] = [1, 1_000, 10_000];
/// Sizes of the on-behalf-of caches (a middle-tier API's users).
const OBO_SIZES: [usize; 1] = [10_000];

/// The shortest time one batch of calls takes: long enough that the clock
/// reads around it and the clock's resolution are lost in it.
const MIN_BATCH: Duration = Duration::from_micros(200);
/// The largest batch, so a call that is somehow free still ends.
const MAX_BATCH: usize = 1 << 24;

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

/// The accounts the `silent_rotating` workload asks for in turn: spread
/// over the cache, so consecutive calls are for other accounts (and each
/// library does the whole lookup every call).
fn rotation_indices(accounts: usize) -> impl Iterator<Item = usize> {
    let count = ROTATION.min(accounts);
    (0..count).map(move |k| k * accounts / count)
}

/// How many accounts `silent_rotating` cycles through.
const ROTATION: usize = 64;

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
    let mut rotations = serde_json::Map::new();
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
        let rotation: Vec<_> = rotation_indices(accounts).map(support::account).collect();
        rotations.insert(
            accounts.to_string(),
            serde_json::to_value(&rotation).map_err(|e| e.to_string())?,
        );
    }
    let mut obo_caches = serde_json::Map::new();
    let mut obo_assertions = serde_json::Map::new();
    for accounts in OBO_SIZES {
        let path = dir.join(format!("cache-obo-{accounts}.json"));
        std::fs::write(&path, support::obo_cache_json(accounts))
            .map_err(|e| format!("{}: {e}", path.display()))?;
        obo_caches.insert(accounts.to_string(), json!(path));
        obo_assertions.insert(
            accounts.to_string(),
            json!(support::incoming_assertion(support::probe_index(accounts))),
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
        "rotation_accounts": rotations,
        "obo_caches": obo_caches,
        "obo_probe_assertions": obo_assertions,
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

/// Warm-up calls before a measurement.
fn warm_up_calls(iterations: usize) -> usize {
    (iterations / 10).clamp(1, 3)
}

/// The batch sizes and samples of one measurement: first the batch size is
/// found (doubled until a batch takes [`MIN_BATCH`]; that batch is the first
/// sample), then batches of that size are timed until `iterations` samples
/// or `budget` elapsed (at least 3 samples).
struct Batches {
    iterations: usize,
    budget: Duration,
    /// The calls per batch; settled once `sampling` starts.
    batch: usize,
    /// When sampling started (after the batch size was found).
    sampling: Option<Instant>,
    /// Time per call of each timed batch, in µs.
    samples: Vec<f64>,
}

impl Batches {
    fn new(iterations: usize, budget: Duration) -> Self {
        Self {
            iterations,
            budget,
            batch: 1,
            sampling: None,
            samples: Vec::with_capacity(iterations),
        }
    }

    /// Takes the time of the batch of [`Self::batch`] calls just run; returns
    /// the size of the next batch, or `None` when done.
    fn record(&mut self, elapsed: Duration) -> Option<usize> {
        let started = match self.sampling {
            Some(started) => started,
            None if elapsed < MIN_BATCH && self.batch < MAX_BATCH => {
                self.batch *= 2;
                return Some(self.batch);
            }
            // The batch that settled the size is the first sample (so a
            // call of seconds is not run once more for nothing).
            None => *self.sampling.insert(Instant::now()),
        };
        self.samples.push(elapsed.as_secs_f64() * 1e6 / self.batch as f64);
        let done = self.samples.len() >= self.iterations
            || (self.samples.len() >= 3 && started.elapsed() >= self.budget);
        (!done).then_some(self.batch)
    }

    fn result(mut self) -> Value {
        self.samples.sort_by(f64::total_cmp);
        json!({
            "median_us": self.samples[self.samples.len() / 2],
            "min_us": self.samples[0],
            "samples": self.samples.len(),
            "batch": self.batch,
        })
    }
}

/// Times a synchronous `op` in batches (see [`Batches`]), after a few
/// warm-up calls.
fn measure(iterations: usize, budget: Duration, mut op: impl FnMut()) -> Value {
    for _ in 0..warm_up_calls(iterations) {
        op();
    }
    let mut batches = Batches::new(iterations, budget);
    let mut next = Some(1);
    while let Some(calls) = next {
        let t = Instant::now();
        for _ in 0..calls {
            op();
        }
        next = batches.record(t.elapsed());
    }
    batches.result()
}

/// [`measure`] for an async `op`, awaited call after call in one task, as an
/// async application calls the library (no runtime entry per call).
async fn measure_async(iterations: usize, budget: Duration, mut op: impl AsyncFnMut()) -> Value {
    for _ in 0..warm_up_calls(iterations) {
        op().await;
    }
    let mut batches = Batches::new(iterations, budget);
    let mut next = Some(1);
    while let Some(calls) = next {
        let t = Instant::now();
        for _ in 0..calls {
            op().await;
        }
        next = batches.record(t.elapsed());
    }
    batches.result()
}

/// Times `op` on what an untimed `setup` prepared, once per sample (a batch
/// of 1), until `iterations` samples or `budget` elapsed (at least 3
/// samples). What `setup` made is dropped after the clock stops.
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
        "batch": 1,
    })
}

/// CPU time this process has used (user + system), from `/proc/self/stat`,
/// in clock ticks of 10 ms (USER_HZ is 100 on Linux); `None` where
/// unreadable. Coarse, but over runs of a few hundred ms it tells whether
/// the threads had the cores to themselves.
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name (in parentheses) may hold spaces: count after it.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime are the line's fields 14 and 15; `fields` starts at field 3.
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// This thread's context switches so far, from `/proc/thread-self/status`:
/// (voluntary, involuntary). Voluntary: the thread blocked (a lock, a
/// futex); involuntary: the scheduler preempted it (another task wanted the
/// core). Zero where unreadable.
fn thread_switches() -> (u64, u64) {
    let status = std::fs::read_to_string("/proc/thread-self/status").unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .unwrap_or(0)
    };
    (
        field("voluntary_ctxt_switches:"),
        field("nonvoluntary_ctxt_switches:"),
    )
}

/// One throughput run.
struct Run {
    /// Calls per second, all threads together.
    per_s: f64,
    /// The share of the threads' cores the process got: CPU time /
    /// (threads × wall time); `None` where the CPU time is unreadable.
    cpu_share: Option<f64>,
    /// Times per second a thread blocked (voluntary context switches).
    blocked_per_s: f64,
    /// Times per second a thread was preempted (involuntary context switches).
    preempted_per_s: f64,
}

impl Run {
    fn json(&self) -> Value {
        json!({
            "per_s": self.per_s,
            "cpu_share": self.cpu_share,
            "blocked_per_thread_s": self.blocked_per_s,
            "preempted_per_thread_s": self.preempted_per_s,
        })
    }
}

/// What one worker thread did: calls, seconds, context switches.
struct Worker {
    calls: u64,
    seconds: f64,
    switches: (u64, u64),
}

/// Calls per second of `op` run by `threads` threads at once on whatever
/// `op` shares (one application): each thread has its own current-thread
/// runtime and loop, all start together at a barrier and stop when the
/// main thread, after `duration`, raises the stop flag. The sum of each
/// thread's calls over its own elapsed time.
fn throughput(threads: usize, duration: Duration, op: &(impl AsyncFn() + Sync)) -> Result<Run, String> {
    let barrier = Barrier::new(threads + 1);
    let stop = AtomicBool::new(false);
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| -> Result<Worker, String> {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .map_err(|e| e.to_string())?;
                    barrier.wait();
                    let (voluntary, involuntary) = thread_switches();
                    let start = Instant::now();
                    let calls = rt.block_on(async {
                        let mut calls = 0_u64;
                        // A relaxed load per call: the flag's cache line is
                        // only read until the one store that ends the run.
                        while !stop.load(Ordering::Relaxed) {
                            op().await;
                            calls += 1;
                        }
                        calls
                    });
                    let seconds = start.elapsed().as_secs_f64();
                    let (voluntary_end, involuntary_end) = thread_switches();
                    Ok(Worker {
                        calls,
                        seconds,
                        switches: (voluntary_end - voluntary, involuntary_end - involuntary),
                    })
                })
            })
            .collect();
        let cpu_before = process_cpu();
        barrier.wait();
        let start = Instant::now();
        std::thread::sleep(duration);
        stop.store(true, Ordering::Relaxed);
        let done = workers
            .into_iter()
            .map(|w| w.join().map_err(|_| "a worker thread panicked".to_string())?)
            .collect::<Result<Vec<Worker>, String>>()?;
        let thread_seconds = start.elapsed().as_secs_f64() * threads as f64;
        let cpu_share = cpu_before
            .zip(process_cpu())
            .map(|(before, after)| after.saturating_sub(before).as_secs_f64() / thread_seconds);
        let worker_seconds: f64 = done.iter().map(|w| w.seconds).sum();
        Ok(Run {
            per_s: done.iter().map(|w| w.calls as f64 / w.seconds).sum(),
            cpu_share,
            blocked_per_s: done.iter().map(|w| w.switches.0 as f64).sum::<f64>() / worker_seconds,
            preempted_per_s: done.iter().map(|w| w.switches.1 as f64).sum::<f64>() / worker_seconds,
        })
    })
}

/// One-thread and all-core throughput of `op` (see [`throughput`]),
/// alternating, `RUNS` times each, each run `budget / (2 × RUNS)` long (at
/// least 0.1 s). The best run of each counts: other load on the machine
/// only ever lowers throughput. The scaling factor is all / (cores × one),
/// 1.0 being perfect. What tells a busy machine from contention in the
/// library: `cpu_scaling` divides out the CPU share each run got (below 1:
/// the threads burn CPU on each other, as on a contended atomic); blocked
/// and preempted counts say why a thread was off its core (a lock, or
/// another task).
fn scaling(budget: Duration, op: &(impl AsyncFn() + Sync)) -> Result<Value, String> {
    const RUNS: u32 = 3;
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let run = (budget / (2 * RUNS)).max(Duration::from_millis(100));
    let (mut ones, mut alls) = (Vec::new(), Vec::new());
    for _ in 0..RUNS {
        ones.push(throughput(1, run, op)?);
        alls.push(throughput(threads, run, op)?);
    }
    let best = |runs: &[Run]| -> Result<Value, String> {
        runs.iter()
            .max_by(|a, b| a.per_s.total_cmp(&b.per_s))
            .map(Run::json)
            .ok_or_else(|| "no run".to_string())
    };
    let (one, all) = (best(&ones)?, best(&alls)?);
    let per_s = |v: &Value| v["per_s"].as_f64().unwrap_or(0.0);
    let scaling = per_s(&all) / (threads as f64 * per_s(&one));
    let cpu_scaling = match (one["cpu_share"].as_f64(), all["cpu_share"].as_f64()) {
        (Some(one), Some(all)) if all > 0.0 => Some(scaling * one / all),
        _ => None,
    };
    Ok(json!({
        "threads": threads,
        "one_thread_per_s": per_s(&one),
        "all_threads_per_s": per_s(&all),
        "scaling": scaling,
        "cpu_scaling": cpu_scaling,
        "one_thread": one,
        "all_threads": all,
        "runs_one_per_s": ones.iter().map(|r| r.per_s).collect::<Vec<_>>(),
        "runs_all_per_s": alls.iter().map(|r| r.per_s).collect::<Vec<_>>(),
        "seconds_per_run": run.as_secs_f64(),
    }))
}

fn run(args: &[String]) -> Result<(), String> {
    let spec_path = required(args, "--spec")?;
    let spec: Value =
        serde_json::from_str(&std::fs::read_to_string(&spec_path).map_err(|e| format!("{spec_path}: {e}"))?)
            .map_err(|e| format!("{spec_path}: {e}"))?;
    if required(args, "--workload")? == "rss" {
        // Before any async runtime is made: holding a cache needs none, and
        // the runtime's own memory is not the cache's.
        let accounts = number(args, "--accounts", 0)?;
        let path = spec["caches"][accounts.to_string()]
            .as_str()
            .ok_or_else(|| format!("no cache of {accounts} accounts in the spec"))?
            .to_owned();
        // The spec's memory is the runner's, not the cache's: freed first.
        drop(spec);
        println!("{}", rss(&path, accounts)?);
        return Ok(());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    // One runtime entry for the whole workload: every call in it is awaited.
    let result = rt.block_on(workload(&spec, args))?;
    println!("{result}");
    Ok(())
}

/// The `rss` workload: the resident size of this process once it holds
/// the cache of `accounts` accounts.
fn rss(path: &str, accounts: usize) -> Result<Value, String> {
    // Loaded the way this library loads a cache file: streamed from the
    // file, with no copy of the whole text in memory.
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
    Ok(json!({"peak_rss_kb": field("VmHWM:"), "rss_kb": field("VmRSS:")}))
}

/// A cache file of the spec: `section` is `caches` or `obo_caches`.
fn load_from(spec: &Value, section: &str, accounts: usize) -> Result<(TokenCache, String), String> {
    let path = spec[section][accounts.to_string()]
        .as_str()
        .ok_or_else(|| format!("no {section} of {accounts} accounts in the spec"))?;
    let json = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let cache = TokenCache::new();
    cache.deserialize(&json).map_err(|e| e.to_string())?;
    Ok((cache, json))
}

/// Whether a call was served from the cache: the check every timed call makes.
fn from_cache(result: &msal::Result<msal::AuthenticationResult>) -> bool {
    matches!(result, Ok(r) if r.token_source == TokenSource::Cache)
}

async fn workload(spec: &Value, args: &[String]) -> Result<Value, String> {
    let workload = required(args, "--workload")?;
    let accounts: usize = number(args, "--accounts", 0)?;
    let iterations: usize = number(args, "--iterations", 1000)?;
    let budget = Duration::from_secs_f64(number(args, "--budget", 3.0)?);
    let load = |accounts: usize| load_from(spec, "caches", accounts);

    let result = match workload.as_str() {
        "cc_hit" | "scaling_cc_hit" => {
            let app = support::offline_app(&TokenCache::new());
            let first = app
                .acquire_token_for_client([support::APP_SCOPE])
                .await
                .map_err(|e| e.to_string())?;
            check(
                first.token_source == TokenSource::IdentityProvider,
                "first call goes to the provider",
            )?;
            let hit = async || {
                let hit = app.acquire_token_for_client([support::APP_SCOPE]).await;
                assert!(from_cache(&hit), "a cache hit");
            };
            if workload == "cc_hit" {
                measure_async(iterations, budget, hit).await
            } else {
                scaling(budget, &hit)?
            }
        }
        "silent_exact" | "silent_subset" | "scaling_silent" => {
            let (cache, _) = load(accounts)?;
            let app = support::offline_app(&cache);
            let account = support::account(support::probe_index(accounts));
            let scopes: &[&str] = if workload == "silent_subset" {
                &[support::SUBSET_SCOPE]
            } else {
                &support::USER_SCOPES
            };
            let hit = async || {
                let hit = app.acquire_token_silent(scopes, &account).await;
                assert!(from_cache(&hit), "a cache hit");
            };
            if workload == "scaling_silent" {
                scaling(budget, &hit)?
            } else {
                measure_async(iterations, budget, hit).await
            }
        }
        "silent_rotating" => {
            // The exact-scope hit for a different account on every call:
            // what a web app serving many users does, with no repeat for a
            // per-thread memo to answer.
            let (cache, _) = load(accounts)?;
            let app = support::offline_app(&cache);
            let rotation: Vec<_> = rotation_indices(accounts).map(support::account).collect();
            let next = std::cell::Cell::new(0usize);
            let hit = async || {
                let i = next.get();
                next.set((i + 1) % rotation.len());
                let hit = app.acquire_token_silent(support::USER_SCOPES, &rotation[i]).await;
                assert!(from_cache(&hit), "a cache hit");
            };
            measure_async(iterations, budget, hit).await
        }
        "obo_hit" => {
            // A middle-tier API's cache of on-behalf-of tokens for many users;
            // the user in the middle calls with the incoming token their
            // token was obtained with, so the call is a cache hit.
            let (cache, _) = load_from(spec, "obo_caches", accounts)?;
            check(cache.access_token_count() == accounts, "every token loaded")?;
            let app = support::offline_app(&cache);
            let assertion = spec["obo_probe_assertions"][accounts.to_string()]
                .as_str()
                .ok_or("no probe assertion in the spec")?;
            let assertion = UserAssertion::new(assertion);
            let scopes = support::USER_SCOPES;
            measure_async(iterations, budget, async || {
                let hit = app.acquire_token_on_behalf_of(&assertion, scopes).await;
                assert!(from_cache(&hit), "a cache hit");
            })
            .await
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
            if workload == "file_hit" {
                measure_async(iterations, budget, async || {
                    assert!(
                        !persisted.refresh().expect("the file is readable"),
                        "unchanged, not reloaded"
                    );
                    let hit = app.acquire_token_silent(scopes, &account).await;
                    assert!(from_cache(&hit), "a cache hit");
                })
                .await
            } else {
                measure_async(iterations, budget, async || {
                    let guard = persisted.lock().expect("the lock is free");
                    let hit = app.acquire_token_silent(scopes, &account).await;
                    assert!(from_cache(&hit), "a cache hit");
                    assert!(!guard.save_if_changed().expect("saves"), "a hit changes nothing");
                })
                .await
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
            let saved = distributed.save(&account.home_account_id, &partition).await;
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
            let result = measure_async(iterations, budget, async || {
                let hit = app.acquire_token_silent(scopes, &account).await;
                assert!(from_cache(&hit), "a cache hit");
            })
            .await;
            let in_memory = distributed.memory().contains(&account.home_account_id);
            check(in_memory == (workload == "redis_hit"), "L1 used as configured")?;
            result
        }
        "get_accounts" => {
            let (cache, _) = load(accounts)?;
            let app = support::offline_app(&cache);
            check(app.get_accounts(None).len() == accounts, "every account listed")?;
            measure(iterations, budget, || {
                // The length compare is the cheap per-call check.
                assert_eq!(std::hint::black_box(app.get_accounts(None)).len(), accounts);
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
        "rss" => return Err("rss is measured before the runtime starts (see run)".into()),
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
            measure_async(iterations, budget, async || {
                // Building the app is part of it: a new transport, so a new TLS connection.
                let app = new_app().expect("the app builds");
                let issued = app.acquire_token_for_client([scope.as_str()]).await;
                assert!(matches!(issued, Ok(ref r) if r.token_source == TokenSource::IdentityProvider));
            })
            .await
        }
        other => return Err(format!("unknown workload {other}")),
    };
    Ok(result)
}

fn check(ok: bool, what: &str) -> Result<(), String> {
    if ok {
        Ok(())
    } else {
        Err(format!("check failed: {what}"))
    }
}
