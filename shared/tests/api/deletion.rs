//! `DELETE /v1/profile`: what deleting an account removes and keeps, the recent-login rule, the
//! races with activations and with a second deletion, and an interrupted deletion finished by its
//! retry.
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::types::AttributeValue;
use aws_smithy_runtime_api::box_error::BoxError;
use futures::future::join_all;
use serde_json::Value;
use shared::metrics::{self, capture};
use shared::state::dynamodb_client;

use crate::helpers::{
    TestApp, app, app_intercepted, app_with, calls_with, logged_at_trace, operation_of, parsed,
    random_phone,
};

type Item = HashMap<String, AttributeValue>;

async fn delete(app: &TestApp, token: &str) -> crate::helpers::Resp {
    app.call("DELETE", "/v1/profile", Some(token), None).await
}

/// An item as it stands, read through a client of its own, strongly consistent.
async fn item(app: &TestApp, table: &str, key: &str) -> Option<Item> {
    let tables = &app.state.config.tables;
    let attribute = if table == tables.users {
        "id"
    } else if table == tables.otp {
        "phone"
    } else {
        "key"
    };
    dynamodb_client(std::env::var("DYNAMODB_ENDPOINT").ok().as_deref())
        .get_item()
        .table_name(table)
        .key(attribute, AttributeValue::S(key.to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn unique(app: &TestApp, key: &str) -> Option<Item> {
    item(app, &app.state.config.tables.uniques.clone(), key).await
}

fn text<'a>(item: &'a Item, attribute: &str) -> Option<&'a str> {
    item.get(attribute)
        .and_then(|v| v.as_s().ok())
        .map(String::as_str)
}

/// The 16 shards of `user`'s referral count as they stand.
async fn count_shards(app: &TestApp, user: &str) -> Vec<Option<Item>> {
    join_all(
        (0..16).map(|shard| async move { unique(app, &format!("referrals#{user}#{shard}")).await }),
    )
    .await
}

fn pair_key(a: &str, b: &str) -> String {
    let (low, high) = if a <= b { (a, b) } else { (b, a) };
    format!("pair#{low}#{high}")
}

/// Every phone on `token`'s referral list.
async fn referral_phones(app: &TestApp, token: &str) -> Vec<String> {
    let page = app
        .call("GET", "/v1/profile/referrals?limit=100", Some(token), None)
        .await;
    assert_eq!(page.status, 200, "{page:#?}");
    page.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["phone"].as_str().unwrap().to_owned())
        .collect()
}

fn id_and_code(profile: &Value) -> (String, String) {
    (
        profile["id"].as_str().unwrap().to_owned(),
        profile["invite_code"].as_str().unwrap().to_owned(),
    )
}

