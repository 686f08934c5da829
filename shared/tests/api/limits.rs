//! The limits beyond one phone: per source address, the service-wide SMS budget, the numbers codes
//! go to, and the lockout that one client cannot impose on a phone's owner. Each test sets its
//! limit small and uses addresses (and, for the budget, an hour) of its own.
use futures::future::join_all;

use crate::helpers::{Resp, TestApp, app_with, random_ip, random_phone};

#[tokio::test]
async fn thirty_parallel_sends_from_one_address_against_a_limit_of_ten_send_exactly_ten() {
    let app = app_with(&[("IP_MAX_SENDS_PER_HOUR", "10")]).await;
    app.start_own_hour();
    let ip = random_ip();
    let phones: Vec<String> = (0..30).map(|_| random_phone()).collect();
    let answers = join_all(phones.iter().map(|p| app.send_code_from(&ip, p))).await;
    let sent = answers.iter().filter(|r| r.status == 200).count();
    let refused: Vec<_> = answers.iter().filter(|r| r.status != 200).collect();
    assert_eq!(sent, 10, "{answers:#?}");
    for r in &refused {
        r.assert_problem(429, "client_send_limit");
        let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
        assert!((1..=3_600).contains(&retry), "{r:#?}");
        assert_eq!(r.header("ratelimit-policy"), Some("\"sends\";q=10;w=3600"));
        assert!(
            r.header("ratelimit")
                .unwrap()
                .starts_with("\"sends\";r=0;t=")
        );
    }
    // Another address is not held back.
    let other = app.send_code_from(&random_ip(), &random_phone()).await;
    assert_eq!(other.status, 200, "{other:#?}");
}

#[tokio::test]
async fn a_sent_code_reports_what_is_left_of_the_clients_hour() {
    let app = app_with(&[("IP_MAX_SENDS_PER_HOUR", "10")]).await;
    app.start_own_hour();
    let ip = random_ip();
    let first = app.send_code_from(&ip, &random_phone()).await;
    assert_eq!(first.status, 200, "{first:#?}");
    assert_eq!(
        first.header("ratelimit-policy"),
        Some("\"sends\";q=10;w=3600")
    );
    // The app's hour started a minute ago.
    assert_eq!(standing(&first), ("\"sends\"".into(), 9, true));
    let second = app.send_code_from(&ip, &random_phone()).await;
    assert_eq!(standing(&second), ("\"sends\"".into(), 8, true));
}

#[tokio::test]
async fn addresses_of_one_ipv6_slash_64_share_one_limit() {
    let app = app_with(&[("IP_MAX_SENDS_PER_HOUR", "1")]).await;
    app.start_own_hour();
    let prefix = format!(
        "2001:db8:{:x}:{:x}",
        rand::random::<u16>(),
        rand::random::<u16>()
    );
    let first = app
        .send_code_from(&format!("{prefix}::1"), &random_phone())
        .await;
    assert_eq!(first.status, 200, "{first:#?}");
    app.send_code_from(&format!("{prefix}:aaaa:bbbb:cccc:dddd"), &random_phone())
        .await
        .assert_problem(429, "client_send_limit");
    // The neighbouring /64 is another client.
    let other = app
        .send_code_from(&format!("{prefix}1::1"), &random_phone())
        .await;
    assert_eq!(other.status, 200, "{other:#?}");
}

#[tokio::test]
async fn the_hourly_sms_budget_stops_every_client_with_503_and_stores_no_code() {
    // All of it for new numbers, which is all these sends are.
    let app = app_with(&[
        ("SMS_BUDGET_PER_HOUR", "3"),
        ("SMS_BUDGET_RETURNING_PERCENT", "0"),
    ])
    .await;
    app.start_own_hour();
    for _ in 0..3 {
        let r = app.send_code_from(&random_ip(), &random_phone()).await;
        assert_eq!(r.status, 200, "{r:#?}");
    }
    let phone = random_phone();
    let refused = app.send_code_from(&random_ip(), &phone).await;
    refused.assert_problem(503, "sms_budget_exhausted");
    let retry: i64 = refused.header("retry-after").unwrap().parse().unwrap();
    assert!(in_the_hour(retry), "{refused:#?}");
    let stored = app
        .state
        .store
        .otp_state(
            &shared::domain::PhoneNumber::parse(
                &phone,
                shared::domain::phone::parse_region("RU").unwrap(),
            )
            .unwrap(),
        )
        .await
        .unwrap();
    assert_eq!(
        stored,
        Default::default(),
        "no code may wait for a phone nobody texted"
    );
}

