//! The only module that talks to DynamoDB: the conditional and transactional writes that keep
//! phones and invite codes unique and activations single. Split by what it stores: `otp` (a
//! phone's code state, verify-code's transaction), `users` (users and their claims, activations,
//! referrals, logout, deletion), `counters` (the hourly send counters and the budget's shards).
//! This module keeps the [`Store`], its reads, and the items more than one transaction writes.
//! Item layouts live in `items`, error sorting in `error`.
//!
//! Three tables (defined once, in `template.yaml`):
//! - users: one item per user, key `id`. A sparse GSI `referrer-index` (`referrer_id`,
//!   `activated_at`) lists who activated a code, newest first. `phone-index` and
//!   `invite-code-index` (keys only) are for operators' look-ups from the console or CLI; the
//!   API never reads them (see docs/data-model.md).
//! - uniques: `key` = `phone#<E.164>` or `invite#<CODE>` -> `user_id`. Written in the same
//!   transaction as the user with `attribute_not_exists`, these items are what makes a phone or an
//!   invite code unique, and the strongly consistent way to find a user by either (a GSI can do
//!   neither: it is eventually consistent and accepts duplicates). A deleted account's invite
//!   code stays claimed by nobody (retired), and its count shards closed ([`Store::delete_user`]).
//! - otp: one item per phone with the pending code's hash and the rate-limit windows, guarded
//!   by a `revision` number (optimistic locking), expired by DynamoDB TTL on `ttl`; beside them
//!   the hourly counters of the per-client limits and the SMS budget (`limit#...` keys, see
//!   `counters`), and a deletion's note (`deleted#<id>`) while its token could repeat it.
mod counters;
mod error;
mod items;
mod otp;
mod users;

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{BatchStatementRequest, KeysAndAttributes, Put, TransactWriteItem};

pub use counters::{CountedSend, Counting, Seen, SendCount, SendCounters};
pub use error::StoreError;
#[cfg(any(test, feature = "testing"))]
pub use items::item_size;
use items::{
    Item, OtpItem, UniqueItem, UserItem, from_item, invite_key, number_value, phone_key,
    string_value, to_item,
};
pub use otp::{FailureCheck, SaveOutcome, VerificationReads};
pub use users::{ActivateError, CreateUserError, DeletedBy, Deletion, Revoke};

use crate::config::TableNames;
use crate::domain::{OtpState, PhoneNumber, User, UserId};

pub const REFERRER_INDEX: &str = "referrer-index";

/// How many times [`Store::get_many`] asks for keys DynamoDB left unprocessed.
const BATCH_READ_ATTEMPTS: u32 = 4;

/// One item for [`Store::get_many`]: its table, key attribute and key.
struct Wanted<'a> {
    table: &'a str,
    key: &'static str,
    value: String,
}

impl Store {
    /// The otp table's item at `key` (a phone, or a counter's or a note's key), for a batch read.
    fn otp_wanted(&self, key: String) -> Wanted<'_> {
        Wanted {
            table: &self.tables.otp,
            key: "phone",
            value: key,
        }
    }

    /// The uniques table's item at `key` (a claim or a count shard), for a batch read.
    fn unique_wanted(&self, key: String) -> Wanted<'_> {
        Wanted {
            table: &self.tables.uniques,
            key: "key",
            value: key,
        }
    }
}

/// Who holds a claim (a phone or an invite code), from its item in the uniques table; nobody
/// holds a retired one (a deleted account's invite code).
fn owner_from(item: Option<Item>) -> Result<Option<UserId>, StoreError> {
    Ok(item
        .map(from_item::<UniqueItem>)
        .transpose()?
        .and_then(|u| u.user_id)
        .map(UserId::from_trusted))
}

/// Identifies one logical write across the SDK's own retries of it. The SDK retries a write whose
/// reply timed out; if the first attempt had landed, the retry fails its own condition. The item
/// then carries this id, and that counts as written rather than as a lost race.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteId(String);

impl WriteId {
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }
}

/// A phone's next code state, to be saved in the same call as the send's counters
/// ([`Store::count_send`]): the write [`Store::save_otp_state`] makes, as a PartiQL statement.
#[derive(Debug, Clone, Copy)]
pub struct CodeSave<'a> {
    pub phone: &'a PhoneNumber,
    /// Computed from the state read at `next.revision`.
    pub next: &'a OtpState,
    pub write_id: &'a WriteId,
}

