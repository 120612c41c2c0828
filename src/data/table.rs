//! Reading CSV and Parquet files through polars into plain typed columns. This is the only
//! place that talks to polars for loading; everything after works on [`RawTable`].

use crate::error::InputError;
use polars::prelude::*;
use std::fs::File;
use std::path::Path;

/// One column as read: numbers (NaN read as missing) or text.
#[derive(Debug, Clone)]
pub enum RawValues {
    Numeric(Vec<Option<f64>>),
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
    pub fn is_missing(&self, row: usize) -> bool {
        match &self.values {
            RawValues::Numeric(v) => v[row].is_none(),
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
        if self.has_lines {
            format!("row {} (line {})", r + 1, r + 2)
        } else {
            format!("row {}", r + 1)
        }
    }
}

/// Strings read as missing in CSV files.
const NULLS: [&str; 6] = ["", "NA", "NaN", "nan", "null", "NULL"];

/// Read a polars DataFrame from a `.csv` or `.parquet` file.
pub fn read_frame(path: &Path) -> Result<DataFrame, InputError> {
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("").to_ascii_lowercase();
    let err = |e: PolarsError| InputError::new(format!("cannot read the file: {e}")).file(path);
    match ext.as_str() {
        "csv" => {
            let nulls = NullValues::AllColumns(NULLS.iter().map(|s| PlSmallStr::from(*s)).collect());
            CsvReadOptions::default()
                .with_has_header(true)
                .with_infer_schema_length(Some(100_000))
                .map_parse_options(|o| o.with_null_values(Some(nulls.clone())))
                .try_into_reader_with_file_path(Some(path.to_path_buf()))
                .map_err(err)?
                .finish()
                .map_err(err)
        }
        "parquet" | "pq" => {
            let f = File::open(path).map_err(|e| InputError::new(format!("cannot open the file: {e}")).file(path))?;
            ParquetReader::new(f).finish().map_err(err)
        }
        _ => Err(InputError::new(format!(
            "unsupported file type '.{ext}'; expected a .csv or .parquet file"
        ))
        .file(path)),
    }
}

/// Turn a DataFrame into typed columns: numbers and booleans as `f64`, strings as text.
pub fn from_frame(df: &DataFrame, path: &Path, has_lines: bool) -> Result<RawTable, InputError> {
    let mut columns = Vec::with_capacity(df.width());
    for col in df.columns() {
        let name = col.name().to_string();
        let dtype = col.dtype().clone();
        let err = |e: PolarsError| InputError::new(format!("cannot convert: {e}")).file(path).field(format!("column '{name}'"));
        let values = if dtype.is_primitive_numeric() || dtype.is_bool() {
            let c = col.cast(&DataType::Float64).map_err(err)?;
            let ca = c.f64().map_err(err)?;
            RawValues::Numeric(ca.iter().map(|v| v.filter(|x| !x.is_nan())).collect())
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
        columns.push(RawColumn { name, dtype: dtype.to_string(), values });
    }
    Ok(RawTable { columns, height: df.height(), has_lines })
}

/// Read a file into a [`RawTable`].
pub fn read_table(path: &Path) -> Result<RawTable, InputError> {
    let df = read_frame(path)?;
    let is_csv = path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case("csv"));
    from_frame(&df, path, is_csv)
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
        None => CsvWriter::new(out).finish(&mut df).map_err(fail),
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
