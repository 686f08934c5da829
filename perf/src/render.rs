//! The one place the benchmark's figures become Markdown: `make bench`'s report
//! (`bench/results.md`), section by section, and the tables the single-section commands print.
use std::collections::BTreeMap;
use std::fmt::{Result, Write as _};

use crate::app::Metered;
use crate::builds::{MB_PER_VCPU, PROFILE_KEYS_READ, SINGLE_THREADED_FLOOR, WARM_RUNS, build_of};
use crate::cold::{COLD_RUNS, Inits};
use crate::cost::{Least, LoginCost, PRICE_PER_GB_SECOND, ROUND_TRIP_MS};
use crate::first_answer::{FIRST_ANSWER_RUNS, FirstAnswer};
use crate::init_steps::InitSteps;
use crate::load::LoadFigures;
use crate::measure::{each_round, median, percentile};
use crate::memory::{BASELINE_AT, MemoryRow};
use crate::throttle::Throttle;
use crate::warm::{WARM_ROUNDS, Warm};
use crate::{init_steps, sdk_cost, throttle, tls_cost};

/// A row of the main table: its label, its bench name and its build's sizes.
pub struct MainRow {
    pub label: &'static str,
    pub name: &'static str,
    /// The arm64 bootstrap `sam build` ships, when it was built.
    pub arm64_bytes: Option<u64>,
    /// The build measured, for this machine.
    pub native_bytes: u64,
}

/// Everything `make bench` measured, section by section.
pub struct Report {
    pub arch: &'static str,
    pub cores: usize,
    pub rows: Vec<MainRow>,
    /// Cold starts of every row's build and of profile reading its keys from Secrets Manager.
    pub inits: Inits,
    /// Each row's warm rounds, by bench name.
    pub warm: BTreeMap<&'static str, Warm>,
    pub memory: Vec<MemoryRow>,
    pub memory_invocations: usize,
    pub init_steps: InitSteps,
    pub first_answers: Vec<FirstAnswer>,
    pub throttle: Throttle,
    pub usage: Vec<Metered>,
    pub logins: Vec<LoginCost>,
    pub sdk: sdk_cost::Costs,
    pub tls: tls_cost::Costs,
    pub least: Vec<Least>,
    /// The local stack under load, when `API_URL` names one.
    pub load: Option<Vec<(&'static str, LoadFigures)>>,
}

/// `bench/results.md`.
pub fn report(r: &Report) -> std::result::Result<String, std::fmt::Error> {
    let mut out = String::new();
    main_table(&mut out, r)?;
    keys(&mut out, &r.inits)?;
    memory(&mut out, &r.memory, r.memory_invocations)?;
    write!(out, "\n## What send-code's init goes to\n\n")?;
    writeln!(
        out,
        "send-code's init, as production runs it (SMS through SNS), is the furthest over the floor. Each \
         step of its `main` before `run`, in order, timed in fresh processes of the bench's own binary with \
         send-code's settings (`perf init-steps`): wall time, which here is CPU time, since no step waits on \
         anything. The steps before them (exec, the loader, the runtime) are what the floor pays too.\n"
    )?;
    writeln!(out, "{}", init_steps_table(&r.init_steps))?;
    first_answers(&mut out, &r.first_answers)?;
    quota(&mut out, &r.throttle)?;
    dynamodb(&mut out, &r.usage)?;
    logins(&mut out, &r.logins)?;
    sdk(&mut out, &r.sdk)?;
    tls(&mut out, &r.tls)?;
    least(&mut out, &r.least)?;
    if let Some(load) = &r.load {
        load_table(&mut out, load)?;
    }
    Ok(out)
}

fn mib(bytes: u64) -> String {
    format!("{:.2} MiB", bytes as f64 / 1_048_576.0)
}

/// A bench name's cold starts: its own, or its build's (returning logins run verify-code).
fn init_of<'a>(inits: &'a Inits, name: &str) -> &'a (Vec<f64>, Vec<f64>) {
    inits.get(name).unwrap_or_else(|| &inits[build_of(name)])
}

