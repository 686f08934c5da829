//! Every way a request can fail, as one type. `http::problem` is the only place that turns these
//! into status codes.
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the request body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    #[error("the request body is larger than {0} bytes")]
    PayloadTooLarge(usize),
    #[error("the request body is not valid JSON: {0}")]
    MalformedJson(String),
    #[error("the request body does not match the schema: {0}")]
    InvalidBody(String),
    #[error("invalid query parameter: {0}")]
    InvalidQuery(String),
    #[error("the cursor is not one this API issued")]
    InvalidCursor,
    #[error("not a valid phone number")]
    InvalidPhone,
    #[error("the code must be {0} digits")]
    InvalidCodeFormat(u8),
    #[error("an invite code is 6 letters or digits")]
    InvalidInviteCode,
    #[error("no such route")]
    RouteNotFound,
    #[error("method not allowed")]
    MethodNotAllowed,

    #[error("{0}")]
    Unauthorized(AuthFailure),

    #[error("a code was sent recently; wait before asking for another")]
    ResendTooSoon { retry_after: i64 },
    #[error("too many codes were sent to this phone in the last hour")]
    TooManyCodes { retry_after: i64 },
    #[error("too many wrong codes for this phone; try again later")]
    PhoneLocked { retry_after: i64 },
    #[error("the code is wrong")]
    InvalidCode { attempts_left: u32 },
    #[error("no valid code is pending for this phone; request a new one")]
    CodeExpired,
    #[error("too many wrong tries; request a new code")]
    TooManyAttempts { retry_after: i64 },

    #[error("no user has this invite code")]
    InviteCodeNotFound,
    #[error("an invite code was already activated on this account")]
    AlreadyActivated,
    #[error("this is your own invite code")]
    OwnInviteCode,
    #[error("this code's owner already activated your code")]
    MutualReferral,

    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Why a bearer token was refused. Clients see the message; all map to 401.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum AuthFailure {
    #[error("an Authorization: Bearer token is required")]
    Missing,
    #[error("the token is malformed or its signature is wrong")]
    Invalid,
    #[error("the token has expired")]
    Expired,
    #[error("the token was revoked by a logout")]
    Revoked,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
