// MSAL Node runner of bench/compare: the same workloads as
// crates/msal/examples/bench_peer.rs, timed the same way, printing one JSON
// line. Timing: a few warm-up calls, then the batch size k is doubled until
// one batch of k consecutive calls takes at least 200 µs (k = 1 for slower
// calls); each sample is one batch's time / k, until the iteration count
// (samples) or the time budget is reached (at least 3 samples); the median
// sample is the result, with k. The loop is one async function awaiting each
// call, and every call's result is still checked.
//
// `obo_hit`: acquireTokenOnBehalfOf reads the cache first (entries tagged
// with `userAssertionHash`, the incoming token's SHA-256, base64url).
// `scaling_*`: not applicable: one JS thread per process, and worker_threads
// each have their own heap, so no two threads share one cache.
//
// Cache workloads never touch the network: a custom INetworkModule answers
// with the canned token response of spec.json, and the authority's metadata
// and cloud discovery metadata are given in the configuration.
//
// Persistent caches: `file_hit` reads through @azure/msal-node-extensions'
// FilePersistence and PersistenceCachePlugin (which checks the file's time
// before every access and reloads it when it changed); `file_hit_locked`
// holds its CrossPlatformLock around the call too; `redis_hit` is MSAL Node's
// DistributedCachePlugin over node-redis (the partition read from Redis
// before every call, written back after a call that changed it).

import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { ConfidentialClientApplication, DistributedCachePlugin } from "@azure/msal-node";
// The extensions' file persistence, lock and plugin modules, imported by
// path: the package's index also loads the keyring persistences, whose
// native add-on (keytar) is not built here (npm ci --ignore-scripts).
import { FilePersistence } from "./node_modules/@azure/msal-node-extensions/dist/persistence/FilePersistence.mjs";
import { PersistenceCachePlugin } from "./node_modules/@azure/msal-node-extensions/dist/persistence/PersistenceCachePlugin.mjs";
import { CrossPlatformLock } from "./node_modules/@azure/msal-node-extensions/dist/lock/CrossPlatformLock.mjs";
import { createClient } from "redis";

const { values: args } = parseArgs({
    options: {
        spec: { type: "string" },
        workload: { type: "string" },
        accounts: { type: "string", default: "0" },
        iterations: { type: "string", default: "1000" },
        budget: { type: "string", default: "3" },
        emulator: { type: "string" },
        ca: { type: "string" },
        "cache-file": { type: "string" },
        redis: { type: "string" },
    },
});
const spec = JSON.parse(readFileSync(args.spec, "utf8"));
const accounts = Number(args.accounts);
const iterations = Number(args.iterations);
const budgetNs = BigInt(Math.round(Number(args.budget) * 1e9));

function check(ok, what) {
    if (!ok) throw new Error(`check failed: ${what}`);
}

const canned = spec.canned;
const networkClient = {
    async sendGetRequestAsync(url) {
        const body = url.includes("/discovery/instance") ? canned.instance_discovery : canned.openid_configuration;
        return { status: 200, headers: { "content-type": "application/json" }, body: JSON.parse(body) };
    },
    async sendPostRequestAsync() {
        return { status: 200, headers: { "content-type": "application/json" }, body: JSON.parse(canned.token_response) };
    },
};

function offlineApp(cachePlugin) {
    return new ConfidentialClientApplication({
        cache: cachePlugin ? { cachePlugin } : undefined,
        auth: {
            clientId: spec.client_id,
            clientSecret: spec.client_secret,
            authority: spec.authority,
            authorityMetadata: canned.openid_configuration,
            cloudDiscoveryMetadata: canned.instance_discovery,
        },
        system: { networkClient },
    });
}

// The shortest time one batch of calls takes, in ns: long enough that the
// clock reads around it and the clock's resolution are lost in it.
const MIN_BATCH_NS = 200_000n;
// The largest batch, so a call that is somehow free still ends.
const MAX_BATCH = 1 << 24;

