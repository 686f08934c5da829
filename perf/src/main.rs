//! The measuring tools (docs/performance.md):
//! - `perf bench --out FILE` measures the functions and writes the report (`bench.rs`; run by
//!   `make bench`);
//! - `perf profile FUNCTION --out DIR` samples where one function's CPU goes (`profile.rs`; run
//!   by `make profile`);
//! - `perf compare FUNCTION BINARY...` measures builds of one function against each other and
//!   the floors, in turns (`compare.rs`);
//! - `perf sdk-cost`, `perf tls-cost`, `perf cpu-quota` and `perf init-steps` measure one section
//!   of `make bench` alone (`sdk_cost.rs`, `tls_cost.rs`, `throttle.rs`, `init_steps.rs`);
//! - `perf soak DIR` checks that each function's deployed build keeps flat memory over 50,000
//!   invocations with unique trace ids (`memory.rs`; run by `make test`).
//!
//! The modules, each importing only from those listed before it: `measure`, `runtime_stub` and
//! `meter` import nothing from the crate; then `builds` (bench names, builds, settings, events);
//! `app` (the handlers in process); the sections (`cold`, `warm`, `memory`, `first_answer`,
//! `dynamodb`, `throttle`, `init_steps`, `sdk_cost`, `tls_cost`, `load`); `cost` (what the
//! figures come to); `render` (the one writer of the report); and the commands (`bench`,
//! `compare`, `profile`).
mod measure;
mod meter;
mod runtime_stub;

mod builds;

mod app;

mod cold;
mod dynamodb;
mod first_answer;
mod init_steps;
mod load;
mod memory;
mod sdk_cost;
mod throttle;
mod tls_cost;
mod warm;

mod cost;

mod render;

mod bench;
mod compare;
mod profile;

use std::path::Path;

use anyhow::{Context, bail};

fn dynamodb_endpoint() -> anyhow::Result<String> {
    std::env::var("DYNAMODB_ENDPOINT").context("run through scripts/with-dynamodb.sh")
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let words: Vec<&str> = args.iter().map(String::as_str).collect();
    // words[0] is the program itself.
    match words.get(1..).unwrap_or_default() {
        ["bench", "--out", out] => bench::run(Path::new(out)).await,
        ["compare", function, binaries @ ..] if !binaries.is_empty() => {
            compare::run(function, binaries).await
        }
        ["profile", function, "--out", out] => profile::run(function, Path::new(out)).await,
        ["sdk-cost"] => {
            let sns = std::env::var("MOTO_SNS_ENDPOINT")
                .context("run through scripts/with-dynamodb.sh")?;
            let costs = sdk_cost::measure(&dynamodb_endpoint()?, &sns)?;
            println!("{}", render::sdk_tables(&costs));
            Ok(())
        }
        ["tls-cost"] => {
            println!(
                "{}",
                render::tls_table(&tls_cost::measure(&dynamodb_endpoint()?)?)
            );
            Ok(())
        }
        ["cpu-quota"] => {
            // Against the release builds `make bench` made.
            let bench = app::Bench::new(dynamodb_endpoint()?).await?;
            let figures = throttle::section(&bench, 128.0, builds::MB_PER_VCPU).await?;
            println!("{}", render::quota_table(&figures));
            Ok(())
        }
        ["init-steps"] => {
            // No step connects anywhere, so no stack is needed.
            let endpoint = dynamodb_endpoint().unwrap_or_else(|_| "http://127.0.0.1:8000".into());
            let steps = init_steps::measure(&endpoint)?;
            println!("{}", render::init_steps_table(&steps));
            Ok(())
        }
        ["init-steps", "--child"] => init_steps::child(),
        ["init-steps", "--empty-util"] => init_steps::empty_util(),
        ["soak", dir] => memory::run(Path::new(dir)),
        _ => bail!(
            "usage: perf bench --out FILE | perf profile FUNCTION --out DIR | \
             perf compare FUNCTION BINARY... | perf sdk-cost | perf tls-cost | perf cpu-quota | \
             perf init-steps | perf soak DIR"
        ),
    }
}
