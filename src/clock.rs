//! The one seam for wall-clock time, so tests can reason about certificate expiry.

use std::time::{SystemTime, UNIX_EPOCH};

/// The current wall-clock time. Everything that needs "now" as a date calls this.
pub fn now() -> SystemTime {
    #[allow(clippy::disallowed_methods)]
    SystemTime::now()
}

/// First second of the year 10000, which humantime cannot format.
const YEAR_10000: u64 = 253_402_300_800;

/// RFC 3339 timestamp (UTC, seconds) of `t`. Times before 1970 (a certificate's UTCTime
/// 50..69 means 1950..1969) and after 9999 are formatted too: humantime panics on them.
pub fn rfc3339(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) if d.as_secs() < YEAR_10000 => humantime::format_rfc3339_seconds(t).to_string(),
        Ok(d) => civil(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)),
        Err(e) => {
            let d = e.duration();
            let whole = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
            // Round down, as for times after the epoch.
            civil(-whole - i64::from(d.subsec_nanos() > 0))
        }
    }
}

/// RFC 3339 timestamp (UTC) of `t` with milliseconds, for times that must be told apart within
/// a second; outside 1970..9999 as [`rfc3339`].
pub fn rfc3339_millis(t: SystemTime) -> String {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) if d.as_secs() < YEAR_10000 => humantime::format_rfc3339_millis(t).to_string(),
        _ => rfc3339(t),
    }
}

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ` (proleptic Gregorian; Howard Hinnant's
/// civil_from_days).
fn civil(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    )
}

/// Parses an RFC 3339 timestamp as `rfc3339` writes it.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn before_the_epoch_and_after_9999() {
        let before = |s: u64| UNIX_EPOCH - Duration::from_secs(s);
        assert_eq!(rfc3339(before(1)), "1969-12-31T23:59:59Z");
        assert_eq!(rfc3339(before(631_152_000)), "1950-01-01T00:00:00Z");
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_millis(1)),
            "1969-12-31T23:59:59Z"
        );
        let after = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        assert_eq!(rfc3339(after(YEAR_10000)), "10000-01-01T00:00:00Z");
        // The normal range is humantime's, and civil() agrees with it.
        for s in [0u64, 951_782_400, 1_796_168_726, YEAR_10000 - 1] {
            let t = after(s);
            assert_eq!(rfc3339(t), civil(i64::try_from(s).unwrap_or(0)), "{s}");
        }
    }

    #[test]
    fn millis_within_range_and_seconds_outside() {
        let t = UNIX_EPOCH + Duration::from_millis(1_796_245_914_357);
        assert_eq!(rfc3339_millis(t), "2026-12-02T21:11:54.357Z");
        let far = UNIX_EPOCH + Duration::from_secs(YEAR_10000);
        assert_eq!(rfc3339_millis(far), "10000-01-01T00:00:00Z");
    }
}