#[tokio::test]
async fn wrong_codes_from_one_address_past_the_limit_get_no_judgement() {
    let app = app_with(&[("IP_MAX_FAILURES_PER_HOUR", "3")]).await;
    app.start_own_hour();
    let ip = random_ip();
    let mut codes = Vec::new();
    for _ in 0..4 {
        let phone = random_phone();
        let sent = app.send_code_from(&ip, &phone).await;
        codes.push((phone, sent.body["code"].as_str().unwrap().to_owned()));
    }
    for (phone, code) in &codes[..3] {
        let wrong = app.verify_from(&ip, phone, &wrong_code(code)).await;
        wrong.assert_problem(401, "invalid_code");
    }
    let third = app
        .verify_from(&ip, &codes[2].0, &wrong_code(&codes[2].1))
        .await;
    third.assert_problem(429, "client_failure_limit");
    assert!(third.header("retry-after").is_some());
    assert_eq!(
        third.header("ratelimit-policy"),
        Some("\"failures\";q=3;w=3600")
    );
    // Even the right code is not judged: a 429 for wrong guesses only would tell them apart.
    let (phone, code) = &codes[3];
    app.verify_from(&ip, phone, code)
        .await
        .assert_problem(429, "client_failure_limit");
    // The phone's owner, elsewhere, logs in with the same code.
    let owner = app.verify_from(&random_ip(), phone, code).await;
    assert_eq!(owner.status, 201, "{owner:#?}");
}

#[tokio::test]
async fn parallel_wrong_codes_from_one_address_are_judged_exactly_up_to_the_limit() {
    let app = app_with(&[("IP_MAX_FAILURES_PER_HOUR", "5")]).await;
    app.start_own_hour();
    let ip = random_ip();
    let mut codes = Vec::new();
    for _ in 0..20 {
        let phone = random_phone();
        let sent = app.send_code_from(&random_ip(), &phone).await;
        let code = sent.body["code"].as_str().unwrap();
        codes.push((phone, wrong_code(code)));
    }
    let answers = join_all(
        codes
            .iter()
            .map(|(phone, wrong)| app.verify_from(&ip, phone, wrong)),
    )
    .await;
    let judged = answers.iter().filter(|r| r.status == 401).count();
    let refused = answers
        .iter()
        .filter(|r| r.status == 429 && r.code() == "client_failure_limit")
        .count();
    assert_eq!((judged, refused), (5, 15), "{answers:#?}");
}

#[tokio::test]
async fn numbers_outside_the_allowed_countries_or_not_mobile_are_422_and_move_no_counter() {
    let app = app_with(&[
        ("SMS_ALLOWED_REGIONS", "RU,KZ"),
        ("SMS_MOBILE_ONLY", "true"),
        ("IP_MAX_SENDS_PER_HOUR", "1"),
    ])
    .await;
    app.start_own_hour();
    let ip = random_ip();
    app.send_code_from(&ip, "+44 7400 123456")
        .await
        .assert_problem(422, "region_not_allowed");
    app.send_code_from(&ip, "+7 495 123-45-67")
        .await
        .assert_problem(422, "not_a_mobile_number");
    // Neither refusal used the address's only send.
    let ok = app.send_code_from(&ip, &random_phone()).await;
    assert_eq!(ok.status, 200, "{ok:#?}");
}

