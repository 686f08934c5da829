//! How the domain is laid out in DynamoDB items: key formats, one record type per item, and the
//! mapping both ways. Nothing here calls DynamoDB.
use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::{Deserialize, Serialize};

use super::StoreError;
use crate::domain::{
    Activation, ClientTag, CodeHash, HourWindow, InviteCode, Mark, OtpState, PhoneNumber, Referral,
    User, UserId,
};

pub(super) type Item = HashMap<String, AttributeValue>;

pub(super) fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(StoreError::mapping)
}

pub(super) fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item).map_err(StoreError::mapping)
}

pub(super) fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

pub(super) fn n(value: impl ToString) -> AttributeValue {
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
            referrals_count: u.referrals_count,
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

pub(super) fn user_from_item(item: Item) -> Result<User, StoreError> {
    from_item::<UserItem>(item).map(User::from)
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

/// The otp table's key of the hour's send counter: one item an hour holds the service-wide count
/// (`total`) and one count per client that sent (`c_<tag>`), so one conditional update checks
/// both the client's limit and the budget. Phones start with `+`, so the keys never meet.
pub(super) fn sends_key(window: &HourWindow) -> String {
    format!("limit#sends#{}", window.start)
}

/// The attribute of the hour's send counter that counts `client`.
pub(super) fn client_count_attribute(client: &ClientTag) -> String {
    format!("c_{}", client.as_str())
}

/// The otp table's key of one client's wrong codes in one hour.
pub(super) fn failures_key(client: &ClientTag, window: &HourWindow) -> String {
    format!("limit#failures#{}#{}", client.as_str(), window.start)
}

#[derive(Serialize, Deserialize)]
pub(super) struct UniqueItem {
    pub key: String,
    pub user_id: String,
}

#[derive(Serialize, Deserialize)]
pub(super) struct OtpItem {
    phone: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_hash: Option<String>,
    expires_at: i64,
    attempts: u32,
    #[serde(default)]
    sends: Vec<MarkItem>,
    #[serde(default)]
    failures: Vec<MarkItem>,
    revision: u64,
    /// Random per save, so a save whose reply was lost can recognise itself.
    #[serde(default)]
    write_id: String,
    /// DynamoDB TTL (Unix seconds). Deletion lags by up to days, so reads never rely on it.
    ttl: i64,
}

/// A send or a wrong code: when, and the client's tag (never its address).
#[derive(Serialize, Deserialize)]
pub(super) struct MarkItem {
    at: i64,
    by: String,
}

fn mark_items(marks: &[Mark]) -> Vec<MarkItem> {
    marks
        .iter()
        .map(|m| MarkItem {
            at: m.at,
            by: m.client.as_str().to_owned(),
        })
        .collect()
}

fn marks(items: Vec<MarkItem>) -> Vec<Mark> {
    items
        .into_iter()
        .map(|m| Mark {
            at: m.at,
            client: ClientTag::from_trusted(m.by),
        })
        .collect()
}

impl OtpItem {
    pub(super) fn new(phone: &PhoneNumber, s: &OtpState, write_id: &str) -> Self {
        Self {
            phone: phone.as_str().to_owned(),
            code_hash: s.code_hash.map(|h| B64.encode(h.0)),
            expires_at: s.expires_at,
            attempts: s.attempts,
            sends: mark_items(&s.sends),
            failures: mark_items(&s.failures),
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
            sends: marks(self.sends),
            failures: marks(self.failures),
            revision: self.revision,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
