//! The alarms: the set the runbook promises, what each watches, and where they notify.
use std::collections::BTreeSet;

use serde_json::Value as Json;
use serde_norway::Value;

use super::*;
use crate::root_file;

#[test]
fn every_alarm_the_runbook_covers_exists_and_notifies_the_alarm_topic_of_alarms_only() {
    let doc = template();
    let alarms = of_type(&doc, "AWS::CloudWatch::Alarm");
    let promised = promised_alarms();
    let missing: Vec<_> = promised
        .keys()
        .filter(|id| !alarms.contains_key(**id))
        .collect();
    assert!(
        missing.is_empty(),
        "alarms gone from template.yaml: {missing:?}"
    );
    let unlisted: Vec<_> = alarms
        .keys()
        .filter(|id| !promised.contains_key(id.as_str()))
        .collect();
    assert!(
        unlisted.is_empty(),
        "new alarms need a runbook entry in docs/operations.md and a line here: {unlisted:?}"
    );
    let operations = root_file("docs/operations.md");
    let operating = operations
        .split("\n## Operating it")
        .nth(1)
        .expect("docs/operations.md has an \"Operating it\" section");
    for (id, alarm) in &alarms {
        let p = &alarm["Properties"];
        let (namespace, metric) = promised[id.as_str()];
        assert!(
            watched(alarm)
                .iter()
                .any(|(ns, m, _)| (ns.as_str(), m.as_str()) == (namespace, metric)),
            "{id} watches {namespace} {metric}"
        );
        let (tag, name) = tagged(&p["AlarmName"]).unwrap();
        assert_eq!(tag, "Sub", "{id}: the name carries the stack name");
        let suffix = name.strip_prefix("${AWS::StackName}-").unwrap();
        assert!(
            operating.contains(&format!("`{suffix}`")),
            "{id}: docs/operations.md's Operating it names `{suffix}`"
        );
        let description = p["AlarmDescription"].as_str().unwrap();
        assert!(
            description.contains("Runbook in docs/operations.md"),
            "{id}: {description}"
        );
        let list = p["AlarmActions"].as_sequence().unwrap();
        assert!(
            list.len() == 1 && is_ref(&list[0], "AlarmTopic"),
            "{id}: AlarmActions"
        );
        // A new alarm goes from INSUFFICIENT_DATA to OK, which would run OKActions: a new stack
        // sent one "OK" per alarm. Recoveries come from AlarmRecoveredRule instead.
        assert!(p.get("OKActions").is_none(), "{id}: OKActions");
        assert_eq!(p["TreatMissingData"].as_str(), Some("notBreaching"), "{id}");
    }
}

#[test]
fn the_topic_hears_of_an_alarm_going_back_to_ok_only_after_it_was_in_alarm() {
    let doc = template();
    let rule = &resources(&doc)["AlarmRecoveredRule"]["Properties"];
    let pattern = &rule["EventPattern"];
    assert_eq!(pattern["source"][0].as_str(), Some("aws.cloudwatch"));
    assert_eq!(
        pattern["detail-type"][0].as_str(),
        Some("CloudWatch Alarm State Change")
    );
    assert_eq!(
        pattern["detail"]["previousState"]["value"][0].as_str(),
        Some("ALARM")
    );
    assert_eq!(pattern["detail"]["state"]["value"][0].as_str(), Some("OK"));
    // Every alarm of the stack, by ARN (a name prefix would also match a stack whose name starts
    // with this one's, referral-api-prod's alarms for referral-api).
    let listed: BTreeSet<String> = pattern["resources"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|r| {
            let (tag, text) = tagged(r).unwrap();
            assert_eq!(tag, "GetAtt");
            text.strip_suffix(".Arn").unwrap().to_owned()
        })
        .collect();
    let alarms: BTreeSet<String> = of_type(&doc, "AWS::CloudWatch::Alarm")
        .into_keys()
        .collect();
    assert_eq!(listed, alarms);
    let [target] = rule["Targets"].as_sequence().unwrap().as_slice() else {
        panic!("one target");
    };
    assert!(is_ref(&target["Arn"], "AlarmTopic"));
    // The topic's policy lets exactly this rule (and the account's alarms) publish.
    let policy = &resources(&doc)["AlarmTopicPolicy"]["Properties"];
    let statements = policy["PolicyDocument"]["Statement"].as_sequence().unwrap();
    let events = statements
        .iter()
        .find(|s| s["Principal"]["Service"].as_str() == Some("events.amazonaws.com"))
        .expect("EventBridge may publish");
    assert_eq!(
        tagged(&events["Condition"]["ArnEquals"]["aws:SourceArn"]),
        Some(("GetAtt".into(), "AlarmRecoveredRule.Arn".into()))
    );
    assert!(
        statements
            .iter()
            .any(|s| s["Principal"]["Service"].as_str() == Some("cloudwatch.amazonaws.com")),
        "the alarms may still publish once the topic has a policy"
    );
}

