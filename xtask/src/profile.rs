//! `make profile FUNCTION=…`: where one function's CPU goes, from `perf` samples of the same runs
//! `make bench` measures, so a change can be aimed before it is made:
//! - `FUNCTION-first.data`: exec, init and the first answer of the function's first route (as
//!   `make bench` queues it: the event is waiting when init ends);
//! - `FUNCTION-warm.data`: `WARM_RUNS` warm requests after a first one, the process attached to
//!   after that first answer.
//!
//! Before them it prints the function's init and warm CPU per request as `make bench` measures
//! them. Each recording is summarised on stdout by symbol; `perf report -i FILE` opens the call graphs.
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::bench::{
    Bench, FIRST_ANSWER_ROUTES, binary_of, cold_starts, function_env, median, run_binary, spawn,
    stop,
};
use crate::runtime_stub::{RuntimeStub, Seen};

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
            "## {function}: {what} ({})\n\n{}\n",
            data.display(),
            summary(data)?
        );
    }
    Ok(())
}
