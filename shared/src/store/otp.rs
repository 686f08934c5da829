//! A phone's code state (the pending code's hash, its sends and wrong codes), and verify-code's
//! transaction: the state saved together with the wrong-code counters and a first login's user.
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::{AttributeValue, ConditionCheck, TransactWriteItem, Update};

use super::error::{Cancelled, condition_failed, lost_race};
use super::items::{
    Item, OtpItem, count, failures_key, from_item, number_value, phone_key, range_failures_key,
    string_value,
};
use super::{Seen, Store, StoreError, WriteId, owner_from};
use crate::domain::{Caller, HourWindow, OtpState, PhoneNumber, User, UserId};

/// The wrong-code limits a verification's save is held to.
#[derive(Debug, Clone)]
pub struct FailureCheck<'a> {
    pub caller: &'a Caller,
    pub window: HourWindow,
    pub limit: u32,
    pub range_limit: u32,
    /// Whether this verification was a wrong code, to be counted against the address and the
    /// range; otherwise the save only checks that the address is under its limit (the range's
    /// standing was read just before, see `verification_reads`).
    pub wrong: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveOutcome {
    Saved,
    /// Someone saved the phone's state first, or a first login's user found its phone, invite
    /// code or id taken: read again and recompute. Nothing was saved.
    Moved,
    /// The address reached its hourly wrong codes in the meantime: nothing was saved.
    ClientFull,
    /// The address's range reached its hourly wrong codes in the meantime: nothing was saved.
    RangeFull,
}

/// What judging a code needs, read in one call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerificationReads {
    pub state: OtpState,
    /// The address's wrong codes this hour.
    pub failures: u32,
    /// The range's wrong codes this hour.
    pub range_failures: u32,
    /// The phone's user, if it has one.
    pub owner: Option<UserId>,
}

const FAILURES: &str = "failures";

/// A phone's code state from its item; a phone never seen (or long forgotten) has none.
fn otp_state_from(item: Option<Item>) -> Result<OtpState, StoreError> {
    match item {
        Some(item) => from_item::<OtpItem>(item)?.into_state(),
        None => Ok(OtpState::default()),
    }
}

impl Store {
    /// The phone's code state; a phone never seen (or long forgotten) reads as the default.
    pub async fn otp_state(&self, phone: &PhoneNumber) -> Result<OtpState, StoreError> {
        otp_state_from(
            self.get(&self.tables.otp, "phone", phone.as_str(), None)
                .await?,
        )
    }

