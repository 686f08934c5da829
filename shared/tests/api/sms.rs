//! The SNS sender against moto's SNS emulator (started by `scripts/with-dynamodb.sh`): the code
//! reaches the phone only by SMS, and a failed delivery costs the phone nothing.
use serde_json::Value;

use crate::helpers::{TestApp, app_with, parsed, random_phone};

fn moto_endpoint() -> String {
    std::env::var("MOTO_SNS_ENDPOINT")
        .expect("MOTO_SNS_ENDPOINT is not set: run the tests with `make test`, which starts moto")
}

async fn sns_app(endpoint: &str) -> TestApp {
    app_with(&[
        ("SMS_SENDER", "sns"),
        ("EXPOSE_CODES", "false"),
        ("SNS_ENDPOINT", endpoint),
        ("SMS_TEMPLATE", "Your code: {code} ({minutes} min)"),
    ])
    .await
}

/// The SMS moto accepted for `phone`, oldest first.
async fn sms_to(phone: &str) -> Vec<String> {
    let url = std::env::var("MOTO_SMS_URL").expect("MOTO_SMS_URL (set with MOTO_SNS_ENDPOINT)");
    let all: Vec<Value> = reqwest::get(url).await.unwrap().json().await.unwrap();
    all.iter()
        .filter(|m| m["phone"] == phone)
        .map(|m| m["message"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn a_login_with_real_sms_gets_its_code_only_from_the_sms_to_that_number() {
    let app = sns_app(&moto_endpoint()).await;
    let (phone, bystander) = (random_phone(), random_phone());
    let resp = app.send_code(&phone).await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert!(resp.body.get("code").is_none(), "{resp:#?}");
    assert!(sms_to(&bystander).await.is_empty());
    let texts = sms_to(&phone).await;
    assert_eq!(texts.len(), 1, "{texts:?}");
    let code = texts[0]
        .strip_prefix("Your code: ")
        .and_then(|t| t.strip_suffix(" (5 min)"))
        .unwrap_or_else(|| panic!("unexpected SMS text {:?}", texts[0]));
    let resp = app.verify(&phone, code).await;
    assert_eq!(resp.status, 201, "{resp:#?}");
}

#[tokio::test]
async fn a_failed_delivery_is_503_and_the_phone_may_ask_again_at_once() {
    // Nothing listens on port 9 of the loopback: SNS is unreachable.
    let down = sns_app("http://127.0.0.1:9").await;
    let phone = random_phone();
    let resp = down.send_code(&phone).await;
    resp.assert_problem(503, "sms_unavailable");
    assert!(resp.header("retry-after").is_some(), "{resp:#?}");
    // No cooldown started and no hourly send used: the next request is accepted at once, with
    // the full hourly allowance still there.
    let up = sns_app(&moto_endpoint()).await;
    let resp = up.send_code(&phone).await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert_eq!(sms_to(&phone).await.len(), 1);
    let otp = up.state.store.otp_state(&parsed(&phone)).await.unwrap();
    assert_eq!(otp.sends.len(), 1, "{otp:?}");
}