#[test]
fn each_function_has_error_throttle_and_duration_alarms_below_its_timeout() {
    let doc = template();
    let alarms = of_type(&doc, "AWS::CloudWatch::Alarm");
    let global_timeout = doc["Globals"]["Function"]["Timeout"].as_f64().unwrap();
    for (function, f) in of_type(&doc, "AWS::Serverless::Function") {
        let prefix = function.strip_suffix("Function").unwrap();
        let timeout = f["Properties"]
            .get("Timeout")
            .and_then(Value::as_f64)
            .unwrap_or(global_timeout);
        for kind in ["Errors", "Throttles", "Duration"] {
            let id = format!("{prefix}{kind}Alarm");
            let alarm = alarms.get(&id).unwrap_or_else(|| panic!("{id} is missing"));
            let (_, metric, dims) = watched(alarm).remove(0);
            assert_eq!(metric, kind, "{id}");
            assert!(is_ref(&dims["FunctionName"], &function), "{id}");
        }
        let duration = &alarms[&format!("{prefix}DurationAlarm")]["Properties"];
        assert_eq!(duration["Statistic"].as_str(), Some("Maximum"));
        assert_eq!(
            duration["Threshold"].as_f64(),
            Some(timeout * 1000.0 * 0.8),
            "{function}: the duration alarm fires at 80% of the timeout"
        );
    }
}

