//! Browser fingerprint profiles: what a real browser sends at the TLS, HTTP/2 and HTTP
//! layers. Read from the rama real-browser captures when available, else a built-in table
//! taken from the same captures.

use std::path::Path;

use serde_json::Value;
use shrike_fingerprint::{akamai_fingerprint, ClientHello, H2Settings, Protocol};

/// Operating system, for TCP stack behaviour and client hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Os {
    /// Windows 10/11.
    Windows,
    /// macOS.
    MacOs,
    /// Linux desktop.
    Linux,
    /// Android.
    Android,
    /// iOS / iPadOS.
    Ios,
}

impl Os {
    /// Guesses the OS from a user agent.
    pub fn from_ua(ua: &str) -> Os {
        if ua.contains("iPhone") || ua.contains("iPad") {
            Os::Ios
        } else if ua.contains("Android") {
            Os::Android
        } else if ua.contains("Windows") {
            Os::Windows
        } else if ua.contains("Macintosh") {
            Os::MacOs
        } else {
            Os::Linux
        }
    }

    /// The Sec-CH-UA-Platform value.
    pub fn ch_platform(self) -> &'static str {
        match self {
            Os::Windows => "\"Windows\"",
            Os::MacOs => "\"macOS\"",
            Os::Linux => "\"Linux\"",
            Os::Android => "\"Android\"",
            Os::Ios => "\"iOS\"",
        }
    }

    /// (initial TTL, SYN window, window scale, TCP options) of the OS's stack.
    pub fn tcp(self) -> (u8, u32, Option<u8>, &'static str) {
        match self {
            Os::Windows => (128, 64240, Some(8), "2-1-3-1-1-4"),
            Os::MacOs | Os::Ios => (64, 65535, Some(6), "2-1-3-1-1-8-4-0-0"),
            Os::Linux => (64, 64240, Some(7), "2-4-8-1-3"),
            Os::Android => (64, 65535, Some(9), "2-4-8-1-3"),
        }
    }
}

/// One browser's fingerprints.
#[derive(Debug, Clone)]
pub struct BrowserProfile {
    /// Family name as used in dictionaries (Chrome, Edge, Firefox, Safari).
    pub family: String,
    /// OS.
    pub os: Os,
    /// User agent.
    pub user_agent: String,
    /// JA4 of its ClientHello.
    pub ja4: String,
    /// Akamai HTTP/2 fingerprint.
    pub h2_fingerprint: String,
    /// Pseudo-header order (`m,a,s,p`).
    pub pseudo_order: String,
    /// Sec-CH-UA for Chromium browsers.
    pub sec_ch_ua: Option<String>,
    /// Header names of a navigation, in order.
    pub nav_headers: Vec<String>,
}

fn family_name(raw: &str, ua: &str) -> String {
    match raw.to_ascii_lowercase().as_str() {
        "chrome" if ua.contains("Edg/") => "Edge".into(),
        "chrome" => "Chrome".into(),
        "edge" => "Edge".into(),
        "firefox" => "Firefox".into(),
        "safari" => "Safari".into(),
        other => other.to_string(),
    }
}

fn chromium_ch(ua: &str, family: &str) -> Option<String> {
    let i = ua.find("Chrome/")? + 7;
    let major: String = ua[i..].chars().take_while(char::is_ascii_digit).collect();
    let brand = if family == "Edge" {
        "Microsoft Edge"
    } else {
        "Google Chrome"
    };
    Some(format!(
        "\"Chromium\";v=\"{major}\", \"{brand}\";v=\"{major}\", \"Not.A/Brand\";v=\"99\""
    ))
}

fn ext_id(name: &str, body: &Value) -> Option<u16> {
    Some(match name {
        "Opaque" => body.get("id")?.as_u64()? as u16,
        "ServerName" => 0,
        "SupportedGroups" => 10,
        "ECPointFormats" => 11,
        "SignatureAlgorithms" => 13,
        "ApplicationLayerProtocolNegotiation" => 16,
        "CertificateCompression" => 27,
        "RecordSizeLimit" => 28,
        "DelegatedCredentials" => 34,
        "SupportedVersions" => 43,
        "ApplicationSettings" => 0x4469,
        "EncryptedClientHello" => 0xfe0d,
        _ => return None,
    })
}

