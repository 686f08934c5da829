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

/// The filter for `level`. The runtime's per-invocation span (which carries the Lambda request
/// id) stays enabled at every level, so even at WARN each line can be traced to its request.
pub fn filter(level: &str) -> EnvFilter {
    let span = "lambda_runtime::layers::trace=info";
    EnvFilter::try_new(format!("{},{span}", level.to_ascii_lowercase()))
        .unwrap_or_else(|_| EnvFilter::new(format!("info,{span}")))
}

pub fn init() {
    let wanted = filter(&level(|name| std::env::var(name).ok()));
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

    #[derive(Clone, Default)]
    struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged_at(level: &str) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::registry()
            .with(filter(level))
            .with(caps())
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .flatten_event(true)
                    .with_writer(move || writer.clone()),
            );
        tracing::subscriber::with_default(subscriber, || {
            let span = tracing::info_span!(
                target: "lambda_runtime::layers::trace",
                "Lambda runtime invoke",
                requestId = "req-1234"
            );
            let _entered = span.enter();
            tracing::info!(target: "shared::usecases", "an info line");
            tracing::warn!(target: "shared::usecases", "a warning");
        });
        String::from_utf8(captured.0.lock().unwrap().clone()).unwrap()
    }

    #[test]
    fn every_line_carries_the_lambda_request_id_even_at_warn() {
        let warn = logged_at("WARN");
        assert!(!warn.contains("an info line"), "{warn}");
        let line = warn.lines().find(|l| l.contains("a warning")).unwrap();
        let doc: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(doc["spans"][0]["requestId"], "req-1234", "{line}");
        let info = logged_at("info");
        assert!(info.contains("an info line") && info.contains("req-1234"));
    }
}
