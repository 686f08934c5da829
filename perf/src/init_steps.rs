//! `perf init-steps` (also a section of `make bench`): what each step of send-code's init
//! costs, the function whose init is furthest over the floor. Each sample is a fresh process
//! (this binary again, `init-steps --child`) that makes the steps of `functions/send-code/src/
//! main.rs` before `run`, in its order, with the settings send-code runs with in production (SMS
//! through SNS), and times each one. Wall time, which here is CPU time: no step waits on anything
//! (the clients open no connection before their first call), and `/proc`'s per-thread counter
//! only moves at the scheduler's ticks, too coarse for steps this short. In processes of their
//! own, the phone library's own patterns are timed alone (`init-steps --empty-util`): the part of
//! every calling code's rules that does not depend on the region.
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, bail};
use rlibphonenumber::{PhoneMetadataCollection, PhoneNumberUtil};
use shared::config::Config;
use shared::domain::PhoneNumber;
use shared::state::{AppState, dynamodb_client};

use crate::builds::{SEND_CODE_SNS, function_env};
use crate::measure::median;

/// Fresh processes of each kind (`--child`, `--empty-util`), taken in turns.
pub const RUNS: usize = 30;

/// The steps, as `--child` reports them, with what each one is in send-code's `main`.
pub const STEPS: [&str; 6] = [
    "`logging::init`: the log subscriber and its filters",
    "`Config::from_env`: every setting read and checked",
    "`dynamodb_client`: the SDK's config, HTTPS client and DynamoDB client",
    "`AppState::load`: token keys (`JWT_SECRET`), code hasher, store, SMS sender (not its client)",
    "`PhoneNumber::prepare`: the default region's phone rules",
    "`Sms::prepare`: the SNS client",
];

/// Times laps of one thread's work.
struct Laps {
    last: Instant,
    laps: Vec<f64>,
}

impl Laps {
    fn start() -> Self {
        Self {
            last: Instant::now(),
            laps: Vec::new(),
        }
    }

    fn lap(&mut self) {
        let now = Instant::now();
        self.laps.push((now - self.last).as_secs_f64() * 1e3);
        self.last = now;
    }

    fn print(&self) {
        let laps: Vec<String> = self.laps.iter().map(|ms| format!("{ms:.4}")).collect();
        println!("{}", laps.join(" "));
    }
}

/// send-code's init, step by step, as its `main` and `AppState::from_env` make it, with the
/// settings `lookup` gives: each step's milliseconds, and the state made.
fn timed_steps(lookup: impl Fn(&str) -> Option<String>) -> anyhow::Result<(Laps, AppState)> {
    let mut laps = Laps::start();
    shared::logging::init();
    laps.lap();
    let config = Config::from_lookup(lookup)?;
    laps.lap();
    let client = dynamodb_client(config.dynamodb_endpoint.as_deref());
    laps.lap();
    // With `JWT_SECRET`, as here, nothing in it waits: no runtime needed.
    let state = futures::executor::block_on(AppState::load(config, client))?;
    laps.lap();
    PhoneNumber::prepare(state.config.default_region);
    laps.lap();
    state.sms.prepare();
    laps.lap();
    Ok((laps, state))
}

/// `init-steps --child`: [`timed_steps`] with this process's environment; prints the laps.
pub fn child() -> anyhow::Result<()> {
    timed_steps(|name| std::env::var(name).ok())?.0.print();
    Ok(())
}

/// `init-steps --empty-util`: the phone library's util with no region's metadata, first thing in
/// a fresh process: the patterns it compiles for any calling code.
pub fn empty_util() -> anyhow::Result<()> {
    let mut laps = Laps::start();
    let util = PhoneNumberUtil::new_for_metadata(PhoneMetadataCollection::default());
    laps.lap();
    if util.is_err() {
        bail!("an empty phone metadata collection was refused");
    }
    laps.print();
    Ok(())
}

/// One fresh process of this binary with `args`: its laps.
fn sample(env: &[(String, String)], args: &[&str]) -> anyhow::Result<Vec<f64>> {
    let out = Command::new(std::env::current_exe()?)
        .arg("init-steps")
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .context("starting perf init-steps")?;
    if !out.status.success() {
        bail!("perf init-steps {args:?} failed");
    }
    parse_laps(&String::from_utf8_lossy(&out.stdout))
}

/// A child's line of milliseconds.
pub fn parse_laps(line: &str) -> anyhow::Result<Vec<f64>> {
    line.split_whitespace()
        .map(|ms| {
            ms.parse()
                .with_context(|| format!("not milliseconds: {ms:?}"))
        })
        .collect()
}

/// Each step of send-code's init, in its order, with its median time, and the phone library's
/// own patterns alone.
pub struct InitSteps {
    pub steps: Vec<(&'static str, f64)>,
    pub util_ms: f64,
}

/// Each step's median over `RUNS` fresh processes, taken in turns with the util's. No step
/// connects anywhere, so `endpoint` needs nothing listening.
pub fn measure(endpoint: &str) -> anyhow::Result<InitSteps> {
    let env = function_env(endpoint, "", SEND_CODE_SNS);
    let mut steps: Vec<Vec<f64>> = vec![Vec::new(); STEPS.len()];
    let mut util = Vec::new();
    for _ in 0..RUNS {
        let laps = sample(&env, &["--child"])?;
        if laps.len() != STEPS.len() {
            bail!(
                "init-steps --child timed {} steps, not {}",
                laps.len(),
                STEPS.len()
            );
        }
        for (step, ms) in steps.iter_mut().zip(laps) {
            step.push(ms);
        }
        util.extend(sample(&env, &["--empty-util"])?);
    }
    Ok(InitSteps {
        steps: STEPS
            .iter()
            .zip(&steps)
            .map(|(name, ms)| (*name, median(ms)))
            .collect(),
        util_ms: median(&util),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_childs_line_reads_as_its_laps_and_anything_else_is_refused() {
        assert_eq!(parse_laps("0.0250 1.5000\n").unwrap(), vec![0.025, 1.5]);
        assert!(parse_laps("0.02 logging").is_err());
    }

    #[test]
    fn each_step_of_send_codes_init_is_timed_with_its_production_settings() {
        let env = function_env("http://127.0.0.1:1", "", SEND_CODE_SNS);
        let (laps, state) = timed_steps(|k| {
            env.iter()
                .find(|(name, _)| name == k)
                .map(|(_, v)| v.clone())
        })
        .unwrap();
        assert_eq!(laps.laps.len(), STEPS.len());
        assert!(laps.laps.iter().all(|ms| *ms >= 0.0));
        // The last step is the SNS client's: the settings are production's.
        assert!(matches!(state.sms, shared::sms::Sms::Sns { .. }));
        assert!(!state.config.expose_codes);
    }
}
