//! Reading runs back: the events (a torn last line skipped), the summary, the status as it
//! stands now, and a run's new events as another process writes them.

use super::owner::writer_alive;
use super::Summary;
use crate::experiments::events::{RunEvent, Status};
use std::fs::{self, File};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Events read back from a run directory.
#[derive(Debug, Clone)]
pub struct RunLog {
    pub dir: PathBuf,
    pub events: Vec<RunEvent>,
    /// The last line was cut short (the process died mid-write); it was skipped.
    pub torn_tail: bool,
    /// `summary.json` as written (else made from the events), with a run whose writer is gone
    /// read as interrupted.
    pub summary: Option<Summary>,
}

/// Read a run directory. A malformed line other than a torn last line is an error naming it.
pub fn read_run(dir: &Path) -> Result<RunLog, crate::error::InputError> {
    use crate::error::InputError;
    let path = dir.join("events.jsonl");
    let f = File::open(&path).map_err(|e| {
        InputError::new(format!("is not a ratlab run directory (cannot open events.jsonl: {e})")).file(dir)
    })?;
    let mut lines: Vec<String> = Vec::new();
    let mut reader = BufReader::new(f);
    let mut last_complete = true;
    loop {
        let mut buf = String::new();
        let n = reader.read_line(&mut buf).map_err(|e| InputError::new(format!("cannot read: {e}")).file(&path))?;
        if n == 0 {
            break;
        }
        last_complete = buf.ends_with('\n');
        lines.push(buf);
    }
    let mut events = Vec::with_capacity(lines.len());
    let mut torn_tail = false;
    let count = lines.len();
    for (i, l) in lines.iter().enumerate() {
        if l.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<RunEvent>(l) {
            Ok(e) => events.push(e),
            Err(_) if i + 1 == count && !last_complete => torn_tail = true,
            Err(e) => {
                return Err(InputError::new(format!("line {} is not a run event: {e}", i + 1)).file(&path));
            }
        }
    }
    // Without summary.json (cut off before it was written), the events tell.
    let summary = read_summary(dir).or_else(|| {
        Summary::from_events(&events).map(|mut s| {
            s.status = settled(dir, s.status);
            s
        })
    });
    Ok(RunLog { dir: dir.to_path_buf(), events, torn_tail, summary })
}

/// `summary.json` of a run directory, if present and readable (a quick look that skips the
/// events), with a run whose writer is gone read as interrupted.
pub fn read_summary(dir: &Path) -> Option<Summary> {
    let mut s: Summary = fs::read_to_string(dir.join("summary.json")).ok().and_then(|t| serde_json::from_str(&t).ok())?;
    if s.status == Status::Running && settled(dir, s.status) == Status::Interrupted {
        // The writer died after the run's last event but before summary.json caught up: the
        // events are the record.
        let events = read_events(dir).unwrap_or_default();
        s = match Summary::from_events(&events) {
            Some(from_events) if from_events.status != Status::Running => from_events,
            _ => Summary { status: Status::Interrupted, ..s },
        };
    }
    Some(s)
}

/// The complete events of a run directory (a torn last line skipped).
pub(super) fn read_events(dir: &Path) -> Option<Vec<RunEvent>> {
    let text = fs::read_to_string(dir.join("events.jsonl")).ok()?;
    Some(text.lines().filter_map(|l| serde_json::from_str(l).ok()).collect())
}

/// A recorded status as it stands now: a run still `running` whose writing process has ended
/// (killed, out of memory, the machine restarted) is `interrupted`.
pub fn settled(dir: &Path, status: Status) -> Status {
    if status == Status::Running && writer_alive(dir) == Some(false) {
        Status::Interrupted
    } else {
        status
    }
}

/// Follows a run's `events.jsonl` as another process writes it: each call returns the events
/// completed since the last (a line still being written waits for its newline).
#[derive(Debug)]
pub struct EventTail {
    path: PathBuf,
    offset: u64,
    /// Bytes read past the last newline: a line (even a character) still being written.
    partial: Vec<u8>,
}

impl EventTail {
    pub fn new(dir: &Path) -> EventTail {
        EventTail { path: dir.join("events.jsonl"), offset: 0, partial: Vec::new() }
    }

    /// The events appended since the last call; lines that are not events are skipped.
    pub fn read_new(&mut self) -> Vec<RunEvent> {
        use std::io::{Read, Seek, SeekFrom};
        let Ok(mut f) = File::open(&self.path) else { return vec![] };
        if f.seek(SeekFrom::Start(self.offset)).is_err() {
            return vec![];
        }
        let mut buf = Vec::new();
        let Ok(n) = f.read_to_end(&mut buf) else { return vec![] };
        self.offset += n as u64;
        self.partial.extend_from_slice(&buf);
        // Only whole lines are decoded: a read may end inside a character as well as a line.
        let Some(end) = self.partial.iter().rposition(|&b| b == b'\n') else { return vec![] };
        let lines: Vec<u8> = self.partial.drain(..=end).collect();
        lines.split(|&b| b == b'\n').filter_map(|line| serde_json::from_slice(line).ok()).collect()
    }
}