#[tokio::test]
async fn a_deleted_account_is_gone_its_phone_registers_anew_and_its_code_answers_as_unknown() {
    let app = app_with(&[("OTP_RESEND_SECONDS", "0")]).await;
    let (_, referrer_token, referrer) = app.new_user().await;
    let (phone, token, me) = app.new_user().await;
    let (my_id, my_code) = id_and_code(&me);
    let (_, referrer_code) = id_and_code(&referrer);
    assert_eq!(app.activate(&token, &referrer_code).await.status, 200);
    let (_, referred_token, _) = app.new_user().await;
    assert_eq!(app.activate(&referred_token, &my_code).await.status, 200);
    assert_eq!(
        app.profile(&referrer_token).await.body["referrals_count"],
        1
    );
    // A code asked for and not used: the deletion withdraws it.
    let pending = app.code_for(&phone).await;

    let deleted = delete(&app, &token).await;
    assert_eq!(deleted.status, 204, "{deleted:#?}");
    assert!(deleted.bytes.is_empty());

    // Every token of mine is refused.
    app.profile(&token)
        .await
        .assert_problem(401, "invalid_token");
    app.call("POST", "/v1/auth/logout", Some(&token), None)
        .await
        .assert_problem(401, "invalid_token");
    // The referrer's count and list no longer hold me.
    let theirs = app.profile(&referrer_token).await;
    assert_eq!(theirs.body["referrals_count"], 0, "{theirs:#?}");
    assert!(referral_phones(&app, &referrer_token).await.is_empty());
    // The one I referred keeps their account and the code they activated.
    let referred = app.profile(&referred_token).await;
    assert_eq!(referred.status, 200);
    assert_eq!(referred.body["activated_invite_code"], my_code.as_str());
    // My code answers as a code nobody ever held, byte for byte.
    let (_, stranger, _) = app.new_user().await;
    let retired = app.activate(&stranger, &my_code).await;
    retired.assert_problem(404, "invite_code_not_found");
    let never_issued = app.activate(&stranger, "ZZ99ZZ").await;
    assert_eq!(retired.bytes, never_issued.bytes);
    // ... and stays claimed, by nobody: never given to anyone again.
    let claim = unique(&app, &format!("invite#{my_code}")).await.unwrap();
    assert_eq!(text(&claim, "user_id"), None);
    assert!(claim.contains_key("retired_at"));
    // The pending code no longer logs in.
    app.verify(&phone, &pending)
        .await
        .assert_problem(401, "invalid_code");
    // The number registers again as a new user.
    let code = app.code_for(&phone).await;
    let again = app.verify(&phone, &code).await;
    assert_eq!(again.status, 201, "{again:#?}");
    let (new_id, new_code) = id_and_code(&again.body["profile"]);
    assert_ne!(new_id, my_id);
    assert_ne!(new_code, my_code);
    assert_eq!(again.body["profile"]["activated_invite_code"], Value::Null);
    assert!(
        item(&app, &app.state.config.tables.users.clone(), &my_id)
            .await
            .is_none()
    );
}

#[tokio::test]
async fn a_token_older_than_the_limit_gets_reauthentication_required_and_nothing_is_deleted() {
    let app = app().await;
    let (phone, token, me) = app.new_user().await;
    app.state.clock.advance(std::time::Duration::from_secs(301));
    let refused = delete(&app, &token).await;
    refused.assert_problem(401, "reauthentication_required");
    assert!(refused.header("www-authenticate").is_some());
    let profile = app.profile(&token).await;
    assert_eq!(profile.status, 200);
    assert_eq!(profile.body["id"], me["id"]);
    // A fresh login deletes.
    let code = app.code_for(&phone).await;
    let fresh = app.verify(&phone, &code).await;
    let fresh = fresh.body["access_token"].as_str().unwrap();
    assert_eq!(delete(&app, fresh).await.status, 204);
}

#[tokio::test]
async fn the_age_limit_is_a_setting_and_a_token_at_it_still_deletes() {
    let app = app_with(&[("DELETE_MAX_TOKEN_AGE_SECONDS", "30")]).await;
    let (_, token, _) = app.new_user().await;
    app.state.clock.advance(std::time::Duration::from_secs(30));
    assert_eq!(delete(&app, &token).await.status, 204);
    let (_, token, _) = app.new_user().await;
    app.state.clock.advance(std::time::Duration::from_secs(31));
    delete(&app, &token)
        .await
        .assert_problem(401, "reauthentication_required");
}

#[test]
fn a_deletion_logs_one_line_with_the_user_id_and_no_phone_and_counts_accounts_deleted() {
    let ((phone, id, seen), logs) = logged_at_trace(async {
        let app = app().await;
        let (phone, token, me) = app.new_user().await;
        capture::start();
        assert_eq!(delete(&app, &token).await.status, 204);
        let seen: Vec<String> = capture::take()
            .iter()
            .flat_map(|line| metrics::parse(line).unwrap())
            .map(|(_, name, _, _)| name)
            .collect();
        (phone, me["id"].as_str().unwrap().to_owned(), seen)
    });
    assert_eq!(seen, [metrics::ACCOUNTS_DELETED]);
    let lines: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("account deleted"))
        .collect();
    assert_eq!(lines.len(), 1, "{logs}");
    assert!(lines[0].contains(&id), "{logs}");
    assert!(
        !logs.contains(&phone) && !logs.contains(&phone[1..]),
        "{logs}"
    );
}

