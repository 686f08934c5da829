//! Unit tests of login codes: hashing, and the per-phone state machine's every limit.
use super::*;

const T0: i64 = 1_800_000_000;

fn phone() -> PhoneNumber {
    PhoneNumber::from_trusted("+79991234567".into())
}

fn hash_of(code: &str) -> CodeHash {
    CodeHasher::new(b"k".repeat(32)).hash(&phone(), &OtpCode::parse(code, 4).unwrap())
}

fn client(name: &str) -> ClientTag {
    ClientTag::from_trusted(name.into())
}

/// The client most tests act as.
fn me() -> ClientTag {
    client("me")
}

fn sent(code: &str, at: i64) -> OtpState {
    OtpState::default()
        .send(at, &OtpPolicy::default(), &me(), hash_of(code))
        .unwrap()
}

fn failures(times: impl IntoIterator<Item = i64>, by: &ClientTag) -> Vec<Mark> {
    times
        .into_iter()
        .map(|at| Mark {
            at,
            client: by.clone(),
        })
        .collect()
}

#[test]
fn generated_codes_have_the_configured_number_of_digits_and_vary() {
    let codes: std::collections::HashSet<String> = (0..200)
        .map(|_| OtpCode::generate(4).expose().to_owned())
        .collect();
    assert!(
        codes
            .iter()
            .all(|c| c.len() == 4 && c.bytes().all(|b| b.is_ascii_digit()))
    );
    assert!(
        codes.len() > 150,
        "only {} distinct codes in 200",
        codes.len()
    );
    assert_eq!(OtpCode::generate(6).expose().len(), 6);
}

#[test]
fn codes_must_be_exactly_the_configured_digits() {
    assert!(OtpCode::parse(" 1234 ", 4).is_ok());
    for bad in ["123", "12345", "12a4", "", "١٢٣٤"] {
        assert_eq!(OtpCode::parse(bad, 4), Err(InvalidCodeFormat(4)), "{bad}");
    }
}

#[test]
fn the_hash_depends_on_the_key_the_phone_and_the_code() {
    let code = OtpCode::parse("1234", 4).unwrap();
    let other_phone = PhoneNumber::from_trusted("+79990000000".into());
    let a = CodeHasher::new(b"a".repeat(32));
    let b = CodeHasher::new(b"b".repeat(32));
    assert_eq!(a.hash(&phone(), &code), a.hash(&phone(), &code));
    assert_ne!(a.hash(&phone(), &code), b.hash(&phone(), &code));
    assert_ne!(a.hash(&phone(), &code), a.hash(&other_phone, &code));
    assert_ne!(a.hash(&phone(), &code), hash_of("1235"));
}

#[test]
fn secrets_do_not_show_in_debug_output() {
    let code = OtpCode::parse("4321", 4).unwrap();
    assert!(!format!("{code:?}").contains("4321"));
}

#[test]
fn the_right_code_verifies_once_and_then_counts_as_used() {
    let policy = OtpPolicy::default();
    let state = sent("1234", T0);
    let (next, outcome) = state.verify(T0 + 10, &policy, &me(), hash_of("1234"));
    assert_eq!(outcome, VerifyOutcome::Verified);
    let next = next.unwrap();
    assert_eq!(
        next.verify(T0 + 11, &policy, &me(), hash_of("1234")).1,
        VerifyOutcome::Invalid
    );
}

#[test]
fn a_code_expires_after_its_ttl() {
    let state = sent("1234", T0);
    let policy = OtpPolicy::default();
    assert_eq!(
        state.verify(T0 + 299, &policy, &me(), hash_of("1234")).1,
        VerifyOutcome::Verified
    );
    assert_eq!(
        state.verify(T0 + 300, &policy, &me(), hash_of("1234")).1,
        VerifyOutcome::Invalid
    );
}

#[test]
fn no_pending_code_reads_as_invalid() {
    let (next, outcome) =
        OtpState::default().verify(T0, &OtpPolicy::default(), &me(), hash_of("1234"));
    assert_eq!((next, outcome), (None, VerifyOutcome::Invalid));
}

