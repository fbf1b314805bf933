//! Zeek logs: `http.log` joined to `ssl.log` (JA4, TLS version, cipher, SNI, ALPN) and
//! `conn.log` (JA4T) by the connection `uid`, in Zeek's TSV layout (`#separator`,
//! `#fields` header) or its JSON one (`LogAscii::use_json=T`), with the columns of the
//! FoxIO JA4 package and Zeek's `client_header_names`.
//!
//! Given `http.log`, the `ssl.log` and `conn.log` beside it are found by name (the same
//! file name with `http` replaced: `http.09:00:00-10:00:00.log.gz` pairs with
//! `ssl.09:00:00-10:00:00.log.gz`). They are read first, at the same time, into tables
//! keyed by `uid` (so their size bounds the memory used), then `http.log` is parsed on every
//! worker of the line pipeline: one record per request, with the TLS and TCP fields of its
//! connection when the other logs have it. TLS
//! connections no request was seen on (Zeek sees no HTTP inside TLS) become TLS-only
//! records, in `ssl.log` order. Given `ssl.log` alone, every connection is such a record.
//!
//! Each log's lines are validated as shrike JSON Lines would be; a refused line is counted
//! and kept in the dead-letter file with its file named in the reason.

mod rows;

use shrike_types::hashing::Map as HashMap;
use std::borrow::Cow;
use std::io::{self, BufRead};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use shrike_types::{RequestRecord, TlsVersion};

use crate::capture::Feed;
use crate::{
    DeadLetterWriter, IngestError, IngestOptions, IngestReport, Input, RecordSink, Reject,
    RejectCounts, RejectReason, Source,
};
use rows::{json_row, to_record, Header, LogLines};

/// Which Zeek log a file is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZeekLog {
    /// `http.log`: one line per HTTP request.
    Http,
    /// `ssl.log`: one line per TLS (or QUIC) connection.
    Ssl,
    /// `conn.log`: one line per connection.
    Conn,
}

impl ZeekLog {
    /// The log's path name (`#path` in TSV, the file name's stem).
    pub const fn as_str(self) -> &'static str {
        match self {
            ZeekLog::Http => "http",
            ZeekLog::Ssl => "ssl",
            ZeekLog::Conn => "conn",
        }
    }
}

/// Tells a Zeek log from its first bytes: a TSV header (`#separator`, then `#path`), or a
/// JSON object with Zeek's `uid` and `id.orig_h` keys (the log then told from its
/// columns). `None` for anything else.
pub fn detect_zeek(sample: &[u8]) -> Option<ZeekLog> {
    let text = String::from_utf8_lossy(&sample[..sample.len().min(64 * 1024)]);
    let mut lines = text.lines().map(str::trim_end).filter(|l| !l.is_empty());
    let first = lines.next()?;
    // A TSV log opens with its `#` directives (test baselines put a `##` comment first).
    let directives = || text.lines().take_while(|l| l.starts_with('#'));
    if directives().any(|l| l.starts_with("#separator")) {
        let path = directives().find_map(|l| l.strip_prefix("#path"))?.trim();
        return match path {
            "http" => Some(ZeekLog::Http),
            "ssl" => Some(ZeekLog::Ssl),
            "conn" => Some(ZeekLog::Conn),
            _ => None,
        };
    }
    if !(first.starts_with('{') && first.contains("\"uid\"") && first.contains("\"id.orig_h\"")) {
        return None;
    }
    let has = |k: &str| first.contains(&format!("\"{k}\""));
    if has("method") || has("trans_depth") || has("status_code") {
        Some(ZeekLog::Http)
    } else if has("ja4") || has("server_name") || has("cipher") || has("ssl_history") {
        Some(ZeekLog::Ssl)
    } else if has("conn_state") || has("history") || has("proto") {
        Some(ZeekLog::Conn)
    } else {
        None
    }
}

/// What a run over a set of Zeek logs found.
#[derive(Debug, Clone, Default)]
pub struct ZeekStats {
    /// The `ssl.log` joined, if found.
    pub ssl_log: Option<PathBuf>,
    /// The `conn.log` joined, if found.
    pub conn_log: Option<PathBuf>,
    /// Valid `http.log` requests.
    pub http_requests: u64,
    /// Valid `ssl.log` connections.
    pub ssl_connections: u64,
    /// `conn.log` connections with a JA4T.
    pub conn_fingerprints: u64,
    /// Requests joined to an `ssl.log` connection.
    pub joined_ssl: u64,
    /// Requests joined to a `conn.log` JA4T.
    pub joined_conn: u64,
    /// TLS connections without any request: TLS-only records.
    pub tls_only: u64,
}

