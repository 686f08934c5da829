//! Reads what `template.yaml` and `samconfig.toml` say about routes, permissions, settings and
//! rules, for the consistency and least-privilege tests.
use std::collections::{BTreeMap, BTreeSet};

use anyhow::{Context, anyhow, bail};
use serde_norway::Value;

/// (method, path, function binary)
pub type Route = (String, String, String);

/// The method and path that stand for "every request no other route matches": API Gateway's
/// `$default` route, which SAM creates for an HttpApi event with neither Path nor Method.
pub const CATCH_ALL: (&str, &str) = ("ANY", "$default");

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
            let method = props.get("Method").and_then(Value::as_str);
            let path = props.get("Path").and_then(Value::as_str);
            let (method, path) = match (method, path) {
                (Some(m), Some(p)) => (m.to_ascii_uppercase(), p.to_owned()),
                (None, None) => (CATCH_ALL.0.to_owned(), CATCH_ALL.1.to_owned()),
                _ => bail!("{id}: an HttpApi event needs both Method and Path, or neither"),
            };
            routes.insert((method, path, bin.clone()));
        }
    }
    Ok(routes)
}

/// The local router (`cargo lambda watch`): `"/path" = [{ method, function }]` entries, and one
/// catch-all `"/{*rest}" = "function"` that plays the part of the `$default` route (reported with
/// [`CATCH_ALL`]'s method and path).
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
        if let Some(function) = targets.as_str() {
            if !path.starts_with("/{*") {
                bail!("{path}: only the catch-all route may take every method");
            }
            routes.insert((
                CATCH_ALL.0.to_owned(),
                CATCH_ALL.1.to_owned(),
                function.to_owned(),
            ));
            continue;
        }
        for t in targets
            .as_array()
            .context("router entries are arrays, or a function name for the catch-all")?
        {
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
    /// Exactly `"*"`: what IAM needs for actions without a resource ARN (an SMS to a phone).
    Everything,
    /// Any other pattern with a wildcard (`arn:...:*`, `${T.Arn}/index/*`).
    Wildcard,
    Other(String),
}

