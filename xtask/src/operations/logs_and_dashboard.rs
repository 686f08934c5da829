//! Logs (the access log, retention, log level), the dashboard, the resource types some check
//! covers, and how sam builds and syncs the functions.
use std::collections::BTreeSet;

use serde_json::Value as Json;
use serde_norway::Value;

use super::*;
use crate::root_file;

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
        // A nested stack: crate::stack reads its template into the one these tests check, and
        // refuses a Location that is not a local file or a parameter not passed as a !Ref.
        "AWS::Serverless::Application",
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
