//! Real browser captures, labelled by family and version: rama's `embed_profiles.json` and
//! curl-impersonate's signature files (one YAML document per browser build, the original
//! project's layout with named extensions or its maintained fork's with SETTINGS frames).
//! They teach the dictionaries what each engine's stack looks like and are the real
//! profiles every identity test holds out one version of at a time.

use std::path::Path;

use serde_json::Value;
use shrike_fingerprint::{akamai_fingerprint, h2::pseudo_order, ClientHello, H2Settings, Protocol};

use crate::profiles::{parse_rama, BrowserProfile};

/// One capture of a real browser.
#[derive(Debug, Clone)]
pub struct CapturedProfile {
    /// Where it comes from (`rama`, or the signature's name).
    pub source: String,
    /// Major version as the user agent gives it (`131`, `18` for Safari 18.4); "" when the
    /// user agent gives none.
    pub major: String,
    /// The profile.
    pub profile: BrowserProfile,
}

impl CapturedProfile {
    /// `family major`, the unit a leave-one-version-out test holds out.
    pub fn version(&self) -> String {
        format!("{} {}", self.profile.family, self.major)
    }
}

/// The major version a user agent claims for its family.
pub fn ua_major(family: &str, ua: &str) -> String {
    let after = |key: &str| {
        ua.find(key).map(|i| {
            ua[i + key.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect::<String>()
        })
    };
    match family {
        "Edge" => after("Edg/"),
        "Firefox" | "Tor" => after("Firefox/"),
        "Safari" => after("Version/"),
        _ => after("Chrome/").or_else(|| after("CriOS/")),
    }
    .unwrap_or_default()
}

/// rama's profiles (`embed_profiles.json`'s text) with their versions.
pub fn rama(text: &str) -> Vec<CapturedProfile> {
    parse_rama(text)
        .unwrap_or_default()
        .into_iter()
        .map(|p| CapturedProfile {
            source: "rama".into(),
            major: ua_major(&p.family, &p.user_agent),
            profile: p,
        })
        .collect()
}

/// Every signature of a curl-impersonate YAML text. A document that is not a browser
/// signature is an error naming it: a half-read list would teach half a family. A
/// signature without a `name` is named by `file` (the maintained fork's files).
pub fn curl_impersonate(text: &str, file: &str) -> Result<Vec<CapturedProfile>, String> {
    let docs = shrike_dict::yaml::documents(&close_flow_lists(text))?;
    let mut out = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        if d.is_null() {
            continue;
        }
        let name = d
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or(file)
            .to_string();
        let p = signature(d, &name).ok_or_else(|| {
            format!(
                "document {} ({}) is not a curl-impersonate browser signature",
                i + 1,
                if name.is_empty() { "unnamed" } else { &name }
            )
        })?;
        out.push(p);
    }
    Ok(out)
}

/// Every capture under `data` (a `../shared/data` layout): rama's profiles and
/// [`curl_impersonate_all`].
pub fn load_all(data: &Path) -> Vec<CapturedProfile> {
    let text = std::fs::read_to_string(data.join("rama-ua-profiles/embed_profiles.json"));
    let mut out = text.map(|t| rama(&t)).unwrap_or_default();
    out.extend(curl_impersonate_all(data));
    out
}

/// Every curl-impersonate signature file under `data` (a `../shared/data` layout), each
/// build once (the fork repeats the original's).
pub fn curl_impersonate_all(data: &Path) -> Vec<CapturedProfile> {
    let mut out = Vec::new();
    let sigs = data.join("curl-impersonate-signatures");
    let mut files: Vec<_> = [sigs.join("lexiforest"), sigs.clone()]
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    let mut seen = std::collections::HashSet::new();
    for f in files {
        let Ok(text) = std::fs::read_to_string(&f) else {
            continue;
        };
        let stem = f.file_stem().and_then(|s| s.to_str()).unwrap_or("");
        for p in curl_impersonate(&text, stem).unwrap_or_default() {
            if seen.insert(p.source.clone()) {
                out.push(p);
            }
        }
    }
    out
}

/// The original project's files close multi-line flow lists (`[`…`]`) at the indentation
/// of the key that opens them, which YAML 1.2 parsers refuse: each line that starts with
/// the closing bracket joins the line before it.
fn close_flow_lists(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        if line.trim_start().starts_with(']') {
            while out.ends_with('\n') {
                out.pop();
            }
            out.push(' ');
            out.push_str(line.trim_start());
        } else {
            out.push_str(line);
        }
        out.push('\n');
    }
    out
}

