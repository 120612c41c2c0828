//! Reading a data file a chunk of rows at a time (`data.chunk_rows`), for data larger than
//! memory: CSV by blocks of records parsed with the column types of the file's first rows,
//! Parquet by row groups (a slice of whole groups: polars decodes only those). Each chunk is a
//! [`RawTable`] that knows its first row in the file, so every message names the file's row.

use super::table::{from_frame, RawTable, INFER_ROWS, NULLS};
use crate::error::{quote, InputError};
use polars::prelude::*;
use std::io::Read;
use std::path::Path;

/// Bytes read from a CSV file at a time while looking for the end of a chunk's records.
const READ_BLOCK: usize = 4 << 20;

/// Call `f` with every chunk of a `.csv` or `.parquet` file, in order: `chunk_rows` rows of a
/// CSV file (fewer at its end); whole row groups of a Parquet file, as many as fit in
/// `chunk_rows` (a larger row group is a chunk of its own). Returns the number of rows read. A chunk `f` refuses stops the reading.
pub fn for_each_chunk(path: &Path, chunk_rows: usize, mut f: impl FnMut(&RawTable) -> Result<(), InputError>) -> Result<usize, InputError> {
    let chunk_rows = chunk_rows.max(1);
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let rows = match ext.as_str() {
        "csv" => csv_chunks(path, chunk_rows, &mut f)?,
        "parquet" | "pq" => parquet_chunks(path, chunk_rows, &mut f)?,
        _ => return Err(InputError::new(format!("unsupported file type '.{ext}'; expected a .csv or .parquet file")).file(path)),
    };
    if rows == 0 {
        return Err(InputError::new("the file has no data rows").file(path));
    }
    Ok(rows)
}

/// The first `n` rows of a `.csv` or `.parquet` file, column types inferred from them: a look
/// at a file too large to read whole (the Data view of an experiment with `data.chunk_rows`).
pub fn head(path: &Path, n: usize) -> Result<DataFrame, InputError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let bad = |e: String| InputError::new(format!("cannot read the file: {e}")).file(path);
    let read = || -> Result<DataFrame, InputError> {
        match ext.as_str() {
            "csv" => {
                let io = |e: std::io::Error| bad(e.to_string());
                let mut recs = Records::open(path).map_err(io)?;
                let mut bytes = Vec::new();
                push_lines(&mut bytes, recs.next(n.saturating_add(1)).map_err(io)?);
                parse(&bytes, None, Some(INFER_ROWS)).map_err(|e| bad(e.to_string()))
            }
            "parquet" | "pq" => {
                super::table::check_parquet_file(path).map_err(bad)?;
                let f = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
                ParquetReader::new(f).with_slice(Some((0, n))).finish().map_err(|e| bad(e.to_string()))
            }
            _ => Err(InputError::new(format!("unsupported file type '.{ext}'; expected a .csv or .parquet file")).file(path)),
        }
    };
    super::quiet_catch(read).unwrap_or_else(|why| Err(bad(format!("it is malformed (the reader gave up: {why})"))))
}

/// Count a row total against `--limit rows` as the chunks go by.
fn check_rows(rows: usize, path: &Path) -> Result<(), InputError> {
    let limit = super::limits::get().rows;
    if rows > limit {
        return Err(InputError::new(super::limits::exceeded("rows", &format!("the file has more than {limit} rows"), limit)).file(path));
    }
    Ok(())
}

fn nulls() -> NullValues {
    NullValues::AllColumns(NULLS.iter().map(|s| PlSmallStr::from(*s)).collect())
}

/// Append whole lines to a CSV text: `lines`, then a line end if the last one lacks it (the
/// file's last record may have none).
fn push_lines(text: &mut Vec<u8>, lines: &[u8]) {
    text.extend_from_slice(lines);
    if !text.ends_with(b"\n") {
        text.push(b'\n');
    }
}

/// Parse CSV bytes (a header line, then records) with the given column types. polars reads
/// them in place (a `Cursor` over a slice hands them over without a copy).
fn parse(bytes: &[u8], schema: Option<SchemaRef>, infer: Option<usize>) -> PolarsResult<DataFrame> {
    parse_as(bytes, schema, infer, true)
}

/// [`parse`], comparing every cell with the missing-value words (`NA`, `null`, ...) only when
/// `null_words`: records without an `n` or `N` ([`may_hold_null_words`]) cannot hold one, and
/// their empty cells are missing either way (polars' `missing_is_null`). The comparison was a
/// twentieth of the parsing at 11M rows of numbers.
fn parse_as(bytes: &[u8], schema: Option<SchemaRef>, infer: Option<usize>, null_words: bool) -> PolarsResult<DataFrame> {
    CsvReadOptions::default()
        .with_has_header(true)
        .with_schema(schema)
        .with_infer_schema_length(infer)
        .map_parse_options(|o| o.with_null_values(null_words.then(nulls)).with_missing_is_null(true))
        .into_reader_with_file_handle(std::io::Cursor::new(bytes))
        .finish()
}

