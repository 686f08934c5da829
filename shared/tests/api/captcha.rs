//! The optional CAPTCHA on send-code, against a siteverify endpoint the tests run themselves on
//! 127.0.0.1: it speaks the providers' documented request (a form POST of `secret`, `response`,
//! `remoteip`, and hCaptcha's `sitekey`) and answer (`{"success": ..., "error-codes": [...]}`),
//! and is started and stopped by each test.
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::{
    Calls, Resp, TestApp, app_intercepted, app_with, logged_at_trace, parsed, random_ip,
    random_phone,
};

const SECRET: &str = "0x4AAAAAAAtest-secret";
const PATH: &str = "/turnstile/v0/siteverify";

/// Tokens the endpoint knows, and what it does with them.
const PASS: &str = "XXXX.DUMMY.TOKEN.XXXX";
const REFUSE: &str = "refused-token";
const USED: &str = "used-token";
const FAIL_500: &str = "provider-500";
const GARBAGE: &str = "provider-garbage";
const SLOW: &str = "provider-slow";

/// A siteverify endpoint on a thread of its own; stopped (and its thread joined) when dropped.
struct Siteverify {
    url: String,
    seen: Arc<Mutex<Vec<HashMap<String, String>>>>,
    stop: Arc<AtomicBool>,
    port: u16,
    thread: Option<JoinHandle<()>>,
}

impl Siteverify {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen_by, stop_by) = (seen.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stop_by.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(stream) = stream {
                    let seen = seen_by.clone();
                    // One thread a connection: a slow answer must not hold the next request.
                    std::thread::spawn(move || answer(stream, &seen));
                }
            }
        });
        Self {
            url: format!("http://127.0.0.1:{port}{PATH}"),
            seen,
            stop,
            port,
            thread: Some(thread),
        }
    }

    fn forms(&self) -> Vec<HashMap<String, String>> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for Siteverify {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

/// Reads one request and answers it as Turnstile and hCaptcha document: 200 with JSON, or what
/// the token asks for.
fn answer(stream: TcpStream, seen: &Mutex<Vec<HashMap<String, String>>>) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
        return; // The stop signal's empty connection.
    }
    let mut headers = HashMap::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':').unwrap();
        headers.insert(name.to_ascii_lowercase(), value.trim().to_owned());
    }
    let length: usize = headers["content-length"].parse().unwrap();
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    let form = decode(std::str::from_utf8(&body).unwrap());
    assert_eq!(request_line.trim_end(), format!("POST {PATH} HTTP/1.1"));
    assert_eq!(headers["content-type"], "application/x-www-form-urlencoded");
    seen.lock().unwrap().push(form.clone());
    let token = form.get("response").map(String::as_str).unwrap_or_default();
    let (status, text) = match token {
        _ if form.get("secret").map(String::as_str) != Some(SECRET) => {
            (200, verdict(false, &["invalid-input-secret"]))
        }
        PASS => (200, verdict(true, &[])),
        REFUSE => (200, verdict(false, &["invalid-input-response"])),
        USED => (200, verdict(false, &["timeout-or-duplicate"])),
        FAIL_500 => (500, "oops".to_owned()),
        GARBAGE => (200, "<html>not json</html>".to_owned()),
        SLOW => {
            std::thread::sleep(Duration::from_secs(5));
            (200, verdict(true, &[]))
        }
        _ => (200, verdict(false, &["invalid-input-response"])),
    };
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{text}",
        text.len()
    );
}

fn verdict(success: bool, codes: &[&str]) -> String {
    json!({
        "success": success,
        "error-codes": codes,
        "challenge_ts": "2026-12-04T21:00:00.000Z",
        "hostname": "localhost",
    })
    .to_string()
}

/// `application/x-www-form-urlencoded` back into fields.
fn decode(body: &str) -> HashMap<String, String> {
    let unescape = |text: &str| {
        let bytes = text.replace('+', " ").into_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    };
    body.split('&')
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (unescape(k), unescape(v)))
        .collect()
}

