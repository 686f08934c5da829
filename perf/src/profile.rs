//! `make profile FUNCTION=…`: where one function's CPU goes, from `perf` samples of the same runs
//! `make bench` measures, so a change can be aimed before it is made:
//! - `FUNCTION-first.data`: exec, init and the first answer of the function's first route (as
//!   `make bench` queues it: the event is waiting when init ends);
//! - `FUNCTION-warm.data`: `WARM_RUNS` warm requests after a first one, the process attached to
//!   after that first answer.
//!
//! Before them it prints the function's init and warm CPU per request as `make bench` measures
//! them. Each recording is summarised on stdout by symbol, and by whose code the samples were in
//! (the SDK, the Lambda runtime, tokio, logging, ours: [`owner`]); `perf report -i FILE` opens
//! the call graphs.
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::app::{Bench, FIRST_ANSWER_ROUTES};
use crate::builds::{binary_of, function_env};
use crate::cold::cold_starts;
use crate::measure::{median, spawn, stop};
use crate::runtime_stub::{RuntimeStub, Seen};
use crate::warm::run_binary;

/// `perf record` with DWARF call graphs (release builds have no frame pointers).
fn perf_record(out: &Path, hz: u32) -> Command {
    let mut perf = Command::new("perf");
    perf.args(["record", "-q", "-g", "--call-graph", "dwarf,16384", "-F"])
        .arg(hz.to_string())
        .arg("-o")
        .arg(out)
        .stdin(Stdio::null())
        .stdout(Stdio::null());
    perf
}

/// Stops `perf record` the way it writes a complete file: SIGINT, then wait.
fn finish(perf: Child) -> anyhow::Result<()> {
    let status = Command::new("kill")
        .args(["-INT", &perf.id().to_string()])
        .status()?;
    if !status.success() {
        bail!("could not stop perf");
    }
    perf.wait_with_output()?;
    Ok(())
}

/// Waits for the answer to the event handed out last.
fn answered(stub: &RuntimeStub) -> anyhow::Result<String> {
    loop {
        match stub.next_seen(Duration::from_secs(20))? {
            Seen::Ready(_) => {}
            Seen::Response { body, .. } => return Ok(body),
            Seen::Failed(error) => bail!("the function failed: {error}"),
        }
    }
}

fn summary(data: &Path) -> anyhow::Result<String> {
    let report = Command::new("perf")
        .args(["report", "--stdio", "--no-children", "-g", "none"])
        .args(["--sort", "dso,symbol", "--percent-limit", "0.7", "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .context("perf report")?;
    let text = String::from_utf8_lossy(&report.stdout);
    Ok(text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect::<Vec<_>>()
        .join("\n"))
}

/// Whose code a sample's CPU went to, for the summary by owner. Each frame is read from the leaf
/// up, and the first one that names a known crate decides: a `malloc` or `memmove` counts for
/// whoever called it. hyper serves both the SDK's client and the runtime's, so its frames decide
/// only through the body type their generics name (`SdkBody`, the runtime API client's `Body`).
const OWNERS: &[(&str, &[&str])] = &[
    (
        "the AWS SDK (its clients, orchestration, signing, HTTPS)",
        &[
            "aws_smithy",
            "aws_sdk_",
            "aws_sigv4",
            "aws_runtime",
            "aws_credential_types",
            "aws_types",
            "aws_config",
            "aws_lc",
            "rustls",
        ],
    ),
    (
        "the Lambda runtime (lambda_runtime, lambda_http, the events)",
        &["lambda_runtime", "lambda_http", "aws_lambda_events"],
    ),
    (
        "our code (shared, main, and the libraries only it calls)",
        &[
            "shared::",
            "send_code::",
            "verify_code::",
            "profile::",
            "web::",
            "serde_dynamo",
            "jsonwebtoken",
            "rlibphonenumber",
            "regex_lite",
        ],
    ),
    ("logging (tracing)", &["tracing"]),
    (
        "tokio (the scheduler, timers, waiting for I/O)",
        &["tokio::", "mio::"],
    ),
];

/// What stands before a crate path in a demangled frame: `<`, `&`, `*const `, spaces.
fn crate_path(frame: &str) -> &str {
    frame.trim_start_matches(['<', '&', '*', ' ', '('])
}

/// The owner of one sample, its frames from the leaf up; `None` when no frame tells.
pub fn owner<'a>(frames: impl IntoIterator<Item = &'a str>) -> Option<&'static str> {
    for frame in frames {
        let path = crate_path(frame);
        if let Some((name, _)) = OWNERS
            .iter()
            .find(|(_, prefixes)| prefixes.iter().any(|p| path.starts_with(p)))
        {
            return Some(name);
        }
        // hyper's and tower's frames, and inlined generic ones (`poll<…>`), name no owner first;
        // the body type in their generics tells which client's connection they are.
        if frame.contains("SdkBody") || frame.contains("aws_smithy") {
            return Some(OWNERS[0].0);
        }
        if frame.contains("lambda_runtime") {
            return Some(OWNERS[1].0);
        }
    }
    None
}

