//! GGUF, llama.cpp's checkpoint format: the header, the metadata, the tensor infos and the
//! aligned data section, read from untrusted bytes; and the dequantization of its tensor types
//! to f32. Every count, length, dimension and offset is checked against the bytes that are
//! there before anything is allocated, so a truncated or lying file is an error, never an abort.
//!
//! Layout (little-endian): `"GGUF" | version u32 | n_tensors u64 | n_kv u64 | kv… | info… |
//! pad to alignment | data`. A tensor's `ne[0]` is its contiguous axis, so torch's shape is the
//! dims reversed, and quantization blocks run along `ne[0]`.

use half::{bf16, f16};
use rayon::prelude::*;
use std::fmt;

/// Deepest nesting of arrays in a metadata value (the format allows arrays of arrays; real files
/// use one level). Bounds the recursion on hostile input.
const MAX_DEPTH: usize = 4;
/// ggml's GGML_MAX_DIMS.
const MAX_DIMS: usize = 4;

/// A metadata value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    U8(u8),
    I8(i8),
    U16(u16),
    I16(i16),
    U32(u32),
    I32(i32),
    F32(f32),
    Bool(bool),
    Str(String),
    Array(Vec<Value>),
    U64(u64),
    I64(i64),
    F64(f64),
}

impl Value {
    /// The value as an unsigned integer, when it is a non-negative integer of any width.
    pub fn as_u64(&self) -> Option<u64> {
        match *self {
            Value::U8(v) => Some(v.into()),
            Value::U16(v) => Some(v.into()),
            Value::U32(v) => Some(v.into()),
            Value::U64(v) => Some(v),
            Value::I8(v) => u64::try_from(v).ok(),
            Value::I16(v) => u64::try_from(v).ok(),
            Value::I32(v) => u64::try_from(v).ok(),
            Value::I64(v) => u64::try_from(v).ok(),
            _ => None,
        }
    }
    /// The value as a float, from any numeric type.
    pub fn as_f64(&self) -> Option<f64> {
        match *self {
            // The f32's shortest decimal (1e-5, not 9.99999974e-6), as a config file would say it.
            Value::F32(v) => Some(v.to_string().parse().unwrap_or(v.into())),
            Value::F64(v) => Some(v),
            Value::I8(v) => Some(v.into()),
            Value::I16(v) => Some(v.into()),
            Value::I32(v) => Some(v.into()),
            Value::I64(v) => Some(v as f64),
            _ => self.as_u64().map(|v| v as f64),
        }
    }
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }
    pub fn as_bool(&self) -> Option<bool> {
        match *self {
            Value::Bool(b) => Some(b),
            _ => None,
        }
    }
    pub fn as_array(&self) -> Option<&[Value]> {
        match self {
            Value::Array(a) => Some(a),
            _ => None,
        }
    }
    /// A short rendering for `inspect` and messages (arrays by their length).
    pub fn brief(&self) -> String {
        match self {
            Value::Str(s) if s.chars().count() > 60 => format!("{:?}…", s.chars().take(60).collect::<String>()),
            Value::Str(s) => format!("{s:?}"),
            Value::Array(a) => format!("[{} values]", a.len()),
            Value::Bool(b) => b.to_string(),
            other => other.as_f64().map(|f| f.to_string()).unwrap_or_default(),
        }
    }
}

/// A ggml tensor type: its id, name and block geometry. The dequantizable ones are
/// [`GgmlType::supported`]; the others are known so that a file holding them can still be
/// inspected, and loading it names the tensor and its type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GgmlType(pub u32);

impl GgmlType {
    pub const F32: GgmlType = GgmlType(0);
    pub const F16: GgmlType = GgmlType(1);
    pub const Q4_0: GgmlType = GgmlType(2);
    pub const Q4_1: GgmlType = GgmlType(3);
    pub const Q5_0: GgmlType = GgmlType(6);
    pub const Q5_1: GgmlType = GgmlType(7);
    pub const Q8_0: GgmlType = GgmlType(8);
    pub const Q4_K: GgmlType = GgmlType(12);
    pub const Q5_K: GgmlType = GgmlType(13);
    pub const Q6_K: GgmlType = GgmlType(14);
    pub const BF16: GgmlType = GgmlType(30);

