//! Akamai HTTP/2 fingerprint: `SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO_HEADER_ORDER`.
//!
//! SETTINGS as `id:value` pairs in the order sent, joined by `;`; the connection-level
//! WINDOW_UPDATE increment (`0` when none); PRIORITY frames as `stream:exclusive:dep:weight`
//! joined by `,` (`0` when none); pseudo-headers as initials (`m,a,s,p`).

/// The first frames of an HTTP/2 connection, as far as the fingerprint is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2Settings {
    /// SETTINGS `(identifier, value)` in wire order.
    pub settings: Vec<(u16, u32)>,
    /// Connection WINDOW_UPDATE increment.
    pub window_update: u32,
    /// PRIORITY frames already formatted as `stream:exclusive:dependency:weight`.
    pub priorities: Vec<String>,
    /// Pseudo-header names in order (`:method`, `:authority`, ...).
    pub pseudo_headers: Vec<String>,
}

/// Initials of pseudo-headers: `[":method", ":authority", ":scheme", ":path"]` → `m,a,s,p`.
pub fn pseudo_order(names: &[String]) -> String {
    names
        .iter()
        .filter_map(|n| n.trim_start_matches(':').chars().next())
        .map(String::from)
        .collect::<Vec<_>>()
        .join(",")
}

/// Formats the Akamai fingerprint.
pub fn akamai_fingerprint(h: &H2Settings) -> String {
    let settings = h
        .settings
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(";");
    let prio = if h.priorities.is_empty() {
        "0".to_string()
    } else {
        h.priorities.join(",")
    };
    format!(
        "{settings}|{}|{prio}|{}",
        h.window_update,
        pseudo_order(&h.pseudo_headers)
    )
}

/// HTTP/2 client libraries by the SETTINGS frame that opens their connections: what a
/// library sends by default and no browser sends. Values from the libraries' published
/// captures: Akamai's *Passive Fingerprinting of HTTP/2 Clients* (Black Hat EU 2017: Go,
/// curl 7, nghttp2, okhttp) and later captures of curl 8 and Python's h2 under httpx.
/// Each rule is a SETTINGS list (`id:value` in wire order); a rule ending in `*` matches
/// any list it begins.
const LIBRARIES: &[(&str, &str)] = &[
    // 4 MiB stream window, 10 MiB header list (connection window 1 GiB).
    ("Go net/http2", "2:0;4:4194304;6:10485760"),
    // MAX_CONCURRENT_STREAMS first: curl 7 (`3:100;4:1073741824;2:0`), curl 8
    // (`3:100;4:10485760;2:0`), and nghttp2's own client (`3:100;4:65535`).
    ("curl (nghttp2)", "3:100;4:*"),
    // A 16 MiB stream window alone (connection window 16711681).
    ("okhttp", "4:16777216"),
    // Every setting, defaults included, then httpx's own (connection window 16 MiB).
    (
        "Python h2 (httpx)",
        "1:4096;2:0;4:65535;5:16384;3:100;6:65536",
    ),
];

/// The HTTP/2 library whose default SETTINGS the fingerprint (Akamai layout, or its
/// SETTINGS field alone) opens with, if any. SETTINGS pairs may be joined by `;` or `,`.
pub fn library(fingerprint: &str) -> Option<&'static str> {
    let settings = fingerprint
        .split('|')
        .next()
        .unwrap_or("")
        .replace(',', ";");
    if settings.is_empty() {
        return None;
    }
    LIBRARIES.iter().find_map(|(name, rule)| {
        let hit = match rule.strip_suffix('*') {
            Some(prefix) => settings.starts_with(prefix),
            None => settings == *rule,
        };
        hit.then_some(*name)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libraries_are_named_by_their_opening_settings() {
        let cases = [
            (
                "2:0;4:4194304;6:10485760|1073741824|0|a,m,p,s",
                Some("Go net/http2"),
            ),
            (
                "3:100;4:1073741824;2:0|1073676289|0|m,p,s,a",
                Some("curl (nghttp2)"),
            ),
            (
                "3:100;4:10485760;2:0|1048510465|0|m,s,a,p",
                Some("curl (nghttp2)"),
            ),
            ("4:16777216|16711681|0|m,p,a,s", Some("okhttp")),
            (
                "1:4096;2:0;4:65535;5:16384;3:100;6:65536|16777216|0|m,a,s,p",
                Some("Python h2 (httpx)"),
            ),
            // Comma-joined SETTINGS (tls.peet.ws's layout).
            (
                "2:0,4:4194304,6:10485760|1073741824|0|a,m,p,s",
                Some("Go net/http2"),
            ),
            // Browsers: Chrome, Firefox, Safari, the old Edge (MAX_CONCURRENT_STREAMS first
            // but 1024).
            ("1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p", None),
            ("1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s", None),
            ("2:0;4:2097152;3:100;5:16384;9:1|10485760|0|m,s,p,a", None),
            ("3:1024;4:10485760|10420225|0", None),
            ("", None),
        ];
        for (fp, want) in cases {
            assert_eq!(library(fp), want, "{fp}");
        }
    }

    #[test]
    fn chrome_fingerprint() {
        let h = H2Settings {
            settings: vec![(1, 65536), (2, 0), (4, 6_291_456), (6, 262_144)],
            window_update: 15_663_105,
            priorities: vec![],
            pseudo_headers: [":method", ":authority", ":scheme", ":path"]
                .map(String::from)
                .to_vec(),
        };
        assert_eq!(
            akamai_fingerprint(&h),
            "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
        );
    }
}
