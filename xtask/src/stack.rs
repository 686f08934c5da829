//! The API stack as CloudFormation creates it, for the template tests: `template.yaml` with its
//! `Fn::ForEach` loops expanded (AWS::LanguageExtensions), and the resources and conditions of
//! each nested stack with a local template (`monitoring.yaml`) merged in, every nested parameter
//! read as what `template.yaml` passes in it. The tests then check one document, whichever file
//! a resource is written in.
use anyhow::{Context, bail};
use serde_norway::value::{Tag, TaggedValue};
use serde_norway::{Mapping, Value};

use crate::root_file;

/// The effective template, parsed.
pub(crate) fn template() -> Value {
    effective(&root_file("template.yaml"), root_file).unwrap()
}

/// The effective template as YAML text, for the readers in `template.rs` that take text.
pub(crate) fn template_text() -> String {
    serde_norway::to_string(&template()).unwrap()
}

/// `text` with its loops expanded and its local nested stacks merged in; `read` reads a nested
/// template by its `Location`.
pub(crate) fn effective(text: &str, read: impl Fn(&str) -> String) -> anyhow::Result<Value> {
    let mut doc = expanded(serde_norway::from_str(text)?)?;
    let nested: Vec<(String, Value)> = doc["Resources"]
        .as_mapping()
        .context("no Resources")?
        .iter()
        .filter(|(_, r)| r["Type"].as_str() == Some("AWS::Serverless::Application"))
        .map(|(id, r)| (id.as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect();
    for (id, app) in nested {
        let props = &app["Properties"];
        let Some(location) = props["Location"].as_str() else {
            bail!("{id}: only a local Location is read");
        };
        let child = expanded(serde_norway::from_str(&read(location))?)?;
        let passed = props["Parameters"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        let declared = child["Parameters"]
            .as_mapping()
            .cloned()
            .unwrap_or_default();
        let mut renames = Vec::new();
        for (name, spec) in &declared {
            let name = name.as_str().context("parameter name")?;
            match passed.get(name) {
                Some(Value::Tagged(t)) if tag(t) == "Ref" => {
                    let to = t.value.as_str().context("Ref")?.to_owned();
                    renames.push((name.to_owned(), to));
                }
                Some(other) => bail!("{id} passes {name} as {other:?}: pass a !Ref"),
                None if spec.get("Default").is_some() => {}
                None => bail!("{id} does not pass {name}"),
            }
        }
        for name in passed.keys() {
            if !declared.contains_key(name) {
                bail!("{id} passes {name:?}, which {location} does not declare");
            }
        }
        let child = renamed(child, &renames);
        for section in ["Resources", "Conditions"] {
            let into = doc
                .as_mapping_mut()
                .context("a mapping")?
                .entry(section.into())
                .or_insert_with(|| Value::Mapping(Mapping::new()))
                .as_mapping_mut()
                .context(section)?;
            for (key, value) in child[section].as_mapping().into_iter().flatten() {
                if into.insert(key.clone(), value.clone()).is_some() {
                    bail!("{key:?} is in both template.yaml and {location}");
                }
            }
        }
    }
    Ok(doc)
}

fn tag(t: &TaggedValue) -> String {
    t.tag.to_string().trim_start_matches('!').to_owned()
}

fn tagged(name: &str, value: Value) -> Value {
    Value::Tagged(Box::new(TaggedValue {
        tag: Tag::new(name),
        value,
    }))
}

/// The document with each `Fn::ForEach::*` entry of its Resources, Conditions and Outputs
/// expanded, then `!FindInMap` of literal keys and `!Sub` of literal variables resolved (so an
/// expanded alarm reads as if written out by hand).
fn expanded(mut doc: Value) -> anyhow::Result<Value> {
    let mappings = doc["Mappings"].clone();
    for section in ["Resources", "Conditions", "Outputs"] {
        let Some(entries) = doc.get_mut(section).and_then(Value::as_mapping_mut) else {
            continue;
        };
        let mut out = Mapping::new();
        for (key, value) in std::mem::take(entries) {
            let name = key.as_str().unwrap_or_default();
            if !name.starts_with("Fn::ForEach::") {
                out.insert(key, value);
                continue;
            }
            let [ident, Value::Sequence(items), Value::Mapping(body)] =
                value.as_sequence().map(Vec::as_slice).unwrap_or_default()
            else {
                bail!("{name}: [identifier, [values], {{key: template}}]");
            };
            let ident = ident.as_str().context("identifier")?;
            for item in items {
                let item = item.as_str().context("ForEach values are strings")?;
                for (k, v) in body {
                    let k = substituted(k, ident, item);
                    if out.insert(k.clone(), substituted(v, ident, item)).is_some() {
                        bail!("{name} makes {k:?} twice");
                    }
                }
            }
        }
        *entries = out;
    }
    resolved(&mut doc, &mappings);
    Ok(doc)
}

/// `${ident}` and `&{ident}` replaced by `item` in every string, and `!Ref ident` by `item`.
fn substituted(v: &Value, ident: &str, item: &str) -> Value {
    let alnum: String = item.chars().filter(char::is_ascii_alphanumeric).collect();
    let text = |s: &str| {
        s.replace(&format!("${{{ident}}}"), item)
            .replace(&format!("&{{{ident}}}"), &alnum)
    };
    match v {
        Value::String(s) => Value::String(text(s)),
        Value::Sequence(items) => {
            Value::Sequence(items.iter().map(|i| substituted(i, ident, item)).collect())
        }
        Value::Mapping(m) => Value::Mapping(
            m.iter()
                .map(|(k, v)| (substituted(k, ident, item), substituted(v, ident, item)))
                .collect(),
        ),
        Value::Tagged(t) if tag(t) == "Ref" && t.value.as_str() == Some(ident) => {
            Value::String(item.to_owned())
        }
        Value::Tagged(t) => Value::Tagged(Box::new(TaggedValue {
            tag: t.tag.clone(),
            value: substituted(&t.value, ident, item),
        })),
        other => other.clone(),
    }
}

/// `!FindInMap` with literal keys looked up; `!Sub [text, {literal variables}]` substituted, a
/// plain string when nothing is left to substitute; `!Sub "${X}"` written as `!Ref X`.
fn resolved(v: &mut Value, mappings: &Value) {
    match v {
        Value::Sequence(items) => items.iter_mut().for_each(|i| resolved(i, mappings)),
        Value::Mapping(m) => m.values_mut().for_each(|i| resolved(i, mappings)),
        Value::Tagged(t) => {
            resolved(&mut t.value, mappings);
            let name = tag(t);
            if name == "FindInMap"
                && let Some([map, key, field]) = t.value.as_sequence().map(Vec::as_slice)
                && let (Some(map), Some(key), Some(field)) =
                    (map.as_str(), key.as_str(), field.as_str())
                && let Some(found) = mappings
                    .get(map)
                    .and_then(|m| m.get(key))
                    .and_then(|k| k.get(field))
            {
                *v = found.clone();
                return;
            }
            if name != "Sub" {
                return;
            }
            let text = match &t.value {
                Value::String(s) => s.clone(),
                Value::Sequence(parts) => {
                    let [Value::String(text), Value::Mapping(vars)] = parts.as_slice() else {
                        return;
                    };
                    let mut text = text.clone();
                    for (name, value) in vars {
                        let (Some(name), Some(value)) = (name.as_str(), value.as_str()) else {
                            return;
                        };
                        text = text.replace(&format!("${{{name}}}"), value);
                    }
                    text
                }
                _ => return,
            };
            let single = text
                .strip_prefix("${")
                .and_then(|s| s.strip_suffix('}'))
                .filter(|s| !s.contains(['$', '{', '}', '.']));
            *v = match single {
                Some(name) => tagged("Ref", Value::String(name.to_owned())),
                None if !text.contains("${") => Value::String(text),
                None => tagged("Sub", Value::String(text)),
            };
        }
        _ => {}
    }
}

/// Each nested parameter `from` read as the parent's `to`: in `!Ref` and in `${...}` of `!Sub`.
fn renamed(mut doc: Value, renames: &[(String, String)]) -> Value {
    fn walk(v: &mut Value, renames: &[(String, String)]) {
        match v {
            Value::Sequence(items) => items.iter_mut().for_each(|i| walk(i, renames)),
            Value::Mapping(m) => m.values_mut().for_each(|i| walk(i, renames)),
            Value::Tagged(t) => {
                let name = tag(t);
                match (&mut t.value, name.as_str()) {
                    (Value::String(s), "Ref") => {
                        if let Some((_, to)) = renames.iter().find(|(from, _)| from == s) {
                            *s = to.clone();
                        }
                    }
                    (Value::String(s), "Sub") => {
                        for (from, to) in renames {
                            *s = s.replace(&format!("${{{from}}}"), &format!("${{{to}}}"));
                        }
                    }
                    (inner, _) => walk(inner, renames),
                }
            }
            _ => {}
        }
    }
    for section in ["Resources", "Conditions"] {
        if let Some(s) = doc.get_mut(section) {
            walk(s, renames);
        }
    }
    doc
}

#[cfg(test)]
mod tests {
    use super::*;

    const PARENT: &str = "
Resources:
  Fn::ForEach::Logs:
    - F
    - [One, Two]
    - ${F}Logs: { Type: AWS::Logs::LogGroup, Properties: { Name: !Sub \"${AWS::StackName}-${F}\" } }
  Child:
    Type: AWS::Serverless::Application
    Properties:
      Location: child.yaml
      Parameters: { StackName: !Ref AWS::StackName, OneFunction: !Ref OneFunction }
";
    const CHILD: &str = "
Parameters:
  StackName: { Type: String }
  OneFunction: { Type: String }
Mappings:
  Names: { One: { Name: one } }
Conditions:
  Always: !Equals [a, a]
Resources:
  Fn::ForEach::Alarms:
    - F
    - [One]
    - ${F}Alarm:
        Type: AWS::CloudWatch::Alarm
        Properties:
          AlarmName: !Sub [\"${StackName}-${Name}\", { Name: !FindInMap [Names, !Ref F, Name] }]
          AlarmDescription: !Sub [\"${Name} alarm\", { Name: !FindInMap [Names, !Ref F, Name] }]
          Dimensions: [{ Name: FunctionName, Value: !Sub \"${${F}Function}\" }]
";

    fn parsed(text: &str) -> Value {
        serde_norway::from_str(text).unwrap()
    }

    #[test]
    fn loops_expand_and_a_nested_parameter_reads_as_what_the_parent_passes() {
        let doc = effective(PARENT, |_| CHILD.to_owned()).unwrap();
        let r = &doc["Resources"];
        assert_eq!(
            r["TwoLogs"]["Properties"]["Name"],
            parsed("!Sub \"${AWS::StackName}-Two\"")
        );
        let alarm = &r["OneAlarm"]["Properties"];
        assert_eq!(alarm["AlarmName"], parsed("!Sub \"${AWS::StackName}-one\""));
        assert_eq!(alarm["AlarmDescription"].as_str(), Some("one alarm"));
        assert_eq!(alarm["Dimensions"][0]["Value"], parsed("!Ref OneFunction"));
        assert!(doc["Conditions"].get("Always").is_some());
        assert!(r.get("Fn::ForEach::Logs").is_none());
    }

    #[test]
    fn a_nested_parameter_passed_other_than_by_ref_or_not_declared_is_refused() {
        let literal = PARENT.replace("OneFunction: !Ref OneFunction", "OneFunction: x");
        assert!(effective(&literal, |_| CHILD.to_owned()).is_err());
        let undeclared = PARENT.replace("OneFunction: !Ref OneFunction", "Other: !Ref X");
        assert!(effective(&undeclared, |_| CHILD.to_owned()).is_err());
    }
}
