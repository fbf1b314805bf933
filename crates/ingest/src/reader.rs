//! Streaming input: files (plain or gzip) and stdin, cut into newline-aligned chunks.
//!
//! Memory is bounded by the chunk size plus [`MAX_LINE_BYTES`]: a longer line is not
//! buffered whole; its first bytes are kept for the dead-letter file and the rest skipped.

use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// Longest accepted line (1 MiB). Longer lines are rejected as `line_too_long`.
pub const MAX_LINE_BYTES: usize = 1024 * 1024;
/// How much of an over-long line is kept in the dead-letter file.
const OVERLONG_KEEP: usize = 64 * 1024;

/// Where records come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// A file; gzip is detected by its magic bytes, whatever its name.
    File(PathBuf),
    /// Bytes `start..end` of a file: the part of a log file that grew since an earlier run
    /// (gzip is detected at `start`, so a `.gz` file that gained members works too).
    FileRange {
        /// The file.
        path: PathBuf,
        /// First byte to read.
        start: u64,
        /// One past the last byte to read (bytes written later are left for the next run).
        end: u64,
    },
    /// Standard input (gzip detected the same way).
    Stdin,
    /// Bytes already read (the whole lines `shrike run` took from a followed file), with a
    /// label for messages.
    Bytes {
        /// What the bytes are, for messages (a path and byte range).
        label: String,
        /// The bytes.
        bytes: Arc<[u8]>,
    },
}

impl Input {
    /// `-` means stdin.
    pub fn from_arg(s: &str) -> Self {
        if s == "-" {
            Input::Stdin
        } else {
            Input::File(PathBuf::from(s))
        }
    }

    /// A label for messages.
    pub fn label(&self) -> String {
        match self {
            Input::File(p) => p.display().to_string(),
            Input::FileRange { path, start, end } => {
                format!("{} (bytes {start}..{end})", path.display())
            }
            Input::Stdin => "<stdin>".into(),
            Input::Bytes { label, .. } => label.clone(),
        }
    }

    /// Opens the input, decompressing gzip transparently. Returns the reader and the
    /// compressed size when known (for progress bars).
    pub fn open(&self) -> io::Result<(Box<dyn Read + Send>, Option<u64>)> {
        self.open_tapped(None)
    }

    /// [`Input::open`], with `tap` seeing every raw byte read, before decompression.
    pub fn open_tapped(
        &self,
        tap: Option<&Tap>,
    ) -> io::Result<(Box<dyn Read + Send>, Option<u64>)> {
        let (raw, len): (Box<dyn Read + Send>, Option<u64>) = match self {
            Input::File(p) => open_file(p)?,
            Input::FileRange { path, start, end } => {
                let mut f = File::open(path)?;
                f.seek(SeekFrom::Start(*start))?;
                let len = end.saturating_sub(*start);
                (Box::new(f.take(len)), Some(len))
            }
            Input::Stdin => (Box::new(io::stdin()), None),
            Input::Bytes { bytes, .. } => {
                let len = bytes.len() as u64;
                (Box::new(io::Cursor::new(Arc::clone(bytes))), Some(len))
            }
        };
        let raw: Box<dyn Read + Send> = match tap {
            Some(tap) => Box::new(TapReader {
                inner: raw,
                tap: tap.clone(),
            }),
            None => raw,
        };
        let mut buffered = BufReader::with_capacity(256 * 1024, raw);
        let magic = buffered.fill_buf()?;
        let gz = magic.len() >= 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        if gz {
            Ok((
                Box::new(flate2::bufread::MultiGzDecoder::new(buffered)),
                len,
            ))
        } else {
            Ok((Box::new(buffered), len))
        }
    }
}

/// Sees the raw bytes of an input as its reader reads them (before any decompression), in
/// order and each once: a content fingerprint computed in the same pass as the parse.
#[derive(Clone)]
pub struct Tap(Arc<Mutex<TapFn>>);

type TapFn = dyn FnMut(&[u8]) + Send;

impl Tap {
    /// A tap calling `f` with each run of bytes read.
    pub fn new(f: impl FnMut(&[u8]) + Send + 'static) -> Self {
        Tap(Arc::new(Mutex::new(f)))
    }
}

impl std::fmt::Debug for Tap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Tap")
    }
}

struct TapReader {
    inner: Box<dyn Read + Send>,
    tap: Tap,
}

impl Read for TapReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        (self.tap.0.lock().unwrap_or_else(|p| p.into_inner()))(&buf[..n]);
        Ok(n)
    }
}

fn open_file(p: &Path) -> io::Result<(Box<dyn Read + Send>, Option<u64>)> {
    let f = File::open(p)?;
    let len = f.metadata().ok().map(|m| m.len());
    Ok((Box::new(f), len))
}

