//! The limits on one client (source address) and its address range across all phones, and the
//! service-wide SMS budget, an hour's and a day's, each split between the phones that already
//! have an account and new numbers. They are fixed windows (clock hours, UTC days), counted by
//! conditional DynamoDB updates: a rolling window would need a read before every write. The cost:
//! a burst that straddles an hour boundary can get up to twice a limit through within minutes,
//! while every day still holds exactly 24 windows.
use rand::seq::index;

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

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
    /// Codes sent per UTC day by the whole service (`SMS_BUDGET_PER_DAY`).
    pub sms_budget_per_day: u32,
    /// The share of each budget kept for phones that already have an account, in percent
    /// (`SMS_BUDGET_RETURNING_PERCENT`); new numbers get the rest.
    pub sms_budget_returning_percent: u32,
    /// How many items the hour's SMS budget is split into (`SMS_BUDGET_SHARDS`, at most the
    /// budget): each send writes one of them, so none takes every send's write.
    pub sms_budget_shards: u32,
    /// How many shards one send tries before it is refused as over budget: not a setting; the
    /// tests raise it to the shard count to see the budget spent to the last code.
    pub sms_budget_tries: u32,
}

/// A range's default limits are this many times its addresses': a handful of people behind one
/// NAT or on one provider's block log in at once without noticing, while a crowd renting
/// addresses from one place is held to the same few times one address (docs/security.md).
pub const RANGE_FACTOR: u32 = 5;

/// The default daily budget is this many hours of the hourly one: 24 hours / 3, so an attack on the
/// new numbers' share cannot run at full rate all day, while a day of real traffic, which peaks
/// at a few times its average hour, fits.
pub const DAILY_BUDGET_HOURS: u32 = 8;

/// The default share of each budget kept for returning phones: half.
pub const DEFAULT_RETURNING_PERCENT: u32 = 50;

/// The default `SMS_BUDGET_SHARDS` (or the budget, if smaller): 1,000 sends a second put about 31
/// writes a second on each, a third of the 100 the load model allows one item (docs/load-model.md).
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
            sms_budget_per_day: 1_000 * DAILY_BUDGET_HOURS,
            sms_budget_returning_percent: DEFAULT_RETURNING_PERCENT,
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

/// Whom a code goes to, as the SMS budget tells them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recipient {
    /// The phone has an account already (its uniques claim exists).
    Returning,
    /// A number with no account yet.
    New,
}

/// The levels of the SMS budget a send is counted on, in this order in
/// [`ClientLimits::sms_levels`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BudgetLevel {
    Hour,
    Day,
}

impl BudgetLevel {
    pub const ALL: [Self; 2] = [Self::Hour, Self::Day];
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
        Self::of(name, (window.start, window.forget_at()), cap, shards, tries)
    }

    /// A budget of `cap` per UTC day.
    pub fn daily(name: &'static str, day: &DayWindow, cap: u32, shards: u32, tries: u32) -> Self {
        Self::of(name, (day.start, day.forget_at()), cap, shards, tries)
    }

    fn of(
        name: &'static str,
        (start, forget_at): (i64, i64),
        cap: u32,
        shards: u32,
        tries: u32,
    ) -> Self {
        let shards = shards.clamp(1, cap.max(1));
        Self {
            name,
            start,
            forget_at,
            cap,
            shards,
            tries: tries.clamp(1, shards),
        }
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

impl ClientLimits {
    /// `cap` split into the returning phones' share and the new numbers': (returning, new).
    pub fn split(&self, cap: u32) -> (u32, u32) {
        let returning =
            u64::from(cap) * u64::from(self.sms_budget_returning_percent.min(100)) / 100;
        let returning = u32::try_from(returning).unwrap_or(cap);
        (returning, cap - returning)
    }

    /// The budgets a send to `to` is counted on: one level per [`BudgetLevel`], each the budgets
    /// it may take from, in order. A returning phone takes from its own share first and then
    /// from the new numbers' (so nobody who logs in again is refused while any of the budget is
    /// left), a new number only from its own: pumping codes to new numbers can spend their share
    /// and no more. A share of nothing is left out, and a level with no budget has no room.
    pub fn sms_levels(
        &self,
        to: Recipient,
        hour: &HourWindow,
        day: &DayWindow,
    ) -> Vec<Vec<Budget>> {
        let (shards, tries) = (self.sms_budget_shards, self.sms_budget_tries);
        let (hour_returning, hour_new) = self.split(self.sms_budget_per_hour);
        let (day_returning, day_new) = self.split(self.sms_budget_per_day);
        let hourly = |name, cap| Budget::hourly(name, hour, cap, shards, tries);
        let daily = |name, cap| Budget::daily(name, day, cap, shards, tries);
        let levels = [
            (
                hourly("budget-returning", hour_returning),
                hourly("budget-new", hour_new),
            ),
            (
                daily("day-returning", day_returning),
                daily("day-new", day_new),
            ),
        ];
        levels
            .into_iter()
            .map(|(returning, new)| {
                let order = match to {
                    Recipient::Returning => vec![returning, new],
                    Recipient::New => vec![new],
                };
                order.into_iter().filter(|b| b.cap > 0).collect()
            })
            .collect()
    }
}

/// The UTC day a moment falls in: the daily budget's window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayWindow {
    /// Unix seconds of the day's start (00:00 UTC): part of the budget's keys.
    pub start: i64,
    /// Seconds left in it, at least 1: the Retry-After of a refusal.
    pub ends_in: i64,
}

