//! A small blocking client for ClickHouse's HTTP interface: one connection per request
//! (`Connection: close`), bounded connect/read/write timeouts, a bounded response size,
//! query parameters (`param_<name>`) instead of values spliced into SQL, and server errors
//! decoded from `X-ClickHouse-Exception-Code`.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use crate::{ChError, ChUrl};

/// Largest response body read (features of a large horizon fit well below it).
pub const MAX_RESPONSE_BYTES: usize = 1 << 30;

/// Connection settings.
#[derive(Debug, Clone)]
pub struct Client {
    url: ChUrl,
    /// Connect timeout.
    pub connect_timeout: Duration,
    /// Read and write timeout of one request.
    pub io_timeout: Duration,
}

fn encode_component(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl Client {
    /// A client for the store at `url`.
    pub fn new(url: ChUrl) -> Self {
        Client {
            url,
            connect_timeout: Duration::from_secs(5),
            io_timeout: Duration::from_secs(300),
        }
    }

    /// Talks to another database of the same server.
    pub fn set_database(&mut self, database: &str) -> Result<(), ChError> {
        self.url = self.url.with_database(database)?;
        Ok(())
    }

    /// The store address.
    pub fn url(&self) -> &ChUrl {
        &self.url
    }

    /// Runs one statement whose SQL is the whole body (DDL, `SELECT … FORMAT …`), with
    /// `{name:Type}` parameters bound from `params`. Returns the response body.
    pub fn query(&self, sql: &str, params: &[(&str, String)]) -> Result<Vec<u8>, ChError> {
        self.request(None, sql.as_bytes(), params, &[])
    }

    /// Runs `sql` without a result.
    pub fn execute(&self, sql: &str) -> Result<(), ChError> {
        self.query(sql, &[]).map(drop)
    }

    /// `INSERT INTO … FORMAT …` with `data` as the body, and per-request `settings`.
    pub fn insert(
        &self,
        insert: &str,
        data: &[u8],
        settings: &[(&str, String)],
    ) -> Result<(), ChError> {
        self.request(Some(insert), data, &[], settings).map(drop)
    }

    /// `GET /ping`: is the server up?
    pub fn ping(&self) -> Result<(), ChError> {
        let mut s = self.connect()?;
        let req = format!(
            "GET /ping HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.url.host
        );
        s.write_all(req.as_bytes()).map_err(|e| self.io(e))?;
        self.response(s).map(drop)
    }

    fn connect(&self) -> Result<TcpStream, ChError> {
        let addrs = (self.url.host.as_str(), self.url.port)
            .to_socket_addrs()
            .map_err(|e| ChError::Unreachable {
                url: self.url.to_string(),
                why: e.to_string(),
            })?;
        let mut last = String::from("no address");
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.connect_timeout) {
                Ok(s) => {
                    s.set_read_timeout(Some(self.io_timeout))
                        .and_then(|_| s.set_write_timeout(Some(self.io_timeout)))
                        .map_err(|e| self.io(e))?;
                    s.set_nodelay(true).ok();
                    return Ok(s);
                }
                Err(e) => last = e.to_string(),
            }
        }
        Err(ChError::Unreachable {
            url: self.url.to_string(),
            why: last,
        })
    }

    fn io(&self, e: std::io::Error) -> ChError {
        ChError::Io {
            url: self.url.to_string(),
            why: e.to_string(),
        }
    }

    fn request(
        &self,
        query: Option<&str>,
        body: &[u8],
        params: &[(&str, String)],
        settings: &[(&str, String)],
    ) -> Result<Vec<u8>, ChError> {
        let mut target = String::from("/?database=");
        encode_component(&self.url.database, &mut target);
        if let Some(q) = query {
            target.push_str("&query=");
            encode_component(q, &mut target);
        }
        for (k, v) in params {
            target.push_str("&param_");
            encode_component(k, &mut target);
            target.push('=');
            encode_component(v, &mut target);
        }
        for (k, v) in settings {
            target.push('&');
            encode_component(k, &mut target);
            target.push('=');
            encode_component(v, &mut target);
        }
        let mut head = format!(
            "POST {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
            self.url.host,
            body.len()
        );
        if let Some(u) = &self.url.user {
            head.push_str(&format!("X-ClickHouse-User: {u}\r\n"));
        }
        if let Some(p) = &self.url.password {
            head.push_str(&format!("X-ClickHouse-Key: {p}\r\n"));
        }
        head.push_str("\r\n");
        let mut s = self.connect()?;
        s.write_all(head.as_bytes())
            .and_then(|_| s.write_all(body))
            .and_then(|_| s.flush())
            .map_err(|e| self.io(e))?;
        self.response(s)
    }

    fn response(&self, s: TcpStream) -> Result<Vec<u8>, ChError> {
        let mut raw = Vec::new();
        s.take(MAX_RESPONSE_BYTES as u64 + 64 * 1024)
            .read_to_end(&mut raw)
            .map_err(|e| self.io(e))?;
        let proto = |why: &str| ChError::Protocol {
            url: self.url.to_string(),
            why: why.to_string(),
        };
        let end = raw
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .ok_or_else(|| proto("the connection closed before the response headers ended"))?;
        let head = std::str::from_utf8(&raw[..end]).map_err(|_| proto("headers are not UTF-8"))?;
        let mut lines = head.split("\r\n");
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .ok_or_else(|| proto("no status line"))?;
        let (mut chunked, mut length, mut code) = (false, None, None);
        for l in lines {
            let Some((k, v)) = l.split_once(':') else {
                continue;
            };
            let v = v.trim();
            if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.eq_ignore_ascii_case("chunked");
            } else if k.eq_ignore_ascii_case("content-length") {
                length = v.parse::<usize>().ok();
            } else if k.eq_ignore_ascii_case("x-clickhouse-exception-code") {
                code = v.parse::<i32>().ok();
            }
        }
        let rest = &raw[end + 4..];
        let body = if chunked {
            dechunk(rest).ok_or_else(|| proto("bad chunked body"))?
        } else {
            match length {
                Some(n) if n <= rest.len() => rest[..n].to_vec(),
                Some(_) => return Err(proto("the connection closed mid-body")),
                None => rest.to_vec(),
            }
        };
        if body.len() > MAX_RESPONSE_BYTES {
            return Err(proto("response larger than 1 GiB"));
        }
        if status != 200 || code.is_some() {
            let message = String::from_utf8_lossy(&body).trim().to_string();
            return Err(ChError::Server {
                status,
                code: code.unwrap_or(0),
                message,
            });
        }
        Ok(body)
    }
}

fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        // A size near usize::MAX must not wrap around.
        if size.checked_add(2).is_none_or(|n| b.len() < n) {
            return None;
        }
        out.extend_from_slice(&b[..size]);
        b = &b[size + 2..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunked_bodies_and_url_components_decode() {
        assert_eq!(
            dechunk(b"4\r\nWiki\r\n5;x=y\r\npedia\r\n0\r\n\r\n").as_deref(),
            Some(&b"Wikipedia"[..])
        );
        assert_eq!(dechunk(b"9\r\nshort\r\n"), None);
        assert_eq!(dechunk(b"ffffffffffffffff\r\nx\r\n"), None);
        let mut s = String::new();
        encode_component("SELECT 1 & 'a'=b", &mut s);
        assert_eq!(s, "SELECT%201%20%26%20%27a%27%3Db");
    }
}
