//! Pure domain types and rules: no AWS, no I/O, no clocks of their own.
pub mod client;
pub mod invite;
pub mod limits;
pub mod otp;
pub mod phone;
mod phone_metadata;
pub mod user;

pub use client::{Caller, ClientAddress, ClientTag};
pub use invite::InviteCode;
pub use limits::{Budget, BudgetLevel, ClientLimits, DayWindow, HourWindow, Quota, Recipient};
pub use otp::{
    CodeHash, CodeHasher, Mark, OtpCode, OtpPolicy, OtpState, SendRejected, VerifyOutcome,
};
pub use phone::{LineKind, PhoneFacts, PhoneNumber, SmsReach, Unreachable};
pub use user::{Activation, ActivationRefused, Referral, ReferralKey, Referrer, User, UserId};
