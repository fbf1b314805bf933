//! The dead-letter file: every refused line, byte for byte, with its line number and reason.
//!
//! One JSON object per line:
//! `{"run":"batch 7","source":"access.log","line":12,"reason":"invalid_ip","detail":"...","raw":"..."}`.
//! `run` and `source` say which ingest refused it (runs append to one file); `raw` holds
//! the line when it is UTF-8; otherwise `raw_base64` holds its bytes, so nothing is lost
//! and the file can be replayed after the producer is fixed. [`DeadLetterWriter::flush`]
//! syncs the file to disk: the ingest flushes before it commits, so a committed run's
//! refused lines survive a crash.

use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::Reject;

/// Appends refused lines to a file (created on first write, so a clean run leaves none).
#[derive(Debug)]
pub struct DeadLetterWriter {
    path: Option<PathBuf>,
    out: Option<io::BufWriter<std::fs::File>>,
    written: u64,
    /// The run and the source each entry names.
    run: Option<(String, String)>,
}

fn base64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut s = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                s.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                s.push('=');
            }
        }
    }
    s
}

impl DeadLetterWriter {
    /// Writes to `path` (appending; created when the first reject arrives).
    pub fn to_file(path: &Path) -> Self {
        DeadLetterWriter {
            path: Some(path.to_path_buf()),
            out: None,
            written: 0,
            run: None,
        }
    }

    /// Names the run (for example the store's ingest batch) and the source (the input's
    /// label) in every entry.
    pub fn for_run(mut self, run: impl Into<String>, source: impl Into<String>) -> Self {
        self.run = Some((run.into(), source.into()));
        self
    }

    /// Counts rejects without writing them anywhere (tests, benchmarks).
    pub fn discard() -> Self {
        DeadLetterWriter {
            path: None,
            out: None,
            written: 0,
            run: None,
        }
    }

    /// Records one refused line.
    pub fn write(&mut self, line_no: u64, reject: &Reject, raw: &[u8]) -> io::Result<()> {
        self.written += 1;
        let Some(path) = &self.path else {
            return Ok(());
        };
        if self.out.is_none() {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir)?;
            }
            let f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)?;
            self.out = Some(io::BufWriter::new(f));
        }
        let mut obj = serde_json::Map::new();
        if let Some((run, source)) = &self.run {
            obj.insert("run".into(), run.as_str().into());
            obj.insert("source".into(), source.as_str().into());
        }
        obj.insert("line".into(), line_no.into());
        obj.insert("reason".into(), reject.reason.key().into());
        obj.insert("detail".into(), reject.detail.clone().into());
        match std::str::from_utf8(raw) {
            Ok(s) => obj.insert("raw".into(), s.into()),
            Err(_) => obj.insert("raw_base64".into(), base64(raw).into()),
        };
        let out = self.out.as_mut().expect("opened above");
        serde_json::to_writer(&mut *out, &obj).map_err(io::Error::other)?;
        out.write_all(b"\n")
    }

    /// Writes buffered entries and syncs the file to disk.
    pub fn flush(&mut self) -> io::Result<()> {
        match &mut self.out {
            Some(o) => {
                o.flush()?;
                o.get_ref().sync_data()
            }
            None => Ok(()),
        }
    }

    /// Number of entries recorded.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// The file, when writing to one.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn entries_name_their_run_and_source_and_are_on_disk_after_a_flush() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rejected.jsonl");
        let mut w = super::DeadLetterWriter::to_file(&path).for_run("batch 7", "access.log");
        let reject = crate::Reject {
            reason: crate::RejectReason::MissingField("src_ip"),
            detail: "no address".into(),
        };
        w.write(3, &reject, b"{\"time\":1}").unwrap();
        w.write(4, &reject, &[0xff, 0xfe]).unwrap();
        w.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0]["run"], "batch 7");
        assert_eq!(lines[0]["source"], "access.log");
        assert_eq!(lines[0]["raw"], "{\"time\":1}");
        assert_eq!(lines[1]["raw_base64"], "//4=");
    }

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (i, o) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(super::base64(i.as_bytes()), o);
        }
    }
}
