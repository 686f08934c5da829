//! Users and their claims: the user item with its phone's and invite code's claims, activations
//! (the pair's claim and the referrer's count shards), referral lists, logout (the token version)
//! and deletion; each change that spans items is one transaction.
use std::collections::HashMap;

use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::types::builders::UpdateBuilder;
use aws_sdk_dynamodb::types::{
    ConditionCheck, Delete, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem, Update,
};
use rand::Rng;

use super::error::{Cancelled, condition_failed, conflicted_only_at, held_by_transaction};
use super::items::{
    DeletedItem, Item, REFERRAL_COUNT_SHARDS, ReferralItem, UniqueItem, count_of, deleted_key,
    from_item, invite_key, number_value, pair_key, phone_key, referral_count_key, string_value,
    to_item, user_from_item,
};
use super::{NewUserItem, REFERRER_INDEX, Store, StoreError, Wanted, WriteId, owner_from};
use crate::domain::{
    Activation, ActivationRefused, InviteCode, OtpState, PhoneNumber, Referral, ReferralKey,
    Referrer, User, UserId,
};

/// A user as read, with the shards of their referral count added to whatever count the user
/// item itself holds from before the count moved to shards.
fn with_count(
    user: Option<Item>,
    shards: impl Iterator<Item = Option<Item>>,
) -> Result<Option<User>, StoreError> {
    let Some(item) = user else { return Ok(None) };
    let mut user = user_from_item(item)?;
    // A shard may hold less than 0 (a deleted account's activation taken back); the sum never.
    let mut count = i64::try_from(user.referrals_count).unwrap_or(i64::MAX);
    for shard in shards {
        count += count_of::<i64>(shard.as_ref(), REFERRAL_COUNT)?;
    }
    user.referrals_count = u64::try_from(count).unwrap_or(0);
    Ok(Some(user))
}

/// The attribute of a referral count shard.
const REFERRAL_COUNT: &str = "count";

/// The attribute that closes a deleted account's referral count shard: an activation adds to a
/// shard only while it is absent, so one that read the code's claim before the deletion retired
/// it is refused rather than counted on nobody.
const CLOSED: &str = "closed";

/// An activation's items, in the order its transaction gives them (built from [`Self::ALL`]), so
/// a cancellation's reasons (one per item, in order) are read by name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ActivationItem {
    MyUser,
    PairClaim,
    /// The referrer's count shard: refused only when the referrer's account was deleted.
    CountShard,
}

impl ActivationItem {
    const ALL: [Self; 3] = [Self::MyUser, Self::PairClaim, Self::CountShard];
}

// A reason is read at `item as usize`: `ALL` lists the items in the order of their discriminants.
const _: () = {
    let mut i = 0;
    while i < ActivationItem::ALL.len() {
        assert!(ActivationItem::ALL[i] as usize == i);
        i += 1;
    }
};

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
    #[error(transparent)]
    Refused(ActivationRefused),
    /// My account was deleted since the token's user was read.
    #[error("the activating user is gone")]
    UserGone,
    /// Another transaction touched the same items, or they changed between read and write.
    #[error("conflicting transaction")]
    Conflict,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The token a deletion was made with: a token of a user differs from the others by when it was
/// issued and the token version it carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeletedBy {
    pub iat: i64,
    pub ver: u64,
}

/// What a deletion's transaction came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    /// Every item of the account went in one transaction.
    Done,
    /// An item changed since it was read (a logout, an activation, a new code, a parallel
    /// deletion), or another transaction held one: nothing was written; read again.
    Changed,
}

/// What a logout's update of the user's token version came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Revoke {
    /// The version moved on from `current` by this logout: every older token is revoked.
    Done,
    /// The version had already moved on (the caller's token was revoked before).
    Moved,
    /// A transaction held the user item (an activation of theirs): nothing was written; try again.
    Held,
    /// The user is gone (their account was deleted).
    Gone,
}