/// Whether CSV records may hold a missing-value word of [`NULLS`]: every one has an `n` or an
/// `N` (memchr's vector search finds the first).
fn may_hold_null_words(body: &[u8]) -> bool {
    memchr::memchr2(b'n', b'N', body).is_some()
}

/// Scan `buf` from `from` for record ends (the offset after a line end that no quote holds
/// open; `quoted` carries the state across calls) until `ends` holds `want`. Returns where the
/// scan stopped. memchr jumps from quote to line end with vector compares: a record of 28
/// numbers is some 250 bytes and one line end (the byte-wise scan it replaces was a fifteenth of
/// the reading pass at 11M rows).
fn record_ends(buf: &[u8], from: usize, want: usize, quoted: &mut bool, ends: &mut Vec<usize>) -> usize {
    for at in memchr::memchr2_iter(b'"', b'\n', &buf[from..]) {
        let i = from + at;
        if buf[i] == b'"' {
            *quoted = !*quoted;
        } else if !*quoted {
            ends.push(i + 1);
            if ends.len() == want {
                return i + 1;
            }
        }
    }
    buf.len()
}

/// A CSV file read by records: a buffer of what is read and not yet handed out.
struct Records {
    file: std::fs::File,
    buf: Vec<u8>,
    /// Where the records not yet handed out begin, and how far they were scanned.
    start: usize,
    scanned: usize,
    quoted: bool,
    ends: Vec<usize>,
    eof: bool,
}

impl Records {
    fn open(path: &Path) -> std::io::Result<Records> {
        Ok(Records { file: std::fs::File::open(path)?, buf: Vec::new(), start: 0, scanned: 0, quoted: false, ends: Vec::new(), eof: false })
    }

    /// The next `n` records (fewer at the end of the file; none after it), as bytes.
    fn next(&mut self, n: usize) -> std::io::Result<&[u8]> {
        loop {
            self.scanned = record_ends(&self.buf, self.scanned, n, &mut self.quoted, &mut self.ends);
            if self.ends.len() == n || self.eof {
                break;
            }
            // Move what is left to the front, then read more.
            self.buf.drain(..self.start);
            self.scanned -= self.start;
            self.ends.iter_mut().for_each(|e| *e -= self.start);
            self.start = 0;
            let at = self.buf.len();
            self.buf.resize(at + READ_BLOCK, 0);
            let got = self.file.read(&mut self.buf[at..])?;
            self.buf.truncate(at + got);
            self.eof = got == 0;
        }
        let end = if self.ends.len() == n { self.ends[n - 1] } else { self.buf.len() };
        let from = self.start;
        self.ends.clear();
        self.start = end;
        self.scanned = end;
        Ok(&self.buf[from..end])
    }
}

