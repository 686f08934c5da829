//! Lambda's CPU share, played on this machine: a function process in a cgroup whose CPU quota is
//! memory / 1,769 of one CPU per period, as the Linux scheduler enforces a container's limit. AWS
//! documents the share but not the period; one team's measurements on Lambda report 20 ms
//! (docs/performance.md), the kernel's default is 100 ms, so both are measured. Init runs without
//! the quota (AWS runs an on-demand function's init on a full vCPU); the process is put under it
//! at its first `GET /invocation/next`, before the first event is handed over, as Lambda's
//! invoke phase begins. Needs root and the cgroup `cpu` controller (v1 or v2); without them
//! `make bench` says so in the report and goes on.
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use serde_json::Value;

use crate::app::Bench;
use crate::builds::{SEND_CODE_SNS, binary_of, function_env};
use crate::measure::{cpu_ms, median, spawn, stop};
use crate::runtime_stub::{RuntimeStub, Seen};

/// A cgroup with a CPU quota, removed when dropped (its processes must have ended).
pub struct Quota {
    dir: PathBuf,
}

impl Quota {
    /// Processes in it get `share` of one CPU in every `period`.
    pub fn new(period: Duration, share: f64) -> anyhow::Result<Self> {
        let period_us = period.as_micros();
        let quota_us = (period_us as f64 * share).round() as u128;
        let name = format!("referral-bench-{}-{period_us}", std::process::id());
        let v1 = PathBuf::from("/sys/fs/cgroup/cpu");
        let v2 = PathBuf::from("/sys/fs/cgroup");
        if v1.join("cpu.cfs_quota_us").exists() {
            let dir = v1.join(name);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let quota = Self { dir };
            quota.write("cpu.cfs_period_us", &period_us.to_string())?;
            quota.write("cpu.cfs_quota_us", &quota_us.to_string())?;
            Ok(quota)
        } else if std::fs::read_to_string(v2.join("cgroup.subtree_control"))
            .is_ok_and(|c| c.split_whitespace().any(|c| c == "cpu"))
        {
            let dir = v2.join(name);
            std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
            let quota = Self { dir };
            quota.write("cpu.max", &format!("{quota_us} {period_us}"))?;
            Ok(quota)
        } else {
            bail!("no cgroup cpu controller to set a quota with (cgroup v1 cpu, or v2 with +cpu)")
        }
    }

    fn write(&self, file: &str, value: &str) -> anyhow::Result<()> {
        let path = self.dir.join(file);
        std::fs::write(&path, value)
            .with_context(|| format!("writing {value} to {}", path.display()))
    }

    /// How many times the scheduler paused the group for its quota, and for how long in all
    /// (milliseconds), so far.
    pub fn paused(&self) -> (u64, f64) {
        let stat = std::fs::read_to_string(self.dir.join("cpu.stat")).unwrap_or_default();
        let field = |name: &str| {
            stat.lines()
                .find_map(|l| l.strip_prefix(name)?.trim().parse::<f64>().ok())
                .unwrap_or(f64::NAN)
        };
        let times = field("nr_throttled ") as u64;
        // v1 counts nanoseconds, v2 microseconds.
        let ms = if stat.contains("throttled_usec") {
            field("throttled_usec ") / 1e3
        } else {
            field("throttled_time ") / 1e6
        };
        (times, ms)
    }

    /// Puts process `pid` (all its threads) under the quota.
    pub fn add(&self, pid: u32) -> anyhow::Result<()> {
        self.write("cgroup.procs", &pid.to_string())
    }
}

impl Drop for Quota {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// What one route's requests took in one setting: the first request after a cold start, and
/// warm ones, each alone.
pub struct Latency {
    /// The first event's wall time, handed over to answered, and its CPU.
    pub first_ms: Vec<f64>,
    pub first_cpu_ms: Vec<f64>,
    /// Warm requests, one every `SPACING`, so each starts with the period's whole quota.
    pub warm_ms: Vec<f64>,
    pub warm_cpu_ms: Vec<f64>,
}

/// Warm requests measured per process.
pub const WARM: usize = 10;
/// Between two warm requests: longer than any period measured, so a request never inherits a
/// period its predecessor used up (Lambda hands one event at a time; a busy function's next
/// event may come sooner, and would then be paused sooner).
pub const SPACING: Duration = Duration::from_millis(120);

/// A cold start of `function` (the build of bench name `function`) under `quota` from its
/// first `GET /invocation/next` on, answering `label`'s events: the first, then `WARM` more.
pub async fn under(
    bench: &Bench,
    function: &str,
    label: &str,
    quota: Option<&Quota>,
) -> anyhow::Result<Latency> {
    let mut events = Vec::new();
    for _ in 0..=WARM {
        events.push(bench.first_answer_event(label).await?);
    }
    let (binary, _) = binary_of(function)?;
    let stub = RuntimeStub::start()?;
    let child = spawn(
        &binary,
        &function_env(&bench.endpoint, &stub.address, function),
    )?;
    let pid = child.id();
    let result = (|| {
        let Seen::Ready(_) = stub.next_seen(Duration::from_secs(20))? else {
            bail!("{label}: no first GET /invocation/next")
        };
        if let Some(quota) = quota {
            quota.add(pid)?;
        }
        let mut out = Latency {
            first_ms: Vec::new(),
            first_cpu_ms: Vec::new(),
            warm_ms: Vec::new(),
            warm_cpu_ms: Vec::new(),
        };
        for (n, event) in events.into_iter().enumerate() {
            let before = cpu_ms(pid).unwrap_or(f64::NAN);
            stub.push(event);
            let (wall, body) = loop {
                match stub.next_seen(Duration::from_secs(20))? {
                    Seen::Response {
                        handed_at,
                        answered_at,
                        body,
                    } => break ((answered_at - handed_at).as_secs_f64() * 1e3, body),
                    Seen::Failed(error) => bail!("{label}: {error}"),
                    Seen::Ready(_) => {}
                }
            };
            let status = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["statusCode"].as_u64());
            if !matches!(status, Some(200..=299)) {
                bail!("{label}: {body}");
            }
            // Time to finish the invocation and ask for the next, and for a new period.
            std::thread::sleep(SPACING);
            let cpu = cpu_ms(pid).unwrap_or(f64::NAN) - before;
            if n == 0 {
                out.first_ms.push(wall);
                out.first_cpu_ms.push(cpu);
            } else {
                out.warm_ms.push(wall);
                out.warm_cpu_ms.push(cpu);
            }
        }
        Ok(out)
    })();
    stop(child);
    result
}

