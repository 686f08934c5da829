//! The token keys as deployed stacks hold them: a Secrets Manager secret (moto's server) read at
//! init, rotated by `scripts/rotate-secret.sh` without logging anyone out, and read again by a
//! warm function on the first token of a newer key.
use std::path::Path;
use std::process::Command;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::Value;
use shared::auth::Claims;
use shared::keys::{MAX_KEY_AGE_S, REFETCH_INTERVAL_S};
use shared::state::{AppState, InitError, dynamodb_client, sdk_config};
use shared::testing::test_config;

use crate::helpers::{TestApp, app_with_client, random_phone};

fn moto() -> String {
    std::env::var("MOTO_SECRETS_ENDPOINT").expect(
        "MOTO_SECRETS_ENDPOINT is not set: run the tests with `make test`, which starts moto",
    )
}

fn secrets() -> aws_sdk_secretsmanager::Client {
    let config = aws_sdk_secretsmanager::config::Builder::from(&sdk_config())
        .endpoint_url(moto())
        .build();
    aws_sdk_secretsmanager::Client::from_conf(config)
}

/// A secret of its own for one test, holding `value`: its ARN.
async fn new_secret(value: &str) -> String {
    let name = format!("referral-test-{}", uuid::Uuid::new_v4());
    let out = secrets()
        .create_secret()
        .name(name)
        .secret_string(value)
        .send()
        .await
        .unwrap();
    out.arn().unwrap().to_owned()
}

async fn secret_value(arn: &str) -> String {
    let out = secrets()
        .get_secret_value()
        .secret_id(arn)
        .send()
        .await
        .unwrap();
    out.secret_string().unwrap().to_owned()
}

/// The settings of a deployed function: `JWT_SECRET_ARN`, no `JWT_SECRET`.
fn deployed_config(arn: &str) -> shared::config::Config {
    let moto = moto();
    test_config(&[
        ("JWT_SECRET", ""),
        ("JWT_SECRET_ARN", arn),
        ("SECRETS_MANAGER_ENDPOINT", &moto),
    ])
}

/// A function's cold start against the secret `arn`.
async fn cold_start(arn: &str) -> TestApp {
    let config = deployed_config(arn);
    let client = dynamodb_client(config.dynamodb_endpoint.as_deref());
    app_with_client(config, client).await
}

