//! The SMS budget that an attack cannot spend for real users: the hour's and the day's budget are
//! each split between phones that already have an account and new numbers, so pumping codes to
//! new numbers spends only their share, and people who log in again still get codes.

use shared::usecases::login::find_or_create_user;

use crate::helpers::{Calls, Resp, TestApp, app_intercepted, app_with, parsed, random_phone};

/// An address of a /24 of its own for each `i`, so no address or range limit is what refuses.
fn address(i: usize) -> String {
    format!(
        "198.{}.{}.{}",
        18 + (i / 256) % 2,
        i % 256,
        1 + rand::random_range(0..250)
    )
}

/// Phones with an account already (made without a code, so no budget is spent on them).
async fn returning_phones(app: &TestApp, n: usize) -> Vec<String> {
    let mut phones = Vec::new();
    for _ in 0..n {
        let phone = random_phone();
        let (_, created) = find_or_create_user(&app.state, &parsed(&phone))
            .await
            .unwrap();
        assert!(created);
        phones.push(phone);
    }
    phones
}

async fn send(app: &TestApp, i: usize, phone: &str) -> Resp {
    app.send_code_from(&address(i), phone).await
}

#[track_caller]
fn assert_spent(resp: &Resp, max_wait: std::ops::RangeInclusive<i64>) {
    resp.assert_problem(503, "sms_budget_exhausted");
    let wait: i64 = resp.header("retry-after").unwrap().parse().unwrap();
    assert!(max_wait.contains(&wait), "Retry-After {wait}: {resp:#?}");
}

/// What is left of the hour that began a minute ago (`start_own_hour`).
const REST_OF_THE_HOUR: std::ops::RangeInclusive<i64> = 3_500..=3_540;

#[tokio::test]
async fn with_a_small_budget_new_numbers_from_many_addresses_spend_their_share_and_a_returning_user_still_logs_in()
 {
    // Six codes an hour: three kept for returning phones, three for new numbers.
    let app = app_with(&[("SMS_BUDGET_PER_HOUR", "6")]).await;
    let returning = returning_phones(&app, 4).await;
    app.start_own_hour();
    // A pumping run: new numbers, each from an address (and a range) of its own.
    let mut answers = Vec::new();
    for i in 0..10 {
        answers.push(send(&app, i, &random_phone()).await);
    }
    assert!(answers[..3].iter().all(|r| r.status == 200), "{answers:#?}");
    for refused in &answers[3..] {
        assert_spent(refused, REST_OF_THE_HOUR);
    }
    // A returning user still receives a code and logs in with it.
    let ip = address(100);
    let sent = app.send_code_from(&ip, &returning[0]).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    let code = sent.body["code"].as_str().unwrap();
    let login = app.verify_from(&ip, &returning[0], code).await;
    assert_eq!(login.status, 200, "{login:#?}");
    assert_eq!(login.body["new_user"], false);
    // Two more returning users fit their share; the fourth would need the new numbers', spent.
    for (i, phone) in returning[1..3].iter().enumerate() {
        assert_eq!(send(&app, 101 + i, phone).await.status, 200);
    }
    assert_spent(&send(&app, 110, &returning[3]).await, REST_OF_THE_HOUR);
    // And still no new number gets through.
    assert_spent(&send(&app, 111, &random_phone()).await, REST_OF_THE_HOUR);
}

#[tokio::test]
async fn returning_phones_past_their_share_spend_what_new_numbers_left_and_no_more() {
    let app = app_with(&[("SMS_BUDGET_PER_HOUR", "4")]).await;
    let returning = returning_phones(&app, 3).await;
    app.start_own_hour();
    // Two returning phones fill their share; the third takes one of the new numbers' two.
    for (i, phone) in returning.iter().enumerate() {
        let r = send(&app, i, phone).await;
        assert_eq!(r.status, 200, "{i}: {r:#?}");
    }
    assert_eq!(send(&app, 10, &random_phone()).await.status, 200);
    assert_spent(&send(&app, 11, &random_phone()).await, REST_OF_THE_HOUR);
}

#[tokio::test]
async fn the_daily_budget_holds_across_the_hours_of_a_day_and_answers_until_the_day_ends() {
    let app = app_with(&[
        ("SMS_BUDGET_PER_HOUR", "3"),
        ("SMS_BUDGET_PER_DAY", "4"),
        ("SMS_BUDGET_RETURNING_PERCENT", "0"),
    ])
    .await;
    app.start_own_hour();
    for i in 0..3 {
        assert_eq!(send(&app, i, &random_phone()).await.status, 200);
    }
    // The hour's budget refuses first, until the hour ends.
    assert_spent(&send(&app, 3, &random_phone()).await, REST_OF_THE_HOUR);
    app.state
        .clock
        .advance(std::time::Duration::from_secs(3_600));
    assert_eq!(send(&app, 4, &random_phone()).await.status, 200);
    // The day's four are spent: now the wait is until midnight UTC, 22 hours away.
    let day_left = 86_400 - 2 * 3_600 - 60;
    assert_spent(
        &send(&app, 5, &random_phone()).await,
        day_left - 40..=day_left,
    );
}

#[tokio::test]
async fn the_daily_budget_is_split_between_returning_phones_and_new_numbers_like_the_hourly_one() {
    let app = app_with(&[("SMS_BUDGET_PER_HOUR", "100"), ("SMS_BUDGET_PER_DAY", "4")]).await;
    let returning = returning_phones(&app, 3).await;
    app.start_own_hour();
    let day_left = 86_400 - 3_600 - 60;
    let rest_of_the_day = day_left - 40..=day_left;
    for i in 0..2 {
        assert_eq!(send(&app, i, &random_phone()).await.status, 200);
    }
    assert_spent(
        &send(&app, 2, &random_phone()).await,
        rest_of_the_day.clone(),
    );
    // The new numbers spent their half of the day; the returning phones keep theirs.
    for (i, phone) in returning[..2].iter().enumerate() {
        assert_eq!(send(&app, 10 + i, phone).await.status, 200);
    }
    assert_spent(&send(&app, 12, &returning[2]).await, rest_of_the_day);
}

#[tokio::test]
async fn a_send_learns_whether_the_phone_has_an_account_in_the_read_it_already_made() {
    let calls = Calls::default();
    let app = app_intercepted(&[], calls.clone()).await;
    let [phone] = <[String; 1]>::try_from(returning_phones(&app, 1).await).unwrap();
    for phone in [phone, random_phone()] {
        calls.0.lock().unwrap().clear();
        let sent = app.send_code_from(&address(1), &phone).await;
        assert_eq!(sent.status, 200, "{sent:#?}");
        let made = calls.0.lock().unwrap().clone();
        // One batch read (the phone's record, its claim and the counters written next), then
        // the address's and range's counters, one shard of each budget level and the record,
        // written in one call.
        assert_eq!(made, ["BatchGetItem", "BatchExecuteStatement"], "{phone}");
    }
}