/// What became of a [`CodeSave`] that went in the counters' call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaveAnswer {
    Saved,
    /// Someone saved the phone's state first, or a verify's transaction held it: nothing was
    /// saved.
    Moved,
    /// Not known: the statement failed otherwise (logged), or the whole call did, and it may
    /// have landed. [`Store::save_otp_state`] with the same write id settles it.
    Unsettled,
}

/// The item a save of `next` writes: at the revision after the one `next` was read at.
fn otp_item(phone: &PhoneNumber, next: &OtpState, write_id: &WriteId) -> Result<Item, StoreError> {
    let written = OtpState {
        revision: next.revision + 1,
        ..next.clone()
    };
    to_item(&OtpItem::new(phone, &written, &write_id.0))
}

/// A new user's items in a transaction ([`Store::user_items`] builds them in this order), so a
/// cancellation's reasons (one per item, in order) are read by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NewUserItem {
    User,
    PhoneClaim,
    InviteClaim,
}

impl NewUserItem {
    /// Every item, in the order the transaction gives them.
    const ALL: [Self; 3] = [Self::User, Self::PhoneClaim, Self::InviteClaim];

    /// Where the item stands in a transaction whose new user's items start at `first`.
    fn at(self, first: usize) -> usize {
        first + self as usize
    }
}