fn kid(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

/// Runs the rotate script with `env` (moto as its AWS, a secret by id).
fn rotate(env: &[(&str, &str)]) -> std::process::Output {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    Command::new(root.join("scripts/rotate-secret.sh"))
        .env_remove("SECRET_ID")
        .env_remove("FORCE")
        .envs(env.iter().copied())
        .env("AWS_ENDPOINT_URL", moto())
        .output()
        .expect("scripts/rotate-secret.sh runs")
}

/// The rotate script on one secret, by id.
fn rotate_secret(arn: &str) {
    let out = rotate(&[("SECRET_ID", arn)]);
    assert!(out.status.success(), "{out:?}");
}

const FIRST_KEY: &str = "first-key-of-the-stack-generated-by-cloudformation-0123456789ab";

#[tokio::test]
async fn a_deployed_function_reads_its_token_key_from_secrets_manager_at_init() {
    let arn = new_secret(FIRST_KEY).await;
    let app = cold_start(&arn).await;
    assert_eq!(app.state.tokens.fetches(), 1);
    let (_, token, _) = app.new_user().await;
    // Signed with the secret's key, named `k0` as a secret never rotated names it.
    assert_eq!(kid(&token), "k0");
    let mut validation = jsonwebtoken::Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    jsonwebtoken::decode::<Claims>(
        &token,
        &jsonwebtoken::DecodingKey::from_secret(FIRST_KEY.as_bytes()),
        &validation,
    )
    .unwrap();
    assert_eq!(app.profile(&token).await.status, 200);
}

#[tokio::test]
async fn a_missing_or_malformed_secret_fails_the_cold_start_without_showing_the_value() {
    let missing = deployed_config("referral-test-no-such-secret");
    let client = dynamodb_client(missing.dynamodb_endpoint.as_deref());
    let err = AppState::load(missing, client).await.err().unwrap();
    assert!(matches!(err, InitError::Keys(_)), "{err:?}");

    let short = "too-short-a-key";
    let arn = new_secret(short).await;
    let config = deployed_config(&arn);
    let client = dynamodb_client(config.dynamodb_endpoint.as_deref());
    let err = AppState::load(config, client).await.err().unwrap();
    let shown = format!("{err:?} {}", shared::error::Chain(&err));
    assert!(
        shown.contains("at least") && !shown.contains(short),
        "{shown}"
    );
}

#[tokio::test]
async fn old_tokens_and_codes_in_flight_keep_working_through_a_rotation_and_warm_instances_pick_up_the_new_key()
 {
    let arn = new_secret(FIRST_KEY).await;
    let warm = cold_start(&arn).await;
    let (_, before, _) = warm.new_user().await;
    // A code sent before the rotation, verified after it on another instance.
    let phone = random_phone();
    let code = warm.code_for(&phone).await;

    rotate_secret(&arn);
    let stored: Value = serde_json::from_str(&secret_value(&arn).await).unwrap();
    assert_eq!(stored["previous"]["kid"], "k0");
    assert_eq!(stored["previous"]["key"], FIRST_KEY);
    assert_eq!(stored["otp_key"], FIRST_KEY);
    let new_kid = stored["current"]["kid"].as_str().unwrap().to_owned();
    assert_ne!(stored["current"]["key"], FIRST_KEY);

    // A function started after the rotation signs with the new key and accepts the old tokens.
    let cold = cold_start(&arn).await;
    assert_eq!(cold.profile(&before).await.status, 200);
    let verified = cold.verify(&phone, &code).await;
    assert_eq!(verified.status, 201, "{verified:#?}");
    let after = verified.body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(kid(&after), new_kid);

    // The warm one, which knew only `k0`, reads the secret again on the first token of the new
    // key, then accepts it and signs with the new key itself.
    assert_eq!(warm.state.tokens.fetches(), 1);
    warm.state
        .clock
        .advance(std::time::Duration::from_secs(REFETCH_INTERVAL_S as u64));
    assert_eq!(warm.profile(&after).await.status, 200);
    assert_eq!(warm.state.tokens.fetches(), 2);
    let (_, signed_warm, _) = warm.new_user().await;
    assert_eq!(kid(&signed_warm), new_kid);
    assert_eq!(warm.profile(&before).await.status, 200);
    assert_eq!(warm.state.tokens.fetches(), 2);
}

/// A token for `sub` naming `kid`, signed with `key`.
fn token_with_kid(kid: &str, key: &str, now: i64) -> String {
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some(kid.to_owned());
    let claims = Claims {
        sub: "someone".into(),
        iat: now,
        exp: now + 600,
        ver: 0,
    };
    jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(key.as_bytes())).unwrap()
}

#[tokio::test]
async fn tokens_with_unknown_kids_are_refused_and_read_the_secret_at_most_once_per_interval() {
    let arn = new_secret(FIRST_KEY).await;
    let app = cold_start(&arn).await;
    let clock = &app.state.clock;
    clock.advance(std::time::Duration::from_secs(REFETCH_INTERVAL_S as u64));
    for n in 0..20 {
        // Signed with the real key, but naming a key the secret does not hold.
        let forged = token_with_kid(&format!("k-random-{n}"), FIRST_KEY, clock.now_s());
        app.profile(&forged)
            .await
            .assert_problem(401, "invalid_token");
    }
    // The first unknown kid read the secret again; the other nineteen did not.
    assert_eq!(app.state.tokens.fetches(), 2);
    clock.advance(std::time::Duration::from_secs(REFETCH_INTERVAL_S as u64));
    let forged = token_with_kid("k-random-again", FIRST_KEY, clock.now_s());
    app.profile(&forged)
        .await
        .assert_problem(401, "invalid_token");
    assert_eq!(app.state.tokens.fetches(), 3);
}

#[tokio::test]
async fn a_warm_function_whose_keys_are_an_hour_old_reads_them_again_before_signing() {
    let arn = new_secret(FIRST_KEY).await;
    let app = cold_start(&arn).await;
    rotate_secret(&arn);
    let (_, token, _) = app.new_user().await;
    assert_eq!(kid(&token), "k0", "no reason to read the secret yet");
    app.state
        .clock
        .advance(std::time::Duration::from_secs(MAX_KEY_AGE_S as u64));
    let (_, token, _) = app.new_user().await;
    assert_ne!(kid(&token), "k0");
    assert_eq!(app.state.tokens.fetches(), 2);
}

