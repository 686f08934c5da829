//! How the domain is laid out in DynamoDB items: key formats, one record type per item, and the
//! mapping both ways. Nothing here calls DynamoDB.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::{
    Activation, Budget, ClientTag, CodeHash, HourWindow, InviteCode, Mark, OtpState, PhoneNumber,
    Referral, User, UserId,
};

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(StoreError::mapping)
}

pub(super) fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(StoreError::mapping)
}

/// A DynamoDB string attribute.
pub(super) fn string_value(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

/// A DynamoDB number attribute (DynamoDB sends numbers as decimal text).
pub(super) fn number_value(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// The uniques table's key claiming a phone.
pub(super) fn phone_key(phone: &PhoneNumber) -> String {
    format!("phone#{}", phone.as_str())
}

/// The uniques table's key claiming an invite code.
pub(super) fn invite_key(code: &InviteCode) -> String {
    format!("invite#{}", code.as_str())
}

#[derive(Serialize, Deserialize)]
pub(super) struct UserItem {
    id: String,
    phone: String,
    invite_code: String,
    created_at: i64,
    token_version: u64,
    /// Activations counted on the user item before the count moved to its shards: still read
    /// and added to them, never written again.
    #[serde(default, skip_serializing_if = "is_zero")]
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
        let activation = u.activation.as_ref();
        Self {
            id: u.id.as_str().to_owned(),
            phone: u.phone.as_str().to_owned(),
            invite_code: u.invite_code.as_str().to_owned(),
            created_at: u.created_at,
            token_version: u.token_version,
            // The count lives in its shards (`referral_count_key`); only new users are written
            // whole, and they have none.
            referrals_count: 0,
            activated_invite_code: activation.map(|a| a.invite_code.as_str().to_owned()),
            referrer_id: activation.map(|a| a.referrer.as_str().to_owned()),
            activated_at: activation.map(|a| a.activated_at),
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

fn is_zero(n: &u64) -> bool {
    *n == 0
}

pub(super) fn user_from_item(item: Item) -> Result<User, StoreError> {
    from_item::<UserItem>(item).map(User::from)
}

/// A counter item's `count` (a budget shard, a referral count shard); 0 where it is missing. A
/// referral count shard's may be below 0 (`i64`): a deleted account's activation takes 1 from
/// whichever shard it draws, and only the shards' sum is a count.
pub(super) fn count_of<T: std::str::FromStr + Default>(
    item: Option<&Item>,
    attribute: &str,
) -> Result<T, StoreError> {
    match item.and_then(|i| i.get(attribute)) {
        None => Ok(T::default()),
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| StoreError::mapping(format!("`{attribute}` is not a count"))),
    }
}

/// A counter's value as a `u32`; 0 when absent or unreadable.
pub(super) fn count(item: Option<&Item>, attribute: &str) -> u32 {
    count_of::<u64>(item, attribute)
        .ok()
        .and_then(|c| u32::try_from(c).ok())
        .unwrap_or(0)
}

/// What `referrer-index` projects: the key attributes and the phone.
#[derive(Serialize, Deserialize)]
pub(super) struct ReferralItem {
    id: String,
    phone: String,
    activated_at: i64,
}

impl From<ReferralItem> for Referral {
    fn from(r: ReferralItem) -> Self {
        Self {
            user_id: UserId::from_trusted(r.id),
            phone: PhoneNumber::from_trusted(r.phone),
            activated_at: r.activated_at,
        }
    }
}

/// The otp table's key of one client's sends in one hour (attribute `sends`): an item per client
/// and hour, so no item grows with the number of clients. Phones start with `+`, so the keys
/// never meet.
pub(super) fn client_sends_key(client: &ClientTag, window: &HourWindow) -> String {
    format!("limit#sends#{}#{}", client.as_str(), window.start)
}

/// The otp table's key of one client's wrong codes in one hour.
pub(super) fn failures_key(client: &ClientTag, window: &HourWindow) -> String {
    format!("limit#failures#{}#{}", client.as_str(), window.start)
}

/// The otp table's key of one address range's sends in one hour (attribute `sends`): the range's
/// tag is keyed under its own label, so it never equals a client's.
pub(super) fn range_sends_key(range: &ClientTag, window: &HourWindow) -> String {
    format!("limit#range-sends#{}#{}", range.as_str(), window.start)
}

/// The otp table's key of one address range's wrong codes in one hour (attribute `failures`).
pub(super) fn range_failures_key(range: &ClientTag, window: &HourWindow) -> String {
    format!("limit#range-failures#{}#{}", range.as_str(), window.start)
}

/// The otp table's key of one shard of a budget's window (attribute `count`).
pub(super) fn budget_shard_key(budget: &Budget, shard: u32) -> String {
    format!("limit#{}#{}#{shard}", budget.name, budget.start)
}

/// The uniques table's claim that two users are linked by an activation, either way round: the
/// same key whoever activated whose code, which is what keeps referrals from being mutual.
pub(super) fn pair_key(a: &UserId, b: &UserId) -> String {
    let (low, high) = if a.as_str() <= b.as_str() {
        (a, b)
    } else {
        (b, a)
    };
    format!("pair#{}#{}", low.as_str(), high.as_str())
}

/// How many shards a user's referral count is split into: an activation adds 1 to one of them at
/// random, so a popular code's activations spread over this many items, and a profile reads them
/// all in its one batch read. At 200 activations a second of one code, each shard takes 12.5
/// transactional writes a second (docs/data-model.md).
pub(super) const REFERRAL_COUNT_SHARDS: u32 = 16;

/// The uniques table's key of one shard of `user`'s referral count (attribute `count`).
pub(super) fn referral_count_key(user: &UserId, shard: u32) -> String {
    format!("referrals#{}#{shard}", user.as_str())
}

/// A claim in the uniques table: a phone's, an invite code's or a pair's, held by `user_id`. A
/// deleted account's invite code stays claimed with no holder (`retired_at` instead), so no one
/// is ever given it again and activating it answers as an unknown code does.
#[derive(Serialize, Deserialize)]
pub(super) struct UniqueItem {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
    /// Unix milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_at: Option<i64>,
}

impl UniqueItem {
    pub(super) fn held(key: String, user: &UserId) -> Self {
        Self {
            key,
            user_id: Some(user.as_str().to_owned()),
            retired_at: None,
        }
    }
}

/// The otp table's key of the note a deletion leaves for the token that made it (phones start
/// with `+`, so the keys never meet).
pub(super) fn deleted_key(user: &UserId) -> String {
    format!("deleted#{}", user.as_str())
}

/// The note a deletion leaves: which token made it (the claims a token of this user differs by),
/// so a repeat of that request, whose first answer was lost, is answered as done. It holds no
/// phone and DynamoDB's TTL removes it once the token is too old to delete anyway.
#[derive(Serialize, Deserialize)]
pub(super) struct DeletedItem {
    /// The otp table's key attribute: [`deleted_key`].
    pub phone: String,
    pub iat: i64,
    pub ver: u64,
    pub ttl: i64,
}

#[derive(Serialize, Deserialize)]
pub(super) struct OtpItem {
    phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_hash: Option<String>,
    expires_at: i64,
    attempts: u32,
    #[serde(default, skip_serializing_if = "Marks::is_empty")]
    sends: Marks,
    #[serde(default, skip_serializing_if = "Marks::is_empty")]
    failures: Marks,
    revision: u64,
    /// Random per save, so a save whose reply was lost can recognise itself.
    #[serde(default)]
    write_id: String,
    /// DynamoDB TTL (Unix seconds). Deletion lags by up to days, so reads never rely on it.
    ttl: i64,
}

/// A send or a wrong code as items written before marks were packed held it: when, and the
/// client's tag. Such items still read (they expire within a day).
#[derive(Deserialize)]
struct MarkItem {
    at: i64,
    by: String,
}

/// Packed marks: the first mark's time (Unix seconds, a big-endian i64), then per mark its time
/// as seconds from that one (a big-endian i32: marks of one phone lie within a day) and the client
/// tag's 12 bytes.
const BASE_BYTES: usize = 8;
const MARK_BYTES: usize = 16;
const TAG_BYTES: usize = 12;

/// A phone's marks as one binary attribute, [`MARK_BYTES`] each: half the size of a list of
/// `{at, by}` maps, and a phone keeps up to `MAX_PHONE_MARKS` of them.
#[derive(Default)]
pub(super) struct Marks(Vec<Mark>);

impl Marks {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Serialize for Marks {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::Error;
        let base = self.0.first().map_or(0, |m| m.at);
        let mut bytes = Vec::with_capacity(BASE_BYTES + self.0.len() * MARK_BYTES);
        bytes.extend_from_slice(&base.to_be_bytes());
        for mark in &self.0 {
            let at = mark
                .at
                .checked_sub(base)
                .and_then(|d| i32::try_from(d).ok())
                .ok_or_else(|| S::Error::custom("a phone's marks lie too far apart"))?;
            let tag = B64
                .decode(mark.client.as_str())
                .ok()
                .filter(|t| t.len() == TAG_BYTES)
                .ok_or_else(|| S::Error::custom("a client tag is not 12 bytes in base64"))?;
            bytes.extend_from_slice(&at.to_be_bytes());
            bytes.extend_from_slice(&tag);
        }
        serializer.serialize_bytes(&bytes)
    }
}

impl<'de> Deserialize<'de> for Marks {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(MarksVisitor)
    }
}

struct MarksVisitor;

impl<'de> serde::de::Visitor<'de> for MarksVisitor {
    type Value = Marks;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("packed marks, or a list of {at, by}")
    }

    fn visit_bytes<E: serde::de::Error>(self, bytes: &[u8]) -> Result<Marks, E> {
        let (base, marks) = bytes
            .split_first_chunk::<BASE_BYTES>()
            .filter(|(_, marks)| marks.len().is_multiple_of(MARK_BYTES))
            .ok_or_else(|| E::custom("packed marks are not whole"))?;
        let base = i64::from_be_bytes(*base);
        let marks = marks
            .chunks_exact(MARK_BYTES)
            .map(|chunk| {
                let (at, tag) = chunk.split_at(4);
                let at = i32::from_be_bytes([at[0], at[1], at[2], at[3]]);
                Mark {
                    at: base + i64::from(at),
                    client: ClientTag::from_trusted(B64.encode(tag)),
                }
            })
            .collect();
        Ok(Marks(marks))
    }

    fn visit_byte_buf<E: serde::de::Error>(self, bytes: Vec<u8>) -> Result<Marks, E> {
        self.visit_bytes(&bytes)
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Marks, A::Error> {
        let mut marks = Vec::new();
        while let Some(m) = seq.next_element::<MarkItem>()? {
            marks.push(Mark {
                at: m.at,
                client: ClientTag::from_trusted(m.by),
            });
        }
        Ok(Marks(marks))
    }
}

impl OtpItem {
    /// The attributes an item leaves out when their value is empty: a save that writes over an
    /// item attribute by attribute (a PartiQL `UPDATE`) removes those the new state lacks.
    pub(super) const OPTIONAL: [&str; 3] = ["code_hash", "sends", "failures"];

    pub(super) fn new(phone: &PhoneNumber, s: &OtpState, write_id: &str) -> Self {
        Self {
            phone: phone.as_str().to_owned(),
            code_hash: s.code_hash.map(|h| B64.encode(h.0)),
            expires_at: s.expires_at,
            attempts: s.attempts,
            sends: Marks(s.sends.clone()),
            failures: Marks(s.failures.clone()),
            revision: s.revision,
            write_id: write_id.to_owned(),
            ttl: s.forget_at(),
        }
    }

    pub(super) fn into_state(self) -> Result<OtpState, StoreError> {
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
            sends: self.sends.0,
            failures: self.failures.0,
            revision: self.revision,
        })
    }
}