impl DayWindow {
    pub fn at(now: i64) -> Self {
        let start = now - now.rem_euclid(DAY);
        Self {
            start,
            ends_in: (start + DAY - now).max(1),
        }
    }

    /// When its counters can go: an hour after it ended, as an hour's.
    pub fn forget_at(&self) -> i64 {
        self.start + DAY + HOUR
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
    fn a_day_window_starts_at_midnight_utc_and_says_how_much_is_left() {
        let d = DayWindow::at(1_800_000_000);
        assert_eq!(d.start % 86_400, 0);
        assert_eq!(d.start + 86_400 - 1_800_000_000, d.ends_in);
        assert_eq!(DayWindow::at(d.start + 86_399).ends_in, 1);
        assert_eq!(d.forget_at(), d.start + 90_000);
    }

    #[test]
    fn the_shares_add_up_to_the_budget_and_default_to_half_each() {
        let mut limits = ClientLimits::default();
        assert_eq!(limits.split(1_000), (500, 500));
        assert_eq!(limits.split(1), (0, 1));
        assert_eq!(limits.split(7), (3, 4));
        assert_eq!(limits.sms_budget_per_day, 8_000);
        for percent in [0, 1, 33, 99, 100] {
            limits.sms_budget_returning_percent = percent;
            for cap in [1, 3, 1_000, 10_000_000] {
                let (returning, new) = limits.split(cap);
                assert_eq!(returning + new, cap, "{percent}% of {cap}");
                assert_eq!(
                    u64::from(returning),
                    u64::from(cap) * u64::from(percent) / 100
                );
            }
        }
    }

    #[test]
    fn a_returning_phone_spends_its_share_then_the_new_numbers_and_a_new_number_only_its_own() {
        let limits = ClientLimits::default();
        let (hour, day) = (HourWindow::at(1_800_000_000), DayWindow::at(1_800_000_000));
        let names = |to| {
            limits
                .sms_levels(to, &hour, &day)
                .iter()
                .map(|level| level.iter().map(|b| (b.name, b.cap)).collect::<Vec<_>>())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(Recipient::Returning),
            [
                vec![("budget-returning", 500), ("budget-new", 500)],
                vec![("day-returning", 4_000), ("day-new", 4_000)],
            ]
        );
        assert_eq!(
            names(Recipient::New),
            [vec![("budget-new", 500)], vec![("day-new", 4_000)]]
        );
        let levels = limits.sms_levels(Recipient::New, &hour, &day);
        assert_eq!(
            (levels[0][0].start, levels[1][0].start),
            (hour.start, day.start)
        );
        assert_eq!(levels[1][0].forget_at, day.forget_at());
        // All for returning phones: new numbers have no room at all.
        let all = ClientLimits {
            sms_budget_returning_percent: 100,
            ..ClientLimits::default()
        };
        assert!(
            all.sms_levels(Recipient::New, &hour, &day)
                .iter()
                .all(Vec::is_empty)
        );
        assert_eq!(
            all.sms_levels(Recipient::Returning, &hour, &day)[0].len(),
            1
        );
        // A share too small for one code is left out rather than kept at zero.
        let tiny = ClientLimits {
            sms_budget_per_hour: 1,
            ..ClientLimits::default()
        };
        assert_eq!(
            tiny.sms_levels(Recipient::Returning, &hour, &day)[0]
                .iter()
                .map(|b| b.name)
                .collect::<Vec<_>>(),
            ["budget-new"]
        );
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