/// The problem codes the API can answer with, from the served OpenAPI document.
fn problem_codes() -> BTreeSet<String> {
    use shared::api::openapi::{Settings, value};
    // Every code is in the enum whatever the settings; these are the local stack's.
    let doc: Json = value(Settings {
        otp_digits: 4,
        demo_mode: true,
        captcha: shared::config::CaptchaProvider::None,
    });
    doc["components"]["schemas"]["ProblemCode"]["enum"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn the_business_alarms_watch_metrics_and_problem_codes_the_functions_write() {
    use shared::metrics::{ACTIVATIONS, CODES_SENT, LOGINS, NAMESPACE, PROBLEMS};
    let doc = template();
    let codes = problem_codes();
    let mut seen = 0;
    for (id, alarm) in of_type(&doc, "AWS::CloudWatch::Alarm") {
        for (ns, metric, dims) in watched(alarm) {
            if ns != NAMESPACE {
                continue;
            }
            seen += 1;
            assert!(
                [CODES_SENT, LOGINS, ACTIVATIONS, PROBLEMS].contains(&metric.as_str()),
                "{id}: {metric}"
            );
            assert!(is_ref(&dims["function"], "SendCodeFunction"), "{id}");
            let code = dims["code"].as_str().unwrap();
            assert!(codes.contains(code), "{id}: {code} is no problem code");
        }
    }
    assert_eq!(seen, 2, "SMS budget and SMS failures");
    let sms = |id: &str| watched(&resources(&doc)[id]).remove(0).2;
    assert_eq!(
        sms("SmsBudgetExhaustedAlarm")["code"].as_str(),
        Some("sms_budget_exhausted")
    );
    assert_eq!(
        sms("SmsFailuresAlarm")["code"].as_str(),
        Some("sms_unavailable")
    );
}

#[test]
fn the_dynamodb_alarms_watch_every_table_of_the_stack() {
    let doc = template();
    let tables: BTreeSet<String> = of_type(&doc, "AWS::DynamoDB::Table").into_keys().collect();
    for (id, metrics) in [
        (
            "DynamoDbThrottlesAlarm",
            &["ReadThrottleEvents", "WriteThrottleEvents"][..],
        ),
        ("DynamoDbReadSystemErrorsAlarm", &["SystemErrors"][..]),
        ("DynamoDbWriteSystemErrorsAlarm", &["SystemErrors"][..]),
    ] {
        let alarm = &resources(&doc)[id];
        for metric in metrics {
            let watched_tables: BTreeSet<String> = watched(alarm)
                .into_iter()
                .filter(|(_, m, _)| m == metric)
                .map(|(_, _, d)| tagged(&d["TableName"]).unwrap().1)
                .collect();
            assert_eq!(watched_tables, tables, "{id}: {metric}");
        }
        let expression = alarm["Properties"]["Metrics"]
            .as_sequence()
            .unwrap()
            .iter()
            .filter(|m| m["ReturnData"].as_bool() == Some(true))
            .map(|m| m["Expression"].as_str().unwrap())
            .collect::<Vec<_>>();
        assert_eq!(expression, ["SUM(METRICS())"], "{id}: one summed series");
    }
}

#[test]
fn every_table_operation_the_functions_may_run_is_watched_for_system_errors() {
    use crate::template::{Target, permissions};
    let doc = template();
    let watched: BTreeSet<(String, String)> = of_type(&doc, "AWS::CloudWatch::Alarm")
        .values()
        .flat_map(|alarm| watched(alarm))
        .filter(|(ns, m, _)| ns == "AWS/DynamoDB" && m == "SystemErrors")
        .map(|(_, _, d)| {
            (
                tagged(&d["TableName"]).unwrap().1,
                d["Operation"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let granted = permissions(&crate::stack::template_text()).unwrap();
    let mut checked = 0;
    for (function, grants) in &granted {
        for (action, target) in grants {
            let (Some(operation), Target::Table { table, .. }) =
                (action.strip_prefix("dynamodb:"), target)
            else {
                continue;
            };
            checked += 1;
            // A ConditionCheck runs inside a transaction, and so do verify-code's Puts and Updates
            // and a deletion's Deletes: their errors count under TransactWriteItems.
            let watched_as = |op: &str| watched.contains(&(table.clone(), op.to_owned()));
            let ok = match operation {
                "ConditionCheckItem" => watched_as("TransactWriteItems"),
                "PutItem" | "UpdateItem" | "DeleteItem" => {
                    watched_as(operation) || watched_as("TransactWriteItems")
                }
                // PartiQL statements run in send-code's batch of counter writes.
                "PartiQLInsert" | "PartiQLUpdate" => watched_as("BatchExecuteStatement"),
                _ => watched_as(operation),
            };
            assert!(ok, "{function}: {operation} on {table} is not watched");
        }
    }
    assert!(checked > 10, "{checked}");
    for table in ["OtpTable", "UsersTable", "UniquesTable"] {
        assert!(
            watched.contains(&(table.to_owned(), "BatchGetItem".to_owned())),
            "BatchGetItem on {table}: the first read of send-code, verify-code and activations"
        );
    }
}

#[test]
fn failed_sms_deliveries_raise_an_alarm() {
    let doc = template();
    let alarm = &resources(&doc)["SmsDeliveryFailuresAlarm"];
    let metrics: BTreeSet<(String, Option<String>)> = watched(alarm)
        .into_iter()
        .map(|(ns, m, d)| {
            assert_eq!(ns, "AWS/SNS");
            (m, d["PhoneNumber"].as_str().map(str::to_owned))
        })
        .collect();
    // What SNS counts for messages published straight to a phone number.
    let direct = Some("PhoneNumberDirect".to_owned());
    assert_eq!(
        metrics,
        BTreeSet::from([
            ("NumberOfNotificationsFailed".to_owned(), direct.clone()),
            ("NumberOfNotificationsDelivered".to_owned(), direct),
        ])
    );
}

#[test]
fn no_metric_math_alarm_reads_more_than_cloudwatchs_ten_metrics() {
    let doc = template();
    for (id, alarm) in of_type(&doc, "AWS::CloudWatch::Alarm") {
        let n = watched(alarm).len();
        assert!((1..=10).contains(&n), "{id} reads {n} metrics");
    }
}

#[test]
fn the_verify_code_4xx_alarm_watches_the_verify_code_route() {
    let doc = template();
    let (_, _, dims) = watched(&resources(&doc)["VerifyCode4xxSpikeAlarm"]).remove(0);
    let route = shared::routes::ROUTES
        .iter()
        .find(|r| r.function.name() == "verify-code")
        .unwrap();
    assert_eq!(dims["Resource"].as_str(), Some(route.path));
    assert_eq!(dims["Method"].as_str(), Some(route.method));
    assert_eq!(dims["Stage"].as_str(), Some("$default"));
    assert!(is_ref(&dims["ApiId"], "Api"));
    let api = &resources(&doc)["Api"]["Properties"];
    assert_eq!(
        api["DefaultRouteSettings"]["DetailedMetricsEnabled"].as_bool(),
        Some(true),
        "route metrics exist only with detailed metrics"
    );
}

#[test]
fn alarms_reach_the_topic_and_the_email_subscription_is_optional() {
    let doc = template();
    let subscription = &resources(&doc)["AlarmEmailSubscription"];
    assert_eq!(subscription["Condition"].as_str(), Some("HasAlarmEmail"));
    assert!(is_ref(
        &subscription["Properties"]["TopicArn"],
        "AlarmTopic"
    ));
    assert!(is_ref(
        &subscription["Properties"]["Endpoint"],
        "AlarmEmail"
    ));
    assert_eq!(
        doc["Parameters"]["AlarmEmail"]["Default"].as_str(),
        Some(""),
        "deploys without an address"
    );
    let condition = format!("{:?}", doc["Conditions"]["HasAlarmEmail"]);
    assert!(
        condition.contains("AlarmEmail") && condition.contains("Not"),
        "{condition}"
    );
}
