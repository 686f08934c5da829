//! The limits on one client (source address) across all phones, and the service-wide SMS budget.
//! They are fixed hourly windows, counted by one conditional DynamoDB update each: a rolling window
//! would need a read before every write. The cost: a burst that straddles an hour boundary can get
//! up to twice a limit through within minutes, while every day still holds exactly 24 windows.

const HOUR: i64 = 3_600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// Codes one client may have sent per hour, to any phones (`IP_MAX_SENDS_PER_HOUR`).
    pub sends_per_hour: u32,
    /// Wrong codes one client may make per hour, on any phones (`IP_MAX_FAILURES_PER_HOUR`).
    pub failures_per_hour: u32,
    /// Codes sent per hour by the whole service (`SMS_BUDGET_PER_HOUR`).
    pub sms_budget_per_hour: u32,
}

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            sends_per_hour: 10,
            failures_per_hour: 20,
            sms_budget_per_hour: 1_000,
        }
    }
}

/// The hour a moment falls in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HourWindow {
    /// Unix seconds of the hour's start: part of the counter's key.
    pub start: i64,
    /// Seconds left in it, at least 1: the Retry-After of a refusal.
    pub ends_in: i64,
}

impl HourWindow {
    pub fn at(now: i64) -> Self {
        let start = now - now.rem_euclid(HOUR);
        Self {
            start,
            ends_in: (start + HOUR - now).max(1),
        }
    }

    /// When its counters can go: an hour after it ended, so a late request never reads a
    /// counter that DynamoDB's TTL has already removed.
    pub fn forget_at(&self) -> i64 {
        self.start + 2 * HOUR
    }
}

/// One client's standing under a limit, for the `RateLimit` and `RateLimit-Policy` headers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Quota {
    /// The policy's name in the headers: `sends` or `failures`.
    pub name: &'static str,
    pub limit: u32,
    pub remaining: u32,
    pub reset_in: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hour_window_starts_on_the_hour_and_says_how_much_is_left() {
        let w = HourWindow::at(1_800_000_000);
        assert_eq!(w.start % 3_600, 0);
        assert_eq!(w.start + 3_600 - 1_800_000_000, w.ends_in);
        assert_eq!(
            HourWindow::at(w.start),
            HourWindow {
                start: w.start,
                ends_in: 3_600
            }
        );
        assert_eq!(HourWindow::at(w.start + 3_599).ends_in, 1);
        assert_eq!(w.forget_at(), w.start + 7_200);
    }
}
