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
use std::time::Instant;

use shrike_types::{RequestRecord, TlsVersion};

use crate::capture::Feed;
use crate::json::{Scalar, Scanner};
use crate::jsonl::{apply, parse_time, required, truncate, Key};
use crate::mapped::{epoch_any, split_uri};
use crate::{DeadLetterWriter, IngestError, IngestReport, Input, RecordSink, Reject, RejectReason};

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
    used: bool,
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
            used: false,
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

/// Reads the Zeek logs `input` names (an `http.log` or an `ssl.log`, with the logs beside
/// it) into one sink; see the module documentation. `batch_records` records make a chunk.
pub fn run_zeek<S: RecordSink>(
    input: &Input,
    sink: S,
    batch_records: usize,
    dead: DeadLetterWriter,
    progress: &(dyn Fn(u64) + Sync),
) -> Result<(IngestReport<S>, DeadLetterWriter, ZeekStats), IngestError> {
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
    let mut feed = Feed::new(sink, batch_records, dead);
    let mut n = 0u64;
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

    // conn.log: uid → JA4T.
    let mut ja4t: HashMap<String, String> = HashMap::new();
    if let Some(p) = &stats.conn_log {
        let side = Input::File(p.clone());
        let mut lines = LogLines::open(&side).map_err(read_err(&side))?;
        let mut unknown = 0;
        lines
            .each(
                ZeekLog::Conn,
                &mut unknown,
                |_, r, uid, _| {
                    if let (Some(t), Some(uid)) = (r.ja4t, uid) {
                        stats.conn_fingerprints += 1;
                        ja4t.insert(uid.into_owned(), t.into_owned());
                    }
                },
                |no, e, raw| feed.reject(no, e, raw),
            )
            .map_err(read_err(&side))?;
        n += lines.line;
        feed.report.unknown_keys += unknown;
        feed.report.bytes += lines.bytes;
    }

    // ssl.log: its connections in file order, and uid → index.
    let mut ssl: Vec<Tls> = Vec::new();
    let mut ssl_by_uid: HashMap<String, usize> = HashMap::new();
    let side = match main {
        ZeekLog::Ssl => None,
        _ => stats.ssl_log.clone().map(Input::File),
    };
    let mut side_lines = match &side {
        Some(i) => Some(LogLines::open(i).map_err(read_err(i))?),
        None => None,
    };
    let ssl_lines = match (&mut side_lines, main) {
        (Some(l), _) => Some(l),
        (None, ZeekLog::Ssl) => Some(&mut head),
        _ => None,
    };
    if let Some(lines) = ssl_lines {
        let mut unknown = 0;
        lines
            .each(
                ZeekLog::Ssl,
                &mut unknown,
                |_, r, uid, _| {
                    let t = Tls::new(&r, uid);
                    if let Some(u) = &t.uid {
                        ssl_by_uid.insert(u.clone(), ssl.len());
                    }
                    ssl.push(t);
                },
                |no, e, raw| feed.reject(no, e, raw),
            )
            .map_err(read_err(side.as_ref().unwrap_or(input)))?;
        stats.ssl_connections = ssl.len() as u64;
        n += lines.line;
        feed.report.unknown_keys += unknown;
        feed.report.bytes += lines.bytes;
    }
    progress(feed.report.bytes);

    // http.log, streamed.
    if main == ZeekLog::Http {
        let mut unknown = 0;
        let base = feed.report.bytes;
        while let Some(status) = head.advance().map_err(read_err(input))? {
            let no = head.line;
            let parsed = status
                .and_then(|()| head.row(&mut unknown))
                .and_then(|row| to_record(ZeekLog::Http, row));
            let (mut r, uid) = match parsed {
                Ok(x) => x,
                Err(e) => {
                    let e = Reject {
                        detail: format!("http.log: {}", e.detail),
                        ..e
                    };
                    feed.reject(no, &e, &head.buf);
                    continue;
                }
            };
            stats.http_requests += 1;
            let mut joined = false;
            let mut tls = None;
            if let Some(uid) = uid.as_deref() {
                if let Some(&i) = ssl_by_uid.get(uid) {
                    ssl[i].join(&mut r);
                    tls = Some(i);
                    stats.joined_ssl += 1;
                    joined = true;
                }
                if let Some(t) = ja4t.get(uid) {
                    r.ja4t = Some(Cow::Borrowed(t.as_str()));
                    stats.joined_conn += 1;
                    joined = true;
                }
            }
            r.correlated = Some(joined);
            feed.push(no, r, |_| head.buf.clone());
            // Marked once the request, which borrows the connection, is handed on.
            if let Some(i) = tls {
                ssl[i].used = true;
            }
            if no % 65_536 == 0 {
                progress(base + head.bytes);
            }
        }
        n += head.line;
        feed.report.unknown_keys += unknown;
        feed.report.bytes += head.bytes;
    }

    // TLS connections no request was seen on.
    for (i, t) in ssl.iter().enumerate() {
        if t.used {
            continue;
        }
        let mut r = t.record();
        if let Some(j) = t.uid.as_ref().and_then(|u| ja4t.get(u)) {
            r.ja4t = Some(Cow::Borrowed(j.as_str()));
        }
        stats.tls_only += 1;
        feed.push(i as u64 + 1, r, |_| {
            t.uid.clone().unwrap_or_default().into_bytes()
        });
    }
    feed.report.lines = n;
    progress(feed.report.bytes);
    let (report, dead) = feed.finish(started)?;
    Ok((report, dead, stats))
}