#[tokio::test]
async fn a_lockout_caused_from_another_address_does_not_stop_the_owner() {
    let app = app_with(&[("OTP_RESEND_SECONDS", "0")]).await;
    let attacker = random_ip();
    let phone = random_phone();
    // Ten wrong codes: two codes sent by the attacker, each burned by five wrong tries.
    for _ in 0..2 {
        let sent = app.send_code_from(&attacker, &phone).await;
        let code = sent.body["code"].as_str().unwrap().to_owned();
        for _ in 0..5 {
            let r = app.verify_from(&attacker, &phone, &wrong_code(&code)).await;
            assert!(r.status == 401 || r.code() == "too_many_attempts", "{r:#?}");
        }
    }
    app.send_code_from(&attacker, &phone)
        .await
        .assert_problem(429, "phone_locked");
    // The owner asks for a fresh code from their own network and logs in with it.
    let owner = random_ip();
    let sent = app.send_code_from(&owner, &phone).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    let code = sent.body["code"].as_str().unwrap().to_owned();
    // The locked-out attacker cannot even try the owner's code.
    app.verify_from(&attacker, &phone, &code)
        .await
        .assert_problem(429, "phone_locked");
    let logged_in = app.verify_from(&owner, &phone, &code).await;
    assert_eq!(logged_in.status, 201, "{logged_in:#?}");
}

#[tokio::test]
async fn the_phone_wide_ceiling_of_wrong_codes_holds_for_every_address() {
    let app = app_with(&[
        ("OTP_RESEND_SECONDS", "0"),
        ("OTP_MAX_FAILURES_PER_DAY", "2"),
        ("OTP_PHONE_MAX_FAILURES_PER_DAY", "4"),
    ])
    .await;
    let phone = random_phone();
    for _ in 0..2 {
        let guesser = random_ip();
        let sent = app.send_code_from(&guesser, &phone).await;
        let code = sent.body["code"].as_str().unwrap().to_owned();
        for _ in 0..2 {
            let r = app.verify_from(&guesser, &phone, &wrong_code(&code)).await;
            r.assert_problem(401, "invalid_code");
        }
    }
    let owner = random_ip();
    let sent = app.send_code_from(&owner, &phone).await;
    sent.assert_problem(429, "phone_locked");
    let wait: i64 = sent.header("retry-after").unwrap().parse().unwrap();
    assert!((86_000..=86_400).contains(&wait), "{sent:#?}");
}

#[tokio::test]
async fn verify_code_reports_the_clients_wrong_codes_left() {
    let app = app_with(&[("IP_MAX_FAILURES_PER_HOUR", "20")]).await;
    app.start_own_hour();
    let ip = random_ip();
    let phone = random_phone();
    let code = app.send_code_from(&ip, &phone).await.body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    let wrong = app.verify_from(&ip, &phone, &wrong_code(&code)).await;
    assert_eq!(standing(&wrong), ("\"failures\"".into(), 19, true));
    let right = app.verify_from(&ip, &phone, &code).await;
    assert_eq!(right.status, 201, "{right:#?}");
    assert_eq!(standing(&right), ("\"failures\"".into(), 19, true));
    assert_eq!(
        right.header("ratelimit-policy"),
        Some("\"failures\";q=20;w=3600")
    );
}

/// The `RateLimit` field: the policy's name, what is left, and whether the reset is what is left
/// of an hour that began a minute ago (the test's clock runs on).
fn standing(resp: &Resp) -> (String, u32, bool) {
    let field = resp
        .header("ratelimit")
        .unwrap_or_else(|| panic!("{resp:#?}"));
    let mut parts = field.split(';');
    let name = parts.next().unwrap().to_owned();
    let r = parts
        .next()
        .unwrap()
        .strip_prefix("r=")
        .unwrap()
        .parse()
        .unwrap();
    let t: i64 = parts
        .next()
        .unwrap()
        .strip_prefix("t=")
        .unwrap()
        .parse()
        .unwrap();
    (name, r, in_the_hour(t))
}

fn in_the_hour(seconds: i64) -> bool {
    (3_500..=3_540).contains(&seconds)
}

