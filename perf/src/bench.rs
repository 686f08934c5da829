//! `make bench` (`perf bench --out FILE`): sizes, cold starts (against a bare `lambda_http` floor
//! built in the same run), the first answer of every route after a cold start, warm latency, CPU
//! per request and memory of each function's release binary under a stub Lambda Runtime API,
//! requests at 128 MB under a CPU quota, the DynamoDB calls, round trips and capacity each
//! endpoint uses, what the SDK and a TLS handshake add to a request, the least any implementation
//! could pay per request, and a bounded loopback load on the whole local stack. Each section
//! measures and returns its figures; `render` writes the one Markdown report.
//!
//! At 128 MB a function gets about 1/14 of a vCPU, so 1 ms of CPU here is about 14 ms there at
//! the average rate (how much of it a short request pays under a quota is measured too, see
//! `throttle.rs`).
use std::collections::BTreeMap;
use std::path::Path;

use anyhow::Context;

use crate::app::Bench;
use crate::builds::{
    FLOORS, MB_PER_VCPU, PROFILE_KEYS_READ, RETURNING_LOGIN, SINGLE_THREADED_FLOOR, binary_of,
    build_of, function_env, keys_secret, moto_secrets_endpoint, moto_sns_endpoint,
};
use crate::cold::{ColdStart, cold_starts};
use crate::load::load_stack;
use crate::measure::{root, size};
use crate::memory::BENCH_INVOCATIONS;
use crate::render::{MainRow, Report};
use crate::warm::{Runs, WARM_ROUNDS, Warm, run_binary};
use crate::{
    builds, cost, dynamodb, first_answer, init_steps, memory, render, sdk_cost, throttle, tls_cost,
};

pub async fn run(out: &Path) -> anyhow::Result<()> {
    let endpoint =
        std::env::var("DYNAMODB_ENDPOINT").context("run through scripts/with-dynamodb.sh")?;
    let sns = moto_sns_endpoint()?;
    let bench = Bench::new(endpoint).await?;
    let rows = main_rows()?;
    let inits = cold_starts(&cold_binaries(&bench, &rows).await?)?;
    let warm = warm_rounds(&bench, &rows).await?;
    let memory = memory::report(BENCH_INVOCATIONS)?;
    eprintln!("measured memory over {BENCH_INVOCATIONS} invocations");
    let init_steps = init_steps::measure(&bench.endpoint)?;
    eprintln!("timed init's steps");
    let first_answers = first_answer::first_answers(&bench).await?;
    eprintln!("measured first answers");
    let throttle = throttle::section(&bench, 128.0, MB_PER_VCPU).await?;
    eprintln!("measured under a CPU quota");
    let usage = dynamodb::usage(&bench).await?;
    let sdk = sdk_cost::measure(&bench.endpoint, &sns)?;
    eprintln!("measured the SDK's share");
    let tls = tls_cost::measure(&bench.endpoint)?;
    eprintln!("measured the TLS handshake");
    let load = match std::env::var("API_URL") {
        Ok(api) => Some(load_stack(&api).await?),
        Err(_) => None,
    };
    let cpu_per_request: BTreeMap<&str, f64> = warm
        .iter()
        .map(|(name, w)| (*name, w.cpu_per_request_ms))
        .collect();
    let (rounds, calls) = (dynamodb::rounds_of(&usage), dynamodb::calls_of(&usage));
    let measured = cost::Measured {
        cpu_per_request: &cpu_per_request,
        rounds: &rounds,
        calls: &calls,
        // The cheapest floor of the run: floor 0 is meant to be it, but on a noisy run floor 1
        // can be.
        cheapest_floor: FLOORS
            .iter()
            .map(|(name, _)| cpu_per_request[name])
            .fold(f64::INFINITY, f64::min),
        single_threaded_floor: cpu_per_request[SINGLE_THREADED_FLOOR],
        sdk: &sdk,
    };
    let (logins, least) = (measured.logins()?, measured.least()?);
    let report = render::report(&Report {
        arch: std::env::consts::ARCH,
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        rows,
        inits,
        warm,
        memory,
        memory_invocations: BENCH_INVOCATIONS,
        init_steps,
        first_answers,
        throttle,
        usage,
        logins,
        sdk,
        tls,
        least,
        load,
    })?;
    std::fs::create_dir_all(out.parent().unwrap_or(Path::new(".")))?;
    std::fs::write(out, &report)?;
    println!("{report}");
    Ok(())
}

/// The main table's rows, each with its build's sizes.
fn main_rows() -> anyhow::Result<Vec<MainRow>> {
    builds::main_rows()
        .into_iter()
        .map(|(label, name)| {
            let arm64 = root()
                .join("target/lambda/arm64")
                .join(build_of(name))
                .join("bootstrap");
            Ok(MainRow {
                label,
                name,
                arm64_bytes: size(&arm64),
                native_bytes: binary_of(name)?.1,
            })
        })
        .collect()
}

/// What is cold-started, in turns: every row's build (returning logins are verify-code's) and,
/// beside them, profile reading its token keys from Secrets Manager (moto).
async fn cold_binaries(bench: &Bench, rows: &[MainRow]) -> anyhow::Result<Vec<ColdStart<'static>>> {
    let mut binaries = Vec::new();
    for row in rows.iter().filter(|r| r.name != RETURNING_LOGIN) {
        let env = function_env(&bench.endpoint, "", row.name);
        binaries.push((row.name, binary_of(row.name)?.0, env));
    }
    let mut keys_env = function_env(&bench.endpoint, "", "profile");
    keys_env.retain(|(k, _)| k != "JWT_SECRET");
    keys_env.extend([
        ("JWT_SECRET_ARN".to_owned(), keys_secret().await?),
        (
            "SECRETS_MANAGER_ENDPOINT".to_owned(),
            moto_secrets_endpoint()?,
        ),
    ]);
    binaries.push((PROFILE_KEYS_READ, binary_of("profile")?.0, keys_env));
    Ok(binaries)
}

/// `WARM_ROUNDS` rounds of every row, in turns: each row's figures over its rounds.
async fn warm_rounds(
    bench: &Bench,
    rows: &[MainRow],
) -> anyhow::Result<BTreeMap<&'static str, Warm>> {
    let mut rounds: BTreeMap<&'static str, Vec<Runs>> = BTreeMap::new();
    for round in 1..=WARM_ROUNDS {
        for row in rows {
            let events = bench.warm_events(row.name).await?;
            let env = function_env(&bench.endpoint, "", row.name);
            let runs = run_binary(&binary_of(row.name)?.0, &env, events)?;
            rounds.entry(row.name).or_default().push(runs);
        }
        eprintln!("warm round {round} of {WARM_ROUNDS}");
    }
    Ok(rounds
        .iter()
        .map(|(name, runs)| (*name, Warm::of(runs)))
        .collect())
}
