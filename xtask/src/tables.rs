//! Reads the DynamoDB tables out of `template.yaml` and creates them through the SDK.
use std::path::PathBuf;

use anyhow::{Context, anyhow};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use serde_norway::Value;
use shared::config::TableNames;

pub fn template_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../template.yaml")
}

/// One `AWS::DynamoDB::Table` resource: its logical id and the parts DynamoDB Local needs.
#[derive(Debug, Clone, PartialEq)]
pub struct TableDef {
    pub logical_id: String,
    pub attributes: Vec<(String, String)>,
    pub key_schema: Vec<(String, String)>,
    pub indexes: Vec<IndexDef>,
    pub ttl_attribute: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct IndexDef {
    pub name: String,
    pub key_schema: Vec<(String, String)>,
    pub projection: String,
    pub non_key_attributes: Vec<String>,
}

fn text<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("missing {key}"))
}

fn pairs(v: Option<&Value>, a: &str, b: &str) -> anyhow::Result<Vec<(String, String)>> {
    v.and_then(Value::as_sequence)
        .map(|seq| {
            seq.iter()
                .map(|e| Ok((text(e, a)?.to_owned(), text(e, b)?.to_owned())))
                .collect()
        })
        .unwrap_or_else(|| Ok(Vec::new()))
}

pub fn from_template(template: &str) -> anyhow::Result<Vec<TableDef>> {
    let doc: Value = serde_norway::from_str(template).context("template.yaml is not YAML")?;
    let resources = doc
        .get("Resources")
        .and_then(Value::as_mapping)
        .context("no Resources")?;
    let mut defs = Vec::new();
    for (id, resource) in resources {
        if resource.get("Type").and_then(Value::as_str) != Some("AWS::DynamoDB::Table") {
            continue;
        }
        let logical_id = id.as_str().context("resource id")?.to_owned();
        let props = resource
            .get("Properties")
            .with_context(|| format!("{logical_id}: no Properties"))?;
        let indexes = props
            .get("GlobalSecondaryIndexes")
            .and_then(Value::as_sequence)
            .map(|seq| {
                seq.iter()
                    .map(|gsi| {
                        let projection = gsi.get("Projection").context("Projection")?;
                        Ok(IndexDef {
                            name: text(gsi, "IndexName")?.to_owned(),
                            key_schema: pairs(gsi.get("KeySchema"), "AttributeName", "KeyType")?,
                            projection: text(projection, "ProjectionType")?.to_owned(),
                            non_key_attributes: projection
                                .get("NonKeyAttributes")
                                .and_then(Value::as_sequence)
                                .map(|s| {
                                    s.iter()
                                        .filter_map(Value::as_str)
                                        .map(str::to_owned)
                                        .collect()
                                })
                                .unwrap_or_default(),
                        })
                    })
                    .collect::<anyhow::Result<Vec<_>>>()
            })
            .transpose()?
            .unwrap_or_default();
        let ttl_attribute = props
            .get("TimeToLiveSpecification")
            .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
            .map(|t| text(t, "AttributeName").map(str::to_owned))
            .transpose()?;
        defs.push(TableDef {
            attributes: pairs(
                props.get("AttributeDefinitions"),
                "AttributeName",
                "AttributeType",
            )?,
            key_schema: pairs(props.get("KeySchema"), "AttributeName", "KeyType")?,
            indexes,
            ttl_attribute,
            logical_id,
        });
    }
    Ok(defs)
}

pub fn local_client(endpoint: &str) -> Client {
    shared::state::dynamodb_client(Some(endpoint))
}

fn keys(schema: &[(String, String)]) -> anyhow::Result<Vec<KeySchemaElement>> {
    schema
        .iter()
        .map(|(name, kind)| {
            Ok(KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(KeyType::from(kind.as_str()))
                .build()?)
        })
        .collect()
}

