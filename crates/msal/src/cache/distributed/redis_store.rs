//! The L2: one Redis entry per cache partition, on a single node or a
//! Redis Cluster, optionally sealed with the application's key.
//!
//! The key of partition `p` is `{prefix}p`: in a cluster it is hashed whole
//! (no hash tag), so partitions spread over every slot and node, and each
//! command names one key, so no command ever spans slots. Values are the
//! unified JSON (or its sealed form, see `envelope`), written with a TTL.
//!
//! Connections are made on first use, not when the store is built, so an
//! application starts while Redis is down. Every command is bounded by the
//! response timeout; a failure that means Redis is gone (I/O, timeout,
//! cluster down) drops the connection and starts an outage (see `health`):
//! until a probe succeeds, commands return "unavailable" at once, without
//! touching the network.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use redis::aio::MultiplexedConnection;
use redis::cluster::ClusterClient;
use redis::cluster_async::ClusterConnection;
use redis::{
    AsyncConnectionConfig, Client, ConnectionInfo, ErrorKind, FromRedisValue, IntoConnectionInfo, RedisError,
};

use super::envelope::{self, CacheEncryptionKey};
use super::health::Health;

/// The key prefix unless configured otherwise.
pub const DEFAULT_KEY_PREFIX: &str = "msal:";
/// How long connecting may take by default.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long one command may take by default (Redis answers in well under a
/// millisecond on a healthy network; a slow one must not hold up sign-ins).
pub const DEFAULT_RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// The first wait before probing Redis again after it failed, by default.
pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_millis(500);
/// The longest wait between two probes, by default.
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(30);

/// Where the Redis store connects and how it behaves: one type for a single
/// node and a cluster. Its `Debug` shows no password and no key.
#[derive(Debug)]
pub struct RedisConfig {
    target: Target,
    key_prefix: String,
    encryption_key: Option<CacheEncryptionKey>,
    connect_timeout: Duration,
    response_timeout: Duration,
    initial_backoff: Duration,
    max_backoff: Duration,
}

enum Target {
    Single(ConnectionInfo),
    Cluster(Vec<ConnectionInfo>),
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Addresses only: a ConnectionInfo holds the password.
        let addresses = |nodes: &[ConnectionInfo]| -> Vec<String> {
            nodes.iter().map(|n| n.addr().to_string()).collect()
        };
        match self {
            Self::Single(node) => f
                .debug_tuple("Single")
                .field(&addresses(std::slice::from_ref(node)))
                .finish(),
            Self::Cluster(nodes) => f.debug_tuple("Cluster").field(&addresses(nodes)).finish(),
        }
    }
}

/// Why a Redis configuration was refused. Never holds a URL (it may carry a password).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RedisConfigError {
    /// A node's URL is not a Redis URL this build can use.
    #[error("Redis node {position} (counting from 1): {reason}")]
    InvalidUrl {
        /// Which URL, counting from 1.
        position: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// A cluster was given no node.
    #[error("a Redis Cluster configuration needs at least one node")]
    NoNodes,
    /// The nodes do not make one cluster client (for instance different credentials).
    #[error("the Redis Cluster nodes do not make one client: {0}")]
    Cluster(String),
}

/// The reason of a redis error without anything it was given.
fn reason(error: &RedisError) -> String {
    match error.detail() {
        Some(detail) => format!("{} ({detail})", error.category()),
        None => error.to_string(),
    }
}

fn parse(position: usize, url: &str) -> Result<ConnectionInfo, RedisConfigError> {
    url.into_connection_info()
        .map_err(|e| RedisConfigError::InvalidUrl {
            position,
            reason: reason(&e),
        })
}

impl RedisConfig {
    /// One Redis server: `redis://[:password@]host:port[/db]`.
    pub fn single(url: &str) -> Result<Self, RedisConfigError> {
        Ok(Self::new(Target::Single(parse(1, url)?)))
    }

