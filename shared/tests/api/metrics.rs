//! The business metrics each request writes, as CloudWatch would read them: every line parsed
//! and checked against the Embedded Metric Format specification.
use shared::metrics::{self, capture};

use crate::helpers::{TestApp, app, app_with, random_ip, random_phone};

/// The metrics the request `call` wrote: (name, [(dimension, value)] besides `function`).
async fn counted<F, Fut, T>(call: F) -> (T, Vec<(String, Vec<(String, String)>)>)
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = T>,
{
    capture::start();
    let out = call().await;
    let mut seen = Vec::new();
    for line in capture::take() {
        for (namespace, name, dims, value) in metrics::parse(&line).unwrap() {
            assert_eq!(
                (namespace.as_str(), value),
                (metrics::NAMESPACE, 1.0),
                "{line}"
            );
            assert_eq!(
                dims[0],
                ("function".to_owned(), "local".to_owned()),
                "{line}"
            );
            seen.push((name, dims[1..].to_vec()));
        }
    }
    (out, seen)
}

fn metric(name: &str, dims: &[(&str, &str)]) -> (String, Vec<(String, String)>) {
    let dims = dims
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    (name.to_owned(), dims)
}

async fn login(app: &TestApp, phone: &str) -> String {
    let code = app.code_for(phone).await;
    let resp = app.verify(phone, &code).await;
    resp.body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn codes_sent_wrong_codes_and_new_and_returning_logins_are_counted_once_each() {
    let app = app_with(&[("OTP_RESEND_SECONDS", "0")]).await;
    let phone = random_phone();
    let (code, seen) = counted(|| app.code_for(&phone)).await;
    assert_eq!(seen, [metric("CodesSent", &[])]);

    let wrong = if code == "0000" { "1111" } else { "0000" };
    let (resp, seen) = counted(|| app.verify(&phone, wrong)).await;
    resp.assert_problem(401, "invalid_code");
    assert_eq!(seen, [metric("Problems", &[("code", "invalid_code")])]);

    let (resp, seen) = counted(|| app.verify(&phone, &code)).await;
    assert_eq!(resp.status, 201);
    assert_eq!(seen, [metric("Logins", &[("outcome", "new")])]);

    let code = app.code_for(&phone).await;
    let (resp, seen) = counted(|| app.verify(&phone, &code)).await;
    assert_eq!(resp.status, 200);
    assert_eq!(seen, [metric("Logins", &[("outcome", "returning")])]);
}

#[tokio::test]
async fn activations_and_refused_activations_are_counted_by_reason() {
    let app = app().await;
    let token_a = login(&app, &random_phone()).await;
    let token_b = login(&app, &random_phone()).await;
    let code_a = app.profile(&token_a).await.body["invite_code"]
        .as_str()
        .unwrap()
        .to_owned();
    let code_b = app.profile(&token_b).await.body["invite_code"]
        .as_str()
        .unwrap()
        .to_owned();

    let (resp, seen) = counted(|| app.activate(&token_a, &code_a)).await;
    resp.assert_problem(422, "own_invite_code");
    assert_eq!(seen, [metric("Problems", &[("code", "own_invite_code")])]);

    let (resp, seen) = counted(|| app.activate(&token_b, &code_a)).await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert_eq!(seen, [metric("Activations", &[])]);

    let (resp, seen) = counted(|| app.activate(&token_a, &code_b)).await;
    resp.assert_problem(422, "mutual_referral");
    assert_eq!(seen, [metric("Problems", &[("code", "mutual_referral")])]);
}

#[tokio::test]
async fn rate_limit_refusals_are_counted_by_their_code() {
    let app = app().await;
    let phone = random_phone();
    app.code_for(&phone).await;
    let (resp, seen) = counted(|| app.send_code(&phone)).await;
    resp.assert_problem(429, "resend_too_soon");
    assert_eq!(seen, [metric("Problems", &[("code", "resend_too_soon")])]);
}

#[tokio::test]
async fn the_sms_budget_alarm_metric_and_the_per_client_limits_are_written_by_send_code() {
    let app = app_with(&[
        ("SMS_BUDGET_PER_HOUR", "2"),
        ("SMS_BUDGET_RETURNING_PERCENT", "0"),
        ("IP_MAX_SENDS_PER_HOUR", "1"),
    ])
    .await;
    app.start_own_hour();
    let ip = random_ip();
    assert_eq!(app.send_code_from(&ip, &random_phone()).await.status, 200);
    let phone = random_phone();
    let (resp, seen) = counted(|| app.send_code_from(&ip, &phone)).await;
    resp.assert_problem(429, "client_send_limit");
    assert_eq!(seen, [metric("Problems", &[("code", "client_send_limit")])]);
    assert_eq!(
        app.send_code_from(&random_ip(), &random_phone())
            .await
            .status,
        200
    );
    let (other_ip, other_phone) = (random_ip(), random_phone());
    let (resp, seen) = counted(|| app.send_code_from(&other_ip, &other_phone)).await;
    resp.assert_problem(503, "sms_budget_exhausted");
    assert_eq!(
        seen,
        [metric("Problems", &[("code", "sms_budget_exhausted")])]
    );
}

#[tokio::test]
async fn lockouts_are_counted_as_the_phone_locked_refusals() {
    let app = app_with(&[("OTP_MAX_FAILURES_PER_DAY", "1")]).await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    let wrong = if code == "0000" { "1111" } else { "0000" };
    app.verify(&phone, wrong).await;
    let (resp, seen) = counted(|| app.verify(&phone, &code)).await;
    resp.assert_problem(429, "phone_locked");
    assert_eq!(seen, [metric("Problems", &[("code", "phone_locked")])]);
}

#[tokio::test]
async fn reads_and_unmatched_paths_count_only_their_problems() {
    let app = app().await;
    let token = login(&app, &random_phone()).await;
    let (resp, seen) = counted(|| app.profile(&token)).await;
    assert_eq!(resp.status, 200);
    assert!(
        seen.is_empty(),
        "a profile read is no business event: {seen:?}"
    );
    let (resp, seen) = counted(|| app.call("GET", "/wp-login.php", None, None)).await;
    resp.assert_problem(404, "not_found");
    assert_eq!(seen, [metric("Problems", &[("code", "not_found")])]);
}