/// A code of the same length that is certainly not `code`.
fn wrong_code(code: &str) -> String {
    code.bytes()
        .map(|b| char::from(b'0' + (b - b'0' + 1) % 10))
        .collect()
}

/// A /24 of TEST-NET-3 or of 198.18.0.0/15 of its own, as `a.b.c.`, so a test's range counters
/// are its own.
fn random_slash_24() -> String {
    format!(
        "198.{}.{}.",
        18 + rand::random_range(0..2u8),
        rand::random::<u8>()
    )
}

/// Moves `app`'s clock to `other`'s, so both count in one hour's counters.
fn same_hour(app: &TestApp, other: &TestApp) {
    let behind = other.state.clock.now_ms() - app.state.clock.now_ms();
    app.state
        .clock
        .advance(std::time::Duration::from_millis(behind.max(0) as u64));
}

#[tokio::test]
async fn many_addresses_in_one_slash_24_are_held_together_at_five_times_one_address() {
    let app = app_with(&[("IP_MAX_SENDS_PER_HOUR", "2")]).await;
    assert_eq!(app.state.config.limits.range_sends_per_hour, 10);
    app.start_own_hour();
    let range = random_slash_24();
    // Twelve neighbours, each well under its own limit of 2.
    let mut answers = Vec::new();
    for host in 1..=12 {
        let ip = format!("{range}{host}");
        answers.push(app.send_code_from(&ip, &random_phone()).await);
    }
    for (i, r) in answers.iter().enumerate() {
        if i < 10 {
            assert_eq!(r.status, 200, "{i}: {r:#?}");
        } else {
            r.assert_problem(429, "client_send_limit");
            let retry: i64 = r.header("retry-after").unwrap().parse().unwrap();
            assert!(in_the_hour(retry), "{r:#?}");
            assert_eq!(standing(r), ("\"sends\"".into(), 0, true));
        }
    }
    // The tenth send left the range nothing: its answer says so, though its address sent once.
    assert_eq!(standing(&answers[9]), ("\"sends\"".into(), 0, true));
    assert_eq!(standing(&answers[0]), ("\"sends\"".into(), 1, true));
    // Addresses of another /24, even the next one, are not held.
    let other = app
        .send_code_from(&format!("{}1", random_slash_24()), &random_phone())
        .await;
    assert_eq!(other.status, 200, "{other:#?}");
}

#[tokio::test]
async fn thirty_parallel_sends_from_thirty_addresses_of_one_slash_24_send_exactly_its_limit() {
    let app = app_with(&[
        ("IP_MAX_SENDS_PER_HOUR", "10"),
        ("IP_RANGE_MAX_SENDS_PER_HOUR", "10"),
    ])
    .await;
    app.start_own_hour();
    let range = random_slash_24();
    let ips: Vec<String> = (1..=30).map(|h| format!("{range}{h}")).collect();
    let phones: Vec<String> = ips.iter().map(|_| random_phone()).collect();
    let answers = join_all(
        ips.iter()
            .zip(&phones)
            .map(|(ip, p)| app.send_code_from(ip, p)),
    )
    .await;
    let sent = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(sent, 10, "{answers:#?}");
    for r in answers.iter().filter(|r| r.status != 200) {
        r.assert_problem(429, "client_send_limit");
    }
}

#[tokio::test]
async fn a_send_refused_by_its_range_leaves_its_addresss_own_count_as_it_was() {
    let app = app_with(&[
        ("IP_MAX_SENDS_PER_HOUR", "2"),
        ("IP_RANGE_MAX_SENDS_PER_HOUR", "3"),
    ])
    .await;
    app.start_own_hour();
    let range = random_slash_24();
    let mine = format!("{range}1");
    assert_eq!(app.send_code_from(&mine, &random_phone()).await.status, 200);
    for host in 2..=3 {
        let ip = format!("{range}{host}");
        assert_eq!(app.send_code_from(&ip, &random_phone()).await.status, 200);
    }
    app.send_code_from(&mine, &random_phone())
        .await
        .assert_problem(429, "client_send_limit");
    // The same hour with a roomier range: the address has one send left, not none.
    let roomy = app_with(&[
        ("IP_MAX_SENDS_PER_HOUR", "2"),
        ("IP_RANGE_MAX_SENDS_PER_HOUR", "100"),
    ])
    .await;
    same_hour(&roomy, &app);
    let again = roomy.send_code_from(&mine, &random_phone()).await;
    assert_eq!(again.status, 200, "{again:#?}");
    assert_eq!(standing(&again), ("\"sends\"".into(), 0, true));
}

