//! Reading CSV and Parquet files through polars into plain typed columns. This is the only
//! place that talks to polars for loading; everything after works on [`RawTable`].

use crate::error::InputError;
use polars::prelude::*;
use std::fs::File;
use std::path::Path;

/// One column as read: numbers (a missing cell, or NaN, is NaN) or text.
#[derive(Debug, Clone)]
pub enum RawValues {
    Numeric(Vec<f64>),
    Text(Vec<Option<String>>),
}

/// A column with its name and the polars type it was read as.
#[derive(Debug, Clone)]
pub struct RawColumn {
    pub name: String,
    pub dtype: String,
    pub values: RawValues,
}

impl RawColumn {
    /// Whether any cell of the column is missing.
    pub fn has_missing(&self) -> bool {
        match &self.values {
            RawValues::Numeric(v) => v.iter().any(|x| x.is_nan()),
            RawValues::Text(v) => v.iter().any(Option::is_none),
        }
    }
    pub fn is_missing(&self, row: usize) -> bool {
        match &self.values {
            RawValues::Numeric(v) => v[row].is_nan(),
            RawValues::Text(v) => v[row].is_none(),
        }
    }
}

/// A file's columns, in file order.
#[derive(Debug, Clone)]
pub struct RawTable {
    pub columns: Vec<RawColumn>,
    pub height: usize,
    /// True for CSV (row r sits on line r + 2), false for Parquet.
    pub has_lines: bool,
    /// The file row of this table's first row: 0, or where a chunk starts (`data.chunk_rows`),
    /// so that a message names the row in the file.
    pub first_row: usize,
}

impl RawTable {
    pub fn column(&self, name: &str) -> Option<&RawColumn> {
        self.columns.iter().find(|c| c.name == name)
    }
    pub fn names(&self) -> Vec<&str> {
        self.columns.iter().map(|c| c.name.as_str()).collect()
    }
    /// How to point a user at row `r` (0-based data row).
    pub fn where_row(&self, r: usize) -> String {
        let r = r + self.first_row;
        if self.has_lines {
            format!("row {} (line {})", r + 1, r + 2)
        } else {
            format!("row {}", r + 1)
        }
    }
}

/// Strings read as missing in CSV files.
pub(super) const NULLS: [&str; 6] = ["", "NA", "NaN", "nan", "null", "NULL"];

/// Rows a CSV file's column types are first inferred from (polars' own default is 100).
pub(super) const INFER_ROWS: usize = 1000;

/// Whether a text column holds nothing but numbers (types inferred from too few rows).
fn numbers_read_as_text(df: &DataFrame) -> bool {
    df.columns().iter().any(|c| {
        c.str().is_ok_and(|ca| ca.null_count() < ca.len() && ca.iter().flatten().all(|s| s.trim().parse::<f64>().is_ok()))
    })
}

/// Text columns whose every present cell is a number, as `f64` columns.
fn numbers_as_numbers(df: DataFrame) -> DataFrame {
    let height = df.height();
    let columns: Vec<Column> = df
        .columns()
        .iter()
        .map(|c| match c.cast(&DataType::Float64) {
            Ok(f) if c.dtype() == &DataType::String && f.null_count() == c.null_count() => f,
            _ => c.clone(),
        })
        .collect();
    DataFrame::new(height, columns).unwrap_or(df)
}

/// Read a polars DataFrame from a `.csv` or `.parquet` file.
pub fn read_frame(path: &Path) -> Result<DataFrame, InputError> {
    // A malformed file can make the reader itself panic (the fuzzer found Parquet metadata
    // that does): that is a bad file, said as such, not a crash.
    match super::quiet_catch(|| read_frame_unguarded(path)) {
        Ok(r) => r,
        Err(why) => Err(InputError::new(format!("cannot read the file: it is malformed (the reader gave up: {why})")).file(path)),
    }
}