    /// `(name, elements per block, bytes per block)`, from ggml's type traits.
    fn traits(self) -> Option<(&'static str, u64, u64)> {
        Some(match self.0 {
            0 => ("F32", 1, 4),
            1 => ("F16", 1, 2),
            2 => ("Q4_0", 32, 18),
            3 => ("Q4_1", 32, 20),
            6 => ("Q5_0", 32, 22),
            7 => ("Q5_1", 32, 24),
            8 => ("Q8_0", 32, 34),
            9 => ("Q8_1", 32, 36),
            10 => ("Q2_K", 256, 84),
            11 => ("Q3_K", 256, 110),
            12 => ("Q4_K", 256, 144),
            13 => ("Q5_K", 256, 176),
            14 => ("Q6_K", 256, 210),
            15 => ("Q8_K", 256, 292),
            20 => ("IQ4_NL", 32, 18),
            23 => ("IQ4_XS", 256, 136),
            24 => ("I8", 1, 1),
            25 => ("I16", 1, 2),
            26 => ("I32", 1, 4),
            27 => ("I64", 1, 8),
            28 => ("F64", 1, 8),
            30 => ("BF16", 1, 2),
            _ => return None,
        })
    }
    /// Types ratlab dequantizes.
    pub const SUPPORTED: [GgmlType; 11] = [
        GgmlType::F32,
        GgmlType::F16,
        GgmlType::BF16,
        GgmlType::Q8_0,
        GgmlType::Q4_0,
        GgmlType::Q4_1,
        GgmlType::Q5_0,
        GgmlType::Q5_1,
        GgmlType::Q4_K,
        GgmlType::Q5_K,
        GgmlType::Q6_K,
    ];
    pub fn supported(self) -> bool {
        Self::SUPPORTED.contains(&self)
    }
    pub fn name(self) -> String {
        self.traits().map_or_else(|| format!("type {}", self.0), |t| t.0.to_string())
    }
    /// Elements per block and bytes per block.
    pub fn block(self) -> Option<(u64, u64)> {
        self.traits().map(|(_, n, b)| (n, b))
    }
}

impl fmt::Display for GgmlType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name())
    }
}

/// One tensor's description, checked: its bytes lie inside the file.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    pub name: String,
    /// ggml order: `dims[0]` is the contiguous axis.
    pub dims: Vec<u64>,
    pub kind: GgmlType,
    /// Absolute position of the first byte in the file.
    pub start: u64,
    pub bytes: u64,
}

impl TensorInfo {
    pub fn elements(&self) -> u64 {
        self.dims.iter().product()
    }
    /// torch's shape: the dims reversed.
    pub fn shape(&self) -> Vec<usize> {
        self.dims.iter().rev().map(|&d| d as usize).collect()
    }
}

/// A parsed GGUF file (its header, metadata and tensor infos; the data stays in the caller's bytes).
#[derive(Debug, Clone)]
pub struct Gguf {
    pub version: u32,
    /// In file order.
    pub metadata: Vec<(String, Value)>,
    pub tensors: Vec<TensorInfo>,
    pub alignment: u64,
    pub data_start: u64,
}

struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn left(&self) -> usize {
        self.b.len() - self.pos
    }
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], String> {
        if n > self.left() {
            return Err(format!("the file ends inside {what} (at byte {}, {n} bytes needed, {} left): it is truncated", self.pos, self.left()));
        }
        let s = &self.b[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn arr<const N: usize>(&mut self, what: &str) -> Result<[u8; N], String> {
        let s = self.take(N, what)?;
        let mut a = [0u8; N];
        a.copy_from_slice(s);
        Ok(a)
    }
    fn u32(&mut self, what: &str) -> Result<u32, String> {
        Ok(u32::from_le_bytes(self.arr(what)?))
    }
    fn u64(&mut self, what: &str) -> Result<u64, String> {
        Ok(u64::from_le_bytes(self.arr(what)?))
    }
    /// A count of items of at least `min_bytes` each, checked against the bytes left.
    fn count(&mut self, min_bytes: usize, what: &str) -> Result<usize, String> {
        let at = self.pos;
        let n = self.u64(what)?;
        let room = (self.left() / min_bytes.max(1)) as u64;
        if n > room {
            return Err(format!("{what} at byte {at} says {n}, but the {} bytes left hold at most {room}: the count is wrong or the file is truncated", self.left()));
        }
        Ok(n as usize)
    }
    fn string(&mut self, what: &str) -> Result<String, String> {
        let n = self.count(1, &format!("the length of {what}"))?;
        let at = self.pos;
        let s = self.take(n, what)?;
        String::from_utf8(s.to_vec()).map_err(|_| format!("{what} at byte {at} is not UTF-8"))
    }
}

/// The smallest encoding of a value of type `t` (for checking array counts).
fn min_size(t: u32) -> usize {
    match t {
        0 | 1 | 7 => 1,
        2 | 3 => 2,
        4..=6 => 4,
        8 => 8,
        9 => 12,
        _ => 8,
    }
}

fn value(c: &mut Cursor<'_>, t: u32, key: &str, depth: usize) -> Result<Value, String> {
    Ok(match t {
        0 => Value::U8(c.arr::<1>(key)?[0]),
        1 => Value::I8(c.arr::<1>(key)?[0] as i8),
        2 => Value::U16(u16::from_le_bytes(c.arr(key)?)),
        3 => Value::I16(i16::from_le_bytes(c.arr(key)?)),
        4 => Value::U32(c.u32(key)?),
        5 => Value::I32(i32::from_le_bytes(c.arr(key)?)),
        6 => Value::F32(f32::from_le_bytes(c.arr(key)?)),
        7 => match c.arr::<1>(key)?[0] {
            0 => Value::Bool(false),
            1 => Value::Bool(true),
            b => return Err(format!("metadata {key}: a bool must be 0 or 1, not {b}")),
        },
        8 => Value::Str(c.string(&format!("the string value of {key}"))?),
        9 => {
            if depth >= MAX_DEPTH {
                return Err(format!("metadata {key}: arrays nest deeper than {MAX_DEPTH} levels"));
            }
            let et = c.u32(key)?;
            if et > 12 {
                return Err(format!("metadata {key}: unknown array element type {et} (GGUF has types 0 to 12)"));
            }
            let n = c.count(min_size(et), &format!("the length of array {key}"))?;
            let mut v = Vec::with_capacity(n);
            for _ in 0..n {
                v.push(value(c, et, key, depth + 1)?);
            }
            Value::Array(v)
        }
        10 => Value::U64(c.u64(key)?),
        11 => Value::I64(i64::from_le_bytes(c.arr(key)?)),
        12 => Value::F64(f64::from_le_bytes(c.arr(key)?)),
        other => return Err(format!("metadata {key}: unknown value type {other} (GGUF has types 0 to 12)")),
    })
}

impl Gguf {
    /// Parse and check a whole file's bytes. Each tensor's bytes are checked to lie inside
    /// `bytes`, aligned, so [`Gguf::data`] never fails.
    pub fn parse(bytes: &[u8]) -> Result<Gguf, String> {
        let mut c = Cursor { b: bytes, pos: 0 };
        let magic = c.take(4, "the magic number").map_err(|_| "the file is too short to be GGUF (fewer than 4 bytes)".to_string())?;
        if magic != b"GGUF" {
            return Err(format!("not a GGUF file: it starts with {magic:02x?}, not \"GGUF\""));
        }
        let version = c.u32("the version")?;
        match version {
            2 | 3 => {}
            1 => return Err("GGUF version 1 (32-bit counts) is not supported; convert the file again with a current llama.cpp".into()),
            v if v.swap_bytes() <= 3 => return Err("this GGUF file is big-endian; ratlab reads little-endian GGUF only".into()),
            v => return Err(format!("GGUF version {v} is not supported (ratlab reads versions 2 and 3)")),
        }
        // A tensor info is at least 8 (name) + 4 + 4 + 8 bytes, a key–value pair 8 + 4 + 1.
        let n_tensors = c.count(24, "the tensor count")?;
        let n_kv = c.count(13, "the metadata count")?;
        let mut metadata: Vec<(String, Value)> = Vec::with_capacity(n_kv);
        for _ in 0..n_kv {
            let key = c.string("a metadata key")?;
            let t = c.u32(&key)?;
            let v = value(&mut c, t, &key, 0)?;
            if metadata.iter().any(|(k, _)| *k == key) {
                return Err(format!("metadata key {key} appears twice"));
            }
            metadata.push((key, v));
        }
        let alignment = match metadata.iter().find(|(k, _)| k == "general.alignment") {
            None => 32,
            Some((_, Value::U32(a))) if a.is_power_of_two() => u64::from(*a),
            Some((_, v)) => return Err(format!("general.alignment is {}; it must be a power of two (u32)", v.brief())),
        };
        let mut raw = Vec::with_capacity(n_tensors);
        let mut names = std::collections::HashSet::with_capacity(n_tensors);
        for _ in 0..n_tensors {
            let name = c.string("a tensor name")?;
            let nd = c.u32(&name)? as usize;
            if nd == 0 || nd > MAX_DIMS {
                return Err(format!("tensor {name}: {nd} dimensions (ggml allows 1 to {MAX_DIMS})"));
            }
            let mut dims = Vec::with_capacity(nd);
            for _ in 0..nd {
                dims.push(c.u64(&name)?);
            }
            let kind = GgmlType(c.u32(&name)?);
            let offset = c.u64(&name)?;
            if !names.insert(name.clone()) {
                return Err(format!("tensor {name} appears twice"));
            }
            raw.push((name, dims, kind, offset));
        }
        let data_start = (c.pos as u64).div_ceil(alignment) * alignment;
        let file = bytes.len() as u64;
        let mut tensors = Vec::with_capacity(raw.len());
        for (name, dims, kind, offset) in raw {
            let Some((block, block_bytes)) = kind.block() else {
                return Err(format!("tensor {name} has ggml type {}, which ratlab does not know; it reads {}", kind.0, supported_list()));
            };
            let mut elements: u64 = 1;
            for &d in &dims {
                elements = elements.checked_mul(d).filter(|&e| e < (1 << 40)).ok_or_else(|| format!("tensor {name}: dimensions {dims:?} are too large"))?;
            }
            if dims[0] % block != 0 {
                return Err(format!("tensor {name}: its first dimension {} is not a multiple of the {kind} block size {block}", dims[0]));
            }
            let size = elements / block * block_bytes;
            if offset % alignment != 0 {
                return Err(format!("tensor {name}: offset {offset} is not a multiple of the alignment {alignment}"));
            }
            let start = data_start.checked_add(offset).ok_or_else(|| format!("tensor {name}: offset {offset} is out of range"))?;
            match start.checked_add(size) {
                Some(end) if end <= file => {}
                _ => return Err(format!("tensor {name} ({kind}, {dims:?}) needs bytes {start}..{} but the file has {file}: it is truncated or the tensor info is wrong", start.saturating_add(size))),
            }
            tensors.push(TensorInfo { name, dims, kind, start, bytes: size });
        }
        Ok(Gguf { version, metadata, tensors, alignment, data_start })
    }

    pub fn get(&self, key: &str) -> Option<&Value> {
        self.metadata.iter().find(|(k, _)| k == key).map(|(_, v)| v)
    }
    pub fn tensor(&self, name: &str) -> Option<&TensorInfo> {
        self.tensors.iter().find(|t| t.name == name)
    }
    /// The bytes of a tensor (checked at parse to lie inside `file`).
    pub fn data<'a>(&self, file: &'a [u8], t: &TensorInfo) -> &'a [u8] {
        &file[t.start as usize..(t.start + t.bytes) as usize]
    }
    /// A tensor as f32, in ggml order (reshape to [`TensorInfo::shape`]).
    pub fn dequantize(&self, file: &[u8], t: &TensorInfo) -> Result<Vec<f32>, String> {
        let mut out = vec![0f32; t.elements() as usize];
        self.dequantize_into(file, t, &mut out)?;
        Ok(out)
    }
    /// A tensor as f32 into `out`, which must hold exactly its elements.
    pub fn dequantize_into(&self, file: &[u8], t: &TensorInfo, out: &mut [f32]) -> Result<(), String> {
        dequantize(t.kind, self.data(file, t), out).map_err(|e| format!("tensor {}: {e}", t.name))
    }
}