/// Creates each table that does not exist yet; returns a line per table for the log.
pub async fn create_all(
    client: &Client,
    defs: &[TableDef],
    names: &TableNames,
) -> anyhow::Result<Vec<String>> {
    let existing = client
        .list_tables()
        .send()
        .await
        .context("listing tables")?
        .table_names
        .unwrap_or_default();
    let mut report = Vec::new();
    for def in defs {
        let name = names
            .for_resource(&def.logical_id)
            .with_context(|| format!("no table name setting for {}", def.logical_id))?;
        if existing.iter().any(|t| t == name) {
            report.push(format!("{name}: exists"));
            continue;
        }
        let mut request = client
            .create_table()
            .table_name(name)
            .billing_mode(BillingMode::PayPerRequest)
            .set_key_schema(Some(keys(&def.key_schema)?));
        for (attr, kind) in &def.attributes {
            request = request.attribute_definitions(
                AttributeDefinition::builder()
                    .attribute_name(attr)
                    .attribute_type(ScalarAttributeType::from(kind.as_str()))
                    .build()?,
            );
        }
        for index in &def.indexes {
            let projection = Projection::builder()
                .projection_type(ProjectionType::from(index.projection.as_str()))
                .set_non_key_attributes(
                    (!index.non_key_attributes.is_empty())
                        .then(|| index.non_key_attributes.clone()),
                )
                .build();
            request = request.global_secondary_indexes(
                GlobalSecondaryIndex::builder()
                    .index_name(&index.name)
                    .set_key_schema(Some(keys(&index.key_schema)?))
                    .projection(projection)
                    .build()?,
            );
        }
        request
            .send()
            .await
            .with_context(|| format!("creating {name}"))?;
        if let Some(attr) = &def.ttl_attribute {
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(
                    TimeToLiveSpecification::builder()
                        .attribute_name(attr)
                        .enabled(true)
                        .build()?,
                )
                .send()
                .await
                .with_context(|| format!("enabling TTL on {name}"))?;
        }
        report.push(format!("{name}: created"));
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_defines_the_three_tables_with_their_keys_and_indexes() {
        let defs = from_template(&std::fs::read_to_string(template_path()).unwrap()).unwrap();
        let ids: Vec<&str> = defs.iter().map(|d| d.logical_id.as_str()).collect();
        assert_eq!(ids, ["UsersTable", "UniquesTable", "OtpTable"]);
        let users = &defs[0];
        let index_names: Vec<&str> = users.indexes.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(
            index_names,
            [
                "phone-index",
                "invite-code-index",
                shared::store::REFERRER_INDEX
            ]
        );
        assert_eq!(users.indexes[2].non_key_attributes, ["phone"]);
        assert_eq!(defs[2].ttl_attribute.as_deref(), Some("ttl"));
        assert_eq!(defs[1].key_schema, [("key".to_owned(), "HASH".to_owned())]);
    }

    /// Reads a table back from DynamoDB in the same shape as a [`TableDef`].
    async fn described(client: &Client, name: &str, logical_id: &str) -> TableDef {
        let table = client
            .describe_table()
            .table_name(name)
            .send()
            .await
            .unwrap()
            .table
            .unwrap();
        let pairs = |ks: &[KeySchemaElement]| {
            ks.iter()
                .map(|k| {
                    (
                        k.attribute_name().to_owned(),
                        k.key_type().as_str().to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        };
        let mut attributes: Vec<(String, String)> = table
            .attribute_definitions()
            .iter()
            .map(|a| {
                (
                    a.attribute_name().to_owned(),
                    a.attribute_type().as_str().to_owned(),
                )
            })
            .collect();
        attributes.sort();
        let indexes = table
            .global_secondary_indexes()
            .iter()
            .map(|g| {
                let p = g.projection().unwrap();
                IndexDef {
                    name: g.index_name().unwrap().to_owned(),
                    key_schema: pairs(g.key_schema()),
                    projection: p.projection_type().unwrap().as_str().to_owned(),
                    non_key_attributes: p.non_key_attributes().to_vec(),
                }
            })
            .collect();
        let ttl = client
            .describe_time_to_live()
            .table_name(name)
            .send()
            .await
            .unwrap();
        let ttl_attribute = ttl
            .time_to_live_description()
            .filter(|d| {
                d.time_to_live_status()
                    .is_some_and(|s| s.as_str() == "ENABLED")
            })
            .and_then(|d| d.attribute_name().map(str::to_owned));
        TableDef {
            logical_id: logical_id.to_owned(),
            attributes,
            key_schema: pairs(table.key_schema()),
            indexes,
            ttl_attribute,
        }
    }

    #[tokio::test]
    async fn the_local_tables_are_the_ones_template_yaml_defines() {
        let endpoint = std::env::var("DYNAMODB_ENDPOINT")
            .expect("DYNAMODB_ENDPOINT is not set: run the tests with `make test`, which starts DynamoDB Local");
        let client = local_client(&endpoint);
        let names = TableNames::from_lookup(|k| std::env::var(k).ok());
        let defs = from_template(&std::fs::read_to_string(template_path()).unwrap()).unwrap();
        for def in defs {
            let mut expected = def.clone();
            expected.attributes.sort();
            let mut actual = described(
                &client,
                names.for_resource(&def.logical_id).unwrap(),
                &def.logical_id,
            )
            .await;
            let by_name = |a: &IndexDef, b: &IndexDef| a.name.cmp(&b.name);
            expected.indexes.sort_by(by_name);
            actual.indexes.sort_by(by_name);
            assert_eq!(actual, expected);
        }
    }
}
