//! `--set KEY=VALUE` overrides: a dotted path into the experiment document
//! (`runs.1.params.strength=0.1`, or a run by name: `runs.map-gaussian.params.strength=0.1`),
//! with VALUE read as YAML (`0.1`, `true`, `[10, 20]`, `gaussian`).

use crate::error::{quote, InputError};
use serde_json::{Map, Value};

/// Apply one `KEY=VALUE` override to a document.
pub fn apply(doc: &mut Value, set: &str) -> Result<(), InputError> {
    let field = format!("--set {set}");
    let Some((key, raw)) = set.split_once('=') else {
        return Err(InputError::new("expected KEY=VALUE, e.g. runs.1.params.strength=0.1").field(field));
    };
    let key = key.trim();
    if key.is_empty() || key.split('.').any(str::is_empty) {
        return Err(InputError::new(format!("{} is not a valid path; use dots between fields, e.g. runs.0.params.strength", quote(key))).field(field));
    }
    let value: Value = if raw.trim().is_empty() {
        Value::String(String::new())
    } else {
        serde_saphyr::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_string()))
    };
    let segs: Vec<&str> = key.split('.').collect();
    let mut cur = doc;
    for (i, seg) in segs.iter().enumerate() {
        let last = i + 1 == segs.len();
        let so_far = segs[..=i].join(".");
        cur = match cur {
            Value::Object(m) => {
                if last {
                    m.insert(seg.to_string(), value);
                    return Ok(());
                }
                m.entry(seg.to_string()).or_insert_with(|| Value::Object(Map::new()))
            }
            Value::Array(a) => {
                let idx = match seg.parse::<usize>() {
                    Ok(n) if n < a.len() => n,
                    Ok(n) => {
                        return Err(InputError::new(format!("{so_far}: index {n} is out of range; the list has {} item(s) (0-based)", a.len())).field(field))
                    }
                    Err(_) => a
                        .iter()
                        .position(|v| v.get("name").and_then(Value::as_str) == Some(seg))
                        .ok_or_else(|| {
                            let names: Vec<String> = a.iter().filter_map(|v| v.get("name").and_then(Value::as_str)).map(quote).collect();
                            InputError::new(format!("{so_far}: no item named {}; names: {}", quote(seg), names.join(", "))).field(field.clone())
                        })?,
                };
                if last {
                    a[idx] = value;
                    return Ok(());
                }
                &mut a[idx]
            }
            other => {
                return Err(InputError::new(format!(
                    "{} is {}, which has no field {}",
                    segs[..i].join("."),
                    match other {
                        Value::Null => "empty".to_string(),
                        v => format!("the value {v}"),
                    },
                    quote(seg)
                ))
                .field(field))
            }
        };
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn sets_by_index_by_name_and_creates_missing_maps() {
        let mut d = json!({"runs": [{"name": "a", "params": {"strength": 1.0}}, {"name": "b"}]});
        apply(&mut d, "runs.0.params.strength=0.1").unwrap();
        apply(&mut d, "runs.b.params.prior=gaussian").unwrap();
        apply(&mut d, "seed=7").unwrap();
        assert_eq!(d["runs"][0]["params"]["strength"], json!(0.1));
        assert_eq!(d["runs"][1]["params"]["prior"], json!("gaussian"));
        assert_eq!(d["seed"], json!(7));
    }

    #[test]
    fn bad_paths_say_what_exists() {
        let mut d = json!({"runs": [{"name": "a"}]});
        let e = apply(&mut d, "runs.3.params.x=1").unwrap_err().to_string();
        assert!(e.contains("out of range") && e.contains("1 item"), "{e}");
        let e = apply(&mut d, "runs.zz.x=1").unwrap_err().to_string();
        assert!(e.contains("'zz'") && e.contains("'a'"), "{e}");
        assert!(apply(&mut d, "novalue").is_err());
    }
}
