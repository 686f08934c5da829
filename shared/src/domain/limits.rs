//! The limits on one client (source address) across all phones, and the service-wide SMS budget.
//! They are fixed hourly windows, counted by conditional DynamoDB updates: a rolling window would
//! need a read before every write. The cost: a burst that straddles an hour boundary can get up to
//! twice a limit through within minutes, while every day still holds exactly 24 windows.
use rand::seq::index;

const HOUR: i64 = 3_600;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientLimits {
    /// Codes one client may have sent per hour, to any phones (`IP_MAX_SENDS_PER_HOUR`).
    pub sends_per_hour: u32,
    /// Wrong codes one client may make per hour, on any phones (`IP_MAX_FAILURES_PER_HOUR`).
    pub failures_per_hour: u32,
    /// Codes the clients of one address range (IPv4 /24, IPv6 /48) may have sent per hour
    /// together (`IP_RANGE_MAX_SENDS_PER_HOUR`).
    pub range_sends_per_hour: u32,
    /// Wrong codes the clients of one address range may make per hour together
    /// (`IP_RANGE_MAX_FAILURES_PER_HOUR`).
    pub range_failures_per_hour: u32,
    /// Codes sent per hour by the whole service (`SMS_BUDGET_PER_HOUR`).
    pub sms_budget_per_hour: u32,
    /// How many items the hour's SMS budget is split into (`SMS_BUDGET_SHARDS`, at most the
    /// budget): each send writes one of them, so none takes every send's write.
    pub sms_budget_shards: u32,
    /// How many shards one send tries before it is refused as over budget: not a setting; the
    /// tests raise it to the shard count to see the budget spent to the last code.
    pub sms_budget_tries: u32,
}

/// A range's default limits are this many times its addresses': a handful of people behind one
/// NAT or on one provider's block log in at once without noticing, while a crowd renting
/// addresses from one place is held to the same few times one address (README, Security notes).
pub const RANGE_FACTOR: u32 = 5;

/// The default `SMS_BUDGET_SHARDS` (or the budget, if smaller): 1,000 sends a second put about 31
/// writes a second on each, a third of the 100 the load model allows one item (README, Data model).
pub const DEFAULT_BUDGET_SHARDS: u32 = 32;

/// Shards one send tries: one alongside the client's counter, then up to three more, one after
/// another, only when the ones tried were full (near the end of a spent hour).
pub const BUDGET_TRIES: u32 = 4;

impl Default for ClientLimits {
    fn default() -> Self {
        Self {
            sends_per_hour: 10,
            failures_per_hour: 20,
            range_sends_per_hour: 10 * RANGE_FACTOR,
            range_failures_per_hour: 20 * RANGE_FACTOR,
            sms_budget_per_hour: 1_000,
            sms_budget_shards: DEFAULT_BUDGET_SHARDS,
            sms_budget_tries: BUDGET_TRIES,
        }
    }
}

/// A ceiling on a service-wide count per fixed window, split into `shards` items so that no item
/// takes every request's write: shard `i` holds at most [`Budget::shard_cap`], and the shard caps
/// add up to `cap` exactly. A request counts on one shard whose own count is under its cap (a
/// conditional write), so however many run in parallel, no shard passes its cap and the whole
/// never passes `cap`. The price: a request that finds the shards it tries full is refused while
/// others may still have room (see [`Budget::draw`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Names its items (`limit#<name>#<window start>#<shard>`), so budgets never share one.
    pub name: &'static str,
    /// The window's start (Unix seconds), part of every shard's key.
    pub start: i64,
    /// When the window's shards can go (DynamoDB TTL).
    pub forget_at: i64,
    pub cap: u32,
    /// 1 to `cap`: every shard can hold at least one.
    pub shards: u32,
    /// 1 to `shards`.
    pub tries: u32,
}

impl Budget {
    /// A budget of `cap` per clock hour; shards and tries are brought into their ranges.
    pub fn hourly(
        name: &'static str,
        window: &HourWindow,
        cap: u32,
        shards: u32,
        tries: u32,
    ) -> Self {
        let shards = shards.clamp(1, cap.max(1));
        Self {
            name,
            start: window.start,
            forget_at: window.forget_at(),
            cap,
            shards,
            tries: tries.clamp(1, shards),
        }
    }

    /// The service's SMS budget for the hour of `window`.
    pub fn sms(limits: &ClientLimits, window: &HourWindow) -> Self {
        Self::hourly(
            "budget",
            window,
            limits.sms_budget_per_hour,
            limits.sms_budget_shards,
            limits.sms_budget_tries,
        )
    }

    /// What shard `shard` may hold: `cap / shards`, and one more for the first `cap % shards`.
    pub fn shard_cap(&self, shard: u32) -> u32 {
        self.cap / self.shards + u32::from(shard < self.cap % self.shards)
    }

    /// The shards one request tries, in order: `tries` distinct ones at random, so requests
    /// spread evenly and a full shard is never tried twice by one request. With `tries` below
    /// `shards`, a request is refused when the ones it drew are full: when a fraction `f` of the
    /// shards is full, that happens with odds of about `f^tries`, so only the last sliver of the
    /// budget is refused early, and later requests still spend it.
    pub fn draw(&self) -> Vec<u32> {
        let mut rng = rand::rng();
        let shards = usize::try_from(self.shards).unwrap_or(usize::MAX);
        let tries = usize::try_from(self.tries).unwrap_or(usize::MAX);
        index::sample(&mut rng, shards, tries.min(shards))
            .into_iter()
            .filter_map(|i| u32::try_from(i).ok())
            .collect()
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

    #[test]
    fn a_budgets_shard_caps_add_up_to_the_budget_and_differ_by_one_at_most() {
        let window = HourWindow::at(1_800_000_000);
        for (cap, shards) in [
            (1_000, 32),
            (10, 3),
            (5, 5),
            (7, 1),
            (3, 32),
            (1_000_000, 1_000),
        ] {
            let budget = Budget::hourly("budget", &window, cap, shards, BUDGET_TRIES);
            let caps: Vec<u32> = (0..budget.shards).map(|i| budget.shard_cap(i)).collect();
            assert_eq!(caps.iter().sum::<u32>(), cap, "{cap}/{shards}");
            let (lo, hi) = (caps.iter().min().unwrap(), caps.iter().max().unwrap());
            assert!(*lo >= 1 && hi - lo <= 1, "{cap}/{shards}: {caps:?}");
        }
    }

    #[test]
    fn a_draw_names_distinct_shards_and_as_many_as_the_tries() {
        let window = HourWindow::at(1_800_000_000);
        let budget = Budget::hourly("budget", &window, 1_000, 32, 4);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let draw = budget.draw();
            assert_eq!(draw.len(), 4);
            assert_eq!(
                draw.iter().collect::<std::collections::HashSet<_>>().len(),
                4
            );
            assert!(draw.iter().all(|&i| i < 32));
            seen.extend(draw);
        }
        // Every shard gets drawn: requests spread over all of them.
        assert_eq!(seen.len(), 32);
        let all = Budget::hourly("budget", &window, 10, 3, 99);
        assert_eq!((all.shards, all.tries), (3, 3));
        assert_eq!(all.draw().len(), 3);
    }
}
