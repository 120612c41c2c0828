//! GGUF writing, for exporting a tuned model to llama.cpp and the tools built on it: metadata
//! values of every type, tensors in ggml order, the aligned data section, and the two encodings
//! an export offers besides f32 (f16, and Q8_0 as ggml's `quantize_row_q8_0_ref` makes it).
//! The reader in [`super::gguf`] reads back everything written here.

use super::gguf::{GgmlType, Value};
use half::f16;
use rayon::prelude::*;
use std::io::Write;

/// Data alignment (GGUF's default, so `general.alignment` need not be written).
const ALIGN: usize = 32;

/// A GGUF file being put together: metadata in order, then tensors (ggml dims, encoded bytes).
#[derive(Default)]
pub struct GgufWriter {
    metadata: Vec<(String, Value)>,
    tensors: Vec<(String, Vec<u64>, GgmlType, Vec<u8>)>,
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend((s.len() as u64).to_le_bytes());
    b.extend(s.as_bytes());
}

/// A value's GGUF type id.
fn type_id(v: &Value) -> u32 {
    match v {
        Value::U8(_) => 0,
        Value::I8(_) => 1,
        Value::U16(_) => 2,
        Value::I16(_) => 3,
        Value::U32(_) => 4,
        Value::I32(_) => 5,
        Value::F32(_) => 6,
        Value::Bool(_) => 7,
        Value::Str(_) => 8,
        Value::Array(_) => 9,
        Value::U64(_) => 10,
        Value::I64(_) => 11,
        Value::F64(_) => 12,
    }
}

/// A value's payload (without its type id; an array's elements share its element type).
fn put_value(b: &mut Vec<u8>, v: &Value) {
    match v {
        Value::U8(x) => b.push(*x),
        Value::I8(x) => b.extend(x.to_le_bytes()),
        Value::U16(x) => b.extend(x.to_le_bytes()),
        Value::I16(x) => b.extend(x.to_le_bytes()),
        Value::U32(x) => b.extend(x.to_le_bytes()),
        Value::I32(x) => b.extend(x.to_le_bytes()),
        Value::F32(x) => b.extend(x.to_le_bytes()),
        Value::Bool(x) => b.push(u8::from(*x)),
        Value::Str(s) => put_str(b, s),
        Value::Array(a) => {
            // An empty array's element type is not recorded by the value; strings are as good
            // as any.
            b.extend(a.first().map_or(8, type_id).to_le_bytes());
            b.extend((a.len() as u64).to_le_bytes());
            for x in a {
                put_value(b, x);
            }
        }
        Value::U64(x) => b.extend(x.to_le_bytes()),
        Value::I64(x) => b.extend(x.to_le_bytes()),
        Value::F64(x) => b.extend(x.to_le_bytes()),
    }
}

impl GgufWriter {
    pub fn new() -> GgufWriter {
        GgufWriter::default()
    }
    /// Set a metadata key (replacing an earlier value, keeping its place).
    pub fn set(&mut self, key: &str, v: Value) -> &mut Self {
        match self.metadata.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = v,
            None => self.metadata.push((key.to_string(), v)),
        }
        self
    }
    pub fn str(&mut self, key: &str, v: &str) -> &mut Self {
        self.set(key, Value::Str(v.to_string()))
    }
    pub fn u32(&mut self, key: &str, v: u32) -> &mut Self {
        self.set(key, Value::U32(v))
    }
    pub fn f32(&mut self, key: &str, v: f32) -> &mut Self {
        self.set(key, Value::F32(v))
    }
    pub fn strs(&mut self, key: &str, v: &[&str]) -> &mut Self {
        self.set(key, Value::Array(v.iter().map(|s| Value::Str(s.to_string())).collect()))
    }
    pub fn i32s(&mut self, key: &str, v: &[i32]) -> &mut Self {
        self.set(key, Value::Array(v.iter().map(|&x| Value::I32(x)).collect()))
    }
    /// Add a tensor: `dims` in ggml order (contiguous axis first), `bytes` already encoded as
    /// `kind`.
    pub fn tensor(&mut self, name: &str, dims: &[u64], kind: GgmlType, bytes: &[u8]) -> &mut Self {
        self.tensors.push((name.to_string(), dims.to_vec(), kind, bytes.to_vec()));
        self
    }
    /// Add a tensor of f32 values with torch's `shape`, encoded as `kind` (F32, F16 or Q8_0).
    pub fn values(&mut self, name: &str, shape: &[usize], kind: GgmlType, values: &[f32]) -> Result<&mut Self, String> {
        let dims: Vec<u64> = shape.iter().rev().map(|&d| d as u64).collect();
        let bytes = encode(kind, values).map_err(|e| format!("tensor {name}: {e}"))?;
        self.tensors.push((name.to_string(), dims, kind, bytes));
        Ok(self)
    }

    /// Header, metadata and tensor infos, padded to the data section.
    fn head(&self) -> Vec<u8> {
        let mut b = b"GGUF".to_vec();
        b.extend(3u32.to_le_bytes());
        b.extend((self.tensors.len() as u64).to_le_bytes());
        b.extend((self.metadata.len() as u64).to_le_bytes());
        for (k, v) in &self.metadata {
            put_str(&mut b, k);
            b.extend(type_id(v).to_le_bytes());
            put_value(&mut b, v);
        }
        let mut offset = 0u64;
        for (name, dims, kind, bytes) in &self.tensors {
            put_str(&mut b, name);
            b.extend((dims.len() as u32).to_le_bytes());
            for d in dims {
                b.extend(d.to_le_bytes());
            }
            b.extend(kind.0.to_le_bytes());
            b.extend(offset.to_le_bytes());
            offset += padded(bytes.len()) as u64;
        }
        b.resize(padded(b.len()), 0);
        b
    }

    /// The whole file in memory.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut b = self.head();
        for (_, _, _, bytes) in &self.tensors {
            b.extend(bytes);
            b.resize(padded(b.len()), 0);
        }
        b
    }

    /// Write the file to `out`, tensor by tensor.
    pub fn write(&self, out: &mut impl Write) -> std::io::Result<()> {
        out.write_all(&self.head())?;
        for (_, _, _, bytes) in &self.tensors {
            out.write_all(bytes)?;
            out.write_all(&[0u8; ALIGN][..padded(bytes.len()) - bytes.len()])?;
        }
        Ok(())
    }
}

