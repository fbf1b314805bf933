//! What an ingest reads, decided from the store's record of earlier runs: skip content
//! already ingested, continue a log that only grew, or read a file whole; and the file's
//! content fingerprint, hashed first or computed by a [`Tap`] in the same pass as the read.

use std::io::{Read, Seek};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context};
use sha2::{Digest, Sha256};
use shrike_ingest::{Input, Tap};
use shrike_store::{FileSpan, IngestLedger, IngestedSource};
use shrike_types::{Clock, SystemClock};

/// What hashing a file found.
struct Hashed {
    /// SHA-256 of bytes `0..size`.
    whole: String,
    /// SHA-256 of bytes `0..prefix_len`, when asked for and `prefix_len <= size`.
    prefix: Option<String>,
    /// Whether byte `size - 1` is a newline (true for an empty file).
    ends_with_newline: bool,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes the first `size` bytes of a file (a log still being written may be longer by
/// now: what lies beyond is left for the next run), with a snapshot at `prefix_len`.
fn hash_file(path: &Path, size: u64, prefix_len: Option<u64>) -> anyhow::Result<Hashed> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut f = f.take(size);
    let mut h = Sha256::new();
    let mut prefix = None;
    let mut done = 0u64;
    let mut last = b'\n';
    let mut buf = vec![0u8; 1 << 20];
    loop {
        if prefix.is_none() && prefix_len == Some(done) {
            prefix = Some(hex(&h.clone().finalize()));
        }
        // Stop each read at the snapshot point so the snapshot lands exactly on it.
        let want = match prefix_len {
            Some(p) if p > done && prefix.is_none() => (p - done).min(buf.len() as u64) as usize,
            _ => buf.len(),
        };
        let n = f
            .read(&mut buf[..want])
            .with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        last = buf[n - 1];
        done += n as u64;
    }
    if done < size {
        bail!(
            "{} shrank while it was being read ({size} bytes expected, {done} read)",
            path.display()
        );
    }
    Ok(Hashed {
        whole: hex(&h.finalize()),
        prefix,
        ends_with_newline: last == b'\n',
    })
}

/// Whether byte `size - 1` of a file is a newline (true for an empty file).
fn ends_with_newline(path: &Path, size: u64) -> anyhow::Result<bool> {
    if size == 0 {
        return Ok(true);
    }
    let mut f =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    f.seek(std::io::SeekFrom::Start(size - 1))
        .with_context(|| format!("cannot read {}", path.display()))?;
    let mut last = [0u8];
    f.read_exact(&mut last)
        .with_context(|| format!("cannot read {}", path.display()))?;
    Ok(last[0] == b'\n')
}

/// An input's fingerprint: known before the read, or computed by a tap during it.
pub(crate) enum Print {
    Known(String),
    Tapped(TapDigest, Tap),
}

/// SHA-256 of the bytes a [`Tap`] saw, and their count: the fingerprint of a file read in
/// the same pass as its records.
pub(crate) struct TapDigest {
    state: Arc<Mutex<(Sha256, u64)>>,
    path: PathBuf,
    size: u64,
}

impl TapDigest {
    /// A digest of the first `size` bytes of `path`, and the tap that feeds it.
    pub(crate) fn new(path: &Path, size: u64) -> (TapDigest, Tap) {
        let state = Arc::new(Mutex::new((Sha256::new(), 0u64)));
        let seen = Arc::clone(&state);
        let tap = Tap::new(move |bytes| {
            let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
            s.0.update(bytes);
            s.1 += bytes.len() as u64;
        });
        let digest = TapDigest {
            state,
            path: path.to_path_buf(),
            size,
        };
        (digest, tap)
    }

    /// The fingerprint, once the file was read. A reader that stopped short of its end (a
    /// gzip stream cut short, or followed by bytes that are not gzip) saw only part of it:
    /// the whole file is hashed again then.
    pub(crate) fn finish(self) -> anyhow::Result<String> {
        let (h, n) = std::mem::replace(
            &mut *self.state.lock().unwrap_or_else(|p| p.into_inner()),
            (Sha256::new(), 0),
        );
        if n == self.size {
            Ok(hex(&h.finalize()))
        } else {
            Ok(hash_file(&self.path, self.size, None)?.whole)
        }
    }
}

/// What an ingest of one input will read, decided from the store's record of earlier runs.
pub enum Plan {
    /// This exact content was ingested before.
    Skip(IngestedSource),
    /// Read `input`.
    Read(ReadPlan),
}

/// The part of an input to read.
pub struct ReadPlan {
    /// What to read: standard input, or a byte range of a file.
    pub input: Input,
    /// Line number of the first line read.
    pub first_line: u64,
    /// Content fingerprint recorded for the run; `None` when no earlier ingest can have had
    /// this content (none read a file of its size): it is then computed as the file is
    /// read, in the same pass.
    pub fingerprint: Option<String>,
    /// For a file: its canonical path, size and whether it ends with a newline.
    file: Option<(String, u64, bool)>,
    /// Where an earlier run of the same file stopped, when this run continues it.
    pub continued_from: Option<u64>,
}

impl ReadPlan {
    /// The span of the file this plan covers, once `lines` lines were read.
    pub fn span(&self, lines: u64) -> Option<FileSpan> {
        self.file
            .as_ref()
            .map(|(path, size, ends_with_newline)| FileSpan {
                path: path.clone(),
                start: self.continued_from.unwrap_or(0),
                end: *size,
                lines: self.first_line - 1 + lines,
                ends_with_newline: *ends_with_newline,
            })
    }

