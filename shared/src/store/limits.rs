//! The hourly counters behind the per-client limits and the SMS budget, in the otp table. Each is
//! moved by conditional writes, so parallel requests cannot slip past a limit: DynamoDB applies
//! writes to one item one at a time and checks the condition against the value each one finds.
//! No counter is one item every request writes: a client's counters are items of its own, and a
//! service-wide budget is split into shards ([`Budget`]).
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValue, TransactWriteItem, Update,
};

use super::error::{Cancelled, condition_failed};
use super::items::{
    Item, budget_shard_key, client_sends_key, count_of, failures_key, n, phone_key, s,
};
use super::{Store, StoreError, Wanted, WriteId, otp_state_from, owner_from};
use crate::domain::{
    Budget, ClientLimits, ClientTag, HourWindow, OtpState, PhoneNumber, User, UserId,
};

/// What counting one send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendCount {
    /// Counted against the client and on one shard of the budget.
    Counted(CountedSend),
    /// The client had used its hourly sends; nothing stays counted.
    ClientFull,
    /// The shards of the hour's SMS budget that were tried were full; nothing stays counted.
    BudgetSpent,
}

/// A counted send: what to give back if its code is never delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CountedSend {
    /// The client's sends this hour, this one included.
    pub by_client: u32,
    /// The budget's shard it was counted on.
    pub shard: u32,
}

/// The wrong-code limit a verification's save is held to.
#[derive(Debug, Clone)]
pub struct FailureCheck<'a> {
    pub client: &'a ClientTag,
    pub window: HourWindow,
    pub limit: u32,
    /// Whether this verification was a wrong code, to be counted; otherwise the save only
    /// checks that the client is under the limit.
    pub wrong: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// Someone saved the phone's state first, or a first login's user found its phone, invite
    /// code or id taken: read again and recompute. Nothing was saved.
    Moved,
    /// The client reached its hourly wrong codes in the meantime: nothing was saved.
    ClientFull,
}

const SENDS: &str = "sends";
const FAILURES: &str = "failures";
const COUNT: &str = "count";

