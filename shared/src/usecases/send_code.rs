//! Sending a login code: draw it, save its hash if the phone's cooldown and caps allow, deliver.
use std::time::Duration;

use rand::Rng;

use super::retry_on_conflict;
use crate::domain::otp::SendRejected;
use crate::domain::{OtpCode, PhoneNumber};
use crate::error::{Error, Result};
use crate::state::AppState;
use crate::store::WriteId;

/// Issues a code for `phone` and delivers it. Returns the code (shown only in demo mode).
#[tracing::instrument(skip_all, fields(phone = %phone.masked()))]
pub async fn send_code(state: &AppState, phone: &PhoneNumber) -> Result<OtpCode> {
    let code = issue_code(state, phone).await?;
    deliver(state, phone, &code).await;
    Ok(code)
}

/// Draws a code and saves its hash, retrying if a concurrent send or verify for the same phone
/// saved first.
async fn issue_code(state: &AppState, phone: &PhoneNumber) -> Result<OtpCode> {
    let policy = &state.config.otp;
    retry_on_conflict("one phone's code", || async {
        let current = state.store.otp_state(phone).await?;
        let code = OtpCode::generate(policy.digits);
        let next = current
            .send(state.clock.now_s(), policy, state.hasher.hash(phone, &code))
            .map_err(|rejected| match rejected {
                SendRejected::TooSoon { retry_after } => Error::ResendTooSoon { retry_after },
                SendRejected::HourlyLimit { retry_after } => Error::TooManyCodes { retry_after },
                SendRejected::Locked { retry_after } => Error::PhoneLocked { retry_after },
            })?;
        let forget_at = next.forget_at(policy);
        let saved = state
            .store
            .save_otp_state(phone, &next, forget_at, &WriteId::random())
            .await?;
        Ok(saved.then_some(code))
    })
    .await
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
