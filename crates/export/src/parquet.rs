//! A small Parquet writer for the session table: one row group, one uncompressed data page
//! per column, PLAIN values, definition levels (RLE) for optional columns. It is what
//! pandas, DuckDB and Spark read; it does not need the arrow stack, which would cost minutes
//! of build time for one export.
//!
//! The format (Apache Parquet, `parquet.thrift`): `PAR1`, the column chunks, the file
//! metadata in Thrift's compact protocol, its length (u32 LE), `PAR1`.

use std::io::{self, Write};

/// One column's values.
#[derive(Debug, Clone)]
pub enum Values {
    /// UTF-8 text (`BYTE_ARRAY`, converted type UTF8).
    Text(Vec<Option<String>>),
    /// `INT64`.
    Int(Vec<Option<i64>>),
    /// `DOUBLE`.
    Double(Vec<Option<f64>>),
    /// `FLOAT`, never missing.
    Float(Vec<f32>),
    /// `BOOLEAN`.
    Bool(Vec<Option<bool>>),
}

impl Values {
    fn len(&self) -> usize {
        match self {
            Values::Text(v) => v.len(),
            Values::Int(v) => v.len(),
            Values::Double(v) => v.len(),
            Values::Float(v) => v.len(),
            Values::Bool(v) => v.len(),
        }
    }

    /// Parquet physical type.
    fn physical(&self) -> i32 {
        match self {
            Values::Bool(_) => 0,
            Values::Int(_) => 2,
            Values::Float(_) => 4,
            Values::Double(_) => 5,
            Values::Text(_) => 6,
        }
    }

    fn optional(&self) -> bool {
        !matches!(self, Values::Float(_))
    }

    /// Which rows have a value.
    fn present(&self) -> Vec<bool> {
        match self {
            Values::Text(v) => v.iter().map(Option::is_some).collect(),
            Values::Int(v) => v.iter().map(Option::is_some).collect(),
            Values::Double(v) => v.iter().map(Option::is_some).collect(),
            Values::Float(v) => vec![true; v.len()],
            Values::Bool(v) => v.iter().map(Option::is_some).collect(),
        }
    }

    /// The present values, PLAIN-encoded.
    fn plain(&self) -> Vec<u8> {
        let mut out = Vec::new();
        match self {
            Values::Text(v) => {
                for s in v.iter().flatten() {
                    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
                    out.extend_from_slice(s.as_bytes());
                }
            }
            Values::Int(v) => v
                .iter()
                .flatten()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Values::Double(v) => v
                .iter()
                .flatten()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Values::Float(v) => v
                .iter()
                .for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            Values::Bool(v) => {
                // Bit-packed, least significant bit first.
                let bits: Vec<bool> = v.iter().flatten().copied().collect();
                for chunk in bits.chunks(8) {
                    out.push(
                        chunk
                            .iter()
                            .enumerate()
                            .fold(0u8, |b, (i, x)| b | (u8::from(*x) << i)),
                    );
                }
            }
        }
        out
    }
}

/// A column: its name and values.
#[derive(Debug, Clone)]
pub struct Column {
    /// Column name.
    pub name: String,
    /// Values, one per row.
    pub values: Values,
}

/// Thrift compact protocol, the parts Parquet's metadata uses.
struct Thrift {
    out: Vec<u8>,
    last: Vec<i16>,
}

const T_I32: u8 = 5;
const T_I64: u8 = 6;
const T_BINARY: u8 = 8;
const T_LIST: u8 = 9;
const T_STRUCT: u8 = 12;

