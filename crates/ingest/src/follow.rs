//! Following a log file as `tail -F` does, with positions a store can keep.
//!
//! A [`Follower`] reads one followed name. Each [`Follower::poll`] returns [`Piece`]s: runs
//! of whole lines with the [`FilePosition`] reached after them. The caller stores the lines'
//! sessions and the positions in one transaction, then calls [`Follower::advance`]; a run
//! killed in between re-reads the same bytes after a restart, so nothing is read twice or
//! lost.
//!
//! - **Partial lines**: bytes after the last newline are left in the file until their
//!   newline arrives. Only a rotated file's last line, once its grace time is over, is taken
//!   without one (nothing will complete it).
//! - **Rotation by rename** (logrotate's `create`): when the name holds another file, the
//!   renamed one keeps being read from its open handle for `grace` (a writer may write to
//!   it until it reopens its log), then is retired; the new file is read from its start.
//!   After a restart, a stored position whose inode is no longer at the name is looked for
//!   beside it (`access.log.1`, `access.log-20261206`) by inode.
//! - **Truncation in place** (`copytruncate`): the file is shorter than the position, or
//!   its first bytes changed. The copy beside it whose first bytes match and that is at least
//!   as long as the position is read from there to its end; then the truncated file from its
//!   start.
//! - A file gone with unread bytes (compressed or deleted before they were read) is reported
//!   as a [`FollowEvent::Lost`]: nothing can read them any more.
//!
//! Only plain text is followed (a compressed log is ingested with `shrike ingest`).

use std::fs::{File, Metadata};
use std::io;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shrike_types::FilePosition;

use crate::reader::{Input, MAX_LINE_BYTES};

/// Lines read from one followed file, and where reading stands after them.
#[derive(Debug, Clone)]
pub struct Piece {
    /// The bytes: whole lines (the last one without its newline only when `after` retires a
    /// rotated file).
    pub input: Input,
    /// Line number (in its file) of the first line.
    pub first_line: u64,
    /// The file's position once these lines are stored.
    pub after: FilePosition,
    /// Whether the file is finished with after this piece (a rotated file read to its end).
    pub retires: bool,
    /// Whether the read stopped at the byte budget rather than at the file's end: more is
    /// waiting already.
    pub more: bool,
}

/// Something worth a log line that happened to a followed file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FollowEvent {
    /// The name now holds another file: the old one is read to its end, the new one from
    /// its start.
    Rotated {
        name: String,
        rotated_to: Option<PathBuf>,
    },
    /// The file was truncated in place; `copy` is where its unread bytes were found.
    Truncated { name: String, copy: Option<PathBuf> },
    /// A file with unread bytes cannot be found any more.
    Lost { name: String, offset: u64 },
    /// A rotated file was read to its end and is no longer followed.
    Retired { name: String, path: Option<PathBuf> },
}

struct Tracked {
    file: File,
    /// Where it was last seen (for messages; a renamed file's new name when found).
    path: Option<PathBuf>,
    pos: FilePosition,
    /// When it stopped being the file at the followed name.
    rotated_at: Option<Instant>,
}

/// Follows one name. See the module docs.
pub struct Follower {
    name: PathBuf,
    label: String,
    /// Rotated files still being read, oldest first.
    rotated: Vec<Tracked>,
    current: Option<Tracked>,
    grace: Duration,
}

fn identity(m: &Metadata) -> (u64, u64) {
    (m.dev(), m.ino())
}

/// Up to `n` first bytes of `f`.
fn head_of(f: &File, n: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; n];
    let mut got = 0;
    while got < n {
        let k = f.read_at(&mut buf[got..], got as u64)?;
        if k == 0 {
            break;
        }
        got += k;
    }
    buf.truncate(got);
    Ok(buf)
}

fn new_position(name: &str, m: &Metadata) -> FilePosition {
    let (dev, ino) = identity(m);
    FilePosition {
        name: name.to_string(),
        dev,
        ino,
        offset: 0,
        lines: 0,
        head: Vec::new(),
    }
}

