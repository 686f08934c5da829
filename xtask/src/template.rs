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
mod routes_and_roles;
#[cfg(test)]
mod settings;
/// The parameter overrides samconfig.toml deploys with, for `env` (default: the demo; prod).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
fn samconfig_overrides(env: &str) -> BTreeMap<String, String> {
    let config: toml::Table = toml::from_str(&crate::root_file("samconfig.toml")).unwrap();
    let text = config[env]["deploy"]["parameters"]["parameter_overrides"]
        .as_str()
        .unwrap();
    parse_overrides(text).unwrap()
}

#[cfg(test)]
mod edge_and_data;
