//! Business metrics as CloudWatch Embedded Metric Format (EMF) lines on stdout: CloudWatch Logs
//! turns each line into metric data as it ingests the function log, so counting costs no SDK
//! call, no network round trip and no extra IAM permission.
//!
//! Every problem response is counted by its code where errors become responses
//! ([`crate::http::problem`]), so a new problem code is measured without touching this module;
//! the successes are counted by the use cases. Dimensions are the function and a small closed
//! set (the login outcome, the problem code), never a phone, an address or a user id: each
//! distinct dimension value is a metric billed on its own, and metrics are not for personal data.
//!
//! The lines bypass `tracing`: they must reach the log whatever `LOG_LEVEL` says, and EMF needs
//! the metric values as top-level members, which the tracing formatter would nest.
use std::io::Write;
use std::sync::OnceLock;

use serde_json::{Map, Value, json};

use crate::error::ProblemCode;

/// The CloudWatch namespace of every metric. Stacks share it; the `function` dimension (the
/// deployed function's name, which carries the stack name) keeps them apart.
pub const NAMESPACE: &str = "ReferralApi";

/// What happened, as far as the metrics care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A login code was delivered (or, in demo mode, simulated).
    CodeSent,
    /// A code was verified and a token issued; `new_user` if this login created the user.
    Login { new_user: bool },
    /// An invite code was activated.
    Activation,
    /// A user deleted their account.
    AccountDeleted,
    /// A request was answered with this problem: wrong codes, lockouts, rate limits, refused
    /// activations, SMS and DynamoDB outages, and every other refusal.
    Problem(ProblemCode),
}

/// Metric names, as the template's alarms and dashboard use them.
pub const CODES_SENT: &str = "CodesSent";
pub const LOGINS: &str = "Logins";
pub const ACTIVATIONS: &str = "Activations";
pub const ACCOUNTS_DELETED: &str = "AccountsDeleted";
pub const PROBLEMS: &str = "Problems";

impl Event {
    /// The metric's name and its one dimension besides `function`, if any.
    fn metric(self) -> (&'static str, Option<(&'static str, String)>) {
        match self {
            Self::CodeSent => (CODES_SENT, None),
            Self::Login { new_user } => {
                let outcome = if new_user { "new" } else { "returning" };
                (LOGINS, Some(("outcome", outcome.to_owned())))
            }
            Self::Activation => (ACTIVATIONS, None),
            Self::AccountDeleted => (ACCOUNTS_DELETED, None),
            Self::Problem(code) => (PROBLEMS, Some(("code", code.as_str()))),
        }
    }
}

/// The EMF document for one occurrence of `event` in `function` at `timestamp_ms`.
pub fn line(event: Event, function: &str, timestamp_ms: i64) -> String {
    let (name, dimension) = event.metric();
    let mut keys = vec!["function"];
    let mut doc = Map::new();
    doc.insert("function".into(), Value::from(function));
    if let Some((key, value)) = dimension {
        keys.push(key);
        doc.insert(key.into(), Value::from(value));
    }
    doc.insert(name.into(), Value::from(1));
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [keys],
                "Metrics": [{ "Name": name, "Unit": "Count" }],
            }],
        }),
    );
    Value::Object(doc).to_string()
}

/// The deployed function's name (Lambda sets it), or `local` outside Lambda.
fn function_name() -> &'static str {
    static NAME: OnceLock<String> = OnceLock::new();
    NAME.get_or_init(|| {
        std::env::var("AWS_LAMBDA_FUNCTION_NAME")
            .ok()
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "local".into())
    })
}

fn now_ms() -> i64 {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(since_epoch.as_millis()).unwrap_or(i64::MAX)
}

