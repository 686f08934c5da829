//! `POST /v1/auth/send-code`: issue a login code for a phone and "send" it.
use std::time::Duration;

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::{RACE_RETRIES, backoff};
use crate::domain::otp::SendRejected;
use crate::domain::{OtpCode, PhoneNumber};
use crate::error::{Error, Result};
use crate::http::{json, read_json, respond};
use crate::state::AppState;
use crate::store::StoreError;

#[derive(Deserialize)]
struct SendCodeRequest {
    phone: String,
}

#[derive(Serialize)]
struct SendCodeResponse {
    phone: String,
    expires_in: i64,
    resend_in: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<String>,
}

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    respond(send_code(state, &req).await)
}

async fn send_code(state: &AppState, req: &Request) -> Result<Response<Body>> {
    let body: SendCodeRequest = read_json(req)?;
    let phone = PhoneNumber::parse(&body.phone, state.config.default_region)
        .map_err(|_| Error::InvalidPhone)?;
    let code = issue_code(state, &phone).await?;
    deliver(state, &phone, &code).await;
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

/// Draws a code and saves its hash if the cooldown and caps allow, retrying if a concurrent
/// send or verify for the same phone saved first.
#[tracing::instrument(skip_all, fields(phone = %phone.masked()))]
pub async fn issue_code(state: &AppState, phone: &PhoneNumber) -> Result<OtpCode> {
    let policy = &state.config.otp;
    for attempt in 0..RACE_RETRIES {
        let current = state.store.otp_state(phone).await?;
        let code = OtpCode::generate(policy.digits);
        let next = current
            .send(state.clock.now_s(), policy, state.hasher.hash(phone, &code))
            .map_err(|rejected| match rejected {
                SendRejected::TooSoon { retry_after } => Error::ResendTooSoon { retry_after },
                SendRejected::HourlyLimit { retry_after } => Error::TooManyCodes { retry_after },
                SendRejected::Locked { retry_after } => Error::PhoneLocked { retry_after },
            })?;
        if state
            .store
            .save_otp_state(phone, &next, next.forget_at(policy))
            .await?
        {
            return Ok(code);
        }
        backoff(attempt).await;
    }
    Err(StoreError::Unavailable("too much contention on one phone's code".into()).into())
}

/// The simulated SMS gateway: a realistic delay, then a log line. The code is logged only in
/// demo mode.
async fn deliver(state: &AppState, phone: &PhoneNumber, code: &OtpCode) {
    let (lo, hi) = state.config.sms_delay_ms;
    let delay = if hi > lo {
        rand::rng().random_range(lo..=hi)
    } else {
        lo
    };
    tokio::time::sleep(Duration::from_millis(delay)).await;
    if state.config.expose_codes {
        tracing::info!(phone = %phone.masked(), code = code.expose(), delay_ms = delay, "sms delivered (demo mode)");
    } else {
        tracing::info!(phone = %phone.masked(), delay_ms = delay, "sms delivered");
    }
}
