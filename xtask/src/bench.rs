//! `make bench`: sizes, cold starts (against a bare `lambda_http` floor built in the same run),
//! the first answer of every route after a cold start, warm latency, CPU per request and memory
//! of each function's release binary under a stub Lambda Runtime API, requests at 128 MB under a
//! CPU quota, the DynamoDB calls, round trips and capacity each endpoint uses, what the SDK and a
//! TLS handshake add to a request, the least any implementation could pay per request (from floor
//! 0, a function with no runtime crate), and a bounded loopback load on the whole local stack.
//! Prints one Markdown report.
//!
//! CPU is read from the kernel's per-thread run time (`/proc/<pid>/task/*/schedstat`, in
//! nanoseconds): what the process itself computed, without the time it waited on DynamoDB Local
//! or the stub. That is what Lambda's CPU share turns into latency: at 128 MB a function gets
//! about 1/14 of a vCPU, so 1 ms of CPU here is about 14 ms there at the average rate (how much
//! of it a short request pays under a quota is measured too, see `throttle.rs`).
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{ConsumedCapacity, ReturnConsumedCapacity};
use lambda_http::Body;
use serde_json::{Value, json};
use shared::api::openapi::Settings;
use shared::api::web::Site;
use shared::config::Config;
use shared::state::{AppState, dynamodb_config};
use shared::testing::{HttpApi, dispatch, json_event, random_phone};

use crate::runtime_stub::{RuntimeStub, Seen};