/// The fields of an `ssl.log` connection, kept to be joined to its requests.
#[derive(Debug)]
struct Tls {
    uid: Option<String>,
    time: shrike_types::Timestamp,
    src_ip: Option<std::net::IpAddr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    ja4: Option<shrike_types::Ja4<'static>>,
    ja4_r: Option<String>,
    ja3: Option<String>,
    version: Option<TlsVersion>,
    alpn: Option<shrike_types::Alpn>,
    sni: Option<String>,
    cipher: Option<String>,
}

fn owned(c: &Option<Cow<'_, str>>) -> Option<String> {
    c.as_deref().map(str::to_string)
}

impl Tls {
    fn new(r: &RequestRecord<'_>, uid: Option<Cow<'_, str>>) -> Self {
        Tls {
            uid: uid.map(Cow::into_owned),
            time: r.time,
            src_ip: r.src_ip,
            src_port: r.src_port,
            dst_port: r.dst_port,
            ja4: r.ja4.clone().map(shrike_types::Ja4::into_owned),
            ja4_r: owned(&r.ja4_r),
            ja3: owned(&r.ja3),
            version: r.tls_version,
            alpn: r.tls_alpn,
            sni: owned(&r.tls_sni),
            cipher: owned(&r.tls_cipher),
        }
    }

    /// Copies the connection's TLS fields into one of its requests (owned copies: the
    /// request may outlive the table, as on the parsing workers).
    fn join(&self, r: &mut RequestRecord<'_>) {
        let owned = |s: &Option<String>| s.clone().map(Cow::Owned);
        r.ja4 = self.ja4.clone();
        r.ja4_r = owned(&self.ja4_r);
        r.ja3 = owned(&self.ja3);
        r.tls_version = self.version;
        r.tls_alpn = self.alpn;
        r.tls_sni = owned(&self.sni);
        r.tls_cipher = owned(&self.cipher);
        if r.host.is_none() {
            r.host = owned(&self.sni);
        }
    }

    /// The connection as a TLS-only record.
    fn record(&self) -> RequestRecord<'_> {
        let mut r = RequestRecord {
            time: self.time,
            src_ip: self.src_ip,
            src_port: self.src_port,
            dst_port: self.dst_port,
            conn_id: self.uid.clone().map(Cow::Owned),
            correlated: Some(true),
            ..RequestRecord::default()
        };
        self.join(&mut r);
        r
    }
}

/// The sibling log of `path` for `log`: its file name with the leading log name replaced
/// (`http.log` → `ssl.log`, `/x/http.2024-05-01.log.gz` → `/x/ssl.2024-05-01.log.gz`).
pub fn sibling(path: &Path, from: ZeekLog, to: ZeekLog) -> Option<PathBuf> {
    let name = path.file_name()?.to_str()?;
    let rest = name.strip_prefix(from.as_str())?;
    let candidate = path.with_file_name(format!("{}{rest}", to.as_str()));
    candidate.is_file().then_some(candidate)
}

/// The side logs, read before `http.log` is streamed.
struct Tables {
    ssl: Vec<Tls>,
    ssl_by_uid: HashMap<String, usize>,
    ja4t: HashMap<String, String>,
    /// Per `ssl` entry: a request was joined to it.
    used: Vec<AtomicBool>,
    joined_ssl: AtomicU64,
    joined_conn: AtomicU64,
}

/// `http.log` lines as a [`Source`], joined to the tables: parsed on every worker.
struct HttpLog<'t> {
    header: Header,
    tables: &'t Tables,
}

impl Source for HttpLog<'_> {
    fn name(&self) -> &'static str {
        "zeek"
    }

    fn is_comment(&self, line: &[u8]) -> bool {
        // A `#fields` line unlike the file's first one (logs concatenated with `cat`) is
        // not passed over: `parse_line` refuses it, so that the change shows.
        line.first() == Some(&b'#')
            && !(line.starts_with(b"#fields") && line != self.header.fields_line.as_bytes())
    }

    fn parse_line<'a>(
        &self,
        line: &'a [u8],
        unknown_keys: &mut u64,
    ) -> Result<RequestRecord<'a>, Reject> {
        let tagged = |e: Reject| Reject {
            detail: format!("http.log: {}", e.detail),
            ..e
        };
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(Reject::new(
                RejectReason::NotUtf8,
                "http.log: the line is not valid UTF-8",
            ));
        };
        if text.starts_with("#fields") {
            return Err(Reject::new(
                RejectReason::InvalidLogLine,
                "http.log: a #fields header unlike the file's first (logs concatenated?): \
                 the lines after it are read with the first header's columns; split the file",
            ));
        }
        let row = if text.starts_with('{') {
            json_row(text, unknown_keys)
        } else {
            self.header.row(text, unknown_keys)
        };
        let (mut r, uid) = row
            .and_then(|row| to_record(ZeekLog::Http, row))
            .map_err(tagged)?;
        let t = self.tables;
        let mut joined = false;
        if let Some(uid) = uid.as_deref() {
            if let Some(&i) = t.ssl_by_uid.get(uid) {
                t.ssl[i].join(&mut r);
                t.used[i].store(true, Ordering::Relaxed);
                t.joined_ssl.fetch_add(1, Ordering::Relaxed);
                joined = true;
            }
            if let Some(j) = t.ja4t.get(uid) {
                r.ja4t = Some(Cow::Owned(j.clone()));
                t.joined_conn.fetch_add(1, Ordering::Relaxed);
                joined = true;
            }
        }
        r.correlated = Some(joined);
        Ok(r)
    }
}

