//! Who may call the API: anyone on loopback, and a bearer token beyond it.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

use crate::error::ApiError;
use crate::state::AppState;

/// Shortest accepted token: 16 characters.
pub const MIN_TOKEN_LEN: usize = 16;

/// Why a bind address and token cannot be served.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BindError {
    /// A non-loopback address needs a token.
    #[error(
        "refusing to serve on {0} without a token: set SHRIKE_API_TOKEN (or serve.token), or bind to 127.0.0.1"
    )]
    TokenRequired(SocketAddr),
    /// The token is too short to resist guessing.
    #[error("the API token must be at least {MIN_TOKEN_LEN} characters long")]
    TokenTooShort,
}

/// Checks the bind policy: a token is required unless the address is loopback.
pub fn check_bind(addr: SocketAddr, token: Option<&str>) -> Result<(), BindError> {
    match token {
        Some(t) if t.chars().count() < MIN_TOKEN_LEN => Err(BindError::TokenTooShort),
        None if !addr.ip().is_loopback() => Err(BindError::TokenRequired(addr)),
        _ => Ok(()),
    }
}

/// Compares two secrets in time independent of where they differ: both are hashed first,
/// so the comparison also leaks nothing about the length.
pub fn token_matches(given: &str, expected: &str) -> bool {
    let a = Sha256::digest(given.as_bytes());
    let b = Sha256::digest(expected.as_bytes());
    a.iter()
        .zip(b.iter())
        .fold(0u8, |acc, (x, y)| acc | (x ^ y))
        == 0
}

/// The secret a request carries: `Authorization: Bearer <token>`, or HTTP Basic with the
/// token as the password (any user name), which is what a browser sends after its prompt.
fn presented(header: &str) -> Option<String> {
    if let Some(t) = header.strip_prefix("Bearer ") {
        return Some(t.trim().to_string());
    }
    let decoded = base64_decode(header.strip_prefix("Basic ")?.trim())?;
    let text = String::from_utf8(decoded).ok()?;
    Some(text.split_once(':')?.1.to_string())
}

/// Standard base64 (RFC 4648, padding optional); `None` on any other character.
fn base64_decode(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.trim_end_matches('=').bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// Whether a request's `Host` may be answered. A page on another site can point its own
/// host name at 127.0.0.1 (DNS rebinding) and then read a loopback server as its own
/// origin; its requests still carry its host name. So the server answers only to loopback
/// names (`localhost` and `*.localhost`), address literals, and the names it is published
/// under (`serve.public_names`); with a token and no public name configured, any host is
/// answered: the token, which no other origin can read, is the guard. A request without a
/// Host header (HTTP/1.0 tools) is answered.
pub fn host_allowed(host: Option<&str>, public_names: &[String], token: bool) -> bool {
    let Some(host) = host else {
        return true;
    };
    if token && public_names.is_empty() {
        return true;
    }
    let host = host.trim();
    // Strip the port: `[::1]:8080`, `127.0.0.1:8080`, `name:8080`.
    let name = if let Some(rest) = host.strip_prefix('[') {
        match rest.split_once(']') {
            Some((inside, _)) => return inside.parse::<std::net::Ipv6Addr>().is_ok(),
            None => return false,
        }
    } else {
        host.rsplit_once(':').map_or(host, |(n, port)| {
            if port.chars().all(|c| c.is_ascii_digit()) {
                n
            } else {
                host
            }
        })
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<std::net::IpAddr>().is_ok()
        || name == "localhost"
        || name.ends_with(".localhost")
        || public_names
            .iter()
            .any(|p| p.trim_end_matches('.').eq_ignore_ascii_case(&name))
}

/// Refuses a request whose `Host` the server does not answer to ([`host_allowed`]) with
/// 421 Misdirected Request.
pub async fn check_host(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let host = req
        .headers()
        .get(axum::http::header::HOST)
        .map(|v| v.to_str().unwrap_or("\u{fffd}"));
    let settings = state.settings();
    if host_allowed(host, &settings.public_names, state.token().is_some()) {
        return next.run(req).await;
    }
    ApiError::MisdirectedHost.into_response()
}

/// Middleware: when a token is configured, every request but `/healthz` and the bouncer API
/// (which asks for its own key) must present it
/// (the dashboard's page and assets too: a browser asks once, then sends it with every
/// call of the page).
pub async fn require_token(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(expected) = state.token() else {
        return next.run(req).await;
    };
    // The bouncer API checks its own key (`X-Api-Key`): bouncers cannot send a token.
    let path = req.uri().path();
    if path == "/healthz" || path == "/v1/decisions" || path == "/v1/decisions/stream" {
        return next.run(req).await;
    }
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(presented);
    match given {
        Some(t) if token_matches(&t, expected) => next.run(req).await,
        _ => ApiError::Unauthorized.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_needs_no_token_and_other_addresses_do() {
        assert_eq!(check_bind("127.0.0.1:8080".parse().unwrap(), None), Ok(()));
        assert_eq!(check_bind("[::1]:8080".parse().unwrap(), None), Ok(()));
        let any: SocketAddr = "0.0.0.0:8080".parse().unwrap();
        assert_eq!(check_bind(any, None), Err(BindError::TokenRequired(any)));
        assert_eq!(
            check_bind(any, Some("short")),
            Err(BindError::TokenTooShort)
        );
        assert_eq!(check_bind(any, Some("0123456789abcdef")), Ok(()));
    }

    #[test]
    fn only_loopback_names_literals_and_public_names_are_answered() {
        let public = vec!["shrike.example.org".to_string()];
        for (host, ok) in [
            (Some("127.0.0.1:8080"), true),
            (Some("localhost:8080"), true),
            (Some("LOCALHOST"), true),
            (Some("app.localhost:8080"), true),
            (Some("[::1]:8080"), true),
            (Some("192.0.2.7"), true),
            (Some("shrike.example.org:443"), true),
            (Some("shrike.example.org."), true),
            (None, true),
            // A rebinding page's own name.
            (Some("attacker.example"), false),
            (Some("attacker.example:8080"), false),
            (Some("localhost.attacker.example"), false),
            (Some("[not-an-address]"), false),
        ] {
            assert_eq!(host_allowed(host, &public, false), ok, "{host:?}");
        }
        // With a token and no public name, the token guards.
        assert!(host_allowed(Some("attacker.example"), &[], true));
        // With a token and public names, the names are checked too.
        assert!(!host_allowed(Some("attacker.example"), &public, true));
    }

    #[test]
    fn bearer_and_basic_credentials_are_read() {
        assert_eq!(presented("Bearer abc"), Some("abc".into()));
        // "analyst:s3cret token" in base64.
        assert_eq!(
            presented("Basic YW5hbHlzdDpzM2NyZXQgdG9rZW4="),
            Some("s3cret token".into())
        );
        assert_eq!(presented("Basic !!!"), None);
        assert_eq!(presented("Digest x"), None);
    }

    #[test]
    fn tokens_match_only_exactly() {
        assert!(token_matches("0123456789abcdef", "0123456789abcdef"));
        assert!(!token_matches("0123456789abcdeF", "0123456789abcdef"));
        assert!(!token_matches("0123456789abcdef0", "0123456789abcdef"));
        assert!(!token_matches("", "0123456789abcdef"));
    }
}
