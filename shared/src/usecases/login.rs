//! Logging in with a code: check it, find or create the phone's user, issue a token.
use super::profile::PROFILE_REFERRALS;
use super::{Limited, retry_on_conflict};
use crate::domain::{
    Caller, HourWindow, OtpCode, PhoneNumber, Quota, Referral, User, UserId, VerifyOutcome,
};
use crate::error::{Error, Result};
use crate::metrics::{self, Event};
use crate::state::AppState;
use crate::store::{CreateUserError, FailureCheck, SaveOutcome, VerificationReads, WriteId};

/// The `RateLimit` policy name of the per-client wrong-code limit.
pub const FAILURES: &str = "failures";

pub struct LoggedIn {
    pub user: User,
    /// Whether this login created the user.
    pub created: bool,
    /// The newest referrals, for the profile in the answer.
    pub referrals: Vec<Referral>,
    pub token: String,
}

/// Checks `caller`'s `code` and logs the phone's user in, creating the user on the first login.
/// Also returns the caller's standing under its hourly wrong-code limits.
#[tracing::instrument(skip_all, fields(phone = %phone.masked(), client = %caller.client))]
pub async fn login(
    state: &AppState,
    phone: &PhoneNumber,
    code: &OtpCode,
    caller: &Caller,
) -> Limited<LoggedIn> {
    let mut quota = None;
    let result = log_in(state, phone, code, caller, &mut quota).await;
    Limited { result, quota }
}

async fn log_in(
    state: &AppState,
    phone: &PhoneNumber,
    code: &OtpCode,
    caller: &Caller,
    quota: &mut Option<Quota>,
) -> Result<LoggedIn> {
    let (user, created, referrals) = match check_code(state, phone, code, caller, quota).await? {
        Checked::Returning(user, referrals) => (*user, false, referrals),
        Checked::Created(user) => {
            tracing::info!(user = user.id.as_str(), "user created");
            (*user, true, Vec::new())
        }
    };
    metrics::record(Event::Login { new_user: created });
    let now_s = state.clock.now_s();
    // A warm function whose keys are old reads them first: it must not sign with a retired key.
    state.tokens.refresh_if_old(now_s).await;
    let token = state.tokens.issue(&user.id, user.token_version, now_s);
    Ok(LoggedIn {
        user,
        created,
        referrals,
        token,
    })
}

/// The phone's user after a code verified.
enum Checked {
    /// A returning user, read with the newest referrals while the code's use was saved.
    Returning(Box<User>, Vec<Referral>),
    /// A first login: the user was created in the same transaction that used the code.
    Created(Box<User>),
}

