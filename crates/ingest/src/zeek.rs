//! Zeek logs: `http.log` joined to `ssl.log` (JA4, TLS version, cipher, SNI, ALPN) and
//! `conn.log` (JA4T) by the connection `uid`, in Zeek's TSV layout (`#separator`,
//! `#fields` header) or its JSON one (`LogAscii::use_json=T`), with the columns of the
//! FoxIO JA4 package and Zeek's `client_header_names`.
//!
//! Given `http.log`, the `ssl.log` and `conn.log` beside it are found by name (the same
//! file name with `http` replaced: `http.09:00:00-10:00:00.log.gz` pairs with
//! `ssl.09:00:00-10:00:00.log.gz`). They are read first into tables keyed by `uid` (so
//! their size bounds the memory used), then `http.log` is streamed: one record per request,
//! with the TLS and TCP fields of its connection when the other logs have it. TLS
//! connections no request was seen on (Zeek sees no HTTP inside TLS) become TLS-only
//! records, in `ssl.log` order. Given `ssl.log` alone, every connection is such a record.
//!
//! Each log's lines are validated as shrike JSON Lines would be; a refused line is counted
//! and kept in the dead-letter file with its file named in the reason.

use ahash::AHashMap as HashMap;
use std::borrow::Cow;
use std::io::{self, BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use shrike_types::{RequestRecord, TlsVersion};

use crate::capture::Feed;
use crate::json::{Scalar, Scanner};
use crate::jsonl::{apply, parse_time, required, truncate, Key};
use crate::mapped::{epoch_any, split_uri};
use crate::{
    DeadLetterWriter, IngestError, IngestOptions, IngestReport, Input, RecordSink, Reject,
    RejectCounts, RejectReason, Source,
};

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

/// The columns shrike reads, across the three logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Col {
    Ts,
    Uid,
    OrigH,
    OrigP,
    RespP,
    TransDepth,
    Method,
    Host,
    Uri,
    Referrer,
    /// HTTP version in http.log, TLS version in ssl.log.
    Version,
    UserAgent,
    ResponseBodyLen,
    StatusCode,
    HeaderNames,
    Ja4h,
    Ja4,
    Ja4R,
    Ja3,
    Cipher,
    ServerName,
    NextProtocol,
    Ja4t,
    /// A Zeek column shrike has no use for.
    Ignore,
}

fn col(name: &str) -> Option<Col> {
    use Col::*;
    Some(match name {
        "ts" => Ts,
        "uid" => Uid,
        "id.orig_h" => OrigH,
        "id.orig_p" => OrigP,
        "id.resp_p" => RespP,
        "trans_depth" => TransDepth,
        "method" => Method,
        "host" => Host,
        "uri" => Uri,
        "referrer" => Referrer,
        "version" => Version,
        "user_agent" => UserAgent,
        "response_body_len" => ResponseBodyLen,
        "status_code" => StatusCode,
        "client_header_names" => HeaderNames,
        "ja4h" => Ja4h,
        "ja4" => Ja4,
        "ja4_r" | "ja4_string" => Ja4R,
        "ja3" => Ja3,
        "cipher" => Cipher,
        "server_name" => ServerName,
        "next_protocol" => NextProtocol,
        "ja4t" => Ja4t,
        // Zeek's own columns and the JA4 package's other fingerprints (FoxIO-licensed,
        // carried by no canonical key).
        "id.resp_h"
        | "origin"
        | "request_body_len"
        | "status_msg"
        | "info_code"
        | "info_msg"
        | "tags"
        | "username"
        | "password"
        | "proxied"
        | "orig_fuids"
        | "orig_filenames"
        | "orig_mime_types"
        | "resp_fuids"
        | "resp_filenames"
        | "resp_mime_types"
        | "server_header_names"
        | "cookie_vars"
        | "uri_vars"
        | "curve"
        | "resumed"
        | "last_alert"
        | "established"
        | "ssl_history"
        | "cert_chain_fps"
        | "client_cert_chain_fps"
        | "sni_matches_cert"
        | "ja4s"
        | "ja4x"
        | "ja3s"
        | "validation_status"
        | "subject"
        | "issuer"
        | "cert_chain_fuids"
        | "client_cert_chain_fuids"
        | "client_subject"
        | "client_issuer"
        | "proto"
        | "service"
        | "duration"
        | "orig_bytes"
        | "resp_bytes"
        | "conn_state"
        | "local_orig"
        | "local_resp"
        | "missed_bytes"
        | "history"
        | "orig_pkts"
        | "orig_ip_bytes"
        | "resp_pkts"
        | "resp_ip_bytes"
        | "tunnel_parents"
        | "ip_proto"
        | "ja4l"
        | "ja4ls"
        | "ja4l_delta"
        | "ja4ls_delta"
        | "ja4ts"
        | "community_id"
        | "_path"
        | "_write_ts"
        | "_node"
        | "orig_l2_addr"
        | "resp_l2_addr"
        | "vlan"
        | "inner_vlan"
        | "ja4ssh"
        | "ja4d" => Ignore,
        _ => return None,
    })
}