fn settings<'a>(provider: &'a str, url: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("CAPTCHA_PROVIDER", provider),
        ("CAPTCHA_SECRET", SECRET),
        ("CAPTCHA_SITE_KEY", "10000000-ffff-ffff-ffff-000000000001"),
        ("CAPTCHA_VERIFY_URL", url),
    ]
}

async fn send(app: &TestApp, ip: &str, phone: &str, token: Option<&str>) -> Resp {
    let mut body = json!({ "phone": phone });
    if let Some(token) = token {
        body["captcha_token"] = Value::from(token);
    }
    app.post_from(ip, "/v1/auth/send-code", body).await
}

#[tokio::test]
async fn a_token_the_provider_accepts_sends_the_code_and_the_provider_gets_the_documented_form() {
    let provider = Siteverify::start();
    let app = app_with(&settings("turnstile", &provider.url)).await;
    let ip = random_ip();
    let sent = send(&app, &ip, &random_phone(), Some(PASS)).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    let forms = provider.forms();
    assert_eq!(forms.len(), 1);
    assert_eq!(forms[0]["secret"], SECRET);
    assert_eq!(forms[0]["response"], PASS);
    assert_eq!(forms[0]["remoteip"], ip);
    // Turnstile's form has no site key; hCaptcha's does (below).
    assert!(!forms[0].contains_key("sitekey"), "{forms:?}");
}

#[tokio::test]
async fn hcaptcha_is_asked_the_same_way_with_the_site_key_too() {
    let provider = Siteverify::start();
    let app = app_with(&settings("hcaptcha", &provider.url)).await;
    let ip = "2001:db8:5:6::7";
    let sent = send(&app, ip, &random_phone(), Some(PASS)).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    let form = &provider.forms()[0];
    assert_eq!(form["sitekey"], "10000000-ffff-ffff-ffff-000000000001");
    // The whole address, not the /64 the limits count.
    assert_eq!(form["remoteip"], ip);
}

#[tokio::test]
async fn a_missing_token_is_400_captcha_required_and_the_provider_is_not_asked() {
    let provider = Siteverify::start();
    let app = app_with(&settings("turnstile", &provider.url)).await;
    for token in [None, Some(""), Some("  ")] {
        let resp = send(&app, &random_ip(), &random_phone(), token).await;
        resp.assert_problem(400, "captcha_required");
    }
    assert!(provider.forms().is_empty());
    // An invalid phone is still told apart first.
    send(&app, &random_ip(), "12", None)
        .await
        .assert_problem(400, "invalid_phone");
}

#[tokio::test]
async fn a_token_that_cannot_be_one_is_403_captcha_refused_and_the_provider_is_not_asked() {
    let provider = Siteverify::start();
    let app = app_with(&settings("turnstile", &provider.url)).await;
    let too_long = "x".repeat(shared::captcha::MAX_TOKEN_LEN + 1);
    for token in ["two words", "tökén", too_long.as_str()] {
        send(&app, &random_ip(), &random_phone(), Some(token))
            .await
            .assert_problem(403, "captcha_refused");
    }
    assert!(provider.forms().is_empty());
    // Surrounding whitespace is trimmed, as the document's pattern says.
    let sent = send(
        &app,
        &random_ip(),
        &random_phone(),
        Some(" XXXX.DUMMY.TOKEN.XXXX\n"),
    )
    .await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    assert_eq!(provider.forms()[0]["response"], PASS);
}

