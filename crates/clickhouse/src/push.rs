//! Delivery of RowBinary batches into `http_logs` that loses nothing when ClickHouse is
//! down, slow or refusing.
//!
//! Each batch carries an `insert_deduplication_token` chosen by the caller (shrike uses the
//! input's content fingerprint and the batch's line range), so a batch sent twice (a retry
//! after a timeout whose insert had in fact landed, a spooled batch replayed, a file
//! ingested again after a crash) is stored once: `http_logs` and the hourly aggregates keep
//! a deduplication window (migrations 001 and 006), and inserts ask the materialized views
//! to deduplicate too.
//!
//! A batch that fails with a transient error ([`ChError::is_transient`]: connection refused
//! or reset, timeout, "too many parts", memory limit, a proxy's 5xx) is retried with exponential backoff and jitter for
//! [`PushOptions::retry_for`]; after that it is written to the spool directory (fsynced,
//! renamed into place) and the pusher marks the server down: later batches go straight to
//! the spool, except one probe per [`PushOptions::probe_every`], until a send succeeds
//! again. [`Pusher::replay`] sends the spool, oldest first, deleting each file once its
//! insert is acknowledged. A batch the server refuses outright (malformed data, a missing
//! table) is not retried: it is kept under `refused/` with the server's message, and
//! replayed only when asked.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use shrike_types::Rng;

use crate::rowbinary::insert_statement;
use crate::{ChError, Client};

/// First line of a spool file; the version changes with the `http_logs` column list.
const SPOOL_MAGIC: &str = "SHRIKE-SPOOL 1";

/// Retry and spool settings.
#[derive(Debug, Clone)]
pub struct PushOptions {
    /// How long one batch is retried before it is spooled.
    pub retry_for: Duration,
    /// First pause between attempts (doubled after each failure).
    pub backoff_start: Duration,
    /// Longest pause between attempts.
    pub backoff_max: Duration,
    /// While the server is down, how often a batch is tried instead of spooled at once.
    pub probe_every: Duration,
    /// Where undelivered batches wait.
    pub spool_dir: PathBuf,
}

impl PushOptions {
    /// Defaults with the given spool directory: retry for 30 s, backoff 200 ms to 5 s, probe
    /// a down server every 2 s.
    pub fn with_spool(spool_dir: PathBuf) -> Self {
        PushOptions {
            retry_for: Duration::from_secs(30),
            backoff_start: Duration::from_millis(200),
            backoff_max: Duration::from_secs(5),
            probe_every: Duration::from_secs(2),
            spool_dir,
        }
    }
}

/// What became of one batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    /// Acknowledged by the server.
    Sent,
    /// Written to the spool after transient failures; replayed later.
    Spooled(String),
    /// Refused by the server; kept under `refused/`.
    Refused(String),
}

/// Counters of a pusher's work, shared by every thread that sends through it.
#[derive(Debug, Default)]
struct Counters {
    sent_batches: AtomicU64,
    sent_rows: AtomicU64,
    retries: AtomicU64,
    spooled_batches: AtomicU64,
    spooled_rows: AtomicU64,
    refused_batches: AtomicU64,
    refused_rows: AtomicU64,
    replayed_batches: AtomicU64,
    replayed_rows: AtomicU64,
}

/// A pusher's figures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PushReport {
    /// Batches and rows acknowledged (replays included).
    pub sent_batches: u64,
    /// Rows acknowledged.
    pub sent_rows: u64,
    /// Attempts that failed and were retried.
    pub retries: u64,
    /// Batches written to the spool.
    pub spooled_batches: u64,
    /// Rows in them.
    pub spooled_rows: u64,
    /// Batches the server refused.
    pub refused_batches: u64,
    /// Rows in them.
    pub refused_rows: u64,
    /// Spooled batches delivered by a replay.
    pub replayed_batches: u64,
    /// Rows in them.
    pub replayed_rows: u64,
}

/// What waits in a spool directory.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SpoolStatus {
    /// Batches waiting to be replayed.
    pub pending_batches: u64,
    /// Rows in them.
    pub pending_rows: u64,
    /// Batches the server refused (under `refused/`).
    pub refused_batches: u64,
    /// Rows in them.
    pub refused_rows: u64,
}

/// A spooled batch, read back.
struct Spooled {
    path: PathBuf,
    token: String,
    rows: u64,
    body: Vec<u8>,
}

