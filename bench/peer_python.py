"""MSAL Python runner of bench/compare: the same workloads as
crates/msal/examples/bench_peer.rs, timed the same way, printing one JSON
line. Timing: a few warm-up calls, then the batch size k is doubled until one
batch of k consecutive calls takes at least 200 µs (k = 1 for slower calls);
each sample is one batch's time / k, until the iteration count (samples) or
the time budget is reached (at least 3 samples); the median sample is the
result, with k. Every call's result is still checked.

`scaling_*`: calls per second from one thread, then from one thread per core
at once (Python threads on one application; the GIL lets one run at a time),
released together by a barrier and stopped after a fixed time.

`obo_hit`: MSAL Python never reads its cache for on-behalf-of: every call
sends a request (to the canned provider here) and writes the answer.

Cache workloads never touch the network: MSAL Python's `http_client=` gets an
object answering with the canned discovery and token responses of spec.json.

Persistent caches: `file_hit` reads through msal-extensions'
`PersistedTokenCache(FilePersistence(path))` (which checks the file's time on
every lookup and reloads it when it changed); `file_hit_locked` holds its
`CrossPlatLock` around the call too; `redis_hit` is MSAL Python's recipe for a
distributed cache (it has no Redis cache of its own): a
`SerializableTokenCache` loaded from Redis with redis-py before each call and
saved after a call that changed it.
"""

import argparse
import itertools
import json
import os
import threading
import time

import msal
import msal_extensions


class CannedResponse:
    def __init__(self, text):
        self.status_code = 200
        self.text = text
        self.headers = {"content-type": "application/json"}

    def raise_for_status(self):
        pass


class CannedHttpClient:
    """Answers like the Rust side's CannedIdp: instance discovery, OpenID
    configuration, and the same client credentials response to every POST."""

    def __init__(self, canned):
        self.canned = canned

    def get(self, url, params=None, headers=None, **kwargs):
        if "/discovery/instance" in url:
            return CannedResponse(self.canned["instance_discovery"])
        return CannedResponse(self.canned["openid_configuration"])

    def post(self, url, params=None, data=None, headers=None, **kwargs):
        return CannedResponse(self.canned["token_response"])

    def close(self):
        pass


# The shortest time one batch of calls takes, in ns: long enough that the
# clock reads around it and the clock's resolution are lost in it.
MIN_BATCH_NS = 200_000
# The largest batch, so a call that is somehow free still ends.
MAX_BATCH = 1 << 24