#[tokio::test]
async fn per_phone_limits_survive_a_deletion_and_hold_the_numbers_next_account() {
    let app = app_with(&[
        ("OTP_RESEND_SECONDS", "0"),
        ("OTP_PHONE_MAX_SENDS_PER_HOUR", "2"),
        ("OTP_PHONE_MAX_FAILURES_PER_DAY", "2"),
    ])
    .await;
    // Each request from an address of its own: the phone's limits, not a client's.
    let ip = |i: u32| format!("203.0.{}.{}", 100 + i / 250, 1 + i % 250);
    let log_in = |phone: String, from: u32| {
        let app = &app;
        async move {
            let sent = app.send_code_from(&ip(from), &phone).await;
            assert_eq!(sent.status, 200, "{sent:#?}");
            let code = sent.body["code"].as_str().unwrap().to_owned();
            let login = app.verify_from(&ip(from), &phone, &code).await;
            assert_eq!(login.status, 201, "{login:#?}");
            login.body["access_token"].as_str().unwrap().to_owned()
        }
    };

    // The hour's sends: one to log in, one pending; after the deletion the number is still spent.
    let phone = random_phone();
    let token = log_in(phone.clone(), 1).await;
    assert_eq!(app.send_code_from(&ip(2), &phone).await.status, 200);
    assert_eq!(delete(&app, &token).await.status, 204);
    app.send_code_from(&ip(3), &phone)
        .await
        .assert_problem(429, "too_many_codes");
    let otp = item(
        &app,
        &app.state.config.tables.otp.clone(),
        parsed(&phone).as_str(),
    )
    .await
    .unwrap();
    assert!(otp.contains_key("sends"), "{otp:?}");
    assert!(
        !otp.contains_key("code_hash"),
        "the pending code was withdrawn: {otp:?}"
    );

    // The day's wrong codes: two against the pending code lock the number, and the deletion does
    // not unlock it.
    let phone = random_phone();
    let token = log_in(phone.clone(), 10).await;
    let pending = app.send_code_from(&ip(11), &phone).await;
    let code = pending.body["code"].as_str().unwrap();
    let wrong = if code == "0000" { "1111" } else { "0000" };
    for from in [12, 13] {
        let resp = app.verify_from(&ip(from), &phone, wrong).await;
        assert_eq!(resp.status, 401, "{resp:#?}");
    }
    assert_eq!(delete(&app, &token).await.status, 204);
    app.send_code_from(&ip(14), &phone)
        .await
        .assert_problem(429, "phone_locked");
    let otp = item(
        &app,
        &app.state.config.tables.otp.clone(),
        parsed(&phone).as_str(),
    )
    .await
    .unwrap();
    assert!(otp.contains_key("failures"), "{otp:?}");
}

/// Fails the next call of one operation, once: before it is sent (nothing lands) or after its
/// answer came (it landed, and the answer is lost).
#[derive(Debug, Clone)]
struct FailOnce {
    operation: &'static str,
    after_landing: bool,
    armed: Arc<AtomicBool>,
    /// The armed call went out (after_landing): its answer is the one to lose.
    sent: Arc<AtomicBool>,
    failed: Arc<Mutex<usize>>,
}

impl FailOnce {
    fn new(operation: &'static str, after_landing: bool) -> Self {
        Self {
            operation,
            after_landing,
            armed: Arc::default(),
            sent: Arc::default(),
            failed: Arc::default(),
        }
    }

    fn arm(&self) {
        self.armed.store(true, Ordering::SeqCst);
    }

    fn failed(&self) -> usize {
        *self.failed.lock().unwrap()
    }

    fn fail(&self) -> Result<(), BoxError> {
        *self.failed.lock().unwrap() += 1;
        Err("the test's interceptor failed this call".into())
    }
}

