//! Drives the real handlers in process, with the real SDK, against the DynamoDB Local that
//! `scripts/with-dynamodb.sh` started. Requests are API Gateway HTTP API (payload 2.0) events,
//! parsed by `lambda_http` exactly as in Lambda, and routed like template.yaml routes them.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::operation::batch_execute_statement::BatchExecuteStatementInput;
use aws_sdk_dynamodb::types::BatchStatementRequest;
use aws_smithy_runtime_api::box_error::BoxError;
use lambda_http::Body;
use serde_json::{Value, json};
use shared::api::openapi::Settings;
use shared::api::web::Site;
use shared::config::Config;
use shared::domain::PhoneNumber;
use shared::domain::phone::parse_region;
use shared::state::{AppState, dynamodb_client, dynamodb_config};
use shared::testing::event_from;
use shared::testing::{dispatch, json_event, test_config};
pub use shared::testing::{event, random_ip, random_phone};

pub struct TestApp {
    pub state: AppState,
    pub site: Site,
}

#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HashMap<String, String>,
    pub body: Value,
    /// The body as the function wrote it, byte for byte.
    pub bytes: Vec<u8>,
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

/// Every problem an operation answers in these tests must be one its OpenAPI responses list
/// (`Operation::problems`, the table the document is built from): the tests double as a check
/// that the document's codes are complete.
#[track_caller]
fn assert_documented(event: &str, resp: &Resp) {
    if resp.header("content-type") != Some("application/problem+json") {
        return;
    }
    let event: Value = serde_json::from_str(event).expect("a JSON event");
    let method = event["requestContext"]["http"]["method"].as_str();
    let path = event["rawPath"].as_str();
    let route = shared::routes::ROUTES
        .iter()
        .find(|r| Some(r.method) == method && Some(r.path) == path);
    if let Some(route) = route {
        let documented: Vec<String> = route
            .operation
            .problems()
            .iter()
            .map(|c| c.as_str())
            .collect();
        assert!(
            documented.iter().any(|c| c == resp.code()),
            "{} {}: `{}` is not in its documented problems {documented:?}",
            route.method,
            route.path,
            resp.code()
        );
    }
}

/// Settings for tests: no SMS delay, codes exposed, everything else the production default.
pub async fn app() -> TestApp {
    app_with(&[]).await
}

pub async fn app_with(overrides: &[(&str, &str)]) -> TestApp {
    let config = test_config(overrides);
    let client = dynamodb_client(config.dynamodb_endpoint.as_deref());
    app_with_client(config, client).await
}

/// An app on `config` as given, for what no setting reaches (how many budget shards a send
/// tries), whose DynamoDB calls are [`patient`].
pub async fn app_on(config: Config) -> TestApp {
    let client = aws_sdk_dynamodb::Client::from_conf(
        patient(dynamodb_config(config.dynamodb_endpoint.as_deref())).build(),
    );
    app_with_client(config, client).await
}

/// An [`app_intercepted`] whose DynamoDB calls are [`patient`].
pub async fn patient_app_intercepted(
    overrides: &[(&str, &str)],
    interceptor: impl Intercept + 'static,
) -> TestApp {
    let config = test_config(overrides);
    let client = aws_sdk_dynamodb::Client::from_conf(
        patient(dynamodb_config(config.dynamodb_endpoint.as_deref()))
            .interceptor(interceptor)
            .build(),
    );
    app_with_client(config, client).await
}

/// DynamoDB settings that wait as long as DynamoDB Local takes under hundreds of parallel calls,
/// for the tests that count exactly: with the functions' 2-second attempts, the SDK would retry an
/// update that had landed after all, and count it twice (on the safe side in production, but
/// not the exact count those tests check).
fn patient(builder: aws_sdk_dynamodb::config::Builder) -> aws_sdk_dynamodb::config::Builder {
    let wait = aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
        .connect_timeout(std::time::Duration::from_secs(10))
        .operation_attempt_timeout(std::time::Duration::from_secs(120))
        .operation_timeout(std::time::Duration::from_secs(120))
        .build();
    builder.timeout_config(wait)
}

/// An app whose DynamoDB client also runs `interceptor` on every call.
pub async fn app_intercepted(
    overrides: &[(&str, &str)],
    interceptor: impl Intercept + 'static,
) -> TestApp {
    let config = test_config(overrides);
    let client = aws_sdk_dynamodb::Client::from_conf(
        dynamodb_config(config.dynamodb_endpoint.as_deref())
            .interceptor(interceptor)
            .build(),
    );
    app_with_client(config, client).await
}

pub async fn app_with_client(config: Config, client: aws_sdk_dynamodb::Client) -> TestApp {
    TestApp {
        site: Site::new(Settings {
            otp_digits: config.otp.digits,
            demo_mode: config.expose_codes,
            captcha: config.captcha.provider,
        })
        .with_captcha_site_key(config.captcha.site_key.as_deref())
        .with_edge(config.edge.clone()),
        state: AppState::load(config, client)
            .await
            .expect("the token keys"),
    }
}

