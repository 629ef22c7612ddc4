//! The distributed token cache against real Redis (a `redis-server` and a
//! three-node Redis Cluster on loopback, started per test) with tokens from
//! the emulator: two app instances, each with its own L1, share partitions
//! through Redis; a Redis outage leaves them serving from L1 and the
//! identity provider without an error, and a restart resumes L2; values
//! sealed with a key open only with it; the L1 keeps its budget under
//! 100,000 users (in memory alone) and 10,000 (in front of Redis, whose
//! round trips in a debug build would make 100,000 take half a minute).
//!
//! The instances are driven as the cache hooks drive them (load the
//! request's partition, run the flow, save the partition).

use std::time::Duration;

use crate::common::{GRAPH_DEFAULT, daemon};
use msal::cache::distributed::{
    CacheEncryptionKey, DistributedTokenCache, Loaded, MemoryPartitionStore, RedisConfig, RedisStore, Saved,
};
use msal::{ClientCredentialsOptions, ClientSecret, ConfidentialClientApplication, TokenCache, TokenSource};
use msal_emulator::{Emulator, Endpoint, builtin};
use msal_test_support::redis::{RedisCluster, RedisServer, query};
use msal_test_support::{logs, msal_http, start};

const API_DEFAULT: &str = "api://7351786e-0dac-4468-bf34-f1235f4eb15e/.default";

/// The app-token partition key of the daemon in Contoso (.NET's shape, as the core suggests it).
fn app_partition() -> String {
    format!(
        "{}_{}_AppTokenCache",
        builtin::DAEMON_CLIENT_ID,
        builtin::CONTOSO_TENANT_ID
    )
}

/// The daemon with `instance` as its cache hooks: what a service does.
fn hooked_daemon(emulator: &Emulator, instance: &DistributedTokenCache) -> ConfidentialClientApplication {
    ConfidentialClientApplication::builder(builtin::DAEMON_CLIENT_ID)
        .authority(&emulator.authority(builtin::CONTOSO_TENANT_ID))
        .client_secret(ClientSecret::new(builtin::DAEMON_CLIENT_SECRET))
        .cache_hooks(instance.clone())
        .http_client(msal_http(emulator).unwrap())
        .build()
        .unwrap()
}

/// Where `app` found a token for `scope` (any error fails the test).
async fn source(app: &ConfidentialClientApplication, scope: &str) -> TokenSource {
    app.acquire_token_for_client([scope]).await.unwrap().token_source
}

/// Polls `instance`'s Redis until it answers (its probes are due every
/// 200 ms at most): a restart is noticed without hammering.
async fn wait_for_redis(instance: &DistributedTokenCache) {
    let redis = instance.redis().unwrap();
    for _ in 0..200 {
        if redis.ping().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("Redis never answered again");
}

/// One app instance's distributed cache: its own L1 (`l1_bytes`) in front
/// of the shared Redis, with quick probes so a restart is noticed soon.
fn instance(config: RedisConfig, l1_bytes: usize) -> DistributedTokenCache {
    let config = config.backoff(Duration::from_millis(20), Duration::from_millis(200));
    DistributedTokenCache::with_redis(
        MemoryPartitionStore::with_byte_budget(l1_bytes),
        RedisStore::new(config).unwrap(),
    )
}

/// Acquires a token for `scope` as the core does with hooks (load the
/// partition, run the flow, save the partition if it changed), driving the
/// store directly so the test sees where each load came from.
async fn acquire(
    emulator: &Emulator,
    instance: &DistributedTokenCache,
    scope: &str,
) -> (TokenSource, Loaded, Option<Saved>) {
    let cache = TokenCache::new();
    let loaded = instance.load(&app_partition(), &cache).await;
    let app = daemon(
        emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    );
    let result = app.acquire_token_for_client([scope]).await.unwrap();
    let saved = if cache.has_state_changed() {
        Some(instance.save(&app_partition(), &cache).await)
    } else {
        None
    };
    (result.token_source, loaded, saved)
}

const BOTH: Option<Saved> = Some(Saved {
    memory: true,
    redis: true,
});

#[tokio::test]
async fn two_instances_share_app_tokens_through_redis() {
    let emulator = start().await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let a = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    let b = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);

    // A: nothing anywhere, so the identity provider; the partition goes to L1 and Redis.
    assert_eq!(
        acquire(&emulator, &a, GRAPH_DEFAULT).await,
        (TokenSource::IdentityProvider, Loaded::Empty, BOTH)
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    // B never saw it: Redis has it, and the flow answers from the cache.
    assert_eq!(
        acquire(&emulator, &b, GRAPH_DEFAULT).await,
        (TokenSource::Cache, Loaded::Redis, None)
    );
    assert_eq!(
        emulator.request_count(Endpoint::Token),
        1,
        "no second token request"
    );
    // B now holds it in its own L1.
    assert_eq!(
        acquire(&emulator, &b, GRAPH_DEFAULT).await,
        (TokenSource::Cache, Loaded::Memory, None)
    );

    // In Redis: one key per partition, the unified JSON, with a TTL of about the token's hour.
    let key = format!("msal:{}", app_partition());
    let stored = query(redis.port(), &["GET", &key]).await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&stored).unwrap();
    assert_eq!(json["AccessToken"].as_object().unwrap().len(), 1);
    assert!(json["AppMetadata"].is_object());
    let ttl: u64 = query(redis.port(), &["TTL", &key])
        .await
        .unwrap()
        .parse()
        .unwrap();
    assert!((3000..=3600).contains(&ttl), "TTL {ttl}");
    assert_eq!(query(redis.port(), &["DBSIZE"]).await.unwrap(), "1");
}

