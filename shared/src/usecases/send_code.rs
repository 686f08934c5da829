//! Sending a login code: check the number may get one (and the CAPTCHA, if any), draw the code,
//! save its hash if the phone's cooldown and caps allow, count it against the client, its range
//! and the SMS budget, deliver.
use super::{Limited, retry_on_conflict};
use crate::captcha;
use crate::domain::otp::SendRejected;
use crate::domain::{
    BudgetLevel, Caller, ClientTag, DayWindow, HourWindow, OtpCode, OtpState, PhoneFacts,
    PhoneNumber, Quota, Recipient, Unreachable,
};
use crate::error::{Chain, Error, Result};
use crate::metrics::{self, Event};
use crate::sms;
use crate::state::AppState;
use crate::store::{
    CodeSave, CountedSend, Counting, SaveAnswer, SendCount, SendCounters, StoreError, WriteId,
};

/// The `RateLimit` policy name of the per-client send limit.
pub const SENDS: &str = "sends";

/// Issues a code for `phone`, asked for by `caller`, and delivers it. Returns the code (shown only
/// in demo mode) and the caller's standing under its hourly send limits. The checks run cheapest
/// and most specific first, so a refused request moves no counter it did not need: the number's
/// country and line kind, then the CAPTCHA if there is one (asked side by side with the first read,
/// and nothing is counted or stored unless it passed), then the phone's own caps (one read, which
/// also says whether the phone has an account and what the counters hold), then the address's and
/// the range's limits and the hour's and the day's SMS budget, from the share of returning phones
/// or of new numbers (conditional writes, in one call, which also saves the code when the read
/// found room on every counter; a send that read a counter full saves nothing). A failed delivery
/// withdraws the code and gives the counted send back, so the phone may ask again at once; so does
/// a send that could not save its code, and a send whose code was saved but not counted.
#[tracing::instrument(skip_all, fields(phone = %phone.masked(), client = %caller.client))]
pub async fn send_code(
    state: &AppState,
    phone: &PhoneNumber,
    facts: &PhoneFacts,
    caller: &Caller,
    captcha: captcha::Answer<'_>,
) -> Limited<OtpCode> {
    let mut quota = None;
    let result = send(state, phone, facts, caller, captcha, &mut quota).await;
    Limited { result, quota }
}