    /// The content fingerprint, hashing the file now if it was left for the read.
    pub fn fingerprint_now(&self) -> anyhow::Result<String> {
        match (&self.fingerprint, &self.input) {
            (Some(f), _) => Ok(f.clone()),
            (None, Input::FileRange { path, end, .. }) => Ok(hash_file(path, *end, None)?.whole),
            (None, other) => bail!("{} has no content fingerprint", other.label()),
        }
    }

    /// Bytes to read, when known.
    pub fn len(&self) -> Option<u64> {
        match &self.input {
            Input::FileRange { start, end, .. } => Some(end - start),
            Input::File(_) | Input::Stdin | Input::Bytes { .. } => None,
        }
    }
}

/// Decides what to read. A file whose exact content was ingested is skipped (unless
/// `force`); a file that only grew since its last ingest (same bytes up to where that run
/// stopped) is read from there on; any other file is read whole.
pub fn plan(store: &dyn IngestLedger, input: &Input, force: bool) -> anyhow::Result<Plan> {
    let path = match input {
        Input::File(p) | Input::FileRange { path: p, .. } => p,
        Input::Stdin | Input::Bytes { .. } => {
            return Ok(Plan::Read(ReadPlan {
                input: input.clone(),
                first_line: 1,
                fingerprint: Some(format!("stdin-{}", SystemClock.now().millis())),
                file: None,
                continued_from: None,
            }))
        }
    };
    let canonical = std::fs::canonicalize(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .display()
        .to_string();
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    let previous = store
        .last_ingest_of(&canonical)?
        .filter(|p| p.span.as_ref().is_some_and(|s| s.end > 0 && s.end < size));
    // A file whose size no earlier ingest read cannot hold content seen before: it is
    // fingerprinted as it is read rather than in a pass of its own.
    let hashed = if previous.is_none() && !store.may_have_seen_size(size)? {
        None
    } else {
        let snapshot = previous
            .as_ref()
            .and_then(|p| p.span.as_ref())
            .map(|s| s.end);
        let hashed = hash_file(path, size, snapshot)?;
        if !force {
            if let Some(seen) = store.source_seen(&hashed.whole)? {
                return Ok(Plan::Skip(seen));
            }
        }
        Some(hashed)
    };
    let ends = match &hashed {
        Some(h) => h.ends_with_newline,
        None => ends_with_newline(path, size)?,
    };
    let file = Some((canonical, size, ends));
    let prefix = hashed.as_ref().and_then(|h| h.prefix.as_deref());
    let continued = previous.filter(|p| !force && prefix == Some(p.fingerprint.as_str()));
    let fingerprint = hashed.map(|h| h.whole);
    Ok(Plan::Read(match continued.and_then(|p| p.span) {
        Some(span) => ReadPlan {
            input: Input::FileRange {
                path: path.clone(),
                start: span.end,
                end: size,
            },
            // A last line without its newline is continued by the first bytes read now.
            first_line: span.lines + u64::from(span.ends_with_newline),
            fingerprint,
            file,
            continued_from: Some(span.end),
        },
        None => ReadPlan {
            input: Input::FileRange {
                path: path.clone(),
                start: 0,
                end: size,
            },
            first_line: 1,
            fingerprint,
            file,
            continued_from: None,
        },
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(bytes: &[u8]) -> String {
        hex(&Sha256::digest(bytes))
    }

    /// The tap's digest is the file's SHA-256 when it saw every byte, and still is when the
    /// reader stopped short (the file is hashed again).
    #[test]
    fn a_tapped_fingerprint_is_the_files_sha256_even_when_the_read_stopped_short() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.jsonl");
        let bytes: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        std::fs::write(&path, &bytes).unwrap();
        let size = bytes.len() as u64;

        let (digest, tap) = TapDigest::new(&path, size);
        let mut reader = Input::File(path.clone()).open_tapped(Some(&tap)).unwrap().0;
        std::io::copy(&mut reader, &mut std::io::sink()).unwrap();
        assert_eq!(
            digest.state.lock().unwrap().1,
            size,
            "the tap saw every byte"
        );
        assert_eq!(digest.finish().unwrap(), sha256_hex(&bytes));

        let (digest, tap) = TapDigest::new(&path, size);
        let mut reader = Input::File(path.clone()).open_tapped(Some(&tap)).unwrap().0;
        let mut first = vec![0u8; 1000];
        reader.read_exact(&mut first).unwrap();
        drop(reader);
        assert_eq!(digest.finish().unwrap(), sha256_hex(&bytes));
    }
}