/// Invocations of each function in the memory section.
const SOAK_INVOCATIONS: usize = 100_000;
const FUNCTIONS: [&str; 4] = ["send-code", "verify-code", "profile", "web"];
const COLD_RUNS: usize = 30;
const FIRST_ANSWER_RUNS: usize = 7;
pub(crate) const WARM_RUNS: usize = 1_000;
/// Rounds of `WARM_RUNS` warm requests per row of the main table, each in a fresh process, taken
/// in turns over all the rows so that a noisy moment falls on all of them alike; the table
/// quotes the median round.
const WARM_ROUNDS: usize = 5;
/// Lambda's CPU share grows with memory: one full vCPU at 1,769 MB.
pub(crate) const MB_PER_VCPU: f64 = 1_769.0;
/// Lambda arm64 price per GB-second (us-east-1, first tier).
const PRICE_PER_GB_SECOND: f64 = 0.000_013_333_4;
/// What one DynamoDB round trip inside a region takes, for the cost estimate.
const ROUND_TRIP_MS: f64 = 4.0;
// Issue #13's targets for warm CPU per request.
const PROFILE_TARGET_MS: f64 = 0.25;
const LOGIN_TARGET_MS: f64 = 0.5;
// The `dynamodb_usage` rows of the benchmark's warm requests: verify-code's are first logins,
// each with a new phone, and returning users' logins.
const PROFILE_GET: &str = "GET /v1/profile";
const SEND_CODE: &str = "send-code";
const FIRST_LOGIN: &str = "verify-code, first login";
const RETURNING_LOGIN: &str = "verify-code, returning user";
/// send-code as production runs it: each code published as an SMS through SNS (moto's server,
/// which `make bench` starts), never shown in the answer. A bench name of its own (`make profile
/// FUNCTION=send-code-sns` takes it too): the send-code binary with these settings.
pub(crate) const SEND_CODE_SNS: &str = "send-code-sns";
const SEND_CODE_SNS_LABEL: &str = "send-code, SMS through SNS";
/// The SNS requests of one send-code with SMS through SNS: its Publish, which every 200 of that
/// row waited on (a Publish that fails answers 503, and the benchmark stops).
const PUBLISHES_PER_SEND: u32 = 1;
const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";
/// profile reading its token keys from Secrets Manager (moto's server) at cold start, as deployed
/// stacks do (`JWT_SECRET_ARN`), beside profile with `JWT_SECRET`: only in the cold starts.
const PROFILE_KEYS_READ: &str = "profile-keys-from-secrets-manager";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn sorted_ms(durations: &[Duration]) -> Vec<f64> {
    let mut ms: Vec<f64> = durations
        .iter()
        .map(|d| d.as_secs_f64() * 1_000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

/// The settings every benchmarked function runs with.
pub(crate) fn function_env(endpoint: &str, runtime_api: &str, name: &str) -> Vec<(String, String)> {
    let mut env = [
        ("AWS_LAMBDA_RUNTIME_API", runtime_api),
        ("AWS_LAMBDA_FUNCTION_NAME", build_of(name)),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "bench"),
        ("AWS_LAMBDA_LOG_LEVEL", "warn"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_ACCESS_KEY_ID", "local"),
        ("AWS_SECRET_ACCESS_KEY", "local"),
        ("DYNAMODB_ENDPOINT", endpoint),
        ("JWT_SECRET", SECRET),
        ("SMS_DELAY_MS", "0"),
        ("EXPOSE_CODES", "true"),
        ("OTP_RESEND_SECONDS", "0"),
        // Every benchmark request comes from one address and shares the hour's counters.
        ("IP_MAX_SENDS_PER_HOUR", shared::testing::UNLIMITED),
        ("IP_MAX_FAILURES_PER_HOUR", shared::testing::UNLIMITED),
        ("SMS_BUDGET_PER_HOUR", shared::testing::UNLIMITED),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .chain(
        ["USERS_TABLE", "UNIQUES_TABLE", "OTP_TABLE"]
            .iter()
            .filter_map(|k| std::env::var(k).ok().map(|v| ((*k).to_owned(), v))),
    )
    .chain((name == SINGLE_THREADED_FLOOR).then(|| ("FLOOR_SINGLE_THREAD".into(), "1".into())))
    .collect::<Vec<_>>();
    if name == SEND_CODE_SNS {
        env.retain(|(k, _)| k != "EXPOSE_CODES");
        env.extend(
            [("SMS_SENDER", "sns"), ("EXPOSE_CODES", "false")]
                .map(|(k, v)| (k.to_owned(), v.to_owned())),
        );
        env.extend(
            moto_sns_endpoint()
                .ok()
                .map(|endpoint| ("SNS_ENDPOINT".to_owned(), endpoint)),
        );
    }
    env
}

/// moto's SNS server, which `make bench` starts beside DynamoDB Local.
pub(crate) fn moto_sns_endpoint() -> anyhow::Result<String> {
    std::env::var("MOTO_SNS_ENDPOINT").context(
        "MOTO_SNS_ENDPOINT is not set: run through `make bench` (it starts moto's SNS server)",
    )
}

/// moto's server as Secrets Manager (the same server as its SNS, which answers every service).
fn moto_secrets_endpoint() -> anyhow::Result<String> {
    std::env::var("MOTO_SECRETS_ENDPOINT").context(
        "MOTO_SECRETS_ENDPOINT is not set: run through `make bench` (it starts moto's server)",
    )
}

/// A secret in moto holding a token key, as a stack's `AppSecret` does: its ARN.
async fn keys_secret() -> anyhow::Result<String> {
    let config = aws_sdk_secretsmanager::config::Builder::from(&shared::state::sdk_config())
        .endpoint_url(moto_secrets_endpoint()?)
        .build();
    let created = aws_sdk_secretsmanager::Client::from_conf(config)
        .create_secret()
        .name(format!("bench-keys-{}", uuid_like()))
        .secret_string(SECRET)
        .send()
        .await
        .context("creating the bench's token key secret in moto")?;
    created
        .arn()
        .map(str::to_owned)
        .context("moto answered no ARN")
}

/// A name no earlier bench run used in the same moto.
fn uuid_like() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// The floor binary on a single-threaded runtime, as the functions run (`xtask/src/bin/floor.rs`).
pub(crate) const SINGLE_THREADED_FLOOR: &str = "floor-single";

/// Floor 0: no runtime crate at all, blocking `std` I/O (`xtask/src/bin/floor-std.rs`).
pub(crate) const STD_FLOOR: &str = "floor-std";

/// Every floor, by bench name, with its label in the results.
pub(crate) const FLOORS: [(&str, &str); 3] = [
    ("floor", "bare `lambda_http` (floor)"),
    (
        SINGLE_THREADED_FLOOR,
        "the same, single-threaded runtime (floor 1)",
    ),
    (STD_FLOOR, "no runtime crate, blocking `std` I/O (floor 0)"),
];

/// The build a bench name runs: floor and floor 1 are one binary, send-code with and without
/// SMS through SNS another, verify-code for first and returning users' logins a third.
pub(crate) fn build_of(name: &str) -> &str {
    match name {
        SINGLE_THREADED_FLOOR => "floor",
        SEND_CODE_SNS => "send-code",
        RETURNING_LOGIN => "verify-code",
        PROFILE_KEYS_READ => "profile",
        _ => name,
    }
}

/// The release binary a bench name runs, and its size.
pub(crate) fn binary_of(name: &str) -> anyhow::Result<(PathBuf, u64)> {
    release_binary(build_of(name))
}

pub(crate) fn spawn(binary: &Path, env: &[(String, String)]) -> anyhow::Result<Child> {
    Ok(Command::new(binary)
        .env_clear()
        .envs(env.iter().cloned())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        // The function's own log, for when a run fails.
        .stderr(std::fs::File::create(
            root().join("target/bench-function.log"),
        )?)
        .spawn()?)
}

pub(crate) fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// CPU time the process has used so far, all its threads together, in milliseconds.
pub(crate) fn cpu_ms(pid: u32) -> Option<f64> {
    let mut total_ns = 0u64;
    for task in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
    {
        let stat = std::fs::read_to_string(task.path().join("schedstat")).ok()?;
        total_ns += stat.split_whitespace().next()?.parse::<u64>().ok()?;
    }
    Some(total_ns as f64 / 1e6)
}

/// Each round's figure of a measurement taken in rounds, for a table cell.
pub(crate) fn each_round(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 50.0)
}

/// Peak resident memory of a live process, from /proc.
fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

pub(crate) fn event(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> String {
    json_event(method, path, token, body.as_ref())
}

pub(crate) fn send_event(phone: &str) -> String {
    event(
        "POST",
        "/v1/auth/send-code",
        None,
        Some(json!({ "phone": phone })),
    )
}

pub(crate) fn verify_event(phone: &str, code: &str) -> String {
    let body = json!({ "phone": phone, "code": code });
    event("POST", "/v1/auth/verify-code", None, Some(body))
}

/// Counts DynamoDB calls by operation and asks each for its consumed capacity.
#[derive(Debug, Default, Clone)]
struct Meter(Arc<Mutex<Usage>>);

#[derive(Debug, Default, Clone)]
struct Usage {
    calls: BTreeMap<&'static str, u32>,
    read_units: f64,
    write_units: f64,
    /// When each call to DynamoDB started and when its answer came back.
    exchanges: Vec<(Instant, Instant)>,
    sent: Vec<Instant>,
}

impl Usage {
    /// Sequential waits on DynamoDB: the exchanges that overlap in time count as one.
    fn rounds(&self) -> u32 {
        let mut spans = self.exchanges.clone();
        spans.sort();
        let mut rounds = 0;
        let mut open_until: Option<Instant> = None;
        for (start, end) in spans {
            match open_until {
                Some(until) if start < until => open_until = Some(until.max(end)),
                _ => {
                    rounds += 1;
                    open_until = Some(end);
                }
            }
        }
        rounds
    }
}

impl Meter {
    fn take(&self) -> Usage {
        self.0
            .lock()
            .map(|mut u| std::mem::take(&mut *u))
            .unwrap_or_default()
    }

    fn started(&self) {
        if let Ok(mut u) = self.0.lock() {
            u.sent.push(Instant::now());
        }
    }

    fn answered(&self) {
        if let Ok(mut u) = self.0.lock() {
            // Exchanges answer in any order; pairing each answer with the earliest open send
            // gives the same overlap as the true pairs.
            if !u.sent.is_empty() {
                let start = u.sent.remove(0);
                u.exchanges.push((start, Instant::now()));
            }
        }
    }

    fn add(&self, op: &'static str, capacity: &[ConsumedCapacity]) {
        if let Ok(mut u) = self.0.lock() {
            *u.calls.entry(op).or_default() += 1;
            for c in capacity {
                u.read_units += c.read_capacity_units().unwrap_or_default();
                u.write_units += c.write_capacity_units().unwrap_or_default();
                if c.read_capacity_units().is_none() && c.write_capacity_units().is_none() {
                    // DynamoDB Local may report only the total.
                    if matches!(op, "GetItem" | "BatchGetItem" | "Query") {
                        u.read_units += c.capacity_units().unwrap_or_default();
                    } else {
                        u.write_units += c.capacity_units().unwrap_or_default();
                    }
                }
            }
        }
    }
}

impl Intercept for Meter {
    fn name(&self) -> &'static str {
        "bench-meter"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemInput, get_item::GetItemInput, put_item::PutItemInput,
            query::QueryInput, transact_write_items::TransactWriteItemsInput,
            update_item::UpdateItemInput,
        };
        // A call's wait starts when the handler makes it, not when its bytes leave: a call that
        // first opens a connection would otherwise look as if it ran after its siblings.
        self.started();
        let total = Some(ReturnConsumedCapacity::Total);
        let input = context.input_mut();
        if let Some(i) = input.downcast_mut::<GetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<BatchGetItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<PutItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<UpdateItemInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<QueryInput>() {
            i.return_consumed_capacity = total;
        } else if let Some(i) = input.downcast_mut::<TransactWriteItemsInput>() {
            i.return_consumed_capacity = total;
        }
        Ok(())
    }

    fn read_after_transmit(
        &self,
        _context: &aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.answered();
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        use aws_sdk_dynamodb::operation::{
            batch_get_item::BatchGetItemOutput, get_item::GetItemOutput, put_item::PutItemOutput,
            query::QueryOutput, transact_write_items::TransactWriteItemsOutput,
            update_item::UpdateItemOutput,
        };
        let Some(Ok(output)) = context.output_or_error() else {
            // A failed call (a condition that did not hold) still counts as a call.
            let op = context
                .input()
                .map(|i| {
                    if i.downcast_ref::<aws_sdk_dynamodb::operation::put_item::PutItemInput>().is_some() {
                        "PutItem"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::get_item::GetItemInput>().is_some() {
                        "GetItem"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput>().is_some() {
                        "BatchGetItem"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::update_item::UpdateItemInput>().is_some() {
                        "UpdateItem"
                    } else if i.downcast_ref::<aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsInput>().is_some() {
                        "TransactWriteItems"
                    } else {
                        "other"
                    }
                })
                .unwrap_or("other");
            self.add(op, &[]);
            return Ok(());
        };
        if let Some(o) = output.downcast_ref::<GetItemOutput>() {
            self.add("GetItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<BatchGetItemOutput>() {
            self.add(
                "BatchGetItem",
                o.consumed_capacity.as_deref().unwrap_or_default(),
            );
        } else if let Some(o) = output.downcast_ref::<PutItemOutput>() {
            self.add("PutItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<UpdateItemOutput>() {
            self.add("UpdateItem", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<QueryOutput>() {
            self.add("Query", o.consumed_capacity.as_slice());
        } else if let Some(o) = output.downcast_ref::<TransactWriteItemsOutput>() {
            self.add(
                "TransactWriteItems",
                o.consumed_capacity.as_deref().unwrap_or_default(),
            );
        } else {
            self.add("other", &[]);
        }
        Ok(())
    }
}

pub(crate) struct Bench {
    pub(crate) endpoint: String,
    state: AppState,
    site: Site,
    meter: Meter,
}

impl Bench {
    pub(crate) async fn new(endpoint: String) -> anyhow::Result<Self> {
        let env: BTreeMap<String, String> =
            function_env(&endpoint, "", "bench").into_iter().collect();
        let config = Config::from_lookup(|k| env.get(k).cloned())?;
        let meter = Meter::default();
        let site = Site::new(Settings {
            otp_digits: config.otp.digits,
            demo_mode: true,
            captcha: config.captcha.provider,
        });
        let client = aws_sdk_dynamodb::Client::from_conf(
            dynamodb_config(Some(&endpoint))
                .interceptor(meter.clone())
                .build(),
        );
        Ok(Self {
            endpoint,
            state: AppState::load(config, client).await?,
            site,
            meter,
        })
    }

    async fn call(&self, event: &str) -> anyhow::Result<(u16, Value)> {
        let resp = dispatch(&self.state, &self.site, event).await;
        let body = match resp.body() {
            Body::Empty => Value::Null,
            b => serde_json::from_slice(b.as_ref()).unwrap_or(Value::Null),
        };
        Ok((resp.status().as_u16(), body))
    }

    async fn code_for(&self, phone: &str) -> anyhow::Result<String> {
        let (status, body) = self.call(&send_event(phone)).await?;
        if status != 200 {
            bail!("send-code answered {status}: {body}");
        }
        Ok(body["code"].as_str().context("demo code")?.to_owned())
    }

    /// `n` returning users' logins: each phone has logged in once and has a new code pending.
    async fn returning_logins(&self, n: usize) -> anyhow::Result<Vec<String>> {
        let mut events = Vec::with_capacity(n);
        for _ in 0..n {
            let (phone, _, _) = self.user().await?;
            let code = self.code_for(&phone).await?;
            events.push(verify_event(&phone, &code));
        }
        Ok(events)
    }

    /// A fresh user: (phone, token, invite code).
    async fn user(&self) -> anyhow::Result<(String, String, String)> {
        let phone = random_phone();
        let code = self.code_for(&phone).await?;
        let (_, body) = self.call(&verify_event(&phone, &code)).await?;
        Ok((
            phone,
            body["access_token"].as_str().context("token")?.to_owned(),
            body["profile"]["invite_code"]
                .as_str()
                .context("invite code")?
                .to_owned(),
        ))
    }

    /// Runs one request and reports what DynamoDB did for it.
    async fn metered(
        &self,
        label: &str,
        event: String,
        out: &mut Vec<(String, u16, Usage)>,
    ) -> anyhow::Result<()> {
        self.meter.take();
        let (status, _) = self.call(&event).await?;
        out.push((label.to_owned(), status, self.meter.take()));
        Ok(())
    }

    async fn dynamodb_usage(&self) -> anyhow::Result<Vec<(String, u16, Usage)>> {
        let mut out = Vec::new();
        let phone = random_phone();
        self.metered(SEND_CODE, send_event(&phone), &mut out)
            .await?;
        // First login.
        let phone = random_phone();
        let code = self.code_for(&phone).await?;
        self.metered(FIRST_LOGIN, verify_event(&phone, &code), &mut out)
            .await?;
        // Returning user.
        let code = self.code_for(&phone).await?;
        self.metered(RETURNING_LOGIN, verify_event(&phone, &code), &mut out)
            .await?;
        let code = self.code_for(&phone).await?;
        let wrong = format!("{:04}", (code.parse::<u32>().unwrap_or(0) + 1) % 10_000);
        self.metered(
            "verify-code, wrong code",
            verify_event(&phone, &wrong),
            &mut out,
        )
        .await?;
        let (_, token, _) = self.user().await?;
        let (_, _, friend_code) = self.user().await?;
        self.metered(
            PROFILE_GET,
            event("GET", "/v1/profile", Some(&token), None),
            &mut out,
        )
        .await?;
        let activation = event(
            "POST",
            "/v1/profile/invite-code",
            Some(&token),
            Some(json!({ "invite_code": friend_code })),
        );
        self.metered("activate invite code", activation.clone(), &mut out)
            .await?;
        // The same request again: refused by the read, before any write.
        self.metered("activate, already activated", activation, &mut out)
            .await?;
        self.metered(
            "GET /v1/profile/referrals",
            event("GET", "/v1/profile/referrals", Some(&token), None),
            &mut out,
        )
        .await?;
        self.metered(
            "logout",
            event("POST", "/v1/auth/logout", Some(&token), None),
            &mut out,
        )
        .await?;
        Ok(out)
    }

    /// One warm round's events for a row of the main table (a bench name): a first request, left
    /// out of the figures, then `WARM_RUNS` more.
    pub(crate) async fn warm_events(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let n = WARM_RUNS + 1;
        if FLOORS.iter().any(|(floor, _)| *floor == name) {
            Ok(floor_events())
        } else if name == RETURNING_LOGIN {
            self.returning_logins(n).await
        } else {
            self.main_requests(build_of(name), n).await
        }
    }

    /// The main request of each function, prepared `n` times (each needs its own phone or code).
    pub(crate) async fn main_requests(
        &self,
        function: &str,
        n: usize,
    ) -> anyhow::Result<Vec<String>> {
        let mut events = Vec::with_capacity(n);
        match function {
            "send-code" => {
                for _ in 0..n {
                    events.push(send_event(&random_phone()));
                }
            }
            "verify-code" => {
                for _ in 0..n {
                    let phone = random_phone();
                    let code = self.code_for(&phone).await?;
                    events.push(verify_event(&phone, &code));
                }
            }
            "profile" => {
                let (_, token, _) = self.user().await?;
                for _ in 0..n {
                    events.push(event("GET", "/v1/profile", Some(&token), None));
                }
            }
            _ => {
                for _ in 0..n {
                    events.push(event("GET", "/openapi.json", None, None));
                }
            }
        }
        Ok(events)
    }
}

/// A row's warm rounds together: latencies pooled, the median round's CPU per request, the
/// largest peak RSS.
struct Warm {
    warm_ms: Vec<f64>,
    cpu_rounds: Vec<f64>,
    cpu_per_request_ms: f64,
    peak_rss_kib: Option<u64>,
}

impl Warm {
    fn of(runs: &[Runs]) -> Self {
        let mut warm_ms: Vec<f64> = runs
            .iter()
            .flat_map(|r| r.warm_ms.iter().copied())
            .collect();
        warm_ms.sort_by(f64::total_cmp);
        let cpu_rounds: Vec<f64> = runs.iter().map(|r| r.cpu_per_request_ms).collect();
        Self {
            warm_ms,
            cpu_per_request_ms: median(&cpu_rounds),
            cpu_rounds,
            peak_rss_kib: runs.iter().filter_map(|r| r.peak_rss_kib).max(),
        }
    }
}

/// What [`run_binary`] measures of one binary.
pub(crate) struct Runs {
    warm_ms: Vec<f64>,
    pub(crate) cpu_per_request_ms: f64,
    peak_rss_kib: Option<u64>,
}

fn size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Where a build is measured. The functions: `FUNCTION_BINARIES/NAME/bootstrap` when it is set
/// (`make bench` points it at the deployed build, static musl, for this machine). The floors, and
/// the functions otherwise: `target/release/NAME`, or NAME in `BENCH_BINARIES` (`make profile`
/// points it at a build that keeps its symbols).
pub(crate) fn release_binary(name: &str) -> anyhow::Result<(PathBuf, u64)> {
    let is_floor = FLOORS.iter().any(|(floor, _)| *floor == name);
    let binary = match std::env::var("FUNCTION_BINARIES") {
        Ok(dir) if !is_floor => PathBuf::from(dir).join(name).join("bootstrap"),
        _ => std::env::var("BENCH_BINARIES")
            .map(PathBuf::from)
            .unwrap_or_else(|_| root().join("target/release"))
            .join(name),
    };
    let bytes = size(&binary).with_context(|| {
        format!(
            "{} is missing: cargo build --release, or scripts/build-lambda.sh",
            binary.display()
        )
    })?;
    Ok((binary, bytes))
}

/// `env` with the Runtime API at `stub`.
fn pointed_at(env: &[(String, String)], stub: &RuntimeStub) -> Vec<(String, String)> {
    env.iter()
        .map(|(k, v)| match k.as_str() {
            "AWS_LAMBDA_RUNTIME_API" => (k.clone(), stub.address.clone()),
            _ => (k.clone(), v.clone()),
        })
        .collect()
}

/// Starts `binary` against a fresh stub and waits for its first `/next`: (wall, CPU) of the init.
fn cold_start(binary: &Path, env: &[(String, String)]) -> anyhow::Result<(f64, f64)> {
    let stub = RuntimeStub::start()?;
    let env = pointed_at(env, &stub);
    let started = Instant::now();
    let child = spawn(binary, &env)?;
    let seen = stub.next_seen(Duration::from_secs(20));
    let cpu = cpu_ms(child.id());
    stop(child);
    match seen? {
        Seen::Ready(at) => Ok((
            (at - started).as_secs_f64() * 1_000.0,
            cpu.unwrap_or(f64::NAN),
        )),
        Seen::Response { .. } => bail!("{}: answered before asking for work", binary.display()),
        Seen::Failed(error) => bail!("{} failed to start: {error}", binary.display()),
    }
}

/// Init wall and CPU times of each binary, by name.
pub(crate) type Inits = BTreeMap<String, (Vec<f64>, Vec<f64>)>;

/// A binary to cold-start: its name, path and settings.
pub(crate) type ColdStart<'a> = (&'a str, PathBuf, Vec<(String, String)>);

/// `COLD_RUNS` cold starts of each of `binaries` (name, path, settings), taken in turns (the
/// floor, then each function, then again), so that a noisy moment of the machine falls on all of
/// them alike instead of on whichever was being measured: (wall, CPU) of each run, by name.
pub(crate) fn cold_starts(binaries: &[ColdStart<'_>]) -> anyhow::Result<Inits> {
    let mut out = Inits::new();
    for _ in 0..COLD_RUNS {
        for (name, binary, env) in binaries {
            let (wall, cpu) = cold_start(binary, env)?;
            let runs = out.entry((*name).to_owned()).or_default();
            runs.0.push(wall);
            runs.1.push(cpu);
        }
    }
    Ok(out)
}

/// `events` one after another in one process: the first is left out, the rest give the warm
/// latency and the CPU per request.
pub(crate) fn run_binary(
    binary: &Path,
    env: &[(String, String)],
    events: Vec<String>,
) -> anyhow::Result<Runs> {
    let stub = RuntimeStub::start()?;
    let env = pointed_at(env, &stub);
    let child = spawn(binary, &env)?;
    let pid = child.id();
    let mut latencies = Vec::new();
    let mut cpu_at_second = None;
    let name = binary.display().to_string();
    let result: anyhow::Result<()> = (|| {
        let Seen::Ready(_) = stub.next_seen(Duration::from_secs(20))? else {
            bail!("no ready")
        };
        for event in events {
            stub.push(event);
            match stub.next_seen(Duration::from_secs(20))? {
                Seen::Response {
                    handed_at,
                    answered_at,
                    body,
                } => {
                    let status = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["statusCode"].as_u64());
                    // The floor answers with a bare body, not an API Gateway response.
                    if !matches!(status, Some(200 | 201) | None) {
                        bail!("{name}: the benchmark request failed: {body}");
                    }
                    latencies.push(answered_at - handed_at);
                    if cpu_at_second.is_none() {
                        cpu_at_second = cpu_ms(pid);
                    }
                }
                Seen::Failed(error) => bail!("{name}: {error} (see target/bench-function.log)"),
                Seen::Ready(_) => {}
            }
        }
        Ok(())
    })();
    let cpu_at_end = cpu_ms(pid);
    let peak = peak_rss_kib(pid);
    stop(child);
    result?;
    latencies.remove(0);
    let cpu_per_request = match (cpu_at_second, cpu_at_end) {
        (Some(a), Some(b)) => (b - a) / latencies.len().max(1) as f64,
        _ => f64::NAN,
    };
    Ok(Runs {
        warm_ms: sorted_ms(&latencies),
        cpu_per_request_ms: cpu_per_request,
        peak_rss_kib: peak,
    })
}

/// What a floor is sent: any event will do, it answers each with the same body.
pub(crate) fn floor_events() -> Vec<String> {
    (0..=WARM_RUNS)
        .map(|_| event("GET", "/", None, None))
        .collect()
}

/// One cold start and its first answer ([`Bench::first_answer`]).
pub(crate) struct Cold {
    pub status: u16,
    /// Exec to the answer.
    pub wall_ms: f64,
    /// The process's CPU from exec to the answer: init and the first answer.
    pub cpu_ms: f64,
    /// Of which the first answer's, from the first `GET /invocation/next` on.
    pub answer_cpu_ms: f64,
}

/// Every route's first answers after a cold start ([`Bench::first_answer`]).
struct FirstAnswer {
    label: &'static str,
    function: &'static str,
    status: u16,
    wall_ms: Vec<f64>,
    cpu_ms: Vec<f64>,
    answer_cpu_ms: Vec<f64>,
}

const SEND_CODE_SNS_ROUTE: &str = "POST /v1/auth/send-code, SMS through SNS";

pub(crate) const FIRST_ANSWER_ROUTES: [(&str, &str); 11] = [
    ("POST /v1/auth/send-code", "send-code"),
    (SEND_CODE_SNS_ROUTE, SEND_CODE_SNS),
    (
        "POST /v1/auth/send-code, invalid phone (no DynamoDB call)",
        "send-code",
    ),
    ("POST /v1/auth/verify-code, first login", "verify-code"),
    ("GET /v1/profile", "profile"),
    ("POST /v1/profile/invite-code", "profile"),
    ("GET /v1/profile/referrals", "profile"),
    ("POST /v1/auth/logout", "profile"),
    ("GET /", "web"),
    ("GET /docs", "web"),
    ("GET /openapi.json", "web"),
];

impl Bench {
    pub(crate) async fn first_answer_event(&self, label: &str) -> anyhow::Result<String> {
        Ok(match label {
            "POST /v1/auth/send-code" | SEND_CODE_SNS_ROUTE => send_event(&random_phone()),
            "POST /v1/auth/send-code, invalid phone (no DynamoDB call)" => send_event("+7 000"),
            "POST /v1/auth/verify-code, first login" => {
                let phone = random_phone();
                let code = self.code_for(&phone).await?;
                verify_event(&phone, &code)
            }
            "GET /v1/profile" => event("GET", "/v1/profile", Some(&self.user().await?.1), None),
            "POST /v1/profile/invite-code" => {
                let (_, token, _) = self.user().await?;
                let (_, _, friend) = self.user().await?;
                let body = json!({ "invite_code": friend });
                event("POST", "/v1/profile/invite-code", Some(&token), Some(body))
            }
            "GET /v1/profile/referrals" => {
                let token = self.user().await?.1;
                event("GET", "/v1/profile/referrals", Some(&token), None)
            }
            "POST /v1/auth/logout" => {
                event("POST", "/v1/auth/logout", Some(&self.user().await?.1), None)
            }
            path => event("GET", path.trim_start_matches("GET "), None, None),
        })
    }

    /// One cold start of `binary` (`function`'s build) answering the event of route `label`.
    /// The event is handed over at the first `GET /invocation/next`, as Lambda does when the cold
    /// start was caused by it, but only once the process's CPU has been read there (it waits for
    /// the event, idle), so init's CPU and the first answer's come from the same process. The
    /// wall time leaves out that pause.
    pub(crate) async fn first_answer(
        &self,
        binary: &Path,
        function: &str,
        label: &str,
    ) -> anyhow::Result<Cold> {
        let event = self.first_answer_event(label).await?;
        let stub = RuntimeStub::start()?;
        let env = function_env(&self.endpoint, &stub.address, function);
        let started = Instant::now();
        let child = spawn(binary, &env)?;
        let pid = child.id();
        let mut init_cpu = None;
        let mut paused = Duration::ZERO;
        let result = (|| loop {
            match stub.next_seen(Duration::from_secs(20))? {
                Seen::Ready(ready_at) => {
                    init_cpu = cpu_ms(pid);
                    stub.push(event.clone());
                    paused = ready_at.elapsed();
                }
                Seen::Response {
                    answered_at, body, ..
                } => return Ok((answered_at, body)),
                Seen::Failed(error) => bail!("{label}: {error}"),
            }
        })();
        let cpu = cpu_ms(pid);
        stop(child);
        let (answered_at, body) = result?;
        let status = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v["statusCode"].as_u64())
            .unwrap_or(0) as u16;
        let cpu = cpu.unwrap_or(f64::NAN);
        Ok(Cold {
            status,
            wall_ms: (answered_at - started - paused).as_secs_f64() * 1_000.0,
            cpu_ms: cpu,
            answer_cpu_ms: cpu - init_cpu.unwrap_or(f64::NAN),
        })
    }

    /// `FIRST_ANSWER_RUNS` first answers of every route, taken in turns over the routes like the
    /// cold starts, so that a noisy moment falls on all of them alike.
    async fn first_answers(&self) -> anyhow::Result<Vec<FirstAnswer>> {
        let mut out: Vec<FirstAnswer> = FIRST_ANSWER_ROUTES
            .iter()
            .map(|(label, function)| FirstAnswer {
                label,
                function,
                status: 0,
                wall_ms: Vec::new(),
                cpu_ms: Vec::new(),
                answer_cpu_ms: Vec::new(),
            })
            .collect();
        for _ in 0..FIRST_ANSWER_RUNS {
            for answer in &mut out {
                let (binary, _) = binary_of(answer.function)?;
                let cold = self
                    .first_answer(&binary, answer.function, answer.label)
                    .await?;
                answer.status = cold.status;
                answer.wall_ms.push(cold.wall_ms);
                answer.cpu_ms.push(cold.cpu_ms);
                answer.answer_cpu_ms.push(cold.answer_cpu_ms);
            }
        }
        Ok(out)
    }
}

/// One row of the load table: requests per second and latency over a bounded number of requests.
struct LoadFigures {
    requests: usize,
    concurrency: usize,
    per_second: f64,
    p50_ms: f64,
    p99_ms: f64,
    failures: usize,
}

/// Runs `requests` calls of `one` with `concurrency` in flight, over loopback only.
async fn load<F, Fut>(requests: usize, concurrency: usize, one: F) -> LoadFigures
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = bool> + Send,
{
    let one = Arc::new(one);
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (one, next) = (Arc::clone(&one), Arc::clone(&next));
            tokio::spawn(async move {
                let mut seen = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= requests {
                        return seen;
                    }
                    let t = Instant::now();
                    let ok = one(i).await;
                    seen.push((t.elapsed(), ok));
                }
            })
        })
        .collect();
    let mut all = Vec::new();
    for w in workers {
        all.extend(w.await.unwrap_or_default());
    }
    let elapsed = started.elapsed();
    let failures = all.iter().filter(|(_, ok)| !ok).count();
    // Rates and latencies count the requests that succeeded; failures are reported apart.
    let ms = sorted_ms(
        &all.iter()
            .filter(|(_, ok)| *ok)
            .map(|(d, _)| *d)
            .collect::<Vec<_>>(),
    );
    LoadFigures {
        requests,
        concurrency,
        per_second: (requests - failures) as f64 / elapsed.as_secs_f64(),
        p50_ms: percentile(&ms, 50.0),
        p99_ms: percentile(&ms, 99.0),
        failures,
    }
}

async fn warm_up(api: &HttpApi, token: &str) {
    let profiles = (0..16).map(|_| api.send("GET", "/v1/profile", Some(token), None));
    futures::future::join_all(profiles).await;
    let logins = (0..16).map(|_| api.new_user_token());
    futures::future::join_all(logins).await;
}

async fn load_stack(api: &str) -> anyhow::Result<Vec<(&'static str, LoadFigures)>> {
    let api = HttpApi::new(api);
    let token = api
        .new_user_token()
        .await
        .map_err(|e| anyhow::anyhow!("logging in to the stack: {e}"))?;
    // Start every instance first: `cargo lambda watch` starts a function's process on its first
    // call, and that start-up does not belong in the figures.
    warm_up(&api, &token).await;
    let profile = {
        let (api, token) = (api.clone(), token.clone());
        load(2_000, 8, move |_| {
            let (api, token) = (api.clone(), token.clone());
            async move {
                let answer = api.send("GET", "/v1/profile", Some(&token), None).await;
                answer.is_ok_and(|(status, _)| status == 200)
            }
        })
        .await
    };
    let logins = {
        let api = api.clone();
        load(300, 8, move |_| {
            let api = api.clone();
            async move { api.new_user_token().await.is_ok() }
        })
        .await
    };
    Ok(vec![
        ("GET /v1/profile", profile),
        ("login (send-code + verify-code)", logins),
    ])
}

pub async fn run(out: &Path) -> anyhow::Result<()> {
    let endpoint =
        std::env::var("DYNAMODB_ENDPOINT").context("run through scripts/with-dynamodb.sh")?;
    moto_sns_endpoint()?;
    let bench = Bench::new(endpoint).await?;
    let mut report = String::new();
    writeln!(report, "# Benchmarks\n")?;
    writeln!(
        report,
        "Measured by `make bench` on {} ({} cores), one run. The functions run as deployed: release, static musl \
         (`scripts/build-lambda.sh`), for this machine's architecture; the floors are release builds against glibc. \
         Init: from exec of the binary \
         to its first `GET /invocation/next` against a stub Runtime API, median of {COLD_RUNS} taken in turns with the \
         other binaries, wall time and the \
         process's CPU time; \"× floor\" compares with a bare `lambda_http` function built in the same run, \
         \"× floor 1\" with the same on a single-threaded runtime, as the functions run; floor 0 answers with no \
         runtime crate at all (blocking `std` I/O), the least an invocation costs. Warm: \
         {WARM_ROUNDS} rounds, taken in turns over the rows, each a fresh process answering {WARM_RUNS} \
         invocations of the function's main request after a first one (verify-code's: first logins, and in a \
         row of its own returning users' logins), against DynamoDB Local: latency through the stub over all \
         rounds, and CPU per request from the process's own counters, the median round. send-code runs as in \
         the demo (the SMS simulated, without its delay) and, in a row of its own, as in production: each code \
         published as an SMS through SNS (moto's server), never shown in the answer. Peak RSS: VmHWM after a \
         warm run, the largest of the rounds.\n",
        std::env::consts::ARCH,
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    )?;
    writeln!(
        report,
        "| function | arm64 bootstrap | native | init p50 (× floor, × floor 1) | init CPU p50 | warm p50 / p99 | CPU per request (× floor 1) | peak RSS |"
    )?;
    writeln!(
        report,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    // The main table's rows: label and bench name (which build, with which settings).
    let warm_rows: Vec<(&str, &str)> = FLOORS
        .iter()
        .map(|(name, label)| (*label, *name))
        .chain(FUNCTIONS.map(|f| (f, f)))
        .chain([
            (SEND_CODE_SNS_LABEL, SEND_CODE_SNS),
            (RETURNING_LOGIN, RETURNING_LOGIN),
        ])
        .collect();
    let mut binaries = Vec::new();
    for (_, name) in &warm_rows {
        if *name != RETURNING_LOGIN {
            let env = function_env(&bench.endpoint, "", name);
            binaries.push((*name, binary_of(name)?.0, env));
        }
    }
    // In the same turns as the floor and the functions: profile reading its keys from moto.
    let keys_secret = keys_secret().await?;
    let mut keys_env = function_env(&bench.endpoint, "", "profile");
    keys_env.retain(|(k, _)| k != "JWT_SECRET");
    keys_env.extend([
        ("JWT_SECRET_ARN".to_owned(), keys_secret),
        (
            "SECRETS_MANAGER_ENDPOINT".to_owned(),
            moto_secrets_endpoint()?,
        ),
    ]);
    binaries.push((PROFILE_KEYS_READ, binary_of("profile")?.0, keys_env));
    let inits = cold_starts(&binaries)?;
    let init_of = |name: &str| inits.get(name).unwrap_or_else(|| &inits[build_of(name)]);
    let floor_init = median(&inits["floor"].0);
    let single_init = median(&inits[SINGLE_THREADED_FLOOR].0);
    let mut rounds: BTreeMap<&str, Vec<Runs>> = BTreeMap::new();
    for round in 1..=WARM_ROUNDS {
        for (_, name) in &warm_rows {
            let events = bench.warm_events(name).await?;
            let env = function_env(&bench.endpoint, "", name);
            let runs = run_binary(&binary_of(name)?.0, &env, events)?;
            rounds.entry(*name).or_default().push(runs);
        }
        eprintln!("warm round {round} of {WARM_ROUNDS}");
    }
    let warm: BTreeMap<&str, Warm> = rounds
        .iter()
        .map(|(name, runs)| (*name, Warm::of(runs)))
        .collect();
    let cpu_per_request: BTreeMap<&str, f64> = warm
        .iter()
        .map(|(name, w)| (*name, w.cpu_per_request_ms))
        .collect();
    let floor_cpu: BTreeMap<&str, f64> = FLOORS
        .iter()
        .map(|(name, _)| (*name, cpu_per_request[name]))
        .collect();
    let single_cpu = floor_cpu[SINGLE_THREADED_FLOOR];
    let mb = |b: u64| format!("{:.2} MiB", b as f64 / 1_048_576.0);
    for (label, name) in &warm_rows {
        let w = &warm[name];
        let build = build_of(name);
        let (init_ms, init_cpu_ms) = init_of(name);
        let init = median(init_ms);
        writeln!(
            report,
            "| {label} | {} | {} | {:.2} ms ({:.1}×, {:.1}×) | {:.2} ms | {:.2} / {:.2} ms | {:.3} ms ({:.1}×) | {} |",
            size(
                &root()
                    .join("target/lambda/arm64")
                    .join(build)
                    .join("bootstrap")
            )
            .map(mb)
            .unwrap_or_else(|| "n/a".into()),
            mb(binary_of(name)?.1),
            init,
            init / floor_init,
            init / single_init,
            median(init_cpu_ms),
            percentile(&w.warm_ms, 50.0),
            percentile(&w.warm_ms, 99.0),
            w.cpu_per_request_ms,
            w.cpu_per_request_ms / single_cpu,
            w.peak_rss_kib
                .map(|k| format!("{:.1} MiB", k as f64 / 1_024.0))
                .unwrap_or_else(|| "n/a".into()),
        )?;
    }
    writeln!(
        report,
        "\nCPU per request in each round ({WARM_RUNS} warm requests in a fresh process), in the order they ran:\n"
    )?;
    writeln!(report, "| row | median | each round |")?;
    writeln!(report, "| --- | ---: | --- |")?;
    for (label, name) in &warm_rows {
        let w = &warm[name];
        writeln!(
            report,
            "| {label} | {:.3} ms | {} |",
            w.cpu_per_request_ms,
            each_round(&w.cpu_rounds)
        )?;
    }
    writeln!(report, "\n## Reading the token keys at cold start\n")?;
    writeln!(
        report,
        "Deployed stacks read the token keys with one Secrets Manager `GetSecretValue` during init \
         (`JWT_SECRET_ARN`, docs/secrets.md) instead of taking them from the environment (`JWT_SECRET`). The \
         profile function both ways, in the same turns as the floor above: the difference is the client's \
         construction and the call, here to moto's server on this machine over plain HTTP (on AWS add the TLS \
         handshake and the network round trip to the regional endpoint, see \"What TLS adds\" below).\n"
    )?;
    writeln!(report, "| profile | init p50 (× floor 1) | init CPU p50 |")?;
    writeln!(report, "| --- | ---: | ---: |")?;
    let keys_rows = [
        ("keys from `JWT_SECRET`", "profile"),
        ("keys from Secrets Manager (moto)", PROFILE_KEYS_READ),
    ];
    for (label, name) in keys_rows {
        let (wall, cpu) = &inits[name];
        writeln!(
            report,
            "| {label} | {:.2} ms ({:.1}×) | {:.2} ms |",
            median(wall),
            median(wall) / single_init,
            median(cpu)
        )?;
    }
    let added = |i: usize| {
        let of = |name: &str| {
            let runs = &inits[name];
            median(if i == 0 { &runs.0 } else { &runs.1 })
        };
        of(PROFILE_KEYS_READ) - of("profile")
    };
    writeln!(
        report,
        "\nReading the secret adds {:.2} ms of wall time and {:.2} ms of CPU to a cold start.",
        added(0),
        added(1)
    )?;
    writeln!(report, "\n## Memory over many invocations\n")?;
    writeln!(
        report,
        "Each function answers {SOAK_INVOCATIONS} cheap invocations (no database call) in one process, each with a fresh \
         trace id as Lambda sends one (`xtask soak`; `make test` runs the same check over 50,000): resident memory \
         (VmRSS) after the first 5,000 and at the end. The runtime crate stores every trace id in the environment; \
         glibc never frees a replaced value, musl does (docs/performance.md, \"Memory\").\n"
    )?;
    writeln!(report, "{}", crate::soak::report(SOAK_INVOCATIONS)?)?;
    eprintln!("measured memory over {SOAK_INVOCATIONS} invocations");
    writeln!(report, "\n## What send-code's init goes to\n")?;
    writeln!(
        report,
        "send-code's init, as production runs it (SMS through SNS), is the furthest over the floor. Each \
         step of its `main` before `run`, in order, timed in fresh processes of the bench's own binary with \
         send-code's settings (`xtask init-steps`): wall time, which here is CPU time, since no step waits on \
         anything. The steps before them (exec, the loader, the runtime) are what the floor pays too.\n"
    )?;
    writeln!(report, "{}", crate::init_steps::measure(&bench.endpoint)?)?;
    eprintln!("timed init's steps");
    writeln!(report, "\n## The first answer after a cold start\n")?;
    writeln!(
        report,
        "The route's event is handed over at the function's first `GET /invocation/next`, as Lambda hands it over the moment init ends \
         (the stub first reads the process's CPU there, and the wall time leaves that pause out). \
         From exec to the answer, median of {FIRST_ANSWER_RUNS} fresh processes each, taken in turns over the routes: wall time (including the \
         waits on DynamoDB Local), the process's CPU time (init and first answer, without those waits), and of that the first answer's \
         own, from the first `GET /invocation/next` on: what the first request pays beyond init, to compare with a warm request's above.\n"
    )?;
    writeln!(
        report,
        "| route | function | status | init + first answer, wall | init + first answer, CPU | first answer alone, CPU |"
    )?;
    writeln!(report, "| --- | --- | ---: | ---: | ---: | ---: |")?;
    for a in bench.first_answers().await? {
        writeln!(
            report,
            "| {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            a.label,
            build_of(a.function),
            a.status,
            median(&a.wall_ms),
            median(&a.cpu_ms),
            median(&a.answer_cpu_ms)
        )?;
    }
    eprintln!("measured first answers");
    writeln!(
        report,
        "\n## At 128 MB: the first request and a warm one under a CPU quota\n"
    )?;
    writeln!(
        report,
        "Lambda gives a function memory / {MB_PER_VCPU} of a vCPU; the rest of this report reads CPU and \
         converts at that average rate. Here the function process is put under that share as a cgroup's CPU \
         quota, as the Linux scheduler enforces a container's limit, at its first `GET /invocation/next` \
         (init runs on the full CPU, as AWS runs an on-demand function's init), and answers the route's first \
         event and then {} more, one every {} ms, each timed from handed over to answered. AWS does not say \
         over what period the share is enforced: 20 ms is what one team measured on Lambda \
         (pwrdrvr/lambda-dispatch#246), 100 ms is the kernel's default. The first request: median of {} cold \
         starts per row; a warm one: median of all their warm requests; the rows in turns. A request's CPU is \
         the process's from the hand-over until it waits for the next event. \"Paused\" is the scheduler's own \
         count of the times the quota ran out (`cpu.stat`) over the row's requests. The \"at 1 ms of CPU = \
         …\" columns are the unthrottled wall time with every millisecond of the same request's CPU \
         stretched by the share, as the rest of the report assumes (`xtask/src/throttle.rs`).\n",
        crate::throttle::WARM,
        crate::throttle::SPACING.as_millis(),
        crate::throttle::COLD,
    )?;
    writeln!(
        report,
        "{}",
        crate::throttle::section(&bench, 128.0, MB_PER_VCPU).await?
    )?;
    eprintln!("measured under a CPU quota");
    writeln!(report, "\n## DynamoDB calls per request\n")?;
    writeln!(
        report,
        "Counted by an SDK interceptor on the real handlers; a round is a wait on DynamoDB (calls that run \
         together share one); capacity from `ReturnConsumedCapacity` (DynamoDB Local).\n"
    )?;
    writeln!(
        report,
        "| request | status | calls | rounds | read units | write units |"
    )?;
    writeln!(report, "| --- | ---: | --- | ---: | ---: | ---: |")?;
    let mut rounds_of = BTreeMap::new();
    let mut calls_of = BTreeMap::new();
    for (label, status, usage) in bench.dynamodb_usage().await? {
        let calls: Vec<String> = usage
            .calls
            .iter()
            .map(|(op, n)| {
                if *n == 1 {
                    (*op).to_owned()
                } else {
                    format!("{n} × {op}")
                }
            })
            .collect();
        rounds_of.insert(label.clone(), f64::from(usage.rounds()));
        calls_of.insert(label.clone(), usage.calls.values().sum::<u32>());
        writeln!(
            report,
            "| {label} | {status} | {} | {} | {:.1} | {:.1} |",
            calls.join(", "),
            usage.rounds(),
            usage.read_units,
            usage.write_units
        )?;
    }
    writeln!(report, "\n## What a login costs at 128 and 256 MB\n")?;
    // A login as production runs it: send-code publishes the SMS through SNS.
    let send_cpu = cpu_per_request[SEND_CODE_SNS];
    let login_cpu = send_cpu + cpu_per_request["verify-code"];
    let returning_login_cpu = send_cpu + cpu_per_request[RETURNING_LOGIN];
    let rounds = |label: &str| rounds_of.get(label).copied().unwrap_or(f64::NAN);
    let send_rounds = rounds(SEND_CODE) + f64::from(PUBLISHES_PER_SEND);
    writeln!(
        report,
        "A login is one send-code as production runs it (the SMS published through SNS) and one verify-code: a \
         first login (verify-code creates the user) or a returning user's, each with its CPU measured above and \
         its round trips (DynamoDB's and the SNS Publish, taken as {ROUND_TRIP_MS} ms each). Lambda gives a function memory / {MB_PER_VCPU} of a vCPU, so the CPU part \
         stretches by that factor; the waits do not. Billed at ${PRICE_PER_GB_SECOND} per GB-second (arm64), \
         per 1 ms, without the SMS delay or the request charge.\n"
    )?;
    writeln!(
        report,
        "| login | CPU | round trips | memory | vCPU share | billed time per login | cost per million logins |"
    )?;
    writeln!(report, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")?;
    // Which login, the key of its verify-code CPU, the label of its DynamoDB usage.
    // Which login, its CPU, the key of its verify-code CPU, the label of its DynamoDB usage.
    for (login, cpu, verify, usage) in [
        ("first", login_cpu, "verify-code", FIRST_LOGIN),
        (
            "returning user",
            returning_login_cpu,
            RETURNING_LOGIN,
            RETURNING_LOGIN,
        ),
    ] {
        let verify_rounds = rounds(usage);
        for memory in [128.0, 256.0] {
            let share = memory / MB_PER_VCPU;
            // Each of the two invocations is billed in whole milliseconds.
            let per_function =
                |cpu: f64, rounds: f64| (cpu / share + rounds * ROUND_TRIP_MS).ceil();
            let billed = per_function(send_cpu, send_rounds)
                + per_function(cpu_per_request[verify], verify_rounds);
            let cost = billed / 1_000.0 * memory / 1_024.0 * PRICE_PER_GB_SECOND * 1e6;
            writeln!(
                report,
                "| {login} | {cpu:.3} ms | {} | {memory:.0} MB | {share:.3} | {billed:.0} ms | ${cost:.2} |",
                send_rounds + verify_rounds,
            )?;
        }
    }
    writeln!(report, "\n## What the SDK adds to one AWS request\n")?;
    writeln!(
        report,
        "The same consistent GetItem against DynamoDB Local, in turns on one single-threaded runtime as in the \
         functions: through the SDK client the functions use, through the same client with its optional layers \
         switched off, and signed with `aws-sigv4` (the SDK's own signing crate) and sent with hyper or with \
         blocking `std` I/O on one kept-alive connection, the response parsed as JSON. Then, in the same turns, \
         send-code's SMS published to moto's SNS server: through send-code's own sender (the SDK's SNS client), \
         and signed with `aws-sigv4` and sent with blocking `std` I/O, the answer checked for its message id. \
         CPU of that thread only (`xtask sdk-cost`).\n"
    )?;
    let sdk = crate::sdk_cost::measure(&bench.endpoint, &moto_sns_endpoint()?)?;
    writeln!(report, "{}", sdk.table())?;
    writeln!(report, "{}", sdk.publish_table())?;
    eprintln!("measured the SDK's share");
    writeln!(report, "\n## What TLS adds to the first request on AWS\n")?;
    writeln!(
        report,
        "On AWS the functions talk HTTPS to DynamoDB (and send-code to SNS); the local stack is plain HTTP, \
         so nothing above pays a TLS handshake. Here a TLS server in the bench's process terminates TLS in \
         front of DynamoDB Local with a chain shaped like an AWS endpoint's (RSA-2048 leaf and intermediate \
         under an RSA-2048 root), and the functions' own HTTPS client, trusting that root instead of \
         Amazon's, builds a new client and makes its first GetItem (a new connection), in turns with the \
         same over plain HTTP. The difference is the handshake, the client's CPU only (its thread's \
         counter). Which version, group and tickets AWS's endpoints use is not known here, so each is a \
         row (`xtask tls-cost`).\n"
    )?;
    let tls = crate::tls_cost::measure(&bench.endpoint)?;
    writeln!(report, "{}", tls.table())?;
    let (least, most) = tls.handshake_ms();
    writeln!(
        report,
        "So a cold function's first request on AWS pays {least:.2}-{most:.2} ms more CPU than here for each \
         AWS service it calls: DynamoDB for every function but web, and SNS as well for send-code.\n"
    )?;
    eprintln!("measured the TLS handshake");
    writeln!(report, "\n## The least any implementation pays here\n")?;
    writeln!(
        report,
        "Floor 0 is one invocation with no library at all, the cheapest GetItem above (without the SDK) one \
         DynamoDB request, and the Publish without the SDK one SMS. No function can cost less per request than \
         its invocations × the cheapest floor of this run + its DynamoDB requests × that GetItem (most of them \
         carry more than a GetItem) + its SMS × that Publish, whatever runtime, client or code it uses. The \
         same sum with floor 1 (a bare `lambda_http` function on one thread, as the functions run) and the \
         GetItem and Publish through the SDK is the least a function built on those libraries pays before \
         any code of its own. The targets are issue #13's; a login is measured as production runs it, with \
         the SMS through SNS.\n"
    )?;
    writeln!(
        report,
        "| request | invocations | DynamoDB requests | SMS | least possible | least with `lambda_http` and the SDK | measured | target |"
    )?;
    writeln!(
        report,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    // The cheapest floor of the run: floor 0 is meant to be it, but on a noisy run floor 1 can be.
    let least = Unit {
        invocation: floor_cpu.values().copied().fold(f64::INFINITY, f64::min),
        request: median(&sdk.bare).min(median(&sdk.blocking)),
        sms: median(&sdk.publish_blocking),
    };
    let with_libraries = Unit {
        invocation: single_cpu,
        request: median(&sdk.sdk),
        sms: median(&sdk.publish_sdk),
    };
    let requests_of = |labels: &[&str]| -> anyhow::Result<u32> {
        labels
            .iter()
            .map(|l| {
                calls_of
                    .get(*l)
                    .copied()
                    .context(format!("no DynamoDB calls counted for {l}"))
            })
            .sum()
    };
    for (label, invocations, requests, sms, measured, target) in [
        (
            "GET /v1/profile",
            1,
            requests_of(&[PROFILE_GET])?,
            0,
            cpu_per_request["profile"],
            PROFILE_TARGET_MS,
        ),
        (
            "login: send-code + verify-code (a first login, as measured above)",
            2,
            requests_of(&[SEND_CODE, FIRST_LOGIN])?,
            PUBLISHES_PER_SEND,
            login_cpu,
            LOGIN_TARGET_MS,
        ),
        (
            "login: send-code + verify-code (a returning user)",
            2,
            requests_of(&[SEND_CODE, RETURNING_LOGIN])?,
            PUBLISHES_PER_SEND,
            returning_login_cpu,
            LOGIN_TARGET_MS,
        ),
    ] {
        writeln!(
            report,
            "| {label} | {invocations} | {requests} | {sms} | {:.3} ms | {:.3} ms | {measured:.3} ms | {target} ms |",
            least.of(invocations, requests, sms),
            with_libraries.of(invocations, requests, sms),
        )?;
    }
    if let Ok(api) = std::env::var("API_URL") {
        writeln!(report, "\n## The whole local stack under load\n")?;
        writeln!(
            report,
            "Every function behind `cargo lambda watch --release` (4 instances each) and DynamoDB Local, on 127.0.0.1, \
             a fixed number of requests from one client process.\n"
        )?;
        writeln!(
            report,
            "| requests | count | in flight | per second | p50 | p99 | failed |"
        )?;
        writeln!(report, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")?;
        for (label, l) in load_stack(&api).await? {
            writeln!(
                report,
                "| {label} | {} | {} | {:.0} | {:.1} ms | {:.1} ms | {} |",
                l.requests, l.concurrency, l.per_second, l.p50_ms, l.p99_ms, l.failures
            )?;
        }
    }
    std::fs::create_dir_all(out.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(out, &report)?;
    println!("{report}");
    Ok(())
}

/// What one invocation, one DynamoDB request and one SMS cost, in CPU milliseconds.
struct Unit {
    invocation: f64,
    request: f64,
    sms: f64,
}

impl Unit {
    /// The cost of a request made of that many of each.
    fn of(&self, invocations: u32, requests: u32, sms: u32) -> f64 {
        f64::from(invocations) * self.invocation
            + f64::from(requests) * self.request
            + f64::from(sms) * self.sms
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use shared::config::SmsSender;

    use super::*;

    fn config_of(env: &[(String, String)]) -> Config {
        Config::from_lookup(|k| {
            env.iter()
                .rev()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        })
        .unwrap()
    }

    #[test]
    fn the_production_send_code_row_runs_send_code_with_sms_through_sns_and_codes_never_shown() {
        let env = function_env("http://127.0.0.1:1", "127.0.0.1:2", SEND_CODE_SNS);
        assert_eq!(build_of(SEND_CODE_SNS), "send-code");
        let sns = config_of(&env);
        assert_eq!(sns.sms.sender, SmsSender::Sns);
        assert!(!sns.expose_codes);
        assert_eq!(
            sns.sms.sns_endpoint,
            std::env::var("MOTO_SNS_ENDPOINT").ok()
        );
        assert_eq!(env.iter().filter(|(k, _)| k == "EXPOSE_CODES").count(), 1);
        // The demo row: simulated SMS without its delay, codes in the answers.
        let demo = config_of(&function_env(
            "http://127.0.0.1:1",
            "127.0.0.1:2",
            "send-code",
        ));
        assert_eq!(demo.sms.sender, SmsSender::Log);
        assert!(demo.expose_codes);
        assert_eq!(demo.sms_delay_ms, (0, 0));
    }

    #[test]
    fn a_rows_warm_figures_are_its_median_round_its_pooled_latencies_and_its_largest_memory() {
        let round = |cpu: f64, warm_ms: Vec<f64>, rss: Option<u64>| Runs {
            warm_ms,
            cpu_per_request_ms: cpu,
            peak_rss_kib: rss,
        };
        let warm = Warm::of(&[
            round(0.9, vec![3.0, 4.0], Some(8_000)),
            round(0.5, vec![1.0], None),
            round(0.6, vec![2.0, 5.0], Some(8_200)),
        ]);
        assert_eq!(warm.cpu_per_request_ms, 0.6);
        assert_eq!(warm.cpu_rounds, vec![0.9, 0.5, 0.6]);
        assert_eq!(warm.warm_ms, vec![1.0, 2.0, 3.0, 4.0, 5.0]);
        assert_eq!(warm.peak_rss_kib, Some(8_200));
    }

    #[test]
    fn each_bench_name_runs_its_own_build() {
        assert_eq!(build_of(SINGLE_THREADED_FLOOR), "floor");
        assert_eq!(build_of(RETURNING_LOGIN), "verify-code");
        for name in FUNCTIONS.iter().chain([&STD_FLOOR, &"floor"]) {
            assert_eq!(build_of(name), *name);
        }
    }

    #[test]
    fn a_request_costs_its_invocations_requests_and_sms_each_at_its_unit() {
        let unit = Unit {
            invocation: 0.1,
            request: 0.01,
            sms: 0.001,
        };
        assert!((unit.of(2, 5, 1) - 0.251).abs() < 1e-12);
        assert!((unit.of(1, 2, 0) - 0.12).abs() < 1e-12);
    }
}
