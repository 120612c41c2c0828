//! A search's space: the values of one searched parameter (a list, or a distribution to draw
//! from), and setting a trial's value into its parameters, also a field inside one
//! (`lora.rank`).

use crate::backends::params::{self, check_value, ParamMap};
use crate::error::quote;
use serde_json::Value;

/// One searched parameter's values: a list, or a distribution random search draws from.
#[derive(Debug, Clone, PartialEq)]
pub enum Dim {
    List(Vec<Value>),
    Uniform(f64, f64),
    LogUniform(f64, f64),
    Int(i64, i64),
}

impl Dim {
    pub(super) fn draw(&self, int: bool, rng: &mut impl rand::Rng) -> Value {
        let num = |x: f64| if int { Value::from(x.round() as i64) } else { Value::from(x) };
        match self {
            Dim::List(v) => v[rng.gen_range(0..v.len())].clone(),
            Dim::Uniform(a, b) => num(a + (b - a) * rng.gen::<f64>()),
            Dim::LogUniform(a, b) => num((a.ln() + (b.ln() - a.ln()) * rng.gen::<f64>()).exp()),
            Dim::Int(a, b) => Value::from(rng.gen_range(*a..=*b)),
        }
    }
}

/// Whether a searched key takes whole numbers: an integer parameter, or (for a field inside
/// one, as `lora.rank`) an `{int: [a, b]}` range or a list of whole numbers.
pub(super) fn dim_is_int(key: &str, d: &params::ParamDef, dim: &Dim) -> bool {
    if key.contains('.') {
        match dim {
            Dim::Int(..) => true,
            Dim::List(v) => v.iter().all(|x| x.is_i64() || x.is_u64()),
            _ => false,
        }
    } else {
        matches!(d.kind, params::ParamKind::Int { .. })
    }
}

/// The value at a dotted path inside a JSON object.
pub(super) fn json_path<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.as_object()?.get(k))
}

/// `base` (an object, or nothing) with `value` set at a dotted path, objects made on the way.
pub(super) fn with_path(base: Option<&Value>, path: &str, value: Value) -> Value {
    let mut root = match base {
        Some(Value::Object(o)) => Value::Object(o.clone()),
        _ => Value::Object(Default::default()),
    };
    let mut at = &mut root;
    let keys: Vec<&str> = path.split('.').collect();
    for (n, k) in keys.iter().enumerate() {
        if !at.is_object() {
            *at = Value::Object(Default::default());
        }
        let Value::Object(o) = at else { unreachable!("made an object above") };
        if n + 1 == keys.len() {
            o.insert((*k).to_string(), value);
            break;
        }
        at = o.entry((*k).to_string()).or_insert_with(|| Value::Object(Default::default()));
    }
    root
}

/// Put a trial's value for searched key `k` into its checked parameters: the parameter itself,
/// or a field inside an object-valued one (`lora.rank`), merged with what is already set.
pub(super) fn set_searched(m: &mut ParamMap, d: &params::ParamDef, k: &str, v: &Value) -> Result<(), String> {
    match k.split_once('.') {
        None => {
            m.insert(k.to_string(), check_value(d, v)?);
        }
        Some((head, path)) => {
            let base = m.get(head).map(params::ParamValue::to_json);
            let merged = with_path(base.as_ref(), path, v.clone());
            m.insert(head.to_string(), check_value(d, &merged)?);
        }
    }
    Ok(())
}