    /// A Redis Cluster, from the URLs of some of its nodes (the rest are
    /// discovered from them).
    pub fn cluster<I, S>(nodes: I) -> Result<Self, RedisConfigError>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let nodes = nodes
            .into_iter()
            .enumerate()
            .map(|(i, url)| parse(i + 1, url.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        if nodes.is_empty() {
            return Err(RedisConfigError::NoNodes);
        }
        Ok(Self::new(Target::Cluster(nodes)))
    }

    fn new(target: Target) -> Self {
        Self {
            target,
            key_prefix: DEFAULT_KEY_PREFIX.to_owned(),
            encryption_key: None,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            response_timeout: DEFAULT_RESPONSE_TIMEOUT,
            initial_backoff: DEFAULT_INITIAL_BACKOFF,
            max_backoff: DEFAULT_MAX_BACKOFF,
        }
    }

    /// What every key starts with ([`DEFAULT_KEY_PREFIX`] unless set), so
    /// that several applications can share one Redis. In a cluster, a
    /// prefix with a `{hash tag}` would put every partition on one node.
    pub fn key_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.key_prefix = prefix.into();
        self
    }

    /// Seals every value with AES-256-GCM under `key`. Every instance must
    /// use the same key; values sealed with another key, or not sealed,
    /// are then misses.
    pub fn encryption_key(mut self, key: CacheEncryptionKey) -> Self {
        self.encryption_key = Some(key);
        self
    }

    /// How long connecting may take ([`DEFAULT_CONNECT_TIMEOUT`] unless set).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How long one command may take ([`DEFAULT_RESPONSE_TIMEOUT`] unless set).
    pub fn response_timeout(mut self, timeout: Duration) -> Self {
        self.response_timeout = timeout;
        self
    }

    /// The waits between probes during an outage: `initial`, doubling up
    /// to `max` (an hour at most), each drawn between half and all of it.
    pub fn backoff(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_backoff = initial;
        self.max_backoff = max;
        self
    }
}

/// The Redis L2 of [`DistributedTokenCache`](super::DistributedTokenCache):
/// cheap to clone (clones share the connection and the outage state).
#[derive(Clone)]
pub struct RedisStore {
    shared: Arc<Shared>,
}

struct Shared {
    client: Clients,
    key_prefix: String,
    encryption_key: Option<CacheEncryptionKey>,
    connect_timeout: Duration,
    response_timeout: Duration,
    /// The live connection and its generation (so a command that failed on
    /// an old connection does not drop a newer one).
    connection: Mutex<Option<(u64, Connection)>>,
    generations: AtomicU64,
    /// Held while connecting: one connection attempt at a time.
    connecting: tokio::sync::Mutex<()>,
    health: Health,
}

enum Clients {
    Single(Client),
    /// Boxed: a cluster client is twice a single one's size.
    Cluster(Box<ClusterClient>),
}

#[derive(Clone)]
enum Connection {
    Single(MultiplexedConnection),
    Cluster(ClusterConnection),
}

impl Connection {
    async fn query<T: FromRedisValue>(&mut self, command: &redis::Cmd) -> Result<T, RedisError> {
        match self {
            Self::Single(connection) => command.query_async(connection).await,
            Self::Cluster(connection) => command.query_async(connection).await,
        }
    }
}

/// What a command came to.
enum Outcome<T> {
    /// Redis answered.
    Done(T),
    /// Redis refused this command (it is reachable).
    Refused,
    /// Redis is unreachable, now or for the rest of the backoff.
    Unavailable,
}

/// Whether a command's error means Redis (or the connection to it) is gone,
/// rather than that Redis refused this one command.
fn is_outage(error: &RedisError) -> bool {
    !matches!(
        error.kind(),
        ErrorKind::Server(redis::ServerErrorKind::ResponseError)
            | ErrorKind::Server(redis::ServerErrorKind::NoPerm)
            | ErrorKind::UnexpectedReturnType
            | ErrorKind::Parse
    )
}