#[tokio::test]
async fn ipv6_clients_of_one_slash_48_share_a_range_and_other_slash_48s_do_not() {
    let app = app_with(&[
        ("IP_MAX_SENDS_PER_HOUR", "1"),
        ("IP_RANGE_MAX_SENDS_PER_HOUR", "2"),
    ])
    .await;
    app.start_own_hour();
    let site = format!("2001:db8:{:x}", rand::random::<u16>());
    // Three /64s of one /48: three clients, one range.
    for (subnet, status) in [(1, 200), (2, 200), (3, 429)] {
        let r = app
            .send_code_from(&format!("{site}:{subnet:x}::1"), &random_phone())
            .await;
        assert_eq!(r.status, status, "{r:#?}");
    }
    let elsewhere = format!("2001:db9:{:x}:1::1", rand::random::<u16>());
    let r = app.send_code_from(&elsewhere, &random_phone()).await;
    assert_eq!(r.status, 200, "{r:#?}");
}

#[tokio::test]
async fn wrong_codes_from_many_addresses_in_one_slash_24_are_held_together_and_other_ranges_are_not()
 {
    let app = app_with(&[("IP_MAX_FAILURES_PER_HOUR", "3")]).await;
    assert_eq!(app.state.config.limits.range_failures_per_hour, 15);
    app.start_own_hour();
    let range = random_slash_24();
    // A code to guess, sent from elsewhere.
    let (owner, phone) = (random_ip(), random_phone());
    let code = app.send_code_from(&owner, &phone).await.body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    // Fifteen guessers of one /24, one wrong code each, then their neighbours are refused.
    for host in 1..=15 {
        let r = app
            .verify_from(&format!("{range}{host}"), &phone, &wrong_code(&code))
            .await;
        // The code burns after five of them; to strangers that is no code, still 401.
        r.assert_problem(401, "invalid_code");
    }
    let held = app
        .verify_from(&format!("{range}16"), &random_phone(), "1234")
        .await;
    held.assert_problem(429, "client_failure_limit");
    assert_eq!(standing(&held), ("\"failures\"".into(), 0, true));
    // Not judged at all, not even a right code.
    let fresh = random_phone();
    let right = app.send_code_from(&owner, &fresh).await.body["code"]
        .as_str()
        .unwrap()
        .to_owned();
    app.verify_from(&format!("{range}17"), &fresh, &right)
        .await
        .assert_problem(429, "client_failure_limit");
    // Another /24 is judged as usual.
    let elsewhere = app
        .verify_from(&format!("{}1", random_slash_24()), &fresh, &right)
        .await;
    assert_eq!(elsewhere.status, 201, "{elsewhere:#?}");
}

#[tokio::test]
async fn parallel_wrong_codes_from_one_slash_24_are_judged_exactly_up_to_its_limit() {
    let app = &app_with(&[
        ("IP_MAX_FAILURES_PER_HOUR", "20"),
        ("IP_RANGE_MAX_FAILURES_PER_HOUR", "20"),
    ])
    .await;
    app.start_own_hour();
    let range = random_slash_24();
    let answers = join_all((1..=40).map(|host| {
        let ip = format!("{range}{host}");
        async move { app.verify_from(&ip, &random_phone(), "1234").await }
    }))
    .await;
    let judged = answers.iter().filter(|r| r.status == 401).count();
    let refused = answers
        .iter()
        .filter(|r| r.status == 429 && r.code() == "client_failure_limit")
        .count();
    assert_eq!((judged, refused), (20, 20), "{answers:#?}");
}