/// One column's value: unset (`-`), text, or a set/vector.
#[derive(Debug)]
enum Val<'a> {
    Text(Cow<'a, str>),
    List(Vec<Cow<'a, str>>),
}

/// A parsed line: the columns shrike reads.
type Row<'a> = Vec<(Col, Val<'a>)>;

/// The TSV header's directives.
#[derive(Debug, Clone)]
struct Header {
    separator: String,
    set_separator: String,
    empty: String,
    unset: String,
    cols: Vec<Option<Col>>,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            cols: Vec::new(),
        }
    }
}

/// Zeek writes non-printable bytes and separators as `\xHH`.
fn unescape(s: &str) -> Cow<'_, str> {
    if memchr::memchr(b'\\', s.as_bytes()).is_none() {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && b.get(i + 1) == Some(&b'x') && i + 3 < b.len() {
            if let Some(v) = std::str::from_utf8(&b[i + 2..i + 4])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

impl Header {
    /// Reads one `#` line into the header; `Err` for a malformed directive.
    fn directive(&mut self, line: &str) -> Result<(), String> {
        let (key, rest) = line.split_once([' ', '\t']).unwrap_or((line, ""));
        match key {
            "#separator" => {
                self.separator = unescape(rest.trim()).into_owned();
                if self.separator.is_empty() {
                    return Err("#separator is empty".into());
                }
            }
            "#set_separator" => {
                self.set_separator =
                    unescape(rest.split(&*self.separator).next().unwrap_or(",")).into_owned()
            }
            "#empty_field" => {
                self.empty = rest
                    .split(&*self.separator)
                    .next()
                    .unwrap_or("")
                    .to_string()
            }
            "#unset_field" => {
                self.unset = rest
                    .split(&*self.separator)
                    .next()
                    .unwrap_or("")
                    .to_string()
            }
            "#fields" => self.cols = rest.split(&*self.separator).map(col).collect(),
            _ => {}
        }
        Ok(())
    }

    fn row<'a>(&self, line: &'a str, unknown: &mut u64) -> Result<Row<'a>, Reject> {
        if self.cols.is_empty() {
            return Err(Reject::new(
                RejectReason::InvalidLogLine,
                "a data line before the #fields header",
            ));
        }
        let mut row = Vec::with_capacity(24);
        // Zeek's separator is one byte (a tab) in practice: split on it with memchr.
        let mut values: Box<dyn Iterator<Item = &str>> = match self.separator.as_bytes() {
            [b] if b.is_ascii() => Box::new(
                memchr::memchr_iter(*b, line.as_bytes())
                    .chain(std::iter::once(line.len()))
                    .scan(0, move |start, end| {
                        let v = &line[*start..end];
                        *start = end + 1;
                        Some(v)
                    }),
            ),
            _ => Box::new(line.split(&*self.separator)),
        };
        let mut seen = 0;
        for (c, v) in self.cols.iter().zip(values.by_ref()) {
            seen += 1;
            let Some(c) = c else {
                *unknown += 1;
                continue;
            };
            if *c == Col::Ignore || v == self.unset {
                continue;
            }
            let val = if *c == Col::HeaderNames {
                if v == self.empty {
                    Val::List(Vec::new())
                } else {
                    Val::List(v.split(&*self.set_separator).map(unescape).collect())
                }
            } else if v == self.empty {
                Val::Text(Cow::Borrowed(""))
            } else {
                Val::Text(unescape(v))
            };
            row.push((*c, val));
        }
        let extra = values.count();
        if seen != self.cols.len() || extra > 0 {
            return Err(Reject::new(
                RejectReason::InvalidLogLine,
                format!(
                    "{} values for {} #fields columns",
                    seen + extra,
                    self.cols.len()
                ),
            ));
        }
        Ok(row)
    }
}