/// Each owner's share of the samples in `perf script -F ip,sym` output (one frame a line, leaf
/// first, a blank line after each sample), largest first.
pub fn owner_shares(script: &str) -> Vec<(&'static str, f64)> {
    let mut counts: Vec<(&'static str, usize)> = Vec::new();
    let mut samples = 0;
    for sample in script.split("\n\n").filter(|s| !s.trim().is_empty()) {
        samples += 1;
        // Each line is the address, then the symbol.
        let frames = sample
            .lines()
            .map(|l| l.trim().split_once(' ').map_or("", |(_, sym)| sym.trim()));
        let name = owner(frames).unwrap_or("none of these (the kernel or libc alone)");
        match counts.iter_mut().find(|(n, _)| *n == name) {
            Some((_, c)) => *c += 1,
            None => counts.push((name, 1)),
        }
    }
    counts.sort_by_key(|(_, c)| std::cmp::Reverse(*c));
    counts
        .into_iter()
        .map(|(name, c)| (name, 100.0 * c as f64 / samples.max(1) as f64))
        .collect()
}

fn by_owner(data: &Path) -> anyhow::Result<String> {
    let script = Command::new("perf")
        .args(["script", "-F", "ip,sym", "-i"])
        .arg(data)
        .stderr(Stdio::null())
        .output()
        .context("perf script")?;
    let shares = owner_shares(&String::from_utf8_lossy(&script.stdout));
    let mut table = String::from("| whose code | share of the samples |\n| --- | ---: |\n");
    for (name, share) in shares {
        table.push_str(&format!("| {name} | {share:.1}% |\n"));
    }
    Ok(table)
}

pub async fn run(function: &str, out: &Path) -> anyhow::Result<()> {
    let endpoint =
        std::env::var("DYNAMODB_ENDPOINT").context("run through scripts/with-dynamodb.sh")?;
    let bench = Bench::new(endpoint).await?;
    let (binary, _) = binary_of(function)?;
    let (label, _) = FIRST_ANSWER_ROUTES
        .iter()
        .find(|(_, f)| *f == function)
        .with_context(|| format!("no function called {function}"))?;
    std::fs::create_dir_all(out)?;

    // The figures `make bench` would give, without perf attached (it slows what it samples).
    let env = function_env(&bench.endpoint, "", function);
    let inits = cold_starts(&[(function, binary.clone(), env.clone())])?;
    let events = bench.warm_events(function).await?;
    let runs = run_binary(&binary, &env, events)?;
    let (wall, cpu) = &inits[function];
    println!(
        "## {function}\n\ninit p50 {:.2} ms, init CPU p50 {:.2} ms, warm CPU per request {:.3} ms\n",
        median(wall),
        median(cpu),
        runs.cpu_per_request_ms
    );

    let first = out.join(format!("{function}-first.data"));
    let stub = RuntimeStub::start()?;
    stub.push(bench.first_answer_event(label).await?);
    let perf = perf_record(&first, 50_000)
        .arg("--")
        .arg(&binary)
        .env_clear()
        .envs(function_env(&bench.endpoint, &stub.address, function))
        .stderr(Stdio::null())
        .spawn()
        .context("starting perf (apt install linux-perf)")?;
    let result = answered(&stub);
    finish(perf)?;
    result?;

    let warm = out.join(format!("{function}-warm.data"));
    let events = bench.warm_events(function).await?;
    let stub = RuntimeStub::start()?;
    let child = spawn(
        &binary,
        &function_env(&bench.endpoint, &stub.address, function),
    )?;
    let mut events = events.into_iter();
    if let Some(first) = events.next() {
        stub.push(first);
    }
    let result = answered(&stub).and_then(|_| {
        let perf = perf_record(&warm, 2_000)
            .arg("-p")
            .arg(child.id().to_string())
            .stderr(Stdio::null())
            .spawn()?;
        // perf needs a moment to attach; requests before that would go unsampled.
        std::thread::sleep(Duration::from_millis(500));
        let run = events.try_for_each(|event| {
            stub.push(event);
            answered(&stub).map(drop)
        });
        finish(perf)?;
        run
    });
    stop(child);
    result?;

    for (what, data) in [("init and first answer", &first), ("warm requests", &warm)] {
        println!(
            "## {function}: {what} ({})\n\n{}\n\nBy whose code:\n\n{}",
            data.display(),
            summary(data)?,
            by_owner(data)?
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sample_belongs_to_the_first_frame_from_the_leaf_that_names_a_known_crate() {
        let memmove_in_signing = [
            "__memmove_avx512_unaligned_erms",
            "alloc::raw_vec::RawVecInner::finish_grow",
            "aws_sigv4::http_request::sign::sign",
            "shared::store::Store::get::{{closure}}",
        ];
        assert_eq!(owner(memmove_in_signing), Some(OWNERS[0].0));
        let our_json = [
            "malloc",
            "serde_json::ser::format_escaped_str",
            "<shared::api::ProfileView as serde::Serialize>::serialize",
            "lambda_runtime::runtime::process_invocation::{{closure}}",
        ];
        assert_eq!(owner(our_json), Some(OWNERS[2].0));
        assert_eq!(owner(["finish_task_switch.isra.0", "epoll_wait"]), None);
    }

    #[test]
    fn hyper_frames_count_for_the_client_whose_body_type_they_name() {
        let sdk = "poll_flush<hyper::proto::h1::dispatch::Client<aws_smithy_types::body::SdkBody>>";
        let runtime =
            "hyper::proto::h1::dispatch::Client<lambda_runtime_api_client::body::Body>::poll";
        let tokio = "tokio::runtime::task::raw::poll";
        assert_eq!(owner(["__GI___writev", sdk, tokio]), Some(OWNERS[0].0));
        assert_eq!(owner(["__GI___writev", runtime, tokio]), Some(OWNERS[1].0));
        assert_eq!(
            owner(["hyper::body::Incoming::poll", tokio]),
            Some(OWNERS[4].0)
        );
    }

    #[test]
    fn the_shares_are_counted_over_the_samples_of_a_perf_script() {
        let script = "\
            7f01 malloc\n  7f02 aws_smithy_runtime::client::orchestrator::try_attempt\n\n\
            7f03 shared::usecases::profile::profile\n\n\
            7f04 aws_sigv4::sign\n\n\
            ffff finish_task_switch.isra.0\n\n";
        let shares = owner_shares(script);
        assert_eq!(shares[0], (OWNERS[0].0, 50.0));
        assert!(shares.contains(&(OWNERS[2].0, 25.0)));
        assert_eq!(shares.iter().map(|(_, s)| s).sum::<f64>(), 100.0);
    }
}
