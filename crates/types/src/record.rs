//! The request record: one HTTP request plus what its producer knew of TLS and TCP.
//!
//! Records borrow their strings from the input buffer (`Cow<'a, str>`) so that parsing a
//! million lines a second does not allocate a million times. Every field except `time` and
//! `src_ip` is optional: `None` means "the producer did not say", which features treat as
//! missing, never as "absent header".

use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

use crate::Timestamp;

/// Longest accepted string field (64 KiB); longer values reject the line.
pub const MAX_FIELD_BYTES: usize = 64 * 1024;

/// Why one field of a record was refused. The ingest layer maps these to reject reasons.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldError {
    /// The field holds a value of the wrong shape.
    #[error("field `{field}`: invalid value ({why})")]
    Invalid {
        /// Canonical field name.
        field: &'static str,
        /// What was wrong.
        why: &'static str,
    },
    /// A numeric field is NaN or infinite.
    #[error("field `{field}`: not a finite number")]
    NonFinite {
        /// Canonical field name.
        field: &'static str,
    },
    /// A counter or size is negative.
    #[error("field `{field}`: negative value")]
    Negative {
        /// Canonical field name.
        field: &'static str,
    },
    /// A string longer than [`MAX_FIELD_BYTES`].
    #[error("field `{field}`: {len} bytes, more than the 65536 allowed")]
    TooLong {
        /// Canonical field name.
        field: &'static str,
        /// Its length in bytes.
        len: usize,
    },
}