fn count(item: Option<&Item>, attribute: &str) -> u32 {
    count_of(item, attribute)
        .ok()
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

impl Store {
    /// Counts one send against `client`'s hourly limit and on the hour's SMS budget. The client's
    /// counter and the budget's first shard are written at once (one round trip); only when that
    /// shard is full are further shards tried, one after another. Whichever side refuses, the
    /// other's count is given back, so a refused send stays counted nowhere (best effort: a
    /// give-back that fails errs on the safe side). Not idempotent: an SDK retry of an update
    /// whose reply was lost counts twice, which errs on the safe side too.
    pub async fn count_send(
        &self,
        client: &ClientTag,
        window: HourWindow,
        limits: &ClientLimits,
    ) -> Result<SendCount, StoreError> {
        let budget = Budget::sms(limits, &window);
        let draw = budget.draw();
        let Some((&first, rest)) = draw.split_first() else {
            return Err(StoreError::mapping("a budget drew no shard"));
        };
        let (mine, taken) = tokio::join!(
            self.count_client_send(client, &window, limits.sends_per_hour),
            self.take_from_shard(&budget, first),
        );
        let taken = match (&mine, taken) {
            (_, Ok(true)) => Ok(Some(first)),
            // The client counted and the first shard was full: the rest of the draw, in turn.
            (Ok(Some(_)), Ok(false)) => self.spend(&budget, rest).await,
            (_, Ok(false)) => Ok(None),
            (_, Err(e)) => Err(e),
        };
        match (mine, taken) {
            (Ok(Some(by_client)), Ok(Some(shard))) => {
                Ok(SendCount::Counted(CountedSend { by_client, shard }))
            }
            (Ok(Some(_)), taken) => {
                self.give_back_client_send(client, &window).await;
                taken.map(|_| SendCount::BudgetSpent)
            }
            (mine, Ok(Some(shard))) => {
                self.give_back_logged(&budget, shard).await;
                mine.map(|_| SendCount::ClientFull)
            }
            // Refused by the client's limit (a shard that failed may or may not have counted:
            // left as it is, on the safe side), or failed on both sides.
            (Ok(None), _) => Ok(SendCount::ClientFull),
            (Err(e), _) => Err(e),
        }
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

    /// Gives back a send counted for a code that was never delivered, on both of its counters at
    /// once. Best effort: the caller logs a failure, and the counters then err on the safe side.
    pub async fn uncount_send(
        &self,
        client: &ClientTag,
        window: HourWindow,
        limits: &ClientLimits,
        counted: &CountedSend,
    ) -> Result<(), StoreError> {
        let budget = Budget::sms(limits, &window);
        let key = client_sends_key(client, &window);
        let (mine, shard) = tokio::join!(
            self.add_back(&key, SENDS),
            self.give_back(&budget, counted.shard),
        );
        mine.and(shard)
    }

    /// One send on `client`'s own counter for the hour if it is under `limit`: the client's sends
    /// so far, this one included, or `None` when it was at the limit (nothing counted).
    async fn count_client_send(
        &self,
        client: &ClientTag,
        window: &HourWindow,
        limit: u32,
    ) -> Result<Option<u32>, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.otp)
            .key("phone", s(&client_sends_key(client, window)))
            .update_expression("ADD #n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n < :limit")
            .expression_attribute_names("#n", SENDS)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":limit", n(limit))
            .expression_attribute_values(":ttl", n(window.forget_at()))
            .return_values(ReturnValue::UpdatedNew)
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(count(out.attributes.as_ref(), SENDS))),
            Err(e) if is_condition_failure(&e) => Ok(None),
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// One on `budget`'s `shard` if the shard is under its cap; whether it took it. Exact under
    /// any parallelism: DynamoDB checks each write's condition against the count it finds.
    async fn take_from_shard(&self, budget: &Budget, shard: u32) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.otp)
            .key("phone", s(&budget_shard_key(budget, shard)))
            .update_expression("ADD #n :one SET #ttl = :ttl")
            .condition_expression("attribute_not_exists(#n) OR #n < :cap")
            .expression_attribute_names("#n", COUNT)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":cap", n(budget.shard_cap(shard)))
            .expression_attribute_values(":ttl", n(budget.forget_at))
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
            .key("phone", s(key))
            .update_expression("ADD #n :minus")
            .condition_expression("attribute_exists(#n)")
            .expression_attribute_names("#n", attribute)
            .expression_attribute_values(":minus", n(-1))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
    }

    async fn give_back_client_send(&self, client: &ClientTag, window: &HourWindow) {
        let key = client_sends_key(client, window);
        if let Err(e) = self.add_back(&key, SENDS).await {
            tracing::error!(error = %crate::error::Chain(&e), "a refused send stays counted against its client");
        }
    }

    async fn give_back_logged(&self, budget: &Budget, shard: u32) {
        if let Err(e) = self.give_back(budget, shard).await {
            tracing::error!(error = %crate::error::Chain(&e), budget = budget.name, "a refused send stays counted on the budget");
        }
    }

    /// What judging a code needs, read in one call: the phone's code state, `client`'s wrong
    /// codes in the hour so far, and the phone's user if it has one.
    pub async fn verification_reads(
        &self,
        phone: &PhoneNumber,
        client: &ClientTag,
        window: HourWindow,
    ) -> Result<(OtpState, u32, Option<UserId>), StoreError> {
        let [state, failures, owner] = self
            .get_many([
                Wanted {
                    table: &self.tables.otp,
                    key: "phone",
                    value: phone.as_str().to_owned(),
                },
                Wanted {
                    table: &self.tables.otp,
                    key: "phone",
                    value: failures_key(client, &window),
                },
                Wanted {
                    table: &self.tables.uniques,
                    key: "key",
                    value: phone_key(phone),
                },
            ])
            .await?;
        Ok((
            otp_state_from(state)?,
            count(failures.as_ref(), FAILURES),
            owner_from(owner)?,
        ))
    }

    /// Saves a verification's outcome for the phone and, in the same transaction, counts a wrong
    /// code against the client or checks that the client is under its limit. Either the client
    /// was under the limit when the save landed, or nothing is saved: a guess is never judged
    /// past the limit, however many run in parallel.
    ///
    /// `next` is `None` for a try that found no live code: the transaction then only counts the
    /// wrong code against the client, so a probe costs what a wrong guess costs.
    ///
    /// `new_user` (a right code for a phone that has no user yet) joins the same transaction with
    /// its item and the claims of its phone and invite code: the code is used up only if the user
    /// is created, and a first login writes once. Should any of those keys be taken (a parallel
    /// first login, an invite code drawn twice), nothing is saved and the outcome is `Moved`: the
    /// next round reads the phone's user, or draws another user.
    pub async fn save_verification(
        &self,
        phone: &PhoneNumber,
        next: Option<&OtpState>,
        write_id: &WriteId,
        check: &FailureCheck<'_>,
        new_user: Option<&User>,
    ) -> Result<SaveOutcome, StoreError> {
        let mut items = Vec::new();
        if let Some(next) = next {
            let put = self.otp_put(phone, next, write_id)?;
            items.push(TransactWriteItem::builder().put(put).build());
        }
        // Where the client's counter stands, so a cancellation's reasons are read by name.
        let client_counter = items.len();
        let key = AttributeValue::S(failures_key(check.client, &check.window));
        let under = "attribute_not_exists(#n) OR #n < :limit";
        let counter = if check.wrong {
            let update = Update::builder()
                .table_name(&self.tables.otp)
                .key("phone", key)
                .update_expression("ADD #n :one SET #ttl = :ttl")
                .condition_expression(under)
                .expression_attribute_names("#n", FAILURES)
                .expression_attribute_names("#ttl", "ttl")
                .expression_attribute_values(":one", n(1))
                .expression_attribute_values(":limit", n(check.limit))
                .expression_attribute_values(":ttl", n(check.window.forget_at()))
                .build()
                .map_err(StoreError::mapping)?;
            TransactWriteItem::builder().update(update).build()
        } else {
            let condition = ConditionCheck::builder()
                .table_name(&self.tables.otp)
                .key("phone", key)
                .condition_expression(under)
                .expression_attribute_names("#n", FAILURES)
                .expression_attribute_values(":limit", n(check.limit))
                .build()
                .map_err(StoreError::mapping)?;
            TransactWriteItem::builder()
                .condition_check(condition)
                .build()
        };
        items.push(counter);
        if let Some(user) = new_user {
            items.extend(self.user_items(user)?);
        }
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            // The write id as idempotency token: an SDK retry of a transaction that had landed
            // succeeds instead of failing its own revision condition.
            .client_request_token(&write_id.0)
            .send()
            .await;
        let Err(err) = result else {
            return Ok(SaveOutcome::Saved);
        };
        match Cancelled::from_sdk(err) {
            // The new user's taken keys mean a changed phone as much as a moved state does.
            Cancelled::Condition(reasons) => {
                if condition_failed(&reasons, client_counter) {
                    Ok(SaveOutcome::ClientFull)
                } else {
                    Ok(SaveOutcome::Moved)
                }
            }
            Cancelled::Conflict => Ok(SaveOutcome::Moved),
            Cancelled::Failed(e) => Err(e),
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
