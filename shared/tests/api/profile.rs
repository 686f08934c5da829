use std::collections::HashSet;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};
use shared::auth::Tokens;
use shared::config::Secret;
use shared::domain::{Activation, InviteCode, PhoneNumber, User};

use crate::helpers::{TestApp, app, event};

#[tokio::test]
async fn the_profile_needs_a_valid_token() {
    let app = app().await;
    let (_, token, profile) = app.new_user().await;
    let missing = app.call("GET", "/v1/profile", None, None).await;
    missing.assert_problem(401, "missing_token");
    assert_eq!(missing.header("www-authenticate"), Some("Bearer"));

    let other_key = Tokens::new(
        &Secret::new(b"another-secret-another-secret-123".to_vec()),
        3_600,
    );
    let id = shared::domain::UserId::from_trusted(profile["id"].as_str().unwrap().into());
    let forged = other_key.issue(&id, 0, app.state.clock.now_s());
    let parts: Vec<&str> = token.split('.').collect();
    let alg_none = format!(
        "{}.{}.",
        B64.encode(r#"{"alg":"none","typ":"JWT"}"#),
        parts[1]
    );
    let tampered_claims = B64.encode(
        json!({ "sub": "someone-else", "iat": 0, "exp": app.state.clock.now_s() + 999, "ver": 0 })
            .to_string(),
    );
    let tampered = format!("{}.{}.{}", parts[0], tampered_claims, parts[2]);
    for bad in ["garbage", "a.b.c", &forged, &alg_none, &tampered] {
        let resp = app.profile(bad).await;
        resp.assert_problem(401, "invalid_token");
        assert!(
            resp.header("www-authenticate")
                .unwrap()
                .starts_with("Bearer")
        );
    }
    let basic = app
        .call_event(&event(
            "GET",
            "/v1/profile",
            &[("authorization", "Basic dXNlcjpwYXNz")],
            None,
        ))
        .await;
    basic.assert_problem(401, "invalid_token");

    app.state.clock.advance(Duration::from_secs(86_400));
    app.profile(&token)
        .await
        .assert_problem(401, "token_expired");
}

#[tokio::test]
async fn activating_a_code_links_both_profiles() {
    let app = app().await;
    let (phone_a, token_a, a) = app.new_user().await;
    let (phone_b, token_b, _) = app.new_user().await;
    let code_a = a["invite_code"].as_str().unwrap();
    // Pasted with spaces and in lower case.
    let resp = app
        .activate(&token_b, &format!("  {} ", code_a.to_lowercase()))
        .await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert_eq!(resp.body["activated_invite_code"], code_a);
    assert_eq!(resp.body["phone"], phone_b.as_str());

    let a_now = app.profile(&token_a).await;
    assert_eq!(a_now.body["referrals_count"], 1);
    assert_eq!(a_now.body["referrals"][0]["phone"], phone_b.as_str());
    assert!(a_now.body["referrals"][0]["activated_at"].is_string());
    assert_eq!(a_now.body["activated_invite_code"], Value::Null);
    assert_eq!(a_now.body["phone"], phone_a.as_str());
    let b_now = app.profile(&token_b).await;
    assert_eq!(b_now.body["activated_invite_code"], code_a);
}

#[tokio::test]
async fn a_second_activation_is_409_and_the_first_stays() {
    let app = app().await;
    let (_, _, a) = app.new_user().await;
    let (_, _, c) = app.new_user().await;
    let (_, token_b, _) = app.new_user().await;
    assert_eq!(
        app.activate(&token_b, a["invite_code"].as_str().unwrap())
            .await
            .status,
        200
    );
    app.activate(&token_b, c["invite_code"].as_str().unwrap())
        .await
        .assert_problem(409, "already_activated");
    // Even the same code again.
    app.activate(&token_b, a["invite_code"].as_str().unwrap())
        .await
        .assert_problem(409, "already_activated");
    assert_eq!(
        app.profile(&token_b).await.body["activated_invite_code"],
        a["invite_code"]
    );
}

#[tokio::test]
async fn own_unknown_malformed_and_mutual_codes_are_refused() {
    let app = app().await;
    let (_, token_a, a) = app.new_user().await;
    let (_, token_b, b) = app.new_user().await;
    app.activate(&token_a, a["invite_code"].as_str().unwrap())
        .await
        .assert_problem(422, "own_invite_code");
    for bad in ["", "ABC", "ABCDEFG", "ABC-12", "ÄBC123"] {
        app.activate(&token_a, bad)
            .await
            .assert_problem(400, "invalid_invite_code");
    }
    // Not 6 characters from our alphabet can never exist; a well-formed unknown one is a 404.
    let unknown = loop {
        let code = InviteCode::generate();
        if app
            .state
            .store
            .invite_code_owner(&code)
            .await
            .unwrap()
            .is_none()
        {
            break code;
        }
    };
    app.activate(&token_a, unknown.as_str())
        .await
        .assert_problem(404, "invite_code_not_found");
    assert_eq!(
        app.activate(&token_a, b["invite_code"].as_str().unwrap())
            .await
            .status,
        200
    );
    app.activate(&token_b, a["invite_code"].as_str().unwrap())
        .await
        .assert_problem(422, "mutual_referral");
    // The refused attempt left B free to activate someone else.
    let (_, _, c) = app.new_user().await;
    assert_eq!(
        app.activate(&token_b, c["invite_code"].as_str().unwrap())
            .await
            .status,
        200
    );
    app.call(
        "POST",
        "/v1/profile/invite-code",
        Some(&token_b),
        Some(json!({ "code": "X" })),
    )
    .await
    .assert_problem(400, "invalid_body");
}

/// Creates `n` users straight through the store and activates `referrer_code` for each, with
/// increasing activation times. Returns their phones, oldest first.
async fn referred_users(
    app: &TestApp,
    referrer: &shared::domain::UserId,
    referrer_code: &str,
    n: usize,
) -> Vec<String> {
    let mut phones = Vec::new();
    let start = app.state.clock.now_ms();
    for i in 0..n {
        let phone = PhoneNumber::parse(
            &crate::helpers::random_phone(),
            shared::domain::phone::parse_region("RU").unwrap(),
        )
        .unwrap();
        let user = User::new(phone.clone(), start);
        app.state.store.create_user(&user).await.unwrap();
        let activation = Activation {
            invite_code: InviteCode::parse(referrer_code).unwrap(),
            referrer: referrer.clone(),
            activated_at: start + i as i64,
        };
        app.state.store.activate(&user, &activation).await.unwrap();
        phones.push(phone.as_str().to_owned());
    }
    phones
}

#[tokio::test]
async fn referrals_page_newest_first_through_more_than_a_hundred() {
    let app = app().await;
    let (_, token, me) = app.new_user().await;
    let id = shared::domain::UserId::from_trusted(me["id"].as_str().unwrap().into());
    let phones = referred_users(&app, &id, me["invite_code"].as_str().unwrap(), 105).await;
    let newest_first: Vec<String> = phones.iter().rev().cloned().collect();

    let profile = app.profile(&token).await;
    assert_eq!(profile.body["referrals_count"], 105);
    let embedded: Vec<&str> = profile.body["referrals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phone"].as_str().unwrap())
        .collect();
    assert_eq!(embedded, newest_first[..100]);

    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/profile/referrals?limit=40&cursor={c}"),
            None => "/v1/profile/referrals?limit=40".to_owned(),
        };
        let page = app.call("GET", &path, Some(&token), None).await;
        assert_eq!(page.status, 200, "{page:#?}");
        pages += 1;
        for item in page.body["items"].as_array().unwrap() {
            seen.push(item["phone"].as_str().unwrap().to_owned());
            assert!(item["activated_at"].as_str().unwrap().ends_with('Z'));
        }
        match page.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, newest_first);
    assert_eq!(seen.iter().collect::<HashSet<_>>().len(), 105);
}

