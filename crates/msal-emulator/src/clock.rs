//! Wall-clock time as the protocol needs it: Unix seconds for JWT claims and
//! Entra's `YYYY-MM-DD HH:MM:SSZ` timestamps for error bodies.

use time::OffsetDateTime;

/// Seconds since the Unix epoch, now.
pub(crate) fn unix_now() -> u64 {
    // A clock before 1970 is not worth an error path; 0 keeps tokens parseable.
    u64::try_from(OffsetDateTime::now_utc().unix_timestamp()).unwrap_or(0)
}

/// Now, formatted as Entra formats `timestamp` in error responses.
pub(crate) fn entra_timestamp() -> String {
    format_entra(OffsetDateTime::now_utc())
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
    fn formats_like_entra() {
        let t = OffsetDateTime::from_unix_timestamp(1_452_304_932).unwrap();
        assert_eq!(format_entra(t), "2016-01-09 02:02:12Z");
    }
}