fn target(v: &Value) -> Target {
    match v {
        Value::String(s) if s == "*" => Target::Everything,
        Value::String(s) if s.ends_with(":*") || s.ends_with("/*") => Target::Wildcard,
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

fn tag_name(v: &Value) -> Option<String> {
    match v {
        Value::Tagged(t) => Some(t.tag.to_string().trim_start_matches('!').to_owned()),
        _ => None,
    }
}

/// One policy statement of a function's role, as the template writes it.
#[derive(Debug, Clone)]
pub struct Statement {
    pub allow: bool,
    pub actions: Vec<String>,
    pub resources: Vec<Target>,
    pub condition: Option<Value>,
    /// The template condition that must hold for the role to carry this statement
    /// (`!If [Condition, statement, !Ref AWS::NoValue]`), if any.
    pub only_if: Option<String>,
}

fn statement(st: &Value, only_if: Option<String>) -> anyhow::Result<Statement> {
    let actions = strings_or_list(st.get("Action"))
        .into_iter()
        .map(|a| a.as_str().map(str::to_owned).context("Action"))
        .collect::<anyhow::Result<_>>()?;
    if st.get("NotAction").is_some() || st.get("NotResource").is_some() {
        bail!("NotAction/NotResource statements are not allowed: {st:?}");
    }
    Ok(Statement {
        allow: match st.get("Effect").and_then(Value::as_str) {
            Some("Allow") => true,
            Some("Deny") => false,
            other => bail!("Effect {other:?}"),
        },
        actions,
        resources: strings_or_list(st.get("Resource"))
            .into_iter()
            .map(target)
            .collect(),
        condition: st.get("Condition").cloned(),
        only_if,
    })
}

/// Every statement of each function's role, by binary name. A statement under
/// `!If [Condition, statement, !Ref AWS::NoValue]` counts with its condition noted. Policy
/// templates (such as `DynamoDBCrudPolicy`) are refused: they grant more than a function needs.
pub fn statements(template: &str) -> anyhow::Result<BTreeMap<String, Vec<Statement>>> {
    let doc: Value = serde_norway::from_str(template)?;
    let mut out = BTreeMap::new();
    for (id, f) in functions(&doc)? {
        let mut all = Vec::new();
        let policies = f.get("Properties").and_then(|p| p.get("Policies"));
        for policy in strings_or_list(policies) {
            let list = policy.get("Statement").ok_or_else(|| {
                anyhow!("{id}: only inline Statement policies are allowed, found {policy:?}")
            })?;
            for st in strings_or_list(Some(list)) {
                match (tag_name(st), st) {
                    (None, _) => all.push(statement(st, None)?),
                    (Some(tag), Value::Tagged(t)) if tag == "If" => {
                        let branches = t.value.as_sequence().context("!If [c, a, b]")?;
                        let [condition, then, otherwise] = branches.as_slice() else {
                            bail!("{id}: !If needs three items");
                        };
                        let condition = condition.as_str().context("!If condition")?;
                        let no_value = |v: &Value| {
                            tag_name(v).as_deref() == Some("Ref")
                                && matches!(v, Value::Tagged(t) if t.value.as_str() == Some("AWS::NoValue"))
                        };
                        if !no_value(otherwise) {
                            bail!("{id}: !If statements must fall back to !Ref AWS::NoValue");
                        }
                        all.push(statement(then, Some(condition.to_owned()))?);
                    }
                    (Some(tag), _) => bail!("{id}: unexpected !{tag} in a policy"),
                }
            }
        }
        out.insert(binary(f)?, all);
    }
    Ok(out)
}

/// Every (action, target) each function's role allows, by binary name.
pub fn permissions(template: &str) -> anyhow::Result<BTreeMap<String, BTreeSet<(String, Target)>>> {
    Ok(statements(template)?
        .into_iter()
        .map(|(function, sts)| {
            let grants = sts
                .iter()
                .filter(|s| s.allow)
                .flat_map(|s| {
                    s.actions.iter().flat_map(|a| {
                        s.resources
                            .iter()
                            .map(move |r| (a.clone(), r.clone()))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            (function, grants)
        })
        .collect())
}

/// The one grant on `"*"` any role may hold: send-code publishing an SMS, which has no ARN.
pub const SMS_GRANT: (&str, &str) = ("send-code", "sns:Publish");

/// Wildcard actions and resources in the roles, except [`SMS_GRANT`]; empty when there are none.
pub fn wildcard_grants(granted: &BTreeMap<String, BTreeSet<(String, Target)>>) -> Vec<String> {
    let mut found = Vec::new();
    for (function, grants) in granted {
        for (action, target) in grants {
            if action.contains('*') {
                found.push(format!("{function}: wildcard action {action}"));
            }
            match target {
                Target::Wildcard => found.push(format!("{function}: {action} on a wildcard")),
                Target::Everything if (function.as_str(), action.as_str()) != SMS_GRANT => {
                    found.push(format!("{function}: {action} on \"*\""));
                }
                _ => {}
            }
        }
    }
    found
}

/// `Name=value` pairs as `sam deploy --parameter-overrides` and samconfig write them.
pub fn parse_overrides(text: &str) -> anyhow::Result<BTreeMap<String, String>> {
    text.split_whitespace()
        .map(|pair| {
            let (k, v) = pair
                .split_once('=')
                .with_context(|| format!("{pair:?} is not Name=value"))?;
            Ok((k.to_owned(), v.trim_matches('"').to_owned()))
        })
        .collect()
}

/// The template's parameter defaults, with `overrides` applied.
pub fn parameter_values(
    template: &str,
    overrides: &BTreeMap<String, String>,
) -> anyhow::Result<BTreeMap<String, String>> {
    let doc: Value = serde_norway::from_str(template)?;
    let params = doc
        .get("Parameters")
        .and_then(Value::as_mapping)
        .context("no Parameters")?;
    let mut values = BTreeMap::new();
    for (name, p) in params {
        let name = name.as_str().context("parameter name")?.to_owned();
        let default = match p.get("Default") {
            Some(Value::String(s)) => Some(s.clone()),
            Some(Value::Number(n)) => Some(n.to_string()),
            _ => None,
        };
        if let Some(v) = overrides.get(&name).cloned().or(default) {
            values.insert(name, v);
        }
    }
    for name in overrides.keys() {
        if !values.contains_key(name) {
            bail!("{name} is not a parameter of the template");
        }
    }
    Ok(values)
}

/// Evaluates a rule's condition or assertion in the forms the rules use: `!Equals` of a
/// parameter and a literal, `!Contains [!Ref ListParameter, "literal"]` (a CommaDelimitedList's
/// value is its comma-separated text), and `!Not`, `!And`, `!Or` of those.
fn equals(v: &Value, values: &BTreeMap<String, String>) -> anyhow::Result<bool> {
    let Value::Tagged(t) = v else {
        bail!("expected a condition function, found {v:?}")
    };
    let args = || {
        t.value
            .as_sequence()
            .context("a condition function takes a list")
    };
    let resolve = |v: &Value| -> anyhow::Result<String> {
        match v {
            Value::String(s) => Ok(s.clone()),
            Value::Tagged(r) if tag_name(v).as_deref() == Some("Ref") => {
                let name = r.value.as_str().context("!Ref name")?;
                values
                    .get(name)
                    .cloned()
                    .with_context(|| format!("no value for {name}"))
            }
            other => bail!("cannot evaluate {other:?}"),
        }
    };
    match tag_name(v).as_deref() {
        Some("Not") => {
            let [inner] = args()?.as_slice() else {
                bail!("!Not takes one item");
            };
            Ok(!equals(inner, values)?)
        }
        Some("And") => args()?
            .iter()
            .try_fold(true, |all, c| Ok(all && equals(c, values)?)),
        Some("Or") => args()?
            .iter()
            .try_fold(false, |any, c| Ok(any || equals(c, values)?)),
        Some("Equals") => {
            let [left, right] = args()?.as_slice() else {
                bail!("!Equals takes two items");
            };
            Ok(resolve(left)? == resolve(right)?)
        }
        Some("Contains") => {
            let [list, item] = args()?.as_slice() else {
                bail!("!Contains takes a list and an item");
            };
            let (list, item) = (resolve(list)?, resolve(item)?);
            Ok(list.split(',').any(|member| member == item))
        }
        _ => bail!("unsupported in rules: !{}", t.tag),
    }
}

/// The `AssertDescription` of every template rule these parameter values break, the way
/// CloudFormation checks `Rules` before it touches a stack.
pub fn broken_rules(
    template: &str,
    values: &BTreeMap<String, String>,
) -> anyhow::Result<Vec<String>> {
    let doc: Value = serde_norway::from_str(template)?;
    let rules = doc
        .get("Rules")
        .and_then(Value::as_mapping)
        .context("no Rules")?;
    let mut broken = Vec::new();
    for (name, rule) in rules {
        let applies = match rule.get("RuleCondition") {
            Some(c) => equals(c, values)?,
            None => true,
        };
        if !applies {
            continue;
        }
        for assertion in strings_or_list(rule.get("Assertions")) {
            if !equals(assertion.get("Assert").context("Assert")?, values)? {
                let text = assertion
                    .get("AssertDescription")
                    .and_then(Value::as_str)
                    .unwrap_or("(no description)");
                broken.push(format!("{}: {text}", name.as_str().unwrap_or("?")));
            }
        }
    }
    Ok(broken)
}

/// The environment variable names each function gets (its own plus `Globals`), by binary name.
pub fn environment(template: &str) -> anyhow::Result<BTreeMap<String, BTreeSet<String>>> {
    let doc: Value = serde_norway::from_str(template)?;
    let names = |v: Option<&Value>| -> BTreeSet<String> {
        v.and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(Value::as_str)
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    };
    let global = names(
        doc.get("Globals")
            .and_then(|g| g.get("Function"))
            .and_then(|f| f.get("Environment")),
    );
    functions(&doc)?
        .into_iter()
        .map(|(_, f)| {
            let mut all = global.clone();
            all.extend(names(
                f.get("Properties").and_then(|p| p.get("Environment")),
            ));
            Ok((binary(f)?, all))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

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
            split_catch_all(template_routes(&root_file("template.yaml")).unwrap());
        let (mut local, local_rest) =
            split_catch_all(cargo_routes(&root_file("Cargo.toml")).unwrap());
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
        let text = root_file("template.yaml");
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
        let granted = permissions(&root_file("template.yaml")).unwrap();
        assert_eq!(wildcard_grants(&granted), Vec::<String>::new());
        for (function, grants) in &granted {
            assert_eq!(grants, &needed()[function.as_str()], "{function}");
        }
    }

    #[test]
    fn send_code_publishes_sms_only_when_configured_only_in_its_region_and_to_no_topic() {
        let all = statements(&root_file("template.yaml")).unwrap();
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

        let doc = crate::operations::template();
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

    #[test]
    fn only_send_code_gets_the_sms_settings() {
        let env = environment(&root_file("template.yaml")).unwrap();
        let sms = [
            "SMS_SENDER",
            "SMS_SENDER_ID",
            "SMS_ORIGINATION_NUMBER",
            "SMS_TEMPLATE",
            "SNS_ENDPOINT",
        ];
        for (function, vars) in &env {
            for var in sms {
                assert_eq!(
                    vars.contains(var),
                    function == "send-code",
                    "{function}: {var}"
                );
            }
            for shared in [
                "EXPOSE_CODES",
                "OTP_DIGITS",
                "SMS_DELAY_MS",
                "DEFAULT_REGION",
                "IP_MAX_SENDS_PER_HOUR",
                "IP_MAX_FAILURES_PER_HOUR",
                "IP_RANGE_MAX_SENDS_PER_HOUR",
                "IP_RANGE_MAX_FAILURES_PER_HOUR",
                "SMS_BUDGET_PER_HOUR",
                "SMS_BUDGET_SHARDS",
                "SMS_BUDGET_PER_DAY",
                "SMS_BUDGET_RETURNING_PERCENT",
                "SMS_ALLOWED_REGIONS",
                "SMS_MOBILE_ONLY",
            ] {
                assert!(vars.contains(shared), "{function}: {shared}");
            }
        }
    }

    #[test]
    fn only_send_code_gets_the_captcha_secret_and_the_page_gets_the_site_key() {
        let env = environment(&root_file("template.yaml")).unwrap();
        for (function, vars) in &env {
            let sends = function == "send-code";
            for var in ["CAPTCHA_SECRET", "CAPTCHA_VERIFY_URL"] {
                assert_eq!(vars.contains(var), sends, "{function}: {var}");
            }
            let shows = sends || function == "web";
            for var in ["CAPTCHA_PROVIDER", "CAPTCHA_SITE_KEY"] {
                assert_eq!(vars.contains(var), shows, "{function}: {var}");
            }
        }
        // The secret comes from Secrets Manager at deploy time, never from a parameter's value.
        let doc = crate::operations::template();
        let secret = &doc["Resources"]["SendCodeFunction"]["Properties"]["Environment"]["Variables"]
            ["CAPTCHA_SECRET"];
        let text = format!("{secret:?}");
        assert!(
            text.contains("{{resolve:secretsmanager:${CaptchaSecretArn}:SecretString}}"),
            "{text}"
        );
        for env in ["default", "prod"] {
            let overrides = samconfig_overrides(env);
            assert!(
                !overrides
                    .keys()
                    .any(|k| k.contains("Secret") && k != "CaptchaSecretArn"),
                "{env}: {overrides:?}"
            );
        }
    }

    #[test]
    fn a_captcha_provider_is_refused_without_its_site_key_and_secret() {
        let template = root_file("template.yaml");
        let values = |overrides: &[(&str, &str)]| {
            let o = overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            parameter_values(&template, &o).unwrap()
        };
        let broken = broken_rules(&template, &values(&[("CaptchaProvider", "turnstile")])).unwrap();
        assert_eq!(broken.len(), 2, "{broken:?}");
        let complete = values(&[
            ("CaptchaProvider", "hcaptcha"),
            ("CaptchaSiteKey", "10000000-ffff-ffff-ffff-000000000001"),
            ("CaptchaSecretArn", "referral-api/captcha"),
        ]);
        assert_eq!(
            broken_rules(&template, &complete).unwrap(),
            Vec::<String>::new()
        );
    }

    fn samconfig_overrides(env: &str) -> BTreeMap<String, String> {
        let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
        let text = config[env]["deploy"]["parameters"]["parameter_overrides"]
            .as_str()
            .unwrap();
        parse_overrides(text).unwrap()
    }

    #[test]
    fn the_stack_refuses_real_sms_together_with_returned_codes() {
        let template = root_file("template.yaml");
        let values = |overrides: &[(&str, &str)]| {
            let o = overrides
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect();
            parameter_values(&template, &o).unwrap()
        };
        let broken = broken_rules(
            &template,
            &values(&[
                ("SmsSender", "sns"),
                ("ExposeCodes", "true"),
                ("SmsSenderId", "MYBRAND"),
            ]),
        )
        .unwrap();
        assert_eq!(broken.len(), 1, "{broken:?}");
        assert!(broken[0].contains("ExposeCodes must be \"false\""));
        // The template's defaults are the demo, which the rule allows.
        assert!(broken_rules(&template, &values(&[])).unwrap().is_empty());
        assert!(
            broken_rules(
                &template,
                &values(&[
                    ("SmsSender", "sns"),
                    ("ExposeCodes", "false"),
                    ("SmsSenderId", "MYBRAND")
                ])
            )
            .unwrap()
            .is_empty()
        );
    }

    #[test]
    fn samconfig_deploys_the_demo_by_default_and_production_with_env_prod() {
        let template = root_file("template.yaml");
        let demo = samconfig_overrides("default");
        let prod = samconfig_overrides("prod");
        assert_eq!(demo["ExposeCodes"], "true");
        assert_eq!(demo["SmsSender"], "log");
        assert_eq!(prod["ExposeCodes"], "false");
        assert_eq!(prod["SmsSender"], "sns");
        assert_eq!(prod["OtpDigits"], "6");
        assert_eq!(
            demo.get("SmsAllowedRegions"),
            None,
            "the demo sends nowhere real"
        );
        assert_ne!(
            prod.get("SmsAllowedRegions").map(String::as_str),
            None,
            "production names the countries it pays SMS to"
        );
        assert_eq!(prod["SmsMobileOnly"], "true");
        let broken = |overrides: &BTreeMap<String, String>| {
            let values = parameter_values(&template, overrides).unwrap();
            let mut names: Vec<String> = broken_rules(&template, &values)
                .unwrap()
                .into_iter()
                .map(|b| b.split(':').next().unwrap().to_owned())
                .collect();
            names.sort();
            names
        };
        assert_eq!(broken(&demo), Vec::<String>::new());
        // Production as samconfig has it is refused until it names its registered sender ID
        // (docs/deploy.md), and without the web ACL scripts/deploy.sh adds.
        assert_eq!(
            broken(&prod),
            ["EdgeNeedsItsWebAcl", "RussianSmsNeedsASenderId"]
        );
        let mut deployed = prod.clone();
        deployed.insert("EdgeWebAclArn".into(), WEB_ACL.into());
        deployed.insert("SmsSenderId".into(), "MYBRAND".into());
        assert_eq!(broken(&deployed), Vec::<String>::new());

        let config: toml::Table = toml::from_str(&root_file("samconfig.toml")).unwrap();
        let stack = |env: &str| config[env]["global"]["parameters"]["stack_name"].clone();
        assert_ne!(
            stack("default"),
            stack("prod"),
            "the two must be separate stacks"
        );
        let deploy = |env: &str| {
            config[env]["deploy"]["parameters"]
                .as_table()
                .unwrap()
                .clone()
        };
        let (d, p) = (deploy("default"), deploy("prod"));
        assert_eq!(
            d.keys().collect::<Vec<_>>(),
            p.keys().collect::<Vec<_>>(),
            "prod sets what the demo sets"
        );
        for key in [
            "capabilities",
            "resolve_s3",
            "confirm_changeset",
            "fail_on_empty_changeset",
        ] {
            assert_eq!(d[key], p[key], "{key}");
        }
        assert_eq!(
            p["confirm_changeset"].as_bool(),
            Some(false),
            "no prompt in CI"
        );
    }

    const WEB_ACL: &str =
        "arn:aws:wafv2:us-east-1:123456789012:global/webacl/referral-api-prod-edge/0f1e";

    fn values_with(overrides: &[(&str, &str)]) -> BTreeMap<String, String> {
        let o = overrides
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        parameter_values(&root_file("template.yaml"), &o).unwrap()
    }

    fn rules_broken_by(overrides: &[(&str, &str)]) -> Vec<String> {
        broken_rules(&root_file("template.yaml"), &values_with(overrides))
            .unwrap()
            .into_iter()
            .map(|b| b.split(':').next().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn real_sms_that_may_go_to_russia_needs_a_sender_id() {
        let sns = [("SmsSender", "sns"), ("ExposeCodes", "false")];
        let with = |extra: &[(&str, &str)]| {
            let mut all = sns.to_vec();
            all.extend_from_slice(extra);
            rules_broken_by(&all)
        };
        for regions in ["RU", "*", "KZ,RU"] {
            assert_eq!(
                with(&[("SmsAllowedRegions", regions)]),
                ["RussianSmsNeedsASenderId"],
                "{regions}"
            );
            assert_eq!(
                with(&[("SmsAllowedRegions", regions), ("SmsSenderId", "MYBRAND")]),
                Vec::<String>::new(),
                "{regions} with a sender ID"
            );
        }
        assert_eq!(
            with(&[("SmsAllowedRegions", "KZ,UZ")]),
            Vec::<String>::new()
        );
        // Simulated SMS go nowhere: no sender ID needed.
        assert_eq!(
            rules_broken_by(&[("SmsAllowedRegions", "RU")]),
            Vec::<String>::new()
        );
        // The rule can only look for RU in a list, so the parameter is one, in upper case.
        let doc = crate::operations::template();
        let param = &doc["Parameters"]["SmsAllowedRegions"];
        assert_eq!(param["Type"].as_str(), Some("CommaDelimitedList"));
        assert_eq!(param["AllowedPattern"].as_str(), Some("^(\\*|[A-Z]{2})$"));
        let joined = format!(
            "{:?}",
            doc["Globals"]["Function"]["Environment"]["Variables"]["SMS_ALLOWED_REGIONS"]
        );
        assert!(
            joined.contains("Join") && joined.contains("SmsAllowedRegions"),
            "{joined}"
        );
    }

    #[test]
    fn the_edge_is_refused_without_its_web_acl() {
        assert_eq!(rules_broken_by(&[("Edge", "true")]), ["EdgeNeedsItsWebAcl"]);
        assert_eq!(
            rules_broken_by(&[("Edge", "true"), ("EdgeWebAclArn", WEB_ACL)]),
            Vec::<String>::new()
        );
        assert_eq!(
            rules_broken_by(&[]),
            Vec::<String>::new(),
            "the demo has no edge"
        );
    }

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
        let doc = crate::operations::template();
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
        for function in environment(&root_file("template.yaml")).unwrap().values() {
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
        let doc = crate::operations::template();
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
        let doc = crate::operations::template();
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
        let doc = crate::operations::template();
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
        for sts in statements(&root_file("template.yaml")).unwrap().values() {
            assert!(
                !sts.iter()
                    .any(|s| s.actions.iter().any(|a| a.starts_with("xray:")))
            );
        }
    }

    #[test]
    fn sns_may_log_sms_delivery_status_only_for_a_stack_that_sends_sms() {
        let doc = crate::operations::template();
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
        assert!(
            root_file("scripts/sms-delivery-logging.sh").contains("DeliveryStatusIAMRole=$role")
        );
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
        let api = crate::operations::template();
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
        let doc = crate::operations::template();
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
        let params = parameter_values(&root_file("template.yaml"), &BTreeMap::new()).unwrap();
        assert_eq!(params["DeletionProtection"], "false");
    }
}
