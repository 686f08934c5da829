//! Behind the production edge (`EDGE_SECRET`): requests that bypass CloudFront are refused before
//! any work, and the limits count the viewer's address CloudFront reports, never one a caller
//! could write itself.
use serde_json::json;
use shared::testing::event_from;

use crate::helpers::{Calls, Resp, TestApp, app_intercepted, app_with, random_ip, random_phone};

const EDGE_SECRET: &str = "edge-secret-edge-secret-edge-secret-0123";

/// A send-code as it reaches the function from `source_ip` with these extra headers.
async fn send_code_with(app: &TestApp, source_ip: &str, headers: &[(&str, &str)]) -> Resp {
    let body = json!({ "phone": random_phone() }).to_string();
    let mut all = vec![("content-type", "application/json")];
    all.extend_from_slice(headers);
    app.call_event(&event_from(
        source_ip,
        "POST",
        "/v1/auth/send-code",
        &all,
        Some(&body),
    ))
    .await
}

/// A viewer address as CloudFront writes it: the address, a colon, the source port.
fn viewer(ip: &str) -> String {
    format!("{ip}:{}", rand::random_range(1024..65535u16))
}

#[tokio::test]
async fn with_an_edge_secret_requests_without_the_right_origin_header_get_403_before_any_work() {
    let calls = Calls::default();
    let app = app_intercepted(&[("EDGE_SECRET", EDGE_SECRET)], calls.clone()).await;
    let wrong_same_length = format!("{}x", &EDGE_SECRET[..EDGE_SECRET.len() - 1]);
    let prefix = &EDGE_SECRET[..10];
    let longer = format!("{EDGE_SECRET}0");
    let headers: [&[(&str, &str)]; 5] = [
        &[],
        &[("x-origin-verify", &wrong_same_length)],
        &[("x-origin-verify", prefix)],
        &[("x-origin-verify", &longer)],
        &[("x-origin-verify", "")],
    ];
    for extra in headers {
        let body = json!({ "phone": random_phone(), "code": "123456" }).to_string();
        let mut with_json = vec![("content-type", "application/json")];
        with_json.extend_from_slice(extra);
        let mut with_token = vec![("authorization", "Bearer x.y.z")];
        with_token.extend_from_slice(extra);
        let requests = [
            ("POST", "/v1/auth/send-code", with_json.clone(), Some(&body)),
            (
                "POST",
                "/v1/auth/verify-code",
                with_json.clone(),
                Some(&body),
            ),
            ("GET", "/v1/profile", with_token.clone(), None),
            ("POST", "/v1/auth/logout", with_token, None),
            ("GET", "/", extra.to_vec(), None),
            ("GET", "/openapi.json", extra.to_vec(), None),
            ("GET", "/no/such/path", extra.to_vec(), None),
        ];
        for (method, path, headers, body) in requests {
            let event = event_from(
                &random_ip(),
                method,
                path,
                &headers,
                body.map(String::as_str),
            );
            let resp = app.call_event(&event).await;
            resp.assert_problem(403, "direct_access_refused");
            assert_eq!(resp.header("ratelimit"), None, "{method} {path}");
        }
    }
    assert_eq!(*calls.0.lock().unwrap(), Vec::<String>::new());
}

#[tokio::test]
async fn with_the_right_origin_header_every_function_serves_as_before() {
    let app = app_with(&[("EDGE_SECRET", EDGE_SECRET)]).await;
    let sent = send_code_with(&app, &random_ip(), &[("x-origin-verify", EDGE_SECRET)]).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    let page = app
        .call_event(&event_from(
            &random_ip(),
            "GET",
            "/",
            &[("x-origin-verify", EDGE_SECRET)],
            None,
        ))
        .await;
    assert_eq!(page.status, 200);
}

#[tokio::test]
async fn behind_the_edge_the_limits_count_the_viewer_address_not_cloudfronts() {
    let app = app_with(&[("EDGE_SECRET", EDGE_SECRET), ("IP_MAX_SENDS_PER_HOUR", "2")]).await;
    app.start_own_hour();
    // One CloudFront server forwards for two viewers; each has its own two sends.
    let cloudfront = random_ip();
    let (first, second) = (
        random_ip(),
        format!("2001:db8:{:x}::7", rand::random::<u16>()),
    );
    for viewer_ip in [&first, &second] {
        for _ in 0..2 {
            let headers = [
                ("x-origin-verify", EDGE_SECRET),
                ("cloudfront-viewer-address", &viewer(viewer_ip)),
            ];
            let resp = send_code_with(&app, &cloudfront, &headers).await;
            assert_eq!(resp.status, 200, "{viewer_ip}: {resp:#?}");
        }
    }
    let headers = [
        ("x-origin-verify", EDGE_SECRET),
        ("cloudfront-viewer-address", &viewer(&first)),
    ];
    send_code_with(&app, &cloudfront, &headers)
        .await
        .assert_problem(429, "client_send_limit");
    // The viewer's third send is refused from another CloudFront server too.
    send_code_with(&app, &random_ip(), &headers)
        .await
        .assert_problem(429, "client_send_limit");
}

#[tokio::test]
async fn without_an_edge_secret_a_viewer_address_header_is_a_callers_own_words_and_ignored() {
    let app = app_with(&[("IP_MAX_SENDS_PER_HOUR", "2")]).await;
    app.start_own_hour();
    let source = random_ip();
    for _ in 0..2 {
        let headers = [
            ("x-origin-verify", EDGE_SECRET),
            ("cloudfront-viewer-address", &viewer(&random_ip())),
        ];
        let resp = send_code_with(&app, &source, &headers).await;
        assert_eq!(resp.status, 200, "{resp:#?}");
    }
    let headers = [("cloudfront-viewer-address", viewer(&random_ip()))];
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    send_code_with(&app, &source, &headers)
        .await
        .assert_problem(429, "client_send_limit");
}
