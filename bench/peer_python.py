"""MSAL Python runner of bench/compare: the same workloads as
crates/msal/examples/bench_peer.rs, timed the same way (a few warm-up calls,
then call by call until the iteration count or the time budget is reached, at
least 3 samples), printing one JSON line.

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
import json
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


def measure(iterations, budget, op):
    for _ in range(min(3, max(1, iterations // 10))):
        op()
    samples = []
    start = time.perf_counter()
    while len(samples) < iterations and (len(samples) < 3 or time.perf_counter() - start < budget):
        t = time.perf_counter_ns()
        op()
        samples.append((time.perf_counter_ns() - t) / 1000.0)
    samples.sort()
    return {"median_us": samples[len(samples) // 2], "min_us": samples[0], "samples": len(samples)}


def measure_after(iterations, budget, setup, op):
    """Times op(setup()) with setup untimed, once per sample."""
    samples = []
    start = time.perf_counter()
    while len(samples) < iterations and (len(samples) < 3 or time.perf_counter() - start < budget):
        prepared = setup()
        t = time.perf_counter_ns()
        op(prepared)
        samples.append((time.perf_counter_ns() - t) / 1000.0)
    samples.sort()
    return {"median_us": samples[len(samples) // 2], "min_us": samples[0], "samples": len(samples)}


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
    if w == "cc_hit":
        app = offline_app(msal.SerializableTokenCache())
        first = app.acquire_token_for_client([spec["app_scope"]])
        assert first.get("token_source") == "identity_provider", first

        def op():
            r = app.acquire_token_for_client([spec["app_scope"]])
            assert r.get("token_source") == "cache"

        result = measure(args.iterations, args.budget, op)
    elif w in ("silent_exact", "silent_subset"):
        cache, _ = load(args.accounts)
        app = offline_app(cache)
        probe = spec["probe_accounts"][str(args.accounts)]
        scopes = spec["user_scopes"] if w == "silent_exact" else [spec["subset_scope"]]

        def op():
            r = app.acquire_token_silent(scopes, probe)
            assert r and r.get("token_source") == "cache", r

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
        result = measure(args.iterations, args.budget, app.get_accounts)
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