/// What a side log held, besides its table: counts, and the lines refused (written to the
/// dead-letter file once both side logs are read).
#[derive(Default)]
struct Side {
    rejects: Vec<(u64, Reject, Vec<u8>)>,
    unknown: u64,
    lines: u64,
    bytes: u64,
}

/// Reads one side log into `on_record`.
fn read_side(
    lines: &mut LogLines,
    log: ZeekLog,
    on_record: impl FnMut(u64, RequestRecord<'_>, Option<Cow<'_, str>>, &[u8]),
) -> io::Result<Side> {
    let mut side = Side::default();
    lines.each(log, &mut side.unknown, on_record, |no, e, raw| {
        side.rejects.push((no, e.clone(), raw.to_vec()));
    })?;
    side.lines = lines.line;
    side.bytes = lines.bytes;
    Ok(side)
}

/// conn.log: uid → JA4T.
fn read_conn(lines: &mut LogLines) -> io::Result<(HashMap<String, String>, Side)> {
    let mut ja4t = shrike_types::hashing::map();
    let side = read_side(lines, ZeekLog::Conn, |_, r, uid, _| {
        if let (Some(t), Some(uid)) = (r.ja4t, uid) {
            ja4t.insert(uid.into_owned(), t.into_owned());
        }
    })?;
    Ok((ja4t, side))
}

/// ssl.log: its connections in file order, and uid → index.
fn read_ssl(lines: &mut LogLines) -> io::Result<(Vec<Tls>, HashMap<String, usize>, Side)> {
    let mut ssl = Vec::new();
    let mut by_uid = shrike_types::hashing::map();
    let side = read_side(lines, ZeekLog::Ssl, |_, r, uid, _| {
        let t = Tls::new(&r, uid);
        if let Some(u) = &t.uid {
            by_uid.insert(u.clone(), ssl.len());
        }
        ssl.push(t);
    })?;
    Ok((ssl, by_uid, side))
}

