//! The logged-in user's operations: the profile, activating an invite code, the referral list,
//! logging out, deleting the account. Every one acts on the token's user only.
use super::retry_on_conflict;
use crate::auth::Claims;
use crate::domain::{InviteCode, Referral, ReferralKey, Referrer, User, UserId};
use crate::error::{AuthFailure, Error, Result};
use crate::metrics::{self, Event};
use crate::state::AppState;
use crate::store::{ActivateError, DeletedBy, Deletion, Revoke, WriteId};

/// How many referrals a profile carries; the rest are paged through the referral list.
pub const PROFILE_REFERRALS: usize = 100;

/// The verified claims of a bearer token (signature, algorithm, expiry).
pub async fn authenticate(state: &AppState, token: &str) -> Result<Claims> {
    state
        .tokens
        .verify(token, state.clock.now_s())
        .await
        .map_err(Error::Unauthorized)
}

fn user_id(claims: &Claims) -> UserId {
    UserId::from_trusted(claims.sub.clone())
}

/// The token's user, if the token was not revoked by a logout since it was issued.
async fn current_user(state: &AppState, claims: &Claims) -> Result<User> {
    token_holder(state.store.user(&user_id(claims)).await?, claims)
}

/// The token's user, as read: gone users and revoked tokens are refused.
fn token_holder(user: Option<User>, claims: &Claims) -> Result<User> {
    let user = user.ok_or(Error::Unauthorized(AuthFailure::Invalid))?;
    if user.token_version != claims.ver {
        return Err(Error::Unauthorized(AuthFailure::Revoked));
    }
    Ok(user)
}

async fn newest_referrals(state: &AppState, id: &UserId) -> Result<Vec<Referral>> {
    Ok(state.store.referrals(id, PROFILE_REFERRALS, None).await?.0)
}

/// My user and my newest referrals.
#[tracing::instrument(skip_all)]
pub async fn profile(state: &AppState, claims: &Claims) -> Result<(User, Vec<Referral>)> {
    // Both reads go out at once; the list is dropped if the token turns out to be revoked.
    let id = user_id(claims);
    tokio::try_join!(current_user(state, claims), newest_referrals(state, &id))
}

/// Activates someone else's invite code (the rules: [`User::activate`]); answers my updated user
/// and my newest referrals.
#[tracing::instrument(skip_all)]
pub async fn activate(
    state: &AppState,
    claims: &Claims,
    code: &InviteCode,
) -> Result<(User, Vec<Referral>)> {
    let id = user_id(claims);
    let ((user, holder), referrals) = tokio::try_join!(
        async { Ok(state.store.user_and_invite_owner(&id, code).await?) },
        newest_referrals(state, &id),
    )?;
    let mut user = token_holder(user, claims)?;
    // Whom the holder referred is not read here: the transaction's condition checks it.
    let holder = holder.map(|id| Referrer {
        id,
        invite_code: code.clone(),
        referred_by: None,
    });
    let activation = user.activate(code, holder.as_ref(), state.clock.now_ms())?;
    retry_on_conflict("activating an invite code", || async {
        match state.store.activate(&user, &activation).await {
            Ok(()) => Ok(Some(())),
            Err(ActivateError::Refused(refused)) => Err(refused.into()),
            // Deleted in parallel (by another of my tokens): the token's user is gone.
            Err(ActivateError::UserGone) => Err(Error::Unauthorized(AuthFailure::Invalid)),
            Err(ActivateError::Conflict) => Ok(None),
            Err(ActivateError::Store(e)) => Err(e.into()),
        }
    })
    .await?;
    metrics::record(Event::Activation);
    tracing::info!(
        user = user.id.as_str(),
        referrer = activation.referrer.as_str(),
        "invite code activated"
    );
    user.activation = Some(activation);
    Ok((user, referrals))
}

/// A page of my referrals, newest first, and where the next page starts.
#[tracing::instrument(skip_all)]
pub async fn referrals(
    state: &AppState,
    claims: &Claims,
    limit: usize,
    after: Option<&ReferralKey>,
) -> Result<(Vec<Referral>, Option<ReferralKey>)> {
    let id = user_id(claims);
    let (_, page) = tokio::try_join!(current_user(state, claims), async {
        Ok(state.store.referrals(&id, limit, after).await?)
    })?;
    Ok(page)
}

/// Revokes every token issued to me so far. One logout id for every try, so a try that landed
/// but whose answer was lost counts as done; a try refused while my activation's transaction held
/// my user item is made again.
#[tracing::instrument(skip_all)]
pub async fn logout(state: &AppState, claims: &Claims) -> Result<()> {
    let id = user_id(claims);
    let logout = WriteId::random();
    let revoked = retry_on_conflict("one user's logout", || async {
        match state.store.revoke_tokens(&id, claims.ver, &logout).await? {
            Revoke::Done => Ok(Some(true)),
            Revoke::Moved => Ok(Some(false)),
            Revoke::Held => Ok(None),
            Revoke::Gone => Err(Error::Unauthorized(AuthFailure::Invalid)),
        }
    })
    .await?;
    if revoked {
        Ok(())
    } else {
        Err(Error::Unauthorized(AuthFailure::Revoked))
    }
}

/// Deletes my account (the items: [`crate::store::Store::delete_user`]), with a token from a
/// recent login only. Every round reads my user again, so a logout, an activation or a new code
/// in between is seen, and the one transaction is built on what stands. Found gone: if this very
/// token deleted it (its first answer lost), that is done; any other token finds no user (401),
/// as every token of a deleted account does, with no read added to other requests.
#[tracing::instrument(skip_all)]
pub async fn delete_account(state: &AppState, claims: &Claims) -> Result<()> {
    let max_age_s = state.config.delete_max_token_age_seconds;
    if !claims.issued_within(max_age_s, state.clock.now_s()) {
        return Err(Error::ReauthenticationRequired { max_age_s });
    }
    let id = user_id(claims);
    let by = DeletedBy {
        iat: claims.iat,
        ver: claims.ver,
    };
    let deleted_now = retry_on_conflict("deleting an account", || async {
        let (user, note) = state.store.user_and_deletion(&id).await?;
        if user.is_none() && note == Some(by) {
            return Ok(Some(false));
        }
        let user = token_holder(user, claims)?;
        let otp = state.store.otp_state(&user.phone).await?;
        // Past this, the token could not delete any more, so the note is of no use.
        let note_expires_at = claims.iat + max_age_s + 1;
        let now_ms = state.clock.now_ms();
        Ok(
            match state
                .store
                .delete_user(&user, &otp, by, note_expires_at, now_ms)
                .await?
            {
                Deletion::Done => Some(true),
                Deletion::Changed => None,
            },
        )
    })
    .await?;
    if deleted_now {
        metrics::record(Event::AccountDeleted);
        tracing::info!(user = id.as_str(), "account deleted");
    }
    Ok(())
}