/// The same through the applications' cache hooks: two service instances
/// share tokens, keep serving through a Redis outage without an error, and
/// share again once Redis is back.
#[tokio::test]
async fn hooked_apps_share_tokens_and_ride_out_a_redis_restart() {
    let emulator = start().await.unwrap();
    let mut redis = RedisServer::start().await.unwrap();
    let a = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    let b = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    let (app_a, app_b) = (hooked_daemon(&emulator, &a), hooked_daemon(&emulator, &b));
    assert_eq!(source(&app_a, GRAPH_DEFAULT).await, TokenSource::IdentityProvider);
    assert_eq!(source(&app_b, GRAPH_DEFAULT).await, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::Token), 1);
    let key = format!("msal:{}", app_partition());
    assert_eq!(query(redis.port(), &["EXISTS", &key]).await.unwrap(), "1");

    redis.stop().unwrap();
    // B's L1 serves what it has; what it lacks comes from the network. No call fails.
    assert_eq!(source(&app_b, GRAPH_DEFAULT).await, TokenSource::Cache);
    assert_eq!(source(&app_a, API_DEFAULT).await, TokenSource::IdentityProvider);
    assert_eq!(source(&app_b, API_DEFAULT).await, TokenSource::IdentityProvider);
    assert_eq!(source(&app_b, API_DEFAULT).await, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::Token), 3);

    redis.restart().await.unwrap();
    wait_for_redis(&a).await;
    // A's next change reaches the new Redis; a third instance is served from it.
    let refresh = ClientCredentialsOptions::default().force_refresh(true);
    let fresh = app_a
        .acquire_token_for_client_with([GRAPH_DEFAULT], &refresh)
        .await
        .unwrap();
    assert_eq!(fresh.token_source, TokenSource::IdentityProvider);
    let c = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    let app_c = hooked_daemon(&emulator, &c);
    let served = app_c.acquire_token_for_client([GRAPH_DEFAULT]).await.unwrap();
    assert_eq!(served.token_source, TokenSource::Cache);
    assert_eq!(served.access_token, fresh.access_token);
    assert_eq!(source(&app_c, API_DEFAULT).await, TokenSource::Cache);
    assert_eq!(emulator.request_count(Endpoint::Token), 4);
}