impl Follower {
    /// Starts following `name`, resuming from `stored` (the positions last stored for this
    /// name). A name with no file yet is waited for. `grace` is how long a rotated file is
    /// still read after it was renamed away.
    pub fn resume(
        name: &Path,
        stored: &[FilePosition],
        grace: Duration,
        now: Instant,
    ) -> io::Result<(Follower, Vec<FollowEvent>)> {
        let label = name.display().to_string();
        let mut f = Follower {
            name: name.to_path_buf(),
            label: label.clone(),
            rotated: Vec::new(),
            current: None,
            grace,
        };
        let mut events = Vec::new();
        let current = match File::open(name) {
            Ok(file) => {
                let m = file.metadata()?;
                Some((file, m))
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => None,
            Err(e) => return Err(e),
        };
        let current_id = current.as_ref().map(|(_, m)| identity(m));
        for p in stored {
            if Some((p.dev, p.ino)) == current_id {
                continue;
            }
            match f.find_sibling(|m, _| identity(m) == (p.dev, p.ino))? {
                Some((path, file)) => {
                    events.push(FollowEvent::Rotated {
                        name: label.clone(),
                        rotated_to: Some(path.clone()),
                    });
                    f.rotated.push(Tracked {
                        file,
                        path: Some(path),
                        pos: p.clone(),
                        rotated_at: Some(now),
                    });
                }
                None => events.push(FollowEvent::Lost {
                    name: label.clone(),
                    offset: p.offset,
                }),
            }
        }
        if let Some((file, m)) = current {
            let pos = stored
                .iter()
                .find(|p| Some((p.dev, p.ino)) == current_id)
                .cloned()
                .unwrap_or_else(|| new_position(&label, &m));
            f.current = Some(Tracked {
                file,
                path: Some(name.to_path_buf()),
                pos,
                rotated_at: None,
            });
            f.check_truncation(now, &mut events)?;
        }
        Ok((f, events))
    }

    /// The followed name.
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// A file beside the followed name (its name starts with the followed one's) for which
    /// `matches` holds, most recently modified first.
    fn find_sibling(
        &self,
        matches: impl Fn(&Metadata, &File) -> bool,
    ) -> io::Result<Option<(PathBuf, File)>> {
        let Some(base) = self.name.file_name().and_then(|n| n.to_str()) else {
            return Ok(None);
        };
        let dir = match self.name.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let entries = match std::fs::read_dir(&dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e),
        };
        let mut best: Option<(std::time::SystemTime, PathBuf, File)> = None;
        for entry in entries.flatten() {
            let file_name = entry.file_name();
            let Some(n) = file_name.to_str() else {
                continue;
            };
            if n == base || !n.starts_with(base) {
                continue;
            }
            let path = entry.path();
            let Ok(file) = File::open(&path) else {
                continue;
            };
            let Ok(m) = file.metadata() else {
                continue;
            };
            if !m.is_file() || !matches(&m, &file) {
                continue;
            }
            let modified = m.modified().unwrap_or(std::time::UNIX_EPOCH);
            if best.as_ref().is_none_or(|(t, _, _)| modified > *t) {
                best = Some((modified, path, file));
            }
        }
        Ok(best.map(|(_, p, f)| (p, f)))
    }

    /// Whether the current file was truncated in place since its position (shorter, or
    /// other first bytes); if so, its unread bytes are looked for in a copy beside it and
    /// it is read again from its start.
    fn check_truncation(&mut self, now: Instant, events: &mut Vec<FollowEvent>) -> io::Result<()> {
        let Some(cur) = &self.current else {
            return Ok(());
        };
        if cur.pos.offset == 0 {
            return Ok(());
        }
        let size = cur.file.metadata()?.len();
        let head_now = head_of(&cur.file, cur.pos.head.len())?;
        if size >= cur.pos.offset && head_now == cur.pos.head {
            return Ok(());
        }
        let pos = cur.pos.clone();
        let tracked: Vec<(u64, u64)> = self
            .rotated
            .iter()
            .chain(&self.current)
            .map(|t| (t.pos.dev, t.pos.ino))
            .collect();
        let copy = self.find_sibling(|m, f| {
            !tracked.contains(&identity(m))
                && m.len() >= pos.offset
                && head_of(f, pos.head.len()).is_ok_and(|h| h == pos.head)
        })?;
        events.push(FollowEvent::Truncated {
            name: self.label.clone(),
            copy: copy.as_ref().map(|(p, _)| p.clone()),
        });
        match copy {
            Some((path, file)) => {
                let m = file.metadata()?;
                let (dev, ino) = identity(&m);
                self.rotated.push(Tracked {
                    file,
                    path: Some(path),
                    pos: FilePosition { dev, ino, ..pos },
                    rotated_at: Some(now),
                });
            }
            None => events.push(FollowEvent::Lost {
                name: self.label.clone(),
                offset: pos.offset,
            }),
        }
        let cur = self.current.as_mut().expect("checked above");
        cur.pos.offset = 0;
        cur.pos.lines = 0;
        cur.pos.head.clear();
        Ok(())
    }

