//! Wall-clock time for the use cases, read in one place so tests can move it forward.
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::macros::format_description;

/// The system clock plus an offset that is zero in production and advanced by tests that need
/// a code to expire or a window to pass without sleeping.
#[derive(Debug, Default)]
pub struct Clock {
    offset_ms: AtomicI64,
}

impl Clock {
    pub fn now_ms(&self) -> i64 {
        let since_epoch = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
            + self.offset_ms.load(Ordering::Relaxed)
    }

    pub fn now_s(&self) -> i64 {
        self.now_ms().div_euclid(1_000)
    }

    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        self.offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

/// Unix milliseconds as RFC 3339 in UTC with exactly three fractional digits, e.g.
/// `2026-11-23T03:31:05.120Z`, so that two times compare correctly as strings too.
pub fn rfc3339(ms: i64) -> String {
    let Ok(at) = OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000) else {
        return String::new();
    };
    at.format(MILLIS).unwrap_or_default()
}

const MILLIS: &[BorrowedFormatItem<'_>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_render_as_utc_rfc3339() {
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40.123Z");
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(rfc3339(1_795_000_000_120), "2026-11-18T11:06:40.120Z");
        assert!(rfc3339(1_795_000_000_100) < rfc3339(1_795_000_000_120));
    }

    #[test]
    fn advancing_moves_now_forward() {
        let clock = Clock::default();
        let before = clock.now_s();
        clock.advance(Duration::from_secs(600));
        assert!(clock.now_s() >= before + 600);
    }
}