/// Counts one `event`: one line on stdout, written whole so it never interleaves with a log line.
pub fn record(event: Event) {
    let mut text = line(event, function_name(), now_ms());
    #[cfg(any(test, feature = "testing"))]
    if capture::keep(&text) {
        return;
    }
    text.push('\n');
    // A metric lost to a closed stdout must not fail the request.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// For tests: the lines [`record`] writes on this thread, instead of stdout.
#[cfg(any(test, feature = "testing"))]
pub mod capture {
    use std::cell::RefCell;

    thread_local! {
        static LINES: RefCell<Option<Vec<String>>> = const { RefCell::new(None) };
    }

    /// Starts keeping this thread's metric lines (a current-thread runtime keeps a test's
    /// whole request on it), dropping any kept before.
    pub fn start() {
        LINES.with(|l| *l.borrow_mut() = Some(Vec::new()));
    }

    /// The lines kept since [`start`]; keeping stops.
    pub fn take() -> Vec<String> {
        LINES.with(|l| l.borrow_mut().take()).unwrap_or_default()
    }

    pub(super) fn keep(line: &str) -> bool {
        LINES.with(|l| match l.borrow_mut().as_mut() {
            Some(lines) => {
                lines.push(line.to_owned());
                true
            }
            None => false,
        })
    }
}

/// Checks `line` against the EMF specification
/// (<https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/CloudWatch_Embedded_Metric_Format_Specification.html>)
/// and returns each metric it declares with its dimensions' values: `(namespace, name,
/// [(dimension, value)], metric value)`. Used by the tests, here and in the API tests.
#[cfg(any(test, feature = "testing"))]
#[allow(clippy::type_complexity)]
pub fn parse(line: &str) -> Result<Vec<(String, String, Vec<(String, String)>, f64)>, String> {
    let doc: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let root = doc.as_object().ok_or("the root is not an object")?;
    let aws = root
        .get("_aws")
        .and_then(Value::as_object)
        .ok_or("no _aws object")?;
    let ts = aws
        .get("Timestamp")
        .and_then(Value::as_i64)
        .ok_or("_aws.Timestamp is not an integer")?;
    if ts <= 0 {
        return Err("_aws.Timestamp is not milliseconds since the epoch".into());
    }
    let directives = aws
        .get("CloudWatchMetrics")
        .and_then(Value::as_array)
        .ok_or("_aws.CloudWatchMetrics is not an array")?;
    let mut out = Vec::new();
    for d in directives {
        let ns = d
            .get("Namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty() && n.len() <= 1024)
            .ok_or("a directive without a Namespace")?;
        let sets = d
            .get("Dimensions")
            .and_then(Value::as_array)
            .ok_or("a directive without Dimensions")?;
        let mut dimensions = Vec::new();
        for set in sets {
            let keys = set.as_array().ok_or("a dimension set is not an array")?;
            if keys.len() > 30 {
                return Err("more than 30 dimensions in a set".into());
            }
            for key in keys {
                let key = key.as_str().ok_or("a dimension key is not a string")?;
                let value = root
                    .get(key)
                    .and_then(Value::as_str)
                    .ok_or(format!("dimension {key} is not a top-level string member"))?;
                dimensions.push((key.to_owned(), value.to_owned()));
            }
        }
        let metrics = d
            .get("Metrics")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty() && m.len() <= 100)
            .ok_or("Metrics is not an array of 1-100")?;
        for m in metrics {
            let name = m
                .get("Name")
                .and_then(Value::as_str)
                .filter(|n| !n.is_empty())
                .ok_or("a metric without a Name")?;
            if let Some(unit) = m.get("Unit") {
                let known = [
                    "Count",
                    "Milliseconds",
                    "Seconds",
                    "Bytes",
                    "None",
                    "Percent",
                ];
                if !unit.as_str().is_some_and(|u| known.contains(&u)) {
                    return Err(format!("{name}: unexpected Unit {unit}"));
                }
            }
            let value = root
                .get(name)
                .and_then(Value::as_f64)
                .ok_or(format!("metric {name} has no top-level numeric value"))?;
            out.push((ns.to_owned(), name.to_owned(), dimensions.clone(), value));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(event: Event) -> (String, Vec<(String, String)>) {
        let parsed = parse(&line(event, "referral-api-SendCode-abc", 1_700_000_000_000)).unwrap();
        assert_eq!(parsed.len(), 1, "one metric per event");
        let (ns, name, dims, value) = parsed.into_iter().next().unwrap();
        assert_eq!((ns.as_str(), value), (NAMESPACE, 1.0));
        (name, dims)
    }

    fn dims(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn every_event_is_one_valid_emf_count_with_the_function_as_a_dimension() {
        let f = "referral-api-SendCode-abc";
        assert_eq!(
            one(Event::CodeSent),
            (CODES_SENT.into(), dims(&[("function", f)]))
        );
        assert_eq!(
            one(Event::Login { new_user: true }),
            (LOGINS.into(), dims(&[("function", f), ("outcome", "new")]))
        );
        assert_eq!(
            one(Event::Login { new_user: false }),
            (
                LOGINS.into(),
                dims(&[("function", f), ("outcome", "returning")])
            )
        );
        assert_eq!(
            one(Event::Activation),
            (ACTIVATIONS.into(), dims(&[("function", f)]))
        );
        assert_eq!(
            one(Event::AccountDeleted),
            (ACCOUNTS_DELETED.into(), dims(&[("function", f)]))
        );
        assert_eq!(
            one(Event::Problem(ProblemCode::SmsBudgetExhausted)),
            (
                PROBLEMS.into(),
                dims(&[("function", f), ("code", "sms_budget_exhausted")])
            )
        );
    }

    #[test]
    fn a_line_is_one_line_with_the_timestamp_in_milliseconds() {
        let text = line(Event::CodeSent, "f", 1_700_000_000_123);
        assert!(!text.contains('\n'));
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(doc["_aws"]["Timestamp"], 1_700_000_000_123_i64);
    }

    #[test]
    fn the_checker_refuses_lines_that_break_the_specification() {
        let good = line(Event::CodeSent, "f", 1);
        assert!(parse(&good).is_ok());
        let mut doc: Value = serde_json::from_str(&good).unwrap();
        doc.as_object_mut().unwrap().remove(CODES_SENT);
        assert!(
            parse(&doc.to_string())
                .unwrap_err()
                .contains("no top-level")
        );
        let mut doc: Value = serde_json::from_str(&good).unwrap();
        doc.as_object_mut().unwrap().remove("function");
        assert!(parse(&doc.to_string()).unwrap_err().contains("dimension"));
        let mut doc: Value = serde_json::from_str(&good).unwrap();
        doc["_aws"].as_object_mut().unwrap().remove("Timestamp");
        assert!(parse(&doc.to_string()).is_err());
        assert!(parse(r#"{"CodesSent":1}"#).is_err());
    }

    #[test]
    fn recorded_events_can_be_captured_on_the_test_thread() {
        capture::start();
        record(Event::Activation);
        let lines = capture::take();
        assert_eq!(lines.len(), 1);
        assert_eq!(parse(&lines[0]).unwrap()[0].1, ACTIVATIONS);
        assert!(capture::take().is_empty(), "keeping stopped");
    }
}
