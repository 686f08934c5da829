//! Reads what `template.yaml` says about routes and permissions, for the consistency and
//! least-privilege tests.
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, anyhow};
use serde_norway::Value;

/// (method, path, function binary)
pub type Route = (String, String, String);

fn resources(doc: &Value) -> anyhow::Result<&serde_norway::Mapping> {
    doc.get("Resources")
        .and_then(Value::as_mapping)
        .context("no Resources")
}

fn functions(doc: &Value) -> anyhow::Result<Vec<(String, &Value)>> {
    let mut out = Vec::new();
    for (id, r) in resources(doc)? {
        if r.get("Type").and_then(Value::as_str) == Some("AWS::Serverless::Function") {
            out.push((id.as_str().context("id")?.to_owned(), r));
        }
    }
    Ok(out)
}

fn binary(function: &Value) -> anyhow::Result<String> {
    function
        .get("Metadata")
        .and_then(|m| m.get("BuildProperties"))
        .and_then(|b| b.get("Binary"))
        .and_then(Value::as_str)
        .map(str::to_owned)
        .context("Metadata.BuildProperties.Binary")
}

pub fn template_routes(template: &str) -> anyhow::Result<BTreeSet<Route>> {
    let doc: Value = serde_norway::from_str(template)?;
    let mut routes = BTreeSet::new();
    for (id, f) in functions(&doc)? {
        let bin = binary(f).with_context(|| id.clone())?;
        let events = f
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping);
        for (_, event) in events.into_iter().flatten() {
            if event.get("Type").and_then(Value::as_str) != Some("HttpApi") {
                continue;
            }
            let props = event.get("Properties").context("event Properties")?;
            let method = props
                .get("Method")
                .and_then(Value::as_str)
                .context("Method")?;
            let path = props.get("Path").and_then(Value::as_str).context("Path")?;
            routes.insert((method.to_ascii_uppercase(), path.to_owned(), bin.clone()));
        }
    }
    Ok(routes)
}

pub fn cargo_routes(cargo_toml: &str) -> anyhow::Result<BTreeSet<Route>> {
    let doc: toml::Table = toml::from_str(cargo_toml)?;
    let router = doc
        .get("workspace")
        .and_then(|w| w.get("metadata"))
        .and_then(|m| m.get("lambda"))
        .and_then(|l| l.get("watch"))
        .and_then(|w| w.get("router"))
        .and_then(toml::Value::as_table)
        .context("[workspace.metadata.lambda.watch.router]")?;
    let mut routes = BTreeSet::new();
    for (path, targets) in router {
        for t in targets.as_array().context("router entries are arrays")? {
            let method = t
                .get("method")
                .and_then(toml::Value::as_str)
                .context("method")?;
            let function = t
                .get("function")
                .and_then(toml::Value::as_str)
                .context("function")?;
            routes.insert((
                method.to_ascii_uppercase(),
                path.clone(),
                function.to_owned(),
            ));
        }
    }
    Ok(routes)
}

/// What an IAM `Resource` entry points at.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Target {
    /// A table (by logical id), or one of its indexes.
    Table {
        table: String,
        index: Option<String>,
    },
    Wildcard,
    Other(String),
}

fn target(v: &Value) -> Target {
    match v {
        Value::String(s) if s == "*" || s.ends_with(":*") || s.ends_with("/*") => Target::Wildcard,
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let text = t.value.as_str().unwrap_or_default();
            match tag.trim_start_matches('!') {
                "GetAtt" => match text.strip_suffix(".Arn") {
                    Some(table) => Target::Table {
                        table: table.to_owned(),
                        index: None,
                    },
                    None => Target::Other(text.to_owned()),
                },
                "Sub" => {
                    let Some(rest) = text.strip_prefix("${") else {
                        return Target::Other(text.to_owned());
                    };
                    let Some((table, tail)) = rest.split_once(".Arn}") else {
                        return Target::Other(text.to_owned());
                    };
                    if tail.contains('*') {
                        Target::Wildcard
                    } else {
                        Target::Table {
                            table: table.to_owned(),
                            index: tail.strip_prefix("/index/").map(str::to_owned),
                        }
                    }
                }
                _ => Target::Other(text.to_owned()),
            }
        }
        other => Target::Other(format!("{other:?}")),
    }
}

fn strings_or_list(v: Option<&Value>) -> Vec<&Value> {
    match v {
        Some(Value::Sequence(s)) => s.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    }
}

