//! `--cache redis://HOST:PORT/DB`: the CLI's whole token cache as one Redis
//! key (partition [`PARTITION`], key `msal:msal-cli`), through msal's
//! [`DistributedTokenCache`] over a [`RedisStore`]; what `msal login`
//! remembers about each sign-in is a second key (`msal:msal-cli.sign-ins`).
//! Loaded once when a command starts, saved when it changed.
//!
//! Unlike a service, whose distributed cache quietly falls back to memory,
//! a command must not pretend: Redis not answering is an error (exit code
//! 4), before any request to the identity provider. There is no
//! cross-process lock: as in every distributed MSAL cache, the last writer
//! wins. URLs are never shown with their password.

use std::time::Duration;

use msal::cache::distributed::{
    DEFAULT_REFRESH_TOKEN_LIFETIME, DistributedTokenCache, MemoryPartitionStore, RedisConfig, RedisStore,
};
use msal::{Error, TokenCache, TransportError, TransportErrorKind};

/// The partition (and so the key, after msal's `msal:` prefix) of the CLI's cache.
pub(crate) const PARTITION: &str = "msal-cli";
/// The partition holding the remembered sign-ins.
pub(crate) const SIGN_INS_PARTITION: &str = "msal-cli.sign-ins";

/// Whether `location` names a Redis server rather than a file.
pub(crate) fn is_redis_url(location: &str) -> bool {
    let lower = location.trim_start().to_ascii_lowercase();
    lower.starts_with("redis://") || lower.starts_with("rediss://")
}

/// The CLI's token cache in Redis.
pub(crate) struct RedisCache {
    distributed: DistributedTokenCache,
    redis: RedisStore,
    cache: TokenCache,
    /// The URL without its password, for messages.
    shown: String,
}

impl RedisCache {
    /// The cache at `url`; nothing is sent yet. A URL that is not a Redis
    /// URL this build can use is bad input (exit code 2).
    pub(crate) fn new(url: &str) -> Result<RedisCache, Error> {
        let shown = without_password(url);
        let config = RedisConfig::single(url.trim()).map_err(|e| {
            Error::InvalidArgument(format!(
                "--cache {shown} is not a usable Redis URL ({e}): expected redis://[:PASSWORD@]HOST:PORT/DB"
            ))
        })?;
        // One attempt, no waiting between probes: a command tries once.
        let config = config.backoff(Duration::ZERO, Duration::ZERO);
        let redis = RedisStore::new(config).map_err(|e| {
            Error::InvalidArgument(format!("--cache {shown} is not a usable Redis URL ({e})"))
        })?;
        // The memory layer is required by the type; one partition fits any budget.
        let distributed = DistributedTokenCache::with_redis(
            MemoryPartitionStore::with_byte_budget(64 << 20),
            redis.clone(),
        );
        Ok(RedisCache {
            distributed,
            redis,
            cache: TokenCache::new(),
            shown,
        })
    }

    /// The in-memory cache the command works on.
    pub(crate) fn cache(&self) -> &TokenCache {
        &self.cache
    }

    /// Where the cache is, for people.
    pub(crate) fn location(&self) -> String {
        format!("{} (key {})", self.shown, self.redis.key_of(PARTITION))
    }

    /// Loads the cache from Redis (once, into the empty cache): an error when Redis does not answer, or
    /// holds something that is not a token cache (left as it is).
    pub(crate) async fn load(&self) -> Result<(), Error> {
        self.check_reachable().await?;
        match self.redis.get(PARTITION).await {
            Some(json) => self.cache.deserialize(&json).map_err(|e| {
                Error::InvalidArgument(format!(
                    "the token cache in Redis ({}) is not a token cache ({e}): delete the key, or use another --cache",
                    self.location()
                ))
            }),
            None if self.redis.is_unavailable() => Err(self.unreachable()),
            // Never written (or expired): the cache starts empty.
            None => Ok(()),
        }
    }

    /// Saves the cache when it changed; whether it saved.
    pub(crate) async fn save_if_changed(&self) -> Result<bool, Error> {
        if !self.cache.has_state_changed() {
            return Ok(false);
        }
        let saved = self.distributed.save(PARTITION, &self.cache).await;
        if !saved.redis {
            return Err(self.unreachable());
        }
        Ok(true)
    }

    /// The text under `partition`, `None` when there is none.
    pub(crate) async fn get_text(&self, partition: &str) -> Result<Option<String>, Error> {
        let text = self.redis.get(partition).await;
        if text.is_none() && self.redis.is_unavailable() {
            return Err(self.unreachable());
        }
        Ok(text)
    }

    /// Stores `text` under `partition`, kept as long as a refresh token.
    pub(crate) async fn set_text(&self, partition: &str, text: &str) -> Result<(), Error> {
        if self
            .redis
            .set(partition, text, DEFAULT_REFRESH_TOKEN_LIFETIME)
            .await
        {
            Ok(())
        } else {
            Err(self.unreachable())
        }
    }

    /// Fails unless Redis answers now.
    pub(crate) async fn check_reachable(&self) -> Result<(), Error> {
        if self.redis.ping().await {
            Ok(())
        } else {
            Err(self.unreachable())
        }
    }

    /// Redis not answering: a network error (exit code 4), named by URL.
    fn unreachable(&self) -> Error {
        Error::Transport(TransportError::new(
            TransportErrorKind::Connect,
            self.shown.clone(),
            "Redis did not answer (is redis-server running there, and are the host, port and password right?)",
        ))
    }
}

/// `url` without the password it may carry (`redis://:PASSWORD@host`).
pub(crate) fn without_password(url: &str) -> String {
    match url::Url::parse(url.trim()) {
        Ok(mut parsed) => {
            if parsed.password().is_some() {
                // Only fails for URLs that cannot have one; this one has one.
                let _ = parsed.set_password(Some("***"));
            }
            parsed.to_string()
        }
        // Not a URL at all: show nothing of it but its scheme.
        Err(_) => "the --cache URL".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_urls_are_told_from_paths_and_shown_without_password() {
        assert!(is_redis_url("redis://127.0.0.1:6379/0"));
        assert!(is_redis_url("REDISS://h:1"));
        assert!(!is_redis_url("/tmp/redis://x"));
        assert!(!is_redis_url("cache.json"));
        let shown = without_password("redis://:s3cret@127.0.0.1:6379/1");
        assert!(!shown.contains("s3cret"), "{shown}");
        assert!(shown.contains("127.0.0.1:6379/1"), "{shown}");
        assert_eq!(without_password("redis://h:1/0"), "redis://h:1/0");
    }

    #[test]
    fn a_bad_url_is_bad_input_without_its_password() {
        let Err(error) = RedisCache::new("redis://:pw@/") else {
            panic!("an URL without a host is refused");
        };
        assert!(matches!(error, Error::InvalidArgument(_)), "{error}");
        assert!(!error.to_string().contains("pw@"), "{error}");
    }
}