fn padded(n: usize) -> usize {
    n.div_ceil(ALIGN) * ALIGN
}

/// f32 values as `kind`: F32, F16, or Q8_0 (blocks of 32 along the contiguous axis: an f16
/// scale `max|x| / 127` and 32 signed bytes `round(x / scale)`, as ggml's reference quantizer).
pub fn encode(kind: GgmlType, values: &[f32]) -> Result<Vec<u8>, String> {
    match kind {
        GgmlType::F32 => Ok(values.iter().flat_map(|v| v.to_le_bytes()).collect()),
        GgmlType::F16 => Ok(values.par_iter().flat_map_iter(|v| f16::from_f32(*v).to_le_bytes()).collect()),
        GgmlType::Q8_0 => {
            if !values.len().is_multiple_of(32) {
                return Err(format!("{} values do not fill Q8_0 blocks of 32", values.len()));
            }
            let mut out = vec![0u8; values.len() / 32 * 34];
            out.par_chunks_mut(34).zip(values.par_chunks(32)).for_each(|(o, x)| {
                let amax = x.iter().fold(0f32, |m, v| m.max(v.abs()));
                let d = amax / 127.0;
                let id = if d != 0.0 { 1.0 / d } else { 0.0 };
                o[..2].copy_from_slice(&f16::from_f32(d).to_le_bytes());
                for (q, v) in o[2..].iter_mut().zip(x) {
                    *q = ((v * id).round() as i8) as u8;
                }
            });
            Ok(out)
        }
        other => Err(format!("ratlab writes f32, f16 and q8_0, not {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::gguf::{dequantize, Gguf};
    use super::*;

    /// Every metadata type and every encoding reads back through the reader; Q8_0 within half a
    /// quantization step of each block's scale.
    #[test]
    fn what_is_written_reads_back() {
        let vals: Vec<f32> = (0..128).map(|i| ((i * 37 % 101) as f32 - 50.0) * 0.013).collect();
        let mut w = GgufWriter::new();
        w.str("general.architecture", "llama").u32("llama.block_count", 2).f32("eps", 1e-5).strs("toks", &["a", "b"]).i32s("types", &[1, 3]);
        w.set("flag", Value::Bool(true)).set("big", Value::U64(1 << 40)).set("x", Value::F64(0.5)).set("empty", Value::Array(Vec::new()));
        for kind in [GgmlType::F32, GgmlType::F16, GgmlType::Q8_0] {
            w.values(&format!("t{}", kind.0), &[4, 32], kind, &vals).unwrap();
        }
        let mut file = Vec::new();
        w.write(&mut file).unwrap();
        assert_eq!(file, w.to_bytes());
        let g = Gguf::parse(&file).unwrap();
        assert_eq!(g.get("llama.block_count").and_then(Value::as_u64), Some(2));
        assert_eq!(g.get("eps"), Some(&Value::F32(1e-5)));
        assert_eq!(g.get("flag"), Some(&Value::Bool(true)));
        assert_eq!(g.get("big").and_then(Value::as_u64), Some(1 << 40));
        assert_eq!(g.get("types"), Some(&Value::Array(vec![Value::I32(1), Value::I32(3)])));
        assert_eq!(g.get("empty"), Some(&Value::Array(Vec::new())));
        for t in &g.tensors {
            assert_eq!(t.dims, vec![32, 4]);
            let mut out = vec![0f32; 128];
            dequantize(t.kind, g.data(&file, t), &mut out).unwrap();
            for (b, (got, want)) in out.chunks(32).zip(vals.chunks(32)).enumerate().flat_map(|(b, (g, w))| g.iter().zip(w).map(move |p| (b, p))) {
                let step = vals[b * 32..b * 32 + 32].iter().fold(0f32, |m, v| m.max(v.abs())) / 127.0;
                let tol = match t.kind {
                    GgmlType::F32 => 0.0,
                    GgmlType::F16 => want.abs() * 1e-3,
                    _ => step * 0.5 + want.abs() * 1e-3,
                };
                assert!((got - want).abs() <= tol, "{}: {got} for {want}", t.kind);
            }
        }
    }
}
