//! The hourly counters behind the per-client limits and the SMS budget, in the otp table. Each is
//! moved by one conditional write, so parallel requests cannot slip past a limit: DynamoDB applies
//! writes to one item one at a time and checks the condition against the value each one finds.
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, ReturnValue, ReturnValuesOnConditionCheckFailure,
    TransactWriteItem, Update,
};

use super::error::{Cancelled, condition_failed};
use super::items::{Item, client_count_attribute, failures_key, n, phone_key, s, sends_key};
use super::{Store, StoreError, Wanted, WriteId, otp_state_from, owner_from};
use crate::domain::{ClientLimits, ClientTag, HourWindow, OtpState, PhoneNumber, User, UserId};

/// What counting one send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendCount {
    /// Counted; the client's sends this hour, this one included.
    Counted { by_client: u32 },
    /// The client had used its hourly sends; nothing was counted.
    ClientFull,
    /// The service had used its hourly SMS budget; nothing was counted.
    BudgetSpent,
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

const TOTAL: &str = "total";
const FAILURES: &str = "failures";

fn count(item: Option<&Item>, attribute: &str) -> u32 {
    item.and_then(|i| i.get(attribute))
        .and_then(|v| v.as_n().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

impl Store {
    /// Counts one send for `client` in the hour's counter if neither the client's limit nor the
    /// service's budget is reached, in one conditional update. Not idempotent: an SDK retry of an
    /// update whose reply was lost counts twice, which errs on the safe side.
    pub async fn count_send(
        &self,
        client: &ClientTag,
        window: HourWindow,
        limits: &ClientLimits,
    ) -> Result<SendCount, StoreError> {
        let key = sends_key(&window);
        let mine = client_count_attribute(client);
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.otp)
            .key("phone", s(&key))
            .update_expression("ADD #total :one, #mine :one SET #ttl = :ttl")
            .condition_expression(
                "(attribute_not_exists(#total) OR #total < :budget) \
                 AND (attribute_not_exists(#mine) OR #mine < :limit)",
            )
            .expression_attribute_names("#total", TOTAL)
            .expression_attribute_names("#mine", &mine)
            .expression_attribute_names("#ttl", "ttl")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":budget", n(limits.sms_budget_per_hour))
            .expression_attribute_values(":limit", n(limits.sends_per_hour))
            .expression_attribute_values(":ttl", n(window.forget_at()))
            .return_values(ReturnValue::UpdatedNew)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let failed = match result {
            Ok(out) => {
                return Ok(SendCount::Counted {
                    by_client: count(out.attributes.as_ref(), &mine),
                });
            }
            Err(e) => e,
        };
        let returned = match failed.as_service_error() {
            Some(UpdateItemError::ConditionalCheckFailedException(e)) => e.item.clone(),
            _ => return Err(StoreError::from_sdk(failed)),
        };
        // DynamoDB returns the item as it stood; where an implementation does not, read it.
        let stood = match returned {
            Some(item) => Some(item),
            None => self.get(&self.tables.otp, "phone", &key, None).await?,
        };
        if count(stood.as_ref(), TOTAL) >= limits.sms_budget_per_hour {
            Ok(SendCount::BudgetSpent)
        } else {
            Ok(SendCount::ClientFull)
        }
    }

    /// Gives back a send counted for a code that was never delivered. Best effort: the caller
    /// logs a failure, and the counter then errs on the safe side.
    pub async fn uncount_send(
        &self,
        client: &ClientTag,
        window: HourWindow,
    ) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.tables.otp)
            .key("phone", s(&sends_key(&window)))
            .update_expression("ADD #total :minus, #mine :minus")
            .condition_expression("attribute_exists(#total)")
            .expression_attribute_names("#total", TOTAL)
            .expression_attribute_names("#mine", client_count_attribute(client))
            .expression_attribute_values(":minus", n(-1))
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        Ok(())
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
    /// `new_user` (a right code for a phone that has no user yet) joins the same transaction with
    /// its item and the claims of its phone and invite code: the code is used up only if the user
    /// is created, and a first login writes once. Should any of those keys be taken (a parallel
    /// first login, an invite code drawn twice), nothing is saved and the outcome is `Moved`: the
    /// next round reads the phone's user, or draws another user.
    pub async fn save_verification(
        &self,
        phone: &PhoneNumber,
        next: &OtpState,
        write_id: &WriteId,
        check: &FailureCheck<'_>,
        new_user: Option<&User>,
    ) -> Result<SaveOutcome, StoreError> {
        let put = self.otp_put(phone, next, write_id)?;
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
        let mut items = vec![TransactWriteItem::builder().put(put).build(), counter];
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
            // Items in order: the phone's state, the client's counter, then the new user's
            // three items, whose taken keys mean a changed phone as much as a moved state does.
            Cancelled::Condition(reasons) => {
                let failed = |i: usize| condition_failed(&reasons, i);
                if failed(1) {
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