fn supported_list() -> String {
    GgmlType::SUPPORTED.iter().map(|t| t.name()).collect::<Vec<_>>().join(", ")
}

fn h(b: &[u8], at: usize) -> f32 {
    f16::from_le_bytes([b[at], b[at + 1]]).to_f32()
}

/// Dequantize `data` (whole blocks of `kind`) into `out` (one f32 per element), in parallel over
/// blocks. The formulas are ggml's `dequantize_row_*`; a block's output is contiguous.
pub fn dequantize(kind: GgmlType, data: &[u8], out: &mut [f32]) -> Result<(), String> {
    let (block, bytes) = kind.block().ok_or_else(|| format!("unknown ggml type {}", kind.0))?;
    let (block, bytes) = (block as usize, bytes as usize);
    if !kind.supported() {
        return Err(format!("type {kind} cannot be dequantized; ratlab reads {}", supported_list()));
    }
    if !out.len().is_multiple_of(block) || data.len() != out.len() / block * bytes {
        return Err(format!("{} bytes do not hold {} {kind} values", data.len(), out.len()));
    }
    // Chunks of many blocks per task keep rayon's overhead small.
    const PER_TASK: usize = 1024;
    out.par_chunks_mut(block * PER_TASK).zip(data.par_chunks(bytes * PER_TASK)).for_each(|(y, x)| {
        for (y, x) in y.chunks_exact_mut(block).zip(x.chunks_exact(bytes)) {
            block_f32(kind, x, y);
        }
    });
    Ok(())
}

