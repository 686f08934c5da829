//! Users and referrals as the rest of the code sees them.
use super::{InviteCode, PhoneNumber};

/// Opaque, random user id (UUID v4); the JWT subject.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UserId(String);

impl UserId {
    pub fn generate() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// An id from a verified token or our own table.
    pub fn from_trusted(id: String) -> Self {
        Self(id)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The invite code this user activated, whose it was, and when (Unix milliseconds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activation {
    pub invite_code: InviteCode,
    pub referrer: UserId,
    pub activated_at: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: UserId,
    pub phone: PhoneNumber,
    pub invite_code: InviteCode,
    /// Unix milliseconds.
    pub created_at: i64,
    /// Bumped by logout; tokens carrying an older version are refused.
    pub token_version: u64,
    pub activation: Option<Activation>,
    pub referrals_count: u64,
}

impl User {
    /// A user as the first successful login creates them.
    pub fn new(phone: PhoneNumber, now_ms: i64) -> Self {
        Self {
            id: UserId::generate(),
            phone,
            invite_code: InviteCode::generate(),
            created_at: now_ms,
            token_version: 0,
            activation: None,
            referrals_count: 0,
        }
    }
}

/// Someone who activated my code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Referral {
    pub user_id: UserId,
    pub phone: PhoneNumber,
    pub activated_at: i64,
}
