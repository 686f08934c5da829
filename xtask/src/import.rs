//! `xtask import-tables`: the two files a CloudFormation resource import needs to adopt the users
//! and uniques tables a deleted stack left behind (`DeletionPolicy: RetainExceptOnCreate`), so a
//! new stack starts with the old users instead of empty tables. docs/deploy.md, "Tear down, and
//! get the users back".
use std::collections::BTreeSet;

use anyhow::{Context, bail};
use serde_json::{Map, Value as Json, json};
use serde_norway::Value;

/// The tables a deleted stack keeps, by logical id.
pub const KEPT_TABLES: [&str; 2] = ["UsersTable", "UniquesTable"];

/// YAML with CloudFormation's short tags (`!Ref x`, `!GetAtt a.b`, `!Sub s`) to the JSON form.
fn to_json(v: &Value) -> anyhow::Result<Json> {
    Ok(match v {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Number(n) => serde_json::to_value(n)?,
        Value::String(s) => Json::String(s.clone()),
        Value::Sequence(s) => Json::Array(s.iter().map(to_json).collect::<anyhow::Result<_>>()?),
        Value::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(
                    k.as_str().context("non-string key")?.to_owned(),
                    to_json(v)?,
                );
            }
            Json::Object(out)
        }
        Value::Tagged(t) => {
            let tag = t.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = to_json(&t.value)?;
            match (tag, &inner) {
                ("Ref", _) => json!({ "Ref": inner }),
                ("Condition", _) => json!({ "Condition": inner }),
                ("GetAtt", Json::String(s)) => {
                    let (resource, attribute) = s.split_once('.').context("!GetAtt a.b")?;
                    json!({ "Fn::GetAtt": [resource, attribute] })
                }
                _ => json!({ format!("Fn::{tag}"): inner }),
            }
        }
    })
}

fn refs(v: &Json, found: &mut BTreeSet<String>) {
    match v {
        Json::Object(m) => {
            if let Some(Json::String(name)) = m.get("Ref") {
                found.insert(name.clone());
            }
            m.values().for_each(|v| refs(v, found));
        }
        Json::Array(a) => a.iter().for_each(|v| refs(v, found)),
        _ => {}
    }
}

/// The import template (the kept tables exactly as `template.yaml` defines them, plus the
/// parameters they use) and the `--resources-to-import` list naming the existing tables.
pub fn import_files(template: &str, users: &str, uniques: &str) -> anyhow::Result<(Json, Json)> {
    let doc: Value = serde_norway::from_str(template).context("template.yaml is not YAML")?;
    let mut resources = Map::new();
    let mut to_import = Vec::new();
    for (id, name) in KEPT_TABLES.into_iter().zip([users, uniques]) {
        if name.trim().is_empty() {
            bail!("no table name for {id}");
        }
        let mut resource = to_json(&doc["Resources"][id])?;
        if resource["Type"] != "AWS::DynamoDB::Table" {
            bail!("{id} is not an AWS::DynamoDB::Table in template.yaml");
        }
        // An import creates nothing, so nothing may be deleted if it rolls back. The next
        // `make deploy` puts back template.yaml's own policy.
        resource["DeletionPolicy"] = json!("Retain");
        resource["UpdateReplacePolicy"] = json!("Retain");
        resources.insert(id.to_owned(), resource);
        to_import.push(json!({
            "ResourceType": "AWS::DynamoDB::Table",
            "LogicalResourceId": id,
            "ResourceIdentifier": { "TableName": name },
        }));
    }
    let mut used = BTreeSet::new();
    refs(&Json::Object(resources.clone()), &mut used);
    let all_params = to_json(&doc["Parameters"])?;
    let mut parameters = Map::new();
    for name in used.iter().filter(|n| !n.starts_with("AWS::")) {
        let p = all_params
            .get(name)
            .with_context(|| format!("{name} is referenced but is not a parameter"))?;
        parameters.insert(name.clone(), p.clone());
    }
    let mut out = json!({
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Adopts the users and uniques tables of a deleted referral-api stack (resource import).",
        "Resources": resources,
    });
    if !parameters.is_empty() {
        out["Parameters"] = Json::Object(parameters);
    }
    Ok((out, Json::Array(to_import)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tables;

    fn files() -> (Json, Json) {
        let template = std::fs::read_to_string(tables::template_path()).unwrap();
        import_files(&template, "old-users", "old-uniques").unwrap()
    }

    #[test]
    fn the_import_template_holds_exactly_the_kept_tables_as_the_template_defines_them() {
        let (template, _) = files();
        let resources = template["Resources"].as_object().unwrap();
        let ids: BTreeSet<&str> = resources.keys().map(String::as_str).collect();
        assert_eq!(ids, BTreeSet::from(KEPT_TABLES));
        let users = &template["Resources"]["UsersTable"];
        assert_eq!(users["DeletionPolicy"], "Retain");
        assert_eq!(users["Properties"]["BillingMode"], "PAY_PER_REQUEST");
        assert_eq!(
            users["Properties"]["GlobalSecondaryIndexes"]
                .as_array()
                .unwrap()
                .len(),
            3
        );
        assert_eq!(
            users["Properties"]["DeletionProtectionEnabled"],
            json!({ "Ref": "DeletionProtection" })
        );
        assert_eq!(
            template["Parameters"]
                .as_object()
                .unwrap()
                .keys()
                .collect::<Vec<_>>(),
            ["DeletionProtection"]
        );
        assert!(
            template.get("Transform").is_none(),
            "imports take plain templates"
        );
    }

    #[test]
    fn the_resources_to_import_name_the_old_tables() {
        let (_, list) = files();
        assert_eq!(
            list,
            json!([
                { "ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": "UsersTable",
                  "ResourceIdentifier": { "TableName": "old-users" } },
                { "ResourceType": "AWS::DynamoDB::Table", "LogicalResourceId": "UniquesTable",
                  "ResourceIdentifier": { "TableName": "old-uniques" } },
            ])
        );
    }

    #[test]
    fn short_tags_become_the_json_intrinsics() {
        let yaml: Value =
            serde_norway::from_str("a: !GetAtt T.Arn\nb: !Sub \"${T}\"\nc: !Ref P\n").unwrap();
        assert_eq!(
            to_json(&yaml).unwrap(),
            json!({ "a": { "Fn::GetAtt": ["T", "Arn"] }, "b": { "Fn::Sub": "${T}" }, "c": { "Ref": "P" } })
        );
    }
}