// Times op in batches: k found by doubling until a batch takes MIN_BATCH_NS
// (that batch is the first sample), then one sample per batch (its time / k).
async function measure(op) {
    for (let i = 0; i < Math.min(3, Math.max(1, Math.floor(iterations / 10))); i++) await op();
    let batch = 1;
    let elapsed;
    for (;;) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < batch; i++) await op();
        elapsed = process.hrtime.bigint() - t;
        if (elapsed >= MIN_BATCH_NS || batch >= MAX_BATCH) break;
        batch *= 2;
    }
    const samples = [Number(elapsed) / 1000 / batch];
    const start = process.hrtime.bigint();
    while (samples.length < iterations && (samples.length < 3 || process.hrtime.bigint() - start < budgetNs)) {
        const t = process.hrtime.bigint();
        for (let i = 0; i < batch; i++) await op();
        samples.push(Number(process.hrtime.bigint() - t) / 1000 / batch);
    }
    samples.sort((a, b) => a - b);
    const median = samples[Math.floor(samples.length / 2)];
    return { median_us: median, min_us: samples[0], samples: samples.length, batch };
}

// Times op(setup()) with setup untimed, once per sample (a batch of 1).
async function measureAfter(setup, op) {
    const samples = [];
    const start = process.hrtime.bigint();
    while (samples.length < iterations && (samples.length < 3 || process.hrtime.bigint() - start < budgetNs)) {
        const prepared = setup();
        const t = process.hrtime.bigint();
        await op(prepared);
        samples.push(Number(process.hrtime.bigint() - t) / 1000);
    }
    samples.sort((a, b) => a - b);
    const median = samples[Math.floor(samples.length / 2)];
    return { median_us: median, min_us: samples[0], samples: samples.length, batch: 1 };
}

function cacheText(n) {
    return readFileSync(spec.caches[String(n)], "utf8");
}

function loaded(n) {
    const app = offlineApp();
    app.getTokenCache().deserialize(cacheText(n));
    return app;
}

function probeAccount(n) {
    return accountInfo(spec.probe_accounts[String(n)]);
}

function accountInfo(p) {
    return {
        homeAccountId: p.home_account_id,
        environment: p.environment,
        tenantId: p.realm,
        username: p.username,
        localAccountId: p.local_account_id,
    };
}

function procStatusKb(field) {
    const line = readFileSync("/proc/self/status", "utf8").split("\n").find((l) => l.startsWith(field));
    return line ? Number(line.split(/\s+/)[1]) : null;
}

// Resources a workload opened that would keep the process alive.
const closers = [];

