//! Checks of the template's operations side: the alarm set the runbook promises, what each alarm
//! watches, the access log, the log level, the dashboard, and that every resource in the
//! template is of a type some check here or in `template.rs` covers.
use std::collections::BTreeMap;

use serde_norway::{Mapping, Value};

use crate::stack::template;

fn resources(doc: &Value) -> &Mapping {
    doc["Resources"].as_mapping().unwrap()
}

fn of_type<'a>(doc: &'a Value, kind: &str) -> BTreeMap<String, &'a Value> {
    resources(doc)
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some(kind))
        .map(|(id, r)| (id.as_str().unwrap().to_owned(), r))
        .collect()
}

/// `!Ref X` (or `!GetAtt X...`): the tag without `!` and its text.
fn tagged(v: &Value) -> Option<(String, String)> {
    match v {
        Value::Tagged(t) => Some((
            t.tag.to_string().trim_start_matches('!').to_owned(),
            t.value.as_str().unwrap_or_default().to_owned(),
        )),
        _ => None,
    }
}

fn is_ref(v: &Value, to: &str) -> bool {
    tagged(v) == Some(("Ref".into(), to.into()))
}

/// The alarms the issue lists, by logical id: (namespace, metric) each one watches. A metric-math
/// alarm is listed with the metric its expression combines.
fn promised_alarms() -> BTreeMap<&'static str, (&'static str, &'static str)> {
    let mut alarms = BTreeMap::new();
    for f in ["SendCode", "VerifyCode", "Profile", "Web"] {
        let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
        alarms.insert(leak(format!("{f}ErrorsAlarm")), ("AWS/Lambda", "Errors"));
        alarms.insert(
            leak(format!("{f}ThrottlesAlarm")),
            ("AWS/Lambda", "Throttles"),
        );
        alarms.insert(
            leak(format!("{f}DurationAlarm")),
            ("AWS/Lambda", "Duration"),
        );
    }
    alarms.insert("Api5xxRateAlarm", ("AWS/ApiGateway", "5xx"));
    alarms.insert("VerifyCode4xxSpikeAlarm", ("AWS/ApiGateway", "4xx"));
    alarms.insert(
        "DynamoDbThrottlesAlarm",
        ("AWS/DynamoDB", "WriteThrottleEvents"),
    );
    alarms.insert(
        "DynamoDbReadSystemErrorsAlarm",
        ("AWS/DynamoDB", "SystemErrors"),
    );
    alarms.insert(
        "DynamoDbWriteSystemErrorsAlarm",
        ("AWS/DynamoDB", "SystemErrors"),
    );
    alarms.insert("SmsBudgetExhaustedAlarm", ("ReferralApi", "Problems"));
    alarms.insert("SmsFailuresAlarm", ("ReferralApi", "Problems"));
    alarms.insert(
        "SmsDeliveryFailuresAlarm",
        ("AWS/SNS", "NumberOfNotificationsFailed"),
    );
    alarms
}

/// Every (namespace, metric, {dimension: value}) an alarm reads, directly or in its math.
fn watched(alarm: &Value) -> Vec<(String, String, BTreeMap<String, Value>)> {
    let dims = |d: &Value| -> BTreeMap<String, Value> {
        d.as_sequence()
            .into_iter()
            .flatten()
            .map(|x| (x["Name"].as_str().unwrap().to_owned(), x["Value"].clone()))
            .collect()
    };
    let p = &alarm["Properties"];
    if let Some(ns) = p.get("Namespace") {
        return vec![(
            ns.as_str().unwrap().to_owned(),
            p["MetricName"].as_str().unwrap().to_owned(),
            dims(&p["Dimensions"]),
        )];
    }
    p["Metrics"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|m| m.get("MetricStat"))
        .map(|s| {
            let m = &s["Metric"];
            (
                m["Namespace"].as_str().unwrap().to_owned(),
                m["MetricName"].as_str().unwrap().to_owned(),
                dims(&m["Dimensions"]),
            )
        })
        .collect()
}

mod alarms;
mod logs_and_dashboard;