/// An item's size as DynamoDB counts it for its 400 KB limit and for capacity units: each
/// attribute's name and value in bytes; a number about one byte per two significant digits plus
/// one; a list or map 3 bytes plus its elements, each with one byte more.
#[cfg(any(test, feature = "testing"))]
pub fn item_size(item: &Item) -> usize {
    item.iter()
        .map(|(name, value)| name.len() + value_size(value))
        .sum()
}

#[cfg(any(test, feature = "testing"))]
fn value_size(value: &AttributeValue) -> usize {
    let number = |n: &str| {
        let digits: String = n.chars().filter(char::is_ascii_digit).collect();
        let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
        significant.div_ceil(2) + 1
    };
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => number(n),
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v.iter().map(|n| number(n)).sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        AttributeValue::L(v) => 3 + v.iter().map(|e| 1 + value_size(e)).sum::<usize>(),
        AttributeValue::M(m) => {
            3 + m
                .iter()
                .map(|(k, e)| 1 + k.len() + value_size(e))
                .sum::<usize>()
        }
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::CodeHasher;
    use crate::domain::otp::MAX_PHONE_MARKS;

    #[test]
    fn the_largest_otp_item_any_accepted_configuration_allows_stays_under_3_5_kb() {
        let hasher = CodeHasher::new(b"k".to_vec());
        // Times as far from 1970 as they go, a day apart at most.
        let mark = |i: u32| Mark {
            at: i64::MAX / 2 - i64::from(i) * 400,
            client: hasher
                .caller(&crate::domain::ClientAddress::from_source_ip(Some(
                    &format!("203.0.{}.{}", i / 256, i % 256),
                )))
                .client,
        };
        // The longest E.164 number, every number at its longest, and every mark a phone keeps.
        let phone = PhoneNumber::from_trusted("+999999999999999".into());
        let sends = 100;
        let state = OtpState {
            code_hash: Some(CodeHash([0xff; 32])),
            expires_at: i64::MAX,
            attempts: 100,
            sends: (0..sends).map(mark).collect(),
            failures: (sends..MAX_PHONE_MARKS).map(mark).collect(),
            revision: u64::MAX,
        };
        let item = to_item(&OtpItem::new(
            &phone,
            &state,
            &uuid::Uuid::new_v4().to_string(),
        ));
        let size = item_size(&item.unwrap());
        assert!(size <= 3_500, "{size} bytes");
        // Marks make up most of it: 16 bytes each.
        assert!(size > 16 * MAX_PHONE_MARKS as usize, "{size} bytes");
    }

    #[test]
    fn marks_survive_packing_and_marks_stored_as_lists_still_read() {
        let hasher = CodeHasher::new(b"k".to_vec());
        let tag = hasher
            .caller(&crate::domain::ClientAddress::from_source_ip(Some("::1")))
            .client;
        let state = OtpState {
            sends: vec![Mark {
                at: 1_800_000_000,
                client: tag.clone(),
            }],
            failures: vec![
                Mark {
                    at: 1_800_000_001,
                    client: tag.clone(),
                },
                Mark {
                    at: 1_800_000_002,
                    client: tag.clone(),
                },
            ],
            revision: 3,
            ..OtpState::default()
        };
        let phone = PhoneNumber::from_trusted("+79991234567".into());
        let item = to_item(&OtpItem::new(&phone, &state, "w")).unwrap();
        assert_eq!(
            item.get("sends")
                .and_then(|v| v.as_b().ok())
                .map(|b| b.as_ref().len()),
            Some(8 + 16)
        );
        assert!(
            !to_item(&OtpItem::new(&phone, &OtpState::default(), "w"))
                .unwrap()
                .contains_key("sends")
        );
        let back = from_item::<OtpItem>(item).unwrap().into_state().unwrap();
        assert_eq!(back, state);

        let mut legacy = to_item(&OtpItem::new(&phone, &OtpState::default(), "w")).unwrap();
        let listed = AttributeValue::L(vec![AttributeValue::M(HashMap::from([
            ("at".to_owned(), number_value(1_800_000_000)),
            ("by".to_owned(), string_value(tag.as_str())),
        ]))]);
        legacy.insert("sends".into(), listed);
        let read = from_item::<OtpItem>(legacy).unwrap().into_state().unwrap();
        assert_eq!(read.sends, state.sends);
    }

    #[test]
    fn an_empty_states_item_lacks_exactly_the_optional_attributes_of_a_full_ones() {
        let phone = PhoneNumber::from_trusted("+79991234567".into());
        let client = CodeHasher::new(b"k".to_vec())
            .caller(&crate::domain::ClientAddress::from_source_ip(Some("::1")))
            .client;
        let mark = Mark {
            at: 1_800_000_000,
            client,
        };
        let full = OtpState {
            code_hash: Some(CodeHash([1; 32])),
            sends: vec![mark.clone()],
            failures: vec![mark],
            ..OtpState::default()
        };
        let names = |state: &OtpState| -> std::collections::BTreeSet<String> {
            to_item(&OtpItem::new(&phone, state, "w"))
                .unwrap()
                .into_keys()
                .collect()
        };
        let mut optional = OtpItem::OPTIONAL.map(String::from);
        optional.sort();
        let missing: Vec<String> = names(&full)
            .difference(&names(&OtpState::default()))
            .cloned()
            .collect();
        assert_eq!(missing, optional);
    }

    #[test]
    fn item_sizes_count_names_values_and_nesting_as_dynamodb_does() {
        let item: Item = HashMap::from([
            ("key".to_owned(), string_value("abc")),
            ("count".to_owned(), number_value(12_300)),
            (
                "l".to_owned(),
                AttributeValue::L(vec![number_value(1), string_value("xy")]),
            ),
        ]);
        // key 3 + 3; count 5 + (3 significant digits: 2 bytes + 1); l 1 + 3 + (1 + 2) + (1 + 2).
        assert_eq!(item_size(&item), 6 + 8 + 10);
    }

    #[test]
    fn a_user_survives_the_trip_through_its_item() {
        let mut user = User::new(
            PhoneNumber::from_trusted("+79991234567".into()),
            1_800_000_000_000,
        );
        let roundtrip = |u: &User| user_from_item(to_item(&UserItem::from(u)).unwrap()).unwrap();
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
