//! `POST /v1/auth/send-code`: issue a login code for a phone and "send" it.
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::captcha;
use crate::domain::{PhoneNumber, Quota};
use crate::error::{Error, Result};
use crate::http::{json, read_json, respond, with_quota};
use crate::routes::{self, Function};
use crate::state::AppState;
use crate::usecases;

#[derive(Deserialize, ToSchema)]
pub struct SendCodeRequest {
    /// A phone number in any common spelling; without `+` it is read in `DEFAULT_REGION`.
    #[schema(
        example = "8 (999) 123-45-67",
        max_length = 32,
        pattern = r"^[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[0123456789\+\(\)\-\. ]*[0-9][0123456789\+\(\)\-\. ]*[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$",
        // Not every string of these characters is a number: libphonenumber's metadata decides.
        format = "phone-input"
    )]
    pub phone: String,
    /// The token the CAPTCHA widget gave the page, when the API asks for one.
    #[serde(default)]
    pub captcha_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct SendCodeResponse {
    /// The phone in E.164.
    #[schema(
        example = "+79991234567",
        max_length = 16,
        pattern = r"^\+[1-9][0-9]{1,14}$"
    )]
    pub phone: String,
    /// Seconds the code stays valid.
    #[schema(example = 300, minimum = 1, maximum = 86400)]
    pub expires_in: i64,
    /// Seconds until another code may be asked for.
    #[schema(example = 60, minimum = 0, maximum = 3600)]
    pub resend_in: i64,
    /// The code itself, only in demo mode (`EXPOSE_CODES=true`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "4821")]
    pub code: Option<String>,
}

/// Send a login code
///
/// Draws a code, stores its hash and "sends" it (a simulated SMS with a 1-2 s delay). Any
/// common spelling of a number is one user. A new code replaces the previous one.
#[utoipa::path(
    post,
    path = "/v1/auth/send-code",
    tag = "auth",
    operation_id = "send_code",
    request_body(content = SendCodeRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "The code was sent", body = SendCodeResponse),
    ),
)]
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    let mut quota = None;
    let resp = respond(send_code(state, &req, &mut quota).await);
    with_quota(resp, quota)
}

async fn send_code(
    state: &AppState,
    req: &Request,
    quota: &mut Option<Quota>,
) -> Result<Response<Body>> {
    // Before anything else: a request that bypassed the edge costs nothing.
    let address = state.config.edge.admit(req)?;
    routes::operation(Function::SendCode, req)?;
    let body: SendCodeRequest = read_json(req)?;
    let (phone, facts) = PhoneNumber::parse_with_facts(&body.phone, state.config.default_region)
        .map_err(|_| Error::InvalidPhone)?;
    let caller = state.hasher.caller(&address);
    let captcha = captcha::Answer {
        token: body.captcha_token.as_deref(),
        remote_ip: address.ip(),
    };
    let sent = usecases::send_code::send_code(state, &phone, &facts, &caller, captcha).await;
    *quota = sent.quota;
    let code = sent.result?;
    let policy = &state.config.otp;
    Ok(json(
        StatusCode::OK,
        &SendCodeResponse {
            phone: phone.as_str().to_owned(),
            expires_in: policy.ttl_seconds,
            resend_in: policy.resend_seconds,
            code: state.config.expose_codes.then(|| code.expose().to_owned()),
        },
    ))
}
