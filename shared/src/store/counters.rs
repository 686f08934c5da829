//! The hourly counters behind the per-client and per-range limits and the SMS budget, in the otp
//! table. Each is moved by conditional writes, so parallel requests cannot slip past a limit:
//! DynamoDB applies writes to one item one at a time and checks the condition against the value
//! each one finds. No counter is one item every request writes: a client's and a range's counters
//! are items of their own, and a service-wide budget is split into shards ([`Budget`]).
//!
//! A send's first writes (its address's and range's counters and one shard of each budget level,
//! and, when the read found room on all of them, the code's save) go in one
//! `BatchExecuteStatement` call rather than five separate writes: each AWS call costs the function
//! about 0.1 ms of CPU whatever its size, and send-code's CPU is mostly the SDK's
//! (docs/performance.md). A PartiQL `UPDATE` cannot create an item, so the send's first read
//! fetches these counters too ([`SendCounters::first_keys`]) and each is written as an `INSERT`
//! or a conditional `UPDATE` by what that read found. Anything the batch does not settle is
//! settled by the single-item write it replaced ([`Store::bump`], [`Store::save_otp_state`]).
use std::collections::HashMap;

use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::BatchStatementErrorCodeEnum::{
    ConditionalCheckFailed, DuplicateItem, TransactionConflict,
};
use aws_sdk_dynamodb::types::{
    BatchStatementError, BatchStatementRequest, BatchStatementResponse, ReturnValue,
};
use futures_util::future::join_all;

use super::error::is_item_size;
use super::items::{
    Item, budget_shard_key, client_sends_key, count, number_value, range_sends_key, string_value,
};
use super::{CodeSave, SaveAnswer, Store, StoreError};
use crate::domain::{Budget, Caller, HourWindow};
use SendCount::{ClientFull, RangeFull};

/// What one send is counted on: the caller's address and range for the hour, and each level of
/// the SMS budget (the hour's, the day's), where it takes one from the first of the level's
/// budgets with room. Each budget's shards are drawn when this is made, so the send's first read
/// can fetch the ones it writes first.
#[derive(Debug, Clone)]
pub struct SendCounters<'a> {
    caller: &'a Caller,
    window: HourWindow,
    client_limit: u32,
    range_limit: u32,
    /// Each level's budgets with the shards each tries, in order. A level with none has no room.
    levels: Vec<Draws>,
}

impl<'a> SendCounters<'a> {
    /// `levels`: each level's budgets, in the order they are tried (see
    /// [`crate::domain::ClientLimits::sms_levels`]).
    pub fn new(
        caller: &'a Caller,
        window: HourWindow,
        (client_limit, range_limit): (u32, u32),
        levels: Vec<Vec<Budget>>,
    ) -> Self {
        let levels = levels
            .iter()
            .map(|budgets| {
                budgets
                    .iter()
                    .filter(|b| b.cap > 0)
                    .map(|b| (*b, b.draw()))
                    .collect()
            })
            .collect();
        Self {
            caller,
            window,
            client_limit,
            range_limit,
            levels,
        }
    }

    /// Whether the send's first read (`seen`) found room on every counter the send writes
    /// first, and every budget level has a shard to try: the send is then all but sure to be
    /// counted, and its code's save may go in the same call ([`Store::count_send`]).
    pub fn have_room(&self, seen: &Seen) -> bool {
        self.levels
            .iter()
            .all(|level| first_shard_of(level).is_some())
            && self.first_counters().iter().all(|c| !seen.has_no_room(c))
    }

    /// The otp table's keys of the counters written first, for the send's first read.
    pub fn first_keys(&self) -> impl Iterator<Item = String> + '_ {
        self.first_counters().into_iter().map(|c| c.key)
    }

    /// The counters of the first round: the address's, the range's, then each level's first
    /// shard (those levels that have one, in order).
    fn first_counters(&self) -> Vec<Counter> {
        let window = &self.window;
        let caller = self.caller;
        let mut counters = vec![
            Counter::hourly(
                client_sends_key(&caller.client, window),
                self.client_limit,
                window,
            ),
            Counter::hourly(
                range_sends_key(&caller.range, window),
                self.range_limit,
                window,
            ),
        ];
        counters.extend(
            self.levels
                .iter()
                .filter_map(first_shard_of)
                .map(Counter::shard),
        );
        counters
    }
}

