//! The only module that talks to DynamoDB: key formats, item mapping, and the conditional and
//! transactional writes that keep phones and invite codes unique and activations single.
//!
//! Three tables (defined once, in `template.yaml`):
//! - users: one item per user, key `id`. A sparse GSI `referrer-index` (`referrer_id`,
//!   `activated_at`) lists who activated a code, newest first; `phone-index` and
//!   `invite-code-index` serve operators' look-ups.
//! - uniques: `key` = `phone#<E.164>` or `invite#<CODE>` -> `user_id`. Written in the same
//!   transaction as the user with `attribute_not_exists`, these items are what makes a phone or an
//!   invite code unique, and the strongly consistent way to find a user by either (a GSI can do
//!   neither: it is eventually consistent and accepts duplicates).
//! - otp: one item per phone with the pending code's hash and the rate-limit windows, guarded
//!   by a `revision` number (optimistic locking), expired by DynamoDB TTL on `ttl`.
use std::collections::HashMap;
use std::fmt;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem, Update};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use crate::config::TableNames;
use crate::domain::{
    Activation, CodeHash, InviteCode, OtpState, PhoneNumber, Referral, User, UserId,
};

type Item = HashMap<String, AttributeValue>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

pub const REFERRER_INDEX: &str = "referrer-index";

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Throttling, timeouts, network failures, DynamoDB's own 5xx: worth retrying later.
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
    /// Anything else (a missing table, a malformed item): a bug or a misconfiguration.
    #[error("unexpected database error: {0}")]
    Unexpected(String),
}

impl StoreError {
    fn from_sdk<E, R>(err: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
        R: fmt::Debug + Send + Sync + 'static,
    {
        let retryable = match &err {
            SdkError::TimeoutError(_)
            | SdkError::DispatchFailure(_)
            | SdkError::ResponseError(_) => true,
            SdkError::ServiceError(_) => err.code().is_some_and(is_retryable_code),
            _ => false,
        };
        let text = DisplayErrorContext(&err).to_string();
        if retryable {
            Self::Unavailable(text)
        } else {
            Self::Unexpected(text)
        }
    }

    fn mapping(err: impl Into<BoxError>) -> Self {
        Self::Unexpected(format!("item mapping: {}", err.into()))
    }
}

/// DynamoDB error codes that mean "overloaded or failing, try later" rather than "your request is
/// wrong": they become 503 with Retry-After.
fn is_retryable_code(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException"
            | "ThrottlingException"
            | "RequestLimitExceeded"
            | "InternalServerError"
            | "ServiceUnavailable"
            | "TransactionConflictException"
            | "TransactionInProgressException"
    )
}

/// What the cancellation reasons of a transaction (one per item, in order) amount to.
#[derive(Debug, PartialEq, Eq)]
enum Cancelled {
    /// The condition on this item failed.
    Condition(usize),
    /// Another transaction held one of the items: retry.
    Conflict,
    /// Throttled: a 503, like any throttling.
    Throttled,
    Other,
}

