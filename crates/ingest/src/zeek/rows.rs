//! One line of a Zeek log to a record: the TSV header's directives, the TSV and JSON
//! layouts, the columns shrike reads and their validation.

use std::borrow::Cow;
use std::io::{self, BufRead, BufReader};

use shrike_types::{RequestRecord, TlsVersion};

use super::ZeekLog;
use crate::json::{Scalar, Scanner};
use crate::jsonl::{apply, parse_time, required, truncate, Key};
use crate::mapped::{epoch_any, split_uri};
use crate::{Input, Reject, RejectReason};

/// The columns shrike reads, across the three logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Col {
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

pub(super) fn col(name: &str) -> Option<Col> {
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
pub(super) enum Val<'a> {
    Text(Cow<'a, str>),
    List(Vec<Cow<'a, str>>),
}

/// A parsed line: the columns shrike reads.
pub(super) type Row<'a> = Vec<(Col, Val<'a>)>;

/// The TSV header's directives.
#[derive(Debug, Clone)]
pub(super) struct Header {
    separator: String,
    set_separator: String,
    empty: String,
    unset: String,
    cols: Vec<Option<Col>>,
    /// The `#fields` line as written.
    pub(super) fields_line: String,
}

impl Default for Header {
    fn default() -> Self {
        Header {
            separator: "\t".into(),
            set_separator: ",".into(),
            empty: "(empty)".into(),
            unset: "-".into(),
            cols: Vec::new(),
            fields_line: String::new(),
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
            "#set_separator" => self.set_separator = unescape(self.first(rest)).into_owned(),
            "#empty_field" => self.empty = self.first(rest).to_string(),
            "#unset_field" => self.unset = self.first(rest).to_string(),
            "#fields" => {
                self.cols = rest.split(&*self.separator).map(col).collect();
                self.fields_line = line.to_string();
            }
            _ => {}
        }
        Ok(())
    }

    /// The first value of a directive.
    fn first<'a>(&self, rest: &'a str) -> &'a str {
        rest.split(&*self.separator).next().unwrap_or_default()
    }

    pub(super) fn row<'a>(&self, line: &'a str, unknown: &mut u64) -> Result<Row<'a>, Reject> {
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
                    let items: Vec<Cow<'_, str>> = match self.set_separator.as_bytes() {
                        [b] if b.is_ascii() => v.split(*b as char).map(unescape).collect(),
                        _ => v.split(&*self.set_separator).map(unescape).collect(),
                    };
                    Val::List(items)
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

pub(super) fn json_row<'a>(line: &'a str, unknown: &mut u64) -> Result<Row<'a>, Reject> {
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
pub(super) fn to_record<'a>(
    log: ZeekLog,
    row: Row<'a>,
) -> Result<(RequestRecord<'a>, Option<Cow<'a, str>>), Reject> {
    let mut r = RequestRecord::default();
    let mut have_time = false;
    let mut uid = None;
    for (c, v) in row {
        // conn.log is only read for its JA4T, by uid.
        if log == ZeekLog::Conn && !matches!(c, Col::Uid | Col::Ja4t) {
            continue;
        }
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
pub(super) struct LogLines {
    pub(super) reader: Box<dyn BufRead + Send>,
    pub(super) header: Header,
    pub(super) buf: Vec<u8>,
    /// Number of the line in `buf`.
    pub(super) line: u64,
    pub(super) bytes: u64,
}

impl LogLines {
    pub(super) fn open(input: &Input) -> io::Result<Self> {
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
    pub(super) fn advance(&mut self) -> io::Result<Option<Result<(), Reject>>> {
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
    pub(super) fn row(&self, unknown: &mut u64) -> Result<Row<'_>, Reject> {
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
    pub(super) fn each(
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
