//! Sending a login code: draw it, save its hash if the phone's cooldown and caps allow, deliver.
use super::retry_on_conflict;
use crate::domain::otp::SendRejected;
use crate::domain::{OtpCode, OtpState, PhoneNumber};
use crate::error::{Chain, Error, Result};
use crate::metrics::{self, Event};
use crate::sms;
use crate::state::AppState;
use crate::store::WriteId;

/// Issues a code for `phone` and delivers it. Returns the code (shown only in demo mode). A
/// failed delivery withdraws the code again, so it neither starts the cooldown nor counts
/// against the phone's hourly sends.
#[tracing::instrument(skip_all, fields(phone = %phone.masked()))]
pub async fn send_code(state: &AppState, phone: &PhoneNumber) -> Result<OtpCode> {
    let (code, before, saved) = issue_code(state, phone).await?;
    let policy = &state.config.otp;
    let text = sms::message(&state.config.sms, &code, policy.ttl_seconds);
    let started = std::time::Instant::now();
    if let Err(e) = state.sms.send(phone, &text).await {
        tracing::warn!(phone = %phone.masked(), error = %Chain(&e), "sms not delivered; code withdrawn");
        withdraw(state, phone, before, &saved).await;
        return Err(Error::SmsUnavailable(e));
    }
    let ms = started.elapsed().as_millis();
    metrics::record(Event::CodeSent);
    if state.config.expose_codes {
        tracing::info!(phone = %phone.masked(), code = code.expose(), ms, "sms delivered (demo mode)");
    } else {
        tracing::info!(phone = %phone.masked(), ms, "sms delivered");
    }
    Ok(code)
}

/// Draws a code and saves its hash, retrying if a concurrent send or verify for the same phone
/// saved first. Returns the code, the state before and the state saved.
async fn issue_code(
    state: &AppState,
    phone: &PhoneNumber,
) -> Result<(OtpCode, OtpState, OtpState)> {
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
        let write = WriteId::random();
        let saved = state.store.save_otp_state(phone, &next, forget_at, &write);
        Ok(saved.await?.then_some((code, current, next)))
    })
    .await
}

/// Puts back the state from before an undelivered code, if nothing was saved since. Best effort:
/// if a verify or another send came in between, theirs stands.
async fn withdraw(state: &AppState, phone: &PhoneNumber, before: OtpState, saved: &OtpState) {
    let restored = OtpState {
        // Written over the revision `saved` was stored with.
        revision: saved.revision + 1,
        ..before
    };
    let forget_at = restored.forget_at(&state.config.otp);
    let result = state
        .store
        .save_otp_state(phone, &restored, forget_at, &WriteId::random())
        .await;
    match result {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(phone = %phone.masked(), "code not withdrawn: the phone's state moved on")
        }
        Err(e) => {
            tracing::error!(phone = %phone.masked(), error = %Chain(&e), "code not withdrawn")
        }
    }
}
