//! Reading experiment YAML: the parser's safety budget, and its errors turned into ratlab's
//! (position, field, the bad value, what is allowed).

use crate::error::{quote, snippet, InputError, Pos};
use std::path::Path;

/// Parse YAML with the parser's budget (nesting depth from `--limit yaml_depth`; its caps on
/// aliases, nodes and events defuse alias bombs) and duplicate keys refused.
pub fn parse_yaml<T: serde::de::DeserializeOwned>(text: &str) -> Result<T, serde_saphyr::Error> {
    let mut budget = serde_saphyr::Budget::default();
    budget.max_depth = crate::data::limits::get().yaml_depth;
    let mut options = serde_saphyr::Options::default();
    options.budget = Some(budget);
    serde_saphyr::from_str_with_options(text, options)
}

/// Turn a YAML/serde error into an [`InputError`] with its position, the field it is on,
/// the bad value, and what is allowed.
pub fn yaml_error(e: &serde_saphyr::Error, file: &Path, text: &str) -> InputError {
    let msg = e.without_snippet().to_string();
    // serde-saphyr prefixes "error: line L column C: "; the position is ours to print.
    let msg = match msg.find(": ") {
        Some(i) if msg.starts_with("error: line ") => msg[i + 2..].to_string(),
        _ => msg,
    };
    // …and some messages end with " at line L, column C".
    let msg = match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains("column") => msg[..i].to_string(),
        _ => msg,
    };
    let msg = msg.trim().to_string();
    let msg = match msg.as_str() {
        "unexpected end of input" if text.lines().all(|l| l.trim().is_empty() || l.trim_start().starts_with('#')) => "the file is empty; an experiment needs at least `name:` and `runs:`".to_string(),
        m if m.starts_with("duplicate mapping key: ") => {
            let key = m.trim_start_matches("duplicate mapping key: ").split(',').next().unwrap_or("").trim();
            format!("{} appears twice in the same map; give each field once", quote(key))
        }
        m if m.starts_with("budget breached: Depth") || m.contains("recursion limit exceeded") => {
            let limit = crate::data::limits::get().yaml_depth;
            crate::data::limits::exceeded("yaml_depth", "the file nests deeper than an experiment needs", limit)
        }
        m if m.starts_with("budget breached") => {
            let what = m.trim_start_matches("budget breached: ").split(" at line").next().unwrap_or("");
            format!("the file expands past the YAML parser's safety budget ({what}): aliases that multiply (an alias bomb) or a very large document; write the values out plainly")
        }
        m if m.starts_with("non-finite float `") => {
            let v = m.trim_start_matches("non-finite float `").split('`').next().unwrap_or("");
            format!("{} is not allowed; expected a finite number (infinities and NaN are not parameters)", quote(v))
        }
        _ => msg,
    };
    let mut err = InputError::new(msg.clone()).file(file);
    if let Some(loc) = e.location() {
        let pos = Pos::from(loc);
        let line = text.lines().nth(pos.line.saturating_sub(1) as usize).unwrap_or("");
        let col = (pos.column.saturating_sub(1) as usize).min(line.len());
        let value = line.get(col..).unwrap_or("").split(" #").next().unwrap_or("").trim();
        // Inside a flow collection ([a, b] or {k: v}) the value ends at the next separator.
        let in_flow = line.get(..col).is_some_and(|before| before.contains(['[', '{']));
        let value = if in_flow && !value.starts_with(['\'', '"', '[', '{']) { value.split([',', ']', '}']).next().unwrap_or(value).trim() } else { value };
        let key = line.get(..col).unwrap_or("").trim().trim_start_matches("- ").trim_end_matches(['[', '{', ' ', ',']).trim_end_matches(':').trim();
        let expected = match msg.as_str() {
            m if m.starts_with("invalid u64") || m.starts_with("invalid i64") => Some("a whole number ≥ 0"),
            m if m.starts_with("invalid f64") || m.starts_with("invalid floating") => Some("a number"),
            m if m.starts_with("invalid bool") => Some("true or false"),
            m if m.starts_with("expected string scalar") => Some("a single text value, not a list or map"),
            m if m.starts_with("expected sequence start") => Some("a list (`- item` lines, or [a, b])"),
            m if m.starts_with("expected mapping start") => Some("fields (`key: value` lines, or {key: value})"),
            _ => None,
        };
        if let Some(exp) = expected {
            err.message = format!("{} is not allowed; expected {exp}", quote(value));
        }
        if !key.is_empty() && !key.contains(' ') && expected.is_some() {
            err = err.field(key.to_string());
        }
        err = err.at(pos);
        if let Some(s) = snippet(text, pos) {
            err = err.detail(s);
        }
    }
    err
}