/// Sends batches to one `http_logs` table. Shareable between threads.
pub struct Pusher {
    client: Client,
    insert: String,
    opts: PushOptions,
    /// When the server was last found down (None: believed up).
    down_since: Mutex<Option<Instant>>,
    counters: Counters,
    /// Distinguishes spool files written in the same nanosecond.
    file_seq: AtomicU64,
}

fn spool_err(path: &Path, e: std::io::Error) -> ChError {
    ChError::Spool(format!("{}: {e}", path.display()))
}

fn fnv(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

impl Pusher {
    /// A pusher into `client`'s `http_logs`; creates the spool directory.
    pub fn new(client: Client, opts: PushOptions) -> Result<Self, ChError> {
        fs::create_dir_all(opts.spool_dir.join("refused"))
            .map_err(|e| spool_err(&opts.spool_dir, e))?;
        let insert = insert_statement(&format!("{}.http_logs", client.url().database));
        Ok(Pusher {
            client,
            insert,
            opts,
            down_since: Mutex::new(None),
            counters: Counters::default(),
            file_seq: AtomicU64::new(0),
        })
    }

    /// The spool directory.
    pub fn spool_dir(&self) -> &Path {
        &self.opts.spool_dir
    }

    fn insert_once(&self, token: &str, body: &[u8]) -> Result<(), ChError> {
        self.client.insert(
            &self.insert,
            body,
            &[
                ("insert_deduplication_token", token.to_string()),
                (
                    "deduplicate_blocks_in_dependent_materialized_views",
                    "1".into(),
                ),
                // One block per batch, so the token covers the whole batch.
                ("max_insert_block_size", "1048576".into()),
            ],
        )
    }

    /// Tries a batch until it is acknowledged, refused, or `retry_for` has passed.
    fn attempt(&self, token: &str, body: &[u8], retry_for: Duration) -> Result<(), ChError> {
        let started = Instant::now();
        let mut pause = self.opts.backoff_start;
        let mut rng = Rng::seed_from_u64(fnv(token));
        loop {
            match self.insert_once(token, body) {
                Ok(()) => return Ok(()),
                Err(e) if !e.is_transient() => return Err(e),
                Err(e) => {
                    // Full jitter in [pause/2, pause], seeded by the batch.
                    let wait = pause.mul_f64(0.5 + 0.5 * rng.f64());
                    if started.elapsed() + wait > retry_for {
                        return Err(e);
                    }
                    self.counters.retries.fetch_add(1, Ordering::Relaxed);
                    tracing::warn!(error = %e, wait_ms = wait.as_millis() as u64, "ClickHouse insert failed: retrying");
                    std::thread::sleep(wait);
                    pause = (pause * 2).min(self.opts.backoff_max);
                }
            }
        }
    }

    /// Sends one batch of `rows` RowBinary rows (see [`crate::rowbinary`]) under `token`.
    /// Never loses it: a batch not acknowledged is spooled (or kept as refused), and the
    /// error is returned only when even the spool cannot be written.
    pub fn send(&self, token: &str, rows: u64, body: &[u8]) -> Result<Delivery, ChError> {
        let probing = {
            let mut down = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
            match *down {
                Some(t) if t.elapsed() < self.opts.probe_every => None,
                Some(_) => {
                    // This thread probes; others keep spooling until it is done.
                    *down = Some(Instant::now());
                    Some(true)
                }
                None => Some(false),
            }
        };
        let result = match probing {
            None => Err(ChError::Unreachable {
                url: self.client.url().to_string(),
                why: "down at the last attempt; spooled without trying".into(),
            }),
            Some(true) => self.attempt(token, body, Duration::ZERO),
            Some(false) => self.attempt(token, body, self.opts.retry_for),
        };
        match result {
            Ok(()) => {
                if probing == Some(true) {
                    tracing::info!(url = %self.client.url(), "ClickHouse answers again");
                }
                *self.down_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
                self.counters.sent_batches.fetch_add(1, Ordering::Relaxed);
                self.counters.sent_rows.fetch_add(rows, Ordering::Relaxed);
                Ok(Delivery::Sent)
            }
            Err(e) if e.is_transient() => {
                {
                    let mut down = self.down_since.lock().unwrap_or_else(|p| p.into_inner());
                    if down.is_none() {
                        tracing::error!(error = %e, spool = %self.opts.spool_dir.display(), "ClickHouse unavailable: spooling batches to disk");
                        *down = Some(Instant::now());
                    }
                }
                let why = e.to_string();
                self.write_spool(false, token, rows, body, &why)?;
                self.counters
                    .spooled_batches
                    .fetch_add(1, Ordering::Relaxed);
                self.counters
                    .spooled_rows
                    .fetch_add(rows, Ordering::Relaxed);
                Ok(Delivery::Spooled(why))
            }
            Err(e) => {
                let why = e.to_string();
                tracing::error!(error = %why, "ClickHouse refused a batch: kept under refused/");
                self.write_spool(true, token, rows, body, &why)?;
                self.counters
                    .refused_batches
                    .fetch_add(1, Ordering::Relaxed);
                self.counters
                    .refused_rows
                    .fetch_add(rows, Ordering::Relaxed);
                Ok(Delivery::Refused(why))
            }
        }
    }

    fn write_spool(
        &self,
        refused: bool,
        token: &str,
        rows: u64,
        body: &[u8],
        why: &str,
    ) -> Result<(), ChError> {
        let dir = if refused {
            self.opts.spool_dir.join("refused")
        } else {
            self.opts.spool_dir.clone()
        };
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let seq = self.file_seq.fetch_add(1, Ordering::Relaxed);
        let name = format!("{nanos:020}-{seq:06}-{:016x}.batch", fnv(token));
        let path = dir.join(&name);
        let tmp = dir.join(format!(".{name}.tmp"));
        let header = serde_json::json!({ "token": token, "rows": rows, "error": why });
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            writeln!(f, "{SPOOL_MAGIC}")?;
            writeln!(f, "{header}")?;
            f.write_all(body)?;
            f.sync_all()?;
            fs::rename(&tmp, &path)?;
            // The rename itself must survive a crash.
            fs::File::open(&dir)?.sync_all()
        };
        write().map_err(|e| spool_err(&path, e))
    }

    fn read_spool(path: &Path) -> Result<Spooled, ChError> {
        let bad = |why: &str| ChError::Spool(format!("{}: {why}", path.display()));
        let data = fs::read(path).map_err(|e| spool_err(path, e))?;
        let mut parts = data.splitn(3, |b| *b == b'\n');
        if parts.next() != Some(SPOOL_MAGIC.as_bytes()) {
            return Err(bad("not a spool file of this shrike version"));
        }
        let header: serde_json::Value = parts
            .next()
            .and_then(|h| serde_json::from_slice(h).ok())
            .ok_or_else(|| bad("unreadable header"))?;
        let token = header["token"]
            .as_str()
            .ok_or_else(|| bad("no token"))?
            .to_string();
        let rows = header["rows"].as_u64().ok_or_else(|| bad("no row count"))?;
        Ok(Spooled {
            path: path.to_path_buf(),
            token,
            rows,
            body: parts.next().unwrap_or_default().to_vec(),
        })
    }

    fn spool_files(dir: &Path) -> Result<Vec<PathBuf>, ChError> {
        let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
            Ok(rd) => rd
                .filter_map(Result::ok)
                .map(|e| e.path())
                .filter(|p| p.extension().is_some_and(|x| x == "batch"))
                .collect(),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(spool_err(dir, e)),
        };
        files.sort();
        Ok(files)
    }

    /// What waits in the spool.
    pub fn spool_status(&self) -> Result<SpoolStatus, ChError> {
        let mut st = SpoolStatus::default();
        for p in Self::spool_files(&self.opts.spool_dir)? {
            st.pending_batches += 1;
            st.pending_rows += Self::read_spool(&p)?.rows;
        }
        for p in Self::spool_files(&self.opts.spool_dir.join("refused"))? {
            st.refused_batches += 1;
            st.refused_rows += Self::read_spool(&p)?.rows;
        }
        Ok(st)
    }

    /// Sends the spooled batches, oldest first (and the refused ones when `refused`), each
    /// retried for `retry_for`; a delivered batch's file is deleted. Stops at the first batch
    /// that still cannot be delivered and returns its error; what is left stays spooled.
    pub fn replay(&self, refused: bool) -> Result<SpoolStatus, ChError> {
        let mut dirs = vec![self.opts.spool_dir.clone()];
        if refused {
            dirs.push(self.opts.spool_dir.join("refused"));
        }
        for dir in dirs {
            for path in Self::spool_files(&dir)? {
                let b = Self::read_spool(&path)?;
                self.attempt(&b.token, &b.body, self.opts.retry_for)?;
                fs::remove_file(&b.path).map_err(|e| spool_err(&b.path, e))?;
                *self.down_since.lock().unwrap_or_else(|p| p.into_inner()) = None;
                let c = &self.counters;
                c.sent_batches.fetch_add(1, Ordering::Relaxed);
                c.sent_rows.fetch_add(b.rows, Ordering::Relaxed);
                c.replayed_batches.fetch_add(1, Ordering::Relaxed);
                c.replayed_rows.fetch_add(b.rows, Ordering::Relaxed);
            }
        }
        self.spool_status()
    }

    /// The figures so far.
    pub fn report(&self) -> PushReport {
        let c = &self.counters;
        let get = |a: &AtomicU64| a.load(Ordering::Relaxed);
        PushReport {
            sent_batches: get(&c.sent_batches),
            sent_rows: get(&c.sent_rows),
            retries: get(&c.retries),
            spooled_batches: get(&c.spooled_batches),
            spooled_rows: get(&c.spooled_rows),
            refused_batches: get(&c.refused_batches),
            refused_rows: get(&c.refused_rows),
            replayed_batches: get(&c.replayed_batches),
            replayed_rows: get(&c.replayed_rows),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ChUrl;

    fn unreachable_pusher(dir: &Path) -> Pusher {
        // Port 9 on loopback: nothing listens, connections are refused at once.
        let mut client = Client::new(ChUrl::parse("http://127.0.0.1:9").unwrap());
        client.connect_timeout = Duration::from_millis(200);
        let mut opts = PushOptions::with_spool(dir.to_path_buf());
        opts.retry_for = Duration::from_millis(50);
        opts.backoff_start = Duration::from_millis(5);
        Pusher::new(client, opts).unwrap()
    }

    #[test]
    fn undeliverable_batches_are_spooled_intact_and_stay_until_delivered() {
        let dir = tempfile::tempdir().unwrap();
        let p = unreachable_pusher(dir.path());
        let body: Vec<u8> = (0..=255u8).chain(b"\n\n".iter().copied()).collect();
        for i in 0..3 {
            let d = p.send(&format!("file:{i}"), 10 + i, &body).unwrap();
            assert!(matches!(d, Delivery::Spooled(_)), "{d:?}");
        }
        let r = p.report();
        assert_eq!(
            (r.sent_batches, r.spooled_batches, r.spooled_rows),
            (0, 3, 33)
        );
        let st = p.spool_status().unwrap();
        assert_eq!((st.pending_batches, st.pending_rows), (3, 33));
        // Read back byte for byte, oldest first.
        let files = Pusher::spool_files(dir.path()).unwrap();
        let first = Pusher::read_spool(&files[0]).unwrap();
        assert_eq!((first.token.as_str(), first.rows), ("file:0", 10));
        assert_eq!(first.body, body);
        // A replay against a server still down keeps every file.
        assert!(p.replay(false).is_err());
        assert_eq!(p.spool_status().unwrap().pending_batches, 3);
    }

    #[test]
    fn a_server_that_accepts_but_never_answers_times_out_and_the_batch_is_spooled() {
        // A listener that takes connections and holds them, as a stalled server does.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let held = std::thread::spawn(move || {
            let mut conns = Vec::new();
            for c in listener.incoming().take(3) {
                conns.push(c);
            }
            std::thread::sleep(Duration::from_secs(30));
        });
        let dir = tempfile::tempdir().unwrap();
        let mut client = Client::new(ChUrl::parse(&format!("http://127.0.0.1:{port}")).unwrap());
        client.io_timeout = Duration::from_millis(150);
        let mut opts = PushOptions::with_spool(dir.path().to_path_buf());
        opts.retry_for = Duration::from_millis(400);
        opts.backoff_start = Duration::from_millis(50);
        let p = Pusher::new(client, opts).unwrap();
        let started = Instant::now();
        let d = p.send("slow:1-1", 1, b"row").unwrap();
        assert!(
            matches!(d, Delivery::Spooled(ref why) if why.contains("ClickHouse at")),
            "{d:?}"
        );
        assert!(p.report().retries >= 1, "{:?}", p.report());
        // Bounded by the retry window plus one timeout, not by the server.
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "{:?}",
            started.elapsed()
        );
        assert_eq!(p.spool_status().unwrap().pending_batches, 1);
        drop(held);
    }

    #[test]
    fn a_file_of_another_format_is_an_error_not_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        let p = unreachable_pusher(dir.path());
        fs::write(dir.path().join("0-x.batch"), b"garbage\n{}\n").unwrap();
        let e = p.spool_status().unwrap_err().to_string();
        assert!(e.contains("not a spool file"), "{e}");
    }
}
