//! The DynamoDB calls, round trips and capacity of each kind of request, counted by the meter on
//! the real handlers (`app`, `meter`).
use std::collections::BTreeMap;

use serde_json::json;
use shared::testing::random_phone;

use crate::app::{Bench, Metered};
use crate::builds::{
    FIRST_LOGIN, PROFILE_GET, RETURNING_LOGIN, SEND_CODE, event, send_event, verify_event,
};

/// One request of each kind, in order, each with what DynamoDB did for it.
pub async fn usage(bench: &Bench) -> anyhow::Result<Vec<Metered>> {
    let mut out = Vec::new();
    let phone = random_phone();
    bench
        .metered(SEND_CODE, send_event(&phone), &mut out)
        .await?;
    // First login.
    let phone = random_phone();
    let code = bench.code_for(&phone).await?;
    bench
        .metered(FIRST_LOGIN, verify_event(&phone, &code), &mut out)
        .await?;
    // Returning user.
    let code = bench.code_for(&phone).await?;
    bench
        .metered(RETURNING_LOGIN, verify_event(&phone, &code), &mut out)
        .await?;
    let code = bench.code_for(&phone).await?;
    let wrong = format!("{:04}", (code.parse::<u32>().unwrap_or(0) + 1) % 10_000);
    bench
        .metered(
            "verify-code, wrong code",
            verify_event(&phone, &wrong),
            &mut out,
        )
        .await?;
    let (_, token, _) = bench.user().await?;
    let (_, _, friend_code) = bench.user().await?;
    bench
        .metered(
            PROFILE_GET,
            event("GET", "/v1/profile", Some(&token), None),
            &mut out,
        )
        .await?;
    let activation = event(
        "POST",
        "/v1/profile/invite-code",
        Some(&token),
        Some(json!({ "invite_code": friend_code })),
    );
    bench
        .metered("activate invite code", activation.clone(), &mut out)
        .await?;
    // The same request again: refused by the read, before any write.
    bench
        .metered("activate, already activated", activation, &mut out)
        .await?;
    bench
        .metered(
            "GET /v1/profile/referrals",
            event("GET", "/v1/profile/referrals", Some(&token), None),
            &mut out,
        )
        .await?;
    bench
        .metered(
            "logout",
            event("POST", "/v1/auth/logout", Some(&token), None),
            &mut out,
        )
        .await?;
    Ok(out)
}

/// Round trips to DynamoDB of each request, by label.
pub fn rounds_of(usage: &[Metered]) -> BTreeMap<String, f64> {
    usage
        .iter()
        .map(|(label, _, u)| (label.clone(), f64::from(u.rounds())))
        .collect()
}

/// DynamoDB requests of each request, by label.
pub fn calls_of(usage: &[Metered]) -> BTreeMap<String, u32> {
    usage
        .iter()
        .map(|(label, _, u)| (label.clone(), u.calls.values().sum::<u32>()))
        .collect()
}
