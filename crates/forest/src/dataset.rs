//! Labelled numeric datasets for benchmarks and quality tests: NumPy `.npz` archives with
//! an `X` matrix and a `y` label vector (ADBench's layout, `y = 1` for anomalies), and the
//! ROC-AUC to grade scores against them.

use std::io::Read;
use std::path::Path;

/// A labelled dataset, row-major.
#[derive(Debug, Clone)]
pub struct Dataset {
    /// Name (the file stem).
    pub name: String,
    /// Row-major values.
    pub x: Vec<f64>,
    /// Columns.
    pub cols: usize,
    /// Labels (true = anomaly).
    pub y: Vec<bool>,
}

/// Why a dataset could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DatasetError {
    /// File system error.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// Not the expected format.
    #[error("{path}: {why}")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
}

fn u16le(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}
fn u32le(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

/// The members of a zip archive (stored or deflated), read through its central directory.
fn unzip(bytes: &[u8]) -> Result<Vec<(String, Vec<u8>)>, String> {
    let eocd = (0..bytes.len().saturating_sub(21))
        .rev()
        .find(|&i| u32le(bytes, i) == Some(0x0605_4b50))
        .ok_or("no zip end-of-directory record")?;
    let count = u16le(bytes, eocd + 10).ok_or("truncated")? as usize;
    let mut at = u32le(bytes, eocd + 16).ok_or("truncated")? as usize;
    let mut out = Vec::new();
    for _ in 0..count {
        if u32le(bytes, at) != Some(0x0201_4b50) {
            return Err("bad central directory entry".into());
        }
        let method = u16le(bytes, at + 10).ok_or("truncated")?;
        let csize = u32le(bytes, at + 20).ok_or("truncated")? as usize;
        let name_len = u16le(bytes, at + 28).ok_or("truncated")? as usize;
        let extra_len = u16le(bytes, at + 30).ok_or("truncated")? as usize;
        let comment_len = u16le(bytes, at + 32).ok_or("truncated")? as usize;
        let local = u32le(bytes, at + 42).ok_or("truncated")? as usize;
        let name = String::from_utf8_lossy(
            bytes
                .get(at + 46..at + 46 + name_len)
                .ok_or("truncated name")?,
        )
        .into_owned();
        at += 46 + name_len + extra_len + comment_len;
        if u32le(bytes, local) != Some(0x0403_4b50) {
            return Err("bad local header".into());
        }
        let lname = u16le(bytes, local + 26).ok_or("truncated")? as usize;
        let lextra = u16le(bytes, local + 28).ok_or("truncated")? as usize;
        let start = local + 30 + lname + lextra;
        let data = bytes.get(start..start + csize).ok_or("truncated member")?;
        let content = match method {
            0 => data.to_vec(),
            8 => {
                let mut v = Vec::new();
                flate2::read::DeflateDecoder::new(data)
                    .read_to_end(&mut v)
                    .map_err(|e| e.to_string())?;
                v
            }
            m => return Err(format!("unsupported zip compression method {m}")),
        };
        out.push((name, content));
    }
    Ok(out)
}

/// Values and shape of a `.npy` array (little-endian floats, integers or booleans).
fn npy(bytes: &[u8]) -> Result<(Vec<f64>, Vec<usize>), String> {
    if bytes.get(..6) != Some(b"\x93NUMPY") {
        return Err("not a .npy array".into());
    }
    let major = bytes.get(6).copied().ok_or("truncated")?;
    let (hlen, hstart) = if major == 1 {
        (u16le(bytes, 8).ok_or("truncated")? as usize, 10)
    } else {
        (u32le(bytes, 8).ok_or("truncated")? as usize, 12)
    };
    let header = std::str::from_utf8(bytes.get(hstart..hstart + hlen).ok_or("truncated")?)
        .map_err(|_| "header is not text")?;
    let field = |key: &str| -> Option<&str> {
        let i = header.find(&format!("'{key}':"))? + key.len() + 3;
        Some(header[i..].trim_start())
    };
    let descr = field("descr").ok_or("no descr")?;
    let descr = descr.trim_start_matches('\'');
    let descr = &descr[..descr.find('\'').ok_or("bad descr")?];
    let fortran = field("fortran_order").is_some_and(|v| v.starts_with("True"));
    let shape_text = field("shape").ok_or("no shape")?;
    let shape_text = &shape_text[1..shape_text.find(')').ok_or("bad shape")?];
    let shape: Vec<usize> = shape_text
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().map_err(|_| "bad shape"))
        .collect::<Result<_, _>>()?;
    let body = &bytes[hstart + hlen..];
    let n: usize = shape.iter().product();
    let width = match descr {
        "<f8" | "<i8" | "<u8" => 8,
        "<f4" | "<i4" | "<u4" => 4,
        "<i2" | "<u2" => 2,
        "|b1" | "|u1" | "|i1" => 1,
        d => return Err(format!("unsupported dtype {d}")),
    };
    if body.len() < n * width {
        return Err("truncated data".into());
    }
    let mut v: Vec<f64> = body[..n * width]
        .chunks_exact(width)
        .map(|c| match descr {
            "<f8" => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            "<i8" => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            "<u8" => u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
            "<f4" => f32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64,
            "<i4" => i32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64,
            "<u4" => u32::from_le_bytes(c.try_into().unwrap_or([0; 4])) as f64,
            "<i2" => i16::from_le_bytes(c.try_into().unwrap_or([0; 2])) as f64,
            "<u2" => u16::from_le_bytes(c.try_into().unwrap_or([0; 2])) as f64,
            "|i1" => c[0] as i8 as f64,
            _ => c[0] as f64,
        })
        .collect();
    if fortran && shape.len() == 2 {
        let (r, c) = (shape[0], shape[1]);
        let mut t = vec![0.0; n];
        for i in 0..r {
            for j in 0..c {
                t[i * c + j] = v[j * r + i];
            }
        }
        v = t;
    }
    Ok((v, shape))
}