impl Store {
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
        owner_from(self.get(&self.tables.uniques, "key", &key, None).await?)
    }

    /// The user (with its referral count) and who holds `code`, read in one call: what an
    /// activation checks first.
    pub async fn user_and_invite_owner(
        &self,
        id: &UserId,
        code: &InviteCode,
    ) -> Result<(Option<User>, Option<UserId>), StoreError> {
        let mut wanted = vec![self.user_wanted(id), self.unique_wanted(invite_key(code))];
        wanted.extend(self.referral_count_shards(id));
        let mut found = self.get_all(&wanted).await?.into_iter();
        let (user, owner) = (found.next().flatten(), found.next().flatten());
        Ok((with_count(user, found)?, owner_from(owner)?))
    }

    /// The user and their referral count, read in one call: the user item and every shard of
    /// the count (see [`Store::activate`]).
    pub async fn user(&self, id: &UserId) -> Result<Option<User>, StoreError> {
        let mut wanted = vec![self.user_wanted(id)];
        wanted.extend(self.referral_count_shards(id));
        let mut found = self.get_all(&wanted).await?.into_iter();
        let user = found.next().flatten();
        with_count(user, found)
    }

    /// Adds `by` to one of `referrer`'s referral count shards, drawn at random: an activation's
    /// +1, or -1 when a deleted account's activation is taken back.
    fn referral_count_update(&self, referrer: &UserId, by: i64) -> UpdateBuilder {
        let shard = rand::rng().random_range(0..REFERRAL_COUNT_SHARDS);
        Update::builder()
            .table_name(&self.tables.uniques)
            .key("key", string_value(&referral_count_key(referrer, shard)))
            .update_expression("ADD #n :by")
            .expression_attribute_names("#n", REFERRAL_COUNT)
            .expression_attribute_values(":by", number_value(by))
    }

    /// `id`'s user item, for a batch read.
    fn user_wanted<'a>(&'a self, id: &UserId) -> Wanted<'a> {
        Wanted {
            table: &self.tables.users,
            key: "id",
            value: id.as_str().to_owned(),
        }
    }

    /// The items that hold `user`'s referral count, for a batch read.
    fn referral_count_shards<'a>(&'a self, user: &'a UserId) -> impl Iterator<Item = Wanted<'a>> {
        (0..REFERRAL_COUNT_SHARDS)
            .map(move |shard| self.unique_wanted(referral_count_key(user, shard)))
    }

    /// Writes the user and claims its phone and invite code in one transaction: either all three
    /// items are written or none is.
    pub async fn create_user(&self, user: &User) -> Result<(), CreateUserError> {
        let uid = user.id.as_str();
        let items = Vec::from(self.user_items(user)?);
        // The user id is new per attempt: it serves as the idempotency token.
        let Err(err) = self.transact(items, uid).await else {
            return Ok(());
        };
        match Cancelled::from_sdk(err) {
            // The transaction is the new user's items alone.
            Cancelled::Condition(reasons) => {
                let failed = |item: NewUserItem| condition_failed(&reasons, item.at(0));
                if failed(NewUserItem::PhoneClaim) {
                    Err(CreateUserError::PhoneTaken)
                } else if failed(NewUserItem::InviteClaim) {
                    Err(CreateUserError::InviteCodeTaken)
                } else {
                    // A user id collision (UUID v4: practically never).
                    Err(CreateUserError::Conflict)
                }
            }
            Cancelled::Conflict => Err(CreateUserError::Conflict),
            Cancelled::Failed(e) => Err(e.into()),
        }
    }

    /// Records `user`'s activation and counts it on the referrer, atomically, without writing
    /// or holding the referrer's user item: a popular code's activations would all meet on it.
    /// One transaction:
    /// - my user item, only if it exists and has no `referrer_id` yet (once in a lifetime);
    /// - the pair's claim (`pair#<a>#<b>`), only if no activation links us yet either way round
    ///   (never mutual: had the referrer activated my code, the claim would exist);
    /// - 1 added to one of the referrer's count shards, drawn at random, so parallel activations
    ///   of one code spread over `REFERRAL_COUNT_SHARDS` items (a conflict's retry draws again).
    ///
    /// The code's holder was read before (codes never change hands), and "not my own code" is
    /// the domain's rule on that read. When a condition fails, the items as they stood (returned
    /// by DynamoDB, or read back) go through [`User::activate`] again, so the refusal comes from
    /// the domain rule.
    pub async fn activate(
        &self,
        user: &User,
        activation: &Activation,
    ) -> Result<(), ActivateError> {
        let on_failure = ReturnValuesOnConditionCheckFailure::AllOld;
        let mine = Update::builder()
            .table_name(&self.tables.users)
            .key("id", string_value(user.id.as_str()))
            .update_expression(
                "SET activated_invite_code = :code, referrer_id = :referrer, activated_at = :at",
            )
            .condition_expression("attribute_exists(id) AND attribute_not_exists(referrer_id)")
            .expression_attribute_values(":code", string_value(activation.invite_code.as_str()))
            .expression_attribute_values(":referrer", string_value(activation.referrer.as_str()))
            .expression_attribute_values(":at", number_value(activation.activated_at))
            .return_values_on_condition_check_failure(on_failure.clone())
            .build()
            .map_err(StoreError::mapping)?;
        let pair = pair_key(&user.id, &activation.referrer);
        let claim = UniqueItem::held(pair.clone(), &user.id);
        let claim = Put::builder()
            .table_name(&self.tables.uniques)
            .set_item(Some(to_item(&claim)?))
            .condition_expression("attribute_not_exists(#k)")
            .expression_attribute_names("#k", "key")
            .return_values_on_condition_check_failure(on_failure)
            .build()
            .map_err(StoreError::mapping)?;
        let mine = TransactWriteItem::builder().update(mine).build();
        let claim = TransactWriteItem::builder().put(claim).build();
        let mut draws = 0;
        let err = loop {
            let count = self
                .referral_count_update(&activation.referrer, 1)
                .condition_expression("attribute_not_exists(#closed)")
                .expression_attribute_names("#closed", CLOSED)
                .build()
                .map_err(StoreError::mapping)?;
            let count = TransactWriteItem::builder().update(count).build();
            let items = ActivationItem::ALL
                .map(|item| match item {
                    ActivationItem::MyUser => mine.clone(),
                    ActivationItem::PairClaim => claim.clone(),
                    ActivationItem::CountShard => count.clone(),
                })
                .to_vec();
            let token = uuid::Uuid::new_v4().to_string();
            let Err(err) = self.transact(items, token).await else {
                return Ok(());
            };
            draws += 1;
            // Another activation of the same code held the drawn shard, and nothing of mine:
            // not a race on my items, so draw another shard at once rather than back off.
            if draws < REFERRAL_COUNT_SHARDS
                && conflicted_only_at(&err, ActivationItem::CountShard as usize)
            {
                continue;
            }
            break err;
        };
        let reasons = match Cancelled::from_sdk(err) {
            Cancelled::Condition(reasons) => reasons,
            Cancelled::Conflict => return Err(ActivateError::Conflict),
            Cancelled::Failed(e) => return Err(e.into()),
        };
        let failed = |at: ActivationItem| condition_failed(&reasons, at as usize);
        let returned = |at: ActivationItem| reasons.get(at as usize).and_then(|r| r.item.clone());
        // The referrer's account was deleted since its code's claim was read: the code is as
        // unknown as any other (its claim is retired now).
        let referrer_gone = failed(ActivationItem::CountShard);
        // Me as I stood: my item if its condition failed, else as read before the transaction.
        let me = if failed(ActivationItem::MyUser) {
            match returned(ActivationItem::MyUser) {
                Some(item) => Some(user_from_item(item)?),
                None => self.user(&user.id).await?,
            }
        } else {
            Some(user.clone())
        };
        let Some(me) = me else {
            return Err(ActivateError::UserGone);
        };
        if referrer_gone && !failed(ActivationItem::MyUser) && !failed(ActivationItem::PairClaim) {
            return Err(ActivateError::Refused(ActivationRefused::NotFound));
        }
        // Who made the pair's claim: if the referrer did, they had activated my code.
        let pair_maker = if failed(ActivationItem::PairClaim) {
            match returned(ActivationItem::PairClaim) {
                Some(item) => owner_from(Some(item))?,
                None => self.unique_owner(pair).await?,
            }
        } else {
            None
        };
        let holder = Referrer {
            id: activation.referrer.clone(),
            invite_code: activation.invite_code.clone(),
            referred_by: (pair_maker.as_ref() == Some(&activation.referrer))
                .then(|| user.id.clone()),
        };
        match me.activate(
            &activation.invite_code,
            Some(&holder),
            activation.activated_at,
        ) {
            Err(refused) => Err(ActivateError::Refused(refused)),
            // The rules allow it on the items as they stood: they changed in between.
            Ok(_) => Err(ActivateError::Conflict),
        }
    }

    /// Writes the pair claim of every activation made before activations wrote one (a one-off
    /// after upgrading: `xtask backfill-pairs`), so the never-mutual rule holds for them too.
    /// Walks `referrer-index` (only activated users are in it) page by page and puts each
    /// missing claim with `attribute_not_exists`, so running it twice, or beside live
    /// activations, changes nothing they wrote. Returns the activations seen and the claims
    /// written. One `PutItem` per activation, one after another: minutes per hundred thousand.
    pub async fn backfill_pair_claims(&self) -> Result<(u64, u64), StoreError> {
        let (mut seen, mut written) = (0, 0);
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.tables.users)
                .index_name(REFERRER_INDEX)
                .projection_expression("id, referrer_id")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(StoreError::from_sdk)?;
            for item in page.items.unwrap_or_default() {
                let id = |name: &str| {
                    item.get(name)
                        .and_then(|v| v.as_s().ok())
                        .map(|v| UserId::from_trusted(v.clone()))
                        .ok_or_else(|| StoreError::mapping(format!("an activation without {name}")))
                };
                let (user, referrer) = (id("id")?, id("referrer_id")?);
                let claim = UniqueItem::held(pair_key(&user, &referrer), &user);
                let result = self
                    .client
                    .put_item()
                    .table_name(&self.tables.uniques)
                    .set_item(Some(to_item(&claim)?))
                    .condition_expression("attribute_not_exists(#k)")
                    .expression_attribute_names("#k", "key")
                    .send()
                    .await;
                seen += 1;
                match result {
                    Ok(_) => written += 1,
                    Err(e) if e.code() == Some("ConditionalCheckFailedException") => {}
                    Err(e) => return Err(StoreError::from_sdk(e)),
                }
            }
            match page.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok((seen, written)),
            }
        }
    }

    /// Up to `limit` users who activated `referrer`'s code, newest first, and the cursor of the
    /// next page if there is one. Reads `limit + 1` so the last page never ends in an empty one.
    pub async fn referrals(
        &self,
        referrer: &UserId,
        limit: usize,
        after: Option<&ReferralKey>,
    ) -> Result<(Vec<Referral>, Option<ReferralKey>), StoreError> {
        // The cursor carries no referrer: the start key is rebuilt with the caller's own id, so a
        // crafted cursor cannot page through someone else's list.
        let start = after.map(|c| {
            HashMap::from([
                ("id".to_owned(), string_value(c.user_id.as_str())),
                ("referrer_id".to_owned(), string_value(referrer.as_str())),
                ("activated_at".to_owned(), number_value(c.activated_at)),
            ])
        });
        let out = self
            .client
            .query()
            .table_name(&self.tables.users)
            .index_name(REFERRER_INDEX)
            .key_condition_expression("referrer_id = :me")
            .expression_attribute_values(":me", string_value(referrer.as_str()))
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
            .map(|item| from_item::<ReferralItem>(item).map(Referral::from))
            .collect::<Result<Vec<_>, _>>()?;
        let next = if referrals.len() > limit {
            referrals.truncate(limit);
            referrals.last().map(Referral::key)
        } else {
            None
        };
        Ok((referrals, next))
    }

    /// Bumps the user's token version if it still is `current`, revoking every token issued
    /// before. The update records `logout_id`, so a retry whose first attempt had landed counts
    /// as done.
    pub async fn revoke_tokens(
        &self,
        user: &UserId,
        current: u64,
        logout_id: &WriteId,
    ) -> Result<Revoke, StoreError> {
        let logout_id = logout_id.0.as_str();
        let result = self
            .client
            .update_item()
            .table_name(&self.tables.users)
            .key("id", string_value(user.as_str()))
            .update_expression("SET logout_id = :logout ADD token_version :one")
            .condition_expression("token_version = :current")
            .expression_attribute_values(":one", number_value(1))
            .expression_attribute_values(":current", number_value(current))
            .expression_attribute_values(":logout", string_value(logout_id))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Revoke::Done),
            // An activation's transaction on the same user: nothing was written.
            Err(e) if held_by_transaction(e.code()) => Ok(Revoke::Held),
            Err(e) if e.code() == Some("ConditionalCheckFailedException") => {
                let stored = self
                    .read_back(
                        &self.tables.users,
                        "id",
                        user.as_str(),
                        "logout_id, token_version",
                    )
                    .await?;
                let ours = stored.get("logout_id") == Some(&string_value(logout_id))
                    && stored.get("token_version") == Some(&number_value(current + 1));
                Ok(if ours {
                    Revoke::Done
                } else if stored.is_empty() {
                    Revoke::Gone
                } else {
                    Revoke::Moved
                })
            }
            Err(e) => Err(StoreError::from_sdk(e)),
        }
    }

    /// The user item and the note a deletion by one of their tokens left, if any, in one read:
    /// what a deletion reads first.
    pub async fn user_and_deletion(
        &self,
        id: &UserId,
    ) -> Result<(Option<User>, Option<DeletedBy>), StoreError> {
        let [user, note] = self
            .get_many([self.user_wanted(id), self.otp_wanted(deleted_key(id))])
            .await?;
        let note = note
            .map(from_item::<DeletedItem>)
            .transpose()?
            .map(|d| DeletedBy {
                iat: d.iat,
                ver: d.ver,
            });
        Ok((user.map(user_from_item).transpose()?, note))
    }

    /// Deletes `user`'s account in one transaction, so no one ever sees it half deleted:
    /// - the user item, only if it still carries the token version `by` was issued with and the
    ///   activation as read (leaving `referrer-index`, so the referrer's list, with it);
    /// - the phone's claim, so the number registers again as a new user;
    /// - the invite code's claim is kept with no holder (retired): never given to anyone again,
    ///   and answered as unknown;
    /// - every shard of the user's referral count is replaced by a closed one, so an activation
    ///   that read the code's claim before is refused instead of counting on nobody;
    /// - the phone's pending code is withdrawn over the revision `otp` was read at (its sends and
    ///   wrong codes stay: they are what holds an abuser back), or the phone is checked to still
    ///   have no otp item;
    /// - if the user activated someone's code: the pair's claim goes, and 1 is taken from one of
    ///   the referrer's count shards, drawn at random as an activation draws it;
    /// - a note of the token `by` that made the deletion, expiring at `note_expires_at`.
    pub async fn delete_user(
        &self,
        user: &User,
        otp: &OtpState,
        by: DeletedBy,
        note_expires_at: i64,
        now_ms: i64,
    ) -> Result<Deletion, StoreError> {
        let uid = string_value(user.id.as_str());
        let mut items = Vec::with_capacity(24);
        let delete_user = Delete::builder()
            .table_name(&self.tables.users)
            .key("id", uid.clone())
            .condition_expression(if user.activation.is_some() {
                "token_version = :ver"
            } else {
                "token_version = :ver AND attribute_not_exists(referrer_id)"
            })
            .expression_attribute_values(":ver", number_value(by.ver))
            .build()
            .map_err(StoreError::mapping)?;
        items.push(TransactWriteItem::builder().delete(delete_user).build());
        let phone_claim = Delete::builder()
            .table_name(&self.tables.uniques)
            .key("key", string_value(&phone_key(&user.phone)))
            .condition_expression("user_id = :me")
            .expression_attribute_values(":me", uid.clone())
            .build()
            .map_err(StoreError::mapping)?;
        items.push(TransactWriteItem::builder().delete(phone_claim).build());
        let retired = UniqueItem {
            key: invite_key(&user.invite_code),
            user_id: None,
            retired_at: Some(now_ms),
        };
        let retired = Put::builder()
            .table_name(&self.tables.uniques)
            .set_item(Some(to_item(&retired)?))
            .condition_expression("user_id = :me")
            .expression_attribute_values(":me", uid.clone())
            .build()
            .map_err(StoreError::mapping)?;
        items.push(TransactWriteItem::builder().put(retired).build());
        let note = DeletedItem {
            phone: deleted_key(&user.id),
            iat: by.iat,
            ver: by.ver,
            ttl: note_expires_at,
        };
        let note = Put::builder()
            .table_name(&self.tables.otp)
            .set_item(Some(to_item(&note)?))
            .build()
            .map_err(StoreError::mapping)?;
        items.push(TransactWriteItem::builder().put(note).build());
        items.push(if otp.revision == 0 {
            ConditionCheck::builder()
                .table_name(&self.tables.otp)
                .key("phone", string_value(user.phone.as_str()))
                .condition_expression("attribute_not_exists(phone)")
                .build()
                .map(|c| TransactWriteItem::builder().condition_check(c).build())
                .map_err(StoreError::mapping)
        } else {
            self.otp_put(&user.phone, &otp.withdrawn(), &WriteId::random())
                .map(|p| TransactWriteItem::builder().put(p).build())
        }?);
        for shard in 0..REFERRAL_COUNT_SHARDS {
            let closed = HashMap::from([
                (
                    "key".to_owned(),
                    string_value(&referral_count_key(&user.id, shard)),
                ),
                (CLOSED.to_owned(), number_value(now_ms)),
            ]);
            let closed = Put::builder()
                .table_name(&self.tables.uniques)
                .set_item(Some(closed))
                .build()
                .map_err(StoreError::mapping)?;
            items.push(TransactWriteItem::builder().put(closed).build());
        }
        if let Some(activation) = &user.activation {
            let pair = Delete::builder()
                .table_name(&self.tables.uniques)
                .key(
                    "key",
                    string_value(&pair_key(&user.id, &activation.referrer)),
                )
                .build()
                .map_err(StoreError::mapping)?;
            items.push(TransactWriteItem::builder().delete(pair).build());
            let count = self
                .referral_count_update(&activation.referrer, -1)
                .build()
                .map_err(StoreError::mapping)?;
            items.push(TransactWriteItem::builder().update(count).build());
        }
        let token = uuid::Uuid::new_v4().to_string();
        let Err(err) = self.transact(items, token).await else {
            return Ok(Deletion::Done);
        };
        match Cancelled::from_sdk(err) {
            Cancelled::Condition(_) | Cancelled::Conflict => Ok(Deletion::Changed),
            Cancelled::Failed(e) => Err(e),
        }
    }
}