fn u16s(v: &Value) -> Vec<u16> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_u64())
                .map(|x| x as u16)
                .collect()
        })
        .unwrap_or_default()
}

fn hello_from_rama(h: &Value) -> Option<ClientHello> {
    let mut hello = ClientHello {
        protocol: Protocol::Tcp,
        legacy_version: h.get("protocol_version")?.as_u64()? as u16,
        supported_versions: Vec::new(),
        ciphers: u16s(h.get("cipher_suites")?),
        extensions: Vec::new(),
        alpn: Vec::new(),
        signature_algorithms: Vec::new(),
    };
    for e in h.get("extensions")?.as_array()? {
        let (name, body) = e.as_object()?.iter().next()?;
        hello.extensions.push(ext_id(name, body)?);
        match name.as_str() {
            "SupportedVersions" => hello.supported_versions = u16s(body),
            "SignatureAlgorithms" => hello.signature_algorithms = u16s(body),
            "ApplicationLayerProtocolNegotiation" => {
                hello.alpn = body
                    .as_array()?
                    .iter()
                    .map(|p| {
                        p.as_array()
                            .map(|b| {
                                b.iter()
                                    .filter_map(|x| x.as_u64())
                                    .map(|x| x as u8)
                                    .collect()
                            })
                            .unwrap_or_default()
                    })
                    .collect();
            }
            _ => {}
        }
    }
    Some(hello)
}

fn h2_from_rama(s: &Value) -> Option<(String, String)> {
    let frames = s.get("early_frames")?.as_array()?;
    let mut h2 = H2Settings::default();
    for f in frames {
        if let Some(cfg) = f.pointer("/Settings/config") {
            const IDS: [(&str, u16); 8] = [
                ("header_table_size", 1),
                ("enable_push", 2),
                ("max_concurrent_streams", 3),
                ("initial_window_size", 4),
                ("max_frame_size", 5),
                ("max_header_list_size", 6),
                ("enable_connect_protocol", 8),
                ("no_rfc7540_priorities", 9),
            ];
            for id in u16s(cfg.get("setting_order")?) {
                let name = IDS.iter().find(|(_, i)| *i == id)?.0;
                let v = cfg.get(name).and_then(Value::as_u64).unwrap_or(0) as u32;
                h2.settings.push((id, v));
            }
        }
        if let Some(w) = f.get("WindowUpdate") {
            if w.get("stream_id").and_then(Value::as_u64) == Some(0) && h2.window_update == 0 {
                h2.window_update =
                    w.get("size_increment").and_then(Value::as_u64).unwrap_or(0) as u32;
            }
        }
    }
    h2.pseudo_headers = s
        .get("http_pseudo_headers")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let fp = akamai_fingerprint(&h2);
    let order = shrike_fingerprint::h2::pseudo_order(&h2.pseudo_headers);
    Some((fp, order))
}

/// Reads rama's `embed_profiles.json`. Profiles that cannot be read whole are skipped.
pub fn load_rama(path: &Path) -> Option<Vec<BrowserProfile>> {
    parse_rama(&std::fs::read_to_string(path).ok()?)
}

/// [`load_rama`] on the file's text.
pub fn parse_rama(text: &str) -> Option<Vec<BrowserProfile>> {
    let all: Vec<Value> = serde_json::from_str(text).ok()?;
    let mut out = Vec::new();
    for p in &all {
        let Some(ua) = p.get("uastr").and_then(Value::as_str) else {
            continue;
        };
        let raw_family = p
            .pointer("/source_info/browser_name")
            .and_then(Value::as_str)
            .unwrap_or("");
        let family = family_name(raw_family, ua);
        let Some(hello) = p.get("tls_client_hello").and_then(hello_from_rama) else {
            continue;
        };
        let Some((h2_fingerprint, pseudo_order)) = p.get("h2_settings").and_then(h2_from_rama)
        else {
            continue;
        };
        let nav_headers = p
            .get("h2_headers_navigate")
            .and_then(Value::as_array)
            .map(|hs| {
                hs.iter()
                    .filter_map(|h| {
                        h.get(0)
                            .and_then(Value::as_str)
                            .map(str::to_ascii_lowercase)
                    })
                    .collect()
            })
            .unwrap_or_default();
        let os = Os::from_ua(ua);
        out.push(BrowserProfile {
            sec_ch_ua: if family == "Chrome" || family == "Edge" {
                chromium_ch(ua, &family)
            } else {
                None
            },
            family,
            os,
            user_agent: ua.to_string(),
            ja4: hello.ja4().ja4,
            h2_fingerprint,
            pseudo_order,
            nav_headers,
        });
    }
    (!out.is_empty()).then_some(out)
}