fn family_of(name: &str) -> Option<&'static str> {
    Some(match name.to_ascii_lowercase().as_str() {
        "chrome" => "Chrome",
        "edge" => "Edge",
        "firefox" => "Firefox",
        "safari" => "Safari",
        "tor" => "Tor",
        _ => return None,
    })
}

fn tls_version(v: &Value) -> Option<u16> {
    if let Some(n) = v.as_u64() {
        return u16::try_from(n).ok();
    }
    Some(match v.as_str()? {
        "TLS_VERSION_1_3" => 0x0304,
        "TLS_VERSION_1_2" => 0x0303,
        "TLS_VERSION_1_1" => 0x0302,
        "TLS_VERSION_1_0" => 0x0301,
        _ => return None,
    })
}

/// A list of numbers, GREASE placeholders left out (JA4 ignores them).
fn numbers(v: Option<&Value>, parse: fn(&Value) -> Option<u16>) -> Vec<u16> {
    v.and_then(Value::as_array)
        .map(|a| a.iter().filter_map(parse).collect())
        .unwrap_or_default()
}

fn number(v: &Value) -> Option<u16> {
    v.as_u64().and_then(|n| u16::try_from(n).ok())
}

fn extension_id(e: &Value) -> Option<Option<u16>> {
    let t = e.get("type")?;
    if let Some(n) = t.as_u64() {
        return Some(u16::try_from(n).ok());
    }
    Some(Some(match t.as_str()? {
        "GREASE" => return Some(None),
        "server_name" => 0,
        "status_request" => 5,
        "supported_groups" => 10,
        "ec_point_formats" => 11,
        "signature_algorithms" => 13,
        "application_layer_protocol_negotiation" => 16,
        "signed_certificate_timestamp" => 18,
        "padding" => 21,
        "extended_master_secret" => 23,
        "compress_certificate" => 27,
        "record_size_limit" => 28,
        "delegated_credentials" => 34,
        "session_ticket" => 35,
        "pre_shared_key" => 41,
        "early_data" => 42,
        "supported_versions" => 43,
        "psk_key_exchange_modes" => 45,
        "post_handshake_auth" => 49,
        "keyshare" => 51,
        "application_settings" => 0x4469,
        "application_settings_new" => 0x44cd,
        "encrypted_client_hello" => 0xfe0d,
        "renegotiation_info" => 0xff01,
        _ => return None,
    }))
}

fn hello(h: &Value) -> Option<ClientHello> {
    let mut hello = ClientHello {
        protocol: Protocol::Tcp,
        legacy_version: tls_version(h.get("handshake_version")?)?,
        supported_versions: Vec::new(),
        ciphers: numbers(h.get("ciphersuites"), number),
        extensions: Vec::new(),
        alpn: Vec::new(),
        signature_algorithms: Vec::new(),
    };
    for e in h.get("extensions")?.as_array()? {
        let Some(id) = extension_id(e)? else { continue };
        hello.extensions.push(id);
        match id {
            43 => hello.supported_versions = numbers(e.get("supported_versions"), tls_version),
            13 => hello.signature_algorithms = numbers(e.get("sig_hash_algs"), number),
            16 => {
                hello.alpn = e
                    .get("alpn_list")?
                    .as_array()?
                    .iter()
                    .filter_map(|p| p.as_str().map(|s| s.as_bytes().to_vec()))
                    .collect()
            }
            _ => {}
        }
    }
    Some(hello)
}

/// The HTTP/2 side: SETTINGS and WINDOW_UPDATE when the signature has its frames, the
/// pseudo-header order, the user agent and the header names of the first request.
struct Http2 {
    fingerprint: String,
    pseudo_order: String,
    user_agent: String,
    headers: Vec<String>,
    sec_ch_ua: Option<String>,
}

