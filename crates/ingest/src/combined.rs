//! Apache/nginx "combined" access logs:
//! `%h %l %u [%t] "%r" %>s %b "%{Referer}i" "%{User-Agent}i"` (trailing fields ignored).
//!
//! No TLS or TCP data: sessions from these logs feed the "application" feature set only.
//! `-` means absent; a `Referer` or `User-Agent` of `"-"` is known to be absent.

use std::borrow::Cow;
use std::net::IpAddr;

use shrike_types::{HttpVersion, Method, RequestRecord, Timestamp, MAX_FIELD_BYTES};

use crate::{Reject, RejectReason, Source};

/// The combined log format source.
#[derive(Debug, Clone, Copy, Default)]
pub struct CombinedLog;

fn bad(why: &str) -> Reject {
    Reject::new(RejectReason::InvalidLogLine, why.to_string())
}

/// Splits the next space-delimited token.
fn token(s: &str) -> Option<(&str, &str)> {
    let s = s.trim_start_matches(' ');
    if s.is_empty() {
        return None;
    }
    Some(match s.find(' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, ""),
    })
}

/// Splits a double-quoted field; `\"` and `\\` escapes are undone (allocating only then).
fn quoted(s: &str) -> Option<(Cow<'_, str>, &str)> {
    let s = s.trim_start_matches(' ');
    let body = s.strip_prefix('"')?;
    let b = body.as_bytes();
    let mut i = 0;
    let mut escaped = false;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                escaped = true;
                i += 2;
                continue;
            }
            b'"' => break,
            _ => i += 1,
        }
    }
    if i >= b.len() {
        return None;
    }
    let raw = &body[..i];
    let rest = &body[i + 1..];
    let v = if escaped {
        let mut out = String::with_capacity(raw.len());
        let mut it = raw.chars();
        while let Some(c) = it.next() {
            if c == '\\' {
                match it.next() {
                    Some('"') => out.push('"'),
                    Some('\\') => out.push('\\'),
                    Some(o) => {
                        out.push('\\');
                        out.push(o);
                    }
                    None => out.push('\\'),
                }
            } else {
                out.push(c);
            }
        }
        Cow::Owned(out)
    } else {
        Cow::Borrowed(raw)
    };
    Some((v, rest))
}

fn dash_is_none(v: Cow<'_, str>) -> Cow<'_, str> {
    if v == "-" {
        Cow::Borrowed("")
    } else {
        v
    }
}

fn check_len(field: &'static str, v: &str) -> Result<(), Reject> {
    if v.len() > MAX_FIELD_BYTES {
        return Err(Reject::new(
            RejectReason::FieldTooLong(field),
            format!("{field}: {} bytes", v.len()),
        ));
    }
    Ok(())
}

impl Source for CombinedLog {
    fn name(&self) -> &'static str {
        "combined"
    }

    fn parse_line<'a>(
        &self,
        line: &'a [u8],
        _unknown: &mut u64,
    ) -> Result<RequestRecord<'a>, Reject> {
        let line = std::str::from_utf8(line)
            .map_err(|_| Reject::new(RejectReason::NotUtf8, "the line is not valid UTF-8"))?;
        let (host, rest) = token(line).ok_or_else(|| bad("empty line"))?;
        let (_ident, rest) = token(rest).ok_or_else(|| bad("missing ident field"))?;
        let (_user, rest) = token(rest).ok_or_else(|| bad("missing user field"))?;
        let rest = rest.trim_start_matches(' ');
        let rest = rest
            .strip_prefix('[')
            .ok_or_else(|| bad("missing [time]"))?;
        let close = rest.find(']').ok_or_else(|| bad("unterminated [time]"))?;
        let time = Timestamp::parse_clf(&rest[..close])?;
        let (request, rest) =
            quoted(&rest[close + 1..]).ok_or_else(|| bad("missing \"request\""))?;
        let (status, rest) = token(rest).ok_or_else(|| bad("missing status"))?;
        let (bytes, rest) = token(rest).ok_or_else(|| bad("missing bytes"))?;
        let (referer, rest) = quoted(rest).ok_or_else(|| bad("missing \"referer\""))?;
        let (ua, _rest) = quoted(rest).ok_or_else(|| bad("missing \"user-agent\""))?;
        if host == "-" {
            return Err(Reject::new(
                RejectReason::MissingField("src_ip"),
                "client address is `-`",
            ));
        }
        let ip: IpAddr = host.parse().map_err(|_| {
            Reject::new(
                RejectReason::InvalidIp,
                format!(
                    "client `{}` is not an IP address",
                    host.chars().take(64).collect::<String>()
                ),
            )
        })?;
        let mut r = RequestRecord {
            time,
            src_ip: Some(ip),
            ..RequestRecord::default()
        };
        let status: u16 = status.parse().map_err(|_| bad("status is not a number"))?;
        if !(100..=999).contains(&status) {
            return Err(bad("status out of range"));
        }
        r.status = Some(status);
        if bytes != "-" {
            if bytes.starts_with('-') {
                return Err(Reject::new(
                    RejectReason::NegativeCounter("bytes"),
                    "negative byte count",
                ));
            }
            r.bytes = Some(bytes.parse().map_err(|_| bad("bytes is not a number"))?);
        }
        check_len("path", &request)?;
        check_len("referer", &referer)?;
        check_len("user_agent", &ua)?;
        // "GET /path?q HTTP/1.1"; a bare "-" or garbage request keeps only what parses.
        if let Cow::Borrowed(req) = request {
            fill_request(&mut r, req);
        } else {
            let owned = request.into_owned();
            let mut tmp = RequestRecord::default();
            fill_request(&mut tmp, &owned);
            r.method = tmp.method;
            r.http_version = tmp.http_version;
            r.path = tmp.path.map(|p| Cow::Owned(p.into_owned()));
            r.query = tmp.query.map(|q| Cow::Owned(q.into_owned()));
        }
        r.referer = Some(dash_is_none(referer));
        r.user_agent = Some(dash_is_none(ua));
        Ok(r)
    }
}