fn read_frame_unguarded(path: &Path) -> Result<DataFrame, InputError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let err = |e: PolarsError| InputError::new(format!("cannot read the file: {e}")).file(path);
    match ext.as_str() {
        "csv" => {
            let nulls = NullValues::AllColumns(NULLS.iter().map(|s| PlSmallStr::from(*s)).collect());
            let read = |infer: Option<usize>| {
                CsvReadOptions::default()
                    .with_has_header(true)
                    .with_infer_schema_length(infer)
                    .map_parse_options(|o| o.with_null_values(Some(nulls.clone())))
                    .try_into_reader_with_file_path(Some(path.to_path_buf()))?
                    .finish()
            };
            // Column types are inferred from the first rows; when that guess fails (a float or a
            // word further down an integer column) or reads a column of numbers as text (empty
            // at first), the file is read again with types inferred from every row.
            // Some values fit no inferred type even then (an integer beyond i64, an id column
            // of u64): every column is read as text, and those holding only numbers become
            // numbers again.
            match read(Some(INFER_ROWS)) {
                Ok(df) if !numbers_read_as_text(&df) => Ok(df),
                _ => match read(None) {
                    Ok(df) => Ok(df),
                    // Name the line instead of polars' schema talk.
                    Err(e) => match std::fs::read_to_string(path).ok().and_then(|text| ragged_error(&text, 1, path)) {
                        Some(ragged) => Err(ragged),
                        None => read(Some(0)).map(numbers_as_numbers).map_err(|_| err(e)),
                    },
                },
            }
        }
        "parquet" | "pq" => {
            // Read once: the guard looks at the bytes, then polars decodes the same bytes.
            let bytes = std::fs::read(path).map_err(|e| InputError::new(format!("cannot open the file: {e}")).file(path))?;
            let buf = polars_buffer::Buffer::from(bytes);
            if let Err(why) = check_parquet_pages(&buf) {
                return Err(InputError::new(format!("cannot read the file: it starts like Parquet but is damaged ({why})")).file(path));
            }
            let magic = buf.starts_with(b"PAR1");
            ParquetReader::new(std::io::Cursor::new(buf)).finish().map_err(|e| {
                if magic {
                    InputError::new(format!("cannot read the file: it starts like Parquet but is damaged or cut short ({e})")).file(path)
                } else {
                    InputError::new("cannot read the file: it is not a Parquet file (no PAR1 magic bytes at its start); is it CSV or another format renamed?").file(path)
                }
            })
        }
        _ => Err(InputError::new(format!(
            "unsupported file type '.{ext}'; expected a .csv or .parquet file"
        ))
        .file(path)),
    }
}

/// Turn a DataFrame into typed columns: numbers and booleans as `f64`, strings as text.
/// Columns are converted in parallel.
pub fn from_frame(df: &DataFrame, path: &Path, has_lines: bool) -> Result<RawTable, InputError> {
    use rayon::prelude::*;
    let columns = df.columns().par_iter().map(|col| raw_column(col, path)).collect::<Vec<_>>().into_iter().collect::<Result<Vec<_>, _>>()?;
    Ok(RawTable { columns, height: df.height(), has_lines, first_row: 0 })
}

fn raw_column(col: &Column, path: &Path) -> Result<RawColumn, InputError> {
    let name = col.name().to_string();
    let dtype = col.dtype().clone();
    let err = |e: PolarsError| InputError::new(format!("cannot convert: {e}")).file(path).field(format!("column '{name}'"));
    let values = if dtype.is_primitive_numeric() || dtype.is_bool() {
        let c = col.cast(&DataType::Float64).map_err(err)?;
        let ca = c.f64().map_err(err)?;
        let v: Vec<f64> = if ca.null_count() == 0 {
            ca.into_no_null_iter().collect()
        } else {
            ca.iter().map(|v| v.unwrap_or(f64::NAN)).collect()
        };
        RawValues::Numeric(v)
    } else if matches!(dtype, DataType::String) {
        let ca = col.str().map_err(err)?;
        RawValues::Text(ca.iter().map(|v| v.map(str::to_string)).collect())
    } else {
        let c = col.cast(&DataType::String).map_err(|_| {
            InputError::new(format!("has type {dtype}, which ratlab cannot use as a feature or target"))
                .file(path)
                .field(format!("column '{name}'"))
        })?;
        let ca = c.str().map_err(err)?;
        RawValues::Text(ca.iter().map(|v| v.map(str::to_string)).collect())
    };
    Ok(RawColumn { name, dtype: dtype.to_string(), values })
}