def measure(iterations, budget, op):
    """Times op in batches: k found by doubling until a batch takes
    MIN_BATCH_NS (that batch is the first sample), then one sample per batch
    (its time / k)."""
    for _ in range(min(3, max(1, iterations // 10))):
        op()
    batch = 1
    while True:
        t = time.perf_counter_ns()
        for _ in range(batch):
            op()
        elapsed = time.perf_counter_ns() - t
        if elapsed >= MIN_BATCH_NS or batch >= MAX_BATCH:
            break
        batch *= 2
    samples = [elapsed / 1000.0 / batch]
    start = time.perf_counter()
    while len(samples) < iterations and (len(samples) < 3 or time.perf_counter() - start < budget):
        t = time.perf_counter_ns()
        for _ in range(batch):
            op()
        samples.append((time.perf_counter_ns() - t) / 1000.0 / batch)
    samples.sort()
    return {"median_us": samples[len(samples) // 2], "min_us": samples[0], "samples": len(samples),
            "batch": batch}


def measure_after(iterations, budget, setup, op):
    """Times op(setup()) with setup untimed, once per sample (a batch of 1)."""
    samples = []
    start = time.perf_counter()
    while len(samples) < iterations and (len(samples) < 3 or time.perf_counter() - start < budget):
        prepared = setup()
        t = time.perf_counter_ns()
        op(prepared)
        samples.append((time.perf_counter_ns() - t) / 1000.0)
    samples.sort()
    return {"median_us": samples[len(samples) // 2], "min_us": samples[0], "samples": len(samples), "batch": 1}


def thread_switches():
    """This thread's context switches so far: (voluntary, involuntary), from
    /proc/thread-self/status. Voluntary: it blocked (a lock, the GIL);
    involuntary: the scheduler preempted it. (0, 0) where unreadable."""
    counts = {}
    try:
        with open("/proc/thread-self/status") as status:
            for line in status:
                name, _, rest = line.partition(":")
                if name in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches"):
                    counts[name] = int(rest)
    except (OSError, ValueError):
        pass
    return counts.get("voluntary_ctxt_switches", 0), counts.get("nonvoluntary_ctxt_switches", 0)


def throughput(threads, duration, op):
    """Calls per second of op from `threads` threads at once: released
    together by a barrier, stopped after `duration` seconds; the sum of each
    thread's calls over its own elapsed time. Also the share of the threads'
    cores the process got (CPU time / (threads x wall time)) and how often a
    thread blocked or was preempted, per thread-second."""
    barrier = threading.Barrier(threads + 1)
    stop = threading.Event()
    done = [None] * threads
    errors = []

    def worker(i):
        barrier.wait()
        voluntary, involuntary = thread_switches()
        start = time.perf_counter()
        calls = 0
        try:
            while not stop.is_set():
                op()
                calls += 1
        except Exception as error:  # reported by the main thread
            errors.append(error)
        seconds = time.perf_counter() - start
        voluntary_end, involuntary_end = thread_switches()
        done[i] = (calls, seconds, voluntary_end - voluntary, involuntary_end - involuntary)

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    cpu = time.process_time()
    barrier.wait()
    start = time.perf_counter()
    time.sleep(duration)
    stop.set()
    for w in workers:
        w.join()
    share = (time.process_time() - cpu) / ((time.perf_counter() - start) * threads)
    if errors:
        raise errors[0]
    seconds = sum(d[1] for d in done)
    return {"per_s": sum(d[0] / d[1] for d in done), "cpu_share": share,
            "blocked_per_thread_s": sum(d[2] for d in done) / seconds,
            "preempted_per_thread_s": sum(d[3] for d in done) / seconds}


def scaling(budget, op, runs=3):
    """One-thread and all-core throughput, alternating, `runs` times each
    (each run budget / (2 runs) long, at least 0.1 s). The best run of each
    counts (other load only lowers throughput); the scaling factor is
    all / (cores x one); cpu_scaling divides out the CPU share each got."""
    threads = os.cpu_count() or 1
    duration = max(0.1, budget / (2 * runs))
    ones, alls = [], []
    for _ in range(runs):
        ones.append(throughput(1, duration, op))
        alls.append(throughput(threads, duration, op))
    one = max(ones, key=lambda r: r["per_s"])
    every = max(alls, key=lambda r: r["per_s"])
    factor = every["per_s"] / (threads * one["per_s"])
    return {"threads": threads, "one_thread_per_s": one["per_s"], "all_threads_per_s": every["per_s"],
            "scaling": factor,
            "cpu_scaling": factor * one["cpu_share"] / every["cpu_share"] if every["cpu_share"] else None,
            "one_thread": one, "all_threads": every,
            "runs_one_per_s": [r["per_s"] for r in ones], "runs_all_per_s": [r["per_s"] for r in alls],
            "seconds_per_run": duration}


def proc_status_kb(field):
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field):
                return int(line.split()[1])
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--workload", required=True)
    parser.add_argument("--accounts", type=int, default=0)
    parser.add_argument("--iterations", type=int, default=1000)
    parser.add_argument("--budget", type=float, default=3.0)
    parser.add_argument("--emulator")
    parser.add_argument("--ca")
    parser.add_argument("--cache-file")
    parser.add_argument("--redis")
    args = parser.parse_args()
    with open(args.spec) as f:
        spec = json.load(f)

    def offline_app(cache):
        return msal.ConfidentialClientApplication(
            spec["client_id"],
            client_credential=spec["client_secret"],
            authority=spec["authority"],
            http_client=CannedHttpClient(spec["canned"]),
            token_cache=cache,
        )

    def load(accounts):
        with open(spec["caches"][str(accounts)]) as f:
            text = f.read()
        cache = msal.SerializableTokenCache()
        cache.deserialize(text)
        return cache, text

    w = args.workload
    if w in ("cc_hit", "scaling_cc_hit"):
        app = offline_app(msal.SerializableTokenCache())
        first = app.acquire_token_for_client([spec["app_scope"]])
        assert first.get("token_source") == "identity_provider", first

        def op():
            r = app.acquire_token_for_client([spec["app_scope"]])
            assert r.get("token_source") == "cache"

        result = measure(args.iterations, args.budget, op) if w == "cc_hit" else scaling(args.budget, op)
    elif w in ("silent_exact", "silent_subset", "scaling_silent"):
        cache, _ = load(args.accounts)
        app = offline_app(cache)
        probe = spec["probe_accounts"][str(args.accounts)]
        scopes = [spec["subset_scope"]] if w == "silent_subset" else spec["user_scopes"]

        def op():
            r = app.acquire_token_silent(scopes, probe)
            assert r and r.get("token_source") == "cache", r

        result = scaling(args.budget, op) if w == "scaling_silent" else measure(args.iterations, args.budget, op)
    elif w == "silent_rotating":
        # A different account on every call (see bench_peer's rotation).
        cache, _ = load(args.accounts)
        app = offline_app(cache)
        rotation = itertools.cycle(spec["rotation_accounts"][str(args.accounts)])
        scopes = spec["user_scopes"]

        def op():
            r = app.acquire_token_silent(scopes, next(rotation))
            assert r and r.get("token_source") == "cache", r

        result = measure(args.iterations, args.budget, op)
    elif w == "obo_hit":
        # The middle-tier API's cache of on-behalf-of tokens, loaded: MSAL
        # Python does not read it for on-behalf-of (each call asks the
        # provider, here the canned one, and writes the answer to it).
        with open(spec["obo_caches"][str(args.accounts)]) as f:
            cache = msal.SerializableTokenCache()
            cache.deserialize(f.read())
        assert len(cache._cache["AccessToken"]) == args.accounts
        app = offline_app(cache)
        assertion = spec["obo_probe_assertions"][str(args.accounts)]
        scopes = spec["user_scopes"]

        def op():
            r = app.acquire_token_on_behalf_of(assertion, scopes)
            assert r.get("token_source") == "identity_provider", r

        result = measure(args.iterations, args.budget, op)
    elif w in ("file_hit", "file_hit_locked"):
        cache = msal_extensions.PersistedTokenCache(msal_extensions.FilePersistence(args.cache_file))
        app = offline_app(cache)
        probe = spec["probe_accounts"][str(args.accounts)]
        scopes = spec["user_scopes"]

        def hit():
            r = app.acquire_token_silent(scopes, probe)
            assert r and r.get("token_source") == "cache", r

        if w == "file_hit":
            op = hit
        else:
            lock_path = args.cache_file + ".lockfile"

            def op():
                with msal_extensions.CrossPlatLock(lock_path):
                    hit()

        result = measure(args.iterations, args.budget, op)
    elif w == "redis_hit":
        import redis  # only this workload needs it

        server = redis.Redis.from_url(args.redis)
        probe = spec["probe_accounts"]["1"]
        key = "msal-bench-python:" + probe["home_account_id"]
        _, partition = load(1)
        server.set(key, partition)
        cache = msal.SerializableTokenCache()
        app = offline_app(cache)
        scopes = spec["user_scopes"]

        def op():
            cache.deserialize(server.get(key))
            r = app.acquire_token_silent(scopes, probe)
            assert r and r.get("token_source") == "cache", r
            if cache.has_state_changed:
                server.set(key, cache.serialize())

        result = measure(args.iterations, args.budget, op)
    elif w == "get_accounts":
        cache, _ = load(args.accounts)
        app = offline_app(cache)
        assert len(app.get_accounts()) == args.accounts

        def op():
            assert len(app.get_accounts()) == args.accounts

        result = measure(args.iterations, args.budget, op)
    elif w == "get_accounts_first":
        _, text = load(args.accounts)

        def setup():
            cache = msal.SerializableTokenCache()
            cache.deserialize(text)
            return offline_app(cache)

        def op(app):
            assert len(app.get_accounts()) == args.accounts

        result = measure_after(args.iterations, args.budget, setup, op)
    elif w == "serialize":
        cache, _ = load(args.accounts)
        result = measure(args.iterations, args.budget, cache.serialize)
    elif w == "deserialize":
        _, text = load(args.accounts)
        cache = msal.SerializableTokenCache()
        result = measure(args.iterations, args.budget, lambda: cache.deserialize(text))
    elif w == "rss":
        cache, text = load(args.accounts)
        del text
        assert len(cache._cache["AccessToken"]) == args.accounts
        result = {"peak_rss_kb": proc_status_kb("VmHWM:"), "rss_kb": proc_status_kb("VmRSS:")}
    elif w == "first_token":
        e = spec["emulator_app"]
        authority = "%s/%s" % (args.emulator, e["tenant_id"])

        def op():
            # requests honours REQUESTS_CA_BUNDLE (set by bench/compare to the emulator's CA).
            app = msal.ConfidentialClientApplication(
                e["client_id"],
                client_credential=e["client_secret"],
                authority=authority,
                instance_discovery=False,
            )
            r = app.acquire_token_for_client([e["scope"]])
            assert r.get("token_source") == "identity_provider", r

        result = measure(args.iterations, args.budget, op)
    else:
        raise SystemExit("unknown workload " + w)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
