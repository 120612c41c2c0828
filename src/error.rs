//! User-facing input errors: what is wrong, where (file, line, column, field), the bad value and
//! what is allowed. Every problem a user can fix by editing their input is an [`InputError`] and
//! exits with code 2.

use std::fmt;
use std::path::{Path, PathBuf};

/// A position in a user's file: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub column: u64,
}

impl From<serde_saphyr::Location> for Pos {
    fn from(l: serde_saphyr::Location) -> Self {
        Pos { line: l.line(), column: l.column() }
    }
}

/// A problem with the user's input (experiment file, data file, command line).
///
/// It exists so that every message has the same shape — `file:line:column: field: message` —
/// whichever layer found the problem, and so the CLI can map it to exit code 2.
#[derive(Debug, Clone, PartialEq)]
pub struct InputError {
    /// The file the problem is in, when there is one.
    pub file: Option<PathBuf>,
    /// Where in that file.
    pub pos: Option<Pos>,
    /// The field path (`runs[1].params.strength`) or column name.
    pub field: Option<String>,
    /// What is wrong, quoting the bad value and saying what is allowed.
    pub message: String,
    /// Optional snippet or hint printed under the message.
    pub detail: Option<String>,
}

impl InputError {
    pub fn new(message: impl Into<String>) -> Self {
        InputError { file: None, pos: None, field: None, message: message.into(), detail: None }
    }
    pub fn file(mut self, file: impl AsRef<Path>) -> Self {
        self.file = Some(file.as_ref().to_path_buf());
        self
    }
    pub fn at(mut self, pos: impl Into<Pos>) -> Self {
        self.pos = Some(pos.into());
        self
    }
    pub fn at_opt(mut self, pos: Option<Pos>) -> Self {
        if pos.is_some() {
            self.pos = pos;
        }
        self
    }
    pub fn field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }
    pub fn detail(mut self, detail: impl Into<String>) -> Self {
        self.detail = Some(detail.into());
        self
    }
}

impl fmt::Display for InputError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, &self.pos) {
            (Some(file), Some(p)) => write!(f, "{}:{}:{}: ", file.display(), p.line, p.column)?,
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some(p)) => write!(f, "line {}, column {}: ", p.line, p.column)?,
            (None, None) => {}
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(d) = &self.detail {
            write!(f, "\n{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputError {}

/// Several input errors found in one pass (a file is reported whole, not one error at a time).
#[derive(Debug, Clone)]
pub struct InputErrors(pub Vec<InputError>);

impl fmt::Display for InputErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "error: {e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for InputErrors {}

impl From<InputError> for InputErrors {
    fn from(e: InputError) -> Self {
        InputErrors(vec![e])
    }
}

/// The line at `pos` with its number and a caret under the column, for messages.
pub fn snippet(text: &str, pos: Pos) -> Option<String> {
    let line = text.lines().nth(pos.line.checked_sub(1)? as usize)?;
    let num = pos.line.to_string();
    let pad = " ".repeat(num.len());
    let col = line.chars().take(pos.column.saturating_sub(1) as usize).count();
    Some(format!("{pad} |\n{num} | {line}\n{pad} | {}^", " ".repeat(col)))
}

/// Quote a value the way messages show it.
pub fn quote(v: &str) -> String {
    format!("'{v}'")
}

/// A caught panic's message (its `&str` or `String` payload), for the error that reports it.
pub fn panic_text(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<&str>().map(|s| s.to_string()).or_else(|| p.downcast_ref::<String>().cloned()).unwrap_or_else(|| "a panic without a message".into())
}