#[tokio::test]
async fn a_page_that_ends_exactly_at_the_last_referral_has_no_next_cursor() {
    let app = app().await;
    let (_, token, me) = app.new_user().await;
    let id = shared::domain::UserId::from_trusted(me["id"].as_str().unwrap().into());
    referred_users(&app, &id, me["invite_code"].as_str().unwrap(), 3).await;
    let page = app
        .call("GET", "/v1/profile/referrals?limit=3", Some(&token), None)
        .await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 3);
    assert_eq!(page.body["next_cursor"], Value::Null);
    let default = app
        .call("GET", "/v1/profile/referrals", Some(&token), None)
        .await;
    assert_eq!(default.body["items"].as_array().unwrap().len(), 3);
}

#[tokio::test]
async fn bad_paging_parameters_are_400() {
    let app = app().await;
    let (_, token, _) = app.new_user().await;
    for query in ["limit=0", "limit=101", "limit=abc", "limit=-1"] {
        app.call(
            "GET",
            &format!("/v1/profile/referrals?{query}"),
            Some(&token),
            None,
        )
        .await
        .assert_problem(400, "invalid_query");
    }
    app.call(
        "GET",
        "/v1/profile/referrals?cursor=garbage",
        Some(&token),
        None,
    )
    .await
    .assert_problem(400, "invalid_cursor");
}

