//! What the bench runs: each bench name (a row of the report) with its build and settings, where
//! a build is found, and the events the functions are sent. Imports only `measure`.
use std::path::PathBuf;

use anyhow::Context;
use serde_json::{Value, json};
use shared::testing::json_event;

use crate::measure::{root, size};

/// The functions, by package name.
pub const FUNCTIONS: [&str; 4] = ["send-code", "verify-code", "profile", "web"];
/// Warm requests per round, after a first one left out of the figures.
pub const WARM_RUNS: usize = 1_000;
/// Lambda's CPU share grows with memory: one full vCPU at 1,769 MB.
pub const MB_PER_VCPU: f64 = 1_769.0;
// The `dynamodb_usage` rows of the benchmark's warm requests: verify-code's are first logins,
// each with a new phone, and returning users' logins.
pub const PROFILE_GET: &str = "GET /v1/profile";
pub const SEND_CODE: &str = "send-code";
pub const FIRST_LOGIN: &str = "verify-code, first login";
/// Also a bench name: verify-code's build answering returning users' logins.
pub const RETURNING_LOGIN: &str = "verify-code, returning user";
/// send-code as production runs it: each code published as an SMS through SNS (moto's server,
/// which `make bench` starts), never shown in the answer. A bench name of its own (`make profile
/// FUNCTION=send-code-sns` takes it too): the send-code binary with these settings.
pub const SEND_CODE_SNS: &str = "send-code-sns";
pub const SEND_CODE_SNS_LABEL: &str = "send-code, SMS through SNS";
const SECRET: &str = "bench-secret-bench-secret-bench-secret-0123";
/// profile reading its token keys from Secrets Manager (moto's server) at cold start, as deployed
/// stacks do (`JWT_SECRET_ARN`), beside profile with `JWT_SECRET`: only in the cold starts.
pub const PROFILE_KEYS_READ: &str = "profile-keys-from-secrets-manager";

/// The settings every benchmarked function runs with.
pub fn function_env(endpoint: &str, runtime_api: &str, name: &str) -> Vec<(String, String)> {
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
pub fn moto_sns_endpoint() -> anyhow::Result<String> {
    std::env::var("MOTO_SNS_ENDPOINT").context(
        "MOTO_SNS_ENDPOINT is not set: run through `make bench` (it starts moto's SNS server)",
    )
}

/// moto's server as Secrets Manager (the same server as its SNS, which answers every service).
pub fn moto_secrets_endpoint() -> anyhow::Result<String> {
    std::env::var("MOTO_SECRETS_ENDPOINT").context(
        "MOTO_SECRETS_ENDPOINT is not set: run through `make bench` (it starts moto's server)",
    )
}

/// A secret in moto holding a token key, as a stack's `AppSecret` does: its ARN.
pub async fn keys_secret() -> anyhow::Result<String> {
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

/// The floor binary on a single-threaded runtime, as the functions run (`perf/src/bin/floor.rs`).
pub const SINGLE_THREADED_FLOOR: &str = "floor-single";

/// Floor 0: no runtime crate at all, blocking `std` I/O (`perf/src/bin/floor-std.rs`).
pub const STD_FLOOR: &str = "floor-std";

/// Every floor, by bench name, with its label in the results.
pub const FLOORS: [(&str, &str); 3] = [
    ("floor", "bare `lambda_http` (floor)"),
    (
        SINGLE_THREADED_FLOOR,
        "the same, single-threaded runtime (floor 1)",
    ),
    (STD_FLOOR, "no runtime crate, blocking `std` I/O (floor 0)"),
];

/// The main table's rows, label and bench name: the floors, each function, send-code as
/// production runs it, and returning users' logins.
pub fn main_rows() -> Vec<(&'static str, &'static str)> {
    FLOORS
        .iter()
        .map(|(name, label)| (*label, *name))
        .chain(FUNCTIONS.map(|f| (f, f)))
        .chain([
            (SEND_CODE_SNS_LABEL, SEND_CODE_SNS),
            (RETURNING_LOGIN, RETURNING_LOGIN),
        ])
        .collect()
}

/// The build a bench name runs: floor and floor 1 are one binary, send-code with and without
/// SMS through SNS another, verify-code for first and returning users' logins a third.
pub fn build_of(name: &str) -> &str {
    match name {
        SINGLE_THREADED_FLOOR => "floor",
        SEND_CODE_SNS => "send-code",
        RETURNING_LOGIN => "verify-code",
        PROFILE_KEYS_READ => "profile",
        _ => name,
    }
}

/// The release binary a bench name runs, and its size.
pub fn binary_of(name: &str) -> anyhow::Result<(PathBuf, u64)> {
    release_binary(build_of(name))
}

/// Where a build is measured. The functions: `FUNCTION_BINARIES/NAME/bootstrap` when it is set
/// (`make bench` points it at the deployed build, static musl, for this machine). The floors, and
/// the functions otherwise: `target/release/NAME`, or NAME in `BENCH_BINARIES` (`make profile`
/// points it at a build that keeps its symbols).
pub fn release_binary(name: &str) -> anyhow::Result<(PathBuf, u64)> {
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

pub fn event(method: &str, path: &str, token: Option<&str>, body: Option<Value>) -> String {
    json_event(method, path, token, body.as_ref())
}

pub fn send_event(phone: &str) -> String {
    event(
        "POST",
        "/v1/auth/send-code",
        None,
        Some(json!({ "phone": phone })),
    )
}

pub fn verify_event(phone: &str, code: &str) -> String {
    let body = json!({ "phone": phone, "code": code });
    event("POST", "/v1/auth/verify-code", None, Some(body))
}

/// What a floor is sent: any event will do, it answers each with the same body.
pub fn floor_events() -> Vec<String> {
    (0..=WARM_RUNS)
        .map(|_| event("GET", "/", None, None))
        .collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use shared::config::{Config, SmsSender};

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
    fn each_bench_name_runs_its_own_build() {
        assert_eq!(build_of(SINGLE_THREADED_FLOOR), "floor");
        assert_eq!(build_of(RETURNING_LOGIN), "verify-code");
        assert_eq!(build_of(PROFILE_KEYS_READ), "profile");
        for name in FUNCTIONS.iter().chain([&STD_FLOOR, &"floor"]) {
            assert_eq!(build_of(name), *name);
        }
    }
}