async fn send(
    state: &AppState,
    phone: &PhoneNumber,
    facts: &PhoneFacts,
    caller: &Caller,
    captcha: captcha::Answer<'_>,
    quota: &mut Option<Quota>,
) -> Result<OtpCode> {
    let client = &caller.client;
    state.config.reach.check(facts).map_err(|e| match e {
        Unreachable::Region => Error::RegionNotAllowed,
        Unreachable::NotMobile => Error::NotAMobileNumber,
    })?;
    let policy = &state.config.otp;
    let limits = &state.config.limits;
    let now = state.clock.now_s();
    let code = OtpCode::generate(policy.digits);
    let hash = state.hasher.hash(phone, &code);
    state.captcha.precheck(captcha)?;
    // Whom the code goes to is known only after the read, and the read fetches the counters
    // the send writes first: so both recipients' counters are drawn now, and the read fetches
    // what either would write first.
    let (window, day) = (HourWindow::at(now), DayWindow::at(now));
    let [returning, new] = [Recipient::Returning, Recipient::New].map(|to| {
        SendCounters::new(
            caller,
            window,
            (limits.sends_per_hour, limits.range_sends_per_hour),
            limits.sms_levels(to, &window, &day),
        )
    });
    let first_keys = returning.first_keys().chain(new.first_keys());
    // The provider's answer and the phone's record at once: a CAPTCHA costs no extra wait
    // beyond its own call, and a read is neither counting nor storing.
    let (passed, read) = tokio::join!(
        state.captcha.check(captcha),
        state.store.send_reads(phone, first_keys)
    );
    passed?;
    let (current, has_account, seen) = read?;
    let next = current
        .send(now, policy, client, hash)
        .map_err(send_refused)?;
    let (to, counters) = if has_account {
        (Recipient::Returning, returning)
    } else {
        (Recipient::New, new)
    };
    // When the read found room on every counter, the code's save goes in the counters' call:
    // one round fewer. A send the read finds at a limit is refused before anything is saved.
    let write = WriteId::random();
    let folded = counters.have_room(&seen).then_some(CodeSave {
        phone,
        next: &next,
        write_id: &write,
    });
    let Counting { count, save } = state
        .store
        .count_send(&counters, &seen, folded.as_ref())
        .await;
    let counted = match counted_or_refused(state, caller, to, (window, day), count, quota) {
        Ok(counted) => counted,
        Err(e) => {
            // A counter filled between the read and the call: take back the code it saved (a
            // save not known to have landed is taken back only if it did).
            if matches!(save, Some(SaveAnswer::Saved | SaveAnswer::Unsettled)) {
                withdraw(state, phone, current, &next).await;
            }
            return Err(e);
        }
    };
    // What is left to this caller: of its address's sends or its range's, whichever is less.
    let remaining = limits
        .sends_per_hour
        .saturating_sub(counted.by_client)
        .min(limits.range_sends_per_hour.saturating_sub(counted.by_range));
    *quota = Some(sends_quota(state, remaining, window));
    let saved = match save {
        Some(SaveAnswer::Saved) => Ok((current, next)),
        // Lost the phone to a parallel send or verify: read it again.
        Some(SaveAnswer::Moved) => save_code(state, phone, client, hash, None, write).await,
        // The same write again (with its id), or the first if the call did not carry it.
        Some(SaveAnswer::Unsettled) | None => {
            save_code(state, phone, client, hash, Some(current), write).await
        }
    };
    let (before, saved) = match saved {
        Ok(saved) => saved,
        // Lost the phone to a parallel send (its cap or this client's cooldown), or the save
        // failed: no code goes out, so the send is given back as an undelivered one is.
        Err(e) => {
            uncount(state, caller, window, &counted).await;
            return Err(e);
        }
    };
    let text = sms::message(&state.config.sms, &code, policy.ttl_seconds);
    let started = std::time::Instant::now();
    if let Err(e) = state.sms.send(phone, &text).await {
        tracing::warn!(phone = %phone.masked(), error = %Chain(&e), "sms not delivered; code withdrawn");
        withdraw(state, phone, before, &saved).await;
        uncount(state, caller, window, &counted).await;
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

/// The counted send, or why it was not counted (logged; a full address or range also sets the
/// caller's standing).
fn counted_or_refused(
    state: &AppState,
    caller: &Caller,
    to: Recipient,
    (window, day): (HourWindow, DayWindow),
    count: std::result::Result<SendCount, StoreError>,
    quota: &mut Option<Quota>,
) -> Result<CountedSend> {
    let limits = &state.config.limits;
    let refused = count?;
    Err(match refused {
        SendCount::Counted(counted) => return Ok(counted),
        SendCount::ClientFull | SendCount::RangeFull => {
            *quota = Some(sends_quota(state, 0, window));
            if refused == SendCount::RangeFull {
                tracing::warn!(range = %caller.range, "address range send limit reached");
            } else {
                tracing::warn!(client = %caller.client, "client send limit reached");
            }
            Error::ClientSendLimit {
                retry_after: window.ends_in,
            }
        }
        SendCount::BudgetSpent { level } => {
            let share = match to {
                Recipient::Returning => "every share",
                Recipient::New => "the new numbers' share",
            };
            let retry_after = match BudgetLevel::ALL.get(level) {
                Some(BudgetLevel::Day) => {
                    tracing::error!(
                        budget = limits.sms_budget_per_day,
                        share,
                        "daily SMS budget exhausted: no codes go to these phones until the day ends"
                    );
                    day.ends_in
                }
                _ => {
                    tracing::error!(
                        budget = limits.sms_budget_per_hour,
                        share,
                        "hourly SMS budget exhausted: no codes go to these phones until the hour ends"
                    );
                    window.ends_in
                }
            };
            Error::SmsBudgetExhausted { retry_after }
        }
    })
}

fn sends_quota(state: &AppState, remaining: u32, window: HourWindow) -> Quota {
    Quota {
        name: SENDS,
        limit: state.config.limits.sends_per_hour,
        remaining,
        reset_in: window.ends_in,
    }
}

fn send_refused(rejected: SendRejected) -> Error {
    match rejected {
        SendRejected::TooSoon { retry_after } => Error::ResendTooSoon { retry_after },
        SendRejected::HourlyLimit { retry_after } => Error::TooManyCodes { retry_after },
        SendRejected::Locked { retry_after } => Error::PhoneLocked { retry_after },
    }
}

/// Gives back a counted send whose code never went out. Best effort: a failure is logged, and
/// the counters then err on the safe side.
async fn uncount(state: &AppState, caller: &Caller, window: HourWindow, counted: &CountedSend) {
    if let Err(e) = state.store.uncount_send(caller, window, counted).await {
        tracing::error!(error = %Chain(&e), "a send that sent nothing is still counted");
    }
}

/// Saves the code's hash, retrying if a concurrent send or verify for the same phone saved first.
/// The first round uses `first` if given (the state already read) and `write`, so a save that
/// may have landed under that id is recognised; later rounds read again. Returns the state
/// before and the state saved. A send that loses to a parallel one for the same phone may then
/// be refused by the phone's caps.
async fn save_code(
    state: &AppState,
    phone: &PhoneNumber,
    client: &ClientTag,
    hash: crate::domain::CodeHash,
    first: Option<OtpState>,
    write: WriteId,
) -> Result<(OtpState, OtpState)> {
    let policy = &state.config.otp;
    let mut first = Some((first, write));
    retry_on_conflict("one phone's code", || {
        let (read, write) = first.take().unwrap_or((None, WriteId::random()));
        async move {
            let current = match read {
                Some(state) => state,
                None => state.store.otp_state(phone).await?,
            };
            let next = current
                .send(state.clock.now_s(), policy, client, hash)
                .map_err(send_refused)?;
            let saved = state.store.save_otp_state(phone, &next, &write).await?;
            Ok(saved.then_some((current, next)))
        }
    })
    .await
}

/// Puts back the state from before a code that never went out (undelivered, or saved by a send
/// then not counted), if nothing was saved since. Best effort: if a verify or another send came in
/// between, theirs stands. A verify's transaction that holds the item refuses the put without
/// changing it (`TransactionConflict`), so while the stored revision is still the one this send
/// saved, the put is tried again.
async fn withdraw(state: &AppState, phone: &PhoneNumber, before: OtpState, saved: &OtpState) {
    let restored = OtpState {
        // Written over the revision `saved` was stored with.
        revision: saved.revision + 1,
        ..before
    };
    let result = retry_on_conflict("withdrawing one phone's code", || async {
        let write = WriteId::random();
        if state.store.save_otp_state(phone, &restored, &write).await? {
            return Ok(Some(true));
        }
        let stored = state.store.otp_state(phone).await?;
        Ok((stored.revision != restored.revision).then_some(false))
    })
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
