//! Drives the real handlers in process, with the real SDK, against the DynamoDB Local that
//! `scripts/with-dynamodb.sh` started. Requests are API Gateway HTTP API (payload 2.0) events,
//! parsed by `lambda_http` exactly as in Lambda, and routed like template.yaml routes them.
use std::collections::HashMap;

use lambda_http::Body;
use rand::Rng;
use serde_json::{Value, json};
use shared::api::web::Site;
use shared::api::{ROUTES, profile, send_code, verify_code};
use shared::config::Config;
use shared::state::{AppState, dynamodb_client};

pub const SECRET: &str = "integration-test-secret-0123456789abcdef";

pub struct TestApp {
    pub state: AppState,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
}

impl Resp {
    pub fn code(&self) -> &str {
        self.body["code"].as_str().unwrap_or_default()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }

    /// Asserts a problem+json answer with this status and `code`.
    #[track_caller]
    pub fn assert_problem(&self, status: u16, code: &str) {
        assert_eq!((self.status, self.code()), (status, code), "{self:#?}");
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json")
        );
        assert!(self.body["title"].is_string() && self.body["detail"].is_string());
        assert_eq!(self.body["status"], status);
    }
}

/// Settings for tests: no SMS delay, codes exposed, everything else the production default.
pub async fn app() -> TestApp {
    app_with(&[]).await
}

pub async fn app_with(overrides: &[(&str, &str)]) -> TestApp {
    let mut env: HashMap<String, String> = [
        ("JWT_SECRET", SECRET),
        ("SMS_DELAY_MS", "0"),
        ("EXPOSE_CODES", "true"),
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
    let config = Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
    let client = dynamodb_client(&config).await;
    TestApp {
        state: AppState::new(config, client),
    }
}

/// A random valid Russian mobile number, so tests never share a phone.
pub fn random_phone() -> String {
    format!("+79{:09}", rand::rng().random_range(0..1_000_000_000u32))
}

/// An API Gateway HTTP API event, as the gateway would send it for this request.
pub fn event(
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
            "http": { "method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1", "userAgent": "tests" },
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

impl TestApp {
    /// Sends the event to the function template.yaml routes its path to.
    pub async fn call_event(&self, event: &str) -> Resp {
        let req = lambda_http::request::from_str(event).expect("a valid API Gateway event");
        // Route as API Gateway does, by the contract's table; unknown paths go to `profile`,
        // which must answer them with a problem.
        let path = req.uri().path().to_owned();
        let function = ROUTES
            .iter()
            .find(|(_, p, _)| *p == path)
            .map_or("profile", |(_, _, f)| *f);
        let resp = match function {
            "send-code" => send_code::handle(&self.state, req).await,
            "verify-code" => verify_code::handle(&self.state, req).await,
            "web" => Site::new().handle(&req),
            _ => profile::handle(&self.state, req).await,
        };
        let status = resp.status().as_u16();
        let headers: HashMap<String, String> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_owned(),
                    v.to_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let is_json = headers
            .get("content-type")
            .is_some_and(|ct: &String| ct.contains("json"));
        let body = match resp.body() {
            Body::Empty => Value::Null,
            other if is_json => serde_json::from_slice(other.as_ref()).expect("a JSON body"),
            other => Value::String(String::from_utf8_lossy(other.as_ref()).into_owned()),
        };
        Resp {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        let auth = token.map(|t| format!("Bearer {t}"));
        let mut headers = vec![("content-type", "application/json")];
        if let Some(a) = &auth {
            headers.push(("authorization", a));
        }
        let body = body.map(|b| b.to_string());
        self.call_event(&event(method, path, &headers, body.as_deref()))
            .await
    }

    pub async fn send_code(&self, phone: &str) -> Resp {
        self.call(
            "POST",
            "/v1/auth/send-code",
            None,
            Some(json!({ "phone": phone })),
        )
        .await
    }

    pub async fn verify(&self, phone: &str, code: &str) -> Resp {
        self.call(
            "POST",
            "/v1/auth/verify-code",
            None,
            Some(json!({ "phone": phone, "code": code })),
        )
        .await
    }

    /// The code that was sent: read from the demo-mode response.
    pub async fn code_for(&self, phone: &str) -> String {
        let resp = self.send_code(phone).await;
        assert_eq!(resp.status, 200, "{resp:#?}");
        resp.body["code"]
            .as_str()
            .expect("demo mode returns the code")
            .to_owned()
    }

    /// A fresh user, logged in: (phone, token, profile).
    pub async fn new_user(&self) -> (String, String, Value) {
        let phone = random_phone();
        let code = self.code_for(&phone).await;
        let resp = self.verify(&phone, &code).await;
        assert_eq!(resp.status, 201, "{resp:#?}");
        let token = resp.body["access_token"].as_str().unwrap().to_owned();
        (phone, token, resp.body["profile"].clone())
    }

    pub async fn profile(&self, token: &str) -> Resp {
        self.call("GET", "/v1/profile", Some(token), None).await
    }

    pub async fn activate(&self, token: &str, code: &str) -> Resp {
        self.call(
            "POST",
            "/v1/profile/invite-code",
            Some(token),
            Some(json!({ "invite_code": code })),
        )
        .await
    }
}
