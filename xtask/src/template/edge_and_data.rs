//! The edge (CloudFront, AWS WAF), CORS, encryption, tracing, SMS delivery logs, the deploy role
//! and the tables' lifetimes.
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_norway::Value;

use super::*;
use crate::root_file;

/// `!Sub "text"`'s text, or the string itself.
fn sub_text(v: &Value) -> String {
    match v {
        Value::Tagged(t) if tag_name(v).as_deref() == Some("Sub") => {
            t.value.as_str().unwrap().to_owned()
        }
        other => other.as_str().unwrap_or_default().to_owned(),
    }
}

#[test]
fn cloudfront_sends_every_function_the_edge_secret_and_what_the_api_reads() {
    let doc = crate::stack::template();
    let secret = "{{resolve:secretsmanager:${EdgeSecret}:SecretString}}";
    // Every function (Globals) gets the secret with the edge, and an empty value without.
    let edge = &doc["Globals"]["Function"]["Environment"]["Variables"]["EDGE_SECRET"];
    let Value::Tagged(t) = edge else {
        panic!("EDGE_SECRET is an !If: {edge:?}")
    };
    assert_eq!(tag_name(edge).as_deref(), Some("If"));
    let [condition, with, without] = t.value.as_sequence().unwrap().as_slice() else {
        panic!("!If [c, a, b]");
    };
    assert_eq!(condition.as_str(), Some("HasEdge"));
    assert_eq!(sub_text(with), secret);
    assert_eq!(without.as_str(), Some(""));
    for function in environment(&crate::stack::template_text())
        .unwrap()
        .values()
    {
        assert!(function.contains("EDGE_SECRET"));
    }
    let resources = doc["Resources"].as_mapping().unwrap();
    for (id, r) in resources {
        let id = id.as_str().unwrap();
        if id.starts_with("Edge") {
            assert_eq!(r["Condition"].as_str(), Some("HasEdge"), "{id}");
        }
    }
    let config = &doc["Resources"]["EdgeDistribution"]["Properties"]["DistributionConfig"];
    let origin = &config["Origins"][0];
    assert_eq!(
        origin["OriginCustomHeaders"][0]["HeaderName"].as_str(),
        Some("x-origin-verify")
    );
    assert_eq!(
        sub_text(&origin["OriginCustomHeaders"][0]["HeaderValue"]),
        secret
    );
    assert_eq!(
        sub_text(&origin["DomainName"]),
        "${Api}.execute-api.${AWS::Region}.${AWS::URLSuffix}"
    );
    assert_eq!(
        format!("{:?}", config["WebACLId"]),
        format!(
            "{:?}",
            serde_norway::from_str::<Value>("!Ref EdgeWebAclArn").unwrap()
        )
    );
    // Nothing cached; Authorization from the cache policy (the only place CloudFront takes it
    // from), the rest and the viewer's address from the origin request policy, never Host.
    let cache = &doc["Resources"]["EdgeCachePolicy"]["Properties"]["CachePolicyConfig"];
    assert_eq!(cache["DefaultTTL"].as_u64(), Some(0));
    assert!(cache["MaxTTL"].as_u64().unwrap() <= 1);
    let keyed = &cache["ParametersInCacheKeyAndForwardedToOrigin"];
    assert_eq!(
        keyed["HeadersConfig"]["Headers"][0].as_str(),
        Some("Authorization")
    );
    assert_eq!(
        keyed["QueryStringsConfig"]["QueryStringBehavior"].as_str(),
        Some("all")
    );
    let forwarded: BTreeSet<String> = doc["Resources"]["EdgeOriginRequestPolicy"]["Properties"]
        ["OriginRequestPolicyConfig"]["HeadersConfig"]["Headers"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|h| h.as_str().unwrap().to_ascii_lowercase())
        .collect();
    for header in [
        "content-type",
        "cloudfront-viewer-address",
        "origin",
        "access-control-request-method",
    ] {
        assert!(forwarded.contains(header), "{header}");
    }
    assert!(
        !forwarded.contains("host"),
        "API Gateway needs its own Host"
    );
    // The stack's URLs are CloudFront's with the edge.
    for output in ["ApiUrl", "WebUrl", "DocsUrl"] {
        let text = format!("{:?}", doc["Outputs"][output]["Value"]);
        assert!(
            text.contains("HasEdge") && text.contains("${EdgeDistribution.DomainName}"),
            "{output}: {text}"
        );
    }
}

