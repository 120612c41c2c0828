//! Resource limits on what ratlab reads and runs. Inputs past a limit are refused up front,
//! before anything trains, with a message that names the limit and how to raise it
//! (`--limit NAME=N`, which every command takes).

use std::sync::RwLock;

/// The limits in force. Defaults fit any dataset and experiment this tool is for on one
/// machine; a bigger one is a deliberate `--limit` away.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Rows of a data file (training or test).
    pub rows: usize,
    /// Columns of a data file.
    pub columns: usize,
    /// Classes of a classification target.
    pub classes: usize,
    /// Bytes of an experiment file.
    pub yaml_bytes: usize,
    /// Nesting depth of an experiment file.
    pub yaml_depth: usize,
    /// Tokens one `ratlab generate` may produce.
    pub tokens: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits { rows: 50_000_000, columns: 100_000, classes: 1_000, yaml_bytes: 10 << 20, yaml_depth: 64, tokens: 100_000 }
    }
}

/// The names `--limit` takes, with what each bounds.
pub const NAMES: [(&str, &str); 6] = [
    ("rows", "rows per data file"),
    ("columns", "columns per data file"),
    ("classes", "classes per target"),
    ("yaml_bytes", "bytes per experiment file"),
    ("yaml_depth", "nesting levels per experiment file"),
    ("tokens", "tokens per generate call"),
];

static CURRENT: RwLock<Option<Limits>> = RwLock::new(None);

/// The limits in force (the defaults unless `--limit` changed them).
pub fn get() -> Limits {
    CURRENT.read().ok().and_then(|l| *l).unwrap_or_default()
}

/// Set the limits in force for this process.
pub fn set(l: Limits) {
    if let Ok(mut c) = CURRENT.write() {
        *c = Some(l);
    }
}

impl Limits {
    /// Apply one `NAME=N` assignment; the error says what is allowed.
    pub fn assign(&mut self, text: &str) -> Result<(), String> {
        let names = NAMES.iter().map(|(n, _)| *n).collect::<Vec<_>>().join(", ");
        let (name, value) = text.split_once('=').ok_or_else(|| format!("'{text}' is not NAME=N; limits: {names}"))?;
        let n: usize = value.trim().replace('_', "").parse().ok().filter(|n| *n > 0).ok_or_else(|| format!("'{value}' is not a whole number ≥ 1 (in --limit {text})"))?;
        let slot = match name.trim() {
            "rows" => &mut self.rows,
            "columns" => &mut self.columns,
            "classes" => &mut self.classes,
            "yaml_bytes" => &mut self.yaml_bytes,
            "yaml_depth" => &mut self.yaml_depth,
            "tokens" => &mut self.tokens,
            other => return Err(format!("unknown limit '{other}'; limits: {names}")),
        };
        *slot = n;
        Ok(())
    }
}

/// The message for `what` (e.g. "the file has 12,000 classes") past limit `name`.
pub fn exceeded(name: &str, what: &str, limit: usize) -> String {
    format!("{what}, more than the limit of {limit} {}; raise it with --limit {name}=N if this is intended", describe(name))
}

fn describe(name: &str) -> &'static str {
    NAMES.iter().find(|(n, _)| *n == name).map_or("", |(_, d)| d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assignments_change_one_limit_and_bad_ones_say_what_is_allowed() {
        let mut l = Limits::default();
        l.assign("classes=5_000").unwrap();
        assert_eq!(l, Limits { classes: 5000, ..Limits::default() });
        assert!(l.assign("clases=3").unwrap_err().contains("unknown limit 'clases'; limits: rows, columns, classes"));
        assert!(l.assign("rows=-1").unwrap_err().contains("not a whole number"));
        assert!(l.assign("rows").unwrap_err().contains("is not NAME=N"));
        assert_eq!(exceeded("classes", "target 'y' has 10001 classes", 1000), "target 'y' has 10001 classes, more than the limit of 1000 classes per target; raise it with --limit classes=N if this is intended");
    }
}
