//! Routes (template, local router, the route table), the crates sam deploys, and each
//! function's IAM permissions.
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use serde_norway::Value;

use super::*;
use crate::root_file;

fn contract() -> BTreeSet<Route> {
    shared::routes::ROUTES
        .iter()
        .map(|r| {
            (
                r.method.to_owned(),
                r.path.to_owned(),
                r.function.name().to_owned(),
            )
        })
        .collect()
}

/// The routes without the catch-all, and the function the catch-all goes to.
fn split_catch_all(mut routes: BTreeSet<Route>) -> (BTreeSet<Route>, Vec<String>) {
    let catch_all: Vec<Route> = routes
        .iter()
        .filter(|(m, p, _)| (m.as_str(), p.as_str()) == CATCH_ALL)
        .cloned()
        .collect();
    for r in &catch_all {
        routes.remove(r);
    }
    (routes, catch_all.into_iter().map(|(_, _, f)| f).collect())
}

#[test]
fn template_routes_the_local_router_and_the_contract_are_the_same_set() {
    let (template, template_rest) =
        split_catch_all(template_routes(&crate::stack::template_text()).unwrap());
    let (mut local, local_rest) = split_catch_all(cargo_routes(&root_file("Cargo.toml")).unwrap());
    assert_eq!(
        template,
        contract(),
        "template.yaml vs shared::routes::ROUTES"
    );
    // Locally, every other method on a known path goes to `web` by an entry of its own
    // (`cargo lambda watch` has no `$default` for unmatched methods), so it answers 405.
    let paths: BTreeSet<&str> = shared::routes::ROUTES.iter().map(|r| r.path).collect();
    let mut other_methods = BTreeSet::new();
    for path in paths {
        for method in [
            "GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "TRACE", "QUERY",
        ] {
            let served = shared::routes::ROUTES
                .iter()
                .any(|r| (r.method, r.path) == (method, path));
            if !served {
                other_methods.insert((method.to_owned(), path.to_owned(), "web".to_owned()));
            }
        }
    }
    let local_other: BTreeSet<Route> = local.difference(&contract()).cloned().collect();
    assert_eq!(
        local_other, other_methods,
        "Cargo.toml: every other method of each path to web"
    );
    local.retain(|r| !other_methods.contains(r));
    assert_eq!(
        local,
        contract(),
        "Cargo.toml router vs shared::routes::ROUTES"
    );
    // Everything else goes to `web`, which answers it with a problem+json 404.
    assert_eq!(template_rest, ["web"], "template.yaml's $default route");
    assert_eq!(local_rest, ["web"], "Cargo.toml's catch-all route");
}

/// A template with one function `f` whose `Properties` are `properties` (YAML, indented
/// six spaces).
fn one_function(properties: &str) -> String {
    format!(
        "Resources:\n  F:\n    Type: AWS::Serverless::Function\n    \
         Metadata: {{ BuildProperties: {{ Binary: f }} }}\n    Properties:\n{properties}"
    )
}

#[test]
fn an_http_event_with_only_a_path_or_only_a_method_is_refused() {
    let half = &one_function(
        r#"
      Events:
        E: { Type: HttpApi, Properties: { Path: /x } }
"#,
    );
    assert!(template_routes(half).is_err());
}

