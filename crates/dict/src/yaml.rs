//! YAML documents read as JSON values (policy files, device-detector's lists, browser
//! signature files).

use saphyr::{LoadableYamlNode, ScalarOwned, YamlOwned};
use serde_json::{Map, Number, Value};

/// Parses the first document of `text`; `Null` for an empty file. The error gives the
/// line and column.
pub(crate) fn to_json(text: &str) -> Result<Value, String> {
    Ok(documents(text)?.into_iter().next().unwrap_or(Value::Null))
}

/// Every document of a multi-document YAML text (`---` separated), as JSON values. Tags
/// are dropped (`!!binary` data stays its base64 text). The error gives the line and
/// column.
pub fn documents(text: &str) -> Result<Vec<Value>, String> {
    let docs = YamlOwned::load_from_str(text).map_err(|e| e.to_string())?;
    Ok(docs.into_iter().map(convert).collect())
}

fn scalar(s: ScalarOwned) -> Value {
    match s {
        ScalarOwned::Null => Value::Null,
        ScalarOwned::Boolean(b) => Value::Bool(b),
        ScalarOwned::Integer(i) => Value::Number(i.into()),
        ScalarOwned::FloatingPoint(f) => {
            Number::from_f64(f.into_inner()).map_or(Value::Null, Value::Number)
        }
        ScalarOwned::String(s) => Value::String(s),
    }
}

fn key(k: YamlOwned) -> String {
    match convert(k) {
        Value::String(s) => s,
        other => other.to_string(),
    }
}

fn convert(y: YamlOwned) -> Value {
    match y {
        YamlOwned::Value(s) => scalar(s),
        YamlOwned::Representation(s, _, _) => Value::String(s),
        YamlOwned::Sequence(items) => Value::Array(items.into_iter().map(convert).collect()),
        YamlOwned::Mapping(m) => {
            let mut out = Map::new();
            for (k, v) in m {
                out.insert(key(k), convert(v));
            }
            Value::Object(out)
        }
        YamlOwned::Tagged(_, inner) => convert(*inner),
        YamlOwned::Alias(_) | YamlOwned::BadValue => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::to_json;

    #[test]
    fn block_scalars_lists_and_numbers() {
        let v = to_json(
            "- name: x\n  user_agent_regex: >-\n    Mozilla|Opera\n  asns:\n    match:\n      - 13335 # c\n  remote_addresses: [\"10.0.0.0/8\", 2001:db8::/32]\n",
        )
        .unwrap();
        assert_eq!(v[0]["user_agent_regex"], "Mozilla|Opera");
        assert_eq!(v[0]["asns"]["match"][0], 13335);
        assert_eq!(v[0]["remote_addresses"][1], "2001:db8::/32");
        assert!(to_json("a: [unclosed").is_err());
    }
}