macro_rules! text_enum {
    ($(#[$m:meta])* $name:ident { $($(#[$vm:meta])* $var:ident => $canon:literal $(| $alt:literal)*),+ $(,)? }) => {
        $(#[$m])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[derive(serde::Serialize, serde::Deserialize)]
        pub enum $name { $($(#[$vm])* $var),+ }

        impl $name {
            /// Every variant, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$var),+];

            /// The canonical spelling.
            pub const fn as_str(self) -> &'static str {
                match self { $($name::$var => $canon),+ }
            }

            /// Parses the canonical spelling or a known producer variant (ASCII case-insensitive).
            pub fn parse(s: &str) -> Option<Self> {
                let s = s.trim();
                $(
                    if s.eq_ignore_ascii_case($canon) $(|| s.eq_ignore_ascii_case($alt))* {
                        return Some($name::$var);
                    }
                )+
                None
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result { f.write_str(self.as_str()) }
        }
    };
}

text_enum! {
    /// HTTP request method. Extension methods are kept as [`Method::Other`].
    Method {
        Get => "GET", Head => "HEAD", Post => "POST", Put => "PUT", Delete => "DELETE",
        Options => "OPTIONS", Patch => "PATCH", Connect => "CONNECT", Trace => "TRACE",
        /// Any other token (WebDAV, PROPFIND, garbage from scanners...).
        Other => "OTHER",
    }
}

impl Method {
    /// Parses a method token; any other RFC 9110 token becomes [`Method::Other`].
    pub fn from_token(s: &str) -> Option<Self> {
        if let Some(m) = Self::parse(s) {
            return Some(m);
        }
        let ok = !s.is_empty()
            && s.len() <= 32
            && s.bytes()
                .all(|c| c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c));
        ok.then_some(Method::Other)
    }
}

text_enum! {
    /// HTTP protocol version of the request.
    HttpVersion {
        Http10 => "1.0" | "HTTP/1.0" | "http10",
        Http11 => "1.1" | "HTTP/1.1" | "http11",
        Http2 => "2" | "2.0" | "HTTP/2" | "HTTP/2.0" | "h2",
        Http3 => "3" | "3.0" | "HTTP/3" | "HTTP/3.0" | "h3",
        /// HTTP/0.9 as sent by some scanners.
        Http09 => "0.9" | "HTTP/0.9",
    }
}

text_enum! {
    /// Negotiated (or offered first) TLS version.
    TlsVersion {
        Tls13 => "1.3" | "TLSv1.3" | "TLS 1.3" | "tls13" | "13" | "0x0304" | "772",
        Tls12 => "1.2" | "TLSv1.2" | "TLS 1.2" | "tls12" | "12" | "0x0303" | "771",
        Tls11 => "1.1" | "TLSv1.1" | "TLS 1.1" | "tls11" | "11" | "0x0302" | "770",
        Tls10 => "1.0" | "TLSv1" | "TLSv1.0" | "TLS 1.0" | "tls10" | "10" | "0x0301" | "769",
        Ssl3 => "ssl3" | "SSLv3" | "s3" | "0x0300" | "768",
    }
}

text_enum! {
    /// Negotiated ALPN protocol. `""` and JA4's `00` mean "none" and parse to `None` upstream.
    Alpn {
        H2 => "h2",
        Http11 => "http/1.1" | "h1",
        Http10 => "http/1.0",
        H3 => "h3",
        /// Any other registered identifier.
        Other => "other",
    }
}

impl Alpn {
    /// Parses a protocol id; unknown but well-formed ids become [`Alpn::Other`]; empty and
    /// `00` (JA4's "no ALPN") give `Ok(None)`.
    pub fn from_id(s: &str) -> Result<Option<Self>, FieldError> {
        let s = s.trim();
        if s.is_empty() || s == "00" {
            return Ok(None);
        }
        if let Some(a) = Self::parse(s) {
            return Ok(Some(a));
        }
        if s.len() <= 255 && s.bytes().all(|c| c.is_ascii_graphic()) {
            Ok(Some(Alpn::Other))
        } else {
            Err(FieldError::Invalid {
                field: "tls_alpn",
                why: "not an ALPN identifier",
            })
        }
    }
}

/// ISO 3166-1 alpha-2 country code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Two ASCII letters, any case.
    pub fn parse(s: &str) -> Option<Self> {
        let b = s.trim().as_bytes();
        (b.len() == 2 && b.iter().all(u8::is_ascii_alphabetic))
            .then(|| CountryCode([b[0].to_ascii_uppercase(), b[1].to_ascii_uppercase()]))
    }

    /// The two letters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).unwrap_or("??")
    }
}

impl fmt::Display for CountryCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A JA4 TLS client fingerprint in its hashed form, e.g.
/// `t13d1516h2_8daaf6152771_02713d6af862`.
///
/// Checked layout: protocol (`t` TCP, `q` QUIC, `d` DTLS), two version characters, SNI flag
/// (`d` domain, `i` IP), two-digit cipher and extension counts, two ALPN characters, then two
/// 12-hex-digit hashes separated by `_`. Upper-case hex is folded to lower case.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ja4<'a>(Cow<'a, str>);

impl<'a> Ja4<'a> {
    /// Validates the layout.
    pub fn parse(s: Cow<'a, str>) -> Result<Self, FieldError> {
        let bad = |why| FieldError::Invalid { field: "ja4", why };
        let b = s.as_bytes();
        if b.len() != 36 || b[10] != b'_' || b[23] != b'_' {
            return Err(bad("expected a_b_c with 10, 12 and 12 characters"));
        }
        if !matches!(b[0], b't' | b'q' | b'd') {
            return Err(bad("protocol must be t, q or d"));
        }
        if !b[1..3].iter().all(u8::is_ascii_alphanumeric) || !matches!(b[3], b'd' | b'i') {
            return Err(bad("version or SNI flag"));
        }
        if !b[4..8].iter().all(u8::is_ascii_digit) {
            return Err(bad("cipher and extension counts must be digits"));
        }
        if !b[8..10].iter().all(u8::is_ascii_alphanumeric) {
            return Err(bad("ALPN characters"));
        }
        let hex = |r: &[u8]| r.iter().all(u8::is_ascii_hexdigit);
        if !hex(&b[11..23]) || !hex(&b[24..36]) {
            return Err(bad("hash parts must be hexadecimal"));
        }
        if b[11..].iter().any(u8::is_ascii_uppercase) {
            return Ok(Ja4(Cow::Owned(s.to_ascii_lowercase())));
        }
        Ok(Ja4(s))
    }

    /// The fingerprint text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The TLS version part (`13`, `12`, ...).
    pub fn version(&self) -> &str {
        &self.0[1..3]
    }

    /// Detaches from the input buffer.
    pub fn into_owned(self) -> Ja4<'static> {
        Ja4(Cow::Owned(self.0.into_owned()))
    }
}

impl fmt::Display for Ja4<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One HTTP request, typed and validated (SPEC §2). See the README for the JSON Lines schema.
#[allow(missing_docs)]
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RequestRecord<'a> {
    pub time: Timestamp,
    pub src_ip: Option<IpAddr>,
    pub src_port: Option<u16>,
    pub dst_port: Option<u16>,
    pub host: Option<Cow<'a, str>>,
    pub method: Option<Method>,
    pub path: Option<Cow<'a, str>>,
    pub query: Option<Cow<'a, str>>,
    pub http_version: Option<HttpVersion>,
    pub status: Option<u16>,
    pub bytes: Option<u64>,
    pub user_agent: Option<Cow<'a, str>>,
    pub referer: Option<Cow<'a, str>>,
    /// Header names in wire order, as sent (case preserved).
    pub header_names: Option<Vec<Cow<'a, str>>>,
    pub accept: Option<Cow<'a, str>>,
    pub accept_language: Option<Cow<'a, str>>,
    pub accept_encoding: Option<Cow<'a, str>>,
    pub content_type: Option<Cow<'a, str>>,
    pub has_cookie: Option<bool>,
    pub has_xff: Option<bool>,
    pub sec_ch_ua: Option<Cow<'a, str>>,
    pub sec_ch_ua_mobile: Option<Cow<'a, str>>,
    pub sec_ch_ua_platform: Option<Cow<'a, str>>,
    pub sec_fetch_site: Option<Cow<'a, str>>,
    pub sec_fetch_mode: Option<Cow<'a, str>>,
    pub sec_fetch_dest: Option<Cow<'a, str>>,
    pub sec_fetch_user: Option<Cow<'a, str>>,
    pub conn_id: Option<Cow<'a, str>>,
    pub keepalive_index: Option<u32>,
    pub ip_total_length: Option<u32>,
    pub ja4: Option<Ja4<'a>>,
    pub ja4_r: Option<Cow<'a, str>>,
    pub ja3: Option<Cow<'a, str>>,
    pub ja4h: Option<Cow<'a, str>>,
    pub ja4t: Option<Cow<'a, str>>,
    pub tls_version: Option<TlsVersion>,
    pub tls_alpn: Option<Alpn>,
    pub tls_sni: Option<Cow<'a, str>>,
    pub tls_cipher: Option<Cow<'a, str>>,
    pub tcp_ttl: Option<u8>,
    pub tcp_window: Option<u32>,
    pub tcp_window_scale: Option<u8>,
    pub tcp_mss: Option<u16>,
    pub tcp_options: Option<Cow<'a, str>>,
    pub ip_id: Option<u32>,
    pub ip_df: Option<bool>,
    pub syn_ack_ms: Option<f64>,
    pub h2_fingerprint: Option<Cow<'a, str>>,
    pub h2_pseudo_order: Option<Cow<'a, str>>,
    pub asn: Option<u32>,
    pub asn_org: Option<Cow<'a, str>>,
    pub country: Option<CountryCode>,
    pub correlated: Option<bool>,
}