impl Thrift {
    fn new() -> Thrift {
        Thrift {
            out: Vec::new(),
            last: vec![0],
        }
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn zigzag(&mut self, v: i64) {
        self.varint(((v << 1) ^ (v >> 63)) as u64);
    }

    fn field(&mut self, id: i16, kind: u8) {
        let last = self.last.last_mut().expect("inside a struct");
        let delta = id - *last;
        *last = id;
        if (1..=15).contains(&delta) {
            self.out.push(((delta as u8) << 4) | kind);
        } else {
            self.out.push(kind);
            self.zigzag(i64::from(id));
        }
    }

    fn i32(&mut self, id: i16, v: i32) {
        self.field(id, T_I32);
        self.zigzag(i64::from(v));
    }

    fn i64(&mut self, id: i16, v: i64) {
        self.field(id, T_I64);
        self.zigzag(v);
    }

    fn string(&mut self, id: i16, s: &str) {
        self.field(id, T_BINARY);
        self.varint(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }

    fn list_header(&mut self, id: i16, kind: u8, n: usize) {
        self.field(id, T_LIST);
        if n < 15 {
            self.out.push(((n as u8) << 4) | kind);
        } else {
            self.out.push(0xF0 | kind);
            self.varint(n as u64);
        }
    }

    fn begin(&mut self, id: Option<i16>) {
        if let Some(id) = id {
            self.field(id, T_STRUCT);
        }
        self.last.push(0);
    }

    fn end(&mut self) {
        self.out.push(0);
        self.last.pop();
    }

    fn i32_list_item(&mut self, v: i32) {
        self.zigzag(i64::from(v));
    }

    fn string_list_item(&mut self, s: &str) {
        self.varint(s.len() as u64);
        self.out.extend_from_slice(s.as_bytes());
    }
}

/// Definition levels (1: present, 0: missing) in the RLE/bit-packed hybrid, as runs,
/// prefixed by their length.
fn definition_levels(present: &[bool]) -> Vec<u8> {
    let mut runs = Vec::new();
    let mut i = 0;
    while i < present.len() {
        let v = present[i];
        let mut n = 1;
        while i + n < present.len() && present[i + n] == v {
            n += 1;
        }
        let mut header = (n as u64) << 1;
        while header >= 0x80 {
            runs.push((header as u8) | 0x80);
            header >>= 7;
        }
        runs.push(header as u8);
        runs.push(u8::from(v));
        i += n;
    }
    let mut out = (runs.len() as u32).to_le_bytes().to_vec();
    out.extend(runs);
    out
}

/// Writes `columns` (all of one length) as a Parquet file.
pub fn write(out: &mut impl Write, columns: &[Column]) -> io::Result<()> {
    let rows = columns.first().map_or(0, |c| c.values.len());
    if columns.iter().any(|c| c.values.len() != rows) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "columns of different lengths",
        ));
    }
    let mut file: Vec<u8> = b"PAR1".to_vec();
    // (offset, size) of each column chunk.
    let mut chunks = Vec::with_capacity(columns.len());
    for c in columns {
        let mut data = Vec::new();
        if c.values.optional() {
            data.extend(definition_levels(&c.values.present()));
        }
        data.extend(c.values.plain());
        // A page's size is an i32: one column of one page stops at 2 GiB.
        let size = i32::try_from(data.len()).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!(
                    "column {} is over 2 GiB: export fewer sessions at once",
                    c.name
                ),
            )
        })?;
        let mut h = Thrift::new();
        h.i32(1, 0); // DATA_PAGE
        h.i32(2, size);
        h.i32(3, size);
        h.begin(Some(5));
        h.i32(1, i32::try_from(rows).unwrap_or(i32::MAX));
        h.i32(2, 0); // PLAIN
        h.i32(3, 3); // RLE
        h.i32(4, 3); // RLE
        h.end();
        h.out.push(0);
        let offset = file.len();
        file.extend(&h.out);
        file.extend(&data);
        chunks.push((offset, file.len() - offset));
    }
    let mut m = Thrift::new();
    m.i32(1, 1);
    m.list_header(2, T_STRUCT, columns.len() + 1);
    m.begin(None);
    m.string(4, "schema");
    m.i32(5, columns.len() as i32);
    m.end();
    for c in columns {
        m.begin(None);
        m.i32(1, c.values.physical());
        m.i32(3, i32::from(c.values.optional()));
        m.string(4, &c.name);
        if matches!(c.values, Values::Text(_)) {
            m.i32(6, 0); // UTF8
        }
        m.end();
    }
    m.i64(3, rows as i64);
    m.list_header(4, T_STRUCT, 1);
    m.begin(None);
    m.list_header(1, T_STRUCT, columns.len());
    for (c, (offset, size)) in columns.iter().zip(&chunks) {
        m.begin(None);
        m.i64(2, *offset as i64);
        m.begin(Some(3));
        m.i32(1, c.values.physical());
        m.list_header(2, T_I32, 2);
        m.i32_list_item(0); // PLAIN
        m.i32_list_item(3); // RLE
        m.list_header(3, T_BINARY, 1);
        m.string_list_item(&c.name);
        m.i32(4, 0); // UNCOMPRESSED
        m.i64(5, rows as i64);
        m.i64(6, *size as i64);
        m.i64(7, *size as i64);
        m.i64(9, *offset as i64);
        m.end();
        m.end();
    }
    let total: usize = chunks.iter().map(|(_, s)| s).sum();
    m.i64(2, total as i64);
    m.i64(3, rows as i64);
    m.end();
    m.string(6, concat!("shrike version ", env!("CARGO_PKG_VERSION")));
    m.out.push(0);
    file.extend(&m.out);
    file.extend((m.out.len() as u32).to_le_bytes());
    file.extend(b"PAR1");
    out.write_all(&file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn definition_levels_are_runs() {
        // 3 present, 2 missing: runs (3,1) and (2,0), 4 bytes, after their length.
        assert_eq!(
            definition_levels(&[true, true, true, false, false]),
            vec![4, 0, 0, 0, 6, 1, 4, 0]
        );
    }

    #[test]
    fn a_file_has_its_magic_and_its_footer_length() {
        let mut out = Vec::new();
        write(
            &mut out,
            &[
                Column {
                    name: "a".into(),
                    values: Values::Int(vec![Some(1), None]),
                },
                Column {
                    name: "b".into(),
                    values: Values::Float(vec![0.5, -1.0]),
                },
            ],
        )
        .unwrap();
        assert_eq!(&out[..4], b"PAR1");
        assert_eq!(&out[out.len() - 4..], b"PAR1");
        let n = u32::from_le_bytes(out[out.len() - 8..out.len() - 4].try_into().unwrap()) as usize;
        assert!(n > 10 && n < out.len() - 12);
        let uneven = write(
            &mut Vec::new(),
            &[
                Column {
                    name: "a".into(),
                    values: Values::Int(vec![Some(1)]),
                },
                Column {
                    name: "b".into(),
                    values: Values::Float(vec![]),
                },
            ],
        );
        assert!(uneven.is_err());
    }
}