    /// Looks at the name (rotation, truncation) and reads up to `budget` bytes of whole
    /// lines: rotated files first, then the current one.
    pub fn poll(
        &mut self,
        budget: usize,
        now: Instant,
    ) -> io::Result<(Vec<Piece>, Vec<FollowEvent>)> {
        let mut events = Vec::new();
        match File::open(&self.name) {
            Ok(file) => {
                let m = file.metadata()?;
                let same = self
                    .current
                    .as_ref()
                    .is_some_and(|c| (c.pos.dev, c.pos.ino) == identity(&m));
                if !same {
                    if let Some(mut old) = self.current.take() {
                        let (dev, ino) = (old.pos.dev, old.pos.ino);
                        old.path = self
                            .find_sibling(|m, _| identity(m) == (dev, ino))?
                            .map(|(p, _)| p);
                        old.rotated_at = Some(now);
                        events.push(FollowEvent::Rotated {
                            name: self.label.clone(),
                            rotated_to: old.path.clone(),
                        });
                        self.rotated.push(old);
                    }
                    self.current = Some(Tracked {
                        pos: new_position(&self.label, &m),
                        file,
                        path: Some(self.name.clone()),
                        rotated_at: None,
                    });
                }
            }
            // Between a rename and the new file's creation: keep reading the open file.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.check_truncation(now, &mut events)?;
        let mut pieces = Vec::new();
        let mut left = budget.max(2 * MAX_LINE_BYTES);
        for t in self.rotated.iter().chain(&self.current) {
            if left == 0 {
                break;
            }
            let finished = t
                .rotated_at
                .is_some_and(|at| now.saturating_duration_since(at) >= self.grace);
            if let Some(p) = read_lines(t, left, finished, &self.label)? {
                left = left.saturating_sub(p.bytes().len());
                pieces.push(p);
            } else if finished {
                // Read to its end, nothing held: retire it with the position it has.
                pieces.push(Piece {
                    input: Input::Bytes {
                        label: self.label.clone(),
                        bytes: Arc::from(&[][..]),
                    },
                    first_line: t.pos.lines + 1,
                    after: t.pos.clone(),
                    retires: true,
                    more: false,
                });
            }
        }
        Ok((pieces, events))
    }

    /// Moves the positions past pieces that were stored (those [`Follower::poll`] returned,
    /// in order); returns the rotated files it retires.
    pub fn advance(&mut self, pieces: &[Piece]) -> Vec<FollowEvent> {
        let mut events = Vec::new();
        for p in pieces {
            let id = (p.after.dev, p.after.ino);
            for t in self.rotated.iter_mut().chain(self.current.as_mut()) {
                if (t.pos.dev, t.pos.ino) == id {
                    t.pos = p.after.clone();
                }
            }
            if p.retires {
                if let Some(i) = self
                    .rotated
                    .iter()
                    .position(|t| (t.pos.dev, t.pos.ino) == id)
                {
                    let t = self.rotated.remove(i);
                    events.push(FollowEvent::Retired {
                        name: self.label.clone(),
                        path: t.path,
                    });
                }
            }
        }
        events
    }

    /// Every position to store once `pieces` are stored (retired files left out).
    pub fn positions_after(&self, pieces: &[Piece]) -> Vec<FilePosition> {
        self.rotated
            .iter()
            .chain(&self.current)
            .filter_map(|t| {
                let id = (t.pos.dev, t.pos.ino);
                match pieces
                    .iter()
                    .rev()
                    .find(|p| (p.after.dev, p.after.ino) == id)
                {
                    Some(p) if p.retires => None,
                    Some(p) => Some(p.after.clone()),
                    None => Some(t.pos.clone()),
                }
            })
            .collect()
    }

    /// Bytes written to the followed files and not read yet (partial last lines included).
    pub fn lag_bytes(&self) -> u64 {
        self.rotated
            .iter()
            .chain(&self.current)
            .map(|t| {
                t.file
                    .metadata()
                    .map_or(0, |m| m.len().saturating_sub(t.pos.offset))
            })
            .sum()
    }

    /// Bytes read from the current file.
    pub fn offset(&self) -> u64 {
        self.current.as_ref().map_or(0, |c| c.pos.offset)
    }
}

impl Piece {
    /// The lines read (empty for a piece that only retires a file).
    pub fn bytes(&self) -> &[u8] {
        match &self.input {
            Input::Bytes { bytes, .. } => bytes,
            _ => &[],
        }
    }
}

/// Whole lines of `t` after its position, at most `budget` bytes; with `finished`, a last
/// line without its newline too (and the piece retires the file when it reaches its end).
fn read_lines(
    t: &Tracked,
    budget: usize,
    finished: bool,
    label: &str,
) -> io::Result<Option<Piece>> {
    let size = t.file.metadata()?.len();
    let start = t.pos.offset;
    if size <= start {
        return Ok(None);
    }
    let want = (size - start).min(budget as u64) as usize;
    let mut buf = vec![0u8; want];
    let mut got = 0;
    while got < want {
        let k = t.file.read_at(&mut buf[got..], start + got as u64)?;
        if k == 0 {
            break;
        }
        got += k;
    }
    buf.truncate(got);
    let at_end = start + got as u64 >= size;
    let take = match memchr::memrchr(b'\n', &buf) {
        Some(i) if !(finished && at_end) => i + 1,
        // The rest of a finished file, or a line longer than any accepted one (the reader
        // rejects it as too long rather than waiting for it forever).
        _ if (finished && at_end) || buf.len() > MAX_LINE_BYTES => buf.len(),
        Some(i) => i + 1,
        None => return Ok(None),
    };
    buf.truncate(take);
    if buf.is_empty() {
        return Ok(None);
    }
    let mut lines = memchr::memchr_iter(b'\n', &buf).count() as u64;
    if buf.last() != Some(&b'\n') {
        lines += 1;
    }
    let offset = start + buf.len() as u64;
    let head = if t.pos.head.len() < FilePosition::HEAD_BYTES {
        head_of(&t.file, FilePosition::HEAD_BYTES.min(offset as usize))?
    } else {
        t.pos.head.clone()
    };
    Ok(Some(Piece {
        input: Input::Bytes {
            label: format!("{label} (bytes {start}..{offset})"),
            bytes: Arc::from(buf),
        },
        first_line: t.pos.lines + 1,
        after: FilePosition {
            offset,
            lines: t.pos.lines + lines,
            head,
            ..t.pos.clone()
        },
        retires: finished && offset >= size,
        more: size - start > budget as u64,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn append(path: &Path, text: &str) {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .unwrap()
            .write_all(text.as_bytes())
            .unwrap();
    }

    fn text(p: &Piece) -> String {
        String::from_utf8(p.bytes().to_vec()).unwrap()
    }

    /// Polls until nothing more comes, storing every piece; returns the text read.
    fn drain(f: &mut Follower, now: Instant) -> String {
        let mut out = String::new();
        loop {
            let (pieces, _) = f.poll(1 << 22, now).unwrap();
            if pieces.iter().all(|p| p.bytes().is_empty()) {
                f.advance(&pieces);
                return out;
            }
            for p in &pieces {
                out.push_str(&text(p));
            }
            f.advance(&pieces);
        }
    }

    #[test]
    fn partial_lines_wait_for_their_newline() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, "one\ntw");
        let t0 = Instant::now();
        let (mut f, _) = Follower::resume(&log, &[], Duration::from_secs(5), t0).unwrap();
        assert_eq!(drain(&mut f, t0), "one\n");
        append(&log, "o\nthree");
        assert_eq!(drain(&mut f, t0), "two\n");
        assert_eq!(f.offset(), 8);
        assert_eq!(f.lag_bytes(), 5);
    }

    #[test]
    fn a_read_cut_by_the_budget_says_more_is_waiting() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        let line = "x".repeat(99) + "\n";
        append(&log, &line.repeat(30_000));
        let t0 = Instant::now();
        let (mut f, _) = Follower::resume(&log, &[], Duration::ZERO, t0).unwrap();
        // The budget is at least two of the longest lines (2 MiB): 3 MB is more.
        let (pieces, _) = f.poll(0, t0).unwrap();
        assert!(pieces[0].more);
        assert_eq!(pieces[0].bytes().len() % 100, 0, "whole lines only");
        f.advance(&pieces);
        let (pieces, _) = f.poll(0, t0).unwrap();
        assert!(!pieces[0].more, "the rest fits");
        f.advance(&pieces);
        assert_eq!(f.offset(), 3_000_000);
    }

    #[test]
    fn a_rename_is_read_to_its_end_then_the_new_file_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, "a\nb\n");
        let t0 = Instant::now();
        let grace = Duration::from_secs(5);
        let (mut f, _) = Follower::resume(&log, &[], grace, t0).unwrap();
        assert_eq!(drain(&mut f, t0), "a\nb\n");
        // The writer writes once more to the renamed file before it reopens its log, and
        // leaves a last line without its newline.
        std::fs::rename(&log, dir.path().join("access.log.1")).unwrap();
        append(&dir.path().join("access.log.1"), "c\nd");
        append(&log, "e\n");
        let (pieces, events) = f.poll(1 << 22, t0).unwrap();
        assert!(
            matches!(&events[0], FollowEvent::Rotated { rotated_to: Some(p), .. } if p.ends_with("access.log.1"))
        );
        let read: Vec<String> = pieces.iter().map(text).collect();
        assert_eq!(read, ["c\n", "e\n"]);
        f.advance(&pieces);
        assert_eq!(f.positions_after(&[]).len(), 2, "both files are kept");
        // After the grace time the last line is taken as it is and the file retired.
        let later = t0 + grace;
        let (pieces, _) = f.poll(1 << 22, later).unwrap();
        assert_eq!(pieces.len(), 1);
        assert_eq!(text(&pieces[0]), "d");
        assert!(pieces[0].retires);
        assert!(f.positions_after(&pieces).iter().all(|p| p.offset == 2));
        let events = f.advance(&pieces);
        assert!(matches!(&events[0], FollowEvent::Retired { .. }));
        assert_eq!(f.positions_after(&[]).len(), 1);
    }

    #[test]
    fn a_restart_finds_the_renamed_file_by_inode() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, "a\nb\n");
        let t0 = Instant::now();
        let (mut f, _) = Follower::resume(&log, &[], Duration::ZERO, t0).unwrap();
        assert_eq!(drain(&mut f, t0), "a\nb\n");
        let stored = f.positions_after(&[]);
        drop(f);
        // While stopped: more lines, a rotation, lines in the new file.
        append(&log, "c\n");
        std::fs::rename(&log, dir.path().join("access.log-20261206")).unwrap();
        append(&log, "d\n");
        let (mut f, events) = Follower::resume(&log, &stored, Duration::ZERO, t0).unwrap();
        assert!(matches!(&events[0], FollowEvent::Rotated { .. }));
        assert_eq!(drain(&mut f, t0), "c\nd\n");
        assert_eq!(
            f.positions_after(&[]).len(),
            1,
            "the rotated file is retired"
        );
    }

    #[test]
    fn copytruncate_reads_the_rest_from_the_copy() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, "2026-12-06T10:00:00 first\n");
        let t0 = Instant::now();
        let (mut f, _) = Follower::resume(&log, &[], Duration::ZERO, t0).unwrap();
        assert_eq!(drain(&mut f, t0), "2026-12-06T10:00:00 first\n");
        // Written after the last poll, then copied and truncated: the copy holds it.
        append(&log, "2026-12-06T10:00:01 second\n");
        std::fs::copy(&log, dir.path().join("access.log.1")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(0)
            .unwrap();
        // The new content is already longer than the old position: only the first bytes
        // tell the truncation.
        append(
            &log,
            "2026-12-06T10:00:02 third, a longer line than the first two\n",
        );
        let (pieces, events) = f.poll(1 << 22, t0).unwrap();
        assert!(matches!(
            &events[0],
            FollowEvent::Truncated { copy: Some(_), .. }
        ));
        let read: Vec<String> = pieces.iter().map(text).collect();
        assert_eq!(
            read,
            [
                "2026-12-06T10:00:01 second\n",
                "2026-12-06T10:00:02 third, a longer line than the first two\n"
            ]
        );
    }

    #[test]
    fn a_file_gone_with_unread_bytes_is_reported_lost() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("access.log");
        append(&log, "a\n");
        let t0 = Instant::now();
        let (mut f, _) = Follower::resume(&log, &[], Duration::ZERO, t0).unwrap();
        drain(&mut f, t0);
        let stored = f.positions_after(&[]);
        drop(f);
        std::fs::remove_file(&log).unwrap();
        append(&log, "b\n");
        let (mut f, events) = Follower::resume(&log, &stored, Duration::ZERO, t0).unwrap();
        // The new file may even reuse the old inode: its first bytes tell them apart.
        assert!(
            events.contains(&FollowEvent::Lost {
                name: log.display().to_string(),
                offset: 2
            }),
            "{events:?}"
        );
        assert_eq!(drain(&mut f, t0), "b\n");
    }
}
