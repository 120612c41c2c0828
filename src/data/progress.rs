//! How far reading a large file has got (`data.chunk_rows`): readers report the rows read, and
//! whoever shows progress (the command line, on a terminal) installs a hook once.

use std::sync::OnceLock;

/// `hook(file, Some(rows read so far))`, then `hook(file, None)` when the file is read.
type Hook = Box<dyn Fn(&str, Option<usize>) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Show progress with `hook`; the first hook installed stays.
pub fn install(hook: Hook) {
    let _ = HOOK.set(hook);
}

/// `rows` rows of `file` are read (a running count; a reader calls this after each chunk).
pub fn rows_read(file: &str, rows: usize) {
    if let Some(h) = HOOK.get() {
        h(file, Some(rows));
    }
}

/// `file` is read to its end (for this pass): a display can take its line away.
pub fn read_done(file: &str) {
    if let Some(h) = HOOK.get() {
        h(file, None);
    }
}

/// What a progress display says: "reading higgs.csv: 3,400,000 rows".
pub fn line(file: &str, rows: usize) -> String {
    let name = std::path::Path::new(file).file_name().map_or(file.into(), |n| n.to_string_lossy());
    let digits = rows.to_string();
    let mut count = String::new();
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            count.push(',');
        }
        count.push(ch);
    }
    format!("reading {name}: {count} rows")
}
