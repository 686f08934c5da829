//! The hourly counters behind the per-client and per-range limits and the SMS budget, in the otp
//! table. Each is moved by conditional writes, so parallel requests cannot slip past a limit:
//! DynamoDB applies writes to one item one at a time and checks the condition against the value
//! each one finds. No counter is one item every request writes: a client's and a range's counters
//! are items of their own, and a service-wide budget is split into shards ([`Budget`]).
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::ReturnValue;
use futures_util::future::join_all;

use super::items::{
    budget_shard_key, client_sends_key, count, number_value, range_sends_key, string_value,
};
use super::{Store, StoreError};
use crate::domain::{Budget, Caller, HourWindow};

/// What one send is counted on: the caller's address and range for the hour, and each level of
/// the SMS budget (the hour's, the day's), where it takes one from the first of the level's
/// budgets with room.
#[derive(Debug, Clone)]
pub struct SendCounters<'a> {
    pub caller: &'a Caller,
    pub window: HourWindow,
    pub client_limit: u32,
    pub range_limit: u32,
    /// Each level's budgets, in the order they are tried. A level with none has no room.
    pub levels: Vec<Vec<Budget>>,
}

/// What counting one send did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendCount {
    /// Counted against the address and the range, and on one shard of each budget level.
    Counted(CountedSend),
    /// The address had used its hourly sends; nothing stays counted.
    ClientFull,
    /// The address's range had used its hourly sends; nothing stays counted.
    RangeFull,
    /// The shards tried of every budget of this level (its index in
    /// [`SendCounters::levels`]) were full; nothing stays counted.
    BudgetSpent { level: usize },
}

/// A counted send: what to give back if its code is never delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedSend {
    /// The address's sends this hour, this one included.
    pub by_client: u32,
    /// The range's sends this hour, this one included.
    pub by_range: u32,
    /// The budget and shard each level was counted on, in level order.
    pub spent: Vec<(Budget, u32)>,
}

const SENDS: &str = "sends";

const COUNT: &str = "count";

/// One level's budgets, each with the shards it tries, in order.
type Draws = Vec<(Budget, Vec<u32>)>;

impl Store {
    /// Counts one send against the caller's address and range for the hour and on each level of
    /// the SMS budget. The two counters and each level's first shard are written at once (one
    /// round trip); only when a level's first shard is full are its further shards, then its
    /// further budgets, tried one after another (the levels side by side). Whatever refuses, the
    /// rest is given back, so a refused send stays counted nowhere (best effort: a give-back that
    /// fails errs on the safe side). Not idempotent: an SDK retry of an update whose reply was lost
    /// counts twice, which errs on the safe side too.
    pub async fn count_send(&self, counters: &SendCounters<'_>) -> Result<SendCount, StoreError> {
        let window = &counters.window;
        let caller = counters.caller;
        let draws: Vec<Draws> = counters
            .levels
            .iter()
            .map(|budgets| {
                budgets
                    .iter()
                    .filter(|b| b.cap > 0)
                    .map(|b| (*b, b.draw()))
                    .collect()
            })
            .collect();
        let client_key = client_sends_key(&caller.client, window);
        let range_key = range_sends_key(&caller.range, window);
        let (mine, theirs, firsts) = tokio::join!(
            self.count_up(&client_key, SENDS, counters.client_limit, window),
            self.count_up(&range_key, SENDS, counters.range_limit, window),
            join_all(draws.iter().map(|level| self.take_first(level))),
        );
        let counted = matches!((&mine, &theirs), (Ok(Some(_)), Ok(Some(_))));
        // The caller counted and some level's first shard was full: the rest of that level.
        let taken: Vec<Result<Option<(Budget, u32)>, StoreError>> =
            join_all(draws.iter().zip(firsts).map(|(level, first)| async move {
                match first {
                    Ok(None) if counted => self.take_rest(level).await,
                    other => other,
                }
            }))
            .await;
        if let (Ok(Some(by_client)), Ok(Some(by_range))) = (&mine, &theirs)
            && taken.iter().all(|t| matches!(t, Ok(Some(_))))
        {
            let spent = taken.into_iter().filter_map(|t| t.ok().flatten()).collect();
            return Ok(SendCount::Counted(CountedSend {
                by_client: *by_client,
                by_range: *by_range,
                spent,
            }));
        }
        // Refused somewhere: give back whatever did count. A counter whose write failed may or
        // may not have counted: left as it is, on the safe side.
        let client_back = matches!(mine, Ok(Some(_))).then_some(&client_key);
        let range_back = matches!(theirs, Ok(Some(_))).then_some(&range_key);
        let budgets_back = taken
            .iter()
            .filter_map(|t| t.as_ref().ok().copied().flatten());
        let backs = client_back
            .into_iter()
            .chain(range_back)
            .map(|key| self.give_back_logged(key, SENDS, "caller"))
            .collect::<Vec<_>>();
        let shard_backs = budgets_back
            .map(|(budget, shard)| async move {
                let key = budget_shard_key(&budget, shard);
                self.give_back_logged(&key, COUNT, budget.name).await;
            })
            .collect::<Vec<_>>();
        tokio::join!(join_all(backs), join_all(shard_backs));
        let by_client = mine?;
        let by_range = theirs?;
        let mut spent_level = None;
        for (level, t) in taken.into_iter().enumerate() {
            if t?.is_none() && spent_level.is_none() {
                spent_level = Some(level);
            }
        }
        Ok(match (by_client, by_range, spent_level) {
            (None, _, _) => SendCount::ClientFull,
            (_, None, _) => SendCount::RangeFull,
            (_, _, Some(level)) => SendCount::BudgetSpent { level },
            // Not reached: everything counted is the case above.
            (Some(_), Some(_), None) => SendCount::BudgetSpent { level: 0 },
        })
    }

