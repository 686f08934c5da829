//! The use cases, one module per operation: they take domain values, call the store and the
//! domain rules, and return domain results. They know nothing of HTTP.
pub mod login;
pub mod profile;
pub mod send_code;

use std::future::Future;
use std::time::Duration;

use rand::Rng;

use crate::domain::Quota;
use crate::error::{Error, Result};

/// A use case's result and the client's standing under the limit it counted against, which the
/// answer reports whether the request succeeded or not (absent where the request was refused
/// before the client's counter was read).
pub struct Limited<T> {
    pub result: Result<T>,
    pub quota: Option<Quota>,
}

/// How often a use case re-reads and retries after losing an optimistic-lock or transaction race.
const RACE_RETRIES: usize = 6;

/// Runs `round` (read, decide, conditional write) until it returns `Some`. `None` means the
/// write lost a race: after a short random pause, so contenders spread out, the round runs again
/// on fresh reads. After [`RACE_RETRIES`] lost rounds the request is answered as busy (503).
pub async fn retry_on_conflict<T, F, Fut>(what: &'static str, mut round: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>>>,
{
    for attempt in 0..RACE_RETRIES {
        if let Some(done) = round().await? {
            return Ok(done);
        }
        let cap = 10u64 << attempt.min(4);
        let ms = rand::rng().random_range(1..=cap);
        tokio::time::sleep(Duration::from_millis(ms)).await;
    }
    Err(Error::contention(what))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn a_round_that_keeps_losing_ends_as_unavailable() {
        let rounds = AtomicUsize::new(0);
        let result: Result<()> = retry_on_conflict("test", || async {
            rounds.fetch_add(1, Ordering::Relaxed);
            Ok(None)
        })
        .await;
        assert!(matches!(result, Err(Error::Unavailable(_))));
        assert_eq!(rounds.load(Ordering::Relaxed), RACE_RETRIES);
    }

    #[tokio::test]
    async fn a_round_that_wins_later_returns_its_value_and_errors_stop_at_once() {
        let rounds = AtomicUsize::new(0);
        let won = retry_on_conflict("test", || async {
            let n = rounds.fetch_add(1, Ordering::Relaxed);
            Ok((n == 2).then_some(n))
        })
        .await;
        assert_eq!(won.unwrap(), 2);
        let failed: Result<()> =
            retry_on_conflict("test", || async { Err(Error::InvalidPhone) }).await;
        assert!(matches!(failed, Err(Error::InvalidPhone)));
    }
}
