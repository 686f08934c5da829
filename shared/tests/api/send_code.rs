use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::json;

use crate::helpers::{app, app_with, event, random_phone};

#[tokio::test]
async fn sending_a_code_normalises_the_phone_and_says_when_it_expires() {
    let app = app().await;
    let national = format!("8 ({}) {}-{}-{}", &random_phone()[2..5], "123", "45", "67");
    let resp = app.send_code(&national).await;
    assert_eq!(resp.status, 200, "{resp:#?}");
    assert_eq!(resp.header("content-type"), Some("application/json"));
    assert_eq!(resp.body["phone"], format!("+7{}1234567", &national[3..6]));
    assert_eq!(resp.body["expires_in"], 300);
    assert_eq!(resp.body["resend_in"], 60);
    let code = resp.body["code"].as_str().unwrap();
    assert!(
        code.len() == 4 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
}

#[tokio::test]
async fn codes_stay_out_of_the_response_outside_demo_mode() {
    let app = app_with(&[("EXPOSE_CODES", "false")]).await;
    let resp = app.send_code(&random_phone()).await;
    assert_eq!(resp.status, 200);
    assert!(resp.body.get("code").is_none(), "{resp:#?}");
}

#[tokio::test]
async fn the_code_is_stored_only_as_a_keyed_hash() {
    let app = app().await;
    let phone = random_phone();
    let code = app.code_for(&phone).await;
    let client = shared::state::dynamodb_client(app.state.config.dynamodb_endpoint.as_deref());
    let item = client
        .get_item()
        .table_name(&app.state.config.tables.otp)
        .key("phone", AttributeValue::S(phone.clone()))
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    assert!(item.contains_key("code_hash") && item.contains_key("ttl"));
    let dump = format!("{item:?}");
    assert!(
        !item
            .values()
            .any(|v| v.as_s().is_ok_and(|s| s.contains(&code))),
        "plain code stored: {dump}"
    );
}

#[tokio::test]
async fn the_simulated_sms_takes_the_configured_delay() {
    let app = app_with(&[("SMS_DELAY_MS", "300-400")]).await;
    let started = Instant::now();
    assert_eq!(app.send_code(&random_phone()).await.status, 200);
    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn an_invalid_phone_is_a_400() {
    let app = app().await;
    for phone in ["", "123", "not a phone", "+7 000 000 00 00"] {
        app.send_code(phone)
            .await
            .assert_problem(400, "invalid_phone");
    }
}

#[tokio::test]
async fn bad_bodies_get_clear_4xx_problems() {
    let app = app().await;
    let send = |headers: &'static [(&'static str, &'static str)], body: String| {
        let app = &app;
        async move {
            app.call_event(&event("POST", "/v1/auth/send-code", headers, Some(&body)))
                .await
        }
    };
    let json_ct: &[(&str, &str)] = &[("content-type", "application/json")];
    send(&[], r#"{"phone":"+79991234567"}"#.into())
        .await
        .assert_problem(415, "unsupported_media_type");
    send(
        &[("content-type", "text/plain")],
        r#"{"phone":"+79991234567"}"#.into(),
    )
    .await
    .assert_problem(415, "unsupported_media_type");
    send(json_ct, "{\"phone\":".into())
        .await
        .assert_problem(400, "malformed_json");
    send(json_ct, "{}".into())
        .await
        .assert_problem(400, "invalid_body");
    send(json_ct, r#"{"phone": 79991234567}"#.into())
        .await
        .assert_problem(400, "invalid_body");
    send(json_ct, json!({ "phone": "1".repeat(20_000) }).to_string())
        .await
        .assert_problem(413, "payload_too_large");
}

#[tokio::test]
async fn asking_again_within_the_cooldown_is_429_with_retry_after() {
    let app = app().await;
    let phone = random_phone();
    assert_eq!(app.send_code(&phone).await.status, 200);
    let again = app.send_code(&phone).await;
    again.assert_problem(429, "resend_too_soon");
    let retry: i64 = again.header("retry-after").unwrap().parse().unwrap();
    assert!((59..=60).contains(&retry), "{retry}");
    app.state.clock.advance(Duration::from_secs(60));
    assert_eq!(app.send_code(&phone).await.status, 200);
}

#[tokio::test]
async fn the_hourly_cap_stops_sends_until_the_hour_is_over() {
    let app = app_with(&[("OTP_RESEND_SECONDS", "0"), ("OTP_MAX_SENDS_PER_HOUR", "3")]).await;
    let phone = random_phone();
    for _ in 0..3 {
        assert_eq!(app.send_code(&phone).await.status, 200);
    }
    let capped = app.send_code(&phone).await;
    capped.assert_problem(429, "too_many_codes");
    let retry: i64 = capped.header("retry-after").unwrap().parse().unwrap();
    assert!((3_590..=3_600).contains(&retry), "{retry}");
    app.state.clock.advance(Duration::from_secs(3_600));
    assert_eq!(app.send_code(&phone).await.status, 200);
}

#[tokio::test]
async fn an_unreachable_database_is_a_503_with_retry_after() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let app = app_with(&[("DYNAMODB_ENDPOINT", &format!("http://127.0.0.1:{port}"))]).await;
    let resp = app.send_code(&random_phone()).await;
    resp.assert_problem(503, "service_unavailable");
    assert!(resp.header("retry-after").is_some());
}

#[tokio::test]
async fn a_body_that_is_not_utf8_is_malformed_json() {
    use base64::Engine;
    let app = app().await;
    // API Gateway hands a binary body over base64-encoded.
    let mut ev: serde_json::Value = serde_json::from_str(&event(
        "POST",
        "/v1/auth/send-code",
        &[("content-type", "application/json")],
        None,
    ))
    .unwrap();
    ev["body"] =
        json!(base64::engine::general_purpose::STANDARD.encode(b"{\"phone\": \"x\xff\xfe\"}"));
    ev["isBase64Encoded"] = json!(true);
    app.call_event(&ev.to_string())
        .await
        .assert_problem(400, "malformed_json");
}
