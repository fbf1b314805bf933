//! Plaintext HTTP/1.x: request and response heads, and message bodies skipped by their
//! framing (Content-Length, chunked, or until close) so that keep-alive requests are found.

/// Longest request or response head accepted (as nginx's large header buffers).
pub const MAX_HEAD: usize = 64 * 1024;

/// A parsed request head: what the request record needs, in wire order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestHead {
    /// Method token.
    pub method: String,
    /// Request target as sent.
    pub target: String,
    /// `HTTP/1.0` or `HTTP/1.1` (anything else refuses the head).
    pub version: String,
    /// Header `(name, value)` pairs in wire order.
    pub headers: Vec<(String, String)>,
}

impl RequestHead {
    /// The first value of a header (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body that follows this request.
    pub fn body(&self) -> Body {
        body_of(&self.headers, false)
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Header pairs.
    pub headers: Vec<(String, String)>,
}

/// How a message body is delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Body {
    /// No body.
    None,
    /// This many bytes.
    Length(u64),
    /// Chunked transfer coding.
    Chunked,
    /// Until the connection closes (responses only).
    UntilClose,
}

/// The result of trying to parse a head.
#[derive(Debug, PartialEq, Eq)]
pub enum Head<T> {
    /// More bytes are needed.
    More,
    /// A head, and the number of bytes it used.
    Done(T, usize),
    /// Not HTTP/1 (or a head beyond [`MAX_HEAD`]).
    Bad,
}

fn head_end(buf: &[u8]) -> Option<usize> {
    memchr::memmem::find(buf, b"\r\n\r\n")
        .map(|i| i + 4)
        .or_else(|| memchr::memmem::find(buf, b"\n\n").map(|i| i + 2))
}

/// Where the head at the start of `buf` ends, once it is whole and within [`MAX_HEAD`].
fn complete_head(buf: &[u8]) -> Head<usize> {
    match head_end(buf) {
        Some(end) if end <= MAX_HEAD => Head::Done(end, end),
        None if buf.len() <= MAX_HEAD => Head::More,
        _ => Head::Bad,
    }
}

fn lines(head: &[u8]) -> impl Iterator<Item = &[u8]> {
    head.split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

fn headers(mut it: impl Iterator<Item = impl AsRef<[u8]>>) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    for l in it.by_ref() {
        let l = l.as_ref();
        if l.is_empty() {
            break;
        }
        let colon = memchr::memchr(b':', l)?;
        let name = std::str::from_utf8(&l[..colon]).ok()?.trim();
        if name.is_empty() || name.bytes().any(|b| b <= b' ') {
            return None;
        }
        let value = String::from_utf8_lossy(&l[colon + 1..]).trim().to_string();
        out.push((name.to_string(), value));
    }
    Some(out)
}

/// Whether `b` could start an HTTP/1 request (an upper-case method token and a space).
pub fn looks_like_request(b: &[u8]) -> bool {
    let n = b
        .iter()
        .take(17)
        .take_while(|c| c.is_ascii_uppercase())
        .count();
    n >= 3 && b.get(n) == Some(&b' ')
}

/// Longest request line waited for before the bytes are judged not HTTP.
const MAX_REQUEST_LINE: usize = 8192;

/// Whether the bytes start an HTTP/1 request line: `Some(true)` for a method, a target and
/// `HTTP/1.x`; `Some(false)` for anything else, such as the commands of the protocols that
/// upgrade to TLS in the stream (SMTP's `EHLO`, FTP's `AUTH TLS`); `None` while the first
/// line is incomplete and could still be one (up to 8 KiB).
pub fn request_line(b: &[u8]) -> Option<bool> {
    if !looks_like_request(b) {
        let word = b.iter().take_while(|c| c.is_ascii_uppercase()).count();
        // A method still arriving (all upper case so far) may yet become one.
        return if word == b.len() && word < 17 {
            None
        } else {
            Some(false)
        };
    }
    let head = &b[..b.len().min(MAX_REQUEST_LINE)];
    match head.iter().position(|c| *c == b'\n') {
        Some(end) => {
            let line = b[..end].strip_suffix(b"\r").unwrap_or(&b[..end]);
            let version = line.rsplit(|c| *c == b' ').next().unwrap_or(b"");
            Some(
                line.iter().filter(|c| **c == b' ').count() >= 2 && version.starts_with(b"HTTP/1."),
            )
        }
        None if b.len() < MAX_REQUEST_LINE => None,
        None => Some(false),
    }
}

/// Parses a request head at the start of `buf`.
pub fn request_head(buf: &[u8]) -> Head<RequestHead> {
    if !looks_like_request(buf) && buf.len() >= 17 {
        return Head::Bad;
    }
    let end = match complete_head(buf) {
        Head::Done(end, _) => end,
        Head::More => return Head::More,
        Head::Bad => return Head::Bad,
    };
    let mut it = lines(&buf[..end]);
    let Some(first) = it.next() else {
        return Head::Bad;
    };
    let mut parts = first.splitn(3, |b| *b == b' ');
    let (Some(m), Some(t), Some(v)) = (parts.next(), parts.next(), parts.next()) else {
        return Head::Bad;
    };
    if !v.starts_with(b"HTTP/1.") || !looks_like_request(first) {
        return Head::Bad;
    }
    let Some(hs) = headers(it) else {
        return Head::Bad;
    };
    Head::Done(
        RequestHead {
            method: String::from_utf8_lossy(m).into_owned(),
            target: String::from_utf8_lossy(t).into_owned(),
            version: String::from_utf8_lossy(v).into_owned(),
            headers: hs,
        },
        end,
    )
}