#[tokio::test]
async fn the_rotate_script_keeps_one_previous_key_and_refuses_to_rotate_twice_within_a_token_lifetime()
 {
    let arn = new_secret(FIRST_KEY).await;
    rotate_secret(&arn);
    let first: Value = serde_json::from_str(&secret_value(&arn).await).unwrap();
    let again = rotate(&[("SECRET_ID", &arn)]);
    assert!(!again.status.success());
    let said = String::from_utf8_lossy(&again.stderr);
    assert!(said.contains("less than 25 hours"), "{said}");
    let unchanged: Value = serde_json::from_str(&secret_value(&arn).await).unwrap();
    assert_eq!(unchanged, first);

    // Forced (and a second apart, so the kids differ): the first rotation's key becomes the
    // previous one, `k0` is gone, the code-hashing material stays the first key.
    std::thread::sleep(std::time::Duration::from_millis(1_100));
    let forced = rotate(&[("SECRET_ID", &arn), ("FORCE", "1")]);
    assert!(forced.status.success(), "{forced:?}");
    let second: Value = serde_json::from_str(&secret_value(&arn).await).unwrap();
    assert_eq!(second["previous"], first["current"]);
    assert_eq!(second["otp_key"], FIRST_KEY);
    assert_eq!(second["current"]["key"].as_str().unwrap().len(), 64);
    // No key reaches the script's output.
    for out in [&forced.stdout, &forced.stderr] {
        let text = String::from_utf8_lossy(out);
        for key in [&first["current"]["key"], &second["current"]["key"]] {
            assert!(!text.contains(key.as_str().unwrap()), "{text}");
        }
    }
    // Both keys of the secret now verify, as a function started now reads them.
    let app = cold_start(&arn).await;
    let now = app.state.clock.now_s();
    let kid_of = |v: &Value| v["current"]["kid"].as_str().unwrap().to_owned();
    let key_of = |v: &Value| v["current"]["key"].as_str().unwrap().to_owned();
    for stored in [&first, &second] {
        let token = token_with_kid(&kid_of(stored), &key_of(stored), now);
        // Signature and kid accepted: the user does not exist, so a valid token of nobody.
        let resp = app.profile(&token).await;
        resp.assert_problem(401, "invalid_token");
        assert_eq!(app.state.tokens.fetches(), 1, "a known kid reads nothing");
    }
}

#[tokio::test]
async fn the_rotate_script_finds_the_stacks_secret_from_samconfig() {
    let arn = new_secret(FIRST_KEY).await;
    // A stub `aws` that answers the stack lookup itself and passes the rest to the real CLI.
    let dir = std::env::temp_dir().join(format!("rotate-stub-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&dir).unwrap();
    let real = String::from_utf8(
        Command::new("bash")
            .args(["-c", "command -v aws"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let stub = format!(
        "#!/usr/bin/env bash\n\
         if [ \"$1\" = cloudformation ]; then\n\
           echo \"$*\" >> '{log}'\n\
           echo '{arn}'\n\
         else\n\
           exec '{real}' \"$@\"\n\
         fi\n",
        log = dir.join("calls").display(),
        real = real.trim(),
    );
    let path = dir.join("aws");
    std::fs::write(&path, stub).unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let search = format!("{}:{}", dir.display(), std::env::var("PATH").unwrap());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let out = Command::new(root.join("scripts/rotate-secret.sh"))
        .arg("prod")
        .env("PATH", search)
        .env("AWS_ENDPOINT_URL", moto())
        .env_remove("SECRET_ID")
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let calls = std::fs::read_to_string(dir.join("calls")).unwrap();
    assert!(
        calls.contains("--stack-name referral-api-prod")
            && calls.contains("--logical-resource-id AppSecret"),
        "{calls}"
    );
    let stored: Value = serde_json::from_str(&secret_value(&arn).await).unwrap();
    assert_eq!(stored["previous"]["key"], FIRST_KEY);
    std::fs::remove_dir_all(dir).unwrap();
}
