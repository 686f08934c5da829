//! Helpers shared by the integration tests, the end-to-end test and the bench (perf; feature
//! `testing`, never in a function binary): API Gateway events, in-process dispatch by the route
//! table, random phones, a test configuration, and logging in over HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::HashMap;

use lambda_http::{Body, Response};
use rand::Rng;
use serde_json::{Value, json};

use crate::api::web::Site;
use crate::api::{profile, send_code, verify_code};
use crate::config::Config;
use crate::routes::{Function, function_for};
use crate::state::AppState;

/// A signing secret for tests only.
pub const TEST_SECRET: &str = "integration-test-secret-0123456789abcdef";

/// The largest per-client limit and SMS budget the configuration takes.
pub const UNLIMITED: &str = "1000000";

/// A random address from TEST-NET-2 (RFC 5737), so a test's per-client counters are its own.
pub fn random_ip() -> String {
    let mut rng = rand::rng();
    format!(
        "198.51.{}.{}",
        rng.random_range(0..=255u8),
        rng.random_range(1..=254u8)
    )
}

/// A random valid Russian mobile number, so tests never share a phone: +7 9xx, without 930,
/// where libphonenumber's metadata leaves some ranges unassigned.
pub fn random_phone() -> String {
    let mut rng = rand::rng();
    let operator = loop {
        let n = rng.random_range(0..100u32);
        if n != 30 {
            break n;
        }
    };
    format!("+79{operator:02}{:07}", rng.random_range(0..10_000_000u32))
}

/// An API Gateway HTTP API (payload 2.0) event, as the gateway would send it for this request
/// from `source_ip`.
pub fn event_from(
    source_ip: &str,
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> String {
    let (path, query) = path_and_query
        .split_once('?')
        .unwrap_or((path_and_query, ""));
    let mut params = serde_json::Map::new();
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        params.insert(k.to_owned(), json!(v));
    }
    let headers: serde_json::Map<String, Value> = headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), json!(v)))
        .collect();
    let route_key = format!("{method} {path}");
    json!({
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": headers,
        "queryStringParameters": if params.is_empty() { Value::Null } else { Value::Object(params) },
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "tests" },
            "requestId": "test-request",
            "routeKey": route_key,
            "stage": "$default",
            "time": "23/Nov/2026:00:00:00 +0000",
            "timeEpoch": 1_795_000_000_000_i64
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
}

/// [`event_from`] the loopback address.
pub fn event(
    method: &str,
    path_and_query: &str,
    headers: &[(&str, &str)],
    body: Option<&str>,
) -> String {
    event_from("127.0.0.1", method, path_and_query, headers, body)
}

/// A JSON request's event, with a bearer token if given.
pub fn json_event(method: &str, path: &str, token: Option<&str>, body: Option<&Value>) -> String {
    let auth = token.map(|t| format!("Bearer {t}"));
    let mut headers = vec![("content-type", "application/json")];
    if let Some(a) = &auth {
        headers.push(("authorization", a));
    }
    let body = body.map(Value::to_string);
    event(method, path, &headers, body.as_deref())
}

/// Settings for tests: no SMS delay, codes exposed, DynamoDB Local from `DYNAMODB_ENDPOINT`
/// (and table names from the environment), the per-client limits and the SMS budget out of reach
/// (every test comes from one address and shares the hour's counters; the tests of those limits
/// set them small and use their own addresses and hours), everything else the production
/// default, then `overrides`.
pub fn test_config(overrides: &[(&str, &str)]) -> Config {
    let mut env: HashMap<String, String> = [
        ("JWT_SECRET", TEST_SECRET),
        ("SMS_DELAY_MS", "0"),
        ("EXPOSE_CODES", "true"),
        ("IP_MAX_SENDS_PER_HOUR", UNLIMITED),
        ("IP_MAX_FAILURES_PER_HOUR", UNLIMITED),
        ("SMS_BUDGET_PER_HOUR", UNLIMITED),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    for name in [
        "DYNAMODB_ENDPOINT",
        "USERS_TABLE",
        "UNIQUES_TABLE",
        "OTP_TABLE",
    ] {
        if let Ok(v) = std::env::var(name) {
            env.insert(name.into(), v);
        }
    }
    assert!(
        env.contains_key("DYNAMODB_ENDPOINT"),
        "DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local"
    );
    env.extend(
        overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
    );
    Config::from_lookup(|k| env.get(k).cloned()).expect("test config")
}

/// Hands the event to the handler of the function API Gateway routes its path to, in process.
/// Paths of no route go to `web`, as the deployed API's `$default` route sends them.
pub async fn dispatch(state: &AppState, site: &Site, event: &str) -> Response<Body> {
    let req = lambda_http::request::from_str(event).expect("a valid API Gateway event");
    match function_for(req.uri().path()).unwrap_or(Function::Web) {
        Function::SendCode => send_code::handle(state, req).await,
        Function::VerifyCode => verify_code::handle(state, req).await,
        Function::Profile => profile::handle(state, req).await,
        Function::Web => site.handle(&req),
    }
}

/// The API over HTTP, as a client sees it.
#[derive(Clone)]
pub struct HttpApi {
    pub http: reqwest::Client,
    pub base: String,
}

impl HttpApi {
    pub fn new(base: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .tcp_nodelay(true)
            .build()
            .expect("an HTTP client");
        Self {
            http,
            base: base.into(),
        }
    }

    /// (status, JSON body or null).
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(u16, Value), reqwest::Error> {
        let method = method.parse().unwrap_or(reqwest::Method::GET);
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        let text = resp.text().await?;
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// Logs `phone` in with the code a demo-mode send-code returns: (status of verify-code,
    /// its body).
    pub async fn login(&self, phone: &str) -> Result<(u16, Value), String> {
        let sent = json!({ "phone": phone });
        let (status, sent) = self
            .send("POST", "/v1/auth/send-code", None, Some(&sent))
            .await
            .map_err(|e| e.to_string())?;
        let code = sent["code"]
            .as_str()
            .ok_or_else(|| format!("send-code answered {status} without a demo code: {sent}"))?;
        let verify = json!({ "phone": phone, "code": code });
        self.send("POST", "/v1/auth/verify-code", None, Some(&verify))
            .await
            .map_err(|e| e.to_string())
    }

    /// A new user's access token, or why there is none.
    pub async fn new_user_token(&self) -> Result<String, String> {
        let (status, body) = self.login(&random_phone()).await?;
        body["access_token"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("verify-code answered {status}: {body}"))
    }
}
