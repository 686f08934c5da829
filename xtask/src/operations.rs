//! Checks of the template's operations side: the alarm set the runbook promises, what each alarm
//! watches, the access log, the log level, the dashboard, and that every resource in the
//! template is of a type some check here or in `template.rs` covers.
use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value as Json;
use serde_norway::{Mapping, Value};

use crate::root_file;

/// The API stack's template, parsed.
pub(crate) fn template() -> Value {
    serde_norway::from_str(&root_file("template.yaml")).unwrap()
}

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
    let granted = permissions(&root_file("template.yaml")).unwrap();
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

#[test]
fn the_api_writes_a_json_access_log_kept_as_long_as_the_function_logs() {
    let doc = template();
    let settings = &resources(&doc)["Api"]["Properties"]["AccessLogSettings"];
    assert_eq!(
        tagged(&settings["DestinationArn"]),
        Some(("GetAtt".into(), "ApiAccessLogs.Arn".into()))
    );
    // Every $context variable stands in for a string; `messageString` is the error message
    // already quoted and JSON-escaped, so it stands unquoted. With it in quotes the format is
    // JSON as written.
    let format = settings["Format"].as_str().unwrap();
    assert!(
        format.contains(r#""error":$context.error.messageString}"#),
        "{format}"
    );
    assert!(!format.contains(r#""$context.error.message""#), "{format}");
    let line: Json = serde_json::from_str(&format.replace(
        "$context.error.messageString",
        r#""$context.error.messageString""#,
    ))
    .unwrap();
    for (key, variable) in [
        ("requestId", "$context.requestId"),
        ("lambdaRequestId", "$context.integration.requestId"),
        ("ip", "$context.identity.sourceIp"),
        ("route", "$context.routeKey"),
        ("status", "$context.status"),
        ("latencyMs", "$context.responseLatency"),
        ("integrationError", "$context.integrationErrorMessage"),
    ] {
        assert_eq!(line[key], variable, "{key}");
    }
    for (id, group) in of_type(&doc, "AWS::Logs::LogGroup") {
        assert!(
            is_ref(&group["Properties"]["RetentionInDays"], "LogRetentionDays"),
            "{id}"
        );
    }
}

#[test]
fn production_keeps_its_logs_when_the_stack_is_deleted_and_the_demo_does_not() {
    let doc = template();
    for (id, group) in of_type(&doc, "AWS::Logs::LogGroup") {
        for policy in ["DeletionPolicy", "UpdateReplacePolicy"] {
            assert_eq!(
                format!("{:?}", group[policy]),
                format!(
                    "{:?}",
                    serde_norway::from_str::<Value>("!If [KeepsLogs, Retain, Delete]").unwrap()
                ),
                "{id}: {policy}"
            );
        }
    }
    let transforms: Vec<&str> = doc["Transform"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        transforms,
        ["AWS::LanguageExtensions", "AWS::Serverless-2016-10-31"],
        "only AWS::LanguageExtensions resolves an !If in DeletionPolicy"
    );
    let condition = format!("{:?}", doc["Conditions"]["KeepsLogs"]);
    assert!(condition.contains("RetainLogs"), "{condition}");
    let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
    let overrides = |env: &str| {
        config[env]["deploy"]["parameters"]["parameter_overrides"]
            .as_str()
            .unwrap()
            .to_owned()
    };
    assert!(
        overrides("prod")
            .split_whitespace()
            .any(|p| p == "RetainLogs=true")
    );
    assert!(!overrides("default").contains("RetainLogs"));
    assert_eq!(
        doc["Parameters"]["RetainLogs"]["Default"].as_str(),
        Some("false")
    );
}

#[test]
fn log_level_is_a_parameter_and_lambda_never_filters_the_metric_lines() {
    let doc = template();
    let param = &doc["Parameters"]["LogLevel"];
    assert_eq!(param["Default"].as_str(), Some("INFO"));
    assert!(is_ref(
        &doc["Globals"]["Function"]["Environment"]["Variables"]["LOG_LEVEL"],
        "LogLevel"
    ));
    for (id, f) in of_type(&doc, "AWS::Serverless::Function") {
        let logging = &f["Properties"]["LoggingConfig"];
        assert_eq!(logging["LogFormat"].as_str(), Some("JSON"), "{id}");
        // Lambda files lines without a level (the EMF lines) under INFO and would drop them at
        // WARN or ERROR; shared::logging applies LOG_LEVEL instead.
        assert_eq!(
            logging["ApplicationLogLevel"].as_str(),
            Some("TRACE"),
            "{id}"
        );
    }
}

/// The dashboard body with `${...}` substitutions replaced by placeholders, as JSON.
fn dashboard(doc: &Value) -> (Json, String) {
    let (tag, body) = tagged(&resources(doc)["Dashboard"]["Properties"]["DashboardBody"]).unwrap();
    assert_eq!(tag, "Sub");
    let mut plain = String::new();
    let mut rest = body.as_str();
    while let Some(start) = rest.find("${") {
        plain.push_str(&rest[..start]);
        let end = rest[start..].find('}').unwrap() + start;
        plain.push_str(&format!("SUB({})", &rest[start + 2..end]));
        rest = &rest[end + 1..];
    }
    plain.push_str(rest);
    (serde_json::from_str(&plain).unwrap(), body)
}

#[test]
fn the_dashboard_name_is_unique_per_region_and_the_output_links_to_it() {
    let doc = template();
    let (tag, name) = tagged(&resources(&doc)["Dashboard"]["Properties"]["DashboardName"]).unwrap();
    assert_eq!(tag, "Sub");
    // Dashboard names are global to the account: the same stack name in two regions collides.
    assert_eq!(name, "${AWS::StackName}-${AWS::Region}-operations");
    let (_, url) = tagged(&doc["Outputs"]["DashboardUrl"]["Value"]).unwrap();
    assert!(
        url.ends_with(&format!("#dashboards/dashboard/{name}")),
        "{url}"
    );
}

#[test]
fn make_smoke_installs_what_it_runs_first() {
    let makefile = root_file("Makefile");
    let smoke = makefile
        .lines()
        .find(|l| l.starts_with("smoke:"))
        .expect("a smoke target");
    assert!(
        smoke.split_whitespace().skip(1).any(|d| d == "setup"),
        "{smoke}"
    );
}

#[test]
fn the_dashboard_is_valid_json_shows_the_business_metrics_and_every_alarm() {
    use shared::metrics::{ACCOUNTS_DELETED, ACTIVATIONS, CODES_SENT, LOGINS, NAMESPACE, PROBLEMS};
    let doc = template();
    let (body, text) = dashboard(&doc);
    let widgets = body["widgets"].as_array().unwrap();
    let metrics: Vec<&Json> = widgets
        .iter()
        .filter_map(|w| w["properties"]["metrics"].as_array())
        .flatten()
        .collect();
    for name in [CODES_SENT, LOGINS, ACTIVATIONS, ACCOUNTS_DELETED] {
        assert!(
            metrics.iter().any(|m| m[0] == NAMESPACE && m[1] == name),
            "{name}"
        );
    }
    assert!(
        text.contains(&format!("MetricName=\\\"{PROBLEMS}\\\"")),
        "problems by code"
    );
    for metric in ["Latency", "4xx", "5xx", "Count"] {
        assert!(
            metrics
                .iter()
                .any(|m| m[0] == "AWS/ApiGateway" && m[1] == metric),
            "API {metric}"
        );
    }
    let on_widget: BTreeSet<String> = widgets
        .iter()
        .filter(|w| w["type"] == "alarm")
        .flat_map(|w| w["properties"]["alarms"].as_array().unwrap())
        .map(|a| a.as_str().unwrap().to_owned())
        .collect();
    let alarms: BTreeSet<String> = of_type(&doc, "AWS::CloudWatch::Alarm")
        .into_keys()
        .map(|id| format!("SUB({id}.Arn)"))
        .collect();
    assert_eq!(on_widget, alarms);
    // Every substitution names a resource or a pseudo parameter.
    for sub in text.split("${").skip(1) {
        let name = sub.split('}').next().unwrap();
        let id = name.split('.').next().unwrap();
        assert!(
            name.starts_with("AWS::") || resources(&doc).contains_key(id),
            "${{{name}}}"
        );
    }
}

#[test]
fn every_resource_in_the_template_is_of_a_type_a_check_covers() {
    // A new type needs its check (here, in template.rs or in scripts/check-templates.py, which
    // also checks that the deploy role covers it) before it joins this list. The one IAM role
    // beside the functions' own is SNS's for SMS delivery status (template.rs checks it).
    let checked = BTreeSet::from([
        "AWS::Serverless::Function",
        "AWS::Serverless::HttpApi",
        "AWS::SecretsManager::Secret",
        "AWS::DynamoDB::Table",
        "AWS::Logs::LogGroup",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
        "AWS::SNS::TopicPolicy",
        "AWS::Events::Rule",
        "AWS::CloudWatch::Alarm",
        "AWS::CloudWatch::Dashboard",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::CachePolicy",
        "AWS::CloudFront::OriginRequestPolicy",
        "AWS::IAM::Role",
    ]);
    let doc = template();
    for (id, r) in resources(&doc) {
        let kind = r["Type"].as_str().unwrap();
        assert!(
            checked.contains(kind),
            "{}: {kind} has no check",
            id.as_str().unwrap()
        );
    }
}

#[test]
fn sam_sync_watch_ignores_build_output_but_not_sources_for_every_function() {
    let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
    let demo = &config["default"];
    assert_eq!(
        demo["sync"]["parameters"]["parameter_overrides"],
        demo["deploy"]["parameters"]["parameter_overrides"],
        "a sync deploys the demo's settings"
    );
    let excludes: Vec<(String, String)> = config["default"]["sync"]["parameters"]["watch_exclude"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let (id, path) = e.as_str().unwrap().split_once('=').unwrap();
            (id.to_owned(), path.to_owned())
        })
        .collect();
    // SAM makes each entry the regex `^.*<path>.*$` over the changed file's absolute path; the
    // entries here hold no regex syntax but `.`, which matches itself too.
    let ignored = |function: &str, file: &str| {
        excludes
            .iter()
            .any(|(id, path)| id == function && file.contains(path.as_str()))
    };
    let doc = template();
    for (id, f) in of_type(&doc, "AWS::Serverless::Function") {
        assert_eq!(f["Properties"]["CodeUri"].as_str(), Some("."), "{id}");
        for noise in [
            "/repo/target/debug/deps/libshared.rlib",
            "/repo/target/moto.log",
            "/repo/.git/index",
            "/repo/.cache/dynamodb-local/DynamoDBLocal.jar",
        ] {
            assert!(ignored(&id, noise), "{id}: {noise}");
        }
        for source in [
            "/repo/shared/src/metrics.rs",
            "/repo/functions/web/src/main.rs",
            "/repo/Cargo.toml",
            "/repo/Cargo.lock",
        ] {
            assert!(!ignored(&id, source), "{id}: {source}");
        }
    }
}

#[test]
fn sam_builds_every_function_with_the_makefile_as_static_musl_for_the_deployed_architecture() {
    let doc = template();
    let arch = doc["Globals"]["Function"]["Architectures"][0]
        .as_str()
        .unwrap();
    let makefile = root_file("Makefile");
    for (id, f) in of_type(&doc, "AWS::Serverless::Function") {
        // SAM's rust-cargolambda builder passes --arm64, which means glibc (and its setenv leak).
        assert_eq!(
            f["Metadata"]["BuildMethod"].as_str(),
            Some("makefile"),
            "{id}"
        );
        let binary = f["Metadata"]["BuildProperties"]["Binary"].as_str().unwrap();
        let recipe = makefile
            .split(&format!("\nbuild-{id}:\n"))
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .unwrap_or_else(|| panic!("the Makefile has no build-{id} target"));
        assert_eq!(
            recipe.trim(),
            format!("scripts/build-lambda.sh {arch} {binary}"),
            "{id}"
        );
    }
    let script = root_file("scripts/build-lambda.sh");
    for target in ["aarch64-unknown-linux-musl", "x86_64-unknown-linux-musl"] {
        assert!(script.contains(target), "{target}");
    }
    // In place: a scratch copy of the tree would copy target/ and lose cargo's cache.
    let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
    for env in ["default", "prod"] {
        assert_eq!(
            config[env]["build"]["parameters"]["build_in_source"].as_bool(),
            Some(true),
            "{env}"
        );
    }
}

#[test]
fn operations_doc_shows_sam_logs_for_each_function_and_the_access_log() {
    let operations = root_file("docs/operations.md");
    let doc = template();
    for id in of_type(&doc, "AWS::Serverless::Function").keys() {
        assert!(
            operations.contains(&format!("sam logs --stack-name referral-api -n {id}")),
            "sam logs for {id}"
        );
    }
    // `-n Api`: SAM finds the stage's access log group.
    assert!(operations.contains("sam logs --stack-name referral-api -n Api "));
}