#[tokio::test]
async fn a_redis_outage_leaves_the_instances_serving_and_a_restart_resumes_l2() {
    let logs = logs::capture().unwrap();
    let emulator = start().await.unwrap();
    let mut redis = RedisServer::start().await.unwrap();
    let a = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    let b = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    acquire(&emulator, &a, GRAPH_DEFAULT).await;
    assert_eq!(
        acquire(&emulator, &b, GRAPH_DEFAULT).await,
        (TokenSource::Cache, Loaded::Redis, None)
    );

    redis.stop().unwrap();

    // B serves from its L1, again and again, without an error.
    for _ in 0..5 {
        assert_eq!(
            acquire(&emulator, &b, GRAPH_DEFAULT).await,
            (TokenSource::Cache, Loaded::Memory, None)
        );
    }
    // A needs a new token: the network serves it, the partition lives on in A's L1 only.
    let unreachable = Some(Saved {
        memory: true,
        redis: false,
    });
    assert_eq!(
        acquire(&emulator, &a, API_DEFAULT).await,
        (TokenSource::IdentityProvider, Loaded::Memory, unreachable)
    );
    assert_eq!(
        acquire(&emulator, &a, API_DEFAULT).await,
        (TokenSource::Cache, Loaded::Memory, None)
    );
    // A user B has not served before: its L2 read fails, fast and without
    // an error, and the network serves it (here: an empty partition).
    assert_eq!(b.load("a-new-user", &TokenCache::new()).await, Loaded::Empty);
    // A third instance, started during the outage, has neither L1 nor L2: the network serves it.
    let c = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    assert_eq!(
        acquire(&emulator, &c, API_DEFAULT).await,
        (TokenSource::IdentityProvider, Loaded::Empty, unreachable)
    );
    for _ in 0..3 {
        assert_eq!(
            acquire(&emulator, &c, API_DEFAULT).await,
            (TokenSource::Cache, Loaded::Memory, None)
        );
    }
    for store in [&a, &b, &c] {
        assert!(store.redis().unwrap().is_unavailable());
    }
    let text = logs.text();
    let warnings = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("Redis is unreachable:"))
        .count();
    assert_eq!(
        warnings, 3,
        "one warning per instance, however many calls:\n{text}"
    );

    redis.restart().await.unwrap();

    // Each instance notices at its next due probe; none is hammered in the meantime.
    for store in [&a, &b, &c] {
        wait_for_redis(store).await;
        assert!(!store.redis().unwrap().is_unavailable());
    }
    let text = logs.text();
    let recoveries = text
        .lines()
        .filter(|l| l.contains("INFO") && l.contains("Redis is reachable again"))
        .count();
    assert_eq!(recoveries, 3, "{text}");

    // L2 resumes: A's next write reaches the (empty) Redis, and a fresh instance reads it.
    let cache = TokenCache::new();
    assert_eq!(a.load(&app_partition(), &cache).await, Loaded::Memory);
    assert_eq!(cache.access_token_count(), 2, "both tokens, from A's L1");
    assert_eq!(a.save(&app_partition(), &cache).await, BOTH.unwrap());
    let d = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    let tokens_so_far = emulator.request_count(Endpoint::Token);
    assert_eq!(
        acquire(&emulator, &d, API_DEFAULT).await,
        (TokenSource::Cache, Loaded::Redis, None)
    );
    assert_eq!(
        acquire(&emulator, &d, GRAPH_DEFAULT).await,
        (TokenSource::Cache, Loaded::Memory, None)
    );
    assert_eq!(emulator.request_count(Endpoint::Token), tokens_so_far);
}

#[tokio::test]
async fn a_three_node_cluster_spreads_partitions_and_serves_them_all() {
    let emulator = start().await.unwrap();
    let cluster = RedisCluster::start().await.unwrap();
    let a = instance(RedisConfig::cluster(cluster.urls()).unwrap(), 8 << 20);
    let b = instance(RedisConfig::cluster(cluster.urls()).unwrap(), 8 << 20);

    // Two instances of a service, each an app with the distributed cache as
    // its hooks: the second is served the first's token through the cluster.
    let app_a = hooked_daemon(&emulator, &a);
    let app_b = hooked_daemon(&emulator, &b);
    assert_eq!(source(&app_a, GRAPH_DEFAULT).await, TokenSource::IdentityProvider);
    assert_eq!(source(&app_b, GRAPH_DEFAULT).await, TokenSource::Cache);
    assert_eq!(source(&app_b, GRAPH_DEFAULT).await, TokenSource::Cache);
    assert_eq!(
        emulator.request_count(Endpoint::Token),
        1,
        "one token for both instances"
    );

    // Many partitions (as many users would make), written by A, all read by B from Redis.
    let template = TokenCache::new();
    a.load(&app_partition(), &template).await;
    let json = template.serialize();
    const USERS: usize = 300;
    for user in 0..USERS {
        assert_eq!(a.save(&format!("user-{user}"), &template).await, BOTH.unwrap());
    }
    for user in 0..USERS {
        let cache = TokenCache::new();
        assert_eq!(
            b.load(&format!("user-{user}"), &cache).await,
            Loaded::Redis,
            "user-{user}"
        );
        assert_eq!(cache.serialize(), json);
    }
    // Keys are hashed whole, so every node holds a share.
    let mut total = 0;
    for port in cluster.ports() {
        let held: usize = query(port, &["DBSIZE"]).await.unwrap().parse().unwrap();
        assert!(held > USERS / 10, "node {port} holds {held} of {USERS}");
        total += held;
    }
    assert_eq!(total, USERS + 1);
}

