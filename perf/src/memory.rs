//! `perf soak DIR`: each function, as built for deployment (`DIR/<name>/bootstrap`), answers a
//! long run of invocations through the stub Runtime API, each with its own trace id as Lambda
//! sends them, and its resident memory must stay flat. `lambda_runtime` stores every trace id in
//! the process environment; glibc's `setenv` never frees a replaced value, so a glibc build grew
//! about 165 bytes an invocation until Lambda killed it (docs/performance.md, "Memory").
//!
//! The requests are ones that touch no database (a malformed phone, a missing token, the page):
//! what leaked is per invocation, in the runtime's loop, and cheap requests make 50,000 of them
//! take seconds.
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use serde_json::Value;

use crate::builds::{event, function_env, release_binary, send_event, verify_event};
use crate::measure::{cpu_ms, rss_kib, spawn, stop};
use crate::runtime_stub::{RuntimeStub, Seen};

/// Invocations each function answers in `make test`.
pub const INVOCATIONS: usize = 50_000;
/// Where the baseline is read: after the allocator and the runtime have warmed up.
pub const BASELINE_AT: usize = 5_000;
/// Invocations each function answers in `make bench`'s memory section.
pub const BENCH_INVOCATIONS: usize = 100_000;
/// The growth allowed between the baseline and the end.
pub const MAX_GROWTH_KIB: u64 = 1_024;

/// Each function, the request it answers in the soak, and the status it must answer.
pub fn requests() -> [(&'static str, String, u64); 4] {
    [
        ("send-code", send_event("+7 000"), 400),
        ("verify-code", verify_event("+7 000", "1234"), 400),
        ("profile", event("GET", "/v1/profile", None, None), 401),
        ("web", event("GET", "/", None, None), 200),
    ]
}

/// What one soak saw: resident memory after `BASELINE_AT` invocations and after all of them.
#[derive(Debug, Clone, Copy)]
pub struct Soak {
    pub baseline_kib: u64,
    pub end_kib: u64,
    /// The process's CPU per invocation from the baseline to the end.
    pub cpu_per_invocation_ms: f64,
}

impl Soak {
    pub fn growth_kib(&self) -> i64 {
        self.end_kib as i64 - self.baseline_kib as i64
    }
}

/// `invocations` of `request` answered by `binary` in one process, each with a fresh trace id.
pub fn soak(
    name: &str,
    binary: &Path,
    request: &str,
    status: Option<u64>,
    invocations: usize,
) -> anyhow::Result<Soak> {
    let stub = RuntimeStub::start()?;
    // No call reaches DynamoDB: the endpoint only has to be a valid setting.
    let env = function_env("http://127.0.0.1:9", &stub.address, name);
    let child = spawn(binary, &env).with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id();
    let result = (|| {
        let Seen::Ready(_) = stub.next_seen(Duration::from_secs(20))? else {
            bail!("{name}: answered before asking for work");
        };
        // Queued at once: the function takes the next one the moment it has answered.
        for _ in 0..invocations {
            stub.push(request.to_owned());
        }
        let mut baseline = None;
        let mut cpu_at_baseline = None;
        for i in 1..=invocations {
            match stub.next_seen(Duration::from_secs(20))? {
                Seen::Response { body, .. } => {
                    let got = serde_json::from_str::<Value>(&body)
                        .ok()
                        .and_then(|v| v["statusCode"].as_u64());
                    // A floor answers with a bare body: any answer will do.
                    ensure!(
                        status.is_none() || got == status,
                        "{name}: invocation {i} answered {body}, expected status {status:?}"
                    );
                }
                Seen::Failed(error) => bail!("{name}: invocation {i} failed: {error}"),
                Seen::Ready(_) => bail!("{name}: asked for work twice at start"),
            }
            if i == BASELINE_AT.min(invocations) {
                baseline = rss_kib(pid);
                cpu_at_baseline = cpu_ms(pid);
            }
        }
        Ok(Soak {
            baseline_kib: baseline.context("reading the baseline RSS")?,
            end_kib: rss_kib(pid).context("reading the final RSS")?,
            cpu_per_invocation_ms: match (cpu_at_baseline, cpu_ms(pid)) {
                (Some(from), Some(to)) if invocations > BASELINE_AT => {
                    (to - from) / (invocations - BASELINE_AT) as f64
                }
                _ => f64::NAN,
            },
        })
    })();
    stop(child);
    result
}

/// The check `make test` runs: every function in `dir` soaked; fails on growth over the limit.
pub fn run(dir: &Path) -> anyhow::Result<()> {
    let invocations = std::env::var("SOAK_INVOCATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(INVOCATIONS);
    let mut grew = Vec::new();
    println!(
        "| function | RSS after {BASELINE_AT} | after {invocations} | growth (limit {MAX_GROWTH_KIB} KiB) | CPU per invocation |"
    );
    println!("| --- | ---: | ---: | ---: | ---: |");
    for (name, request, status) in requests() {
        let binary = dir.join(name).join("bootstrap");
        let soak = soak(name, &binary, &request, Some(status), invocations)?;
        println!(
            "| {name} | {} KiB | {} KiB | {} KiB | {:.3} ms |",
            soak.baseline_kib,
            soak.end_kib,
            soak.growth_kib(),
            soak.cpu_per_invocation_ms
        );
        if soak.growth_kib() > MAX_GROWTH_KIB as i64 {
            grew.push(format!("{name} grew {} KiB", soak.growth_kib()));
        }
    }
    ensure!(
        grew.is_empty(),
        "resident memory grew with invocations: {}",
        grew.join(", ")
    );
    Ok(())
}

/// One row of `make bench`'s memory section: a build and what its soak saw.
pub struct MemoryRow {
    pub label: &'static str,
    pub soak: Soak,
}

/// `make bench`'s memory section: RSS after `invocations` of each function's deployed build, and
/// of the floor (a bare `lambda_http` function against glibc) for comparison.
pub fn report(invocations: usize) -> anyhow::Result<Vec<MemoryRow>> {
    let floor = release_binary("floor")?.0;
    let rows = std::iter::once((
        "bare `lambda_http` (floor, glibc)",
        "floor",
        floor,
        event("GET", "/", None, None),
        None,
    ))
    .chain(requests().into_iter().map(|(name, request, status)| {
        let binary = release_binary(name).map(|b| b.0);
        (
            name,
            name,
            binary.unwrap_or_default(),
            request,
            Some(status),
        )
    }));
    let mut out = Vec::new();
    for (label, name, binary, request, status) in rows {
        let soak = soak(name, &binary, &request, status, invocations)?;
        out.push(MemoryRow { label, soak });
    }
    Ok(out)
}