#[tokio::test]
async fn a_cursor_cannot_reach_another_users_referrals() {
    let app = app().await;
    let (_, token_a, a) = app.new_user().await;
    let (_, token_c, _) = app.new_user().await;
    let id_a = shared::domain::UserId::from_trusted(a["id"].as_str().unwrap().into());
    referred_users(&app, &id_a, a["invite_code"].as_str().unwrap(), 3).await;
    let page = app
        .call("GET", "/v1/profile/referrals?limit=1", Some(&token_a), None)
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap();
    let stolen = app
        .call(
            "GET",
            &format!("/v1/profile/referrals?cursor={cursor}"),
            Some(&token_c),
            None,
        )
        .await;
    assert_eq!(stolen.status, 200);
    assert_eq!(stolen.body["items"], json!([]));
}

#[tokio::test]
async fn logout_revokes_every_earlier_token() {
    let app = app().await;
    let (phone, token, _) = app.new_user().await;
    app.state.clock.advance(Duration::from_secs(60));
    let code = app.code_for(&phone).await;
    let second = app.verify(&phone, &code).await.body["access_token"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = app
        .call("POST", "/v1/auth/logout", Some(&token), None)
        .await;
    assert_eq!(out.status, 204, "{out:#?}");
    for old in [&token, &second] {
        let resp = app.profile(old).await;
        resp.assert_problem(401, "token_revoked");
        assert!(resp.header("www-authenticate").is_some());
    }
    app.call("POST", "/v1/auth/logout", Some(&token), None)
        .await
        .assert_problem(401, "token_revoked");
    app.call("GET", "/v1/profile/referrals", Some(&token), None)
        .await
        .assert_problem(401, "token_revoked");
    app.activate(&token, "ABC123")
        .await
        .assert_problem(401, "token_revoked");

    app.state.clock.advance(Duration::from_secs(60));
    let code = app.code_for(&phone).await;
    let fresh = app.verify(&phone, &code).await;
    assert_eq!(fresh.status, 200);
    assert_eq!(
        app.profile(fresh.body["access_token"].as_str().unwrap())
            .await
            .status,
        200
    );
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems_too() {
    let app = app().await;
    let (_, token, _) = app.new_user().await;
    app.call("GET", "/v1/nothing", Some(&token), None)
        .await
        .assert_problem(404, "not_found");
    app.call("PUT", "/v1/profile", Some(&token), None)
        .await
        .assert_problem(405, "method_not_allowed");
}