#[test]
fn every_function_crate_is_deployed_under_its_own_name() {
    let deployed: BTreeSet<String> = permissions(&crate::stack::template_text())
        .unwrap()
        .into_keys()
        .collect();
    let crates: BTreeSet<String> =
        std::fs::read_dir(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../functions"))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
    assert_eq!(deployed, crates);
    let routed: BTreeSet<String> = shared::routes::Function::ALL
        .iter()
        .map(|f| f.name().to_owned())
        .collect();
    assert_eq!(routed, crates, "shared::routes::Function vs functions/");
}

fn table(action: &str, table: &str, index: Option<&str>) -> (String, Target) {
    (
        action.to_owned(),
        Target::Table {
            table: table.to_owned(),
            index: index.map(str::to_owned),
        },
    )
}

/// The token keys' secret, which the functions that sign or check tokens read.
fn token_keys() -> (String, Target) {
    (
        "secretsmanager:GetSecretValue".to_owned(),
        Target::Other("AppSecret".to_owned()),
    )
}

/// What each function's code touches (see shared/src/store.rs and the api modules).
fn needed() -> BTreeMap<&'static str, BTreeSet<(String, Target)>> {
    BTreeMap::from([
        ("web", BTreeSet::new()),
        (
            "send-code",
            BTreeSet::from([
                table("dynamodb:GetItem", "OtpTable", None),
                table("dynamodb:PutItem", "OtpTable", None),
                table("dynamodb:UpdateItem", "OtpTable", None),
                table("dynamodb:PartiQLInsert", "OtpTable", None),
                table("dynamodb:PartiQLUpdate", "OtpTable", None),
                table("dynamodb:BatchGetItem", "OtpTable", None),
                table("dynamodb:BatchGetItem", "UniquesTable", None),
                ("sns:Publish".to_owned(), Target::Everything),
                token_keys(),
            ]),
        ),
        (
            "verify-code",
            BTreeSet::from([
                table("dynamodb:PutItem", "OtpTable", None),
                table("dynamodb:UpdateItem", "OtpTable", None),
                table("dynamodb:ConditionCheckItem", "OtpTable", None),
                table("dynamodb:BatchGetItem", "OtpTable", None),
                table("dynamodb:BatchGetItem", "UniquesTable", None),
                table("dynamodb:GetItem", "UsersTable", None),
                table("dynamodb:PutItem", "UsersTable", None),
                table("dynamodb:PutItem", "UniquesTable", None),
                table("dynamodb:Query", "UsersTable", Some("referrer-index")),
                token_keys(),
            ]),
        ),
        (
            "profile",
            BTreeSet::from([
                table("dynamodb:GetItem", "UsersTable", None),
                table("dynamodb:UpdateItem", "UsersTable", None),
                table("dynamodb:DeleteItem", "UsersTable", None),
                table("dynamodb:Query", "UsersTable", Some("referrer-index")),
                table("dynamodb:GetItem", "UniquesTable", None),
                table("dynamodb:PutItem", "UniquesTable", None),
                table("dynamodb:UpdateItem", "UniquesTable", None),
                table("dynamodb:DeleteItem", "UniquesTable", None),
                table("dynamodb:GetItem", "OtpTable", None),
                table("dynamodb:PutItem", "OtpTable", None),
                table("dynamodb:ConditionCheckItem", "OtpTable", None),
                table("dynamodb:BatchGetItem", "UsersTable", None),
                table("dynamodb:BatchGetItem", "UniquesTable", None),
                table("dynamodb:BatchGetItem", "OtpTable", None),
                token_keys(),
            ]),
        ),
    ])
}

#[test]
fn the_token_keys_are_read_from_secrets_manager_never_put_in_the_environment() {
    let text = crate::stack::template_text();
    assert!(
        !text.contains("${AppSecret}:SecretString"),
        "resolved at deploy time"
    );
    let doc: Value = serde_norway::from_str(&text).unwrap();
    for function in ["SendCodeFunction", "VerifyCodeFunction", "ProfileFunction"] {
        let vars = &doc["Resources"][function]["Properties"]["Environment"]["Variables"];
        assert_eq!(
            target(&vars["JWT_SECRET_ARN"]),
            Target::Other("AppSecret".into()),
            "{function}"
        );
        // Declared empty for `sam local` (env.json); a value here would be a key in plain text.
        assert_eq!(
            vars["JWT_SECRET"],
            Value::String(String::new()),
            "{function}"
        );
    }
    let web = &doc["Resources"]["WebFunction"]["Properties"]["Environment"]["Variables"];
    assert!(web.get("JWT_SECRET_ARN").is_none() && web.get("JWT_SECRET").is_none());
}

#[test]
fn each_role_allows_exactly_what_its_function_uses_and_nothing_wider() {
    let granted = permissions(&crate::stack::template_text()).unwrap();
    assert_eq!(wildcard_grants(&granted), Vec::<String>::new());
    for (function, grants) in &granted {
        assert_eq!(grants, &needed()[function.as_str()], "{function}");
    }
}