/// Parses a response head at the start of `buf`.
pub fn response_head(buf: &[u8]) -> Head<ResponseHead> {
    if buf.len() >= 5 && !buf.starts_with(b"HTTP/") {
        return Head::Bad;
    }
    let end = match complete_head(buf) {
        Head::Done(end, _) => end,
        Head::More => return Head::More,
        Head::Bad => return Head::Bad,
    };
    let mut it = lines(&buf[..end]);
    let first = it.next().unwrap_or_default();
    let status = first
        .split(|b| *b == b' ')
        .nth(1)
        .and_then(|s| std::str::from_utf8(s).ok())
        .and_then(|s| s.parse::<u16>().ok());
    let (Some(status), Some(hs)) = (status, headers(it)) else {
        return Head::Bad;
    };
    Head::Done(
        ResponseHead {
            status,
            headers: hs,
        },
        end,
    )
}

fn body_of(headers: &[(String, String)], response: bool) -> Body {
    let get = |n: &str| {
        headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(n))
            .map(|(_, v)| v.as_str())
    };
    if get("transfer-encoding").is_some_and(|v| v.to_ascii_lowercase().contains("chunked")) {
        return Body::Chunked;
    }
    match get("content-length").map(|v| v.trim().parse::<u64>()) {
        Some(Ok(n)) if n > 0 => Body::Length(n),
        Some(Ok(_)) => Body::None,
        _ if response => Body::UntilClose,
        _ => Body::None,
    }
}

impl ResponseHead {
    /// The body that follows this response to a request with `method`.
    pub fn body(&self, method: Option<&str>) -> Body {
        if method == Some("HEAD")
            || (100..200).contains(&self.status)
            || self.status == 204
            || self.status == 304
        {
            return Body::None;
        }
        if method == Some("CONNECT") && (200..300).contains(&self.status) {
            return Body::None;
        }
        body_of(&self.headers, true)
    }
}

/// Skips body bytes at the front of `buf`. Returns `(consumed, finished)`; for chunked
/// bodies `state` carries the bytes left in the current chunk between calls.
pub fn skip_body(body: &mut Body, chunk_left: &mut u64, buf: &[u8]) -> Option<(usize, bool)> {
    match body {
        Body::None => Some((0, true)),
        Body::UntilClose => Some((buf.len(), false)),
        Body::Length(n) => {
            let take = (*n).min(buf.len() as u64);
            *n -= take;
            Some((take as usize, *n == 0))
        }
        Body::Chunked => {
            let mut at = 0;
            loop {
                if *chunk_left > 0 {
                    let take = (*chunk_left).min((buf.len() - at) as u64);
                    *chunk_left -= take;
                    at += take as usize;
                    if *chunk_left > 0 {
                        return Some((at, false));
                    }
                    continue;
                }
                let rest = &buf[at..];
                let Some(nl) = memchr::memchr(b'\n', rest) else {
                    return if rest.len() > 1024 {
                        None
                    } else {
                        Some((at, false))
                    };
                };
                let line = std::str::from_utf8(&rest[..nl]).ok()?.trim();
                at += nl + 1;
                if line.is_empty() {
                    continue; // the CRLF after a chunk's data
                }
                let size = u64::from_str_radix(line.split(';').next()?.trim(), 16).ok()?;
                if size == 0 {
                    // Last chunk, then optional trailers and an empty line.
                    let rest = &buf[at..];
                    return if rest.starts_with(b"\r\n") {
                        Some((at + 2, true))
                    } else if rest.starts_with(b"\n") {
                        Some((at + 1, true))
                    } else if let Some(e) = head_end(rest) {
                        Some((at + e, true))
                    } else if rest.len() < 8192 {
                        // Wait for the end: report the size line consumed only once whole.
                        Some((at - nl - 1, false))
                    } else {
                        None
                    };
                }
                // Chunk data is followed by CRLF, skipped as an empty line above.
                *chunk_left = size;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_head_keeps_header_order() {
        let raw = b"GET /a?b=1 HTTP/1.1\r\nHost: example.org\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\nrest";
        let Head::Done(h, used) = request_head(raw) else {
            panic!("not parsed")
        };
        assert_eq!(used, raw.len() - 4);
        assert_eq!(h.method, "GET");
        assert_eq!(h.target, "/a?b=1");
        let names: Vec<_> = h.headers.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["Host", "User-Agent", "Accept"]);
        assert_eq!(h.header("user-agent"), Some("curl/8.5.0"));
        assert_eq!(request_head(b"GET / HTTP/1.1\r\nHost: x\r\n"), Head::More);
        assert_eq!(
            request_head(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03abcdefgh"),
            Head::Bad
        );
    }

    #[test]
    fn chunked_body_is_skipped_across_calls() {
        let mut body = Body::Chunked;
        let mut left = 0;
        let (a, done) = skip_body(&mut body, &mut left, b"5\r\nhel").unwrap();
        assert!(!done);
        assert_eq!((a, left), (6, 2));
        let (b, done) = skip_body(&mut body, &mut left, b"lo\r\n0\r\n\r\nGET").unwrap();
        assert!(done);
        assert_eq!(b, 9);
    }

    #[test]
    fn response_bodies_follow_the_rules() {
        let Head::Done(r, _) =
            response_head(b"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(r.body(Some("GET")), Body::None);
        let Head::Done(r, _) = response_head(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n")
        else {
            panic!()
        };
        assert_eq!(r.body(Some("HEAD")), Body::None);
        assert_eq!(r.body(Some("GET")), Body::Length(10));
    }
}
