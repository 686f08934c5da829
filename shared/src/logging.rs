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

/// The level asked for: `LOG_LEVEL` (the stack's `LogLevel` parameter) first, then Lambda's
/// `AWS_LAMBDA_LOG_LEVEL`, then `RUST_LOG`, else INFO. The stack sets Lambda's own filter to
/// TRACE and lets `LOG_LEVEL` do the filtering here: Lambda would also drop the metric lines
/// (which it files under INFO) at WARN or ERROR.
pub fn level(var: impl Fn(&str) -> Option<String>) -> String {
    ["LOG_LEVEL", "AWS_LAMBDA_LOG_LEVEL", "RUST_LOG"]
        .into_iter()
        .find_map(|name| var(name).filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "info".into())
}

pub fn init() {
    let level = level(|name| std::env::var(name).ok());
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

#[cfg(test)]
mod tests {
    use super::*;

    fn level_with(vars: &[(&str, &str)]) -> String {
        level(|name| {
            vars.iter()
                .find(|(k, _)| *k == name)
                .map(|(_, v)| (*v).to_owned())
        })
    }

    #[test]
    fn the_stacks_log_level_wins_over_lambdas_and_rust_log() {
        let all = [
            ("LOG_LEVEL", "WARN"),
            ("AWS_LAMBDA_LOG_LEVEL", "TRACE"),
            ("RUST_LOG", "debug"),
        ];
        assert_eq!(level_with(&all), "WARN");
        assert_eq!(level_with(&all[1..]), "TRACE");
        assert_eq!(level_with(&all[2..]), "debug");
        assert_eq!(level_with(&[("LOG_LEVEL", "")]), "info");
        assert_eq!(level_with(&[]), "info");
    }
}
