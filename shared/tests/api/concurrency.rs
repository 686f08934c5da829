use std::collections::HashSet;

use futures::future::join_all;
use shared::domain::{ClientAddress, ClientTag, HourWindow, OtpState, PhoneNumber, User, UserId};
use shared::store::{CreateUserError, FailureCheck, Revoke, SaveOutcome, WriteId};
use shared::usecases::login::find_or_create_user;

use crate::helpers::{Calls, TestApp, app, app_intercepted, app_with, parsed, random_phone};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_parallel_verifies_of_the_right_code_let_exactly_one_in() {
    let app = app().await;
    for _ in 0..5 {
        let phone = random_phone();
        let code = app.code_for(&phone).await;
        let (a, b) = tokio::join!(app.verify(&phone, &code), app.verify(&phone, &code));
        let mut statuses = [a.status, b.status];
        statuses.sort_unstable();
        assert_eq!(statuses, [201, 401], "{a:#?} {b:#?}");
        let loser = if a.status == 401 { a } else { b };
        loser.assert_problem(401, "invalid_code");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn eight_parallel_first_logins_with_one_code_make_one_user_and_let_one_in() {
    let app = app().await;
    for _ in 0..3 {
        let phone = random_phone();
        let code = app.code_for(&phone).await;
        let answers = join_all((0..8).map(|_| app.verify(&phone, &code))).await;
        let created: Vec<_> = answers.iter().filter(|r| r.status == 201).collect();
        assert_eq!(created.len(), 1, "{answers:#?}");
        for r in answers.iter().filter(|r| r.status != 201) {
            r.assert_problem(401, "invalid_code");
        }
        let id = created[0].body["profile"]["id"]
            .as_str()
            .unwrap()
            .to_owned();
        assert_eq!(
            app.state
                .store
                .user_id_by_phone(&parsed(&phone))
                .await
                .unwrap(),
            Some(UserId::from_trusted(id))
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_parallel_first_logins_of_one_phone_make_one_user() {
    let app = app().await;
    let phone = PhoneNumber::parse(
        &random_phone(),
        shared::domain::phone::parse_region("RU").unwrap(),
    )
    .unwrap();
    let results = join_all((0..20).map(|_| find_or_create_user(&app.state, &phone))).await;
    let logins: Vec<(User, bool)> = results.into_iter().map(Result::unwrap).collect();
    let ids: HashSet<&str> = logins.iter().map(|(u, _)| u.id.as_str()).collect();
    assert_eq!(ids.len(), 1, "{ids:?}");
    assert_eq!(logins.iter().filter(|(_, created)| *created).count(), 1);
    let id = UserId::from_trusted((*ids.iter().next().unwrap()).to_owned());
    assert_eq!(
        app.state.store.user_id_by_phone(&phone).await.unwrap(),
        Some(id)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_wrong_guesses_are_all_counted() {
    let app = app().await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    let wrong = if code == "0000" { "1111" } else { "0000" };
    let answers = join_all((0..8).map(|_| app.verify(&phone, wrong))).await;
    let mut left: Vec<i64> = answers
        .iter()
        .filter(|r| r.status == 401)
        .map(|r| r.body["attempts_left"].as_i64().unwrap())
        .collect();
    left.sort_unstable();
    assert_eq!(left, [1, 2, 3, 4], "{answers:#?}");
    assert_eq!(
        answers
            .iter()
            .filter(|r| r.code() == "too_many_attempts")
            .count(),
        4
    );
    app.verify(&phone, &code)
        .await
        .assert_problem(429, "too_many_attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_parallel_activations_by_one_user_leave_one_winner_and_consistent_counts() {
    let app = app().await;
    let mut referrers = Vec::new();
    for _ in 0..10 {
        referrers.push(app.new_user().await);
    }
    let (_, token, _) = app.new_user().await;
    let answers = join_all(
        referrers
            .iter()
            .map(|(_, _, p)| app.activate(&token, p["invite_code"].as_str().unwrap())),
    )
    .await;
    let winners: Vec<usize> = (0..10).filter(|&i| answers[i].status == 200).collect();
    assert_eq!(winners.len(), 1, "{answers:#?}");
    for (i, answer) in answers.iter().enumerate() {
        if i != winners[0] {
            answer.assert_problem(409, "already_activated");
        }
    }
    let winner_code = &referrers[winners[0]].2["invite_code"];
    assert_eq!(
        &app.profile(&token).await.body["activated_invite_code"],
        winner_code
    );
    let mut counts = Vec::new();
    for (_, referrer_token, _) in &referrers {
        counts.push(
            app.profile(referrer_token).await.body["referrals_count"]
                .as_i64()
                .unwrap(),
        );
    }
    assert_eq!(counts.iter().sum::<i64>(), 1, "{counts:?}");
    assert_eq!(counts[winners[0]], 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_users_activating_each_other_at_once_cannot_both_win() {
    let app = app().await;
    for _ in 0..3 {
        let (_, token_a, a) = app.new_user().await;
        let (_, token_b, b) = app.new_user().await;
        let (ra, rb) = tokio::join!(
            app.activate(&token_a, b["invite_code"].as_str().unwrap()),
            app.activate(&token_b, a["invite_code"].as_str().unwrap())
        );
        let mut outcome = [
            (ra.status, ra.code().to_owned()),
            (rb.status, rb.code().to_owned()),
        ];
        outcome.sort();
        assert_eq!(
            outcome,
            [(200, String::new()), (422, "mutual_referral".to_owned())],
            "{ra:#?} {rb:#?}"
        );
    }
}

#[tokio::test]
async fn a_taken_invite_code_writes_nothing() {
    let app = app_with(&[]).await;
    let (_, _, existing) = app.new_user().await;
    let phone = PhoneNumber::parse(
        &random_phone(),
        shared::domain::phone::parse_region("RU").unwrap(),
    )
    .unwrap();
    let mut user = User::new(phone.clone(), app.state.clock.now_ms());
    user.invite_code =
        shared::domain::InviteCode::parse(existing["invite_code"].as_str().unwrap()).unwrap();
    let err = app.state.store.create_user(&user).await.unwrap_err();
    assert!(matches!(err, CreateUserError::InviteCodeTaken), "{err:?}");
    assert_eq!(
        app.state.store.user_id_by_phone(&phone).await.unwrap(),
        None
    );
    assert_eq!(app.state.store.user(&user.id).await.unwrap(), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_sends_for_one_phone_send_one_code() {
    let app = app().await;
    let phone = random_phone();
    let answers = join_all((0..6).map(|_| app.send_code(&phone))).await;
    assert_eq!(
        answers.iter().filter(|r| r.status == 200).count(),
        1,
        "{answers:#?}"
    );
    for refused in answers.iter().filter(|r| r.status != 200) {
        refused.assert_problem(429, "resend_too_soon");
    }
}

#[tokio::test]
async fn a_code_save_whose_reply_was_lost_counts_as_saved_when_retried() {
    let app = app().await;
    let phone = parsed(&random_phone());
    let policy = &app.state.config.otp;
    let now = app.state.clock.now_s();
    let code = shared::domain::OtpCode::generate(4);
    let client = app
        .state
        .hasher
        .caller(&ClientAddress::from_source_ip(Some("127.0.0.1")))
        .client;
    let current = app.state.store.otp_state(&phone).await.unwrap();
    let next = current
        .send(now, policy, &client, app.state.hasher.hash(&phone, &code))
        .unwrap();
    let store = &app.state.store;
    let first = WriteId::random();
    assert!(store.save_otp_state(&phone, &next, &first).await.unwrap());
    // The SDK's retry of the same request: its condition fails on its own write.
    assert!(store.save_otp_state(&phone, &next, &first).await.unwrap());
    // Another save computed from the same old state lost the race.
    assert!(
        !store
            .save_otp_state(&phone, &next, &WriteId::random())
            .await
            .unwrap()
    );
}

#[tokio::test]
async fn a_logout_whose_reply_was_lost_counts_as_done_when_retried() {
    let app = app().await;
    let user = User::new(parsed(&random_phone()), app.state.clock.now_ms());
    let store = &app.state.store;
    store.create_user(&user).await.unwrap();
    let first = WriteId::random();
    let revoke = |id| store.revoke_tokens(&user.id, 0, id);
    assert_eq!(revoke(&first).await.unwrap(), Revoke::Done);
    assert_eq!(revoke(&first).await.unwrap(), Revoke::Done);
    // A token of version 0 used after that logout is refused.
    assert_eq!(revoke(&WriteId::random()).await.unwrap(), Revoke::Moved);
    assert_eq!(
        store.user(&user.id).await.unwrap().unwrap().token_version,
        1
    );
}

#[tokio::test]
async fn a_user_creation_whose_reply_was_lost_succeeds_when_retried() {
    let app = app().await;
    let user = User::new(parsed(&random_phone()), app.state.clock.now_ms());
    app.state.store.create_user(&user).await.unwrap();
    // Same transaction, same idempotency token (the user id): a success, not PhoneTaken.
    app.state.store.create_user(&user).await.unwrap();
    // A different attempt for the same phone is refused.
    let other = User::new(user.phone.clone(), app.state.clock.now_ms());
    assert!(matches!(
        app.state.store.create_user(&other).await,
        Err(CreateUserError::PhoneTaken)
    ));
}

#[tokio::test]
async fn a_first_logins_save_uses_the_code_only_together_with_the_new_user() {
    let app = app().await;
    let (_, _, existing) = app.new_user().await;
    let store = &app.state.store;
    let phone = parsed(&random_phone());
    let policy = &app.state.config.otp;
    let now = app.state.clock.now_s();
    let code = shared::domain::OtpCode::generate(4);
    let hash = app.state.hasher.hash(&phone, &code);
    let caller = app
        .state
        .hasher
        .caller(&ClientAddress::from_source_ip(Some("127.0.0.1")));
    let client = caller.client.clone();
    let sent = store
        .otp_state(&phone)
        .await
        .unwrap()
        .send(now, policy, &client, hash)
        .unwrap();
    assert!(
        store
            .save_otp_state(&phone, &sent, &WriteId::random())
            .await
            .unwrap()
    );
    let pending = store.otp_state(&phone).await.unwrap();
    let (next, _) = pending.verify(now, policy, &client, hash);
    let next = next.unwrap();
    let check = FailureCheck {
        caller: &caller,
        window: HourWindow::at(now),
        limit: app.state.config.limits.failures_per_hour,
        range_limit: app.state.config.limits.range_failures_per_hour,
        wrong: false,
    };

    // The new user's invite code is taken: nothing is written, the code stays usable.
    let mut clash = User::new(phone.clone(), app.state.clock.now_ms());
    clash.invite_code =
        shared::domain::InviteCode::parse(existing["invite_code"].as_str().unwrap()).unwrap();
    let write = WriteId::random();
    let saved = store.save_verification(&phone, Some(&next), &write, &check, Some(&clash));
    assert_eq!(saved.await.unwrap(), SaveOutcome::Moved);
    assert_eq!(store.otp_state(&phone).await.unwrap(), pending);
    assert_eq!(store.user_id_by_phone(&phone).await.unwrap(), None);
    assert_eq!(store.user(&clash.id).await.unwrap(), None);

    // Another draw: the code is used and the user, its phone and its invite code are written.
    let user = User::new(phone.clone(), app.state.clock.now_ms());
    let write = WriteId::random();
    let saved = store.save_verification(&phone, Some(&next), &write, &check, Some(&user));
    assert_eq!(saved.await.unwrap(), SaveOutcome::Saved);
    assert_eq!(store.otp_state(&phone).await.unwrap().code_hash, None);
    assert_eq!(store.user(&user.id).await.unwrap().as_ref(), Some(&user));
    assert_eq!(
        store.user_id_by_phone(&phone).await.unwrap(),
        Some(user.id.clone())
    );
    assert_eq!(
        store.invite_code_owner(&user.invite_code).await.unwrap(),
        Some(user.id.clone())
    );
    // The SDK's retry of that transaction (reply lost) succeeds on its idempotency token.
    let retried = store.save_verification(&phone, Some(&next), &write, &check, Some(&user));
    assert_eq!(retried.await.unwrap(), SaveOutcome::Saved);
}

#[tokio::test]
async fn a_first_logins_save_that_finds_its_phone_claimed_or_its_state_moved_writes_nothing() {
    // Two codes in a row for one phone: no cooldown between them.
    let app = app_with(&[("OTP_RESEND_SECONDS", "0")]).await;
    let store = &app.state.store;
    let caller = app
        .state
        .hasher
        .caller(&ClientAddress::from_source_ip(Some("127.0.0.1")));
    let client = caller.client.clone();
    let check = FailureCheck {
        caller: &caller,
        window: HourWindow::at(app.state.clock.now_s()),
        limit: app.state.config.limits.failures_per_hour,
        range_limit: app.state.config.limits.range_failures_per_hour,
        wrong: false,
    };
    // The phone was claimed since the read (a user made without a code): nothing is written.
    let phone = parsed(&random_phone());
    let (pending, next) = pending_code(&app, &client, &phone).await;
    let (owner, _) = find_or_create_user(&app.state, &phone).await.unwrap();
    let user = User::new(phone.clone(), app.state.clock.now_ms());
    let write = WriteId::random();
    let saved = store.save_verification(&phone, Some(&next), &write, &check, Some(&user));
    assert_eq!(saved.await.unwrap(), SaveOutcome::Moved);
    assert_eq!(store.otp_state(&phone).await.unwrap(), pending);
    assert_eq!(store.user(&user.id).await.unwrap(), None);
    assert_eq!(
        store.invite_code_owner(&user.invite_code).await.unwrap(),
        None
    );
    assert_eq!(
        store.user_id_by_phone(&phone).await.unwrap(),
        Some(owner.id)
    );

    // The phone's state moved since the read (another send): no user and no claim is written.
    let phone = parsed(&random_phone());
    let (_, stale) = pending_code(&app, &client, &phone).await;
    let (moved, _) = pending_code(&app, &client, &phone).await;
    let user = User::new(phone.clone(), app.state.clock.now_ms());
    let write = WriteId::random();
    let saved = store.save_verification(&phone, Some(&stale), &write, &check, Some(&user));
    assert_eq!(saved.await.unwrap(), SaveOutcome::Moved);
    assert_eq!(store.otp_state(&phone).await.unwrap(), moved);
    assert_eq!(store.user(&user.id).await.unwrap(), None);
    assert_eq!(store.user_id_by_phone(&phone).await.unwrap(), None);
    assert_eq!(
        store.invite_code_owner(&user.invite_code).await.unwrap(),
        None
    );
}

/// Sends `phone` a code straight through the store; returns the state stored with it and the
/// state a right guess would save over it.
async fn pending_code(
    app: &TestApp,
    client: &ClientTag,
    phone: &PhoneNumber,
) -> (OtpState, OtpState) {
    let (store, policy) = (&app.state.store, &app.state.config.otp);
    let now = app.state.clock.now_s();
    let code = shared::domain::OtpCode::generate(4);
    let hash = app.state.hasher.hash(phone, &code);
    let sent = store
        .otp_state(phone)
        .await
        .unwrap()
        .send(now, policy, client, hash);
    let (sent, write) = (sent.unwrap(), WriteId::random());
    assert!(store.save_otp_state(phone, &sent, &write).await.unwrap());
    let pending = store.otp_state(phone).await.unwrap();
    let (next, _) = pending.verify(now, policy, client, hash);
    (pending, next.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_that_loses_the_phone_to_a_parallel_one_is_not_counted_against_its_address() {
    // One code an hour per phone and one send an hour per address: parallel sends to one phone
    // from several addresses all pass the first read, one saves its code, and the others are
    // refused when they save. Sent nothing, they must still have their address's send to spend,
    // their range (a /24 a round, exactly its 8 codes that go out) and the SMS budget (one
    // shard, exactly the 3 x 8 codes) too.
    let app = app_with(&[
        ("OTP_PHONE_MAX_SENDS_PER_HOUR", "1"),
        ("IP_MAX_SENDS_PER_HOUR", "1"),
        ("IP_RANGE_MAX_SENDS_PER_HOUR", "8"),
        ("SMS_BUDGET_PER_HOUR", "24"),
        ("SMS_BUDGET_SHARDS", "1"),
        ("SMS_BUDGET_RETURNING_PERCENT", "0"),
    ])
    .await;
    app.start_own_hour();
    for round in 0..3 {
        let phone = random_phone();
        let ips: Vec<String> = (1..=8).map(|i| format!("198.51.{round}.{i}")).collect();
        let answers = join_all(ips.iter().map(|ip| app.send_code_from(ip, &phone))).await;
        let won: Vec<_> = answers.iter().map(|r| r.status == 200).collect();
        assert_eq!(won.iter().filter(|&&w| w).count(), 1, "{answers:#?}");
        for (ip, won) in ips.iter().zip(won) {
            let again = app.send_code_from(ip, &random_phone()).await;
            if won {
                again.assert_problem(429, "client_send_limit");
            } else {
                assert_eq!(
                    again.status, 200,
                    "{ip} lost the phone and its send: {again:?}"
                );
            }
        }
    }
    // 24 codes went out: the budget is spent now, and not before.
    app.send_code_from("198.51.9.1", &random_phone())
        .await
        .assert_problem(503, "sms_budget_exhausted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_send_whose_address_fills_after_its_read_takes_back_the_code_it_saved() {
    // One send an hour per address, one code an hour per phone: parallel sends from one address
    // to eight phones all find the address's counter empty, so each saves its code in the call
    // that counts it, and all but one find the counter full there. Their codes never go out, so
    // each must be taken back: the phone holds no code and may get one at once elsewhere.
    let calls = Calls::default();
    let app = app_intercepted(
        &[
            ("OTP_PHONE_MAX_SENDS_PER_HOUR", "1"),
            ("IP_MAX_SENDS_PER_HOUR", "1"),
        ],
        calls.clone(),
    )
    .await;
    app.start_own_hour();
    let phones: Vec<String> = (0..8).map(|_| random_phone()).collect();
    let answers = join_all(
        phones
            .iter()
            .map(|phone| app.send_code_from("198.51.100.50", phone)),
    )
    .await;
    assert_eq!(
        answers.iter().filter(|r| r.status == 200).count(),
        1,
        "{answers:#?}"
    );
    // A code taken back is written over with a put: at least one send raced.
    let made = calls.0.lock().unwrap().clone();
    assert!(
        made.iter().any(|c| c == "PutItem"),
        "no send raced: {made:?}"
    );
    for (i, (phone, answer)) in phones.iter().zip(&answers).enumerate() {
        if answer.status == 200 {
            continue;
        }
        answer.assert_problem(429, "client_send_limit");
        let stored = app.state.store.otp_state(&parsed(phone)).await.unwrap();
        assert!(
            stored.code_hash.is_none() && stored.sends.is_empty(),
            "{stored:?}"
        );
        let again = app
            .send_code_from(&format!("198.51.{}.1", 110 + i), phone)
            .await;
        assert_eq!(
            again.status, 200,
            "{phone} kept a code never sent: {again:?}"
        );
    }
}