fn fill_request<'a>(r: &mut RequestRecord<'a>, req: &'a str) {
    let mut parts = req.splitn(3, ' ');
    let (m, target, v) = (parts.next(), parts.next(), parts.next());
    r.method = m.and_then(Method::from_token);
    if let Some(t) = target {
        let (path, query) = match t.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (t, None),
        };
        r.path = Some(Cow::Borrowed(path));
        r.query = query.map(Cow::Borrowed);
    }
    r.http_version = v.and_then(HttpVersion::parse);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_apache_documentation_example() {
        let line = br#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif?x=1 HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
        let r = CombinedLog.parse_line(line, &mut 0).unwrap();
        assert_eq!(r.src_ip.unwrap().to_string(), "127.0.0.1");
        assert_eq!(r.method, Some(Method::Get));
        assert_eq!(r.path.as_deref(), Some("/apache_pb.gif"));
        assert_eq!(r.query.as_deref(), Some("x=1"));
        assert_eq!(r.http_version, Some(HttpVersion::Http10));
        assert_eq!(r.status, Some(200));
        assert_eq!(r.bytes, Some(2326));
        assert_eq!(
            r.user_agent.as_deref(),
            Some("Mozilla/4.08 [en] (Win98; I ;Nav)")
        );
    }

    #[test]
    fn escapes_dashes_and_errors() {
        let line = br#"2001:db8::1 - - [01/May/2024:12:00:00 +0000] "GET /q?a=\"x\" HTTP/1.1" 404 - "-" "curl/8.0""#;
        let r = CombinedLog.parse_line(line, &mut 0).unwrap();
        assert_eq!(r.query.as_deref(), Some("a=\"x\""));
        assert_eq!(r.bytes, None);
        assert_eq!(r.referer.as_deref(), Some(""));
        let bad_ip =
            br#"300.1.1.1 - - [01/May/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x""#;
        assert_eq!(
            CombinedLog
                .parse_line(bad_ip, &mut 0)
                .unwrap_err()
                .reason
                .key(),
            "invalid_ip"
        );
        let bad_time =
            br#"1.1.1.1 - - [31/Feb/2024:12:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "x""#;
        assert_eq!(
            CombinedLog
                .parse_line(bad_time, &mut 0)
                .unwrap_err()
                .reason
                .key(),
            "invalid_timestamp"
        );
        assert_eq!(
            CombinedLog
                .parse_line(b"garbage", &mut 0)
                .unwrap_err()
                .reason
                .key(),
            "invalid_log_line"
        );
    }
}
