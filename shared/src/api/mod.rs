//! The HTTP handlers, one module per function, plus the views they share. Each `handle` parses
//! the request, calls the use case and renders its result; it never fails: errors become
//! problem+json.
pub mod openapi;
pub mod profile;
pub mod send_code;
pub mod verify_code;
pub mod web;

use serde::Serialize;
use utoipa::ToSchema;

use crate::clock::rfc3339;
use crate::domain::{Referral, User};
pub use crate::usecases::profile::PROFILE_REFERRALS;

/// Someone who activated my invite code.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReferralView {
    #[schema(
        example = "+79990000001",
        max_length = 16,
        pattern = r"^\+[1-9][0-9]{1,14}$"
    )]
    pub phone: String,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-23T04:01:10.120Z", format = DateTime, max_length = 24)]
    pub activated_at: String,
}

impl From<&Referral> for ReferralView {
    fn from(r: &Referral) -> Self {
        Self {
            phone: r.phone.as_str().to_owned(),
            activated_at: rfc3339(r.activated_at),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProfileView {
    /// Opaque user id.
    #[schema(
        example = "0b4f8f0e-8c0e-4f55-9d4a-1f6f3c2b9a10",
        format = "uuid",
        max_length = 36,
        pattern = "^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
    )]
    pub id: String,
    /// E.164.
    #[schema(
        example = "+79991234567",
        max_length = 16,
        pattern = r"^\+[1-9][0-9]{1,14}$"
    )]
    pub phone: String,
    /// My invite code, to share.
    #[schema(example = "K7Q2ZD", max_length = 6, pattern = r"^[A-Z0-9]{6}$")]
    pub invite_code: String,
    /// The invite code I activated, if any.
    #[schema(example = "X9Y8Z7", max_length = 6, pattern = r"^[A-Z0-9]{6}$")]
    pub activated_invite_code: Option<String>,
    /// The newest ones (`maxItems` of them at most); page through all with `/v1/profile/referrals`.
    #[schema(max_items = 100)]
    pub referrals: Vec<ReferralView>,
    /// How many users activated my code, in all.
    #[schema(example = 1, minimum = 0, maximum = 999_999_999_999_999_i64)]
    pub referrals_count: u64,
    /// RFC 3339, UTC.
    #[schema(example = "2026-11-23T03:43:10.524Z", format = DateTime, max_length = 24)]
    pub created_at: String,
}

impl ProfileView {
    pub fn new(user: &User, referrals: &[Referral]) -> Self {
        Self {
            id: user.id.as_str().to_owned(),
            phone: user.phone.as_str().to_owned(),
            invite_code: user.invite_code.as_str().to_owned(),
            activated_invite_code: user
                .activation
                .as_ref()
                .map(|a| a.invite_code.as_str().to_owned()),
            referrals: referrals.iter().map(ReferralView::from).collect(),
            referrals_count: user.referrals_count,
            created_at: rfc3339(user.created_at),
        }
    }
}