/// The routes measured: a login's two requests as production runs them, and a profile GET.
pub const ROUTES: [(&str, &str); 3] = [
    ("POST /v1/auth/send-code, SMS through SNS", SEND_CODE_SNS),
    ("POST /v1/auth/verify-code, first login", "verify-code"),
    ("GET /v1/profile", "profile"),
];

/// How many cold starts per route and setting.
pub const COLD: usize = 7;

/// One row of the section: a route in one setting.
pub struct Row {
    pub label: &'static str,
    /// None: this machine's full CPU.
    pub quota: Option<QuotaUse>,
    pub first_ms: f64,
    pub first_cpu_ms: f64,
    pub warm_ms: f64,
    pub warm_cpu_ms: f64,
}

/// A quota's setting and how often it paused the row's requests.
pub struct QuotaUse {
    pub period: Duration,
    pub paused_times: u64,
    pub paused_ms: f64,
}

/// The section's figures: each route without a quota and under each period, at `memory_mb`; or
/// why it could not be measured.
pub enum Throttle {
    NotMeasured(String),
    Measured {
        memory_mb: f64,
        share: f64,
        rows: Vec<Row>,
    },
}

/// Each route without a quota and at `memory_mb` under each period.
pub async fn section(bench: &Bench, memory_mb: f64, mb_per_vcpu: f64) -> anyhow::Result<Throttle> {
    let share = memory_mb / mb_per_vcpu;
    let periods = [Duration::from_millis(20), Duration::from_millis(100)];
    let mut quotas = Vec::new();
    for period in periods {
        match Quota::new(period, share) {
            Ok(quota) => quotas.push((period, quota)),
            Err(e) => return Ok(Throttle::NotMeasured(format!("{e:#}"))),
        }
    }
    let mut rows = Vec::new();
    for (label, function) in ROUTES {
        // Unthrottled, then each period, in turns, so a noisy moment falls on all alike.
        let mut runs: Vec<Vec<Latency>> = (0..=quotas.len()).map(|_| Vec::new()).collect();
        let paused_before: Vec<(u64, f64)> = quotas.iter().map(|(_, q)| q.paused()).collect();
        for _ in 0..COLD {
            for (setting, runs) in runs.iter_mut().enumerate() {
                let quota = setting.checked_sub(1).map(|q| &quotas[q].1);
                runs.push(under(bench, function, label, quota).await?);
            }
        }
        let paused_after: Vec<(u64, f64)> = quotas.iter().map(|(_, q)| q.paused()).collect();
        for (setting, runs) in runs.iter().enumerate() {
            let l = pooled(runs);
            rows.push(Row {
                label,
                quota: setting.checked_sub(1).map(|q| QuotaUse {
                    period: quotas[q].0,
                    paused_times: paused_after[q].0 - paused_before[q].0,
                    paused_ms: paused_after[q].1 - paused_before[q].1,
                }),
                first_ms: median(&l.first_ms),
                first_cpu_ms: median(&l.first_cpu_ms),
                warm_ms: median(&l.warm_ms),
                warm_cpu_ms: median(&l.warm_cpu_ms),
            });
        }
    }
    Ok(Throttle::Measured {
        memory_mb,
        share,
        rows,
    })
}

/// Every run's figures together.
fn pooled(runs: &[Latency]) -> Latency {
    let all =
        |f: fn(&Latency) -> &Vec<f64>| runs.iter().flat_map(|r| f(r).iter().copied()).collect();
    Latency {
        first_ms: all(|r| &r.first_ms),
        first_cpu_ms: all(|r| &r.first_cpu_ms),
        warm_ms: all(|r| &r.warm_ms),
        warm_cpu_ms: all(|r| &r.warm_cpu_ms),
    }
}