fn main_table(out: &mut String, r: &Report) -> Result {
    writeln!(out, "# Benchmarks\n")?;
    writeln!(
        out,
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
        r.arch, r.cores
    )?;
    writeln!(
        out,
        "| function | arm64 bootstrap | native | init p50 (× floor, × floor 1) | init CPU p50 | warm p50 / p99 | CPU per request (× floor 1) | peak RSS |"
    )?;
    writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    let floor_init = median(&r.inits["floor"].0);
    let single_init = median(&r.inits[SINGLE_THREADED_FLOOR].0);
    let single_cpu = r.warm[SINGLE_THREADED_FLOOR].cpu_per_request_ms;
    for row in &r.rows {
        let w = &r.warm[row.name];
        let (init_ms, init_cpu_ms) = init_of(&r.inits, row.name);
        let init = median(init_ms);
        writeln!(
            out,
            "| {} | {} | {} | {:.2} ms ({:.1}×, {:.1}×) | {:.2} ms | {:.2} / {:.2} ms | {:.3} ms ({:.1}×) | {} |",
            row.label,
            row.arm64_bytes.map(mib).unwrap_or_else(|| "n/a".into()),
            mib(row.native_bytes),
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
        out,
        "\nCPU per request in each round ({WARM_RUNS} warm requests in a fresh process), in the order they ran:\n"
    )?;
    writeln!(out, "| row | median | each round |")?;
    writeln!(out, "| --- | ---: | --- |")?;
    for row in &r.rows {
        let w = &r.warm[row.name];
        writeln!(
            out,
            "| {} | {:.3} ms | {} |",
            row.label,
            w.cpu_per_request_ms,
            each_round(&w.cpu_rounds)
        )?;
    }
    Ok(())
}

fn keys(out: &mut String, inits: &Inits) -> Result {
    writeln!(out, "\n## Reading the token keys at cold start\n")?;
    writeln!(
        out,
        "Deployed stacks read the token keys with one Secrets Manager `GetSecretValue` during init \
         (`JWT_SECRET_ARN`, docs/secrets.md) instead of taking them from the environment (`JWT_SECRET`). The \
         profile function both ways, in the same turns as the floor above: the difference is the client's \
         construction and the call, here to moto's server on this machine over plain HTTP (on AWS add the TLS \
         handshake and the network round trip to the regional endpoint, see \"What TLS adds\" below).\n"
    )?;
    writeln!(out, "| profile | init p50 (× floor 1) | init CPU p50 |")?;
    writeln!(out, "| --- | ---: | ---: |")?;
    let single_init = median(&inits[SINGLE_THREADED_FLOOR].0);
    for (label, name) in [
        ("keys from `JWT_SECRET`", "profile"),
        ("keys from Secrets Manager (moto)", PROFILE_KEYS_READ),
    ] {
        let (wall, cpu) = &inits[name];
        writeln!(
            out,
            "| {label} | {:.2} ms ({:.1}×) | {:.2} ms |",
            median(wall),
            median(wall) / single_init,
            median(cpu)
        )?;
    }
    let (read, env) = (&inits[PROFILE_KEYS_READ], &inits["profile"]);
    writeln!(
        out,
        "\nReading the secret adds {:.2} ms of wall time and {:.2} ms of CPU to a cold start.",
        median(&read.0) - median(&env.0),
        median(&read.1) - median(&env.1)
    )
}

fn memory(out: &mut String, rows: &[MemoryRow], invocations: usize) -> Result {
    writeln!(out, "\n## Memory over many invocations\n")?;
    writeln!(
        out,
        "Each function answers {invocations} cheap invocations (no database call) in one process, each with a fresh \
         trace id as Lambda sends one (`perf soak`; `make test` runs the same check over 50,000): resident memory \
         (VmRSS) after the first 5,000 and at the end. The runtime crate stores every trace id in the environment; \
         glibc never frees a replaced value, musl does (docs/performance.md, \"Memory\").\n"
    )?;
    writeln!(
        out,
        "| build | RSS after {BASELINE_AT} invocations | after {invocations} | growth | per invocation |"
    )?;
    writeln!(out, "| --- | ---: | ---: | ---: | ---: |")?;
    for MemoryRow { label, soak } in rows {
        let per = soak.growth_kib() as f64 * 1_024.0 / (invocations - BASELINE_AT) as f64;
        writeln!(
            out,
            "| {label} | {:.1} MiB | {:.1} MiB | {:+} KiB | {per:.0} bytes |",
            soak.baseline_kib as f64 / 1_024.0,
            soak.end_kib as f64 / 1_024.0,
            soak.growth_kib()
        )?;
    }
    writeln!(out)
}

/// `perf init-steps`'s table, and the report's.
pub fn init_steps_table(steps: &InitSteps) -> String {
    let runs = init_steps::RUNS;
    let mut table = format!(
        "| step of send-code's init, in its order | time, median of {runs} fresh processes |\n| --- | ---: |\n"
    );
    for (name, ms) in &steps.steps {
        table.push_str(&format!("| {name} | {ms:.3} ms |\n"));
    }
    table.push_str(&format!(
        "| all of them (the medians added up) | {:.3} ms |\n\
         | of the phone rules: the library's own patterns, alone in a process of their own (an empty `PhoneNumberUtil`) | {:.3} ms |\n",
        steps.steps.iter().map(|(_, ms)| ms).sum::<f64>(),
        steps.util_ms,
    ));
    table
}

fn first_answers(out: &mut String, answers: &[FirstAnswer]) -> Result {
    writeln!(out, "\n## The first answer after a cold start\n")?;
    writeln!(
        out,
        "The route's event is handed over at the function's first `GET /invocation/next`, as Lambda hands it over the moment init ends \
         (the stub first reads the process's CPU there, and the wall time leaves that pause out). \
         From exec to the answer, median of {FIRST_ANSWER_RUNS} fresh processes each, taken in turns over the routes: wall time (including the \
         waits on DynamoDB Local), the process's CPU time (init and first answer, without those waits), and of that the first answer's \
         own, from the first `GET /invocation/next` on: what the first request pays beyond init, to compare with a warm request's above.\n"
    )?;
    writeln!(
        out,
        "| route | function | status | init + first answer, wall | init + first answer, CPU | first answer alone, CPU |"
    )?;
    writeln!(out, "| --- | --- | ---: | ---: | ---: | ---: |")?;
    for a in answers {
        writeln!(
            out,
            "| {} | {} | {} | {:.2} ms | {:.2} ms | {:.2} ms |",
            a.label,
            build_of(a.function),
            a.status,
            median(&a.wall_ms),
            median(&a.cpu_ms),
            median(&a.answer_cpu_ms)
        )?;
    }
    Ok(())
}

fn quota(out: &mut String, figures: &Throttle) -> Result {
    writeln!(
        out,
        "\n## At 128 MB: the first request and a warm one under a CPU quota\n"
    )?;
    writeln!(
        out,
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
         stretched by the share, as the rest of the report assumes (`perf/src/throttle.rs`).\n",
        throttle::WARM,
        throttle::SPACING.as_millis(),
        throttle::COLD,
    )?;
    writeln!(out, "{}", quota_table(figures))
}

/// `perf cpu-quota`'s table, and the report's.
pub fn quota_table(figures: &Throttle) -> String {
    let (memory_mb, share, rows) = match figures {
        Throttle::NotMeasured(why) => {
            return format!(
                "Not measured in this run: {why}. (It needs root and the cgroup `cpu` controller.)\n"
            );
        }
        Throttle::Measured {
            memory_mb,
            share,
            rows,
        } => (memory_mb, share, rows),
    };
    let mut table = format!(
        "| route | CPU quota | first request after a cold start: wall (its CPU) | the same at 1 ms of CPU = {:.1} ms | a warm request, p50 wall (its CPU) | the same at 1 ms of CPU = {:.1} ms |\n\
         | --- | --- | ---: | ---: | ---: | ---: |\n",
        1.0 / share,
        1.0 / share
    );
    for row in rows {
        let name = match &row.quota {
            None => "none (this machine's full CPU)".to_owned(),
            Some(q) => format!(
                "{memory_mb:.0} MB: {:.2} ms per {} ms; paused {} times, {:.0} ms in all",
                q.period.as_secs_f64() * 1e3 * share,
                q.period.as_millis(),
                q.paused_times,
                q.paused_ms,
            ),
        };
        // The average-rate model, on the unthrottled row: its wall time with every ms of its CPU
        // stretched.
        let stretched = |wall: f64, cpu: f64| match row.quota {
            None => format!("{:.1} ms", wall + cpu * (1.0 / share - 1.0)),
            Some(_) => String::new(),
        };
        table.push_str(&format!(
            "| {} | {name} | {:.1} ms ({:.2} ms) | {} | {:.1} ms ({:.2} ms) | {} |\n",
            row.label,
            row.first_ms,
            row.first_cpu_ms,
            stretched(row.first_ms, row.first_cpu_ms),
            row.warm_ms,
            row.warm_cpu_ms,
            stretched(row.warm_ms, row.warm_cpu_ms),
        ));
    }
    table
}

fn dynamodb(out: &mut String, usage: &[Metered]) -> Result {
    writeln!(out, "\n## DynamoDB calls per request\n")?;
    writeln!(
        out,
        "Counted by an SDK interceptor on the real handlers; a round is a wait on DynamoDB (calls that run \
         together share one); capacity from `ReturnConsumedCapacity` (DynamoDB Local). DynamoDB Local reports \
         none for a PartiQL `BatchExecuteStatement`: its writes that landed are counted apart (\"+ n unmetered\"; \
         each costs 1 WCU per KB of the item it writes, see docs/load-model.md).\n"
    )?;
    writeln!(
        out,
        "| request | status | calls | rounds | read units | write units |"
    )?;
    writeln!(out, "| --- | ---: | --- | ---: | ---: | ---: |")?;
    for (label, status, usage) in usage {
        let calls: Vec<String> = usage
            .calls
            .iter()
            .map(|(op, n)| match n {
                1 => (*op).to_owned(),
                n => format!("{n} × {op}"),
            })
            .collect();
        let unmetered = match usage.unmetered_writes {
            0 => String::new(),
            n => format!(" + {n} unmetered"),
        };
        writeln!(
            out,
            "| {label} | {status} | {} | {} | {:.1} | {:.1}{unmetered} |",
            calls.join(", "),
            usage.rounds(),
            usage.read_units,
            usage.write_units
        )?;
    }
    Ok(())
}

fn logins(out: &mut String, rows: &[LoginCost]) -> Result {
    writeln!(out, "\n## What a login costs at 128 and 256 MB\n")?;
    writeln!(
        out,
        "A login is one send-code as production runs it (the SMS published through SNS) and one verify-code: a \
         first login (verify-code creates the user) or a returning user's, each with its CPU measured above and \
         its round trips (DynamoDB's and the SNS Publish, taken as {ROUND_TRIP_MS} ms each). Lambda gives a function memory / {MB_PER_VCPU} of a vCPU, so the CPU part \
         stretches by that factor; the waits do not. Billed at ${PRICE_PER_GB_SECOND} per GB-second (arm64), \
         per 1 ms, without the SMS delay or the request charge.\n"
    )?;
    writeln!(
        out,
        "| login | CPU | round trips | memory | vCPU share | billed time per login | cost per million logins |"
    )?;
    writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")?;
    for l in rows {
        writeln!(
            out,
            "| {} | {:.3} ms | {} | {:.0} MB | {:.3} | {:.0} ms | ${:.2} |",
            l.login, l.cpu_ms, l.round_trips, l.memory_mb, l.share, l.billed_ms, l.usd_per_million
        )?;
    }
    Ok(())
}

fn sdk(out: &mut String, costs: &sdk_cost::Costs) -> Result {
    writeln!(out, "\n## What the SDK adds to one AWS request\n")?;
    writeln!(
        out,
        "The same consistent GetItem against DynamoDB Local, in turns on one single-threaded runtime as in the \
         functions: through the SDK client the functions use, through the same client with its optional layers \
         switched off, and signed with `aws-sigv4` (the SDK's own signing crate) and sent with hyper or with \
         blocking `std` I/O on one kept-alive connection, the response parsed as JSON. Then, in the same turns, \
         send-code's SMS published to moto's SNS server: through send-code's own sender (the SDK's SNS client), \
         and signed with `aws-sigv4` and sent with blocking `std` I/O, the answer checked for its message id. \
         CPU of that thread only (`perf sdk-cost`).\n"
    )?;
    writeln!(out, "{}", sdk_tables(costs))
}

/// `perf sdk-cost`'s two tables (GetItem, then Publish), and the report's.
pub fn sdk_tables(c: &sdk_cost::Costs) -> String {
    let (rounds, calls) = (sdk_cost::ROUNDS, sdk_cost::CALLS);
    let row = |label: &str, ms: &[f64]| {
        format!("| {label} | {:.3} ms | {} |\n", median(ms), each_round(ms))
    };
    let head = |what: &str| {
        format!(
            "| {what} | CPU per call, median of {rounds} rounds of {calls} | each round |\n| --- | ---: | --- |\n"
        )
    };
    [
        head("one GetItem"),
        row("through the SDK, as the functions build it", &c.sdk),
        row(
            "the same without retries, timeouts, stalled-stream protection and endpoint rules",
            &c.lean,
        ),
        row("signed with `aws-sigv4`, sent with hyper", &c.bare),
        row(
            "signed with `aws-sigv4`, sent with blocking `std` I/O",
            &c.blocking,
        ),
        "\n".to_owned(),
        head("one SNS Publish (send-code's SMS)"),
        row(
            "through send-code's sender (the SDK's SNS client)",
            &c.publish_sdk,
        ),
        row(
            "signed with `aws-sigv4`, sent with blocking `std` I/O",
            &c.publish_blocking,
        ),
    ]
    .concat()
}

fn tls(out: &mut String, costs: &tls_cost::Costs) -> Result {
    writeln!(out, "\n## What TLS adds to the first request on AWS\n")?;
    writeln!(
        out,
        "On AWS the functions talk HTTPS to DynamoDB (and send-code to SNS); the local stack is plain HTTP, \
         so nothing above pays a TLS handshake. Here a TLS server in the bench's process terminates TLS in \
         front of DynamoDB Local with a chain shaped like an AWS endpoint's (RSA-2048 leaf and intermediate \
         under an RSA-2048 root), and the functions' own HTTPS client, trusting that root instead of \
         Amazon's, builds a new client and makes its first GetItem (a new connection), in turns with the \
         same over plain HTTP. The difference is the handshake, the client's CPU only (its thread's \
         counter). Which version, group and tickets AWS's endpoints use is not known here, so each is a \
         row (`perf tls-cost`).\n"
    )?;
    writeln!(out, "{}", tls_table(costs))?;
    let (least, most) = costs.handshake_ms();
    writeln!(
        out,
        "So a cold function's first request on AWS pays {least:.2}-{most:.2} ms more CPU than here for each \
         AWS service it calls: DynamoDB for every function but web, and SNS as well for send-code.\n"
    )
}

/// `perf tls-cost`'s tables, and the report's.
pub fn tls_table(c: &tls_cost::Costs) -> String {
    let (rounds, firsts, calls) = (tls_cost::ROUNDS, tls_cost::FIRSTS, tls_cost::CALLS);
    let plain = median(&c.first_plain);
    let mut table = format!(
        "| a new client's first GetItem (client built, connection opened) | CPU, median of {rounds} rounds of {firsts} | over plain HTTP | each round |\n\
         | --- | ---: | ---: | --- |\n\
         | plain HTTP, as the local stack | {plain:.3} ms | | {} |\n",
        each_round(&c.first_plain)
    );
    for (negotiated, ms) in &c.first_tls {
        table.push_str(&format!(
            "| HTTPS, the server settling on {negotiated} | {:.3} ms | +{:.3} ms | {} |\n",
            median(ms),
            median(ms) - plain,
            each_round(ms)
        ));
    }
    table.push_str(&format!(
        "\n| one GetItem on a kept-alive connection | CPU per call, median of {rounds} rounds of {calls} | each round |\n\
         | --- | ---: | --- |\n\
         | plain HTTP | {:.3} ms | {} |\n\
         | HTTPS ({}) | {:.3} ms | {} |\n",
        median(&c.warm_plain),
        each_round(&c.warm_plain),
        c.first_tls
            .first()
            .map_or("", |(negotiated, _)| negotiated.as_str()),
        median(&c.warm_tls),
        each_round(&c.warm_tls),
    ));
    table
}

fn least(out: &mut String, rows: &[Least]) -> Result {
    writeln!(out, "\n## The least any implementation pays here\n")?;
    writeln!(
        out,
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
        out,
        "| request | invocations | DynamoDB requests | SMS | least possible | least with `lambda_http` and the SDK | measured | target |"
    )?;
    writeln!(
        out,
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for l in rows {
        writeln!(
            out,
            "| {} | {} | {} | {} | {:.3} ms | {:.3} ms | {:.3} ms | {} ms |",
            l.label,
            l.invocations,
            l.requests,
            l.sms,
            l.least_ms,
            l.with_libraries_ms,
            l.measured_ms,
            l.target_ms
        )?;
    }
    Ok(())
}

fn load_table(out: &mut String, rows: &[(&str, LoadFigures)]) -> Result {
    writeln!(out, "\n## The whole local stack under load\n")?;
    writeln!(
        out,
        "Every function behind `cargo lambda watch --release` (4 instances each) and DynamoDB Local, on 127.0.0.1, \
         a fixed number of requests from one client process.\n"
    )?;
    writeln!(
        out,
        "| requests | count | in flight | per second | p50 | p99 | failed |"
    )?;
    writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |")?;
    for (label, l) in rows {
        writeln!(
            out,
            "| {label} | {} | {} | {:.0} | {:.1} ms | {:.1} ms | {} |",
            l.requests, l.concurrency, l.per_second, l.p50_ms, l.p99_ms, l.failures
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
