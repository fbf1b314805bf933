//! `clickhouse://[user[:password]@]host[:port]/database`: where a ClickHouse store lives.

use std::fmt;

use crate::ChError;

/// The HTTP interface's default port.
pub const DEFAULT_PORT: u16 = 8123;

/// A parsed store address. The password never appears in `Display` or `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct ChUrl {
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// HTTP port.
    pub port: u16,
    /// Database holding shrike's tables.
    pub database: String,
    /// User (`X-ClickHouse-User`), when given.
    pub user: Option<String>,
    /// Password (`X-ClickHouse-Key`), when given.
    pub password: Option<String>,
}

fn is_ident(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        && !s.as_bytes()[0].is_ascii_digit()
}

impl ChUrl {
    /// Parses `clickhouse://…/db`, or `http://host:port` (a plain HTTP endpoint such as
    /// `CLICKHOUSE_URL`) with `database` given separately.
    pub fn parse(text: &str) -> Result<Self, ChError> {
        let bad = |why: &str| ChError::Url(format!("{text:?}: {why}"));
        let (scheme, rest) = text
            .split_once("://")
            .ok_or_else(|| bad("expected clickhouse://host:port/database"))?;
        if scheme != "clickhouse" && scheme != "http" {
            return Err(bad(
                "the scheme must be clickhouse:// (or http:// for a plain endpoint); https is not supported, put a TLS proxy on loopback in front",
            ));
        }
        let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
        let (userinfo, hostport) = match authority.rsplit_once('@') {
            Some((u, h)) => (Some(u), h),
            None => (None, authority),
        };
        let (user, password) = match userinfo {
            None => (None, None),
            Some(u) => match u.split_once(':') {
                Some((u, p)) => (Some(u.to_string()), Some(p.to_string())),
                None => (Some(u.to_string()), None),
            },
        };
        let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed [ in host"))?;
            (h.to_string(), after.strip_prefix(':'))
        } else {
            match hostport.rsplit_once(':') {
                Some((h, p)) => (h.to_string(), Some(p)),
                None => (hostport.to_string(), None),
            }
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => p.parse().map_err(|_| bad("the port is not a number"))?,
        };
        let database = path.trim_end_matches('/');
        let database = if database.is_empty() {
            "shrike"
        } else {
            database
        };
        if !is_ident(database) {
            return Err(bad(
                "the database name must be letters, digits and _ (not starting with a digit)",
            ));
        }
        Ok(ChUrl {
            host,
            port,
            database: database.to_string(),
            user,
            password,
        })
    }

    /// The same server, another database.
    pub fn with_database(&self, database: &str) -> Result<Self, ChError> {
        if !is_ident(database) {
            return Err(ChError::Url(format!(
                "{database:?}: the database name must be letters, digits and _"
            )));
        }
        Ok(ChUrl {
            database: database.to_string(),
            ..self.clone()
        })
    }
}

impl fmt::Display for ChUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        match &self.user {
            Some(u) => write!(f, "clickhouse://{u}@{host}:{}/{}", self.port, self.database),
            None => write!(f, "clickhouse://{host}:{}/{}", self.port, self.database),
        }
    }
}

impl fmt::Debug for ChUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ChUrl({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_and_never_show_the_password() {
        let u = ChUrl::parse("clickhouse://soc:s3cret@ch.example:9000/edge_logs").unwrap();
        assert_eq!(
            (u.host.as_str(), u.port, u.database.as_str()),
            ("ch.example", 9000, "edge_logs")
        );
        assert_eq!(u.password.as_deref(), Some("s3cret"));
        assert!(!format!("{u} {u:?}").contains("s3cret"));
        let u = ChUrl::parse("http://127.0.0.1:41234").unwrap();
        assert_eq!((u.port, u.database.as_str()), (41234, "shrike"));
        let u = ChUrl::parse("clickhouse://[::1]/x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", DEFAULT_PORT));
        for bad in [
            "ch.example/db",
            "https://ch.example/db",
            "clickhouse://h:port/db",
            "clickhouse://h/db;DROP",
            "clickhouse:///db",
        ] {
            assert!(ChUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