#[test]
fn wrong_codes_from_anyone_count_down_and_the_last_one_burns_the_code() {
    let policy = OtpPolicy::default();
    let mut state = sent("1234", T0);
    for left in (1..5).rev() {
        let guesser = client(&format!("guesser {left}"));
        let (next, outcome) = state.verify(T0 + 1, &policy, &guesser, hash_of("0000"));
        // Strangers hear nothing of the code, yet their tries count against it.
        assert_eq!(outcome, VerifyOutcome::Invalid);
        state = next.unwrap();
        assert_eq!(state.attempts, 5 - left);
    }
    let (next, outcome) = state.verify(T0 + 1, &policy, &me(), hash_of("0000"));
    assert_eq!(outcome, VerifyOutcome::Burned { retry_after: 59 });
    let burned = next.unwrap();
    // Even the right code is refused once the code is burned.
    assert_eq!(
        burned.verify(T0 + 2, &policy, &me(), hash_of("1234")),
        (None, VerifyOutcome::Burned { retry_after: 58 })
    );
    // To anyone else a burned code is no code at all.
    assert_eq!(
        burned.verify(T0 + 2, &policy, &client("other"), hash_of("1234")),
        (None, VerifyOutcome::Invalid)
    );
}

#[test]
fn only_the_client_that_asked_for_the_code_hears_how_many_tries_are_left() {
    let policy = OtpPolicy::default();
    let state = sent("1234", T0);
    let (_, mine) = state.verify(T0 + 1, &policy, &me(), hash_of("0000"));
    assert_eq!(mine, VerifyOutcome::Wrong { attempts_left: 4 });
    let stranger = client("stranger");
    let (next, theirs) = state.verify(T0 + 1, &policy, &stranger, hash_of("0000"));
    assert_eq!(theirs, VerifyOutcome::Invalid);
    // Their wrong code is still recorded against the phone and the code.
    let next = next.unwrap();
    assert_eq!(next.attempts, 1);
    assert_eq!(next.failures.last().map(|m| &m.client), Some(&stranger));
    // A stranger's last try burns the code without saying so.
    let mut worn = state.clone();
    worn.attempts = policy.max_attempts - 1;
    assert_eq!(
        worn.verify(T0 + 1, &policy, &stranger, hash_of("0000")).1,
        VerifyOutcome::Invalid
    );
    // Once someone else asks for a code, the first client is a stranger to it.
    let taken = state
        .send(T0 + 2, &policy, &stranger, hash_of("5678"))
        .unwrap();
    assert_eq!(
        taken.verify(T0 + 3, &policy, &me(), hash_of("0000")).1,
        VerifyOutcome::Invalid
    );
    assert_eq!(
        taken.verify(T0 + 3, &policy, &stranger, hash_of("0000")).1,
        VerifyOutcome::Wrong { attempts_left: 4 }
    );
}

#[test]
fn a_new_code_resets_the_attempts() {
    let policy = OtpPolicy::default();
    let (next, _) = sent("1234", T0).verify(T0 + 1, &policy, &me(), hash_of("0000"));
    let resent = next
        .unwrap()
        .send(T0 + 60, &policy, &me(), hash_of("5678"))
        .unwrap();
    assert_eq!(resent.attempts, 0);
    assert_eq!(
        resent.verify(T0 + 61, &policy, &me(), hash_of("1234")).1,
        VerifyOutcome::Wrong { attempts_left: 4 }
    );
    assert_eq!(
        resent.verify(T0 + 61, &policy, &me(), hash_of("5678")).1,
        VerifyOutcome::Verified
    );
}

#[test]
fn resending_waits_for_the_clients_own_cooldown() {
    let policy = OtpPolicy::default();
    let state = sent("1234", T0);
    assert_eq!(
        state.send(T0 + 45, &policy, &me(), hash_of("1111")),
        Err(SendRejected::TooSoon { retry_after: 15 })
    );
    assert!(state.send(T0 + 60, &policy, &me(), hash_of("1111")).is_ok());
    // Someone else's send does not hold the owner back.
    assert!(
        state
            .send(T0 + 1, &policy, &client("owner"), hash_of("1111"))
            .is_ok()
    );
}

