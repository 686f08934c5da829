//! Warm requests: rounds of `WARM_RUNS` requests, each round a fresh process answering them one
//! after another through the stub Runtime API: latency, CPU per request and peak memory.
use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use serde_json::Value;

use crate::measure::{cpu_ms, median, peak_rss_kib, sorted_ms, spawn, stop};
use crate::runtime_stub::{RuntimeStub, Seen};

/// Rounds of `WARM_RUNS` warm requests per row of the main table, each in a fresh process, taken
/// in turns over all the rows so that a noisy moment falls on all of them alike; the table
/// quotes the median round.
pub const WARM_ROUNDS: usize = 5;

/// A row's warm rounds together: latencies pooled, the median round's CPU per request, the
/// largest peak RSS.
pub struct Warm {
    pub warm_ms: Vec<f64>,
    pub cpu_rounds: Vec<f64>,
    pub cpu_per_request_ms: f64,
    pub peak_rss_kib: Option<u64>,
}

impl Warm {
    pub fn of(runs: &[Runs]) -> Self {
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
pub struct Runs {
    warm_ms: Vec<f64>,
    pub cpu_per_request_ms: f64,
    peak_rss_kib: Option<u64>,
}

/// `events` one after another in one process: the first is left out, the rest give the warm
/// latency and the CPU per request.
pub fn run_binary(
    binary: &Path,
    env: &[(String, String)],
    events: Vec<String>,
) -> anyhow::Result<Runs> {
    let stub = RuntimeStub::start()?;
    let env = stub.pointed_at(env);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