    /// The first shard of a level's first budget, if it takes one.
    async fn take_first(&self, level: &Draws) -> Result<Option<(Budget, u32)>, StoreError> {
        let Some((budget, draw)) = level.first() else {
            return Ok(None);
        };
        let Some(&shard) = draw.first() else {
            return Ok(None);
        };
        Ok(self
            .take_from_shard(budget, shard)
            .await?
            .then_some((*budget, shard)))
    }

    /// The rest of a level after its first shard was full: the first budget's other shards, then
    /// each further budget's, one after another.
    async fn take_rest(&self, level: &Draws) -> Result<Option<(Budget, u32)>, StoreError> {
        for (i, (budget, draw)) in level.iter().enumerate() {
            let tries = if i == 0 {
                draw.get(1..).unwrap_or_default()
            } else {
                draw
            };
            if let Some(shard) = self.spend(budget, tries).await? {
                return Ok(Some((*budget, shard)));
            }
        }
        Ok(None)
    }

    /// Counts one on `budget`, trying the shards of `draw` (from [`Budget::draw`]) one after
    /// another; the shard that took it, or `None` when every one tried was full.
    pub async fn spend(&self, budget: &Budget, draw: &[u32]) -> Result<Option<u32>, StoreError> {
        for &shard in draw {
            if self.take_from_shard(budget, shard).await? {
                return Ok(Some(shard));
            }
        }
        Ok(None)
    }

    /// Gives back one counted on `budget`'s `shard`.
    pub async fn give_back(&self, budget: &Budget, shard: u32) -> Result<(), StoreError> {
        self.add_back(&budget_shard_key(budget, shard), COUNT).await
    }

    /// Gives back a send counted for a code that was never delivered, on all of its counters at
    /// once. Best effort: the caller logs a failure, and the counters then err on the safe side.
    pub async fn uncount_send(
        &self,
        caller: &Caller,
        window: HourWindow,
        counted: &CountedSend,
    ) -> Result<(), StoreError> {
        let client_key = client_sends_key(&caller.client, &window);
        let range_key = range_sends_key(&caller.range, &window);
        let (mine, theirs, shards) = tokio::join!(
            self.add_back(&client_key, SENDS),
            self.add_back(&range_key, SENDS),
            join_all(
                counted
                    .spent
                    .iter()
                    .map(|(budget, shard)| self.give_back(budget, *shard))
            ),
        );
        mine.and(theirs)?;
        shards.into_iter().collect()
    }

    /// One more on the hour's counter at `key` if it is under `limit`: the count so far, this one
    /// included, or `None` when it was at the limit (nothing counted).
    async fn count_up(
        &self,
        key: &str,
        attribute: &str,
        limit: u32,
        window: &HourWindow,
    ) -> Result<Option<u32>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.otp)
            .key("phone", string_value(key))
            .update_expression("ADD #n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", attribute)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", number_value(1))
            .expression_attribute_values(":limit", number_value(limit))
            .expression_attribute_values(":ttl", number_value(window.forget_at()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(count(out.attributes.as_ref(), attribute))),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// One on `budget`'s `shard` if the shard is under its cap; whether it took it. Exact under
    /// any parallelism: DynamoDB checks each write's condition against the count it finds.
    async fn take_from_shard(&self, budget: &Budget, shard: u32) -> Result<bool, StoreError> {
        let cap = budget.shard_cap(shard);
        // `attribute_not_exists` would let a first send through a shard that may hold none.
        if cap == 0 {
            return Ok(false);
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.otp)
            .key("phone", string_value(&budget_shard_key(budget, shard)))
            .update_expression("ADD #n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", number_value(1))
            .expression_attribute_values(":cap", number_value(cap))
            .expression_attribute_values(":ttl", number_value(budget.forget_at))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// Takes one back from a counter that an earlier write of this request counted on.
    async fn add_back(&self, key: &str, attribute: &str) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.otp)
            .key("phone", string_value(key))
            .update_expression("ADD #n :minus")
            .condition_expression("attribute_exists(#n)")
            .expression_attribute_names("#n", attribute)
            .expression_attribute_values(":minus", number_value(-1))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    async fn give_back_logged(&self, key: &str, attribute: &str, what: &str) {
        if let Err(e) = self.add_back(key, attribute).await {
            tracing::error!(error = %crate::error::Chain(&e), counter = what, "a refused send stays counted");
        }
    }
}

/// Whether a single-item update was refused by its condition.
fn is_condition_failure<R>(err: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, R>) -> bool {
    matches!(
        err.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
}