let result;
switch (args.workload) {
    case "file_hit":
    case "file_hit_locked": {
        const persistence = await FilePersistence.create(args["cache-file"]);
        const plugin = new PersistenceCachePlugin(persistence);
        const app = offlineApp(plugin);
        const request = { account: probeAccount(accounts), scopes: spec.user_scopes };
        const hit = async () => {
            const r = await app.acquireTokenSilent(request);
            check(r.fromCache, "cache hit");
        };
        if (args.workload === "file_hit") {
            result = await measure(hit);
        } else {
            // The first access loads the file under the plugin's lock: done
            // before the lock is held here, or the plugin would wait for it.
            await hit();
            // The plugin's own lock, taken as the plugin takes it for a write
            // (before the access) and released by its afterCacheAccess, which
            // always unlocks it. A second CrossPlatformLock on the same file
            // would not do: afterCacheAccess deletes the lock file whoever holds it.
            const lock = plugin.crossPlatformLock;
            check(lock instanceof CrossPlatformLock, "the plugin's lock");
            result = await measure(async () => {
                await lock.lock();
                await hit();
            });
        }
        break;
    }
    case "redis_hit": {
        const redis = createClient({ url: args.redis });
        await redis.connect();
        closers.push(() => redis.quit());
        const probe = spec.probe_accounts["1"];
        const key = `msal-bench-node:${probe.home_account_id}`;
        await redis.set(key, readFileSync(spec.caches["1"], "utf8"));
        const client = { get: (k) => redis.get(k), set: (k, v) => redis.set(k, v) };
        const partitions = { getKey: async () => key, extractKey: async () => key };
        const app = offlineApp(new DistributedCachePlugin(client, partitions));
        const request = { account: probeAccount(1), scopes: spec.user_scopes };
        result = await measure(async () => {
            const r = await app.acquireTokenSilent(request);
            check(r.fromCache, "cache hit");
        });
        break;
    }
    case "cc_hit": {
        const app = offlineApp();
        const request = { scopes: [spec.app_scope] };
        const first = await app.acquireTokenByClientCredential(request);
        check(first && !first.fromCache, "first call goes to the provider");
        result = await measure(async () => {
            const r = await app.acquireTokenByClientCredential(request);
            check(r.fromCache, "cache hit");
        });
        break;
    }
    case "silent_exact":
    case "silent_subset": {
        const app = loaded(accounts);
        const scopes = args.workload === "silent_exact" ? spec.user_scopes : [spec.subset_scope];
        const request = { account: probeAccount(accounts), scopes };
        result = await measure(async () => {
            const r = await app.acquireTokenSilent(request);
            check(r.fromCache, "cache hit");
        });
        break;
    }
    case "silent_rotating": {
        // A different account on every call (see bench_peer's rotation).
        const app = loaded(accounts);
        const rotation = spec.rotation_accounts[String(accounts)].map(accountInfo);
        let next = 0;
        result = await measure(async () => {
            const account = rotation[next];
            next = (next + 1) % rotation.length;
            const r = await app.acquireTokenSilent({ account, scopes: spec.user_scopes });
            check(r.fromCache, "cache hit");
        });
        break;
    }
    case "obo_hit": {
        // A middle-tier API's cache of on-behalf-of tokens for many users;
        // the user in the middle calls with the incoming token their token
        // was obtained with.
        const app = offlineApp();
        app.getTokenCache().deserialize(readFileSync(spec.obo_caches[String(accounts)], "utf8"));
        const request = { oboAssertion: spec.obo_probe_assertions[String(accounts)], scopes: spec.user_scopes };
        result = await measure(async () => {
            const r = await app.acquireTokenOnBehalfOf(request);
            check(r.fromCache, "cache hit");
        });
        break;
    }
    case "scaling_cc_hit":
    case "scaling_silent":
        result = {
            not_applicable:
                "one JS thread per process: worker_threads each have their own heap, so no two threads share a cache",
        };
        break;
    case "get_accounts": {
        const app = loaded(accounts);
        result = await measure(async () => {
            const all = await app.getTokenCache().getAllAccounts();
            check(all.length === accounts, "every account listed");
        });
        break;
    }
    case "get_accounts_first": {
        const text = cacheText(accounts);
        result = await measureAfter(
            () => {
                const app = offlineApp();
                app.getTokenCache().deserialize(text);
                return app;
            },
            async (app) => {
                const all = await app.getTokenCache().getAllAccounts();
                check(all.length === accounts, "every account listed");
            },
        );
        break;
    }
    case "serialize": {
        const app = loaded(accounts);
        result = await measure(async () => app.getTokenCache().serialize());
        break;
    }
    case "deserialize": {
        const text = cacheText(accounts);
        const app = offlineApp();
        result = await measure(async () => app.getTokenCache().deserialize(text));
        break;
    }
    case "rss": {
        const app = loaded(accounts);
        check(app.getTokenCache() !== undefined, "cache loaded");
        result = { peak_rss_kb: procStatusKb("VmHWM:"), rss_kb: procStatusKb("VmRSS:") };
        break;
    }
    case "first_token": {
        // TLS trust comes from NODE_EXTRA_CA_CERTS (set by bench/compare to the emulator's CA).
        const e = spec.emulator_app;
        const url = new URL(args.emulator);
        const request = { scopes: [e.scope] };
        result = await measure(async () => {
            const app = new ConfidentialClientApplication({
                auth: {
                    clientId: e.client_id,
                    clientSecret: e.client_secret,
                    authority: `${args.emulator}/${e.tenant_id}`,
                    knownAuthorities: [url.host],
                },
            });
            const r = await app.acquireTokenByClientCredential(request);
            check(r && !r.fromCache, "token from the emulator");
        });
        break;
    }
    default:
        throw new Error(`unknown workload ${args.workload}`);
}
for (const close of closers) await close();
console.log(JSON.stringify(result));