fn csv_chunks(path: &Path, chunk_rows: usize, f: &mut dyn FnMut(&RawTable) -> Result<(), InputError>) -> Result<usize, InputError> {
    let io = |e: std::io::Error| InputError::new(format!("cannot read the file: {e}")).file(path);
    let mut recs = Records::open(path).map_err(io)?;
    let header = recs.next(1).map_err(io)?.to_vec();
    let guard = |r: Result<PolarsResult<DataFrame>, String>| -> Result<DataFrame, InputError> {
        match r {
            Ok(Ok(df)) => Ok(df),
            Ok(Err(e)) => Err(InputError::new(format!("cannot read the file: {e}")).file(path)),
            Err(why) => Err(InputError::new(format!("cannot read the file: it is malformed (the reader gave up: {why})")).file(path)),
        }
    };
    // The header, then `body`, into `bytes`: one buffer for every chunk, so that no chunk
    // pays for fresh pages (54 MB a chunk at 200k rows of 28 numbers).
    let with_header = |body: &[u8], bytes: &mut Vec<u8>| {
        bytes.clear();
        push_lines(bytes, &header);
        push_lines(bytes, body);
    };
    let mut bytes = Vec::new();
    // The column types of the first rows; numbers are read as f64, so that a float further
    // down an integer column still parses. Those rows are read again as the first chunk.
    let schema = {
        let mut probe = Records::open(path).map_err(io)?;
        probe.next(1).map_err(io)?;
        with_header(probe.next(INFER_ROWS).map_err(io)?, &mut bytes);
        let head = &bytes[..];
        // Name the line instead of polars' schema talk.
        let first = guard(super::quiet_catch(|| parse(head, None, Some(INFER_ROWS))))
            .map_err(|e| super::table::ragged_error(&String::from_utf8_lossy(head), 1, path).unwrap_or(e))?;
        // A column empty in those rows is taken for numbers (polars would say text).
        let empty = |name: &str| first.column(name).is_ok_and(|c| c.null_count() == c.len());
        let s: Schema = first
            .schema()
            .iter()
            .map(|(name, dt)| (name.clone(), if dt.is_primitive_numeric() || empty(name.as_str()) { DataType::Float64 } else { dt.clone() }))
            .collect();
        std::sync::Arc::new(s)
    };
    // A thread of its own reads the records and puts the header before them, a chunk ahead of
    // the parser (reading was about a sixth of the pass at 11M rows). Its buffers come back
    // for the next chunks; when the parser stops early, its next hand-over fails and it ends.
    std::thread::scope(|s| {
        let (to_parser, chunks) = std::sync::mpsc::sync_channel::<std::io::Result<(Vec<u8>, bool)>>(0);
        let (give_back, parsed) = std::sync::mpsc::channel::<Vec<u8>>();
        s.spawn(move || loop {
            let mut bytes = parsed.try_recv().unwrap_or_default();
            let next = match recs.next(chunk_rows) {
                Ok(body) if body.iter().all(u8::is_ascii_whitespace) => return,
                Ok(body) => {
                    with_header(body, &mut bytes);
                    Ok((bytes, may_hold_null_words(body)))
                }
                Err(e) => Err(e),
            };
            let failed = next.is_err();
            if to_parser.send(next).is_err() || failed {
                return;
            }
        });
        let mut rows = 0usize;
        for bytes in chunks {
            let (bytes, null_words) = bytes.map_err(io)?;
            let df = match super::quiet_catch(|| parse_as(&bytes, Some(schema.clone()), None, null_words)) {
                Ok(Ok(df)) => df,
                _ => return Err(bad_chunk(path, &bytes, &schema, rows)),
            };
            let n = df.height();
            if n == 0 {
                break;
            }
            let mut t = from_frame(&df, path, true)?;
            drop(df);
            t.first_row = rows;
            rows += n;
            check_rows(rows, path)?;
            f(&t)?;
            let _ = give_back.send(bytes);
        }
        Ok(rows)
    })
}

/// Why a chunk of records does not parse with the file's column types: a cell that is not a
/// number in a column whose first rows are numbers, or a line with the wrong number of fields.
fn bad_chunk(path: &Path, bytes: &[u8], schema: &Schema, first_row: usize) -> InputError {
    let first_line = first_row + 2;
    let text: Schema = schema.iter().map(|(n, _)| (n.clone(), DataType::String)).collect();
    if let Ok(Ok(df)) = super::quiet_catch(|| parse(bytes, Some(std::sync::Arc::new(text)), None)) {
        for (name, dt) in schema.iter() {
            if *dt != DataType::Float64 {
                continue;
            }
            let Ok(col) = df.column(name.as_str()).and_then(|c| c.str().cloned()) else { continue };
            let bad = col.iter().enumerate().find_map(|(r, v)| v.filter(|s| s.trim().parse::<f64>().is_err()).map(|s| (r, s.to_string())));
            if let Some((r, cell)) = bad {
                let row = first_row + r;
                return InputError::new(format!("row {} (line {}): {} is not a number", row + 1, row + 2, quote(&cell)))
                    .file(path)
                    .field(format!("column '{name}'"))
                    .detail(format!("with data.chunk_rows the column types come from the first {INFER_ROWS} rows, where this column holds numbers; fix the cell, or mark it missing (empty or NA)"));
            }
        }
    }
    // The chunk's text has the header first: its line i is the file's line first_line + i - 1.
    super::table::ragged_error(&String::from_utf8_lossy(bytes), first_line - 1, path)
        .unwrap_or_else(|| InputError::new(format!("cannot read the file: the rows from line {first_line} on do not parse")).file(path))
}