/// Checks the code against the phone's pending one and records the outcome (a used code, a
/// wrong try, counted against the client too; a try with no live code counted against the client
/// alone) before answering, so parallel guesses all count and a code verifies only once. A client at its hourly wrong-code limit gets no judgement at all:
/// refused at once when the counter read says so, and otherwise by the save's own condition.
///
/// Round trips: the phone's state, the client's counter and the phone's user id are read
/// together; when the code is right and the user exists, the user and their referrals are read
/// while the save lands. When the code is right and the phone has no user, the save creates one.
/// Every login is two waits on DynamoDB; the reads are wasted only when the save then loses a
/// race, and never made for a wrong code.
async fn check_code(
    state: &AppState,
    phone: &PhoneNumber,
    code: &OtpCode,
    caller: &Caller,
    quota: &mut Option<Quota>,
) -> Result<Checked> {
    let guess = state.hasher.hash(phone, code);
    let policy = &state.config.otp;
    let limits = &state.config.limits;
    let (limit, range_limit) = (limits.failures_per_hour, limits.range_failures_per_hour);
    let window = HourWindow::at(state.clock.now_s());
    // What is left to this caller: of its address's wrong codes or its range's, whichever is
    // less.
    let standing = |used: u32, range_used: u32| Quota {
        name: FAILURES,
        limit,
        remaining: limit
            .saturating_sub(used)
            .min(range_limit.saturating_sub(range_used)),
        reset_in: window.ends_in,
    };
    let full = || Error::ClientFailureLimit {
        retry_after: window.ends_in,
    };
    let outcome = retry_on_conflict("one phone's code", || async {
        let VerificationReads {
            state: current,
            failures,
            range_failures,
            owner: known,
        } = state
            .store
            .verification_reads(phone, caller, window)
            .await?;
        if failures >= limit {
            return Err(full());
        }
        if range_failures >= range_limit {
            tracing::warn!(range = %caller.range, "address range wrong-code limit reached");
            return Err(full());
        }
        let (next, outcome) = current.verify(state.clock.now_s(), policy, &caller.client, guess);
        // A try with no live code behind it counts as a wrong code all the same, or probing
        // phones for a login in progress would cost nothing. Only a locked-out client and the
        // requester of a burned code (told so again) are not counted: they were not judged.
        if next.is_none() && outcome != VerifyOutcome::Invalid {
            return Ok(Some((outcome, (failures, range_failures), None)));
        }
        let wrong = outcome != VerifyOutcome::Verified;
        let check = FailureCheck {
            caller,
            window,
            limit,
            range_limit,
            wrong,
        };
        let write = WriteId::random();
        // A right code for a phone without a user: the save creates the user.
        let new_user =
            (known.is_none() && !wrong).then(|| User::new(phone.clone(), state.clock.now_ms()));
        let save =
            state
                .store
                .save_verification(phone, next.as_ref(), &write, &check, new_user.as_ref());
        let (saved, checked) = match known {
            Some(id) if !wrong => {
                let (saved, user, (referrals, _)) = tokio::try_join!(
                    async { Ok(save.await?) },
                    async { Ok::<_, Error>(state.store.user(&id).await?) },
                    async { Ok(state.store.referrals(&id, PROFILE_REFERRALS, None).await?) },
                )?;
                // The account was deleted since its phone's claim was read: the deletion moved
                // the phone's record on too (it withdraws the code), so this save did not land;
                // the next round reads the record as the deletion left it.
                let Some(user) = user else {
                    return Ok(None);
                };
                (saved, Some(Checked::Returning(Box::new(user), referrals)))
            }
            _ => {
                let saved = save.await?;
                (saved, new_user.map(|user| Checked::Created(Box::new(user))))
            }
        };
        let used = (
            failures + u32::from(wrong),
            range_failures + u32::from(wrong),
        );
        match saved {
            SaveOutcome::Saved => Ok(Some((outcome, used, checked))),
            SaveOutcome::Moved => Ok(None),
            SaveOutcome::ClientFull => Err(full()),
            SaveOutcome::RangeFull => {
                tracing::warn!(range = %caller.range, "address range wrong-code limit reached");
                Err(full())
            }
        }
    })
    .await;
    let (outcome, used, checked) = match outcome {
        Ok(done) => done,
        Err(e) => {
            if matches!(e, Error::ClientFailureLimit { .. }) {
                *quota = Some(standing(limit, range_limit));
                tracing::warn!(client = %caller.client, "client wrong-code limit reached");
            }
            return Err(e);
        }
    };
    *quota = Some(standing(used.0, used.1));
    match outcome {
        // A right code is always saved, so its round returned the user.
        VerifyOutcome::Verified => {
            checked.ok_or_else(|| Error::Internal("a verified code was not saved".into()))
        }
        VerifyOutcome::Wrong { attempts_left } => Err(Error::InvalidCode {
            attempts_left: Some(attempts_left),
        }),
        VerifyOutcome::Invalid => Err(Error::InvalidCode {
            attempts_left: None,
        }),
        VerifyOutcome::Burned { retry_after } => Err(Error::TooManyAttempts { retry_after }),
        VerifyOutcome::Locked { retry_after } => Err(Error::PhoneLocked { retry_after }),
    }
}

/// The user a phone item points to. The two are written and deleted in one transaction, so one
/// without the other is a broken table, not a race.
async fn existing_user(state: &AppState, id: &UserId) -> Result<User> {
    state.store.user(id).await?.ok_or_else(|| {
        Error::Internal(format!("phone item points to missing user {}", id.as_str()).into())
    })
}

/// The phone's user, created if it has none, and whether this call created it: a user without a
/// login code, for `make event-token` and the tests (a login creates its user in the code's own
/// save). Parallel calls race on the phone's uniqueness item; the losers read the winner's user.
pub async fn find_or_create_user(state: &AppState, phone: &PhoneNumber) -> Result<(User, bool)> {
    retry_on_conflict("creating a user", || async move {
        let known = state.store.user_id_by_phone(phone).await?;
        if let Some(id) = known {
            return Ok(Some((existing_user(state, &id).await?, false)));
        }
        let user = User::new(phone.clone(), state.clock.now_ms());
        match state.store.create_user(&user).await {
            Ok(()) => {
                tracing::info!(user = user.id.as_str(), "user created");
                Ok(Some((user, true)))
            }
            // Taken phone: the next round reads the winner's user. Taken invite code: the
            // next round draws a fresh one.
            Err(
                CreateUserError::PhoneTaken
                | CreateUserError::InviteCodeTaken
                | CreateUserError::Conflict,
            ) => Ok(None),
            Err(CreateUserError::Store(e)) => Err(e.into()),
        }
    })
    .await
}