/// A level's first budget and the first shard it tries, if it has any.
fn first_shard((budget, draw): &(Budget, Vec<u32>)) -> Option<(Budget, u32)> {
    draw.first().map(|&shard| (*budget, shard))
}

/// What a send's first read found of the counters it writes first ([`SendCounters::first_keys`]):
/// a key it did not find has no item yet.
#[derive(Debug, Clone, Default)]
pub struct Seen(HashMap<String, Item>);

impl Seen {
    pub(super) fn new(found: impl IntoIterator<Item = (String, Item)>) -> Self {
        Self(found.into_iter().collect())
    }

    /// The count read of `counter`, and whether the item was there.
    fn of(&self, counter: &Counter) -> (u32, bool) {
        let found = self.0.get(&counter.key);
        (count(found, counter.attribute), found.is_some())
    }

    /// Whether `counter` was read at its cap (or may hold none).
    fn has_no_room(&self, counter: &Counter) -> bool {
        counter.cap == 0 || self.of(counter).0 >= counter.cap
    }
}

/// One counter a send counts on: its otp table key and attribute, what it may hold, and when
/// it can go (DynamoDB TTL).
#[derive(Debug, Clone)]
struct Counter {
    key: String,
    attribute: &'static str,
    cap: u32,
    forget_at: i64,
}

impl Counter {
    fn hourly(key: String, cap: u32, window: &HourWindow) -> Self {
        Self {
            key,
            attribute: SENDS,
            cap,
            forget_at: window.forget_at(),
        }
    }

    fn shard((budget, shard): (Budget, u32)) -> Self {
        Self {
            key: budget_shard_key(&budget, shard),
            attribute: COUNT,
            cap: budget.shard_cap(shard),
            forget_at: budget.forget_at,
        }
    }
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

/// What [`Store::count_send`] did: the count, and what became of the code's save if it went in
/// the same call (`None` if it did not).
#[derive(Debug)]
pub struct Counting {
    pub count: Result<SendCount, StoreError>,
    pub save: Option<SaveAnswer>,
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

/// The first shard a level tries: its first budget's first drawn shard.
fn first_shard_of(level: &Draws) -> Option<(Budget, u32)> {
    level.first().and_then(first_shard)
}

impl Store {
    /// Counts one send against the caller's address and range for the hour and on each level of
    /// the SMS budget. The two counters and each level's first shard are written at once (one
    /// call, [`Store::first_round`], shaped by what `seen` says of them); only when a level's
    /// first shard is full are its further shards, then its further budgets, tried one after
    /// another (the levels side by side). Whatever refuses, the rest is given back, so a refused
    /// send stays counted nowhere (best effort: a give-back that fails errs on the safe side).
    /// An address or range that refused is the answer even if another counter's write failed.
    /// Not idempotent: an SDK retry of a write whose reply was lost counts twice, as does a
    /// batched write that failed after it landed (an internal error, a timeout) and is then
    /// counted on its own; both err on the safe side too.
    ///
    /// `save`, if given, goes in the first round's call: the caller gives it only when
    /// [`SendCounters::have_room`], and must take back a save that landed if the send is not
    /// counted.
    pub async fn count_send(
        &self,
        counters: &SendCounters<'_>,
        seen: &Seen,
        save: Option<&CodeSave<'_>>,
    ) -> Counting {
        let mut answer = None;
        let count = self.count(counters, seen, save, &mut answer).await;
        Counting {
            count,
            save: answer,
        }
    }

