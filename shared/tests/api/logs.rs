use crate::helpers::{app_with, logged_at_trace, random_phone};

/// Runs a login with everything logged at TRACE (through the production caps) and returns the
/// log text, the phone, the code and the token.
fn logged_login(expose_codes: &str) -> (String, String, String, String) {
    let ((phone, code, token), logs) = logged_at_trace(async {
        let app = app_with(&[("EXPOSE_CODES", expose_codes)]).await;
        let phone = random_phone();
        assert_eq!(app.send_code(&phone).await.status, 200);
        // Outside demo mode the test finds the code the way an attacker cannot: by trying
        // all 10,000 against the stored hash with the server's key.
        let parsed = shared::domain::PhoneNumber::parse(
            &phone,
            shared::domain::phone::parse_region("RU").unwrap(),
        )
        .unwrap();
        let stored = app
            .state
            .store
            .otp_state(&parsed)
            .await
            .unwrap()
            .code_hash
            .unwrap();
        let code = (0..10_000)
            .map(|n| format!("{n:04}"))
            .find(|c| {
                let candidate = shared::domain::OtpCode::parse(c, 4).unwrap();
                app.state.hasher.hash(&parsed, &candidate) == stored
            })
            .unwrap();
        let wrong = if code == "0000" { "1111" } else { "0000" };
        assert_eq!(app.verify(&phone, wrong).await.status, 401);
        let ok = app.verify(&phone, &code).await;
        assert_eq!(ok.status, 201);
        let token = ok.body["access_token"].as_str().unwrap().to_owned();
        assert_eq!(app.profile(&token).await.status, 200);
        (phone, code, token)
    });
    (logs, phone, code, token)
}

#[test]
fn logs_hold_no_code_token_or_full_phone_outside_demo_mode() {
    let (logs, phone, code, token) = logged_login("false");
    let masked = format!("{}*******{}", &phone[..3], &phone[phone.len() - 2..]);
    assert!(
        logs.contains(&masked),
        "the delivery is logged with the masked phone:\n{logs}"
    );
    assert!(
        !logs.contains(&phone[1..]),
        "a full phone number was logged:\n{logs}"
    );
    assert!(!logs.contains(&token), "a token was logged");
    assert!(
        !logs.contains(&format!("code=\"{code}\"")) && !logs.contains("code=\""),
        "a code was logged:\n{logs}"
    );
}

#[test]
fn demo_mode_logs_the_code_for_the_tester() {
    let (logs, phone, code, _) = logged_login("true");
    assert!(logs.contains(&format!("code=\"{code}\"")), "{logs}");
    assert!(!logs.contains(&phone[1..]));
}