impl Dataset {
    /// Reads an ADBench-style `.npz` (arrays `X`, 2-D, and `y`, 1-D).
    pub fn load_npz(path: &Path) -> Result<Dataset, DatasetError> {
        let p = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|source| DatasetError::Io {
            path: p.clone(),
            source,
        })?;
        let fail = |why: String| DatasetError::Format {
            path: p.clone(),
            why,
        };
        let members = unzip(&bytes).map_err(fail)?;
        let get = |name: &str| {
            members
                .iter()
                .find(|(n, _)| n == name)
                .ok_or_else(|| fail(format!("no {name} array")))
                .and_then(|(_, b)| npy(b).map_err(fail))
        };
        let (x, xs) = get("X.npy")?;
        let (y, ys) = get("y.npy")?;
        if xs.len() != 2 || ys.first() != xs.first() {
            return Err(fail(format!("X shape {xs:?} and y shape {ys:?} disagree")));
        }
        Ok(Dataset {
            name: path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default(),
            x,
            cols: xs[1],
            y: y.iter().map(|v| *v != 0.0).collect(),
        })
    }

    /// Rows.
    pub fn rows(&self) -> usize {
        self.y.len()
    }
}

/// Area under the ROC curve of `scores` (higher = more positive) against `labels`, with
/// ties counted as half (the Mann–Whitney statistic). `None` without both classes.
pub fn roc_auc(scores: &[f64], labels: &[bool]) -> Option<f64> {
    let mut idx: Vec<usize> = (0..scores.len()).collect();
    idx.sort_by(|a, b| scores[*a].total_cmp(&scores[*b]));
    let pos = labels.iter().filter(|l| **l).count() as f64;
    let neg = labels.len() as f64 - pos;
    if pos == 0.0 || neg == 0.0 {
        return None;
    }
    // Sum of the (average, for ties) ranks of the positives.
    let mut rank_sum = 0.0;
    let mut i = 0;
    while i < idx.len() {
        let mut j = i;
        while j + 1 < idx.len() && scores[idx[j + 1]] == scores[idx[i]] {
            j += 1;
        }
        let avg = (i + j) as f64 / 2.0 + 1.0;
        rank_sum += (i..=j).filter(|k| labels[idx[*k]]).count() as f64 * avg;
        i = j + 1;
    }
    Some((rank_sum - pos * (pos + 1.0) / 2.0) / (pos * neg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auc_of_perfect_random_and_tied_scores() {
        let y = [false, false, true, true];
        assert_eq!(roc_auc(&[0.1, 0.2, 0.8, 0.9], &y), Some(1.0));
        assert_eq!(roc_auc(&[0.9, 0.8, 0.2, 0.1], &y), Some(0.0));
        assert_eq!(roc_auc(&[0.5; 4], &y), Some(0.5));
        assert_eq!(roc_auc(&[0.1, 0.5, 0.5, 0.9], &y), Some(0.875));
        assert_eq!(roc_auc(&[0.1, 0.2], &[true, true]), None);
    }
}