#[test]
fn at_most_five_codes_an_hour_per_client() {
    let policy = OtpPolicy::default();
    let mut state = OtpState::default();
    for i in 0..5 {
        state = state
            .send(T0 + i * 60, &policy, &me(), hash_of("1111"))
            .unwrap();
    }
    assert_eq!(
        state.send(T0 + 300, &policy, &me(), hash_of("1111")),
        Err(SendRejected::HourlyLimit { retry_after: 3_300 })
    );
    // Another client still gets codes to the phone.
    assert!(
        state
            .send(T0 + 300, &policy, &client("owner"), hash_of("1111"))
            .is_ok()
    );
    // An hour after the first send, one slot is free again.
    let later = state
        .send(T0 + 3_600, &policy, &me(), hash_of("1111"))
        .unwrap();
    let times: Vec<i64> = later.sends.iter().map(|m| m.at).collect();
    assert_eq!(times, [T0 + 60, T0 + 120, T0 + 180, T0 + 240, T0 + 3_600]);
    assert!(matches!(
        later.send(T0 + 3_640, &policy, &me(), hash_of("1111")),
        Err(SendRejected::TooSoon { .. })
    ));
    assert!(
        later
            .send(T0 + 3_660, &policy, &me(), hash_of("1111"))
            .is_ok()
    );
}

#[test]
fn the_phone_takes_at_most_ten_codes_an_hour_from_all_clients() {
    let policy = OtpPolicy::default();
    let mut state = OtpState::default();
    for i in 0..10 {
        state = state
            .send(T0 + i, &policy, &client(&format!("c{i}")), hash_of("1111"))
            .unwrap();
    }
    assert_eq!(
        state.send(T0 + 20, &policy, &client("owner"), hash_of("1111")),
        Err(SendRejected::HourlyLimit { retry_after: 3_580 })
    );
    assert_eq!(state.sends.len(), 10);
}

#[test]
fn a_burst_across_an_hour_boundary_is_still_capped() {
    let policy = OtpPolicy::default();
    let mut state = OtpState::default();
    for i in 0..5 {
        state = state
            .send(T0 + 3_360 + i * 60, &policy, &me(), hash_of("1111"))
            .unwrap();
    }
    // A fixed window starting at T0 would reset at T0 + 3600 and let five more through.
    for now in [T0 + 3_660, T0 + 3_840, T0 + 6_900] {
        assert_eq!(
            state.send(now, &policy, &me(), hash_of("1111")),
            Err(SendRejected::HourlyLimit {
                retry_after: T0 + 3_360 + 3_600 - now
            })
        );
    }
    assert!(
        state
            .send(T0 + 6_960, &policy, &me(), hash_of("1111"))
            .is_ok()
    );
}

#[test]
fn wrong_codes_count_over_a_rolling_day() {
    let policy = OtpPolicy::default();
    let mut state = sent("1234", T0 + 90_000);
    state.failures = failures((0..10).map(|i| T0 + 80_000 + i * 10), &me());
    // A fixed day starting at T0 would have ended at T0 + 86400.
    assert_eq!(
        state.verify(T0 + 90_001, &policy, &me(), hash_of("1234")).1,
        VerifyOutcome::Locked {
            retry_after: T0 + 80_000 + 86_400 - (T0 + 90_001)
        }
    );
    // Once the oldest failure is a day old, one more try is allowed, and a wrong one locks again.
    let at = T0 + 80_000 + 86_400;
    let fresh = state.send(at, &policy, &me(), hash_of("1234")).unwrap();
    let (next, outcome) = fresh.verify(at, &policy, &me(), hash_of("0000"));
    assert_eq!(outcome, VerifyOutcome::Wrong { attempts_left: 4 });
    let next = next.unwrap();
    assert_eq!(next.failures.len(), 10);
    // Locked until the second-oldest failure (T0 + 80010) is a day old.
    assert_eq!(
        next.verify(at + 1, &policy, &me(), hash_of("1234")).1,
        VerifyOutcome::Locked { retry_after: 9 }
    );
}