/// A small built-in table: JA4 and HTTP/2 values as shrike computes them from the rama
/// captures (Chrome/Edge 13x, Firefox 15x, Safari 18).
pub fn builtin() -> Vec<BrowserProfile> {
    let nav_chromium = "sec-ch-ua,sec-ch-ua-mobile,sec-ch-ua-platform,upgrade-insecure-requests,user-agent,accept,sec-fetch-site,sec-fetch-mode,sec-fetch-user,sec-fetch-dest,accept-encoding,accept-language,cookie,priority";
    let nav_firefox = "user-agent,accept,accept-language,accept-encoding,cookie,upgrade-insecure-requests,sec-fetch-dest,sec-fetch-mode,sec-fetch-site,sec-fetch-user,priority,te";
    let nav_safari = "sec-fetch-dest,user-agent,accept,sec-fetch-site,sec-fetch-mode,accept-language,priority,accept-encoding,cookie";
    let p = |family: &str, ua: &str, ja4: &str, h2: &str, nav: &str| {
        let family = family.to_string();
        BrowserProfile {
            sec_ch_ua: if family == "Chrome" || family == "Edge" {
                chromium_ch(ua, &family)
            } else {
                None
            },
            os: Os::from_ua(ua),
            user_agent: ua.into(),
            ja4: ja4.into(),
            pseudo_order: h2.rsplit('|').next().unwrap_or("").into(),
            h2_fingerprint: h2.into(),
            nav_headers: nav.split(',').map(String::from).collect(),
            family,
        }
    };
    let chrome_h2 = "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p";
    vec![
        p("Chrome", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "t13d1516h2_8daaf6152771_02713d6af862", chrome_h2, nav_chromium),
        p("Chrome", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36", "t13d1516h2_8daaf6152771_02713d6af862", chrome_h2, nav_chromium),
        p("Chrome", "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36", "t13d1516h2_8daaf6152771_02713d6af862", chrome_h2, nav_chromium),
        p("Edge", "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 Edg/131.0.0.0", "t13d1516h2_8daaf6152771_02713d6af862", chrome_h2, nav_chromium),
        p("Firefox", "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:133.0) Gecko/20100101 Firefox/133.0", "t13d1617h2_86a278354501_3cbfd9057e0d", "1:65536;2:0;4:131072;5:16384|12517377|0|m,p,a,s", nav_firefox),
        p("Safari", "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Safari/605.1.15", "t13d2014h2_a09f3c656075_e42f34c56612", "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p", nav_safari),
        p("Safari", "Mozilla/5.0 (iPhone; CPU iPhone OS 18_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.1 Mobile/15E148 Safari/604.1", "t13d2014h2_a09f3c656075_e42f34c56612", "2:0;3:100;4:2097152;9:1|10420225|0|m,s,a,p", nav_safari),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rama_profiles_give_real_fingerprints() {
        let path = std::env::var_os("SHRIKE_SHARED_DATA")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| {
                std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data")
            })
            .join("rama-ua-profiles/embed_profiles.json");
        let Some(ps) = load_rama(&path) else {
            println!("skipped: {} not found", path.display());
            return;
        };
        assert!(ps.len() >= 40, "{} profiles", ps.len());
        for p in &ps {
            shrike_types::Ja4::parse(p.ja4.as_str().into()).unwrap();
            assert_eq!(
                p.h2_fingerprint.split('|').count(),
                4,
                "{}",
                p.h2_fingerprint
            );
        }
        let firefox = ps.iter().find(|p| p.family == "Firefox").unwrap();
        assert_eq!(firefox.pseudo_order, "m,p,a,s");
        let chrome = ps.iter().find(|p| p.family == "Chrome").unwrap();
        assert_eq!(chrome.pseudo_order, "m,a,s,p");
        assert!(chrome.ja4.starts_with("t13d"));
    }
}