/// Every (action, target) each function's role allows, by binary name. Policy templates (such
/// as `DynamoDBCrudPolicy`) are refused: they grant more than a function needs.
pub fn permissions(template: &str) -> anyhow::Result<BTreeMap<String, BTreeSet<(String, Target)>>> {
    let doc: Value = serde_norway::from_str(template)?;
    let mut out = BTreeMap::new();
    for (id, f) in functions(&doc)? {
        let mut grants = BTreeSet::new();
        let policies = f.get("Properties").and_then(|p| p.get("Policies"));
        for policy in strings_or_list(policies) {
            let statements = policy.get("Statement").ok_or_else(|| {
                anyhow!("{id}: only inline Statement policies are allowed, found {policy:?}")
            })?;
            for st in strings_or_list(Some(statements)) {
                if st.get("Effect").and_then(Value::as_str) != Some("Allow") {
                    continue;
                }
                for action in strings_or_list(st.get("Action")) {
                    let action = action.as_str().context("Action")?;
                    for resource in strings_or_list(st.get("Resource")) {
                        grants.insert((action.to_owned(), target(resource)));
                    }
                }
            }
        }
        out.insert(binary(f)?, grants);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    fn root_file(name: &str) -> String {
        std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("..")
                .join(name),
        )
        .unwrap()
    }

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

    #[test]
    fn template_routes_the_local_router_and_the_contract_are_the_same_set() {
        let template = template_routes(&root_file("template.yaml")).unwrap();
        let local = cargo_routes(&root_file("Cargo.toml")).unwrap();
        assert_eq!(
            template,
            contract(),
            "template.yaml vs shared::routes::ROUTES"
        );
        assert_eq!(
            local,
            contract(),
            "Cargo.toml router vs shared::routes::ROUTES"
        );
    }

    #[test]
    fn every_function_crate_is_deployed_under_its_own_name() {
        let deployed: BTreeSet<String> = permissions(&root_file("template.yaml"))
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

    /// (action, table, index)
    type Grant = (&'static str, &'static str, Option<&'static str>);

    /// What each function's code touches (see shared/src/store.rs and the api modules).
    fn needed() -> BTreeMap<&'static str, BTreeSet<Grant>> {
        BTreeMap::from([
            ("web", BTreeSet::new()),
            (
                "send-code",
                BTreeSet::from([
                    ("dynamodb:GetItem", "OtpTable", None),
                    ("dynamodb:PutItem", "OtpTable", None),
                ]),
            ),
            (
                "verify-code",
                BTreeSet::from([
                    ("dynamodb:GetItem", "OtpTable", None),
                    ("dynamodb:PutItem", "OtpTable", None),
                    ("dynamodb:GetItem", "UsersTable", None),
                    ("dynamodb:PutItem", "UsersTable", None),
                    ("dynamodb:GetItem", "UniquesTable", None),
                    ("dynamodb:PutItem", "UniquesTable", None),
                    ("dynamodb:Query", "UsersTable", Some("referrer-index")),
                ]),
            ),
            (
                "profile",
                BTreeSet::from([
                    ("dynamodb:GetItem", "UsersTable", None),
                    ("dynamodb:UpdateItem", "UsersTable", None),
                    ("dynamodb:Query", "UsersTable", Some("referrer-index")),
                    ("dynamodb:GetItem", "UniquesTable", None),
                ]),
            ),
        ])
    }

    #[test]
    fn each_role_allows_exactly_what_its_function_uses_and_nothing_wider() {
        let granted = permissions(&root_file("template.yaml")).unwrap();
        for (function, grants) in &granted {
            for (action, target) in grants {
                assert!(
                    !action.ends_with('*'),
                    "{function}: wildcard action {action}"
                );
                assert_ne!(
                    target,
                    &Target::Wildcard,
                    "{function}: {action} on a wildcard resource"
                );
            }
            let as_tuples: BTreeSet<(&str, &str, Option<&str>)> = grants
                .iter()
                .map(|(a, t)| match t {
                    Target::Table { table, index } => {
                        (a.as_str(), table.as_str(), index.as_deref())
                    }
                    other => panic!("{function}: {a} on {other:?}"),
                })
                .collect();
            assert_eq!(as_tuples, needed()[function.as_str()], "{function}");
        }
    }

    #[test]
    fn the_policy_reader_catches_wildcards_and_policy_templates() {
        let wide = r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Policies:
        - Statement:
            - Effect: Allow
              Action: dynamodb:*
              Resource: "*"
            - Effect: Allow
              Action: [dynamodb:Query]
              Resource: !Sub "${T.Arn}/index/*"
"#;
        let grants = &permissions(wide).unwrap()["f"];
        assert!(grants.contains(&("dynamodb:*".to_owned(), Target::Wildcard)));
        assert!(grants.contains(&("dynamodb:Query".to_owned(), Target::Wildcard)));
        let template_policy = r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Metadata: { BuildProperties: { Binary: f } }
    Properties:
      Policies:
        - DynamoDBCrudPolicy: { TableName: !Ref T }
"#;
        assert!(permissions(template_policy).is_err());
    }
}