fn json_row<'a>(line: &'a str, unknown: &mut u64) -> Result<Row<'a>, Reject> {
    let mut row = Vec::with_capacity(24);
    Scanner::new(line)
        .object(|key, sc| {
            let Some(c) = col(key) else {
                *unknown += 1;
                return sc.skip_value();
            };
            if c == Col::Ignore {
                return sc.skip_value();
            }
            if sc.peek() == Some(b'[') {
                let mut items = Vec::new();
                sc.array(|sc| {
                    if let Some(Scalar::Str(s)) = sc.scalar()? {
                        items.push(s);
                    }
                    Ok(())
                })?;
                row.push((c, Val::List(items)));
                return Ok(());
            }
            let text = match sc.scalar()? {
                None => return Ok(()),
                Some(Scalar::Str(s)) => s,
                Some(Scalar::U(n)) => Cow::Owned(n.to_string()),
                Some(Scalar::I(n)) => Cow::Owned(n.to_string()),
                Some(Scalar::F(x)) => Cow::Owned(x.to_string()),
                Some(Scalar::B(b)) => Cow::Borrowed(if b { "T" } else { "F" }),
            };
            row.push((c, Val::Text(text)));
            Ok(())
        })
        .map_err(|e| Reject::new(RejectReason::InvalidJson, e.to_string()))?;
    Ok(row)
}

/// Zeek's TLS version names (`TLSv13`, `DTLSv12`...) to shrike's.
fn tls_version(s: &str) -> Option<TlsVersion> {
    match s {
        "TLSv13" | "DTLSv13" => Some(TlsVersion::Tls13),
        "TLSv12" | "DTLSv12" => Some(TlsVersion::Tls12),
        "TLSv11" => Some(TlsVersion::Tls11),
        "TLSv10" | "DTLSv10" => Some(TlsVersion::Tls10),
        "SSLv3" => Some(TlsVersion::Ssl3),
        other => TlsVersion::parse(other),
    }
}

