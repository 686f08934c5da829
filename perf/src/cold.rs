//! Cold starts: exec to the first `GET /invocation/next` against the stub Runtime API, wall time
//! and the process's CPU, taken in turns over the binaries.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::bail;

use crate::measure::{cpu_ms, spawn, stop};
use crate::runtime_stub::{RuntimeStub, Seen};

/// Cold starts of each binary.
pub const COLD_RUNS: usize = 30;

/// Starts `binary` against a fresh stub and waits for its first `/next`: (wall, CPU) of the init.
fn cold_start(binary: &Path, env: &[(String, String)]) -> anyhow::Result<(f64, f64)> {
    let stub = RuntimeStub::start()?;
    let env = stub.pointed_at(env);
    let started = Instant::now();
    let child = spawn(binary, &env)?;
    let seen = stub.next_seen(Duration::from_secs(20));
    let cpu = cpu_ms(child.id());
    stop(child);
    match seen? {
        Seen::Ready(at) => Ok((
            (at - started).as_secs_f64() * 1_000.0,
            cpu.unwrap_or(f64::NAN),
        )),
        Seen::Response { .. } => bail!("{}: answered before asking for work", binary.display()),
        Seen::Failed(error) => bail!("{} failed to start: {error}", binary.display()),
    }
}

/// Init wall and CPU times of each binary, by name.
pub type Inits = BTreeMap<String, (Vec<f64>, Vec<f64>)>;

/// A binary to cold-start: its name, path and settings.
pub type ColdStart<'a> = (&'a str, PathBuf, Vec<(String, String)>);

/// `COLD_RUNS` cold starts of each of `binaries` (name, path, settings), taken in turns (the
/// floor, then each function, then again), so that a noisy moment of the machine falls on all of
/// them alike instead of on whichever was being measured: (wall, CPU) of each run, by name.
pub fn cold_starts(binaries: &[ColdStart<'_>]) -> anyhow::Result<Inits> {
    let mut out = Inits::new();
    for _ in 0..COLD_RUNS {
        for (name, binary, env) in binaries {
            let (wall, cpu) = cold_start(binary, env)?;
            let runs = out.entry((*name).to_owned()).or_default();
            runs.0.push(wall);
            runs.1.push(cpu);
        }
    }
    Ok(out)
}