#[test]
fn ten_wrong_codes_in_a_day_lock_that_client_out_until_the_window_ends() {
    let policy = OtpPolicy::default();
    let mut state = OtpState::default();
    let mut now = T0;
    let mut wrong = 0;
    while wrong < 10 {
        state = state
            .send(now, &policy, &me(), hash_of("1234"))
            .unwrap_or_else(|_| state.clone());
        for _ in 0..2 {
            let (next, _) = state.verify(now, &policy, &me(), hash_of("0000"));
            state = next.unwrap();
            wrong += 1;
        }
        now += 3_600;
    }
    let fresh = state.send(now, &policy, &me(), hash_of("1234"));
    let Err(SendRejected::Locked { retry_after }) = fresh else {
        panic!("expected lockout, got {fresh:?}")
    };
    assert_eq!(retry_after, T0 + 86_400 - now);
    // The right code is refused too while locked.
    let mut pending = state.clone();
    pending.code_hash = Some(hash_of("1234"));
    pending.expires_at = now + 100;
    pending.attempts = 0;
    assert!(matches!(
        pending.verify(now, &policy, &me(), hash_of("1234")).1,
        VerifyOutcome::Locked { .. }
    ));
    // A day after the first failure the client may try again.
    assert_eq!(
        pending
            .verify(T0 + 86_400, &policy, &me(), hash_of("1234"))
            .1,
        VerifyOutcome::Invalid
    );
    assert!(
        state
            .send(T0 + 86_400, &policy, &me(), hash_of("1234"))
            .is_ok()
    );
}

#[test]
fn a_lockout_caused_by_someone_else_leaves_the_owner_a_fresh_code() {
    let policy = OtpPolicy::default();
    let attacker = client("attacker");
    let state = OtpState {
        failures: failures((0..10).map(|i| T0 + i), &attacker),
        ..OtpState::default()
    };
    assert!(matches!(
        state.send(T0 + 20, &policy, &attacker, hash_of("1234")),
        Err(SendRejected::Locked { .. })
    ));
    let owner = client("owner");
    let fresh = state
        .send(T0 + 20, &policy, &owner, hash_of("4321"))
        .unwrap();
    assert_eq!(
        fresh.verify(T0 + 30, &policy, &owner, hash_of("4321")).1,
        VerifyOutcome::Verified
    );
    // The locked-out client cannot even try the owner's code.
    assert!(matches!(
        fresh.verify(T0 + 30, &policy, &attacker, hash_of("4321")).1,
        VerifyOutcome::Locked { .. }
    ));
}

#[test]
fn a_hundred_wrong_codes_a_day_from_all_clients_hold_every_verification() {
    let policy = OtpPolicy::default();
    let mut state = sent("1234", T0 + 1_000);
    state.failures = (0..100)
        .map(|i| Mark {
            at: T0 + i,
            client: client(&format!("c{}", i % 50)),
        })
        .collect();
    assert_eq!(
        state.verify(T0 + 1_001, &policy, &me(), hash_of("1234")).1,
        VerifyOutcome::Locked {
            retry_after: 86_400 - 1_001
        }
    );
    // The guessing odds the ceiling allows: 100 tries of 10,000 codes, 1% a day.
    assert!((policy.daily_guess_odds() - 0.01).abs() < 1e-12);
}

#[test]
fn the_record_is_kept_until_the_last_window_closes() {
    let policy = OtpPolicy::default();
    let state = sent("1234", T0);
    assert_eq!(state.forget_at(), T0 + 3_600);
    let (next, _) = state.verify(T0 + 5, &policy, &me(), hash_of("0000"));
    assert_eq!(next.unwrap().forget_at(), T0 + 5 + 86_400);
}

#[test]
fn a_withdrawn_code_no_longer_logs_in_and_the_phones_limits_stay() {
    let policy = OtpPolicy::default();
    let (mut state, _) = sent("1234", T0).verify(T0 + 1, &policy, &me(), hash_of("0000"));
    let state = state
        .take()
        .unwrap()
        .send(T0 + 61, &policy, &me(), hash_of("5678"))
        .unwrap();
    let withdrawn = state.withdrawn();
    assert_eq!(withdrawn.code_hash, None);
    assert_eq!(
        (&withdrawn.sends, &withdrawn.failures),
        (&state.sends, &state.failures)
    );
    assert_eq!(withdrawn.forget_at(), state.forget_at());
    assert_eq!(
        withdrawn.verify(T0 + 62, &policy, &me(), hash_of("5678")).1,
        VerifyOutcome::Invalid
    );
    // The sends still count against the phone's hourly cap and the cooldown.
    assert!(
        withdrawn
            .send(T0 + 62, &policy, &me(), hash_of("1111"))
            .is_err()
    );
}
