//! `POST /v1/auth/verify-code`: check a code, create the user on first login, issue a token.
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::ProfileView;
use crate::domain::otp::MAX_CODE_INPUT_LEN;
use crate::domain::{OtpCode, PhoneNumber, Quota};
use crate::error::{Error, Result};
use crate::http::{json, read_json, respond, with_quota};
use crate::routes::{self, Function};
use crate::state::AppState;
use crate::usecases::login::login;

#[derive(Deserialize, ToSchema)]
pub struct VerifyCodeRequest {
    #[schema(
        example = "+79991234567",
        max_length = 32,
        pattern = r"^[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[0123456789\+\(\)\-\. ]*[0-9][0123456789\+\(\)\-\. ]*[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$",
        format = "phone-input"
    )]
    pub phone: String,
    /// The code that was sent.
    // Its pattern follows `OTP_DIGITS`: `openapi` adds it.
    #[schema(example = "4821", max_length = 32)]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyCodeResponse {
    /// An HS256 JWT for `Authorization: Bearer`.
    #[schema(
        example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwYjRmIn0.c2ln",
        max_length = 512,
        pattern = r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$"
    )]
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds the token is valid.
    #[schema(example = 86400, minimum = 60, maximum = 31536000)]
    pub expires_in: i64,
    /// Whether this login created the user.
    pub new_user: bool,
    pub profile: ProfileView,
}

/// Log in with the code
///
/// Trades the code for an access token. The first successful login creates the user (201), with
/// a random, unique 6-character invite code; later logins answer 200.
#[utoipa::path(
    post,
    path = "/v1/auth/verify-code",
    tag = "auth",
    operation_id = "verify_code",
    request_body(content = VerifyCodeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Logged in", body = VerifyCodeResponse),
        (status = 201, description = "Logged in; this login created the user", body = VerifyCodeResponse),
    ),
)]
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let mut quota = None;
    let resp = respond(verify_code(state, &req, &mut quota).await);
    with_quota(resp, quota)
}

async fn verify_code(
    state: &AppState,
    req: &Request,
    quota: &mut Option<Quota>,
) -> Result<Response<Body>> {
    // Before anything else: a request that bypassed the edge costs nothing.
    let address = state.config.edge.admit(req)?;
    routes::operation(Function::VerifyCode, req)?;
    let body: VerifyCodeRequest = read_json(req)?;
    let phone = PhoneNumber::parse(&body.phone, state.config.default_region)
        .map_err(|_| Error::InvalidPhone)?;
    let digits = state.config.otp.digits;
    // The bound the document states; the domain's parser trims whatever surrounds the digits.
    if body.code.chars().count() > MAX_CODE_INPUT_LEN {
        return Err(Error::InvalidCodeFormat(digits));
    }
    let code = OtpCode::parse(&body.code, digits).map_err(|_| Error::InvalidCodeFormat(digits))?;
    let caller = state.hasher.caller(&address);
    let logged_in = login(state, &phone, &code, &caller).await;
    *quota = logged_in.quota;
    let done = logged_in.result?;
    let status = if done.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(
        status,
        &VerifyCodeResponse {
            access_token: done.token,
            token_type: "Bearer",
            expires_in: state.tokens.ttl_seconds,
            new_user: done.created,
            profile: ProfileView::new(&done.user, &done.referrals),
        },
    ))
}