/// One row of one log to a record: the columns that log defines, validated like the
/// canonical keys they stand for. Returns the record and the row's `uid`.
fn to_record<'a>(
    log: ZeekLog,
    row: Row<'a>,
) -> Result<(RequestRecord<'a>, Option<Cow<'a, str>>), Reject> {
    let mut r = RequestRecord::default();
    let mut have_time = false;
    let mut uid = None;
    for (c, v) in row {
        let text = match v {
            Val::List(items) => {
                if c == Col::HeaderNames && log == ZeekLog::Http {
                    r.header_names = Some(items);
                }
                continue;
            }
            // `(empty)`: an empty string is no value.
            Val::Text(t) if t.is_empty() => continue,
            Val::Text(t) => t,
        };
        let s = Scalar::Str;
        match (log, c) {
            (_, Col::Ts) => {
                r.time = if text.contains(['T', '-']) {
                    parse_time(&Scalar::Str(text))?
                } else {
                    let x: f64 = text.trim().parse().map_err(|_| {
                        Reject::new(
                            RejectReason::InvalidTimestamp,
                            format!("ts `{}` is not a number", truncate(&text)),
                        )
                    })?;
                    epoch_any(x)?
                };
                have_time = true;
            }
            (_, Col::Uid) => {
                uid = Some(text.clone());
                apply(&mut r, Key::conn_id, s(text), &mut have_time)?;
            }
            (_, Col::OrigH) => apply(&mut r, Key::src_ip, s(text), &mut have_time)?,
            (_, Col::OrigP) => apply(&mut r, Key::src_port, s(text), &mut have_time)?,
            (_, Col::RespP) => apply(&mut r, Key::dst_port, s(text), &mut have_time)?,
            (ZeekLog::Http, Col::TransDepth) => {
                let n: u64 = text
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| {
                        Reject::new(
                            RejectReason::InvalidLogLine,
                            format!("trans_depth `{}` is not a count from 1", truncate(&text)),
                        )
                    })?;
                apply(
                    &mut r,
                    Key::keepalive_index,
                    Scalar::U(n - 1),
                    &mut have_time,
                )?;
            }
            (ZeekLog::Http, Col::Method) => apply(&mut r, Key::method, s(text), &mut have_time)?,
            (ZeekLog::Http, Col::Host) => {
                // The Host header, which may carry a port (nginx's `$host` and Cloudflare's
                // host do not): the host alone, as the other formats give it.
                let cut = match text.rsplit_once(':') {
                    Some((h, port))
                        if !h.is_empty()
                            && port.bytes().all(|c| c.is_ascii_digit())
                            && (!h.contains(':') || h.ends_with(']')) =>
                    {
                        Some(h.len())
                    }
                    _ => None,
                };
                let host = match (cut, text) {
                    (Some(n), Cow::Borrowed(t)) => Cow::Borrowed(&t[..n]),
                    (Some(n), Cow::Owned(mut t)) => {
                        t.truncate(n);
                        Cow::Owned(t)
                    }
                    (None, t) => t,
                };
                apply(&mut r, Key::host, s(host), &mut have_time)?
            }
            (ZeekLog::Http, Col::Uri) => {
                if text.len() > shrike_types::MAX_FIELD_BYTES {
                    return Err(shrike_types::FieldError::TooLong {
                        field: "path",
                        len: text.len(),
                    }
                    .into());
                }
                split_uri(&mut r, text);
            }
            (ZeekLog::Http, Col::Referrer) => apply(&mut r, Key::referer, s(text), &mut have_time)?,
            (ZeekLog::Http, Col::Version) => {
                apply(&mut r, Key::http_version, s(text), &mut have_time)?
            }
            (ZeekLog::Http, Col::UserAgent) => {
                apply(&mut r, Key::user_agent, s(text), &mut have_time)?
            }
            (ZeekLog::Http, Col::ResponseBodyLen) => {
                apply(&mut r, Key::bytes, s(text), &mut have_time)?
            }
            // Zeek logs 0 when no reply was seen.
            (ZeekLog::Http, Col::StatusCode) if text.trim() == "0" => {}
            (ZeekLog::Http, Col::StatusCode) => {
                apply(&mut r, Key::status, s(text), &mut have_time)?
            }
            (ZeekLog::Http, Col::Ja4h) => apply(&mut r, Key::ja4h, s(text), &mut have_time)?,
            (ZeekLog::Ssl, Col::Version) => {
                r.tls_version = Some(tls_version(&text).ok_or_else(|| {
                    Reject::new(
                        RejectReason::InvalidLogLine,
                        format!("TLS version `{}` is not one Zeek writes", truncate(&text)),
                    )
                })?);
            }
            (ZeekLog::Ssl, Col::Ja4) => apply(&mut r, Key::ja4, s(text), &mut have_time)?,
            (ZeekLog::Ssl, Col::Ja4R) => apply(&mut r, Key::ja4_r, s(text), &mut have_time)?,
            (ZeekLog::Ssl, Col::Ja3) => apply(&mut r, Key::ja3, s(text), &mut have_time)?,
            (ZeekLog::Ssl, Col::Cipher) => apply(&mut r, Key::tls_cipher, s(text), &mut have_time)?,
            (ZeekLog::Ssl, Col::ServerName) => {
                apply(&mut r, Key::tls_sni, s(text), &mut have_time)?
            }
            (ZeekLog::Ssl, Col::NextProtocol) => {
                apply(&mut r, Key::tls_alpn, s(text), &mut have_time)?
            }
            (ZeekLog::Conn, Col::Ja4t) => apply(&mut r, Key::ja4t, s(text), &mut have_time)?,
            // A column another log defines (e.g. `ja4` in a conn.log): not this log's.
            _ => {}
        }
    }
    if log == ZeekLog::Conn {
        return Ok((r, uid));
    }
    if r.host.is_none() {
        // A TLS connection's host is its server name, as in a capture.
        r.host = r.tls_sni.clone();
    }
    let r = required(r, have_time, ("`ts`", "`id.orig_h`"))?;
    Ok((r, uid))
}

/// Lines of one log file, header directives applied, read one data line at a time into a
/// reused buffer.
struct LogLines {
    reader: Box<dyn BufRead + Send>,
    header: Header,
    buf: Vec<u8>,
    /// Number of the line in `buf`.
    line: u64,
    bytes: u64,
}

impl LogLines {
    fn open(input: &Input) -> io::Result<Self> {
        let (reader, _) = input.open()?;
        Ok(LogLines {
            reader: Box::new(BufReader::with_capacity(1 << 20, reader)),
            header: Header::default(),
            buf: Vec::with_capacity(4096),
            line: 0,
            bytes: 0,
        })
    }

