//! Whether Redis is reachable, and when to try it again: an outage is
//! logged once (WARN) when it starts and once (INFO) when it ends; in
//! between, callers skip Redis at once and a single caller at a time probes
//! it, each probe further apart (exponential backoff with jitter, so a farm
//! of instances does not reconnect in step).

use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// The longest wait between two probes, whatever the configuration says.
pub(super) const MAX_BACKOFF_CAP: Duration = Duration::from_secs(3600);

/// The outage state of one store.
pub(super) struct Health {
    state: Mutex<Option<Outage>>,
    initial_backoff: Duration,
    max_backoff: Duration,
}

struct Outage {
    since: Instant,
    failures: u32,
    retry_at: Instant,
}

impl Health {
    /// Backoffs are capped at [`MAX_BACKOFF_CAP`] (so `Instant` arithmetic cannot overflow).
    pub(super) fn new(initial_backoff: Duration, max_backoff: Duration) -> Self {
        let initial_backoff = initial_backoff.min(MAX_BACKOFF_CAP);
        Self {
            state: Mutex::new(None),
            initial_backoff,
            max_backoff: max_backoff.clamp(initial_backoff, MAX_BACKOFF_CAP),
        }
    }

    /// Whether an outage is going on.
    pub(super) fn is_down(&self) -> bool {
        self.lock().is_some()
    }

    /// During an outage: whether the caller is the one to probe Redis now.
    /// Claiming pushes the next probe back, so concurrent callers do not
    /// probe together. Outside an outage: always true.
    pub(super) fn claim_probe(&self, now: Instant) -> bool {
        let mut state = self.lock();
        match state.as_mut() {
            None => true,
            Some(outage) if now >= outage.retry_at => {
                outage.retry_at = now + self.delay(outage.failures);
                true
            }
            Some(_) => false,
        }
    }

    /// Failures in the current outage (0 outside one).
    #[cfg(test)]
    pub(super) fn failures(&self) -> u32 {
        self.lock().as_ref().map_or(0, |outage| outage.failures)
    }

    /// Records a failed connection or command; the first of an outage is
    /// logged as a warning, later ones only at debug level.
    pub(super) fn failed(&self, now: Instant, error: &dyn std::fmt::Display) {
        let mut state = self.lock();
        match state.as_mut() {
            None => {
                *state = Some(Outage {
                    since: now,
                    failures: 1,
                    retry_at: now + self.delay(1),
                });
                drop(state);
                tracing::warn!(
                    error = %error,
                    "Redis is unreachable: the distributed token cache serves from memory (L1) and the \
                     identity provider, and reconnects in the background with backoff"
                );
            }
            Some(outage) => {
                outage.failures = outage.failures.saturating_add(1);
                outage.retry_at = now + self.delay(outage.failures);
                let failures = outage.failures;
                drop(state);
                tracing::debug!(error = %error, failures, "Redis is still unreachable");
            }
        }
    }

    /// Records a command Redis answered; ends an outage (logged once).
    pub(super) fn succeeded(&self, now: Instant) {
        let ended = self.lock().take();
        if let Some(outage) = ended {
            tracing::info!(
                after = ?now.saturating_duration_since(outage.since),
                "Redis is reachable again: the distributed token cache (L2) resumes"
            );
        }
    }

    /// The wait after `failures` consecutive failures: the initial backoff
    /// doubled each time up to the maximum, then drawn between half of it
    /// and all of it.
    fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        let full = self
            .initial_backoff
            .saturating_mul(1u32 << doublings)
            .min(self.max_backoff);
        Duration::try_from_secs_f64(full.as_secs_f64() * (0.5 + 0.5 * jitter())).unwrap_or(full)
    }

    fn lock(&self) -> MutexGuard<'_, Option<Outage>> {
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A uniform draw in [0, 1] from the system's random source (0.5 if it fails).
fn jitter() -> f64 {
    let mut bytes = [0u8; 2];
    match aws_lc_rs::rand::fill(&mut bytes) {
        Ok(()) => f64::from(u16::from_le_bytes(bytes)) / f64::from(u16::MAX),
        Err(_) => 0.5,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const INITIAL: Duration = Duration::from_millis(100);
    const MAX: Duration = Duration::from_secs(3);

    fn retry_at(health: &Health) -> Instant {
        health.lock().as_ref().unwrap().retry_at
    }

    #[test]
    fn probes_back_off_exponentially_up_to_the_maximum() {
        let health = Health::new(INITIAL, MAX);
        let start = Instant::now();
        assert!(!health.is_down());
        assert!(health.claim_probe(start), "no outage: always go");
        health.failed(start, &"refused");
        assert!(health.is_down());
        let mut now = start;
        let mut expected = INITIAL;
        for _ in 0..10 {
            let wait = retry_at(&health) - now;
            // Half to all of the doubled wait (a microsecond of float rounding aside).
            let slack = Duration::from_micros(1);
            assert!(
                wait + slack >= expected / 2 && wait <= expected + slack,
                "{wait:?} for {expected:?}"
            );
            assert!(!health.claim_probe(now), "too early");
            now = retry_at(&health);
            assert!(health.claim_probe(now), "due");
            assert!(!health.claim_probe(now), "one prober at a time");
            health.failed(now, &"refused");
            expected = (expected * 2).min(MAX);
        }
        assert_eq!(expected, MAX);
        health.succeeded(now);
        assert!(!health.is_down());
        assert!(health.claim_probe(now));
        // A new outage starts from the initial backoff again.
        health.failed(now, &"refused");
        assert!(retry_at(&health) - now <= INITIAL);
    }

    #[test]
    fn huge_failure_counts_do_not_overflow() {
        let health = Health::new(INITIAL, MAX);
        assert!(health.delay(u32::MAX) <= MAX);
        assert!(health.delay(40) >= MAX / 2);
    }
}