/// The `--limit`s on a data file's columns and rows, which every reader of a table keeps.
pub fn check_limits(df: &DataFrame, path: &Path) -> Result<(), InputError> {
    let limits = super::limits::get();
    if df.width() > limits.columns {
        return Err(InputError::new(super::limits::exceeded("columns", &format!("the file has {} columns", df.width()), limits.columns)).file(path));
    }
    if df.height() > limits.rows {
        return Err(InputError::new(super::limits::exceeded("rows", &format!("the file has {} rows", df.height()), limits.rows)).file(path));
    }
    Ok(())
}

/// Read a file into a [`RawTable`].
pub fn read_table(path: &Path) -> Result<RawTable, InputError> {
    let df = read_frame(path)?;
    let is_csv = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    check_limits(&df, path)?;
    if df.height() == 0 {
        return Err(InputError::new(format!("the file has no data rows (its columns: {})", quote_all(&df))).file(path));
    }
    from_frame(&df, path, is_csv)
}

fn quote_all(df: &DataFrame) -> String {
    let names: Vec<String> = df.get_column_names().iter().take(12).map(|n| format!("'{n}'")).collect();
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
    }
}

/// The error of CSV text (a header line, then rows; its line `i`, from 0, is the file's line
/// `i + offset`) whose rows stop matching its header, naming the line; `None` when every line
/// matches.
pub(super) fn ragged_error(text: &str, offset: usize, path: &Path) -> Option<InputError> {
    let line = ragged_line(text, offset)?;
    Some(InputError::new(format!("cannot read the file: {line}; every row needs one value per column (empty for missing)")).file(path))
}

/// Where CSV text's rows stop matching its header: "line 3 has 2 fields, the header 3".
/// Quoted fields are honoured; `None` when every line matches.
fn ragged_line(text: &str, offset: usize) -> Option<String> {
    let fields = |line: &str| {
        let (mut n, mut quoted) = (1, false);
        for c in line.chars() {
            match c {
                '"' => quoted = !quoted,
                ',' if !quoted => n += 1,
                _ => {}
            }
        }
        n
    };
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let (_, header) = lines.next()?;
    let want = fields(header);
    lines.find(|(_, l)| fields(l) != want).map(|(i, l)| format!("line {} has {} field(s) but the header has {want}", i + offset, fields(l)))
}

/// One output column: numbers or text.
#[derive(Debug, Clone)]
pub enum OutValues {
    Numeric(Vec<f64>),
    Text(Vec<String>),
}

