//! `xtask check-metrics LOG`: reads a local stack's function output (the log of
//! `scripts/with-stack.sh`) and checks every metric line the real binaries wrote there against
//! the EMF specification, whole and unbroken among the log lines around it.
use std::collections::BTreeMap;

use anyhow::{bail, ensure};
use shared::metrics::{CODES_SENT, LOGINS, NAMESPACE, PROBLEMS};

const FUNCTIONS: [&str; 4] = ["send-code", "verify-code", "profile", "web"];

/// How often each metric appeared, by name; an error names the first bad line.
pub fn check(log: &str) -> anyhow::Result<BTreeMap<String, usize>> {
    let mut seen = BTreeMap::new();
    for (n, line) in log.lines().enumerate() {
        if !line.contains("\"_aws\"") {
            continue;
        }
        // cargo lambda watch may prefix a function's output; the document starts at the brace.
        let start = line.find('{').unwrap_or(0);
        let metrics = match shared::metrics::parse(&line[start..]) {
            Ok(metrics) => metrics,
            Err(e) => bail!("line {}: {e}: {line}", n + 1),
        };
        for (namespace, name, dimensions, value) in metrics {
            ensure!(
                namespace == NAMESPACE,
                "line {}: namespace {namespace}",
                n + 1
            );
            ensure!(value == 1.0, "line {}: {name} = {value}", n + 1);
            let function = dimensions
                .iter()
                .find(|(k, _)| k == "function")
                .map(|(_, v)| v.as_str());
            ensure!(
                function.is_some_and(|f| FUNCTIONS.contains(&f)),
                "line {}: function {function:?}",
                n + 1
            );
            *seen.entry(name).or_insert(0) += 1;
        }
    }
    for name in [CODES_SENT, LOGINS, PROBLEMS] {
        ensure!(seen.contains_key(name), "no {name} line in the log");
    }
    Ok(seen)
}

#[cfg(test)]
mod tests {
    use shared::error::ProblemCode;
    use shared::metrics::{Event, line};

    use super::*;

    fn log(lines: &[String]) -> String {
        lines.join("\n")
    }

    fn good() -> Vec<String> {
        vec![
            r#"{"level":"INFO","message":"sms delivered"}"#.to_owned(),
            line(Event::CodeSent, "send-code", 1),
            line(Event::Login { new_user: true }, "verify-code", 2),
            line(Event::Problem(ProblemCode::InvalidCode), "verify-code", 3),
        ]
    }

    #[test]
    fn a_log_with_whole_metric_lines_passes_and_is_counted() {
        let seen = check(&log(&good())).unwrap();
        assert_eq!(seen[CODES_SENT], 1);
        assert_eq!(seen[PROBLEMS], 1);
    }

    #[test]
    fn a_broken_line_a_foreign_function_or_a_missing_event_fails() {
        let mut torn = good();
        torn[1].truncate(40);
        torn[1].push_str("\"_aws\"");
        assert!(
            check(&log(&torn))
                .unwrap_err()
                .to_string()
                .contains("line 2")
        );
        let mut foreign = good();
        foreign.push(line(Event::Activation, "someone-else", 4));
        assert!(check(&log(&foreign)).is_err());
        assert!(check(&log(&good()[..3])).is_err(), "no Problems line");
    }
}