impl RedisStore {
    /// A store for `config`. Connects on first use: Redis need not be up yet.
    pub fn new(config: RedisConfig) -> Result<Self, RedisConfigError> {
        let client = match config.target {
            Target::Single(node) => {
                Clients::Single(Client::open(node).map_err(|e| RedisConfigError::InvalidUrl {
                    position: 1,
                    reason: reason(&e),
                })?)
            }
            Target::Cluster(nodes) => Clients::Cluster(Box::new(
                ClusterClient::builder(nodes)
                    .connection_timeout(config.connect_timeout)
                    .response_timeout(config.response_timeout)
                    // One retry (a MOVED redirect during resharding); an outage is ours to handle.
                    .retries(1)
                    .build()
                    .map_err(|e| RedisConfigError::Cluster(reason(&e)))?,
            )),
        };
        Ok(Self {
            shared: Arc::new(Shared {
                client,
                key_prefix: config.key_prefix,
                encryption_key: config.encryption_key,
                connect_timeout: config.connect_timeout,
                response_timeout: config.response_timeout,
                connection: Mutex::new(None),
                generations: AtomicU64::new(0),
                connecting: tokio::sync::Mutex::new(()),
                health: Health::new(config.initial_backoff, config.max_backoff),
            }),
        })
    }

    /// The Redis key of `partition`.
    pub fn key_of(&self, partition: &str) -> String {
        format!("{}{partition}", self.shared.key_prefix)
    }

    /// Whether the values are sealed with an encryption key.
    pub fn is_encrypted(&self) -> bool {
        self.shared.encryption_key.is_some()
    }

    /// Whether an outage is going on (Redis failed and has not answered since).
    pub fn is_unavailable(&self) -> bool {
        self.shared.health.is_down()
    }

    /// Asks Redis for a `PONG`: true when it answered. During an outage this
    /// is also the probe, when one is due (and false at once otherwise).
    pub async fn ping(&self) -> bool {
        matches!(self.query::<String>(&redis::cmd("PING")).await, Outcome::Done(pong) if pong == "PONG")
    }

    /// The unified JSON of `partition`; `None` when Redis has none, is
    /// unreachable, or holds a value that does not open or is not text (each
    /// logged, never with the value).
    pub async fn get(&self, partition: &str) -> Option<String> {
        let key = self.key_of(partition);
        let value = match self.query::<Option<Vec<u8>>>(redis::cmd("GET").arg(&key)).await {
            Outcome::Done(value) => value?,
            Outcome::Refused | Outcome::Unavailable => return None,
        };
        let plaintext = match (&self.shared.encryption_key, envelope::is_sealed(&value)) {
            (Some(encryption_key), _) => match encryption_key.open(key.as_bytes(), &value) {
                Ok(plaintext) => plaintext,
                Err(e) => {
                    tracing::warn!(reason = %e, "a distributed token cache value was ignored (treated as a miss)");
                    return None;
                }
            },
            (None, true) => {
                tracing::warn!(
                    "a distributed token cache value is encrypted but no encryption key is configured \
                     (treated as a miss)"
                );
                return None;
            }
            (None, false) => value,
        };
        match String::from_utf8(plaintext) {
            Ok(json) => Some(json),
            Err(_) => {
                tracing::warn!("a distributed token cache value is not UTF-8 text (treated as a miss)");
                None
            }
        }
    }

