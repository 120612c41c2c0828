//! How far reading a large file has got (`data.chunk_rows`): readers report the rows read, and
//! whoever shows progress (the command line, on a terminal) installs a hook once.

use std::sync::OnceLock;

type Hook = Box<dyn Fn(&str, usize) + Send + Sync>;

static HOOK: OnceLock<Hook> = OnceLock::new();

/// Show progress with `hook(file, rows read so far)`; the first hook installed stays.
pub fn install(hook: Hook) {
    let _ = HOOK.set(hook);
}

/// `rows` rows of `file` are read (a running count; a reader calls this after each chunk).
pub fn rows_read(file: &str, rows: usize) {
    if let Some(h) = HOOK.get() {
        h(file, rows);
    }
}
