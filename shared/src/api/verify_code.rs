//! `POST /v1/auth/verify-code`: check a code, create the user on first login, issue a token.
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::openapi::{BodyProblems, Unavailable};
use super::{PROFILE_REFERRALS, ProfileView, RACE_RETRIES, backoff};
use crate::domain::{OtpCode, PhoneNumber, User, UserId, VerifyOutcome};
use crate::error::{Error, Result};
use crate::http::{Problem, json, read_json, respond};
use crate::state::AppState;
use crate::store::{CreateUserError, StoreError};

#[derive(Deserialize, ToSchema)]
pub struct VerifyCodeRequest {
    #[schema(example = "+79991234567")]
    pub phone: String,
    /// The code that was sent, `OTP_DIGITS` digits (4 by default).
    #[schema(example = "4821")]
    pub code: String,
}

#[derive(Serialize, ToSchema)]
pub struct VerifyCodeResponse {
    /// An HS256 JWT for `Authorization: Bearer`.
    #[schema(example = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIwYjRmIn0.c2ln")]
    pub access_token: String,
    #[schema(example = "Bearer")]
    pub token_type: &'static str,
    /// Seconds the token is valid.
    #[schema(example = 86400)]
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
        (status = 400, description = "`invalid_phone`, `invalid_code_format`, `malformed_json`, `invalid_body`", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "`invalid_code` (with `attempts_left`), `code_expired` (none pending, expired or used)", body = Problem, content_type = "application/problem+json"),
        BodyProblems,
        (status = 429, description = "`too_many_attempts` (the code is burned), `phone_locked` (too many wrong codes today)", body = Problem, content_type = "application/problem+json",
            headers(("Retry-After" = u32, description = "Seconds to wait"))),
        Unavailable,
    ),
)]
pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    respond(verify_code(state, &req).await)
}

async fn verify_code(state: &AppState, req: &Request) -> Result<Response<Body>> {
    let body: VerifyCodeRequest = read_json(req)?;
    let phone = PhoneNumber::parse(&body.phone, state.config.default_region)
        .map_err(|_| Error::InvalidPhone)?;
    let digits = state.config.otp.digits;
    let code = OtpCode::parse(&body.code, digits).map_err(|_| Error::InvalidCodeFormat(digits))?;
    // The phone's user id is looked up while the code is checked: a round trip saved for every
    // returning user, one cheap read wasted on a wrong code.
    let ((), known) = tokio::try_join!(check_code(state, &phone, &code), async {
        Ok(state.store.user_id_by_phone(&phone).await?)
    })?;
    let (user, created, referrals) = match known {
        Some(id) => {
            let (user, (referrals, _)) = tokio::try_join!(existing_user(state, &id), async {
                Ok(state.store.referrals(&id, PROFILE_REFERRALS, None).await?)
            })?;
            (user, false, referrals)
        }
        None => {
            let (user, created) = login_after_lookup(state, &phone, None).await?;
            let referrals = if created {
                Vec::new()
            } else {
                state
                    .store
                    .referrals(&user.id, PROFILE_REFERRALS, None)
                    .await?
                    .0
            };
            (user, created, referrals)
        }
    };
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok(json(
        status,
        &VerifyCodeResponse {
            access_token: state
                .tokens
                .issue(&user.id, user.token_version, state.clock.now_s()),
            token_type: "Bearer",
            expires_in: state.tokens.ttl_seconds,
            new_user: created,
            profile: ProfileView::new(&user, &referrals),
        },
    ))
}

/// Checks the code against the phone's pending one and records the outcome (a used code, a
/// wrong try) before answering, so parallel guesses all count and a code verifies only once.
#[tracing::instrument(skip_all, fields(phone = %phone.masked()))]
pub async fn check_code(state: &AppState, phone: &PhoneNumber, code: &OtpCode) -> Result<()> {
    let guess = state.hasher.hash(phone, code);
    for attempt in 0..RACE_RETRIES {
        let current = state.store.otp_state(phone).await?;
        let (next, outcome) = current.verify(state.clock.now_s(), &state.config.otp, guess);
        if let Some(next) = next
            && !state
                .store
                .save_otp_state(phone, &next, next.forget_at(&state.config.otp))
                .await?
        {
            backoff(attempt).await;
            continue;
        }
        return match outcome {
            VerifyOutcome::Verified => Ok(()),
            VerifyOutcome::Wrong { attempts_left } => Err(Error::InvalidCode { attempts_left }),
            VerifyOutcome::Expired => Err(Error::CodeExpired),
            VerifyOutcome::Burned { retry_after } => Err(Error::TooManyAttempts { retry_after }),
            VerifyOutcome::Locked { retry_after } => Err(Error::PhoneLocked { retry_after }),
        };
    }
    Err(StoreError::Unavailable("too much contention on one phone's code".into()).into())
}

/// The user a phone item points to. The two are written in one transaction, so one without the
/// other is a broken table, not a race.
async fn existing_user(state: &AppState, id: &UserId) -> Result<User> {
    state.store.user(id).await?.ok_or_else(|| {
        StoreError::Unexpected(format!("phone item points to missing user {}", id.as_str())).into()
    })
}

/// The phone's user, created on first login. Returns whether this call created it. Parallel
/// first logins race on the phone's uniqueness item; the losers read the winner's user.
#[tracing::instrument(skip_all, fields(phone = %phone.masked()))]
pub async fn login(state: &AppState, phone: &PhoneNumber) -> Result<(User, bool)> {
    let known = state.store.user_id_by_phone(phone).await?;
    login_after_lookup(state, phone, known).await
}

/// [`login`] for a caller that has just looked the phone up (and found `known`), so the first
/// round does not read it again.
async fn login_after_lookup(
    state: &AppState,
    phone: &PhoneNumber,
    mut known: Option<UserId>,
) -> Result<(User, bool)> {
    for attempt in 0..RACE_RETRIES {
        if let Some(id) = known.take() {
            return Ok((existing_user(state, &id).await?, false));
        }
        let user = User::new(phone.clone(), state.clock.now_ms());
        match state.store.create_user(&user).await {
            Ok(()) => {
                tracing::info!(user = user.id.as_str(), "user created");
                return Ok((user, true));
            }
            // A fresh invite code is drawn on the next round.
            Err(CreateUserError::InviteCodeTaken) => continue,
            // Someone else created this phone's user first: read theirs.
            Err(CreateUserError::PhoneTaken) => {}
            Err(CreateUserError::Conflict) => backoff(attempt).await,
            Err(CreateUserError::Store(e)) => return Err(e.into()),
        }
        known = state.store.user_id_by_phone(phone).await?;
    }
    Err(StoreError::Unavailable("could not create the user after repeated conflicts".into()).into())
}