fn http2(h: &Value) -> Option<Http2> {
    let frames = h.get("frames").and_then(Value::as_array);
    let headers_frame = frames
        .and_then(|fs| {
            fs.iter()
                .find(|f| f.get("frame_type").and_then(Value::as_str) == Some("HEADERS"))
        })
        .unwrap_or(h);
    let pseudo: Vec<String> = headers_frame
        .get("pseudo_headers")?
        .as_array()?
        .iter()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    let lines: Vec<(String, String)> = headers_frame
        .get("headers")?
        .as_array()?
        .iter()
        .filter_map(|v| {
            let (k, v) = v.as_str()?.split_once(':')?;
            Some((k.trim().to_ascii_lowercase(), v.trim().to_string()))
        })
        .collect();
    let value = |name: &str| {
        lines
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let mut settings = H2Settings {
        pseudo_headers: pseudo.clone(),
        ..H2Settings::default()
    };
    let mut has_settings = false;
    for f in frames.into_iter().flatten() {
        match f.get("frame_type").and_then(Value::as_str) {
            Some("SETTINGS") => {
                has_settings = true;
                for s in f.get("settings")?.as_array()? {
                    let k = s.get("key")?.as_u64()?;
                    let v = s.get("value")?.as_u64()?;
                    settings
                        .settings
                        .push((u16::try_from(k).ok()?, u32::try_from(v).ok()?));
                }
            }
            Some("WINDOW_UPDATE") if settings.window_update == 0 => {
                settings.window_update = f
                    .get("window_size_increment")
                    .and_then(Value::as_u64)
                    .and_then(|v| u32::try_from(v).ok())
                    .unwrap_or(0);
            }
            _ => {}
        }
    }
    Some(Http2 {
        fingerprint: if has_settings {
            akamai_fingerprint(&settings)
        } else {
            String::new()
        },
        pseudo_order: pseudo_order(&pseudo),
        user_agent: value("user-agent")?,
        headers: lines.iter().map(|(k, _)| k.clone()).collect(),
        sec_ch_ua: value("sec-ch-ua"),
    })
}

fn signature(d: &Value, name: &str) -> Option<CapturedProfile> {
    let browser = d.get("browser")?;
    let raw = browser.get("name")?.as_str()?;
    let family = family_of(raw)?;
    let sig = d.get("signature")?;
    let hello = hello(sig.get("tls_client_hello")?)?;
    let h2 = http2(sig.get("http2")?)?;
    let family = if family == "Chrome" && h2.user_agent.contains("Edg/") {
        "Edge"
    } else {
        family
    };
    Some(CapturedProfile {
        source: name.to_string(),
        major: ua_major(family, &h2.user_agent),
        profile: BrowserProfile {
            family: family.to_string(),
            os: crate::profiles::Os::from_ua(&h2.user_agent),
            ja4: hello.ja4().ja4,
            h2_fingerprint: h2.fingerprint,
            pseudo_order: h2.pseudo_order,
            sec_ch_ua: h2.sec_ch_ua,
            nav_headers: h2.headers,
            user_agent: h2.user_agent,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_layouts_give_the_same_chrome_ja4() {
        let original = "name: chrome_x\nbrowser: {name: chrome, version: 98.0.4758.102, os: win10, mode: regular}\nsignature:\n  tls_client_hello:\n    handshake_version: 'TLS_VERSION_1_2'\n    ciphersuites: ['GREASE', 0x1301, 0x1302, 0x1303, 0xc02b, 0xc02f, 0xc02c, 0xc030, 0xcca9, 0xcca8, 0xc013, 0xc014, 0x009c, 0x009d, 0x002f, 0x0035]\n    extensions:\n      - type: GREASE\n      - type: server_name\n      - type: application_layer_protocol_negotiation\n        alpn_list: ['h2', 'http/1.1']\n      - type: signature_algorithms\n        sig_hash_algs: [0x0403, 0x0804]\n      - type: supported_versions\n        supported_versions: ['GREASE', 'TLS_VERSION_1_3', 'TLS_VERSION_1_2']\n  http2:\n    pseudo_headers: [':method', ':authority', ':scheme', ':path']\n    headers:\n      - 'user-agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/98.0.4758.102 Safari/537.36'\n";
        let p = curl_impersonate(original, "f").unwrap();
        assert_eq!(p.len(), 1);
        let p = &p[0];
        assert_eq!(p.version(), "Chrome 98");
        assert_eq!(p.profile.pseudo_order, "m,a,s,p");
        assert!(p.profile.ja4.starts_with("t13d1504h2_8daaf6152771_"));
        assert_eq!(
            p.profile.h2_fingerprint, "",
            "no SETTINGS frame in this layout"
        );
        assert!(curl_impersonate("name: x\nbrowser: {name: lynx}\n", "f")
            .unwrap_err()
            .contains("document 1 (x)"));
    }
}
