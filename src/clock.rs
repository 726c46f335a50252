//! The one seam for wall-clock time, so tests can reason about certificate expiry.

use std::time::SystemTime;

/// The current wall-clock time. Everything that needs "now" as a date calls this.
pub fn now() -> SystemTime {
    #[allow(clippy::disallowed_methods)]
    SystemTime::now()
}

/// RFC 3339 timestamp (UTC, seconds) of `t`.
pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// Parses an RFC 3339 timestamp as `rfc3339` writes it.
pub fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    humantime::parse_rfc3339_weak(s).ok()
}
