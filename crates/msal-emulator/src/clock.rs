//! Wall-clock time as the protocol needs it: Unix seconds for JWT claims and
//! Entra's `YYYY-MM-DD HH:MM:SSZ` timestamps for error bodies; and the
//! emulator's own [`Clock`], which tests can move forward to expire codes,
//! sessions and refresh tokens without waiting.

use std::sync::atomic::{AtomicU64, Ordering};

use time::OffsetDateTime;

/// The emulator's notion of "now": wall-clock time plus an offset that only
/// grows, so expiry can be tested without sleeping.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset_secs: AtomicU64,
}

impl Clock {
    /// Unix seconds, as the emulator sees them.
    pub(crate) fn now(&self) -> u64 {
        unix_now().saturating_add(self.offset_secs.load(Ordering::Relaxed))
    }

    /// Milliseconds since the epoch, as the emulator sees them: for rate
    /// limits finer than a second (device code polling).
    pub(crate) fn now_millis(&self) -> u64 {
        let wall = u64::try_from(OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000).unwrap_or(0);
        wall.saturating_add(self.offset_secs.load(Ordering::Relaxed).saturating_mul(1000))
    }

    /// Moves the clock forward by `secs`.
    pub(crate) fn advance(&self, secs: u64) {
        // fetch_update with saturation: a huge advance must not wrap to the past.
        let _ = self
            .offset_secs
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| {
                Some(o.saturating_add(secs))
            });
    }
}

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    // A clock before 1970 is not worth an error path; 0 keeps tokens parseable.
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// Now, formatted as Entra formats `timestamp` in error responses.
pub(crate) fn entra_timestamp() -> String {
    format_entra(OffsetDateTime::now_utc())
}

/// Unix seconds formatted as Entra formats times in messages.
pub(crate) fn entra_time(unix: u64) -> String {
    let t = i64::try_from(unix)
        .ok()
        .and_then(|u| OffsetDateTime::from_unix_timestamp(u).ok())
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format_entra(t)
}

fn format_entra(t: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clock_advances() {
        let clock = Clock::default();
        let before = clock.now();
        clock.advance(600);
        assert!(clock.now() >= before + 600);
        clock.advance(u64::MAX);
        assert_eq!(clock.now(), u64::MAX);
    }

    #[test]
    fn formats_like_entra() {
        let t = OffsetDateTime::from_unix_timestamp(1_452_304_932).unwrap();
        assert_eq!(format_entra(t), "2016-01-09 02:02:12Z");
        assert_eq!(entra_time(1_452_304_932), "2016-01-09 02:02:12Z");
    }
}