#[tokio::test]
async fn a_refused_token_is_403_captcha_refused_and_moves_no_counter_and_stores_nothing() {
    let provider = Siteverify::start();
    let calls = Calls::default();
    let mut overrides = settings("turnstile", &provider.url);
    overrides.extend([
        ("IP_MAX_SENDS_PER_HOUR", "1"),
        ("IP_RANGE_MAX_SENDS_PER_HOUR", "1"),
        ("SMS_BUDGET_PER_HOUR", "1"),
        ("SMS_BUDGET_RETURNING_PERCENT", "0"),
    ]);
    let app = app_intercepted(&overrides, calls.clone()).await;
    app.start_own_hour();
    let (ip, phone) = (random_ip(), random_phone());
    for token in [REFUSE, USED] {
        let refused = send(&app, &ip, &phone, Some(token)).await;
        refused.assert_problem(403, "captcha_refused");
        assert!(refused.header("ratelimit").is_none(), "{refused:#?}");
    }
    // Nothing but the phone's first read, made while the provider was asked: no write at all.
    let made = calls.0.lock().unwrap().clone();
    assert_eq!(made, ["BatchGetItem", "BatchGetItem"]);
    let stored = app.state.store.otp_state(&parsed(&phone)).await.unwrap();
    assert_eq!(stored, Default::default());
    // The address's only send, its range's and the hour's only code are all still there.
    let sent = send(&app, &ip, &phone, Some(PASS)).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    assert_eq!(provider.forms().len(), 3);
}

#[tokio::test]
async fn a_provider_that_is_down_slow_or_answers_nonsense_is_503_captcha_unavailable_with_retry_after()
 {
    // A port nobody listens on: connection refused.
    let closed = TcpListener::bind("127.0.0.1:0").unwrap();
    let down = format!(
        "http://127.0.0.1:{}{PATH}",
        closed.local_addr().unwrap().port()
    );
    drop(closed);
    let provider = Siteverify::start();
    let up = app_with(&settings("turnstile", &provider.url)).await;
    let gone = app_with(&settings("turnstile", &down)).await;
    let started = std::time::Instant::now();
    for (app, token) in [(&gone, PASS), (&up, FAIL_500), (&up, GARBAGE), (&up, SLOW)] {
        let phone = random_phone();
        let resp = send(app, &random_ip(), &phone, Some(token)).await;
        resp.assert_problem(503, "captcha_unavailable");
        assert_eq!(resp.header("retry-after"), Some("5"), "{token}");
        let stored = app.state.store.otp_state(&parsed(&phone)).await.unwrap();
        assert_eq!(stored, Default::default(), "{token}");
    }
    // The slow one was given up after the check's 3 seconds, not waited for.
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_provider_that_refuses_our_secret_is_our_fault_a_500_not_the_callers() {
    let provider = Siteverify::start();
    let mut overrides = settings("turnstile", &provider.url);
    overrides.retain(|(k, _)| *k != "CAPTCHA_SECRET");
    overrides.push(("CAPTCHA_SECRET", "a-secret-the-provider-does-not-know"));
    let app = app_with(&overrides).await;
    send(&app, &random_ip(), &random_phone(), Some(PASS))
        .await
        .assert_problem(500, "internal_error");
}

#[tokio::test]
async fn with_the_captcha_off_a_token_is_not_needed_and_ignored_if_sent() {
    let app = app_with(&[]).await;
    assert!(!app.state.captcha.enabled());
    let sent = send(&app, &random_ip(), &random_phone(), Some("anything")).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
    let sent = send(&app, &random_ip(), &random_phone(), None).await;
    assert_eq!(sent.status, 200, "{sent:#?}");
}

#[test]
fn neither_the_captcha_secret_nor_a_token_reaches_the_logs_even_at_trace() {
    let provider = Siteverify::start();
    let ((), logs) = logged_at_trace(async {
        let app = app_with(&settings("turnstile", &provider.url)).await;
        for token in [PASS, REFUSE, FAIL_500] {
            send(&app, &random_ip(), &random_phone(), Some(token)).await;
        }
    });
    // The checks were logged, by their outcome.
    for line in [
        "captcha passed",
        "captcha refused",
        "captcha provider unavailable",
    ] {
        assert!(logs.contains(line), "{line} missing:\n{logs}");
    }
    for secret in [SECRET, PASS, REFUSE, FAIL_500] {
        assert!(!logs.contains(secret), "{secret} in the logs:\n{logs}");
    }
}