// `at` counts on `ALL` listing the items in the order of their discriminants.
const _: () = {
    let mut i = 0;
    while i < NewUserItem::ALL.len() {
        assert!(NewUserItem::ALL[i] as usize == i);
        i += 1;
    }
};

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

    /// Writes `items` in one transaction under the idempotency token `token`, which the SDK's own
    /// retries reuse: a retry of a transaction that had landed then succeeds instead of failing
    /// its own conditions. A token is new per logical write.
    async fn transact(
        &self,
        items: Vec<TransactWriteItem>,
        token: impl Into<String>,
    ) -> Result<(), SdkError<TransactWriteItemsError, HttpResponse>> {
        self.client
            .transact_write_items()
            .set_transact_items(Some(items))
            .client_request_token(token)
            .send()
            .await
            .map(|_| ())
    }

    /// The conditional put of a phone's next state: over the revision it was computed from, or
    /// only onto no item at all when that revision is 0.
    fn otp_put(
        &self,
        phone: &PhoneNumber,
        next: &OtpState,
        write_id: &WriteId,
    ) -> Result<Put, StoreError> {
        let read_revision = next.revision;
        let put = Put::builder()
            .table_name(&self.tables.otp)
            .set_item(Some(otp_item(phone, next, write_id)?));
        let put = if read_revision == 0 {
            put.condition_expression("attribute_not_exists(phone)")
        } else {
            put.condition_expression("revision = :read")
                .expression_attribute_values(":read", number_value(read_revision))
        };
        put.build().map_err(StoreError::mapping)
    }

    /// [`Store::save_otp_state`]'s write as a PartiQL statement, for a batch: an `INSERT` when
    /// the state was read from no item (it fails if a parallel send created one), otherwise an
    /// `UPDATE` over the revision it was read at that sets every attribute the item has and
    /// removes the optional ones the new state lacks, so the item is the one a put would write.
    pub(super) fn otp_statement(
        &self,
        save: &CodeSave<'_>,
    ) -> Result<BatchStatementRequest, StoreError> {
        let read_revision = save.next.revision;
        let mut item = otp_item(save.phone, save.next, save.write_id)?;
        let key = item
            .remove("phone")
            .unwrap_or_else(|| string_value(save.phone.as_str()));
        let mut names: Vec<String> = item.keys().cloned().collect();
        names.sort();
        let table = &self.tables.otp;
        let mut parameters = Vec::with_capacity(names.len() + 2);
        let statement = if read_revision == 0 {
            parameters.push(key);
            let mut fields = vec!["'phone': ?".to_owned()];
            for name in names {
                fields.push(format!("'{name}': ?"));
                parameters.extend(item.remove(&name));
            }
            format!(r#"INSERT INTO "{table}" VALUE {{{}}}"#, fields.join(", "))
        } else {
            let mut statement = format!(r#"UPDATE "{table}""#);
            for name in &names {
                statement.push_str(&format!(r#" SET "{name}" = ?"#));
                parameters.extend(item.remove(name));
            }
            for absent in OtpItem::OPTIONAL
                .iter()
                .filter(|n| !names.iter().any(|m| m == *n))
            {
                statement.push_str(&format!(r#" REMOVE "{absent}""#));
            }
            statement.push_str(r#" WHERE "phone" = ? AND "revision" = ?"#);
            parameters.extend([key, number_value(read_revision)]);
            statement
        };
        BatchStatementRequest::builder()
            .statement(statement)
            .set_parameters(Some(parameters))
            .build()
            .map_err(StoreError::mapping)
    }

    /// A new user's item and the claims of its phone and invite code, as transaction items in
    /// the order [`NewUserItem`] names, each written only if its key is free.
    fn user_items(&self, user: &User) -> Result<[TransactWriteItem; 3], StoreError> {
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
        let claim = |key| to_item(&UniqueItem::held(key, &user.id));
        let [a, b, c] = NewUserItem::ALL.map(|item| match item {
            NewUserItem::User => put(&self.tables.users, to_item(&UserItem::from(user))?, "id"),
            NewUserItem::PhoneClaim => {
                put(&self.tables.uniques, claim(phone_key(&user.phone))?, "key")
            }
            NewUserItem::InviteClaim => put(
                &self.tables.uniques,
                claim(invite_key(&user.invite_code))?,
                "key",
            ),
        });
        Ok([a?, b?, c?])
    }

    /// One item by its key, strongly consistent (every read here decides a write or answers
    /// right after one), with only `attributes` if given.
    async fn get(
        &self,
        table: &str,
        key: &str,
        value: &str,
        attributes: Option<&str>,
    ) -> Result<Option<Item>, StoreError> {
        Ok(self
            .client
            .get_item()
            .table_name(table)
            .key(key, string_value(value))
            .set_projection_expression(attributes.map(str::to_owned))
            .consistent_read(true)
            .send()
            .await
            .map_err(StoreError::from_sdk)?
            .item)
    }

    /// Reads items of one or more tables in one `BatchGetItem`, strongly consistent, and gives
    /// them back in the order asked (`None` where an item does not exist). Parallel `GetItem`s
    /// would wait as long, but each call costs the function its own request to sign, send and
    /// parse. Keys DynamoDB leaves unprocessed (it may, when throttled) are asked for again a few
    /// times with a growing pause; then the read counts as unavailable.
    async fn get_many<const N: usize>(
        &self,
        wanted: [Wanted<'_>; N],
    ) -> Result<[Option<Item>; N], StoreError> {
        self.get_all(&wanted)
            .await?
            .try_into()
            .map_err(|_| StoreError::mapping("a batch read answered another number of items"))
    }

    /// [`Store::get_many`] for a number of items known only at run time (at most 100, what one
    /// `BatchGetItem` takes).
    async fn get_all(&self, wanted: &[Wanted<'_>]) -> Result<Vec<Option<Item>>, StoreError> {
        let mut request: HashMap<String, KeysAndAttributes> = HashMap::new();
        for w in wanted {
            let keys = request
                .remove(w.table)
                .map(|k| k.keys)
                .unwrap_or_default()
                .into_iter()
                .chain([HashMap::from([(w.key.to_owned(), string_value(&w.value))])]);
            let batch = KeysAndAttributes::builder()
                .set_keys(Some(keys.collect()))
                .consistent_read(true)
                .build()
                .map_err(StoreError::mapping)?;
            request.insert(w.table.to_owned(), batch);
        }
        let mut found: Vec<(String, Item)> = Vec::new();
        for attempt in 0..BATCH_READ_ATTEMPTS {
            let out = self
                .client
                .batch_get_item()
                .set_request_items(Some(request))
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for (table, items) in out.responses.unwrap_or_default() {
                found.extend(items.into_iter().map(|item| (table.clone(), item)));
            }
            match out.unprocessed_keys.filter(|rest| !rest.is_empty()) {
                Some(rest) => request = rest,
                None => {
                    let mut take = |w: &Wanted<'_>| {
                        let at = found.iter().position(|(table, item)| {
                            table == w.table
                                && item.get(w.key).and_then(|v| v.as_s().ok()) == Some(&w.value)
                        });
                        at.map(|i| found.swap_remove(i).1)
                    };
                    return Ok(wanted.iter().map(&mut take).collect());
                }
            }
            tokio::time::sleep(std::time::Duration::from_millis(20 << attempt)).await;
        }
        Err(StoreError::Unavailable(
            "DynamoDB left part of a batch read unprocessed".into(),
        ))
    }

    /// After a write's condition failed: the attributes that tell whether the item holds that
    /// very write (an SDK retry of a write that had landed) or someone else's.
    async fn read_back(
        &self,
        table: &str,
        key: &str,
        value: &str,
        attributes: &str,
    ) -> Result<Item, StoreError> {
        Ok(self
            .get(table, key, value, Some(attributes))
            .await?
            .unwrap_or_default())
    }
}