#[tokio::test]
async fn sealed_partitions_open_only_with_their_key_and_under_their_own_name() {
    let logs = logs::capture().unwrap();
    let emulator = start().await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let key = || CacheEncryptionKey::from_bytes(&[0x42; 32]).unwrap();
    let sealed = |k: CacheEncryptionKey| RedisConfig::single(&redis.url()).unwrap().encryption_key(k);
    let a = instance(sealed(key()), 1 << 20);
    acquire(&emulator, &a, GRAPH_DEFAULT).await;

    // Redis holds no token and no JSON.
    let cache = TokenCache::new();
    a.load(&app_partition(), &cache).await;
    let secret = cache.serialize();
    let secret = serde_json::from_str::<serde_json::Value>(&secret).unwrap()["AccessToken"]
        .as_object()
        .unwrap()
        .values()
        .next()
        .unwrap()["secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let redis_key = format!("msal:{}", app_partition());
    let raw = redis::Client::open(redis.url()).unwrap();
    let mut raw = raw.get_multiplexed_async_connection().await.unwrap();
    let stored: Vec<u8> = redis::cmd("GET")
        .arg(&redis_key)
        .query_async(&mut raw)
        .await
        .unwrap();
    assert!(stored.starts_with(b"msal\0\x01"));
    let text = String::from_utf8_lossy(&stored);
    let signature = &secret[secret.len() - 20..];
    assert!(!text.contains(signature) && !text.contains("AccessToken"));

    // The same key opens it.
    let b = instance(sealed(key()), 1 << 20);
    assert_eq!(
        acquire(&emulator, &b, GRAPH_DEFAULT).await,
        (TokenSource::Cache, Loaded::Redis, None)
    );
    assert_eq!(emulator.request_count(Endpoint::Token), 1);

    // Another key, or none, reads a miss (and the flow goes to the network).
    let wrong = instance(
        sealed(CacheEncryptionKey::from_bytes(&[0x43; 32]).unwrap()),
        1 << 20,
    );
    assert_eq!(
        wrong.load(&app_partition(), &TokenCache::new()).await,
        Loaded::Empty
    );
    let plain = instance(RedisConfig::single(&redis.url()).unwrap(), 1 << 20);
    assert_eq!(
        plain.load(&app_partition(), &TokenCache::new()).await,
        Loaded::Empty
    );

    // Altered, or copied under another partition's key: a miss too.
    let mut altered = stored.clone();
    let last = altered.len() - 1;
    altered[last] ^= 0x01;
    let _: () = redis::cmd("SET")
        .arg(&redis_key)
        .arg(&altered)
        .query_async(&mut raw)
        .await
        .unwrap();
    let _: () = redis::cmd("SET")
        .arg("msal:someone-else")
        .arg(&stored)
        .query_async(&mut raw)
        .await
        .unwrap();
    let c = instance(sealed(key()), 1 << 20);
    assert_eq!(c.load(&app_partition(), &TokenCache::new()).await, Loaded::Empty);
    assert_eq!(c.load("someone-else", &TokenCache::new()).await, Loaded::Empty);

    let text = logs.text();
    let ignored = text
        .lines()
        .filter(|l| l.contains("WARN") && l.contains("distributed token cache value"))
        .count();
    assert_eq!(ignored, 4, "each refused value is logged:\n{text}");
    assert!(!text.contains(signature), "no token in the logs");
}

/// The real partition of the daemon's Graph token, as JSON.
async fn real_partition(emulator: &Emulator) -> String {
    let cache = TokenCache::new();
    daemon(
        emulator,
        builtin::CONTOSO_TENANT_ID,
        builtin::DAEMON_CLIENT_SECRET,
        &cache,
    )
    .acquire_token_for_client([GRAPH_DEFAULT])
    .await
    .unwrap();
    cache.serialize()
}

/// Saves `json` as the partitions `user-{n}` for `users` users, from 16
/// tasks at once, checking after every save that the L1 is within `budget`.
async fn save_users(
    instance: &DistributedTokenCache,
    json: &str,
    users: usize,
    budget: usize,
    expected: Saved,
) {
    const TASKS: usize = 16;
    let mut tasks = Vec::new();
    for task in 0..TASKS {
        let instance = instance.clone();
        let cache = TokenCache::from_json(json).unwrap();
        tasks.push(tokio::spawn(async move {
            for user in (task..users).step_by(TASKS) {
                assert_eq!(instance.save(&format!("user-{user:06}"), &cache).await, expected);
                assert!(instance.memory().bytes() <= budget, "over budget at user {user}");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// 100,000 users' partitions (the real 2 KB partition of an app token)
/// through the bounded in-memory cache of a service without Redis, from
/// many tasks at once: the L1 is within its budget after every write and
/// holds the latest users.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_l1_stays_within_its_budget_under_100_000_users() {
    const USERS: usize = 100_000;
    const BUDGET: usize = 1 << 20;
    let emulator = start().await.unwrap();
    let json = real_partition(&emulator).await;
    let instance = DistributedTokenCache::in_memory(MemoryPartitionStore::with_byte_budget(BUDGET));
    let in_memory = Saved {
        memory: true,
        redis: false,
    };
    save_users(&instance, &json, USERS, BUDGET, in_memory).await;

    let memory = instance.memory();
    assert!(memory.bytes() <= BUDGET);
    // Full to within one partition: eviction freed only what was needed.
    assert!(
        memory.bytes() > BUDGET - 2 * json.len() - 512,
        "{} bytes",
        memory.bytes()
    );
    assert!(
        memory.len() > 100 && memory.len() < 1000,
        "{} partitions",
        memory.len()
    );
    // What L1 holds are whole users' partitions, each loading as it was saved.
    let held = memory.len();
    let mut hits = 0;
    for user in 0..USERS {
        let cache = TokenCache::new();
        match instance.load(&format!("user-{user:06}"), &cache).await {
            Loaded::Memory => {
                assert_eq!(cache.serialize(), json);
                hits += 1;
            }
            other => assert_eq!(other, Loaded::Empty),
        }
    }
    assert_eq!(hits, held);
}

/// 10,000 users through an instance whose L1 holds a few hundred, in front
/// of Redis: the L1 keeps its budget, Redis holds every user, and a user
/// evicted from L1 comes back from Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_l1_in_front_of_redis_keeps_its_budget_and_refills_from_redis() {
    const USERS: usize = 10_000;
    const BUDGET: usize = 1 << 20;
    let emulator = start().await.unwrap();
    let redis = RedisServer::start().await.unwrap();
    let json = real_partition(&emulator).await;
    let a = instance(RedisConfig::single(&redis.url()).unwrap(), BUDGET);
    save_users(&a, &json, USERS, BUDGET, BOTH.unwrap()).await;

    let memory = a.memory();
    assert!(memory.len() < USERS / 10, "{} partitions in L1", memory.len());
    let in_redis: usize = query(redis.port(), &["DBSIZE"]).await.unwrap().parse().unwrap();
    assert_eq!(in_redis, USERS);
    // A user evicted from L1 comes back from Redis, and into L1.
    let evicted = (0..USERS)
        .map(|user| format!("user-{user:06}"))
        .find(|partition| !memory.contains(partition))
        .unwrap();
    let cache = TokenCache::new();
    assert_eq!(a.load(&evicted, &cache).await, Loaded::Redis);
    assert_eq!(cache.serialize(), json);
    assert!(memory.contains(&evicted), "back in L1");
    assert_eq!(a.load(&evicted, &cache).await, Loaded::Memory);
    assert!(memory.bytes() <= BUDGET);
}
