//! Probes are not free and tell nothing: a verify-code for a phone with no live code counts as a
//! wrong code against the client, and answers exactly as a wrong code does, so nobody but the
//! client that asked for a code learns whether a login is in progress.
use std::time::Duration;

use futures::future::join_all;

use crate::helpers::{Resp, TestApp, app_with, random_ip, random_phone};

/// A code of the same length that is certainly not `code`.
fn wrong_code(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect()
}

async fn send_from(app: &TestApp, ip: &str, phone: &str) -> String {
    let sent = app.send_code_from(ip, phone).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    sent.body["code"].as_str().unwrap().to_owned()
}

/// What an answer is apart from its request id (these answers carry none): status, headers and
/// body bytes.
fn wire(resp: &Resp) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut headers: Vec<(String, String)> = resp
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    headers.sort();
    (resp.status, headers, resp.bytes.clone())
}

#[tokio::test]
async fn a_probe_answers_byte_for_byte_as_a_wrong_code_whether_wrong_expired_used_or_never_sent() {
    let app = &app_with(&[("IP_MAX_FAILURES_PER_HOUR", "20")]).await;
    app.start_own_hour();
    // The four answers must fall in one second (their `RateLimit` counts down to the hour's
    // end); a run that straddles a second starts again on fresh phones.
    for _ in 0..5 {
        let owner = random_ip();
        let (expired, used, pending, never) = (
            random_phone(),
            random_phone(),
            random_phone(),
            random_phone(),
        );
        let expired_code = send_from(app, &owner, &expired).await;
        app.state.clock.advance(Duration::from_secs(300));
        let used_code = send_from(app, &owner, &used).await;
        assert_eq!(app.verify_from(&owner, &used, &used_code).await.status, 201);
        let pending_code = send_from(app, &owner, &pending).await;
        let before = app.state.clock.now_s();
        // Each from an address of its own, its first try this hour.
        let answers = join_all(
            [
                (expired.clone(), expired_code),
                (used.clone(), used_code),
                (pending.clone(), wrong_code(&pending_code)),
                (never.clone(), "1234".to_owned()),
            ]
            .iter()
            .map(|(phone, code)| async move { app.verify_from(&random_ip(), phone, code).await }),
        )
        .await;
        if app.state.clock.now_s() != before {
            continue;
        }
        for resp in &answers {
            resp.assert_problem(401, "invalid_code");
            assert!(resp.body.get("attempts_left").is_none(), "{resp:#?}");
        }
        let first = wire(&answers[0]);
        for (resp, case) in answers
            .iter()
            .zip(["expired", "used", "wrong", "never sent"])
        {
            assert_eq!(wire(resp), first, "{case}: {resp:#?}");
        }
        // Each counted as a wrong code against its client.
        assert!(
            answers[0]
                .header("ratelimit")
                .unwrap()
                .starts_with("\"failures\";r=19;"),
            "{:#?}",
            answers[0]
        );
        // The owner's pending code took the stranger's wrong try, and still logs in.
        let owner_try = app
            .verify_from(&owner, &pending, &wrong_code(&pending_code))
            .await;
        owner_try.assert_problem(401, "invalid_code");
        assert_eq!(owner_try.body["attempts_left"], 3, "{owner_try:#?}");
        assert_eq!(
            app.verify_from(&owner, &pending, &pending_code)
                .await
                .status,
            201
        );
        return;
    }
    panic!("five runs each straddled a second");
}

#[tokio::test]
async fn probes_count_as_wrong_codes_until_the_client_is_refused_even_the_right_code() {
    let app = app_with(&[("IP_MAX_FAILURES_PER_HOUR", "3")]).await;
    app.start_own_hour();
    let prober = random_ip();
    for left in (0..3).rev() {
        let resp = app.verify_from(&prober, &random_phone(), "1234").await;
        resp.assert_problem(401, "invalid_code");
        assert_eq!(
            resp.header("ratelimit").unwrap().split(';').nth(1),
            Some(format!("r={left}").as_str())
        );
    }
    app.verify_from(&prober, &random_phone(), "1234")
        .await
        .assert_problem(429, "client_failure_limit");
    // A live code, right, from the prober: not judged either.
    let owner = random_ip();
    let phone = random_phone();
    let code = send_from(&app, &owner, &phone).await;
    app.verify_from(&prober, &phone, &code)
        .await
        .assert_problem(429, "client_failure_limit");
    assert_eq!(app.verify_from(&owner, &phone, &code).await.status, 201);
}

#[tokio::test]
async fn only_the_client_that_asked_for_the_code_hears_the_tries_left_or_that_it_is_burned() {
    let app = app_with(&[("OTP_MAX_ATTEMPTS", "3")]).await;
    let (owner, stranger) = (random_ip(), random_ip());
    let phone = random_phone();
    let code = send_from(&app, &owner, &phone).await;
    let wrong = wrong_code(&code);
    let mine = app.verify_from(&owner, &phone, &wrong).await;
    mine.assert_problem(401, "invalid_code");
    assert_eq!(mine.body["attempts_left"], 2);
    let theirs = app.verify_from(&stranger, &phone, &wrong).await;
    theirs.assert_problem(401, "invalid_code");
    assert!(theirs.body.get("attempts_left").is_none(), "{theirs:#?}");
    // The stranger's try used one of the code's tries; the owner's next one burns it.
    app.verify_from(&owner, &phone, &wrong)
        .await
        .assert_problem(429, "too_many_attempts");
    // To the stranger a burned code is no code: the same answer as before.
    let after = app.verify_from(&stranger, &phone, &code).await;
    after.assert_problem(401, "invalid_code");
    assert!(after.body.get("attempts_left").is_none(), "{after:#?}");
    app.verify_from(&owner, &phone, &code)
        .await
        .assert_problem(429, "too_many_attempts");
}
