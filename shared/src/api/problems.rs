//! The problem answers several operations share, declared once for the OpenAPI document.
use utoipa::IntoResponses;

use crate::http::Problem;

/// Answers every operation with a JSON body can give before it looks at the content.
#[derive(IntoResponses)]
pub enum BodyProblems {
    /// `payload_too_large`: the body is over 16 KiB
    #[response(status = 413, content_type = "application/problem+json")]
    PayloadTooLarge(Problem),
    /// `unsupported_media_type`: the body is not `application/json`
    #[response(status = 415, content_type = "application/problem+json")]
    UnsupportedMediaType(Problem),
}

/// The answer of every authenticated operation to a missing or bad token.
#[derive(IntoResponses)]
pub enum TokenProblems {
    /// `missing_token`, `invalid_token`, `token_expired`, `token_revoked`
    #[response(
        status = 401,
        content_type = "application/problem+json",
        headers(("WWW-Authenticate" = String, description = "`Bearer`, or `Bearer error=\"invalid_token\"`"))
    )]
    Unauthorized(Problem),
}

/// Every operation that reads or writes DynamoDB can answer this.
#[derive(IntoResponses)]
pub enum Unavailable {
    /// `service_unavailable`: the database is throttled or unreachable; at send-code also
    /// `sms_unavailable`: the SMS could not be sent and the code was withdrawn (ask again at once)
    #[response(
        status = 503,
        content_type = "application/problem+json",
        headers(("Retry-After" = u32, description = "Seconds to wait before retrying"))
    )]
    ServiceUnavailable(Problem),
}