#[test]
fn cors_allows_no_origin_unless_configured_and_only_the_demo_allows_make_devs_page() {
    let doc = crate::stack::template();
    assert_eq!(
        doc["Parameters"]["CorsAllowedOrigins"]["Default"].as_str(),
        Some("")
    );
    let cors = format!(
        "{:?}",
        doc["Resources"]["Api"]["Properties"]["CorsConfiguration"]
    );
    assert!(
        cors.contains("HasCorsOrigins") && cors.contains("AWS::NoValue"),
        "{cors}"
    );
    let local = "http://localhost:9000,http://127.0.0.1:9000";
    assert_eq!(samconfig_overrides("default")["CorsAllowedOrigins"], local);
    assert_eq!(samconfig_overrides("prod").get("CorsAllowedOrigins"), None);
    let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
    let sync = parse_overrides(
        config["default"]["sync"]["parameters"]["parameter_overrides"]
            .as_str()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(sync["CorsAllowedOrigins"], local);
}

#[test]
fn the_tables_are_encrypted_with_aws_owned_keys_at_no_cost() {
    let doc = crate::stack::template();
    for (id, r) in doc["Resources"].as_mapping().unwrap() {
        if r["Type"].as_str() == Some("AWS::DynamoDB::Table") {
            // SSEEnabled: true means a KMS key (billed per request); without it DynamoDB
            // encrypts with an AWS owned key.
            assert!(r["Properties"].get("SSESpecification").is_none(), "{id:?}");
        }
    }
}

#[test]
fn x_ray_follows_a_tracing_mode_sam_can_read() {
    let doc = crate::stack::template();
    // SAM adds X-Ray write access to every role unless Tracing is "Disabled" or a parameter
    // that is; an !If would always add it (scripts/check-templates.py checks the result).
    let tracing = &doc["Globals"]["Function"]["Tracing"];
    assert!(
        matches!(tracing, Value::Tagged(t) if tag_name(tracing).as_deref() == Some("Ref") && t.value.as_str() == Some("TracingMode"))
    );
    let param = &doc["Parameters"]["TracingMode"];
    assert_eq!(param["Default"].as_str(), Some("Disabled"));
    assert_eq!(
        param["AllowedValues"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect::<Vec<_>>(),
        ["Active", "Disabled"]
    );
    for sts in statements(&crate::stack::template_text()).unwrap().values() {
        assert!(
            !sts.iter()
                .any(|s| s.actions.iter().any(|a| a.starts_with("xray:")))
        );
    }
}

#[test]
fn sns_may_log_sms_delivery_status_only_for_a_stack_that_sends_sms() {
    let doc = crate::stack::template();
    let role = &doc["Resources"]["SmsDeliveryStatusRole"];
    assert_eq!(role["Condition"].as_str(), Some("SendsRealSms"));
    let trust = &role["Properties"]["AssumeRolePolicyDocument"]["Statement"][0];
    assert_eq!(
        trust["Principal"]["Service"].as_str(),
        Some("sns.amazonaws.com")
    );
    let [policy] = role["Properties"]["Policies"]
        .as_sequence()
        .unwrap()
        .as_slice()
    else {
        panic!("one policy");
    };
    for st in policy["PolicyDocument"]["Statement"].as_sequence().unwrap() {
        for action in st["Action"].as_sequence().unwrap() {
            assert!(action.as_str().unwrap().starts_with("logs:"), "{action:?}");
        }
        assert!(
            sub_text(&st["Resource"]).ends_with(
                ":log-group:sns/${AWS::Region}/${AWS::AccountId}/DirectPublishToPhoneNumber*"
            ),
            "only SNS's SMS log groups"
        );
    }
    assert_eq!(
        doc["Outputs"]["SmsDeliveryStatusRoleArn"]["Condition"].as_str(),
        Some("SendsRealSms")
    );
    // The account setting that points SNS at the role: run by every deploy that sends SMS.
    let deploy = root_file("scripts/deploy.sh");
    assert!(deploy.contains("scripts/sms-delivery-logging.sh \"$config_env\" \"$region\""));
    assert!(root_file("scripts/sms-delivery-logging.sh").contains("DeliveryStatusIAMRole=$role"));
}

#[test]
fn the_edge_web_acl_limits_each_address_and_refuses_known_bad_traffic() {
    let doc: Value = serde_norway::from_str(&root_file("deploy/edge.yaml")).unwrap();
    let acl = &doc["Resources"]["WebAcl"]["Properties"];
    assert_eq!(acl["Scope"].as_str(), Some("CLOUDFRONT"));
    let rules = acl["Rules"].as_sequence().unwrap();
    let managed: BTreeSet<&str> = rules
        .iter()
        .filter_map(|r| r["Statement"].get("ManagedRuleGroupStatement"))
        .map(|m| {
            assert_eq!(m["VendorName"].as_str(), Some("AWS"));
            m["Name"].as_str().unwrap()
        })
        .collect();
    assert_eq!(
        managed,
        BTreeSet::from([
            "AWSManagedRulesAmazonIpReputationList",
            "AWSManagedRulesKnownBadInputsRuleSet"
        ])
    );
    let default = |param: &str| doc["Parameters"][param]["Default"].as_u64().unwrap();
    let mut scoped = Vec::new();
    for rule in rules {
        let Some(rate) = rule["Statement"].get("RateBasedStatement") else {
            continue;
        };
        assert_eq!(
            rate["AggregateKeyType"].as_str(),
            Some("IP"),
            "per client address"
        );
        assert_eq!(
            rule["Action"]["Block"]["CustomResponse"]["ResponseCode"].as_u64(),
            Some(429)
        );
        let limit = match &rate["Limit"] {
            Value::Tagged(t) => default(t.value.as_str().unwrap()),
            other => panic!("{other:?}"),
        };
        let path = rate.get("ScopeDownStatement").map(|s| {
            s["ByteMatchStatement"]["SearchString"]
                .as_str()
                .unwrap()
                .to_owned()
        });
        scoped.push((path, limit));
    }
    scoped.sort();
    let [(None, all), (Some(auth_path), auth)] = scoped.as_slice() else {
        panic!("one rate rule on everything, one on the auth routes: {scoped:?}");
    };
    assert_eq!(auth_path, "/v1/auth/");
    assert!(auth < all, "the auth routes' limit is the tighter one");
    let auth_routes = shared::routes::ROUTES
        .iter()
        .filter(|r| r.path.starts_with(auth_path.as_str()))
        .count();
    assert!(
        auth_routes >= 2,
        "send-code and verify-code live under {auth_path}"
    );
    assert!(
        matches!(&doc["Outputs"]["WebAclArn"]["Value"], Value::Tagged(t) if t.value.as_str() == Some("WebAcl.Arn"))
    );

    // samconfig deploys it beside production, and the API stack takes only a us-east-1 ACL.
    let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
    let edge = &config["prod-edge"];
    assert_eq!(
        edge["deploy"]["parameters"]["template_file"].as_str(),
        Some("deploy/edge.yaml")
    );
    assert_eq!(
        edge["global"]["parameters"]["stack_name"].as_str().unwrap(),
        format!(
            "{}-edge",
            config["prod"]["global"]["parameters"]["stack_name"]
                .as_str()
                .unwrap()
        )
    );
    let api = crate::stack::template();
    let pattern = api["Parameters"]["EdgeWebAclArn"]["AllowedPattern"]
        .as_str()
        .unwrap();
    assert!(
        pattern.contains(":wafv2:us-east-1:") && pattern.contains("global/webacl/"),
        "{pattern}"
    );
}

#[test]
fn the_deploy_role_trusts_only_this_repositorys_production_environment() {
    let doc: Value = serde_norway::from_str(&root_file("deploy/github-role.yaml")).unwrap();
    let provider = &doc["Resources"]["GitHubOidcProvider"];
    assert_eq!(
        provider["Condition"].as_str(),
        Some("MakesOidcProvider"),
        "the provider is optional"
    );
    let trust =
        &doc["Resources"]["DeployRole"]["Properties"]["AssumeRolePolicyDocument"]["Statement"];
    let [statement] = trust.as_sequence().unwrap().as_slice() else {
        panic!("one trust statement");
    };
    assert_eq!(
        statement["Action"].as_str(),
        Some("sts:AssumeRoleWithWebIdentity")
    );
    let conditions = &statement["Condition"]["StringEquals"];
    assert_eq!(
        conditions["token.actions.githubusercontent.com:aud"].as_str(),
        Some("sts.amazonaws.com")
    );
    let subject = format!(
        "{:?}",
        conditions["token.actions.githubusercontent.com:sub"]
    );
    assert!(
        subject.contains("repo:${GitHubRepository}:environment:production")
            && subject.contains("GitHubSubject"),
        "{subject}"
    );
    // deploy.yml's job that assumes it runs in that environment.
    let workflow = root_file(".github/workflows/deploy.yml");
    assert!(workflow.contains("environment: production"));
    assert!(workflow.contains("role-to-assume: ${{ vars.AWS_DEPLOY_ROLE_ARN }}"));
    let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
    assert_eq!(
        doc["Parameters"]["StackName"]["Default"].as_str(),
        config["prod"]["global"]["parameters"]["stack_name"].as_str(),
        "the role is scoped to production's stack"
    );
}

/// The handler permissions of each resource type live in CloudFormation's resource schemas,
/// which cfn-lint ships, and the generated types only appear after the SAM transform, which
/// only Python has: scripts/check-templates.py does the comparison.
#[test]
fn the_deploy_role_covers_every_resource_type_both_templates_create() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = std::process::Command::new("python3")
        .arg("scripts/check-templates.py")
        .arg("deploy-role")
        .current_dir(&root)
        .output()
        .expect("python3 (make setup installs the SAM CLI and cfn-lint it needs)");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    for kind in [
        "AWS::Lambda::Function",
        "AWS::CloudFront::Distribution",
        "AWS::WAFv2::WebACL",
        "AWS::S3::Bucket",
    ] {
        assert!(
            text.contains(&format!("ok: the deploy role covers {kind}")),
            "{kind}: {text}"
        );
    }
}

#[test]
fn the_user_tables_outlive_the_stack_but_not_a_failed_first_create() {
    let doc = crate::stack::template();
    for id in ["UsersTable", "UniquesTable"] {
        let t = &doc["Resources"][id];
        assert_eq!(
            t["DeletionPolicy"].as_str(),
            Some("RetainExceptOnCreate"),
            "{id}"
        );
        assert_eq!(t["UpdateReplacePolicy"].as_str(), Some("Retain"), "{id}");
        assert_eq!(
            t["Properties"]["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"]
                .as_bool(),
            Some(true),
            "{id}"
        );
        // Deletion protection would refuse the first create's rollback, so it is a parameter.
        let protection = &t["Properties"]["DeletionProtectionEnabled"];
        assert!(
            matches!(protection, Value::Tagged(r) if r.value.as_str() == Some("DeletionProtection")),
            "{id}: {protection:?}"
        );
    }
    assert_eq!(
        doc["Resources"]["OtpTable"]["DeletionPolicy"].as_str(),
        Some("Delete")
    );
    let params = parameter_values(&crate::stack::template_text(), &BTreeMap::new()).unwrap();
    assert_eq!(params["DeletionProtection"], "false");
}
