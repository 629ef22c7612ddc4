//! Background refresh: a tokio task that renews an application token before
//! it is due, so the request path keeps finding a fresh token in the cache
//! and never waits for the identity provider. MSAL .NET refreshes tokens
//! with `refresh_in` in the background; here any token can be registered.
//!
//! The task wakes shortly before the token's `refresh_on` (else before the
//! point where the cache stops serving it, five minutes before expiry),
//! with jitter so a fleet of processes does not refresh in lockstep, and
//! renews it through the same single-flight as callers, so a caller that
//! misses the cache meanwhile shares the refresher's request. A failure is
//! retried with exponential backoff (the cached token keeps being served
//! while it is valid). Dropping the [`BackgroundRefresh`] stops the task.

use std::time::{Duration, SystemTime};

use crate::app::ConfidentialClientApplication;
use crate::cache::EXPIRY_MARGIN_SECS;
use crate::error::{Error, Result};
use crate::flows::client_credentials::{self, ClientCredentialsOptions};
use crate::result::AuthenticationResult;

/// The first retry after a failed refresh; doubled on each failure.
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// The longest wait between retries.
const MAX_RETRY: Duration = Duration::from_secs(300);
/// The most a wake-up is moved earlier by jitter.
const MAX_JITTER: Duration = Duration::from_secs(60);

/// A running background refresh; dropping it stops the task (no request is
/// sent after the drop returns, except one already on the wire).
#[derive(Debug)]
pub struct BackgroundRefresh {
    task: tokio::task::JoinHandle<()>,
}

impl BackgroundRefresh {
    /// Whether the task still runs (it stops only when dropped or aborted).
    pub fn is_running(&self) -> bool {
        !self.task.is_finished()
    }
}

impl Drop for BackgroundRefresh {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Random jitter in `[0, max]`, from the system's random source.
fn jitter(max: Duration) -> Duration {
    let mut bytes = [0u8; 8];
    if aws_lc_rs::rand::fill(&mut bytes).is_err() {
        return Duration::ZERO;
    }
    let fraction = u64::from_le_bytes(bytes) as f64 / u64::MAX as f64;
    max.mul_f64(fraction)
}

/// How long to wait before renewing `result`: until shortly before its
/// `refresh_on`, or before the cache stops serving it.
fn wait_before_renewing(result: &AuthenticationResult, now: SystemTime) -> Duration {
    let due = result
        .refresh_on
        .unwrap_or_else(|| result.expires_on - Duration::from_secs(EXPIRY_MARGIN_SECS));
    let Ok(left) = due.duration_since(now) else {
        return Duration::ZERO;
    };
    // Up to a tenth of the time left, at most a minute, comes off.
    left.saturating_sub(jitter((left / 10).min(MAX_JITTER)))
}

/// The wait after `failures` failed refreshes in a row: doubling, capped,
/// with up to half of it as jitter.
fn backoff(failures: u32) -> Duration {
    let base = FIRST_RETRY
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1)))
        .min(MAX_RETRY);
    base / 2 + jitter(base / 2)
}

impl ConfidentialClientApplication {
    /// Keeps this application's token for `scopes` fresh in the background
    /// (see [the module](crate::BackgroundRefresh)): gets it now (from the
    /// cache or the identity provider), then renews it before it is due,
    /// until the returned handle is dropped. Callers keep calling
    /// [`acquire_token_for_client`](Self::acquire_token_for_client), which
    /// then finds a fresh token in the cache.
    ///
    /// Must be called within a tokio runtime; fails with
    /// [`Error::InvalidArgument`] for scopes the flow refuses, and with the
    /// first acquisition's error.
    pub async fn refresh_in_background<I, S>(
        &self,
        scopes: I,
        options: &ClientCredentialsOptions,
    ) -> Result<BackgroundRefresh>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let scopes: Vec<String> = scopes.into_iter().map(|s| s.as_ref().to_owned()).collect();
        let first = self.acquire_token_for_client_with(&scopes, options).await?;
        let handle = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::InvalidArgument("background refresh needs a tokio runtime".into()))?;
        let (app, options) = (self.clone(), options.clone());
        let task = handle.spawn(async move {
            let mut wait = wait_before_renewing(&first, SystemTime::now());
            let mut failures = 0u32;
            loop {
                tokio::time::sleep(wait).await;
                match client_credentials::renew(&app.core, &app.kind.credential, &scopes, &options).await {
                    Ok(result) => {
                        failures = 0;
                        tracing::debug!(client_id = %app.core.client_id, "background refresh renewed the token");
                        wait = wait_before_renewing(&result, SystemTime::now());
                    }
                    Err(e) => {
                        failures = failures.saturating_add(1);
                        wait = backoff(failures);
                        tracing::warn!(
                            client_id = %app.core.client_id,
                            error = %e,
                            failures,
                            retry_in_ms = wait.as_millis() as u64,
                            "background refresh failed; the cached token is served while it is valid"
                        );
                    }
                }
            }
        });
        Ok(BackgroundRefresh { task })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_its_cap_with_jitter_below_it() {
        for (failures, base) in [(1, 1), (2, 2), (3, 4), (9, 256), (10, 300), (40, 300)] {
            let wait = backoff(failures);
            let base = Duration::from_secs(base);
            assert!(wait >= base / 2 && wait <= base, "{failures}: {wait:?}");
        }
    }

    #[test]
    fn jitter_stays_within_its_bound() {
        for _ in 0..100 {
            assert!(jitter(Duration::from_secs(60)) <= Duration::from_secs(60));
        }
        assert_eq!(jitter(Duration::ZERO), Duration::ZERO);
    }
}