/// Write named columns as CSV or Parquet (by `path`'s extension), or as CSV on `out` when
/// `path` is `None`.
pub fn write_columns(path: Option<&Path>, cols: Vec<(String, OutValues)>, out: &mut dyn std::io::Write) -> Result<(), InputError> {
    let height = cols.first().map_or(0, |c| match &c.1 {
        OutValues::Numeric(v) => v.len(),
        OutValues::Text(v) => v.len(),
    });
    let columns: Vec<Column> = cols
        .into_iter()
        .map(|(n, v)| match v {
            OutValues::Numeric(v) => Column::new(n.into(), v),
            OutValues::Text(v) => Column::new(n.into(), v),
        })
        .collect();
    let fail = |e: PolarsError| InputError::new(format!("cannot write the predictions: {e}"));
    let mut df = DataFrame::new(height, columns).map_err(fail)?;
    match path {
        None => {
            // The reader went away (`ratlab predict … | head`): the rest is not wanted, which
            // is no error, as for any Unix filter.
            let mut watch = PipeWatch { out, broken: false };
            match CsvWriter::new(&mut watch).finish(&mut df) {
                Err(_) if watch.broken => Ok(()),
                r => r.map_err(fail),
            }
        }
        Some(p) => {
            let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
            let file = || File::create(p).map_err(|e| InputError::new(format!("cannot create the file: {e}")).file(p));
            match ext.as_str() {
                "csv" => CsvWriter::new(file()?).finish(&mut df).map_err(|e| fail(e).file(p)),
                "parquet" | "pq" => ParquetWriter::new(file()?).finish(&mut df).map(|_| ()).map_err(|e| fail(e).file(p)),
                _ => Err(InputError::new(format!("unsupported output type '.{ext}'; expected .csv or .parquet")).file(p)),
            }
        }
    }
}

/// A writer that notes whether its reader closed the pipe (polars keeps only the message).
struct PipeWatch<'a> {
    out: &'a mut dyn std::io::Write,
    broken: bool,
}

impl std::io::Write for PipeWatch<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let r = self.out.write(buf);
        self.broken |= r.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
        r
    }
    fn flush(&mut self) -> std::io::Result<()> {
        let r = self.out.flush();
        self.broken |= r.as_ref().is_err_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Types are guessed from the first rows; a guess that later rows contradict falls back to
    /// reading every row, so a late float, a late word and a column empty at first all come out
    /// as they would from a full scan; integers beyond i64 still load, as numbers.
    #[test]
    fn late_floats_words_and_empty_starts_are_read_as_a_full_scan_would() {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("late.csv");
        let n = INFER_ROWS + 500;
        let mut csv = String::from("ints,late_float,late_word,empty_first,label,big_id\n");
        for i in 0..n {
            let late = i >= INFER_ROWS + 100;
            let float = if late { "2.5".to_string() } else { i.to_string() };
            let word = if late && i % 2 == 0 { "seven".to_string() } else { i.to_string() };
            let empty = if i < INFER_ROWS + 10 { String::new() } else { format!("{}.25", i) };
            csv += &format!("{i},{float},{word},{empty},{},{}\n", if i % 3 == 0 { "a" } else { "b" }, u64::MAX - i as u64);
        }
        std::fs::write(&path, csv).expect("written");
        let t = read_table(&path).expect("readable");
        assert_eq!(t.height, n);
        let kind = |c: &str| match &t.column(c).expect("present").values {
            RawValues::Numeric(v) => format!("numeric {}", v.iter().filter(|x| x.is_nan()).count()),
            RawValues::Text(v) => format!("text {}", v.iter().filter(|x| x.is_none()).count()),
        };
        assert_eq!(kind("ints"), "numeric 0");
        assert_eq!(kind("late_float"), "numeric 0");
        assert_eq!(kind("late_word"), "text 0");
        assert_eq!(kind("empty_first"), format!("numeric {}", INFER_ROWS + 10));
        assert_eq!(kind("label"), "text 0");
        // Beyond i64: read as numbers (f64) rather than refusing the file.
        assert_eq!(kind("big_id"), "numeric 0");
        match &t.column("late_float").expect("present").values {
            RawValues::Numeric(v) => assert_eq!(v[n - 1], 2.5),
            RawValues::Text(_) => unreachable!(),
        }
    }
}