/// Reads the Zeek logs `input` names (an `http.log` or an `ssl.log`, with the logs beside
/// it) into sinks made by `make_sink`; see the module documentation. `http.log` is parsed
/// on `options.workers` threads, in chunks of `options.chunk_size` bytes; the TLS-only
/// records go to one more sink at the end.
pub fn run_zeek<S, F>(
    input: &Input,
    options: &IngestOptions,
    mut dead: DeadLetterWriter,
    mut make_sink: F,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(IngestReport<S>, DeadLetterWriter, ZeekStats), IngestError>
where
    S: RecordSink,
    F: FnMut() -> S,
{
    let started = Instant::now();
    let read_err = |input: &Input| {
        let label = input.label();
        move |source| IngestError::Read {
            input: label,
            source,
        }
    };
    let mut head = LogLines::open(input).map_err(read_err(input))?;
    let sample = head.reader.fill_buf().map_err(read_err(input))?.to_vec();
    let main = detect_zeek(&sample).ok_or_else(|| IngestError::Read {
        input: input.label(),
        source: io::Error::new(
            io::ErrorKind::InvalidData,
            "not a Zeek http, ssl or conn log",
        ),
    })?;
    let path = match input {
        Input::File(p) | Input::FileRange { path: p, .. } => Some(p.as_path()),
        Input::Stdin | Input::Bytes { .. } => None,
    };
    let mut stats = ZeekStats::default();
    match main {
        ZeekLog::Conn => {
            return Err(IngestError::Read {
                input: input.label(),
                source: io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "conn.log alone holds no requests: ingest the http.log (or ssl.log) beside it, which joins conn.log by uid",
                ),
            })
        }
        ZeekLog::Http => {
            stats.ssl_log = path.and_then(|p| sibling(p, ZeekLog::Http, ZeekLog::Ssl));
            stats.conn_log = path.and_then(|p| sibling(p, ZeekLog::Http, ZeekLog::Conn));
        }
        ZeekLog::Ssl => {
            stats.conn_log = path.and_then(|p| sibling(p, ZeekLog::Ssl, ZeekLog::Conn));
        }
    }
    // The side logs, read at the same time.
    let open = |p: &Path| {
        let file = Input::File(p.to_path_buf());
        LogLines::open(&file).map_err(read_err(&file))
    };
    let mut conn_lines = stats.conn_log.as_deref().map(open).transpose()?;
    let mut ssl_lines = match main {
        ZeekLog::Http => stats.ssl_log.as_deref().map(open).transpose()?,
        _ => None,
    };
    let ssl_label = stats
        .ssl_log
        .as_ref()
        .map_or(input.label(), |p| p.display().to_string());
    let ssl_is_input = main == ZeekLog::Ssl;
    let (conn, ssl) = std::thread::scope(|scope| {
        let conn = scope.spawn(|| conn_lines.as_mut().map(read_conn).transpose());
        let ssl = match (&mut ssl_lines, ssl_is_input) {
            (Some(l), _) => read_ssl(l).map(Some),
            (None, true) => read_ssl(&mut head).map(Some),
            (None, false) => Ok(None),
        };
        (conn.join(), ssl)
    });
    let side_err = |label: String| {
        move |source| IngestError::Read {
            input: label,
            source,
        }
    };
    let conn_label = stats
        .conn_log
        .as_ref()
        .map_or(String::new(), |p| p.display().to_string());
    let conn = conn
        .map_err(|_| IngestError::WorkerPanicked)?
        .map_err(side_err(conn_label))?;
    let ssl = ssl.map_err(side_err(ssl_label))?;
    let mut sides = Vec::new();
    let ja4t = match conn {
        Some((map, side)) => {
            sides.push(side);
            map
        }
        None => shrike_types::hashing::map(),
    };
    let (ssl, ssl_by_uid) = match ssl {
        Some((v, by_uid, side)) => {
            sides.push(side);
            (v, by_uid)
        }
        None => (Vec::new(), shrike_types::hashing::map()),
    };
    let mut side_rejects = RejectCounts::default();
    let (mut side_unknown, mut side_lines, mut side_bytes) = (0, 0, 0);
    for side in &sides {
        for (no, e, raw) in &side.rejects {
            side_rejects.add(&e.reason);
            dead.write(*no, e, raw).map_err(IngestError::DeadLetter)?;
        }
        side_unknown += side.unknown;
        side_lines += side.lines;
        side_bytes += side.bytes;
    }
    stats.conn_fingerprints = ja4t.len() as u64;
    stats.ssl_connections = ssl.len() as u64;
    let tables = Tables {
        used: (0..ssl.len()).map(|_| AtomicBool::new(false)).collect(),
        ssl,
        ssl_by_uid,
        ja4t,
        joined_ssl: AtomicU64::new(0),
        joined_conn: AtomicU64::new(0),
    };
    progress(side_bytes);

    // http.log, parsed on every worker: its header first.
    let (mut report, dead) = if main == ZeekLog::Http {
        // Reading up to the first data line applies the TSV header's directives.
        head.advance().map_err(read_err(input))?;
        let source = HttpLog {
            header: head.header.clone(),
            tables: &tables,
        };
        let base = side_bytes;
        crate::run(input, &source, options, dead, &mut make_sink, &|b| {
            progress(base + b)
        })?
    } else {
        let mut report = IngestReport::empty();
        report.sinks.push(make_sink());
        (report, dead)
    };
    // Every valid http.log line is one record: the TLS-only ones come after.
    stats.http_requests = report.records;
    stats.joined_ssl = tables.joined_ssl.load(Ordering::Relaxed);
    stats.joined_conn = tables.joined_conn.load(Ordering::Relaxed);

    // TLS connections no request was seen on, into one more sink.
    let mut feed = Feed::new(make_sink(), 20_000, dead);
    for (i, (t, used)) in tables.ssl.iter().zip(&tables.used).enumerate() {
        if used.load(Ordering::Relaxed) {
            continue;
        }
        let mut r = t.record();
        if let Some(j) = t.uid.as_ref().and_then(|u| tables.ja4t.get(u)) {
            r.ja4t = Some(Cow::Borrowed(j.as_str()));
        }
        stats.tls_only += 1;
        feed.push(i as u64 + 1, r, |_| {
            t.uid.clone().unwrap_or_default().into_bytes()
        });
    }
    let (tls, dead) = feed.finish(started)?;
    report.records += tls.records;
    report.rejects.merge(&tls.rejects);
    report.quality.merge(&tls.quality);
    report.sinks.extend(tls.sinks);
    report.rejects.merge(&side_rejects);
    report.unknown_keys += side_unknown;
    report.lines += side_lines;
    report.bytes += side_bytes;
    report.elapsed = started.elapsed();
    progress(report.bytes);
    Ok((report, dead, stats))
}
