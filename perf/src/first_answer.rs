//! The first answer after a cold start, of every route: the event is handed over at the
//! function's first `GET /invocation/next`, as Lambda hands it over the moment init ends.
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::Value;

use crate::app::{Bench, FIRST_ANSWER_ROUTES};
use crate::builds::{binary_of, function_env};
use crate::measure::{cpu_ms, spawn, stop};
use crate::runtime_stub::{RuntimeStub, Seen};

/// Fresh processes per route.
pub const FIRST_ANSWER_RUNS: usize = 7;

/// One cold start and its first answer ([`first_answer`]).
pub struct Cold {
    pub status: u16,
    /// Exec to the answer.
    pub wall_ms: f64,
    /// The process's CPU from exec to the answer: init and the first answer.
    pub cpu_ms: f64,
    /// Of which the first answer's, from the first `GET /invocation/next` on.
    pub answer_cpu_ms: f64,
}

/// Every route's first answers after a cold start ([`first_answer`]).
pub struct FirstAnswer {
    pub label: &'static str,
    pub function: &'static str,
    pub status: u16,
    pub wall_ms: Vec<f64>,
    pub cpu_ms: Vec<f64>,
    pub answer_cpu_ms: Vec<f64>,
}

/// One cold start of `binary` (`function`'s build) answering the event of route `label`.
/// The event is handed over at the first `GET /invocation/next`, as Lambda does when the cold
/// start was caused by it, but only once the process's CPU has been read there (it waits for
/// the event, idle), so init's CPU and the first answer's come from the same process. The
/// wall time leaves out that pause.
pub async fn first_answer(
    bench: &Bench,
    binary: &Path,
    function: &str,
    label: &str,
) -> anyhow::Result<Cold> {
    let event = bench.first_answer_event(label).await?;
    let stub = RuntimeStub::start()?;
    let env = function_env(&bench.endpoint, &stub.address, function);
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
pub async fn first_answers(bench: &Bench) -> anyhow::Result<Vec<FirstAnswer>> {
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
            let cold = first_answer(bench, &binary, answer.function, answer.label).await?;
            answer.status = cold.status;
            answer.wall_ms.push(cold.wall_ms);
            answer.cpu_ms.push(cold.cpu_ms);
            answer.answer_cpu_ms.push(cold.answer_cpu_ms);
        }
    }
    Ok(out)
}