impl Intercept for FailOnce {
    fn name(&self) -> &'static str {
        "fail-once"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let ours = operation_of(context.request()) == self.operation;
        if !ours || !self.armed.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        if self.after_landing {
            self.sent.store(true, Ordering::SeqCst);
            return Ok(());
        }
        self.fail()
    }

    fn read_before_deserialization(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let _ = cfg;
        if !self.sent.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        assert_eq!(
            context.response().status().as_u16(),
            200,
            "the call had landed"
        );
        self.fail()
    }
}

#[tokio::test]
async fn a_deletion_failed_before_its_transaction_answers_503_changes_nothing_and_the_retry_deletes()
 {
    let fail = FailOnce::new("TransactWriteItems", false);
    let app = app_intercepted(&[], fail.clone()).await;
    let (_, token, _) = app.new_user().await;
    fail.arm();
    let failed = delete(&app, &token).await;
    failed.assert_problem(503, "service_unavailable");
    assert_eq!(failed.header("retry-after"), Some("1"));
    assert_eq!(fail.failed(), 1);
    assert_eq!(app.profile(&token).await.status, 200, "nothing was deleted");
    assert_eq!(delete(&app, &token).await.status, 204);
    app.profile(&token)
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn a_deletion_whose_answer_was_lost_after_it_landed_is_answered_204_on_the_retry() {
    let fail = FailOnce::new("TransactWriteItems", true);
    let app = app_intercepted(&[("OTP_RESEND_SECONDS", "0")], fail.clone()).await;
    let (phone, token, _) = app.new_user().await;
    // Another token of mine, issued a second later.
    app.state.clock.advance(std::time::Duration::from_secs(1));
    let code = app.code_for(&phone).await;
    let other = app.verify(&phone, &code).await;
    let other = other.body["access_token"].as_str().unwrap().to_owned();
    assert_ne!(other, token);

    fail.arm();
    let failed = delete(&app, &token).await;
    failed.assert_problem(503, "service_unavailable");
    assert!(failed.header("retry-after").is_some());
    assert_eq!(fail.failed(), 1);
    // It had landed: the account is gone at once, whole.
    app.profile(&token)
        .await
        .assert_problem(401, "invalid_token");
    // The same request again finishes it; any other token of mine finds no account.
    assert_eq!(delete(&app, &token).await.status, 204);
    delete(&app, &other)
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test]
async fn two_deletions_in_parallel_give_one_204_and_one_401() {
    let app = app_with(&[("OTP_RESEND_SECONDS", "0")]).await;
    for _ in 0..5 {
        let (phone, first, _) = app.new_user().await;
        app.state.clock.advance(std::time::Duration::from_secs(1));
        let code = app.code_for(&phone).await;
        let second = app.verify(&phone, &code).await;
        let second = second.body["access_token"].as_str().unwrap().to_owned();
        let (a, b) = tokio::join!(delete(&app, &first), delete(&app, &second));
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert_eq!(statuses, [204, 401], "{a:#?} {b:#?}");
        let refused = if a.status == 401 { a } else { b };
        refused.assert_problem(401, "invalid_token");
    }
}

#[tokio::test]
async fn the_same_deletion_sent_twice_at_once_is_one_request_answered_204_twice() {
    let app = app().await;
    let (_, token, _) = app.new_user().await;
    let (a, b) = tokio::join!(delete(&app, &token), delete(&app, &token));
    assert_eq!((a.status, b.status), (204, 204), "{a:#?} {b:#?}");
    app.profile(&token)
        .await
        .assert_problem(401, "invalid_token");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn activations_of_a_code_racing_its_owners_deletion_land_before_it_or_are_refused_leaving_no_orphan()
 {
    let app = app().await;
    let app = &app;
    for _ in 0..3 {
        let (_, owner_token, owner) = app.new_user().await;
        let (owner_id, owner_code) = id_and_code(&owner);
        let mut activators = Vec::new();
        for _ in 0..12 {
            let (_, token, profile) = app.new_user().await;
            activators.push((token, id_and_code(&profile).0));
        }
        let owner_code = &owner_code;
        let activations = join_all(
            activators
                .iter()
                .map(|(token, _)| async move { app.activate(token, owner_code).await }),
        );
        let (answers, deleted) = tokio::join!(activations, delete(app, &owner_token));
        assert_eq!(deleted.status, 204, "{deleted:#?}");
        for ((token, id), answer) in activators.iter().zip(&answers) {
            let profile = app.profile(token).await;
            let pair = unique(app, &pair_key(id, &owner_id)).await;
            match answer.status {
                // Landed before: the activator keeps it, and the pair's claim with it.
                200 => {
                    assert_eq!(profile.body["activated_invite_code"], owner_code.as_str());
                    assert!(pair.is_some());
                }
                _ => {
                    answer.assert_problem(404, "invite_code_not_found");
                    assert_eq!(profile.body["activated_invite_code"], Value::Null);
                    assert!(pair.is_none(), "a refused activation left its pair claim");
                }
            }
        }
        // Nothing was counted on the deleted owner: every shard is closed and holds no count.
        for shard in count_shards(app, &owner_id).await {
            let shard = shard.expect("every shard is closed");
            assert!(shard.contains_key("closed"));
            assert!(
                !shard.contains_key("count"),
                "counted after the deletion: {shard:?}"
            );
        }
        let landed = answers.iter().filter(|a| a.status == 200).count();
        eprintln!("{landed} of 12 activations landed before the deletion");
        // A refused activator may still activate another code.
        let (_, _, other) = app.new_user().await;
        let refused = answers.iter().position(|a| a.status != 200);
        if let Some(i) = refused {
            let resp = app.activate(&activators[i].0, &id_and_code(&other).1).await;
            assert_eq!(resp.status, 200, "{resp:#?}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_users_own_activation_racing_their_deletion_leaves_the_referrer_exactly_as_before() {
    let app = app().await;
    let app = &app;
    let (_, referrer_token, referrer) = app.new_user().await;
    let (referrer_id, referrer_code) = id_and_code(&referrer);
    let mut landed = 0;
    for _ in 0..12 {
        let (_, token, me) = app.new_user().await;
        let my_id = id_and_code(&me).0;
        let (activated, deleted) =
            tokio::join!(app.activate(&token, &referrer_code), delete(app, &token));
        assert_eq!(deleted.status, 204, "{deleted:#?}");
        match activated.status {
            200 => landed += 1,
            _ => activated.assert_problem(401, "invalid_token"),
        }
        // Landed or not, the deletion took it with it: no pair claim, no count, no list entry.
        assert!(unique(app, &pair_key(&my_id, &referrer_id)).await.is_none());
        let profile = app.profile(&referrer_token).await;
        assert_eq!(profile.body["referrals_count"], 0, "{profile:#?}");
        assert!(referral_phones(app, &referrer_token).await.is_empty());
    }
    // The shards sum to 0 whichever way each race went.
    let sum: i64 = count_shards(app, &referrer_id)
        .await
        .iter()
        .flatten()
        .filter_map(|s| {
            s.get("count")
                .and_then(|c| c.as_n().ok())
                .map(|n| n.parse::<i64>().unwrap())
        })
        .sum();
    assert_eq!(sum, 0);
    eprintln!("{landed} of 12 activations landed before their deletion");
}

#[tokio::test]
async fn an_activation_that_read_the_code_before_its_owner_was_deleted_is_refused_and_counts_nothing()
 {
    use shared::domain::{ActivationRefused, InviteCode, Referrer, UserId};
    use shared::store::ActivateError;
    let app = app().await;
    let (_, owner_token, owner) = app.new_user().await;
    let (owner_id, owner_code) = id_and_code(&owner);
    let (_, my_token, me) = app.new_user().await;
    let my_id = UserId::from_trusted(id_and_code(&me).0);
    // The activation's first read, as the use case makes it: the code's claim names its owner.
    let code = InviteCode::parse(&owner_code).unwrap();
    let (user, holder) = app
        .state
        .store
        .user_and_invite_owner(&my_id, &code)
        .await
        .unwrap();
    let user = user.unwrap();
    let holder = Referrer {
        id: holder.unwrap(),
        invite_code: code.clone(),
        referred_by: None,
    };
    let activation = user
        .activate(&code, Some(&holder), app.state.clock.now_ms())
        .unwrap();
    // The owner leaves before the activation's transaction goes out.
    assert_eq!(delete(&app, &owner_token).await.status, 204);
    let refused = app.state.store.activate(&user, &activation).await;
    assert!(
        matches!(
            refused,
            Err(ActivateError::Refused(ActivationRefused::NotFound))
        ),
        "{refused:?}"
    );
    // Nothing of it was written: no activation of mine, no pair claim, no count.
    let profile = app.profile(&my_token).await;
    assert_eq!(profile.body["activated_invite_code"], Value::Null);
    assert!(
        unique(&app, &pair_key(my_id.as_str(), &owner_id))
            .await
            .is_none()
    );
    for shard in count_shards(&app, &owner_id).await {
        assert!(!shard.unwrap().contains_key("count"));
    }
}

/// Holds the next batch read of a user (their item and referral count shards) before it is sent,
/// until released: the read a returning login makes while its code's use is saved.
#[derive(Debug, Clone, Default)]
struct HoldUserRead {
    armed: Arc<AtomicBool>,
    holding: Arc<AtomicBool>,
    released: Arc<AtomicBool>,
}

impl Intercept for HoldUserRead {
    fn name(&self) -> &'static str {
        "hold-user-read"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let user_read = calls_with(context.request(), "BatchGetItem", "\"referrals#");
        if !user_read || !self.armed.swap(false, Ordering::SeqCst) {
            return Ok(());
        }
        self.holding.store(true, Ordering::SeqCst);
        // The call waits on a thread of its own; the worker's other tasks move to another.
        let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
        tokio::task::block_in_place(|| {
            while !self.released.load(Ordering::SeqCst) && std::time::Instant::now() < until {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        });
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_login_whose_account_is_deleted_while_it_reads_the_user_is_refused_as_invalid_code() {
    let hold = HoldUserRead::default();
    let app = Arc::new(app_intercepted(&[("OTP_RESEND_SECONDS", "0")], hold.clone()).await);
    let (phone, token, _) = app.new_user().await;
    let code = app.code_for(&phone).await;

    hold.armed.store(true, Ordering::SeqCst);
    let login = tokio::spawn({
        let (app, phone) = (app.clone(), phone.clone());
        async move { app.verify(&phone, &code).await }
    });
    let start = std::time::Instant::now();
    while !hold.holding.load(Ordering::SeqCst) {
        assert!(
            start.elapsed().as_secs() < 5,
            "the login never read its user"
        );
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    // The login has checked the code and found the phone's user; the account goes now.
    let deleted = delete(&app, &token).await;
    assert_eq!(deleted.status, 204, "{deleted:#?}");
    hold.released.store(true, Ordering::SeqCst);

    // Not a 500, and no token for an account that no longer exists.
    let login = login.await.unwrap();
    login.assert_problem(401, "invalid_code");
    // Nothing half-made: the number registers again as a new user.
    let code = app.code_for(&phone).await;
    let again = app.verify(&phone, &code).await;
    assert_eq!(again.status, 201, "{again:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn logins_racing_their_accounts_deletion_either_land_first_or_are_refused() {
    let app = Arc::new(app_with(&[("OTP_RESEND_SECONDS", "0")]).await);
    for _ in 0..8 {
        let (phone, token, _) = app.new_user().await;
        let code = app.code_for(&phone).await;
        let (login, deleted) = tokio::join!(app.verify(&phone, &code), delete(&app, &token));
        assert_eq!(deleted.status, 204, "{deleted:#?}");
        match login.status {
            // Landed first: its token died with the account.
            200 => {
                let issued = login.body["access_token"].as_str().unwrap();
                app.profile(issued)
                    .await
                    .assert_problem(401, "invalid_token");
            }
            _ => login.assert_problem(401, "invalid_code"),
        }
        let code = app.code_for(&phone).await;
        let again = app.verify(&phone, &code).await;
        assert_eq!(again.status, 201, "{again:#?}");
    }
}