/// Look at the footer and every page header of a Parquet file before polars decodes it. polars-parquet casts a
/// page's value, row and null counts (i32 in the file) to usize and reserves memory for them: a
/// negative count in a damaged file (cargo-fuzz made one) asks for exabytes, and a failed
/// allocation aborts the process, which no panic guard can catch. Only headers are read; pages
/// are not decompressed. Metadata polars cannot read is left for polars to report.
fn check_parquet_pages(buf: &polars_buffer::Buffer<u8>) -> Result<(), String> {
    use polars_parquet::parquet::page::CompressedPage;
    use polars_parquet::parquet::read::{get_page_iterator, read_metadata};
    check_parquet_footer(buf)?;
    let len = buf.len();
    let Ok(meta) = read_metadata(&mut std::io::Cursor::new(buf.clone())) else { return Ok(()) };
    let sane = |n: usize| n <= i32::MAX as usize;
    for (g, rg) in meta.row_groups.iter().enumerate() {
        for col in rg.parquet_columns() {
            let name = col.descriptor().path_in_schema.join(".");
            if col.num_values() < 0 {
                return Err(format!("row group {g}, column '{name}' claims {} values", col.num_values()));
            }
            let Ok(pages) = get_page_iterator(col, std::io::Cursor::new(buf.clone()), vec![], len) else { return Ok(()) };
            // Each page takes bytes of the file, so a chunk has fewer pages than the file has
            // bytes; the bound keeps a reader that does not advance from looping.
            for page in pages.take(len + 1) {
                let page = match page {
                    Ok(p) => p,
                    // A header polars cannot parse is polars' to report.
                    Err(_) => return Ok(()),
                };
                let CompressedPage::Data(page) = page else { continue };
                if !sane(page.num_values()) || !page.num_rows().is_none_or(sane) || !page.null_count().is_none_or(sane) {
                    return Err(format!("a page of row group {g}, column '{name}' claims a negative number of values, rows or nulls"));
                }
            }
        }
    }
    Ok(())
}

/// [`check_parquet_pages`] on a file read in place (`data.chunk_rows`), mapped rather than
/// loaded: only the footer and the page headers are touched.
pub(super) fn check_parquet_file(path: &Path) -> Result<(), String> {
    let Ok(f) = File::open(path) else { return Ok(()) };
    // SAFETY: the map is read only while this check runs; a file changed under a running
    // experiment is outside what ratlab can guard (polars maps files the same way).
    let Ok(map) = (unsafe { memmap2::Mmap::map(&f) }) else { return Ok(()) };
    check_parquet_pages(&polars_buffer::Buffer::from_owner(map))
}

/// Walk a Parquet file's footer (Thrift compact protocol) without building anything, checking
/// that every list, map and string fits in the bytes left. polars-parquet reserves a list's
/// claimed length up front: a damaged footer claiming 2³¹ entries asks for about 100 GB, and the
/// failed allocation aborts. A footer that does not end like Parquet is left for polars to report.
fn check_parquet_footer(file: &[u8]) -> Result<(), String> {
    let n = file.len();
    if n < 12 || &file[n - 4..] != b"PAR1" {
        return Ok(());
    }
    let meta_len = u32::from_le_bytes([file[n - 8], file[n - 7], file[n - 6], file[n - 5]]) as usize;
    let Some(start) = (n - 8).checked_sub(meta_len) else { return Ok(()) };
    let mut t = Thrift { buf: &file[start..n - 8], pos: 0 };
    t.skip(12, 0).map_err(|why| format!("its metadata is damaged: {why}"))
}