    async fn count(
        &self,
        counters: &SendCounters<'_>,
        seen: &Seen,
        save: Option<&CodeSave<'_>>,
        answer: &mut Option<SaveAnswer>,
    ) -> Result<SendCount, StoreError> {
        let draws = &counters.levels;
        let first_counters = counters.first_counters();
        let (client_key, range_key) = (&first_counters[0].key, &first_counters[1].key);
        // An address or range the read found at its limit is refused before anything is
        // written: a client hammering past its limit costs one read a request, no writes.
        for (counter, full) in first_counters.iter().zip([ClientFull, RangeFull]) {
            if seen.has_no_room(counter) {
                return Ok(full);
            }
        }
        let (first, saved) = self.first_round(&first_counters, seen, save).await;
        *answer = saved;
        let mut first = first.into_iter();
        let mut next = || first.next().unwrap_or(Ok(None));
        let (mine, theirs) = (next(), next());
        let firsts: Vec<Result<Option<(Budget, u32)>, StoreError>> = draws
            .iter()
            .map(|level| match first_shard_of(level) {
                Some(taken) => next().map(|n| n.map(|_| taken)),
                None => Ok(None),
            })
            .collect();
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
        let client_back = matches!(mine, Ok(Some(_))).then_some(client_key);
        let range_back = matches!(theirs, Ok(Some(_))).then_some(range_key);
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
        // A limit that refused for certain answers before an error elsewhere: the caller was
        // past it either way.
        if matches!(mine, Ok(None)) {
            return Ok(ClientFull);
        }
        if matches!(theirs, Ok(None)) {
            return Ok(RangeFull);
        }
        mine?;
        theirs?;
        // Both counted, so each level's rest was tried: the first level with no room.
        let mut spent_level = None;
        for (level, t) in taken.into_iter().enumerate() {
            if t?.is_none() && spent_level.is_none() {
                spent_level = Some(level);
            }
        }
        // Not reached without a spent level: everything counted is the case above.
        Ok(SendCount::BudgetSpent {
            level: spent_level.unwrap_or(0),
        })
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
            if self
                .bump(&Counter::shard((*budget, shard)))
                .await?
                .is_some()
            {
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

    /// The first round of [`Store::count_send`]: one more on each of `counters`, all in one
    /// `BatchExecuteStatement`, with `save` last if given. What the send's first read found
    /// decides each statement: an `INSERT` where there was no item, an `UPDATE` under the cap
    /// where there was one with room; one found full (or with a cap of 0) is not written. A
    /// statement that fails for any reason (a parallel send created the item or filled it first,
    /// DynamoDB throttled that statement) and every one of a failed call are settled by
    /// [`Store::bump`], which decides for certain. For each counter, its count with this one, or
    /// `None` when it had no room; and what became of the save.
    async fn first_round(
        &self,
        counters: &[Counter],
        seen: &Seen,
        save: Option<&CodeSave<'_>>,
    ) -> (Vec<Result<Option<u32>, StoreError>>, Option<SaveAnswer>) {
        let mut settled: Vec<Option<Result<Option<u32>, StoreError>>> = Vec::new();
        let mut statements = Vec::new();
        let mut before = Vec::new();
        for counter in counters {
            if seen.has_no_room(counter) {
                settled.push(Some(Ok(None)));
            } else {
                let (so_far, exists) = seen.of(counter);
                settled.push(None);
                statements.push(self.count_statement(counter, exists));
                before.push(so_far);
            }
        }
        let counted = statements.len();
        statements.extend(save.map(|save| self.otp_statement(save)));
        let mut saved = save.map(|_| SaveAnswer::Unsettled);
        if !statements.is_empty() {
            let answers = self.run_batch(statements).await;
            let written = settled.iter_mut().filter(|s| s.is_none());
            for (i, slot) in written.enumerate() {
                let answer = answers.as_ref().and_then(|a| a.get(i));
                match answer.map(|a| a.error()) {
                    Some(None) => *slot = Some(Ok(Some(before[i] + 1))),
                    Some(Some(e)) => log_unexpected(e),
                    None => {}
                }
            }
            let answer = answers.as_ref().and_then(|a| a.get(counted));
            if let (Some(saved), Some(answer)) = (saved.as_mut(), answer) {
                *saved = match answer.error() {
                    None => SaveAnswer::Saved,
                    // A verify's transaction held the phone's item: as good as moved.
                    Some(e) if lost_race(e) || e.code() == Some(&TransactionConflict) => {
                        SaveAnswer::Moved
                    }
                    Some(e) => {
                        log_unexpected(e);
                        SaveAnswer::Unsettled
                    }
                };
            }
        }
        let rest = counters
            .iter()
            .zip(&settled)
            .map(|(counter, done)| async move {
                match done {
                    Some(_) => None,
                    None => Some(self.bump(counter).await),
                }
            });
        let rest = join_all(rest).await;
        let counts = settled
            .into_iter()
            .zip(rest)
            .map(|(done, bumped)| done.or(bumped).unwrap_or(Ok(None)))
            .collect();
        (counts, saved)
    }

    /// Runs one batch of statements: each one's answer, in order, or `None` when the call failed
    /// as a whole (logged; the caller then settles each statement on its own).
    async fn run_batch(
        &self,
        statements: Vec<Result<BatchStatementRequest, StoreError>>,
    ) -> Option<Vec<BatchStatementResponse>> {
        let statements: Vec<_> = match statements.into_iter().collect() {
            Ok(statements) => statements,
            Err(e) => {
                tracing::error!(error = %crate::error::Chain(&e), "batched statement not built");
                return None;
            }
        };
        match self
            .client
            .batch_execute_statement()
            .set_statements(Some(statements))
            .send()
            .await
        {
            Ok(out) => Some(out.responses.unwrap_or_default()),
            Err(e) => {
                let e = StoreError::from_sdk(e);
                tracing::warn!(error = %crate::error::Chain(&e), "batched send writes failed; writing one by one");
                None
            }
        }
    }

    /// One more on `counter` in PartiQL: an `INSERT` of 1 if it has no item (which fails if a
    /// parallel send created it), otherwise an `UPDATE` that holds only under its cap.
    fn count_statement(
        &self,
        counter: &Counter,
        exists: bool,
    ) -> Result<BatchStatementRequest, StoreError> {
        let (table, attribute) = (&self.tables.otp, counter.attribute);
        let (statement, parameters) = if exists {
            (
                format!(
                    r#"UPDATE "{table}" SET "{attribute}" = "{attribute}" + 1, "ttl" = ? WHERE "phone" = ? AND "{attribute}" < ?"#
                ),
                vec![
                    number_value(counter.forget_at),
                    string_value(&counter.key),
                    number_value(counter.cap),
                ],
            )
        } else {
            (
                format!(
                    r#"INSERT INTO "{table}" VALUE {{'phone': ?, '{attribute}': ?, 'ttl': ?}}"#
                ),
                vec![
                    string_value(&counter.key),
                    number_value(1),
                    number_value(counter.forget_at),
                ],
            )
        };
        BatchStatementRequest::builder()
            .statement(statement)
            .set_parameters(Some(parameters))
            .build()
            .map_err(StoreError::mapping)
    }

    /// One more on `counter` if it is under its cap, creating it if need be: its count with this
    /// one, or `None` when it was full (nothing counted). Exact under any parallelism: DynamoDB
    /// checks each write's condition against the count it finds.
    async fn bump(&self, counter: &Counter) -> Result<Option<u32>, StoreError> {
        // `attribute_not_exists` would let a first send through a counter that may hold none.
        if counter.cap == 0 {
            return Ok(None);
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.otp)
            .key("phone", string_value(&counter.key))
            .update_expression("ADD #n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_names("#n", counter.attribute)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", number_value(1))
            .expression_attribute_values(":cap", number_value(counter.cap))
            .expression_attribute_values(":ttl", number_value(counter.forget_at))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(count(out.attributes.as_ref(), counter.attribute))),
            Err(e) if is_condition_failure(&e) => Ok(None),
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

/// Whether a batched write failed by losing a race: a parallel send created the item, or
/// filled it, or saved the phone's state first.
fn lost_race(error: &BatchStatementError) -> bool {
    matches!(error.code(), Some(ConditionalCheckFailed | DuplicateItem))
}

/// Logs a batched write that failed other than by losing a race: throttling, or a statement
/// DynamoDB would not take, which would make every send write one by one; an item over
/// DynamoDB's size limit as the bug it is ([`StoreError::ItemTooLarge`]).
fn log_unexpected(error: &BatchStatementError) {
    if lost_race(error) {
        return;
    }
    let code = error.code().map(|c| c.as_str()).unwrap_or("none");
    let message = error.message().unwrap_or_default();
    if is_item_size(error.message()) {
        tracing::error!(
            code,
            message,
            "a batched send write failed: an item reached DynamoDB's size limit (a bug: every item's size is bounded)"
        );
    } else {
        tracing::warn!(
            code,
            message,
            "a batched send write failed; written on its own"
        );
    }
}

/// Whether a single-item update was refused by its condition.
fn is_condition_failure<R>(err: &aws_sdk_dynamodb::error::SdkError<UpdateItemError, R>) -> bool {
    matches!(
        err.as_service_error(),
        Some(UpdateItemError::ConditionalCheckFailedException(_))
    )
}