/// Read a `space` entry: a non-empty list of valid values, or `{uniform|log_uniform|int: [a, b]}`
/// with valid bounds.
pub(super) fn parse_dim(d: &params::ParamDef, v: &Value, field: bool, check: &dyn Fn(&Value) -> Result<params::ParamValue, String>) -> Result<Dim, String> {
    const FORMS: &str = "a list of values, or one of {uniform: [a, b]}, {log_uniform: [a, b]}, {int: [a, b]}";
    match v {
        Value::Array(a) if a.is_empty() => Err("is empty; list the values to try".into()),
        Value::Array(a) => {
            for (j, x) in a.iter().enumerate() {
                check(x).map_err(|m| format!("value {} ({}): {m}", j + 1, crate::backends::params::show(x)))?;
            }
            Ok(Dim::List(a.clone()))
        }
        Value::Object(o) if o.len() == 1 => {
            let (kind, b) = o.iter().next().ok_or_else(|| FORMS.to_string())?;
            let pair = b.as_array().filter(|p| p.len() == 2).ok_or_else(|| format!("{kind} takes two bounds: {{{kind}: [a, b]}}"))?;
            let int = !field && matches!(d.kind, params::ParamKind::Int { .. });
            for x in pair {
                check(&if int && kind != "int" { Value::from(x.as_f64().unwrap_or(f64::NAN).round() as i64) } else { x.clone() })
                    .map_err(|m| format!("bound {}: {m}", crate::backends::params::show(x)))?;
            }
            match kind.as_str() {
                "int" => {
                    let (Some(a), Some(b)) = (pair[0].as_i64(), pair[1].as_i64()) else {
                        return Err("int takes two whole numbers: {int: [1, 10]}".into());
                    };
                    if a > b {
                        return Err(format!("int bounds must be in order; got [{a}, {b}]"));
                    }
                    Ok(Dim::Int(a, b))
                }
                "uniform" | "log_uniform" => {
                    let (Some(a), Some(b)) = (pair[0].as_f64(), pair[1].as_f64()) else {
                        return Err(format!("{kind} takes two numbers: {{{kind}: [0.1, 1.0]}}"));
                    };
                    if a >= b {
                        return Err(format!("{kind} bounds must be increasing; got [{a}, {b}]"));
                    }
                    if kind == "log_uniform" {
                        if a <= 0.0 {
                            return Err(format!("log_uniform needs positive bounds; got [{a}, {b}]"));
                        }
                        Ok(Dim::LogUniform(a, b))
                    } else {
                        Ok(Dim::Uniform(a, b))
                    }
                }
                other => Err(format!("unknown distribution {}; expected {FORMS}", quote(other))),
            }
        }
        _ => Err(format!("{} is not allowed; expected {FORMS}", crate::backends::params::show(v))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backends::params::{defs, ParamValue};
    use crate::backends::Algorithm;
    use serde_json::json;

    fn def(algorithm: Algorithm, name: &str) -> &'static params::ParamDef {
        defs(algorithm).iter().find(|d| d.name == name).unwrap()
    }

    #[test]
    fn a_dotted_path_is_read_and_set_inside_nested_objects() {
        let lora = json!({"rank": 8, "alpha": 16.0});
        assert_eq!(json_path(&lora, "rank"), Some(&json!(8)));
        assert_eq!(json_path(&lora, "rank.deeper"), None);
        assert_eq!(with_path(Some(&lora), "rank", json!(4)), json!({"rank": 4, "alpha": 16.0}));
        assert_eq!(with_path(None, "a.b", json!(1)), json!({"a": {"b": 1}}));
        assert_eq!(with_path(Some(&json!("none")), "rank", json!(2)), json!({"rank": 2}), "a word becomes an object");
    }

    #[test]
    fn a_searched_field_merges_into_what_its_parameter_already_sets() {
        let d = def(Algorithm::Transformer, "lora");
        let mut m = ParamMap::new();
        m.insert("lora".into(), check_value(d, &json!({"rank": 8, "targets": ["q", "v", "o"]})).unwrap());
        set_searched(&mut m, d, "lora.rank", &json!(16)).unwrap();
        let Some(ParamValue::Lora(Some(l))) = m.get("lora") else { panic!("lora is set") };
        assert_eq!((l.rank, l.targets.clone()), (16, vec!["q".to_string(), "v".into(), "o".into()]));
        assert!(set_searched(&mut m, d, "lora.rank", &json!(0)).unwrap_err().contains("lora.rank"), "the merged value is checked");
    }

    #[test]
    fn a_space_entry_is_a_list_or_a_distribution_with_valid_bounds() {
        let d = def(Algorithm::GradientBoosting, "learning_rate");
        let check = |v: &Value| check_value(d, v);
        assert_eq!(parse_dim(d, &json!([0.1, 0.3]), false, &check), Ok(Dim::List(vec![json!(0.1), json!(0.3)])));
        assert_eq!(parse_dim(d, &json!({"log_uniform": [0.01, 0.5]}), false, &check), Ok(Dim::LogUniform(0.01, 0.5)));
        assert!(parse_dim(d, &json!([]), false, &check).unwrap_err().contains("empty"));
        assert!(parse_dim(d, &json!([0.1, -2.0]), false, &check).unwrap_err().starts_with("value 2 (-2.0)"));
        assert!(parse_dim(d, &json!({"uniform": [0.5, 0.1]}), false, &check).unwrap_err().contains("increasing"));
        assert!(parse_dim(d, &json!({"normal": [0.1, 0.5]}), false, &check).unwrap_err().contains("unknown distribution 'normal'"));
        let depth = def(Algorithm::GradientBoosting, "max_depth");
        let check = |v: &Value| check_value(depth, v);
        assert_eq!(parse_dim(depth, &json!({"int": [2, 8]}), false, &check), Ok(Dim::Int(2, 8)));
        assert!(dim_is_int("max_depth", depth, &Dim::Uniform(2.0, 8.0)), "an integer parameter draws whole numbers");
    }

    #[test]
    fn draws_stay_inside_their_distribution_and_whole_where_asked() {
        let mut rng = crate::data::split::rng(1);
        for _ in 0..200 {
            let v = Dim::LogUniform(0.01, 0.5).draw(false, &mut rng).as_f64().unwrap();
            assert!((0.01..=0.5).contains(&v));
            let k = Dim::Uniform(2.0, 8.0).draw(true, &mut rng);
            assert!(k.as_i64().is_some_and(|k| (2..=8).contains(&k)), "{k}");
        }
    }
}