#[test]
fn send_code_publishes_sms_only_when_configured_only_in_its_region_and_to_no_topic() {
    let all = statements(&crate::stack::template_text()).unwrap();
    let sns = |s: &&Statement| s.actions.iter().any(|a| a.starts_with("sns:"));
    for (function, sts) in &all {
        if function != "send-code" {
            assert!(!sts.iter().any(|s| sns(&s)), "{function} mentions SNS");
        }
    }
    let send_code: Vec<&Statement> = all["send-code"].iter().filter(sns).collect();
    let [allow, deny] = send_code.as_slice() else {
        panic!("expected one Allow and one Deny for SNS, found {send_code:?}");
    };
    assert!(allow.allow && !deny.allow);
    assert_eq!(allow.actions, ["sns:Publish"]);
    assert_eq!(allow.resources, [Target::Everything]);
    assert_eq!(allow.only_if.as_deref(), Some("SendsRealSms"));
    let region = allow
        .condition
        .as_ref()
        .and_then(|c| c.get("StringEquals"))
        .and_then(|c| c.get("aws:RequestedRegion"))
        .expect("sns:Publish is scoped with aws:RequestedRegion");
    assert_eq!(tag_name(region).as_deref(), Some("Ref"));
    assert!(matches!(region, Value::Tagged(t) if t.value.as_str() == Some("AWS::Region")));
    // Topics and mobile push endpoints (all have ARNs) are denied; phone numbers have none.
    assert_eq!(deny.actions, ["sns:Publish"]);
    assert_eq!(
        deny.resources,
        [Target::Other("arn:${AWS::Partition}:sns:*:*:*".to_owned())]
    );
    assert_eq!(deny.only_if, None);

    let doc = crate::stack::template();
    let condition = doc["Conditions"]["SendsRealSms"].clone();
    assert!(
        equals(
            &condition,
            &BTreeMap::from([("SmsSender".into(), "sns".into())])
        )
        .unwrap()
    );
    assert!(
        !equals(
            &condition,
            &BTreeMap::from([("SmsSender".into(), "log".into())])
        )
        .unwrap()
    );
}

#[test]
fn the_policy_reader_catches_wildcards_and_policy_templates() {
    let wide = &one_function(
        r#"
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:*
              Resource: "*"
            - Effect: Allow
              Action: [dynamodb:Query]
              Resource: !Sub "${T.Arn}/index/*"
  SendCode:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: send-code } }
    Properties:
      Policies:
        - Statement:
            - !If
              - C
              - { Effect: Allow, Action: [sns:Publish, dynamodb:GetItem], Resource: "*" }
              - !Ref AWS::NoValue
"#,
    );
    let granted = permissions(wide).unwrap();
    let grants = &granted["f"];
    assert!(grants.contains(&("dynamodb:*".to_owned(), Target::Everything)));
    assert!(grants.contains(&("dynamodb:Query".to_owned(), Target::Wildcard)));
    // The SMS grant is the one "*" allowed, and only for send-code's sns:Publish.
    assert_eq!(
        wildcard_grants(&granted),
        [
            "f: wildcard action dynamodb:*",
            "f: dynamodb:* on \"*\"",
            "f: dynamodb:Query on a wildcard",
            "send-code: dynamodb:GetItem on \"*\"",
        ]
    );
    let template_policy = &one_function(
        r#"
      Policies:
        - DynamoDBCrudPolicy: { TableName: !Ref T }
"#,
    );
    assert!(permissions(template_policy).is_err());
    let hidden = template_policy.replace(
        "- DynamoDBCrudPolicy: { TableName: !Ref T }",
        "- Statement:\n            - !If [C, { Effect: Allow, Action: s3:GetObject, Resource: \"*\" }, { Effect: Allow, Action: s3:PutObject, Resource: \"*\" }]",
    );
    assert!(permissions(&hidden).is_err(), "both branches must be read");
}