    /// Saves `next`, computed from the state read at `next.revision`, only if nobody saved in
    /// between. Returns `false` when someone did, or when a transaction held the item (a verify
    /// of the same phone in flight); the caller reads again and recomputes.
    /// The item's TTL is `next.forget_at()`.
    /// A save whose reply was lost and is retried with the same `write_id` counts as saved.
    pub async fn save_otp_state(
        &self,
        phone: &PhoneNumber,
        next: &OtpState,
        write_id: &WriteId,
    ) -> Result<bool, StoreError> {
        let put = self.otp_put(phone, next, write_id)?;
        let request = self
            .client
            .put_item()
            .table_name(put.table_name)
            .set_item(Some(put.item))
            .condition_expression(put.condition_expression.unwrap_or_default())
            .set_expression_attribute_values(put.expression_attribute_values);
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if lost_race(e.code()) => {
                let stored = self
                    .read_back(&self.tables.otp, "phone", phone.as_str(), "write_id")
                    .await?;
                Ok(stored.get("write_id") == Some(&string_value(&write_id.0)))
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// What sending a code needs, read in one call: the phone's code state, whether the phone
    /// has an account (its uniques claim), which decides the share of the SMS budget it spends,
    /// and the counters at `counters` (from [`super::SendCounters::first_keys`]), which decide how
    /// the send's first writes are made.
    pub async fn send_reads(
        &self,
        phone: &PhoneNumber,
        counters: impl IntoIterator<Item = String>,
    ) -> Result<(OtpState, bool, Seen), StoreError> {
        let mut wanted = vec![
            self.otp_wanted(phone.as_str().to_owned()),
            self.unique_wanted(phone_key(phone)),
        ];
        for key in counters {
            // A key asked for twice would fail the whole read.
            if !wanted.iter().any(|w| w.value == key) {
                wanted.push(self.otp_wanted(key));
            }
        }
        let mut found = self.get_all(&wanted).await?.into_iter();
        let state = found.next().flatten();
        let owner = found.next().flatten();
        let seen = wanted
            .into_iter()
            .skip(2)
            .zip(found)
            .filter_map(|(w, item)| Some((w.value, item?)));
        Ok((otp_state_from(state)?, owner.is_some(), Seen::new(seen)))
    }

    /// What judging a code needs, read in one call: the phone's code state, the caller's
    /// address's and range's wrong codes in the hour so far, and the phone's user if it has one.
    pub async fn verification_reads(
        &self,
        phone: &PhoneNumber,
        caller: &Caller,
        window: HourWindow,
    ) -> Result<VerificationReads, StoreError> {
        let [state, failures, range_failures, owner] = self
            .get_many([
                self.otp_wanted(phone.as_str().to_owned()),
                self.otp_wanted(failures_key(&caller.client, &window)),
                self.otp_wanted(range_failures_key(&caller.range, &window)),
                self.unique_wanted(phone_key(phone)),
            ])
            .await?;
        Ok(VerificationReads {
            state: otp_state_from(state)?,
            failures: count(failures.as_ref(), FAILURES),
            range_failures: count(range_failures.as_ref(), FAILURES),
            owner: owner_from(owner)?,
        })
    }

    /// Saves a verification's outcome for the phone and, in the same transaction, counts a wrong
    /// code against the caller's address and range, or checks that the address is under its
    /// limit. Either the caller was under its limits when the save landed, or nothing is saved: a
    /// wrong guess is never judged past a limit, however many run in parallel. (A right code is
    /// held to the range by the read before it: the range's counter is shared by many callers,
    /// and a transaction that holds it makes every other transaction on it wait or fail, so
    /// only the writes that must count take it. A right code slipping past a range filled in the
    /// meantime is one login, never a guess gained.)
    ///
    /// `next` is `None` for a try that found no live code: the transaction then only counts the
    /// wrong code against the address and the range, so a probe costs what a wrong guess costs.
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
        // Where the counters stand, so a cancellation's reasons are read by name.
        let client_counter = items.len();
        let range_counter = client_counter + 1;
        let under = "attribute_not_exists(#n) OR #n < :limit";
        let client_key = AttributeValue::S(failures_key(&check.caller.client, &check.window));
        if check.wrong {
            let range_key = range_failures_key(&check.caller.range, &check.window);
            for (key, limit) in [
                (client_key, check.limit),
                (AttributeValue::S(range_key), check.range_limit),
            ] {
                let update = Update::builder()
                    .table_name(&self.tables.otp)
                    .key("phone", key)
                    .update_expression("ADD #n :one SET #ttl = :ttl")
                    .condition_expression(under)
                    .expression_attribute_names("#n", FAILURES)
                    .expression_attribute_names("#ttl", "ttl")
                    .expression_attribute_values(":one", number_value(1))
                    .expression_attribute_values(":limit", number_value(limit))
                    .expression_attribute_values(":ttl", number_value(check.window.forget_at()))
                    .build()
                    .map_err(StoreError::mapping)?;
                items.push(TransactWriteItem::builder().update(update).build());
            }
        } else {
            let condition = ConditionCheck::builder()
                .table_name(&self.tables.otp)
                .key("phone", client_key)
                .condition_expression(under)
                .expression_attribute_names("#n", FAILURES)
                .expression_attribute_values(":limit", number_value(check.limit))
                .build()
                .map_err(StoreError::mapping)?;
            items.push(
                TransactWriteItem::builder()
                    .condition_check(condition)
                    .build(),
            );
        }
        if let Some(user) = new_user {
            items.extend(self.user_items(user)?);
        }
        // The write id as the idempotency token.
        let Err(err) = self.transact(items, &write_id.0).await else {
            return Ok(SaveOutcome::Saved);
        };
        match Cancelled::from_sdk(err) {
            // The new user's taken keys mean a changed phone as much as a moved state does.
            Cancelled::Condition(reasons) => {
                if condition_failed(&reasons, client_counter) {
                    Ok(SaveOutcome::ClientFull)
                } else if check.wrong && condition_failed(&reasons, range_counter) {
                    Ok(SaveOutcome::RangeFull)
                } else {
                    Ok(SaveOutcome::Moved)
                }
            }
            Cancelled::Conflict => Ok(SaveOutcome::Moved),
            Cancelled::Failed(e) => Err(e),
        }
    }
}