    /// Reads the next data line into `buf` (directives are applied on the way): `None` at
    /// the end, `Some(Err)` for a line refused before parsing (a bad directive).
    fn advance(&mut self) -> io::Result<Option<Result<(), Reject>>> {
        loop {
            self.buf.clear();
            let n = self.reader.read_until(b'\n', &mut self.buf)?;
            if n == 0 {
                return Ok(None);
            }
            self.line += 1;
            self.bytes += n as u64;
            while matches!(self.buf.last(), Some(b'\n' | b'\r')) {
                self.buf.pop();
            }
            if self.buf.is_empty() {
                continue;
            }
            if self.buf[0] == b'#' {
                let text = String::from_utf8_lossy(&self.buf).into_owned();
                if let Err(why) = self.header.directive(&text) {
                    return Ok(Some(Err(Reject::new(RejectReason::InvalidLogLine, why))));
                }
                continue;
            }
            return Ok(Some(Ok(())));
        }
    }

    /// The line in `buf`, parsed.
    fn row(&self, unknown: &mut u64) -> Result<Row<'_>, Reject> {
        if self.buf.len() > crate::MAX_LINE_BYTES {
            return Err(Reject::new(
                RejectReason::LineTooLong,
                format!("{} bytes", self.buf.len()),
            ));
        }
        let Ok(text) = std::str::from_utf8(&self.buf) else {
            return Err(Reject::new(
                RejectReason::NotUtf8,
                "the line is not valid UTF-8",
            ));
        };
        if text.starts_with('{') {
            json_row(text, unknown)
        } else {
            self.header.row(text, unknown)
        }
    }

    /// Every line of the log as a record of `log` (`on_record`) or a reject, tagged with the
    /// log's name (`on_reject`).
    fn each(
        &mut self,
        log: ZeekLog,
        unknown: &mut u64,
        mut on_record: impl FnMut(u64, RequestRecord<'_>, Option<Cow<'_, str>>, &[u8]),
        mut on_reject: impl FnMut(u64, &Reject, &[u8]),
    ) -> io::Result<()> {
        while let Some(status) = self.advance()? {
            let no = self.line;
            let parsed = status
                .and_then(|()| self.row(unknown))
                .and_then(|row| to_record(log, row));
            match parsed {
                Ok((r, uid)) => on_record(no, r, uid, &self.buf),
                Err(e) => {
                    let e = Reject {
                        detail: format!("{}.log: {}", log.as_str(), e.detail),
                        ..e
                    };
                    on_reject(no, &e, &self.buf)
                }
            }
        }
        Ok(())
    }
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

fn borrowed(s: &Option<String>) -> Option<Cow<'_, str>> {
    s.as_deref().map(Cow::Borrowed)
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

    /// Copies the connection's TLS fields into one of its requests (owned copies).
    fn join_owned(&self, r: &mut RequestRecord<'_>) {
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

    /// Copies the connection's TLS fields into one of its requests.
    fn join<'a>(&'a self, r: &mut RequestRecord<'a>) {
        r.ja4 = self.ja4.clone();
        r.ja4_r = borrowed(&self.ja4_r);
        r.ja3 = borrowed(&self.ja3);
        r.tls_version = self.version;
        r.tls_alpn = self.alpn;
        r.tls_sni = borrowed(&self.sni);
        r.tls_cipher = borrowed(&self.cipher);
        if r.host.is_none() {
            r.host = borrowed(&self.sni);
        }
    }

    /// The connection as a TLS-only record.
    fn record(&self) -> RequestRecord<'_> {
        let mut r = RequestRecord {
            time: self.time,
            src_ip: self.src_ip,
            src_port: self.src_port,
            dst_port: self.dst_port,
            conn_id: borrowed(&self.uid),
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
    requests: AtomicU64,
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
        line.first() == Some(&b'#')
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
        let row = if text.starts_with('{') {
            json_row(text, unknown_keys)
        } else {
            self.header.row(text, unknown_keys)
        };
        let (mut r, uid) = row
            .and_then(|row| to_record(ZeekLog::Http, row))
            .map_err(tagged)?;
        let t = self.tables;
        t.requests.fetch_add(1, Ordering::Relaxed);
        let mut joined = false;
        if let Some(uid) = uid.as_deref() {
            if let Some(&i) = t.ssl_by_uid.get(uid) {
                t.ssl[i].join_owned(&mut r);
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
    let mut ja4t = HashMap::new();
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
    let mut by_uid = HashMap::new();
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
        Input::Stdin => None,
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
        None => HashMap::new(),
    };
    let (ssl, ssl_by_uid) = match ssl {
        Some((v, by_uid, side)) => {
            sides.push(side);
            (v, by_uid)
        }
        None => (Vec::new(), HashMap::new()),
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
        requests: AtomicU64::new(0),
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
    stats.http_requests = tables.requests.load(Ordering::Relaxed);
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
