//! Wall-clock time as the token cache counts it: whole seconds since the Unix epoch.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub(crate) fn now_epoch() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The last second of year 9999: later instants (a hostile cache file's
/// `expires_on`, a token response's huge `expires_in`) are read as it, which
/// every platform's `SystemTime` can hold.
pub(crate) const MAX_EPOCH: u64 = 253_402_300_799;

/// The `SystemTime` for an epoch second count, saturating at [`MAX_EPOCH`]
/// (`UNIX_EPOCH + 2^63 s` would panic).
pub(crate) fn from_epoch(seconds: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(seconds.min(MAX_EPOCH))
}

/// `now + seconds`, saturating at [`MAX_EPOCH`]: lifetimes come from the network.
pub(crate) fn epoch_after(now: u64, seconds: u64) -> u64 {
    now.saturating_add(seconds).min(MAX_EPOCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_from_outside_saturate_instead_of_panicking() {
        for seconds in [u64::MAX, 1 << 63, 100_000_000_000_000_000, MAX_EPOCH + 1] {
            assert_eq!(from_epoch(seconds), from_epoch(MAX_EPOCH));
            assert_eq!(epoch_after(now_epoch(), seconds), MAX_EPOCH);
        }
        assert_eq!(epoch_after(10, 5), 15);
        assert_eq!(from_epoch(0), UNIX_EPOCH);
    }
}