impl RequestRecord<'_> {
    /// Whether the header named `name` (lower case) is in `header_names`; `None` when the
    /// producer gave no header list.
    pub fn header_listed(&self, name: &str) -> Option<bool> {
        self.header_names
            .as_ref()
            .map(|hs| hs.iter().any(|h| h.eq_ignore_ascii_case(name)))
    }

    /// Presence of a header known from its value field and/or the header list: `Some(true)`
    /// when a non-empty value or the name is there, `Some(false)` when the producer says it
    /// is absent (empty value, or a header list without it), `None` when unknown.
    pub fn header_presence(&self, value: Option<&Cow<'_, str>>, name: &str) -> Option<bool> {
        match (value, self.header_listed(name)) {
            (Some(v), _) if !v.is_empty() => Some(true),
            (_, Some(true)) => Some(true),
            (Some(_), _) | (None, Some(false)) => Some(false),
            (None, None) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ja4_layout_is_checked() {
        let ok = Ja4::parse("t13d1516h2_8daaf6152771_02713d6af862".into()).unwrap();
        assert_eq!(ok.version(), "13");
        let up = Ja4::parse("t13d1516h2_8DAAF6152771_02713d6af862".into()).unwrap();
        assert_eq!(up.as_str(), "t13d1516h2_8daaf6152771_02713d6af862");
        for bad in [
            "",
            "t13d1516h2_8daaf6152771",
            "x13d1516h2_8daaf6152771_02713d6af862",
            "t13x1516h2_8daaf6152771_02713d6af862",
            "t13d15a6h2_8daaf6152771_02713d6af862",
            "t13d1516h2_8daaf615277g_02713d6af862",
            "t13d1516h2_8daaf6152771_02713d6af862\"",
        ] {
            assert!(Ja4::parse(bad.into()).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn enums_parse_producer_variants() {
        assert_eq!(HttpVersion::parse("HTTP/1.1"), Some(HttpVersion::Http11));
        assert_eq!(HttpVersion::parse("2"), Some(HttpVersion::Http2));
        assert_eq!(TlsVersion::parse("TLSv1.2"), Some(TlsVersion::Tls12));
        assert_eq!(Alpn::from_id("H2").unwrap(), Some(Alpn::H2));
        assert_eq!(Alpn::from_id("00").unwrap(), None);
        assert_eq!(Method::from_token("PROPFIND"), Some(Method::Other));
        assert_eq!(Method::from_token("GE T"), None);
        assert_eq!(CountryCode::parse("fr").unwrap().as_str(), "FR");
    }

    #[test]
    fn header_presence_distinguishes_absent_from_unknown() {
        let mut r = RequestRecord::default();
        assert_eq!(r.header_presence(None, "referer"), None);
        r.header_names = Some(vec!["Host".into(), "User-Agent".into()]);
        assert_eq!(r.header_presence(None, "referer"), Some(false));
        r.header_names = Some(vec!["Host".into(), "Referer".into()]);
        assert_eq!(r.header_presence(None, "referer"), Some(true));
        r.header_names = None;
        let v: Cow<str> = "".into();
        assert_eq!(r.header_presence(Some(&v), "referer"), Some(false));
    }
}