/// Six-bit scale and min `j` of a K-quant super-block (ggml's `get_scale_min_k4`).
fn scale_min_k4(j: usize, s: &[u8]) -> (f32, f32) {
    if j < 4 {
        ((s[j] & 63) as f32, (s[j + 4] & 63) as f32)
    } else {
        (((s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4)) as f32, ((s[j + 4] >> 4) | ((s[j] >> 6) << 4)) as f32)
    }
}

fn block_f32(kind: GgmlType, x: &[u8], y: &mut [f32]) {
    match kind {
        GgmlType::F32 => y[0] = f32::from_le_bytes([x[0], x[1], x[2], x[3]]),
        GgmlType::F16 => y[0] = h(x, 0),
        GgmlType::BF16 => y[0] = bf16::from_le_bytes([x[0], x[1]]).to_f32(),
        GgmlType::Q8_0 => {
            let d = h(x, 0);
            for (y, &q) in y.iter_mut().zip(&x[2..34]) {
                *y = q as i8 as f32 * d;
            }
        }
        GgmlType::Q4_0 | GgmlType::Q4_1 => {
            let d = h(x, 0);
            let (m, qs) = if kind == GgmlType::Q4_1 { (h(x, 2), &x[4..20]) } else { (-8.0 * d, &x[2..18]) };
            for j in 0..16 {
                y[j] = (qs[j] & 0xF) as f32 * d + m;
                y[j + 16] = (qs[j] >> 4) as f32 * d + m;
            }
        }
        GgmlType::Q5_0 | GgmlType::Q5_1 => {
            let d = h(x, 0);
            let (m, rest) = if kind == GgmlType::Q5_1 { (h(x, 2), &x[4..]) } else { (-16.0 * d, &x[2..]) };
            let qh = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
            let qs = &rest[4..20];
            for j in 0..16 {
                let lo = (qs[j] & 0xF) as u32 | ((qh >> j) & 1) << 4;
                let hi = (qs[j] >> 4) as u32 | ((qh >> (j + 16)) & 1) << 4;
                y[j] = lo as f32 * d + m;
                y[j + 16] = hi as f32 * d + m;
            }
        }
        GgmlType::Q4_K | GgmlType::Q5_K => {
            let (d, dmin, scales) = (h(x, 0), h(x, 2), &x[4..16]);
            let five = kind == GgmlType::Q5_K;
            let (qh, qs) = if five { (&x[16..48], &x[48..176]) } else { (&x[0..0], &x[16..144]) };
            for c in 0..4 {
                let q = &qs[32 * c..32 * c + 32];
                let (sc1, m1) = scale_min_k4(2 * c, scales);
                let (sc2, m2) = scale_min_k4(2 * c + 1, scales);
                let (d1, d2, m1, m2) = (d * sc1, d * sc2, dmin * m1, dmin * m2);
                for l in 0..32 {
                    let (mut lo, mut hi) = ((q[l] & 0xF) as f32, (q[l] >> 4) as f32);
                    if five {
                        if qh[l] & (1 << (2 * c)) != 0 {
                            lo += 16.0;
                        }
                        if qh[l] & (2 << (2 * c)) != 0 {
                            hi += 16.0;
                        }
                    }
                    y[64 * c + l] = d1 * lo - m1;
                    y[64 * c + 32 + l] = d2 * hi - m2;
                }
            }
        }
        GgmlType::Q6_K => {
            let d = h(x, 208);
            for n in 0..2 {
                let (ql, qh, sc) = (&x[64 * n..64 * n + 64], &x[128 + 32 * n..128 + 32 * n + 32], &x[192 + 8 * n..192 + 8 * n + 8]);
                let y = &mut y[128 * n..128 * n + 128];
                for l in 0..32 {
                    let is = l / 16;
                    let q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) as i32 - 32;
                    let q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) as i32 - 32;
                    let q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) as i32 - 32;
                    let q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) as i32 - 32;
                    y[l] = d * (sc[is] as i8) as f32 * q1 as f32;
                    y[l + 32] = d * (sc[is + 2] as i8) as f32 * q2 as f32;
                    y[l + 64] = d * (sc[is + 4] as i8) as f32 * q3 as f32;
                    y[l + 96] = d * (sc[is + 6] as i8) as f32 * q4 as f32;
                }
            }
        }
        _ => unreachable!("dequantize checks the type first"),
    }
}

