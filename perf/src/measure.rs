//! The measuring helpers every section uses: percentiles and medians, a process's CPU and memory
//! from `/proc`, a thread's own CPU, and starting and stopping a function process. Imports nothing
//! from the crate.
//!
//! CPU is read from the kernel's per-thread run time (`/proc/<pid>/task/*/schedstat`, in
//! nanoseconds): what the process itself computed, without the time it waited on DynamoDB Local
//! or the stub. That is what Lambda's CPU share turns into latency.
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::Context;

/// The repository's root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The value at percentile `p` of `sorted` (nearest rank); NaN when there is none.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// `durations` in milliseconds, sorted.
pub fn sorted_ms(durations: &[Duration]) -> Vec<f64> {
    let mut ms: Vec<f64> = durations
        .iter()
        .map(|d| d.as_secs_f64() * 1_000.0)
        .collect();
    ms.sort_by(f64::total_cmp);
    ms
}

pub fn median(values: &[f64]) -> f64 {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 50.0)
}

/// Each round's figure of a measurement taken in rounds, for a table cell.
pub fn each_round(values: &[f64]) -> String {
    values
        .iter()
        .map(|v| format!("{v:.3}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The size of a file, if it is there.
pub fn size(path: &Path) -> Option<u64> {
    std::fs::metadata(path).ok().map(|m| m.len())
}

/// Starts a function process with exactly `env`; its own log goes to `target/bench-function.log`.
pub fn spawn(binary: &Path, env: &[(String, String)]) -> anyhow::Result<Child> {
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

pub fn stop(mut child: Child) {
    let _ = child.kill();
    let _ = child.wait();
}

/// CPU time the process has used so far, all its threads together, in milliseconds.
pub fn cpu_ms(pid: u32) -> Option<f64> {
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

/// CPU time this thread has used, in milliseconds (`/proc/thread-self/schedstat`, nanoseconds).
pub fn thread_cpu_ms() -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat")?;
    let ns: f64 = stat
        .split_whitespace()
        .next()
        .context("schedstat is empty")?
        .parse()?;
    Ok(ns / 1e6)
}

/// Runs `work` on a thread of its own, on a single-threaded runtime as in the functions, so that
/// the thread's CPU counter holds the measurement alone.
pub fn on_own_thread<T, F>(work: impl FnOnce() -> F + Send + 'static) -> anyhow::Result<T>
where
    F: std::future::Future<Output = anyhow::Result<T>>,
    T: Send + 'static,
{
    std::thread::spawn(move || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(work())
    })
    .join()
    .map_err(|_| anyhow::anyhow!("the measuring thread panicked"))?
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS`, `VmHWM`).
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Resident memory of a live process.
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS")
}

/// Peak resident memory of a live process.
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn the_median_and_percentiles_take_the_nearest_rank_and_nothing_gives_nan() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0, 5.0], 99.0), 5.0);
        assert!(median(&[]).is_nan());
    }

    #[test]
    fn this_process_reads_its_own_memory_and_cpu() {
        let pid = std::process::id();
        let (rss, peak) = (rss_kib(pid).unwrap(), peak_rss_kib(pid).unwrap());
        assert!(rss > 0 && peak >= rss);
        assert!(cpu_ms(pid).unwrap() > 0.0);
        assert!(thread_cpu_ms().unwrap() >= 0.0);
    }
}