fn read_cancellation(codes: &[String]) -> Cancelled {
    let any = |names: &[&str]| codes.iter().any(|c| names.contains(&c.as_str()));
    if let Some(i) = codes.iter().position(|c| c == "ConditionalCheckFailed") {
        Cancelled::Condition(i)
    } else if any(&[
        "ThrottlingError",
        "ProvisionedThroughputExceeded",
        "RequestLimitExceeded",
    ]) {
        Cancelled::Throttled
    } else if any(&["TransactionConflict"]) {
        Cancelled::Conflict
    } else {
        Cancelled::Other
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CreateUserError {
    #[error("the phone already belongs to a user")]
    PhoneTaken,
    #[error("the invite code is taken")]
    InviteCodeTaken,
    /// Another transaction touched the same items at the same moment; try again.
    #[error("conflicting transaction")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[derive(Debug, thiserror::Error)]
pub enum ActivateError {
    #[error("this user already activated a code")]
    AlreadyActivated,
    #[error("the code's owner already activated this user's code")]
    Mutual,
    #[error("conflicting transaction")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Where the next page of referrals starts: the last item of this page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReferralCursor {
    #[serde(rename = "t")]
    pub activated_at: i64,
    #[serde(rename = "u")]
    pub user_id: String,
}

impl ReferralCursor {
    pub fn encode(&self) -> String {
        B64.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Only what `encode` can produce: a positive time and a user id that is a UUID, so a
    /// crafted cursor cannot reach DynamoDB with a key it would reject.
    pub fn decode(text: &str) -> Option<Self> {
        let bytes = B64.decode(text).ok()?;
        let cursor: Self = serde_json::from_slice(&bytes).ok()?;
        let id_ok =
            uuid::Uuid::try_parse(&cursor.user_id).is_ok_and(|u| u.to_string() == cursor.user_id);
        (cursor.activated_at > 0 && id_ok).then_some(cursor)
    }
}

#[derive(Serialize, Deserialize)]
struct UserItem {
    id: String,
    phone: String,
    invite_code: String,
    created_at: i64,
    token_version: u64,
    referrals_count: u64,
    // Absent, not NULL, until activation: `referrer-index` is sparse on these.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activated_invite_code: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    referrer_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    activated_at: Option<i64>,
}

impl From<&User> for UserItem {
    fn from(u: &User) -> Self {
        Self {
            id: u.id.as_str().to_owned(),
            phone: u.phone.as_str().to_owned(),
            invite_code: u.invite_code.as_str().to_owned(),
            created_at: u.created_at,
            token_version: u.token_version,
            referrals_count: u.referrals_count,
            activated_invite_code: u
                .activation
                .as_ref()
                .map(|a| a.invite_code.as_str().to_owned()),
            referrer_id: u
                .activation
                .as_ref()
                .map(|a| a.referrer.as_str().to_owned()),
            activated_at: u.activation.as_ref().map(|a| a.activated_at),
        }
    }
}

impl From<UserItem> for User {
    fn from(i: UserItem) -> Self {
        let activation = match (i.activated_invite_code, i.referrer_id, i.activated_at) {
            (Some(code), Some(referrer), Some(at)) => Some(Activation {
                invite_code: InviteCode::from_trusted(code),
                referrer: UserId::from_trusted(referrer),
                activated_at: at,
            }),
            _ => None,
        };
        Self {
            id: UserId::from_trusted(i.id),
            phone: PhoneNumber::from_trusted(i.phone),
            invite_code: InviteCode::from_trusted(i.invite_code),
            created_at: i.created_at,
            token_version: i.token_version,
            activation,
            referrals_count: i.referrals_count,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct ReferralItem {
    id: String,
    phone: String,
    activated_at: i64,
}

#[derive(Serialize, Deserialize)]
struct UniqueItem {
    key: String,
    user_id: String,
}

#[derive(Serialize, Deserialize)]
struct OtpItem {
    phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_hash: Option<String>,
    expires_at: i64,
    attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_sent_at: Option<i64>,
    #[serde(default)]
    sent_at: Vec<i64>,
    #[serde(default)]
    failed_at: Vec<i64>,
    revision: u64,
    /// Random per save, so a save whose reply was lost can recognise itself (see `put_otp`).
    #[serde(default)]
    write_id: String,
    /// DynamoDB TTL (Unix seconds). Deletion lags by up to days, so reads never rely on it.
    ttl: i64,
}

impl OtpItem {
    fn new(phone: &PhoneNumber, s: &OtpState, forget_at: i64, write_id: &str) -> Self {
        Self {
            phone: phone.as_str().to_owned(),
            code_hash: s.code_hash.map(|h| B64.encode(h.0)),
            expires_at: s.expires_at,
            attempts: s.attempts,
            last_sent_at: s.last_sent_at,
            sent_at: s.sent_at.clone(),
            failed_at: s.failed_at.clone(),
            revision: s.revision,
            write_id: write_id.to_owned(),
            ttl: forget_at,
        }
    }

    fn into_state(self) -> Result<OtpState, StoreError> {
        let code_hash = match self.code_hash {
            Some(text) => {
                let bytes = B64.decode(text).map_err(StoreError::mapping)?;
                let arr: [u8; 32] = bytes
                    .try_into()
                    .map_err(|_| StoreError::mapping("code hash is not 32 bytes"))?;
                Some(CodeHash(arr))
            }
            None => None,
        };
        Ok(OtpState {
            code_hash,
            expires_at: self.expires_at,
            attempts: self.attempts,
            last_sent_at: self.last_sent_at,
            sent_at: self.sent_at,
            failed_at: self.failed_at,
            revision: self.revision,
        })
    }
}

fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(StoreError::mapping)
}

fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(StoreError::mapping)
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn phone_key(phone: &PhoneNumber) -> String {
    format!("phone#{}", phone.as_str())
}

fn invite_key(code: &InviteCode) -> String {
    format!("invite#{}", code.as_str())
}

/// The cancellation reason codes of a failed transaction, one per item, or `None` if it failed
/// for another reason.
fn cancellation_codes(
    err: &SdkError<TransactWriteItemsError, impl fmt::Debug>,
) -> Option<Vec<String>> {
    match err.as_service_error()? {
        TransactWriteItemsError::TransactionCanceledException(e) => Some(
            e.cancellation_reasons()
                .iter()
                .map(|r| r.code().unwrap_or("None").to_owned())
                .collect(),
        ),
        _ => None,
    }
}

#[derive(Clone, Debug)]
pub struct Store {
    client: Client,
    tables: TableNames,
}

impl Store {
    pub fn new(client: Client, tables: TableNames) -> Self {
        Self { client, tables }
    }

    pub fn tables(&self) -> &TableNames {
        &self.tables
    }

    /// The phone's code state; a phone never seen (or long forgotten) reads as the default.
    pub async fn otp_state(&self, phone: &PhoneNumber) -> Result<OtpState, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.otp)
            .key("phone", s(phone.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        match out.item {
            Some(item) => from_item::<OtpItem>(item)?.into_state(),
            None => Ok(OtpState::default()),
        }
    }

    /// Saves `next`, computed from the state read at `next.revision`, only if nobody saved in
    /// between. Returns `false` when someone did; the caller reads again and recomputes.
    /// `forget_at` (Unix seconds) becomes the item's TTL.
    pub async fn save_otp_state(
        &self,
        phone: &PhoneNumber,
        next: &OtpState,
        forget_at: i64,
    ) -> Result<bool, StoreError> {
        let write_id = uuid::Uuid::new_v4().to_string();
        self.put_otp(phone, next, forget_at, &write_id).await
    }

    /// The retry-safe core of [`Store::save_otp_state`], public so tests can replay a save. The
    /// SDK retries a write whose reply timed out; if the first attempt had landed, the retry
    /// fails its own revision condition. The item then carries this `write_id`, and that
    /// counts as saved rather than as a lost race.
    #[doc(hidden)]
    pub async fn put_otp(
        &self,
        phone: &PhoneNumber,
        next: &OtpState,
        forget_at: i64,
        write_id: &str,
    ) -> Result<bool, StoreError> {
        let read_revision = next.revision;
        let mut written = next.clone();
        written.revision = read_revision + 1;
        let item = OtpItem::new(phone, &written, forget_at, write_id);
        let request = self
            .client
            .put_item()
            .table_name(&self.tables.otp)
            .set_item(Some(to_item(&item)?));
        let request = if read_revision == 0 {
            request.condition_expression("attribute_not_exists(phone)")
        } else {
            request
                .condition_expression("revision = :read")
                .expression_attribute_values(":read", n(read_revision))
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let stored = self
                    .read_back(&self.tables.otp, "phone", phone.as_str(), "write_id")
                    .await?;
                Ok(stored.get("write_id") == Some(&s(write_id)))
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    pub async fn user_id_by_phone(
        &self,
        phone: &PhoneNumber,
    ) -> Result<Option<UserId>, StoreError> {
        self.unique_owner(phone_key(phone)).await
    }

    pub async fn invite_code_owner(&self, code: &InviteCode) -> Result<Option<UserId>, StoreError> {
        self.unique_owner(invite_key(code)).await
    }

    async fn unique_owner(&self, key: String) -> Result<Option<UserId>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.uniques)
            .key("key", AttributeValue::S(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item
            .map(|item| from_item::<UniqueItem>(item).map(|u| UserId::from_trusted(u.user_id)))
            .transpose()
    }

    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.tables.users)
            .key("id", s(id.as_str()))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        out.item
            .map(|item| from_item::<UserItem>(item).map(User::from))
            .transpose()
    }

    /// Writes the user and claims its phone and invite code in one transaction: either all three
    /// items are written or none is.
    pub async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        let uid = user.id.as_str();
        let put = |table: &str, item: Item, key_attr: &str| {
            Put::builder()
                .table_name(table)
                .set_item(Some(item))
                .condition_expression("attribute_not_exists(#k)")
                .expression_attribute_names("#k", key_attr)
                .build()
                .map(|p| TransactWriteItem::builder().put(p).build())
                .map_err(StoreError::mapping)
        };
        let claims =
            [phone_key(&user.phone), invite_key(&user.invite_code)].map(|key| UniqueItem {
                key,
                user_id: uid.to_owned(),
            });
        let items = vec![
            put(&self.tables.users, to_item(&UserItem::from(user))?, "id")?,
            put(&self.tables.uniques, to_item(&claims[0])?, "key")?,
            put(&self.tables.uniques, to_item(&claims[1])?, "key")?,
        ];
        // The user id is new per attempt: as the idempotency token it makes an SDK retry of a
        // transaction that had landed succeed instead of failing its own conditions.
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(uid)
            .send()
            .await;
        let Err(err) = result else { return Ok(()) };
        match cancellation_codes(&err).as_deref().map(read_cancellation) {
            Some(Cancelled::Condition(1)) => Err(CreateUserError::PhoneTaken),
            Some(Cancelled::Condition(2)) => Err(CreateUserError::InviteCodeTaken),
            // A user id collision (UUID v4: practically never) or a concurrent transaction.
            Some(Cancelled::Condition(_) | Cancelled::Conflict) => Err(CreateUserError::Conflict),
            Some(Cancelled::Throttled) => {
                Err(StoreError::Unavailable(DisplayErrorContext(&err).to_string()).into())
            }
            _ => Err(StoreError::from_sdk(err).into()),
        }
    }

    /// Records `user`'s activation and counts it on the referrer, atomically. The conditions make
    /// it once in a lifetime (`referrer_id` not yet set on the user) and refuse a mutual referral
    /// (the referrer's own `referrer_id` is not this user) even when both race each other.
    pub async fn activate(
        &self,
        user: &UserId,
        activation: &Activation,
    ) -> Result<(), ActivateError> {
        let mine = Update::builder()
            .table_name(&self.tables.users)
            .key("id", s(user.as_str()))
            .update_expression(
                "SET activated_invite_code = :code, referrer_id = :referrer, activated_at = :at",
            )
            .condition_expression("attribute_exists(id) AND attribute_not_exists(referrer_id)")
            .expression_attribute_values(":code", s(activation.invite_code.as_str()))
            .expression_attribute_values(":referrer", s(activation.referrer.as_str()))
            .expression_attribute_values(":at", n(activation.activated_at))
            .build()
            .map_err(StoreError::mapping)?;
        let theirs = Update::builder()
            .table_name(&self.tables.users)
            .key("id", s(activation.referrer.as_str()))
            .update_expression("ADD referrals_count :one")
            .condition_expression(
                "attribute_exists(id) AND invite_code = :code \
                 AND (attribute_not_exists(referrer_id) OR referrer_id <> :me)",
            )
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":code", s(activation.invite_code.as_str()))
            .expression_attribute_values(":me", s(user.as_str()))
            .build()
            .map_err(StoreError::mapping)?;
        let result = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(mine).build())
            .transact_items(TransactWriteItem::builder().update(theirs).build())
            // One token per call, reused by the SDK's own retries: see `create_user`.
            .client_request_token(uuid::Uuid::new_v4().to_string())
            .send()
            .await;
        let Err(err) = result else { return Ok(()) };
        match cancellation_codes(&err).as_deref().map(read_cancellation) {
            Some(Cancelled::Condition(0)) => Err(ActivateError::AlreadyActivated),
            Some(Cancelled::Condition(_)) => Err(ActivateError::Mutual),
            Some(Cancelled::Conflict) => Err(ActivateError::Conflict),
            Some(Cancelled::Throttled) => {
                Err(StoreError::Unavailable(DisplayErrorContext(&err).to_string()).into())
            }
            _ => Err(StoreError::from_sdk(err).into()),
        }
    }

    /// Up to `limit` users who activated `referrer`'s code, newest first, and the cursor of the
    /// next page if there is one. Reads `limit + 1` so the last page never ends in an empty one.
    pub async fn referrals(
        &self,
        referrer: &UserId,
        limit: usize,
        after: Option<&ReferralCursor>,
    ) -> Result<(Vec<Referral>, Option<ReferralCursor>), StoreError> {
        // The cursor carries no referrer: the start key is rebuilt with the caller's own id, so a
        // crafted cursor cannot page through someone else's list.
        let start = after.map(|c| {
            HashMap::from([
                ("id".to_owned(), s(&c.user_id)),
                ("referrer_id".to_owned(), s(referrer.as_str())),
                ("activated_at".to_owned(), n(c.activated_at)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.tables.users)
            .index_name(REFERRER_INDEX)
            .key_condition_expression("referrer_id = :me")
            .expression_attribute_values(":me", s(referrer.as_str()))
            .scan_index_forward(false)
            .limit(i32::try_from(limit + 1).unwrap_or(i32::MAX))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(StoreError::from_sdk)?;
        let mut referrals = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(|item| {
                from_item::<ReferralItem>(item).map(|r| Referral {
                    user_id: UserId::from_trusted(r.id),
                    phone: PhoneNumber::from_trusted(r.phone),
                    activated_at: r.activated_at,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let next = if referrals.len() > limit {
            referrals.truncate(limit);
            referrals.last().map(|r| ReferralCursor {
                activated_at: r.activated_at,
                user_id: r.user_id.as_str().to_owned(),
            })
        } else {
            None
        };
        Ok((referrals, next))
    }

    /// After a write's condition failed: the attributes that tell whether the item holds that
    /// very write (an SDK retry of a write that had landed) or someone else's. Consistent read.
    async fn read_back(
        &self,
        table: &str,
        key: &str,
        value: &str,
        attributes: &str,
    ) -> Result<Item, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(table)
            .key(key, s(value))
            .projection_expression(attributes)
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?
            .item
            .unwrap_or_default())
    }

    /// Bumps the user's token version if it still is `current`, revoking every token issued
    /// before. Returns `false` if it had already moved on (the caller's token was revoked).
    pub async fn revoke_tokens(&self, user: &UserId, current: u64) -> Result<bool, StoreError> {
        self.revoke_tokens_as(user, current, &uuid::Uuid::new_v4().to_string())
            .await
    }

    /// The retry-safe core of [`Store::revoke_tokens`], public so tests can replay it: the
    /// update records `logout_id`, so a retry whose first attempt had landed counts as done.
    #[doc(hidden)]
    pub async fn revoke_tokens_as(
        &self,
        user: &UserId,
        current: u64,
        logout_id: &str,
    ) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("id", s(user.as_str()))
            .update_expression("SET logout_id = :logout ADD token_version :one")
            .condition_expression("token_version = :current")
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":current", n(current))
            .expression_attribute_values(":logout", s(logout_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let stored = self
                    .read_back(
                        &self.tables.users,
                        "id",
                        user.as_str(),
                        "logout_id, token_version",
                    )
                    .await?;
                Ok(stored.get("logout_id") == Some(&s(logout_id))
                    && stored.get("token_version") == Some(&n(current + 1)))
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_and_outages_are_retryable_and_bad_requests_are_not() {
        for code in [
            "ThrottlingException",
            "ProvisionedThroughputExceededException",
            "RequestLimitExceeded",
            "InternalServerError",
        ] {
            assert!(is_retryable_code(code), "{code}");
        }
        for code in [
            "ValidationException",
            "ResourceNotFoundException",
            "ConditionalCheckFailedException",
        ] {
            assert!(!is_retryable_code(code), "{code}");
        }
    }

    #[test]
    fn cancellation_reasons_tell_conditions_from_conflicts_and_throttling() {
        let codes = |c: &[&str]| c.iter().map(|s| (*s).to_owned()).collect::<Vec<_>>();
        assert_eq!(
            read_cancellation(&codes(&["None", "ConditionalCheckFailed", "None"])),
            Cancelled::Condition(1)
        );
        assert_eq!(
            read_cancellation(&codes(&[
                "None",
                "ConditionalCheckFailed",
                "ConditionalCheckFailed"
            ])),
            Cancelled::Condition(1)
        );
        assert_eq!(
            read_cancellation(&codes(&["TransactionConflict", "None"])),
            Cancelled::Conflict
        );
        assert_eq!(
            read_cancellation(&codes(&["ThrottlingError", "None"])),
            Cancelled::Throttled
        );
        assert_eq!(
            read_cancellation(&codes(&["None", "ProvisionedThroughputExceeded"])),
            Cancelled::Throttled
        );
        assert_eq!(
            read_cancellation(&codes(&["ValidationError"])),
            Cancelled::Other
        );
    }

    #[test]
    fn cursors_round_trip_and_garbage_is_refused() {
        let c = ReferralCursor {
            activated_at: 1_800_000_000_123,
            user_id: uuid::Uuid::new_v4().to_string(),
        };
        assert_eq!(ReferralCursor::decode(&c.encode()), Some(c));
        assert_eq!(ReferralCursor::decode("not a cursor"), None);
        assert_eq!(ReferralCursor::decode(&B64.encode(b"{\"x\":1}")), None);
        let crafted =
            |t: i64, u: &str| B64.encode(serde_json::json!({ "t": t, "u": u }).to_string());
        let id = uuid::Uuid::new_v4().to_string();
        assert_eq!(ReferralCursor::decode(&crafted(0, &id)), None);
        assert_eq!(ReferralCursor::decode(&crafted(5, "")), None);
        assert_eq!(
            ReferralCursor::decode(&crafted(5, &"a".repeat(3_000))),
            None
        );
        assert_eq!(
            ReferralCursor::decode(&crafted(5, &id.to_uppercase())),
            None
        );
        assert!(ReferralCursor::decode(&crafted(5, &id)).is_some());
    }

    #[test]
    fn a_user_survives_the_trip_through_its_item() {
        let mut user = User::new(
            PhoneNumber::from_trusted("+79991234567".into()),
            1_800_000_000_000,
        );
        let roundtrip = |u: &User| {
            User::from(from_item::<UserItem>(to_item(&UserItem::from(u)).unwrap()).unwrap())
        };
        assert_eq!(roundtrip(&user), user);
        let item = to_item(&UserItem::from(&user)).unwrap();
        assert!(
            !item.contains_key("referrer_id"),
            "an unactivated user must stay out of referrer-index"
        );
        user.activation = Some(Activation {
            invite_code: InviteCode::from_trusted("ABC123".into()),
            referrer: UserId::from_trusted("r".into()),
            activated_at: 1_800_000_000_500,
        });
        assert_eq!(roundtrip(&user), user);
    }
}
