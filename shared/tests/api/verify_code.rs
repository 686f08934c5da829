use std::time::Duration;

use serde_json::Value;

use crate::helpers::{app, app_with, random_phone};

fn assert_rfc3339(value: &Value) {
    let text = value.as_str().unwrap_or_default();
    assert!(
        time::OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).is_ok(),
        "not RFC 3339: {value}"
    );
}

#[tokio::test]
async fn the_first_login_creates_the_user_and_answers_201() {
    let app = app().await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    let resp = app.verify(&phone, &code).await;
    assert_eq!(resp.status, 201, "{resp:#?}");
    assert_eq!(resp.body["token_type"], "Bearer");
    assert_eq!(resp.body["expires_in"], 86_400);
    assert_eq!(resp.body["new_user"], true);
    let profile = &resp.body["profile"];
    assert_eq!(profile["phone"], phone.as_str());
    let invite = profile["invite_code"].as_str().unwrap();
    assert!(
        invite.len() == 6
            && invite
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()),
        "{invite}"
    );
    assert_eq!(profile["activated_invite_code"], Value::Null);
    assert_eq!(profile["referrals"], serde_json::json!([]));
    assert_eq!(profile["referrals_count"], 0);
    assert_rfc3339(&profile["created_at"]);
    // The token works.
    let me = app
        .profile(resp.body["access_token"].as_str().unwrap())
        .await;
    assert_eq!((me.status, &me.body["id"]), (200, &profile["id"]));
}

#[tokio::test]
async fn a_later_login_answers_200_with_the_same_user() {
    let app = app().await;
    let (phone, _, first) = app.new_user().await;
    app.state.clock.advance(Duration::from_secs(60));
    let code = app.code_for(&phone).await;
    let resp = app.verify(&phone, &code).await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert_eq!(resp.body["new_user"], false);
    assert_eq!(resp.body["profile"]["id"], first["id"]);
    assert_eq!(resp.body["profile"]["invite_code"], first["invite_code"]);
}

#[tokio::test]
async fn every_spelling_of_a_number_is_one_user() {
    let app = app().await;
    let phone = random_phone(); // +79XXXXXXXXX
    let national = format!(
        "8 ({}) {}-{}-{}",
        &phone[2..5],
        &phone[5..8],
        &phone[8..10],
        &phone[10..]
    );
    let spaced = format!(
        "+7 {} {} {} {}",
        &phone[2..5],
        &phone[5..8],
        &phone[8..10],
        &phone[10..]
    );
    let code = app.code_for(&national).await;
    let first = app.verify(&spaced, &code).await;
    assert_eq!(first.status, 201, "{first:#?}");
    app.state.clock.advance(Duration::from_secs(60));
    let code = app.code_for(&phone[1..]).await; // 79XXXXXXXXX
    let second = app.verify(&national, &code).await;
    assert_eq!(second.status, 200, "{second:#?}");
    assert_eq!(first.body["profile"]["id"], second.body["profile"]["id"]);
}

#[tokio::test]
async fn a_wrong_code_is_401_with_the_attempts_left_and_the_fifth_burns_it() {
    let app = app().await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    let wrong = if code == "0000" { "1111" } else { "0000" };
    for left in (1..=4).rev() {
        let resp = app.verify(&phone, wrong).await;
        resp.assert_problem(401, "invalid_code");
        assert_eq!(resp.body["attempts_left"], left);
    }
    let burned = app.verify(&phone, wrong).await;
    burned.assert_problem(429, "too_many_attempts");
    assert!(burned.header("retry-after").is_some());
    // The right code no longer helps; a new one does.
    app.verify(&phone, &code)
        .await
        .assert_problem(429, "too_many_attempts");
    app.state.clock.advance(Duration::from_secs(60));
    let fresh = app.code_for(&phone).await;
    assert_eq!(app.verify(&phone, &fresh).await.status, 201);
}

#[tokio::test]
async fn a_code_expires_after_its_ttl() {
    let app = app().await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    app.state.clock.advance(Duration::from_secs(300));
    let expired = app.verify(&phone, &code).await;
    expired.assert_problem(401, "invalid_code");
    assert!(expired.body.get("attempts_left").is_none(), "{expired:#?}");
}

#[tokio::test]
async fn a_code_works_once() {
    let app = app().await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    assert_eq!(app.verify(&phone, &code).await.status, 201);
    let used = app.verify(&phone, &code).await;
    used.assert_problem(401, "invalid_code");
    assert!(used.body.get("attempts_left").is_none(), "{used:#?}");
}

#[tokio::test]
async fn verifying_with_no_code_pending_is_an_invalid_code_without_attempts_left() {
    let app = app().await;
    let resp = app.verify(&random_phone(), "1234").await;
    resp.assert_problem(401, "invalid_code");
    assert!(resp.body.get("attempts_left").is_none(), "{resp:#?}");
}

#[tokio::test]
async fn malformed_codes_and_phones_are_400_and_cost_no_attempt() {
    let app = app().await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    for bad in ["123", "12345", "abcd", ""] {
        app.verify(&phone, bad)
            .await
            .assert_problem(400, "invalid_code_format");
    }
    app.verify("12", &code)
        .await
        .assert_problem(400, "invalid_phone");
    assert_eq!(app.verify(&phone, &code).await.status, 201);
}

#[tokio::test]
async fn too_many_wrong_codes_in_a_day_lock_the_phone_until_the_window_ends() {
    let app = app_with(&[
        ("OTP_MAX_FAILURES_PER_DAY", "3"),
        ("OTP_RESEND_SECONDS", "0"),
    ])
    .await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    let wrong = if code == "0000" { "1111" } else { "0000" };
    for _ in 0..3 {
        app.verify(&phone, wrong)
            .await
            .assert_problem(401, "invalid_code");
    }
    let locked = app.verify(&phone, &code).await;
    locked.assert_problem(429, "phone_locked");
    let retry: i64 = locked.header("retry-after").unwrap().parse().unwrap();
    assert!((86_390..=86_400).contains(&retry), "{retry}");
    app.send_code(&phone)
        .await
        .assert_problem(429, "phone_locked");
    app.state.clock.advance(Duration::from_secs(86_400));
    let fresh = app.code_for(&phone).await;
    assert_eq!(app.verify(&phone, &fresh).await.status, 201);
}

#[tokio::test]
async fn six_digit_codes_can_be_configured() {
    let app = app_with(&[("OTP_DIGITS", "6")]).await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    assert_eq!(code.len(), 6);
    app.verify(&phone, &code[..4])
        .await
        .assert_problem(400, "invalid_code_format");
    assert_eq!(app.verify(&phone, &code).await.status, 201);
}