    /// Writes `json` as `partition`, expiring after `ttl` (a second at
    /// least). Returns whether Redis took it.
    pub async fn set(&self, partition: &str, json: &str, ttl: Duration) -> bool {
        let key = self.key_of(partition);
        let value = match &self.shared.encryption_key {
            Some(encryption_key) => match encryption_key.seal(key.as_bytes(), json.as_bytes()) {
                Some(sealed) => sealed,
                None => {
                    tracing::warn!("a distributed token cache value could not be encrypted (not written)");
                    return false;
                }
            },
            None => json.as_bytes().to_vec(),
        };
        let millis = u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1000);
        let command = redis::cmd("SET")
            .arg(&key)
            .arg(value)
            .arg("PX")
            .arg(millis)
            .clone();
        matches!(self.query::<()>(&command).await, Outcome::Done(()))
    }

    /// Deletes `partition`. Returns whether Redis answered (whether or not it held it).
    pub async fn remove(&self, partition: &str) -> bool {
        let key = self.key_of(partition);
        matches!(
            self.query::<u64>(redis::cmd("DEL").arg(&key)).await,
            Outcome::Done(_)
        )
    }

    /// Runs one command through the outage gate, bounded by the response timeout.
    async fn query<T: FromRedisValue>(&self, command: &redis::Cmd) -> Outcome<T> {
        let Some((generation, mut connection)) = self.connection().await else {
            return Outcome::Unavailable;
        };
        let shared = &self.shared;
        let answer = tokio::time::timeout(shared.response_timeout, connection.query::<T>(command)).await;
        match answer {
            Ok(Ok(value)) => {
                shared.health.succeeded(Instant::now());
                Outcome::Done(value)
            }
            Ok(Err(error)) if !is_outage(&error) => {
                shared.health.succeeded(Instant::now());
                tracing::warn!(error = %reason(&error), "Redis refused a distributed token cache command");
                Outcome::Refused
            }
            Ok(Err(error)) => {
                self.drop_connection(generation);
                shared.health.failed(Instant::now(), &reason(&error));
                Outcome::Unavailable
            }
            Err(_elapsed) => {
                self.drop_connection(generation);
                let message = format!("no answer within {:?}", shared.response_timeout);
                shared.health.failed(Instant::now(), &message);
                Outcome::Unavailable
            }
        }
    }

    /// The live connection, or a new one if this caller may make it: before
    /// the first connection callers wait for the one connecting; during an
    /// outage only the caller whose probe is due tries, and the rest give up at once.
    async fn connection(&self) -> Option<(u64, Connection)> {
        let shared = &self.shared;
        if let Some(live) = self.live() {
            return Some(live);
        }
        let _connecting = if shared.health.is_down() {
            if !shared.health.claim_probe(Instant::now()) {
                return None;
            }
            shared.connecting.try_lock().ok()?
        } else {
            let guard = shared.connecting.lock().await;
            // Someone else may have connected, or failed, while this caller waited.
            if let Some(live) = self.live() {
                return Some(live);
            }
            if shared.health.is_down() {
                return None;
            }
            guard
        };
        let connected = tokio::time::timeout(shared.connect_timeout, self.connect()).await;
        match connected {
            Ok(Ok(connection)) => {
                let generation = shared.generations.fetch_add(1, Ordering::Relaxed) + 1;
                *self.lock_connection() = Some((generation, connection.clone()));
                Some((generation, connection))
            }
            Ok(Err(error)) => {
                shared.health.failed(Instant::now(), &reason(&error));
                None
            }
            Err(_elapsed) => {
                let message = format!("no connection within {:?}", shared.connect_timeout);
                shared.health.failed(Instant::now(), &message);
                None
            }
        }
    }

    async fn connect(&self) -> Result<Connection, RedisError> {
        let shared = &self.shared;
        match &shared.client {
            Clients::Single(client) => {
                let config = AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(shared.connect_timeout))
                    .set_response_timeout(Some(shared.response_timeout));
                Ok(Connection::Single(
                    client
                        .get_multiplexed_async_connection_with_config(&config)
                        .await?,
                ))
            }
            Clients::Cluster(client) => Ok(Connection::Cluster(client.get_async_connection().await?)),
        }
    }

    fn live(&self) -> Option<(u64, Connection)> {
        self.lock_connection().clone()
    }

    fn drop_connection(&self, generation: u64) {
        let mut connection = self.lock_connection();
        if connection.as_ref().is_some_and(|(live, _)| *live == generation) {
            let dropped = connection.take();
            drop(connection);
            drop(dropped);
        }
    }

    fn lock_connection(&self) -> MutexGuard<'_, Option<(u64, Connection)>> {
        // Only a whole Option is ever stored: a poisoned lock holds a valid one.
        self.shared
            .connection
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let shared = &self.shared;
        f.debug_struct("RedisStore")
            .field("cluster", &matches!(shared.client, Clients::Cluster(_)))
            .field("key_prefix", &shared.key_prefix)
            .field("encrypted", &shared.encryption_key.is_some())
            .field("unavailable", &shared.health.is_down())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWORD: &str = "hunter2-redis-password";

    #[test]
    fn bad_urls_are_typed_errors_that_never_echo_the_url() {
        for url in [
            format!("redis://:{PASSWORD}@127.0.0.1:notaport/0"),
            format!("redis://:{PASSWORD}@127.0.0.1:6379/notadb"),
            format!("http://:{PASSWORD}@127.0.0.1:6379"),
            format!("rediss://:{PASSWORD}@127.0.0.1:6380"),
            format!("redis://:{PASSWORD}@0.0.0.0:6379"),
        ] {
            let error = RedisConfig::single(&url).unwrap_err();
            assert!(
                matches!(error, RedisConfigError::InvalidUrl { position: 1, .. }),
                "{url}: {error:?}"
            );
            assert!(!error.to_string().contains(PASSWORD), "{error}");
            assert!(!format!("{error:?}").contains(PASSWORD));
        }
        let error = RedisConfig::cluster(["redis://127.0.0.1:7000", "redis://127.0.0.1:x"]).unwrap_err();
        assert!(
            matches!(error, RedisConfigError::InvalidUrl { position: 2, .. }),
            "{error:?}"
        );
        assert_eq!(
            RedisConfig::cluster(Vec::<String>::new()).unwrap_err(),
            RedisConfigError::NoNodes
        );
    }

    #[test]
    fn debug_output_shows_addresses_but_no_password_or_key() {
        let config = RedisConfig::cluster([
            format!("redis://:{PASSWORD}@127.0.0.1:7000"),
            format!("redis://:{PASSWORD}@127.0.0.1:7001"),
        ])
        .unwrap()
        .key_prefix("app1:")
        .encryption_key(CacheEncryptionKey::from_bytes(&[0x61; 32]).unwrap());
        let shown = format!("{config:?}");
        assert!(
            shown.contains("127.0.0.1:7001") && shown.contains("app1:"),
            "{shown}"
        );
        assert!(!shown.contains(PASSWORD) && !shown.contains("aaaa"), "{shown}");
        let store = RedisStore::new(config).unwrap();
        let shown = format!("{store:?}");
        assert!(
            shown.contains("encrypted: true") && !shown.contains(PASSWORD),
            "{shown}"
        );
        assert_eq!(store.key_of("uid.utid"), "app1:uid.utid");
        assert!(store.is_encrypted() && !store.is_unavailable());
    }

    #[tokio::test]
    async fn an_unreachable_redis_is_a_miss_and_is_not_retried_within_the_backoff() {
        // A port nobody listens on: connections are refused at once.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .unwrap()
            .port();
        let config = RedisConfig::single(&format!("redis://127.0.0.1:{port}/0"))
            .unwrap()
            .backoff(Duration::from_secs(3600), Duration::from_secs(3600));
        let store = RedisStore::new(config).unwrap();
        assert_eq!(store.get("p").await, None);
        assert!(store.is_unavailable());
        // Within the backoff nothing is attempted: every call is an immediate miss.
        assert!(!store.set("p", "{}", Duration::from_secs(60)).await);
        assert!(!store.remove("p").await);
        assert!(!store.ping().await);
        assert!(store.is_unavailable());
        assert_eq!(
            store.shared.health.failures(),
            1,
            "one connection attempt, no more"
        );
    }
}