/// A reader that skips Thrift compact-protocol values, refusing lengths past the end.
struct Thrift<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Thrift<'_> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.buf.get(self.pos).ok_or("it ends in the middle of a value")?;
        self.pos += 1;
        Ok(b)
    }
    fn varint(&mut self) -> Result<u64, String> {
        let mut v = 0u64;
        for shift in (0..70).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f).checked_shl(shift).unwrap_or(0);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("a number runs past 10 bytes".into())
    }
    /// A count that must fit in the bytes left (each element takes at least one).
    fn count(&mut self, n: u64, what: &str) -> Result<usize, String> {
        let left = (self.buf.len() - self.pos) as u64;
        if n > left {
            return Err(format!("a {what} claims {n} entries with {left} bytes left"));
        }
        Ok(n as usize)
    }
    fn skip(&mut self, ty: u8, depth: usize) -> Result<(), String> {
        if depth > 64 {
            return Err("values nest deeper than 64".into());
        }
        match ty {
            1 | 2 => Ok(()),
            3 => self.byte().map(|_| ()),
            4..=6 => self.varint().map(|_| ()),
            // A double, and a UUID (newer Thrift).
            7 | 13 => {
                let size = if ty == 7 { 8 } else { 16 };
                self.count(size, "number")?;
                self.pos += size as usize;
                Ok(())
            }
            8 => {
                let len = self.varint()?;
                let len = self.count(len, "string")?;
                self.pos += len;
                Ok(())
            }
            9 | 10 => {
                let head = self.byte()?;
                let n = if head >> 4 == 15 { self.varint()? } else { u64::from(head >> 4) };
                let n = self.count(n, "list")?;
                let elem = head & 0x0f;
                for _ in 0..n {
                    // A boolean in a list takes a byte of its own.
                    if elem == 1 || elem == 2 {
                        self.byte()?;
                    } else {
                        self.skip(elem, depth + 1)?;
                    }
                }
                Ok(())
            }
            11 => {
                let n = self.varint()?;
                let n = self.count(n, "map")?;
                if n > 0 {
                    let kv = self.byte()?;
                    for _ in 0..n {
                        self.skip(kv >> 4, depth + 1)?;
                        self.skip(kv & 0x0f, depth + 1)?;
                    }
                }
                Ok(())
            }
            12 => loop {
                let head = self.byte()?;
                if head == 0 {
                    return Ok(());
                }
                if head >> 4 == 0 {
                    self.varint()?;
                }
                self.skip(head & 0x0f, depth + 1)?;
            },
            other => Err(format!("unknown value type {other}")),
        }
    }
}

#[cfg(test)]
mod parquet_guard_tests {
    use super::*;

    /// A footer holding one struct with a list field: `list` bytes, then the stop.
    fn file_with_footer(meta: &[u8]) -> Vec<u8> {
        let mut f = b"PAR1".to_vec();
        f.extend_from_slice(meta);
        f.extend_from_slice(&(meta.len() as u32).to_le_bytes());
        f.extend_from_slice(b"PAR1");
        f
    }

    #[test]
    fn footer_lists_longer_than_the_footer_are_refused() {
        // Field 1, a list of 3 i32 (header 0x35), values 1, 2, 3 (zigzag varints), then stop.
        let ok = [0x19, 0x35, 0x02, 0x04, 0x06, 0x00];
        assert_eq!(check_parquet_footer(&file_with_footer(&ok)), Ok(()));
        // The same list claiming 2³¹ − 1 entries (long form: 0xF5, then a varint).
        let huge = [0x19, 0xF5, 0xFF, 0xFF, 0xFF, 0xFF, 0x07, 0x02, 0x00];
        let e = check_parquet_footer(&file_with_footer(&huge)).unwrap_err();
        assert!(e.contains("claims 2147483647 entries"), "{e}");
        // A string longer than what is left, and a footer cut mid-value.
        assert!(check_parquet_footer(&file_with_footer(&[0x18, 0x80, 0x80, 0x04, 0x61, 0x00])).unwrap_err().contains("string"));
        assert!(check_parquet_footer(&file_with_footer(&[0x15])).is_err());
        // Not Parquet at all: left for polars to say so.
        assert_eq!(check_parquet_footer(b"a,b\n1,2\n"), Ok(()));
    }

    #[test]
    fn real_parquet_files_pass_the_guard() {
        let f = concat!(env!("CARGO_MANIFEST_DIR"), "/datasets/wine_extra.parquet");
        let bytes = std::fs::read(f).unwrap();
        assert_eq!(check_parquet_footer(&bytes), Ok(()), "{f}");
        assert_eq!(check_parquet_pages(&polars_buffer::Buffer::from(bytes)), Ok(()), "{f}");
    }
}
