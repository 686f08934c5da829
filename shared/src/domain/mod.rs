//! Pure domain types and rules: no AWS, no I/O, no clocks of their own.
pub mod invite;
pub mod otp;
pub mod phone;
pub mod user;

pub use invite::InviteCode;
pub use otp::{CodeHash, CodeHasher, OtpCode, OtpPolicy, OtpState, SendRejected, VerifyOutcome};
pub use phone::PhoneNumber;
pub use user::{Activation, ActivationRefused, Referral, ReferralKey, Referrer, User, UserId};