/// Undo llama.cpp's Q/K row permutation for `heads` heads of `rows / heads` rows each, rows of
/// `width` values: GGUF row `2i + j` of a head is Hugging Face row `j·hd/2 + i`, turning the
/// interleaved rotary pairs `(2i, 2i+1)` back into the half-split pairs `(i, i + hd/2)` that
/// transformers (and ratlab's rope) use. Works for a bias too (`width` 1).
pub fn unpermute_rows(w: &[f32], heads: usize, width: usize) -> Vec<f32> {
    move_rows(w, heads, width, false)
}

/// llama.cpp's Q/K row order from Hugging Face's (the inverse of [`unpermute_rows`]), for
/// writing GGUF.
pub fn permute_rows(w: &[f32], heads: usize, width: usize) -> Vec<f32> {
    move_rows(w, heads, width, true)
}

fn move_rows(w: &[f32], heads: usize, width: usize, to_gguf: bool) -> Vec<f32> {
    let rows = w.len() / width.max(1);
    let hd = rows / heads.max(1);
    let mut out = vec![0f32; w.len()];
    for head in 0..heads {
        for i in 0..hd / 2 {
            for j in 0..2 {
                let gguf = (head * hd + 2 * i + j) * width;
                let hf = (head * hd + j * hd / 2 + i) * width;
                let (src, dst) = if to_gguf { (hf, gguf) } else { (gguf, hf) };
                out[dst..dst + width].copy_from_slice(&w[src..src + width]);
            }
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) use super::super::gguf_write::GgufWriter as Writer;

    fn f16b(v: f32) -> [u8; 2] {
        f16::from_f32(v).to_le_bytes()
    }

    #[test]
    fn reads_metadata_and_tensors_back() {
        let vals: Vec<f32> = (0..64).map(|i| i as f32 * 0.25 - 3.0).collect();
        let raw: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
        let f = Writer::new().str("general.architecture", "llama").u32("llama.block_count", 2).strs("tokenizer.ggml.tokens", &["a", "b"]).tensor("w", &[16, 4], GgmlType::F32, &raw).to_bytes();
        let g = Gguf::parse(&f).unwrap();
        assert_eq!(g.get("general.architecture").and_then(Value::as_str), Some("llama"));
        assert_eq!(g.get("llama.block_count").and_then(Value::as_u64), Some(2));
        assert_eq!(g.get("tokenizer.ggml.tokens").and_then(Value::as_array).map(|a| a.len()), Some(2));
        let t = g.tensor("w").unwrap();
        assert_eq!(t.shape(), vec![4, 16]);
        assert_eq!(g.dequantize(&f, t).unwrap(), vals);
    }

    /// Every type against a direct evaluation of ggml's formulas on a hand-built block.
    #[test]
    fn dequantizes_each_type_by_its_formula() {
        // Q8_0: d = 0.5, q = -16..16
        let mut b = f16b(0.5).to_vec();
        b.extend((0..32).map(|i| (i as i8 - 16) as u8));
        let mut y = [0f32; 32];
        dequantize(GgmlType::Q8_0, &b, &mut y).unwrap();
        assert_eq!(y[0], -8.0);
        assert_eq!(y[31], 7.5);
        // Q4_0 and Q4_1: low nibbles first, then high ones (not interleaved).
        let qs: Vec<u8> = (0..16).map(|j| (j as u8) | ((15 - j as u8) << 4)).collect();
        let mut b = f16b(2.0).to_vec();
        b.extend(&qs);
        dequantize(GgmlType::Q4_0, &b, &mut y).unwrap();
        assert_eq!((y[0], y[15], y[16], y[31]), (-16.0, 14.0, 14.0, -16.0));
        let mut b = f16b(2.0).to_vec();
        b.extend(f16b(-1.0));
        b.extend(&qs);
        dequantize(GgmlType::Q4_1, &b, &mut y).unwrap();
        assert_eq!((y[1], y[16]), (1.0, 29.0));
        // Q5_0 / Q5_1: the fifth bit of element j is bit j of qh.
        let qh: u32 = 0b1 | (1 << 17);
        let mut b = f16b(1.0).to_vec();
        b.extend(qh.to_le_bytes());
        b.extend(&qs);
        dequantize(GgmlType::Q5_0, &b, &mut y).unwrap();
        assert_eq!((y[0], y[1], y[16], y[17]), (0.0, -15.0, -1.0, 14.0 + 16.0 - 16.0));
        let mut b = f16b(1.0).to_vec();
        b.extend(f16b(0.5));
        b.extend(qh.to_le_bytes());
        b.extend(&qs);
        dequantize(GgmlType::Q5_1, &b, &mut y).unwrap();
        assert_eq!((y[0], y[17]), (16.5, 30.5));
        // Q6_K: d·scale·(q - 32), with q's low four bits in ql and top two in qh.
        let mut b = vec![0u8; 210];
        b[0] = 0x3A; // ql[0]: low nibble 10 (element 0), high nibble 3 (element 64)
        b[128] = 0b10_00_00_01; // qh[0]: element 0 +16, element 96 +128
        for s in 0..16 {
            b[192 + s] = (s as i8 - 8) as u8;
        }
        b[208..210].copy_from_slice(&f16b(0.25));
        let mut y = [0f32; 256];
        dequantize(GgmlType::Q6_K, &b, &mut y).unwrap();
        assert_eq!(y[0], 0.25 * -8.0 * (26 - 32) as f32);
        assert_eq!(y[64], 0.25 * -4.0 * (3 - 32) as f32);
        assert_eq!(y[96], 0.25 * -2.0 * (32 - 32) as f32);
        // Q4_K: sub-block scales and mins of six bits; sub-block 5 takes the packed high bits.
        let mut b = vec![0u8; 144];
        b[0..2].copy_from_slice(&f16b(0.5));
        b[2..4].copy_from_slice(&f16b(0.25));
        b[4] = 3 | (1 << 6); // sc(0) = 3; high bits of sc(4) = 1
        b[8] = 2; // m(0) = 2
        b[12] = 0x5 | (0x7 << 4); // sc(4) low = 5, m(4) low = 7
        b[16] = 0x9 | (0x4 << 4); // element 0 = 9 (sub-block 0), element 32 = 4 (sub-block 1)
        b[16 + 64] = 0x2; // element 128 (sub-block 4) = 2
        dequantize(GgmlType::Q4_K, &b, &mut y).unwrap();
        assert_eq!(y[0], 0.5 * 3.0 * 9.0 - 0.25 * 2.0);
        assert_eq!(y[128], 0.5 * (5 + 16) as f32 * 2.0 - 0.25 * 7.0);
        // Q5_K: the same with a fifth bit from qh (bit 2c for the low half of chunk c).
        let mut b5 = b[..16].to_vec();
        let mut qh = vec![0u8; 32];
        qh[0] = 1 | (1 << 4); // element 0 (chunk 0 low) and element 128 (chunk 2 low) +16
        b5.extend(&qh);
        b5.extend(&b[16..144]);
        dequantize(GgmlType::Q5_K, &b5, &mut y).unwrap();
        assert_eq!(y[0], 0.5 * 3.0 * 25.0 - 0.25 * 2.0);
        assert_eq!(y[128], 0.5 * 21.0 * 18.0 - 0.25 * 7.0);
        // F16 and BF16
        let mut y1 = [0f32; 2];
        dequantize(GgmlType::F16, &[f16b(1.5), f16b(-2.0)].concat(), &mut y1).unwrap();
        assert_eq!(y1, [1.5, -2.0]);
        dequantize(GgmlType::BF16, &[bf16::from_f32(3.0).to_le_bytes(), bf16::from_f32(-0.5).to_le_bytes()].concat(), &mut y1).unwrap();
        assert_eq!(y1, [3.0, -0.5]);
    }

    #[test]
    fn unpermute_inverts_the_converters_permutation() {
        // llama.cpp's permute: reshape(n, 2, hd/2, w).swapaxes(1, 2).
        let (heads, hd, w) = (3usize, 4usize, 2usize);
        let hf: Vec<f32> = (0..heads * hd * w).map(|i| i as f32).collect();
        let mut gguf = vec![0f32; hf.len()];
        for h in 0..heads {
            for j in 0..2 {
                for i in 0..hd / 2 {
                    let src = (h * hd + j * hd / 2 + i) * w;
                    let dst = (h * hd + 2 * i + j) * w;
                    gguf[dst..dst + w].copy_from_slice(&hf[src..src + w]);
                }
            }
        }
        assert_ne!(gguf, hf);
        assert_eq!(unpermute_rows(&gguf, heads, w), hf);
    }

    #[test]
    fn refuses_lying_and_truncated_files() {
        let raw = vec![0u8; 16 * 4 * 4];
        let good = Writer::new().str("general.architecture", "llama").tensor("w", &[16, 4], GgmlType::F32, &raw).to_bytes();
        assert!(Gguf::parse(&good).is_ok());
        let cut = &good[..good.len() - 8];
        assert!(Gguf::parse(cut).unwrap_err().contains("truncated"), "{}", Gguf::parse(cut).unwrap_err());
        for n in 1..40 {
            assert!(Gguf::parse(&good[..n]).is_err());
        }
        let mut lying = good.clone();
        lying[8..16].copy_from_slice(&u64::MAX.to_le_bytes()); // n_tensors
        assert!(Gguf::parse(&lying).unwrap_err().contains("tensor count"));
        let mut lying = good.clone();
        lying[24..32].copy_from_slice(&(1u64 << 40).to_le_bytes()); // the first key's length
        assert!(Gguf::parse(&lying).unwrap_err().contains("length"));
        let unknown = Writer::new().tensor("w", &[16], GgmlType(99), &[0; 64]).to_bytes();
        let e = Gguf::parse(&unknown).unwrap_err();
        assert!(e.contains("tensor w") && e.contains("99"), "{e}");
        let unsupported = Writer::new().tensor("blk.0.attn_q.weight", &[256], GgmlType(10), &[0; 84]).to_bytes();
        let g = Gguf::parse(&unsupported).unwrap();
        let e = g.dequantize(&unsupported, &g.tensors[0]).unwrap_err();
        assert!(e.contains("blk.0.attn_q.weight") && e.contains("Q2_K"), "{e}");
        assert!(Gguf::parse(b"GGUF\x01\0\0\0").unwrap_err().contains("version 1"));
        assert!(Gguf::parse(b"GGML").unwrap_err().contains("not a GGUF"));
    }
}
