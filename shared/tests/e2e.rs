//! End to end over HTTP: every function runs under `cargo lambda watch`, which routes requests
//! with the router in the root Cargo.toml (the same method + path pairs as template.yaml), with
//! parallel instances as on Lambda, against the DynamoDB Local of `scripts/with-dynamodb.sh`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs::File;
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use shared::testing::{HttpApi, random_phone};

/// `cargo lambda watch` and the function processes it spawns, in their own process group, which
/// is stopped (by the group's PID) when this value drops, whether the test passed or panicked.
struct LocalStack {
    child: Child,
    base: String,
}

impl LocalStack {
    fn start() -> Self {
        let endpoint = std::env::var("DYNAMODB_ENDPOINT")
            .expect("DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local");
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
        let log = File::create(root.join("target/e2e-cargo-lambda-watch.log")).unwrap();
        let child = Command::new("cargo")
            .args([
                "lambda",
                "watch",
                // No hot reload: files written while the test runs must not restart functions.
                "--ignore-changes",
                "-A",
                "127.0.0.1",
                "-P",
                &port.to_string(),
                "--concurrency",
                "4",
            ])
            .current_dir(&root)
            .env("DYNAMODB_ENDPOINT", endpoint)
            .env("JWT_SECRET", "end-to-end-test-secret-0123456789abcdef")
            .env("SMS_DELAY_MS", "0")
            .env("EXPOSE_CODES", "true")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("cargo lambda is installed (make setup)");
        let stack = Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "cargo lambda watch did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        stack
    }
}

impl Drop for LocalStack {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
        let _ = self.child.wait();
    }
}

/// A request that must get an answer; the answer's (status, body).
async fn send(
    api: &HttpApi,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> (u16, Value) {
    api.send(method, path, token, body.as_ref()).await.unwrap()
}

/// A first login: (token, profile).
async fn login(api: &HttpApi, phone: &str) -> (String, Value) {
    let (status, verified) = api.login(phone).await.unwrap();
    assert_eq!(status, 201, "{verified}");
    (
        verified["access_token"].as_str().unwrap().to_owned(),
        verified["profile"].clone(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_whole_flow_works_over_http_on_the_api_gateway_routes() {
    let stack = LocalStack::start();
    let mut client = HttpApi::new(stack.base.clone());
    // The first request to each function waits for cargo to build it.
    client.http = reqwest::Client::builder()
        .timeout(Duration::from_secs(600))
        .build()
        .unwrap();

    // Login with a national-format number; the profile shows E.164.
    let phone_a = random_phone();
    let national = format!(
        "8 ({}) {}-{}-{}",
        &phone_a[2..5],
        &phone_a[5..8],
        &phone_a[8..10],
        &phone_a[10..]
    );
    let (token_a, profile_a) = login(&client, &national).await;
    assert_eq!(profile_a["phone"], phone_a.as_str());
    let (status, me) = send(&client, "GET", "/v1/profile", Some(&token_a), None).await;
    assert_eq!(
        (status, &me["invite_code"]),
        (200, &profile_a["invite_code"])
    );

    // A second user activates A's code; A sees them.
    let phone_b = random_phone();
    let (token_b, _) = login(&client, &phone_b).await;
    let (status, b) = send(
        &client,
        "POST",
        "/v1/profile/invite-code",
        Some(&token_b),
        Some(json!({ "invite_code": profile_a["invite_code"] })),
    )
    .await;
    assert_eq!(status, 200, "{b}");
    assert_eq!(b["activated_invite_code"], profile_a["invite_code"]);
    let (_, me) = send(&client, "GET", "/v1/profile", Some(&token_a), None).await;
    assert_eq!(me["referrals_count"], 1);
    assert_eq!(me["referrals"][0]["phone"], phone_b.as_str());
    let (status, page) = send(
        &client,
        "GET",
        "/v1/profile/referrals?limit=1",
        Some(&token_a),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        page,
        json!({ "items": me["referrals"], "next_cursor": null })
    );

    // Errors are problem+json with their codes, also through the gateway emulation.
    let resp = client
        .http
        .post(format!("{}/v1/auth/send-code", stack.base))
        .header("content-type", "text/plain")
        .body("phone=1")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 415);
    assert_eq!(resp.headers()["content-type"], "application/problem+json");
    let resp = client
        .http
        .get(format!("{}/v1/profile", stack.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 401);
    assert_eq!(resp.headers()["www-authenticate"], "Bearer");

    // Two instances verify the same code at once: exactly one gets in.
    let phone_c = random_phone();
    let (_, sent) = send(
        &client,
        "POST",
        "/v1/auth/send-code",
        None,
        Some(json!({ "phone": phone_c })),
    )
    .await;
    let body = json!({ "phone": phone_c, "code": sent["code"] });
    let verify = || {
        send(
            &client,
            "POST",
            "/v1/auth/verify-code",
            None,
            Some(body.clone()),
        )
    };
    let (one, two) = tokio::join!(verify(), verify());
    let mut statuses = [one.0, two.0];
    statuses.sort_unstable();
    assert_eq!(statuses, [201, 401], "{one:?} {two:?}");

    // Logout revokes the token.
    let (status, _) = send(&client, "POST", "/v1/auth/logout", Some(&token_a), None).await;
    assert_eq!(status, 204);
    let (status, problem) = send(&client, "GET", "/v1/profile", Some(&token_a), None).await;
    assert_eq!(
        (status, problem["code"].as_str()),
        (401, Some("token_revoked"))
    );
}
