//! Every way a request can fail, as one type. Each error knows its problem code
//! ([`Error::code`]) and each code its status and title ([`ProblemCode::status`]); `http` only
//! renders them.
use lambda_http::http::StatusCode;
use serde::Serialize;

use crate::domain::ActivationRefused;
use crate::sdk::BoxError;
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
    /// The path exists with other methods: `allow` lists them, as the `Allow` header says.
    #[error("this path answers {allow} only")]
    MethodNotAllowed { allow: String },

    #[error("{0}")]
    Unauthorized(AuthFailure),
    /// Deleting the account takes a recent login; this token is older.
    #[error(
        "deleting the account takes a recent login: log in again, then delete within {max_age_s} seconds"
    )]
    ReauthenticationRequired { max_age_s: i64 },
    /// `EDGE_SECRET` is set and the request did not come through the edge (CloudFront).
    #[error("this API is reachable only through its public URL")]
    DirectAccessRefused,

    #[error("a code was sent recently; wait before asking for another")]
    ResendTooSoon { retry_after: i64 },
    #[error("too many codes were sent to this phone in the last hour")]
    TooManyCodes { retry_after: i64 },
    #[error("too many wrong codes for this phone; try again later")]
    PhoneLocked { retry_after: i64 },
    /// A code that does not log in: wrong, expired, used, or never sent, all answered alike.
    /// `attempts_left` only for the client that asked for the pending code, which knows of it.
    #[error("the code is wrong")]
    InvalidCode { attempts_left: Option<u32> },
    #[error("too many wrong tries; request a new code")]
    TooManyAttempts { retry_after: i64 },
    #[error("a CAPTCHA token (captcha_token) is required")]
    CaptchaRequired,
    #[error("the CAPTCHA was not passed; solve it again")]
    CaptchaRefused,
    /// The CAPTCHA provider could not be asked, or answered nonsense; worth retrying soon.
    #[error("the CAPTCHA could not be checked; try again")]
    CaptchaUnavailable(#[source] BoxError),
    #[error("this phone number's country is not served")]
    RegionNotAllowed,
    #[error("codes are sent to mobile numbers only")]
    NotAMobileNumber,
    #[error("too many codes were requested from this network address; try again later")]
    ClientSendLimit { retry_after: i64 },
    #[error("too many wrong codes from this network address; try again later")]
    ClientFailureLimit { retry_after: i64 },
    /// The service-wide hourly SMS budget is spent: an attack or a surge, never one client.
    #[error("no more codes can be sent this hour; try again later")]
    SmsBudgetExhausted { retry_after: i64 },

    #[error(transparent)]
    Activation(#[from] ActivationRefused),

    /// The SMS gateway failed; the code was withdrawn, so the phone may ask again at once.
    #[error("the SMS could not be sent; try again")]
    SmsUnavailable(#[source] crate::sms::SmsError),
    /// Worth retrying soon: DynamoDB throttled or unreachable, or a race lost too many times.
    #[error("temporarily unavailable")]
    Unavailable(#[source] BoxError),
    /// A bug or a misconfiguration: a missing table, a malformed item, a failed serialisation.
    #[error("internal error")]
    Internal(#[source] BoxError),
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

impl From<StoreError> for Error {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Unavailable(source) => Self::Unavailable(source),
            StoreError::Unexpected(source) => Self::Internal(source),
            // Logged with its own message (the cause chain starts with it), answered as any bug.
            e @ StoreError::ItemTooLarge(_) => Self::Internal(Box::new(e)),
        }
    }
}

impl Error {
    /// A lost race retried too often: busy, not broken.
    pub fn contention(what: &'static str) -> Self {
        Self::Unavailable(format!("too much contention: {what}").into())
    }

    pub fn code(&self) -> ProblemCode {
        use ProblemCode as C;
        match self {
            Self::UnsupportedMediaType => C::UnsupportedMediaType,
            Self::PayloadTooLarge(_) => C::PayloadTooLarge,
            Self::MalformedJson(_) => C::MalformedJson,
            Self::InvalidBody(_) => C::InvalidBody,
            Self::InvalidQuery(_) => C::InvalidQuery,
            Self::InvalidCursor => C::InvalidCursor,
            Self::InvalidPhone => C::InvalidPhone,
            Self::InvalidCodeFormat(_) => C::InvalidCodeFormat,
            Self::InvalidInviteCode => C::InvalidInviteCode,
            Self::RouteNotFound => C::NotFound,
            Self::MethodNotAllowed { .. } => C::MethodNotAllowed,
            Self::Unauthorized(AuthFailure::Missing) => C::MissingToken,
            Self::Unauthorized(AuthFailure::Invalid) => C::InvalidToken,
            Self::Unauthorized(AuthFailure::Expired) => C::TokenExpired,
            Self::Unauthorized(AuthFailure::Revoked) => C::TokenRevoked,
            Self::ReauthenticationRequired { .. } => C::ReauthenticationRequired,
            Self::DirectAccessRefused => C::DirectAccessRefused,
            Self::ResendTooSoon { .. } => C::ResendTooSoon,
            Self::TooManyCodes { .. } => C::TooManyCodes,
            Self::PhoneLocked { .. } => C::PhoneLocked,
            Self::InvalidCode { .. } => C::InvalidCode,
            Self::TooManyAttempts { .. } => C::TooManyAttempts,
            Self::CaptchaRequired => C::CaptchaRequired,
            Self::CaptchaRefused => C::CaptchaRefused,
            Self::CaptchaUnavailable(_) => C::CaptchaUnavailable,
            Self::RegionNotAllowed => C::RegionNotAllowed,
            Self::NotAMobileNumber => C::NotAMobileNumber,
            Self::ClientSendLimit { .. } => C::ClientSendLimit,
            Self::ClientFailureLimit { .. } => C::ClientFailureLimit,
            Self::SmsBudgetExhausted { .. } => C::SmsBudgetExhausted,
            Self::Activation(ActivationRefused::NotFound) => C::InviteCodeNotFound,
            Self::Activation(ActivationRefused::AlreadyActivated) => C::AlreadyActivated,
            Self::Activation(ActivationRefused::OwnCode) => C::OwnInviteCode,
            Self::Activation(ActivationRefused::Mutual) => C::MutualReferral,
            Self::SmsUnavailable(_) => C::SmsUnavailable,
            Self::Unavailable(_) => C::ServiceUnavailable,
            Self::Internal(_) => C::InternalError,
        }
    }

    /// Seconds a client should wait before trying again, for the answers that have one.
    pub fn retry_after(&self) -> Option<i64> {
        match self {
            Self::ResendTooSoon { retry_after }
            | Self::TooManyCodes { retry_after }
            | Self::PhoneLocked { retry_after }
            | Self::TooManyAttempts { retry_after }
            | Self::ClientSendLimit { retry_after }
            | Self::ClientFailureLimit { retry_after }
            | Self::SmsBudgetExhausted { retry_after } => Some(*retry_after),
            Self::Unavailable(_) | Self::SmsUnavailable(_) => Some(1),
            // A provider's outage is rarely over within a second, and the page needs the
            // widget solved again anyway.
            Self::CaptchaUnavailable(_) => Some(5),
            _ => None,
        }
    }
}

/// Every problem `code` this API answers with. The OpenAPI document lists them from this enum.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemCode {
    UnsupportedMediaType,
    PayloadTooLarge,
    MalformedJson,
    InvalidBody,
    InvalidQuery,
    InvalidCursor,
    InvalidPhone,
    InvalidCodeFormat,
    InvalidInviteCode,
    NotFound,
    MethodNotAllowed,
    MissingToken,
    InvalidToken,
    TokenExpired,
    TokenRevoked,
    ReauthenticationRequired,
    DirectAccessRefused,
    ResendTooSoon,
    TooManyCodes,
    PhoneLocked,
    InvalidCode,
    TooManyAttempts,
    CaptchaRequired,
    CaptchaRefused,
    CaptchaUnavailable,
    RegionNotAllowed,
    NotAMobileNumber,
    ClientSendLimit,
    ClientFailureLimit,
    SmsBudgetExhausted,
    InviteCodeNotFound,
    AlreadyActivated,
    OwnInviteCode,
    MutualReferral,
    SmsUnavailable,
    ServiceUnavailable,
    InternalError,
}

impl ProblemCode {
    /// The HTTP status and the title of every problem, in one table.
    pub fn status(self) -> (StatusCode, &'static str) {
        use ProblemCode as C;
        use StatusCode as S;
        match self {
            C::UnsupportedMediaType => (S::UNSUPPORTED_MEDIA_TYPE, "Unsupported media type"),
            C::PayloadTooLarge => (S::PAYLOAD_TOO_LARGE, "Payload too large"),
            C::MalformedJson => (S::BAD_REQUEST, "Malformed JSON"),
            C::InvalidBody => (S::BAD_REQUEST, "Invalid request body"),
            C::InvalidQuery => (S::BAD_REQUEST, "Invalid query parameter"),
            C::InvalidCursor => (S::BAD_REQUEST, "Invalid cursor"),
            C::InvalidPhone => (S::BAD_REQUEST, "Invalid phone number"),
            C::InvalidCodeFormat => (S::BAD_REQUEST, "Invalid code format"),
            C::InvalidInviteCode => (S::BAD_REQUEST, "Invalid invite code"),
            C::NotFound => (S::NOT_FOUND, "Not found"),
            C::MethodNotAllowed => (S::METHOD_NOT_ALLOWED, "Method not allowed"),
            C::MissingToken | C::InvalidToken | C::TokenExpired | C::TokenRevoked => {
                (S::UNAUTHORIZED, "Unauthorized")
            }
            C::ReauthenticationRequired => (S::UNAUTHORIZED, "Reauthentication required"),
            C::DirectAccessRefused => (S::FORBIDDEN, "Direct access refused"),
            C::ResendTooSoon => (S::TOO_MANY_REQUESTS, "Too soon for a new code"),
            C::TooManyCodes => (S::TOO_MANY_REQUESTS, "Too many codes"),
            C::PhoneLocked => (S::TOO_MANY_REQUESTS, "Phone temporarily locked"),
            C::InvalidCode => (S::UNAUTHORIZED, "Invalid code"),
            C::TooManyAttempts => (S::TOO_MANY_REQUESTS, "Too many attempts"),
            C::CaptchaRequired => (S::BAD_REQUEST, "CAPTCHA required"),
            C::CaptchaRefused => (S::FORBIDDEN, "CAPTCHA refused"),
            C::CaptchaUnavailable => (S::SERVICE_UNAVAILABLE, "CAPTCHA unavailable"),
            C::RegionNotAllowed => (S::UNPROCESSABLE_ENTITY, "Country not served"),
            C::NotAMobileNumber => (S::UNPROCESSABLE_ENTITY, "Not a mobile number"),
            C::ClientSendLimit => (S::TOO_MANY_REQUESTS, "Too many codes from this client"),
            C::ClientFailureLimit => (
                S::TOO_MANY_REQUESTS,
                "Too many wrong codes from this client",
            ),
            C::SmsBudgetExhausted => (S::SERVICE_UNAVAILABLE, "SMS budget exhausted"),
            C::InviteCodeNotFound => (S::NOT_FOUND, "Invite code not found"),
            C::AlreadyActivated => (S::CONFLICT, "Invite code already activated"),
            C::OwnInviteCode => (S::UNPROCESSABLE_ENTITY, "Own invite code"),
            C::MutualReferral => (S::UNPROCESSABLE_ENTITY, "Mutual referral"),
            C::SmsUnavailable => (S::SERVICE_UNAVAILABLE, "SMS unavailable"),
            C::ServiceUnavailable => (S::SERVICE_UNAVAILABLE, "Service unavailable"),
            C::InternalError => (S::INTERNAL_SERVER_ERROR, "Internal error"),
        }
    }

    pub fn as_str(self) -> String {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => s,
            _ => String::new(),
        }
    }
}

/// An error and its causes, one after another, for the log.
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl std::fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(cause) = source {
            write!(f, ": {cause}")?;
            source = cause.source();
        }
        Ok(())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
