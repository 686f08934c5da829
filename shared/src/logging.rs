//! Logging for the functions: JSON or text as Lambda's log settings ask, at the level they ask,
//! but never more than INFO for the runtime and the AWS SDK, whose DEBUG and TRACE output
//! includes raw events and request bodies (phones, codes, tokens).
use tracing_subscriber::filter::{EnvFilter, LevelFilter, Targets};
use tracing_subscriber::prelude::*;

/// Our own crates may log at any level; every dependency at most INFO.
pub fn caps() -> Targets {
    Targets::new()
        .with_default(LevelFilter::INFO)
        .with_target("shared", LevelFilter::TRACE)
}

pub fn init() {
    let level = std::env::var("AWS_LAMBDA_LOG_LEVEL")
        .or_else(|_| std::env::var("RUST_LOG"))
        .unwrap_or_else(|_| "info".into());
    let wanted =
        EnvFilter::try_new(level.to_ascii_lowercase()).unwrap_or_else(|_| EnvFilter::new("info"));
    let json = std::env::var("AWS_LAMBDA_LOG_FORMAT").is_ok_and(|f| f.eq_ignore_ascii_case("json"));
    let registry = tracing_subscriber::registry().with(wanted).with(caps());
    // Lambda adds its own timestamps to every line.
    let result = if json {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .without_time(),
            )
            .try_init()
    } else {
        registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .without_time(),
            )
            .try_init()
    };
    if let Err(e) = result {
        eprintln!("logging was already set up: {e}");
    }
}
