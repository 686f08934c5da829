//! The authenticated routes: `GET /v1/profile`, `POST /v1/profile/invite-code`,
//! `GET /v1/profile/referrals`, `POST /v1/auth/logout` and `DELETE /v1/profile`. Every one reads the caller from the
//! token only; none takes a user id or phone from the path or query.
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, RequestExt, Response};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{ProfileView, ReferralView};
use crate::auth::Claims;
use crate::domain::InviteCode;
use crate::error::{Error, Result};
use crate::http::{bearer_token, cursor, json, no_content, problem, read_json, respond};
use crate::routes::{self, Function, Operation};
use crate::state::AppState;
use crate::usecases::profile;

pub const DEFAULT_PAGE: usize = 20;
pub const MAX_PAGE: usize = 100;

pub async fn handle(state: &AppState, req: Request) -> Response<Body> {
    if let Err(e) = state.config.edge.admit(&req) {
        return problem(&e);
    }
    let result = match routes::operation(Function::Profile, &req) {
        Ok(Operation::GetProfile) => get_profile(state, &req).await,
        Ok(Operation::ActivateInviteCode) => activate(state, &req).await,
        Ok(Operation::ListReferrals) => list_referrals(state, &req).await,
        Ok(Operation::Logout) => logout(state, &req).await,
        Ok(Operation::DeleteAccount) => delete_account(state, &req).await,
        Ok(_) => Err(Error::RouteNotFound),
        Err(e) => Err(e),
    };
    respond(result)
}

/// The verified claims of the request's bearer token.
async fn claims(state: &AppState, req: &Request) -> Result<Claims> {
    profile::authenticate(state, bearer_token(req)?).await
}

/// My profile
///
/// My phone, my invite code, the code I activated (if any), the newest 100 users who activated
/// mine, and how many did in all.
#[utoipa::path(
    get,
    path = "/v1/profile",
    tag = "profile",
    operation_id = "get_profile",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "My profile", body = ProfileView),
    ),
)]
async fn get_profile(state: &AppState, req: &Request) -> Result<Response<Body>> {
    let (user, referrals) = profile::profile(state, &claims(state, req).await?).await?;
    Ok(json(StatusCode::OK, &ProfileView::new(&user, &referrals)))
}

#[derive(Deserialize, ToSchema)]
pub struct ActivateRequest {
    /// Someone else's invite code; trimmed and case-insensitive.
    #[schema(
        example = "x9y8z7",
        max_length = 32,
        pattern = r"^[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*[A-Za-z0-9]{6}[\t\n\v\f\r \u0085\u00A0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000]*$"
    )]
    pub invite_code: String,
}

/// Activate an invite code
///
/// Records that someone else's code brought me here: once in a lifetime, never my own, never
/// someone who activated mine. Answers my updated profile.
#[utoipa::path(
    post,
    path = "/v1/profile/invite-code",
    tag = "profile",
    operation_id = "activate_invite_code",
    security(("bearer" = [])),
    request_body(content = ActivateRequest, content_type = "application/json"),
    responses(
        (status = 200, description = "Activated; my updated profile", body = ProfileView),
    ),
)]
async fn activate(state: &AppState, req: &Request) -> Result<Response<Body>> {
    let claims = claims(state, req).await?;
    let body: ActivateRequest = read_json(req)?;
    let code = InviteCode::parse(&body.invite_code).map_err(|_| Error::InvalidInviteCode)?;
    let (user, referrals) = profile::activate(state, &claims, &code).await?;
    Ok(json(StatusCode::OK, &ProfileView::new(&user, &referrals)))
}

#[derive(Serialize, ToSchema)]
pub struct ReferralPage {
    /// Newest first.
    #[schema(max_items = 100)]
    pub items: Vec<ReferralView>,
    /// Pass as `cursor` for the next page; null on the last page.
    #[schema(
        example = "eyJ0IjoxNzk1NDA2MDcyMDA0LCJ1IjoiMmQ1ZiJ9",
        max_length = 128,
        pattern = "^[A-Za-z0-9_-]*$"
    )]
    pub next_cursor: Option<String>,
}

/// My referrals, page by page
///
/// Everyone who activated my invite code, newest first.
#[utoipa::path(
    get,
    path = "/v1/profile/referrals",
    tag = "profile",
    operation_id = "list_referrals",
    security(("bearer" = [])),
    params(
        ("limit" = Option<u32>, Query, description = "Page size, 1-100 (default 20)", minimum = 1, maximum = 100),
        // Only what the API issued decodes: an opaque format, not every string of the alphabet.
        ("cursor" = Option<String>, Query, description = "`next_cursor` of the previous page; empty for the first", max_length = 128, pattern = "^[A-Za-z0-9_-]*$", format = "referral-cursor"),
    ),
    responses(
        (status = 200, description = "A page of referrals", body = ReferralPage),
    ),
)]
async fn list_referrals(state: &AppState, req: &Request) -> Result<Response<Body>> {
    let claims = claims(state, req).await?;
    let query = req.query_string_parameters_ref();
    let limit = match query.and_then(|q| q.first("limit")) {
        None => DEFAULT_PAGE,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                Error::InvalidQuery(format!("limit must be a whole number from 1 to {MAX_PAGE}"))
            })?,
    };
    let after = match query.and_then(|q| q.first("cursor")) {
        None | Some("") => None,
        Some(text) => Some(cursor::decode(text).ok_or(Error::InvalidCursor)?),
    };
    let (referrals, next) = profile::referrals(state, &claims, limit, after.as_ref()).await?;
    Ok(json(
        StatusCode::OK,
        &ReferralPage {
            items: referrals.iter().map(ReferralView::from).collect(),
            next_cursor: next.as_ref().map(cursor::encode),
        },
    ))
}

/// Log out
///
/// Revokes every token issued to me so far.
#[utoipa::path(
    post,
    path = "/v1/auth/logout",
    tag = "auth",
    operation_id = "logout",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Logged out; every earlier token is revoked"),
    ),
)]
async fn logout(state: &AppState, req: &Request) -> Result<Response<Body>> {
    profile::logout(state, &claims(state, req).await?).await?;
    Ok(no_content())
}

/// Delete my account
///
/// Takes a token from a recent login (`DELETE_MAX_TOKEN_AGE_SECONDS`, 300 by default; an older
/// one gets `reauthentication_required`: log in again). Removes my user, frees my phone number
/// (it registers again as a new user, with a new id and invite code), withdraws any pending code,
/// retires my invite code for good (activating it answers as an unknown code does), takes me off
/// the list and the count of whoever's code I activated, and refuses every token issued to me.
/// The people who activated my code keep their accounts and the code they activated. The
/// phone's send and wrong-code counters stay until they expire. All of it happens at once; a
/// 503 leaves nothing half done, and repeating the request with the same token finishes it (204).
#[utoipa::path(
    delete,
    path = "/v1/profile",
    tag = "profile",
    operation_id = "delete_account",
    security(("bearer" = [])),
    responses(
        (status = 204, description = "Deleted; every token of mine is refused from now on"),
    ),
)]
async fn delete_account(state: &AppState, req: &Request) -> Result<Response<Body>> {
    profile::delete_account(state, &claims(state, req).await?).await?;
    Ok(no_content())
}