fn parquet_chunks(path: &Path, chunk_rows: usize, f: &mut dyn FnMut(&RawTable) -> Result<(), InputError>) -> Result<usize, InputError> {
    let open = || std::fs::File::open(path).map_err(|e| InputError::new(format!("cannot open the file: {e}")).file(path));
    let damaged = |e: String| InputError::new(format!("cannot read the file: it is not a Parquet file, or it is damaged or cut short ({e})")).file(path);
    // Counts a damaged file claims would abort the process as polars reserves memory for them.
    super::table::check_parquet_file(path).map_err(|why| InputError::new(format!("cannot read the file: it starts like Parquet but is damaged ({why})")).file(path))?;
    // Chunks are whole row groups, as many as fit in `chunk_rows` (one at least), so that no
    // row group is decoded twice.
    let groups: Vec<usize> = match super::quiet_catch(|| {
        let mut r = ParquetReader::new(open()?);
        let meta = r.get_metadata().map_err(|e| damaged(e.to_string()))?;
        Ok::<_, InputError>(meta.row_groups.iter().map(|g| g.num_rows()).filter(|&n| n > 0).collect())
    }) {
        Ok(r) => r?,
        Err(why) => return Err(damaged(why)),
    };
    let total: usize = groups.iter().sum();
    check_rows(total, path)?;
    let mut sizes: Vec<usize> = Vec::new();
    for g in groups {
        match sizes.last_mut() {
            Some(last) if *last + g <= chunk_rows => *last += g,
            _ => sizes.push(g),
        }
    }
    let mut rows = 0;
    for n in sizes {
        let file = open()?;
        let df = match super::quiet_catch(|| ParquetReader::new(file).with_slice(Some((rows, n))).finish()) {
            Ok(Ok(df)) => df,
            Ok(Err(e)) => return Err(damaged(e.to_string())),
            Err(why) => return Err(damaged(why)),
        };
        let mut t = from_frame(&df, path, false)?;
        drop(df);
        t.first_row = rows;
        rows += n;
        f(&t)?;
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The plain byte-at-a-time scan [`record_ends`] must agree with.
    fn ends_one_by_one(buf: &[u8]) -> Vec<usize> {
        let mut quoted = false;
        let mut ends = vec![];
        for (i, &b) in buf.iter().enumerate() {
            match b {
                b'"' => quoted = !quoted,
                b'\n' if !quoted => ends.push(i + 1),
                _ => {}
            }
        }
        ends
    }

    #[test]
    fn record_ends_match_a_byte_by_byte_scan_across_blocks_and_quotes() {
        // Records of many lengths (short, and longer than a scan block), with quoted line ends.
        let mut text = String::new();
        for r in 0..300 {
            let long = "9".repeat(r % 150);
            match r % 7 {
                0 => text.push_str(&format!("\"a\nb {r}\",{long}\n")),
                3 => text.push_str(&format!("{long},\"q\"\"{r}\"\n")),
                _ => text.push_str(&format!("{r},{long},1.5e3\n")),
            }
        }
        let buf = text.as_bytes();
        let want = ends_one_by_one(buf);
        // Whole, and a few records at a time from where the last call stopped.
        let (mut quoted, mut ends) = (false, vec![]);
        assert_eq!(record_ends(buf, 0, usize::MAX, &mut quoted, &mut ends), buf.len());
        assert_eq!(ends, want);
        let (mut quoted, mut got, mut at) = (false, vec![], 0);
        while at < buf.len() {
            let mut ends = vec![];
            at = record_ends(buf, at, 3, &mut quoted, &mut ends);
            got.extend(ends);
        }
        assert_eq!(got, want);
    }

    #[test]
    fn null_words_are_looked_for_only_where_they_can_be_and_the_frame_is_the_same() {
        assert!(!may_hold_null_words(b"1.5,,2e-3\n-4,0.25,\n"));
        for word in NULLS.iter().filter(|w| !w.is_empty()) {
            // Anywhere in the records: first, last, and between.
            for at in [0, 63, 64, 130] {
                let mut body = vec![b'1'; 200];
                body[at..at + word.len()].copy_from_slice(word.as_bytes());
                assert!(may_hold_null_words(&body), "{word} at {at}");
            }
        }
        // Records with no such word parse to the same frame either way: empty cells missing
        // in number and text columns alike.
        let text = b"x,s,y\n1.5,ab,1\n,,0\n2e3, c ,\n-0.25,,1\n";
        assert!(!may_hold_null_words(&text[6..]));
        let schema: Schema = [("x", DataType::Float64), ("s", DataType::String), ("y", DataType::Float64)].into_iter().map(|(n, t)| (PlSmallStr::from(n), t)).collect();
        let schema = std::sync::Arc::new(schema);
        let with = parse_as(text, Some(schema.clone()), None, true).unwrap();
        let without = parse_as(text, Some(schema), None, false).unwrap();
        assert!(with.equals_missing(&without), "{with}\n{without}");
        assert_eq!(with.column("x").unwrap().null_count(), 1);
        assert_eq!(with.column("s").unwrap().null_count(), 2);
        assert_eq!(with.column("y").unwrap().null_count(), 1);
    }
}