/// A run of whole lines.
#[derive(Debug, Default)]
pub struct Chunk {
    /// Bytes; every line ends with `\n` except possibly the last chunk's last line.
    pub data: Vec<u8>,
    /// 1-based number of the first line.
    pub first_line: u64,
    /// Lines longer than the limit found while reading this chunk: `(line number, kept prefix)`.
    pub overlong: Vec<(u64, Vec<u8>)>,
    /// The stream ended early (truncated gzip): the last line of `data` may be cut.
    pub truncated: bool,
}

/// Cuts a byte stream into chunks of about `chunk_size` bytes that end on line boundaries.
pub struct ChunkReader {
    inner: Box<dyn Read + Send>,
    chunk_size: usize,
    carry: Vec<u8>,
    next_line: u64,
    eof: bool,
    skipping_overlong: bool,
}

impl ChunkReader {
    /// Wraps a reader. `chunk_size` is clamped to at least 64 KiB.
    pub fn new(inner: Box<dyn Read + Send>, chunk_size: usize) -> Self {
        Self::starting_at_line(inner, chunk_size, 1)
    }

    /// Wraps a reader whose first line is line `first_line` of the input (a file read
    /// from where an earlier run stopped).
    pub fn starting_at_line(
        inner: Box<dyn Read + Send>,
        chunk_size: usize,
        first_line: u64,
    ) -> Self {
        ChunkReader {
            inner,
            chunk_size: chunk_size.max(64 * 1024),
            carry: Vec::new(),
            next_line: first_line.max(1),
            eof: false,
            skipping_overlong: false,
        }
    }

    /// The next chunk, or `None` at the end. A read error other than a truncated
    /// compressed stream is returned as is.
    pub fn next_chunk(&mut self) -> io::Result<Option<Chunk>> {
        if self.eof && self.carry.is_empty() {
            return Ok(None);
        }
        let mut chunk = Chunk {
            first_line: self.next_line,
            ..Chunk::default()
        };
        let mut buf = std::mem::take(&mut self.carry);
        buf.reserve(self.chunk_size + 4096);
        loop {
            if self.eof || (buf.len() >= self.chunk_size && memchr::memrchr(b'\n', &buf).is_some())
            {
                break;
            }
            let start = buf.len();
            buf.resize(
                start + self.chunk_size.saturating_sub(start).max(64 * 1024),
                0,
            );
            match self.inner.read(&mut buf[start..]) {
                Ok(0) => {
                    buf.truncate(start);
                    self.eof = true;
                }
                Ok(n) => {
                    buf.truncate(start + n);
                    self.blank_overlong(&mut buf, start, &mut chunk);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => buf.truncate(start),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::UnexpectedEof
                            | io::ErrorKind::InvalidInput
                            | io::ErrorKind::InvalidData
                    ) =>
                {
                    // flate2 reports a cut or corrupt gzip stream this way: keep what decoded.
                    buf.truncate(start);
                    self.eof = true;
                    chunk.truncated = true;
                }
                Err(e) => return Err(e),
            }
        }
        if !self.eof {
            let cut = memchr::memrchr(b'\n', &buf).map_or(0, |i| i + 1);
            self.carry = buf.split_off(cut);
        }
        self.next_line += memchr::memchr_iter(b'\n', &buf).count() as u64;
        if self.eof && buf.last().is_some_and(|b| *b != b'\n') {
            self.next_line += 1;
        }
        chunk.data = buf;
        Ok(Some(chunk))
    }

    /// Empties lines longer than the limit in place (their newline stays, so line numbers
    /// stay exact), keeping a prefix of each for the dead-letter file.
    fn blank_overlong(&mut self, buf: &mut Vec<u8>, new_from: usize, chunk: &mut Chunk) {
        if self.skipping_overlong {
            match memchr::memchr(b'\n', &buf[new_from..]) {
                Some(i) => {
                    buf.drain(new_from..new_from + i);
                    self.skipping_overlong = false;
                }
                None => {
                    buf.truncate(new_from);
                    return;
                }
            }
        }
        let line_start = memchr::memrchr(b'\n', buf).map_or(0, |i| i + 1);
        if buf.len() - line_start > MAX_LINE_BYTES {
            let lines_before = memchr::memchr_iter(b'\n', &buf[..line_start]).count() as u64;
            let keep = buf[line_start..line_start + OVERLONG_KEEP].to_vec();
            chunk.overlong.push((chunk.first_line + lines_before, keep));
            buf.truncate(line_start);
            self.skipping_overlong = true;
        }
    }

    /// Number of the next line to be read (1-based).
    pub fn next_line(&self) -> u64 {
        self.next_line
    }
}