impl TestApp {
    /// Sends the event to the function template.yaml routes its path to.
    pub async fn call_event(&self, event: &str) -> Resp {
        // On the heap: a test awaiting many requests in a row would otherwise carry the largest
        // handler's state on its own stack (a debug build's futures are big).
        let resp = Box::pin(dispatch(&self.state, &self.site, event)).await;
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
        let bytes = resp.body().as_ref().to_vec();
        let body = match resp.body() {
            Body::Empty => Value::Null,
            other if is_json => serde_json::from_slice(other.as_ref()).expect("a JSON body"),
            other => Value::String(String::from_utf8_lossy(other.as_ref()).into_owned()),
        };
        let resp = Resp {
            status,
            headers,
            body,
            bytes,
        };
        assert_documented(event, &resp);
        resp
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Resp {
        self.call_event(&json_event(method, path, token, body.as_ref()))
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

    /// A JSON POST as it arrives from `ip`.
    pub async fn post_from(&self, ip: &str, path: &str, body: Value) -> Resp {
        let body = body.to_string();
        let headers = [("content-type", "application/json")];
        self.call_event(&event_from(ip, "POST", path, &headers, Some(&body)))
            .await
    }

    pub async fn send_code_from(&self, ip: &str, phone: &str) -> Resp {
        self.post_from(ip, "/v1/auth/send-code", json!({ "phone": phone }))
            .await
    }

    pub async fn verify_from(&self, ip: &str, phone: &str, code: &str) -> Resp {
        let body = json!({ "phone": phone, "code": code });
        self.post_from(ip, "/v1/auth/verify-code", body).await
    }

    /// Moves this app's clock to the first minute of an hour of its own, years ahead, so the
    /// service-wide hourly counters it touches are its alone and no hour ends during the test.
    /// The hour is the second of a day of its own too (01:01 UTC), for the daily budget's
    /// counters, with 23 hours left in it.
    pub fn start_own_hour(&self) {
        let now = self.state.clock.now_s();
        let days_ahead = rand::random_range(5_000..50_000i64);
        let target = (now / 86_400 + days_ahead) * 86_400 + 3_600 + 60;
        self.state
            .clock
            .advance(std::time::Duration::from_secs((target - now) as u64));
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

/// A test phone (`random_phone`'s) as the domain type, the way the API parses it.
pub fn parsed(phone: &str) -> PhoneNumber {
    PhoneNumber::parse(phone, parse_region("RU").unwrap()).unwrap()
}

/// The DynamoDB operation a request the SDK is about to send calls (`PutItem`), from its
/// `x-amz-target` header; empty if it has none.
pub fn operation_of(request: &aws_smithy_runtime_api::http::Request) -> &str {
    let target = request.headers().get("x-amz-target").unwrap_or_default();
    target
        .strip_prefix("DynamoDB_20120810.")
        .unwrap_or_default()
}

/// Whether a request the SDK is about to send calls `operation` with `text` in its body.
pub fn calls_with(
    request: &aws_smithy_runtime_api::http::Request,
    operation: &str,
    text: &str,
) -> bool {
    let body = request.body().bytes().unwrap_or_default();
    operation_of(request) == operation && String::from_utf8_lossy(body).contains(text)
}

/// The statements of a `BatchExecuteStatement` the SDK is about to send (none for another call),
/// for an interceptor to change.
pub fn batch_statements<'a>(
    context: &'a mut BeforeSerializationInterceptorContextMut<'_>,
) -> impl Iterator<Item = &'a mut BatchStatementRequest> {
    context
        .input_mut()
        .downcast_mut::<BatchExecuteStatementInput>()
        .and_then(|batch| batch.statements.as_mut())
        .into_iter()
        .flatten()
}

/// Whether a statement of send-code's batch writes the phone's record (the code's save) rather
/// than a counter.
pub fn saves_the_record(statement: &BatchStatementRequest) -> bool {
    statement.statement.contains("code_hash")
}

/// Points a statement at a table that does not exist: DynamoDB refuses that statement alone
/// (`ResourceNotFound`) and writes nothing for it.
pub fn to_a_missing_table(statement: &mut BatchStatementRequest) {
    let table = statement.statement.split('"').nth(1).unwrap().to_owned();
    statement.statement = statement
        .statement
        .replace(&format!("\"{table}\""), "\"no-such-table\"");
}

/// Records the DynamoDB operation of every call, in order (`Calls.0`), for tests of what a
/// request reads and writes.
#[derive(Debug, Clone, Default)]
pub struct Calls(pub Arc<Mutex<Vec<String>>>);

impl Intercept for Calls {
    fn name(&self) -> &'static str {
        "calls"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let operation = operation_of(context.request());
        let operation = if operation.is_empty() { "?" } else { operation };
        self.0.lock().unwrap().push(operation.to_owned());
        Ok(())
    }
}

/// Runs `work` on a fresh runtime with everything logged at TRACE through the production caps
/// (`logging::caps`), and returns its result and the log text: for tests that secrets stay out.
pub fn logged_at_trace<T>(work: impl std::future::Future<Output = T>) -> (T, String) {
    use tracing_subscriber::prelude::*;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::registry()
        .with(shared::logging::caps())
        .with(
            tracing_subscriber::fmt::layer()
                .with_ansi(false)
                .with_writer(move || writer.clone()),
        );
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let out = tracing::subscriber::with_default(subscriber, || runtime.block_on(work));
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    (out, logs)
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}
