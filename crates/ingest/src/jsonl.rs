//! shrike JSON Lines: the canonical schema of SPEC §2, one object per line.
//!
//! Strings are borrowed from the line when they contain no escapes. Numbers may be given
//! as JSON numbers or as numeric strings (many producers quote everything). Unknown keys
//! are counted and ignored; `null` is a missing value.

use std::borrow::Cow;
use std::net::IpAddr;

use shrike_types::{
    Alpn, CountryCode, FieldError, HttpVersion, Ja4, Method, RequestRecord, Timestamp, TlsVersion,
    MAX_FIELD_BYTES,
};

use crate::json::{Scalar, Scanner};
use crate::{Reject, RejectReason, Source};

/// The shrike JSON Lines source.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

macro_rules! fields {
    ($($name:ident),+ $(,)?) => {
        /// Canonical keys of the schema.
        #[allow(non_camel_case_types)]
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub(crate) enum Key { $($name),+ }
        impl Key {
            pub(crate) fn from_str(s: &str) -> Option<Key> {
                match s { $(stringify!($name) => Some(Key::$name),)+ _ => None }
            }
            fn name(self) -> &'static str {
                match self { $(Key::$name => stringify!($name)),+ }
            }
        }
    };
}

fields!(
    time,
    src_ip,
    src_port,
    dst_port,
    host,
    method,
    path,
    query,
    http_version,
    status,
    bytes,
    user_agent,
    referer,
    header_names,
    accept,
    accept_language,
    accept_encoding,
    content_type,
    has_cookie,
    has_xff,
    sec_ch_ua,
    sec_ch_ua_mobile,
    sec_ch_ua_platform,
    sec_fetch_site,
    sec_fetch_mode,
    sec_fetch_dest,
    sec_fetch_user,
    conn_id,
    keepalive_index,
    ip_total_length,
    ja4,
    ja4_r,
    ja3,
    ja4h,
    ja4t,
    tls_version,
    tls_alpn,
    tls_sni,
    tls_cipher,
    tcp_ttl,
    tcp_window,
    tcp_window_scale,
    tcp_mss,
    tcp_options,
    ip_id,
    ip_df,
    syn_ack_ms,
    h2_fingerprint,
    h2_pseudo_order,
    asn,
    asn_org,
    country,
    correlated,
);

fn text<'a>(k: Key, v: Scalar<'a>) -> Result<Cow<'a, str>, FieldError> {
    let s = match v {
        Scalar::Str(s) => s,
        Scalar::U(n) => Cow::Owned(n.to_string()),
        Scalar::I(n) => Cow::Owned(n.to_string()),
        Scalar::F(n) => Cow::Owned(n.to_string()),
        Scalar::B(_) => {
            return Err(FieldError::Invalid {
                field: k.name(),
                why: "boolean where text was expected",
            })
        }
    };
    if s.len() > MAX_FIELD_BYTES {
        return Err(FieldError::TooLong {
            field: k.name(),
            len: s.len(),
        });
    }
    Ok(s)
}

fn float(k: Key, v: &Scalar<'_>) -> Result<f64, FieldError> {
    let x = match v {
        Scalar::U(n) => *n as f64,
        Scalar::I(n) => *n as f64,
        Scalar::F(n) => *n,
        Scalar::Str(s) => s.trim().parse::<f64>().map_err(|_| FieldError::Invalid {
            field: k.name(),
            why: "not a number",
        })?,
        Scalar::B(_) => {
            return Err(FieldError::Invalid {
                field: k.name(),
                why: "boolean where a number was expected",
            })
        }
    };
    if !x.is_finite() {
        return Err(FieldError::NonFinite { field: k.name() });
    }
    Ok(x)
}

fn unsigned(k: Key, v: &Scalar<'_>, max: u64) -> Result<u64, FieldError> {
    let n = match v {
        Scalar::U(n) => *n,
        Scalar::I(n) if *n < 0 => return Err(FieldError::Negative { field: k.name() }),
        Scalar::I(n) => *n as u64,
        _ => {
            let x = float(k, v)?;
            if x < 0.0 {
                return Err(FieldError::Negative { field: k.name() });
            }
            if x.fract() != 0.0 {
                return Err(FieldError::Invalid {
                    field: k.name(),
                    why: "not a whole number",
                });
            }
            x as u64
        }
    };
    if n > max {
        return Err(FieldError::Invalid {
            field: k.name(),
            why: "out of range",
        });
    }
    Ok(n)
}

fn boolean(k: Key, v: &Scalar<'_>) -> Result<bool, FieldError> {
    match v {
        Scalar::B(b) => Ok(*b),
        Scalar::U(0) | Scalar::I(0) => Ok(false),
        Scalar::U(1) | Scalar::I(1) => Ok(true),
        Scalar::Str(s) => match s.trim() {
            "true" | "1" | "yes" | "on" | "?1" => Ok(true),
            "false" | "0" | "no" | "off" | "?0" | "" => Ok(false),
            _ => Err(FieldError::Invalid {
                field: k.name(),
                why: "not a boolean",
            }),
        },
        _ => Err(FieldError::Invalid {
            field: k.name(),
            why: "not a boolean",
        }),
    }
}

fn opt_text<'a>(k: Key, v: Scalar<'a>) -> Result<Option<Cow<'a, str>>, FieldError> {
    text(k, v).map(Some)
}

fn enum_field<T>(
    k: Key,
    v: Scalar<'_>,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>, FieldError> {
    let s = text(k, v)?;
    if s.trim().is_empty() {
        return Ok(None);
    }
    parse(&s).map(Some).ok_or(FieldError::Invalid {
        field: k.name(),
        why: "unrecognised value",
    })
}

pub(crate) fn parse_time(v: &Scalar<'_>) -> Result<Timestamp, Reject> {
    match v {
        Scalar::Str(s) => {
            let t = s.trim();
            if !t.is_empty() && t.bytes().all(|c| c.is_ascii_digit()) {
                let ms: i64 = t.parse().map_err(|_| {
                    Reject::new(
                        RejectReason::InvalidTimestamp,
                        "epoch milliseconds overflow",
                    )
                })?;
                return Ok(Timestamp::from_epoch_millis_checked(ms)?);
            }
            Ok(Timestamp::parse_rfc3339(t)?)
        }
        Scalar::U(n) => Ok(Timestamp::from_epoch_millis_checked(
            i64::try_from(*n).unwrap_or(i64::MAX),
        )?),
        Scalar::I(n) => Ok(Timestamp::from_epoch_millis_checked(*n)?),
        Scalar::F(x) if x.is_finite() => Ok(Timestamp::from_epoch_millis_checked(*x as i64)?),
        Scalar::F(_) => Err(Reject::new(
            RejectReason::NonFinite("time"),
            "time is not finite",
        )),
        Scalar::B(_) => Err(Reject::new(RejectReason::InvalidTimestamp, "boolean time")),
    }
}

/// Validates one field into the record.
pub(crate) fn apply<'a>(
    r: &mut RequestRecord<'a>,
    k: Key,
    v: Scalar<'a>,
    have_time: &mut bool,
) -> Result<(), Reject> {
    match k {
        Key::time => {
            r.time = parse_time(&v)?;
            *have_time = true;
        }
        Key::src_ip => {
            let s = text(k, v)?;
            let ip: IpAddr = s.trim().parse().map_err(|_| {
                Reject::new(
                    RejectReason::InvalidIp,
                    format!("src_ip `{}` is not an IP address", truncate(&s)),
                )
            })?;
            r.src_ip = Some(ip);
        }
        Key::src_port => r.src_port = Some(unsigned(k, &v, 65535)? as u16),
        Key::dst_port => r.dst_port = Some(unsigned(k, &v, 65535)? as u16),
        Key::host => r.host = opt_text(k, v)?,
        Key::method => r.method = enum_field(k, v, Method::from_token)?,
        Key::path => r.path = opt_text(k, v)?,
        Key::query => r.query = opt_text(k, v)?,
        Key::http_version => r.http_version = enum_field(k, v, HttpVersion::parse)?,
        Key::status => {
            let s = unsigned(k, &v, 999)?;
            if s < 100 {
                return Err(FieldError::Invalid {
                    field: "status",
                    why: "HTTP status below 100",
                }
                .into());
            }
            r.status = Some(s as u16);
        }
        Key::bytes => r.bytes = Some(unsigned(k, &v, u64::MAX)?),
        Key::user_agent => r.user_agent = opt_text(k, v)?,
        Key::referer => r.referer = opt_text(k, v)?,
        Key::header_names => {}
        Key::accept => r.accept = opt_text(k, v)?,
        Key::accept_language => r.accept_language = opt_text(k, v)?,
        Key::accept_encoding => r.accept_encoding = opt_text(k, v)?,
        Key::content_type => r.content_type = opt_text(k, v)?,
        Key::has_cookie => r.has_cookie = Some(boolean(k, &v)?),
        Key::has_xff => r.has_xff = Some(boolean(k, &v)?),
        Key::sec_ch_ua => r.sec_ch_ua = opt_text(k, v)?,
        Key::sec_ch_ua_mobile => r.sec_ch_ua_mobile = opt_text(k, v)?,
        Key::sec_ch_ua_platform => r.sec_ch_ua_platform = opt_text(k, v)?,
        Key::sec_fetch_site => r.sec_fetch_site = opt_text(k, v)?,
        Key::sec_fetch_mode => r.sec_fetch_mode = opt_text(k, v)?,
        Key::sec_fetch_dest => r.sec_fetch_dest = opt_text(k, v)?,
        Key::sec_fetch_user => r.sec_fetch_user = opt_text(k, v)?,
        Key::conn_id => r.conn_id = opt_text(k, v)?,
        Key::keepalive_index => r.keepalive_index = Some(unsigned(k, &v, u32::MAX as u64)? as u32),
        Key::ip_total_length => r.ip_total_length = Some(unsigned(k, &v, u32::MAX as u64)? as u32),
        Key::ja4 => {
            let s = text(k, v)?;
            if !s.trim().is_empty() {
                r.ja4 = Some(Ja4::parse(s)?);
            }
        }
        Key::ja4_r => r.ja4_r = opt_text(k, v)?,
        Key::ja3 => r.ja3 = opt_text(k, v)?,
        Key::ja4h => r.ja4h = opt_text(k, v)?,
        Key::ja4t => r.ja4t = opt_text(k, v)?,
        Key::tls_version => r.tls_version = enum_field(k, v, TlsVersion::parse)?,
        Key::tls_alpn => r.tls_alpn = Alpn::from_id(&text(k, v)?)?,
        Key::tls_sni => r.tls_sni = opt_text(k, v)?,
        Key::tls_cipher => r.tls_cipher = opt_text(k, v)?,
        Key::tcp_ttl => r.tcp_ttl = Some(unsigned(k, &v, 255)? as u8),
        Key::tcp_window => r.tcp_window = Some(unsigned(k, &v, u32::MAX as u64)? as u32),
        Key::tcp_window_scale => r.tcp_window_scale = Some(unsigned(k, &v, 14)? as u8),
        Key::tcp_mss => r.tcp_mss = Some(unsigned(k, &v, 65535)? as u16),
        Key::tcp_options => r.tcp_options = opt_text(k, v)?,
        Key::ip_id => r.ip_id = Some(unsigned(k, &v, u32::MAX as u64)? as u32),
        Key::ip_df => r.ip_df = Some(boolean(k, &v)?),
        Key::syn_ack_ms => {
            let x = float(k, &v)?;
            if x < 0.0 {
                return Err(FieldError::Negative {
                    field: "syn_ack_ms",
                }
                .into());
            }
            r.syn_ack_ms = Some(x);
        }
        Key::h2_fingerprint => r.h2_fingerprint = opt_text(k, v)?,
        Key::h2_pseudo_order => r.h2_pseudo_order = opt_text(k, v)?,
        Key::asn => r.asn = Some(parse_asn(&v)?),
        Key::asn_org => r.asn_org = opt_text(k, v)?,
        Key::country => {
            let s = text(k, v)?;
            if !s.trim().is_empty() {
                r.country = Some(CountryCode::parse(&s).ok_or(FieldError::Invalid {
                    field: "country",
                    why: "not a two-letter country code",
                })?);
            }
        }
        Key::correlated => r.correlated = Some(boolean(k, &v)?),
    }
    Ok(())
}

/// The two fields every record needs; `names` are the format's keys for them, for the
/// message.
pub(crate) fn required<'a>(
    r: RequestRecord<'a>,
    have_time: bool,
    names: (&str, &str),
) -> Result<RequestRecord<'a>, Reject> {
    if !have_time {
        return Err(Reject::new(
            RejectReason::MissingField("time"),
            format!("no {} field", names.0),
        ));
    }
    if r.src_ip.is_none() {
        return Err(Reject::new(
            RejectReason::MissingField("src_ip"),
            format!("no {} field", names.1),
        ));
    }
    Ok(r)
}

fn parse_asn(v: &Scalar<'_>) -> Result<u32, FieldError> {
    if let Scalar::Str(s) = v {
        let t = s.trim();
        let t = t
            .strip_prefix("AS")
            .or_else(|| t.strip_prefix("as"))
            .unwrap_or(t);
        return t.parse().map_err(|_| FieldError::Invalid {
            field: "asn",
            why: "not an AS number",
        });
    }
    Ok(unsigned(Key::asn, v, u32::MAX as u64)? as u32)
}

pub(crate) fn truncate(s: &str) -> &str {
    let mut end = s.len().min(64);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Source for JsonLines {
    fn name(&self) -> &'static str {
        "jsonl"
    }

    fn parse_line<'a>(
        &self,
        line: &'a [u8],
        unknown_keys: &mut u64,
    ) -> Result<RequestRecord<'a>, Reject> {
        let Ok(line_text) = std::str::from_utf8(line) else {
            return Err(Reject::new(
                RejectReason::NotUtf8,
                "the line is not valid UTF-8",
            ));
        };
        let mut r = RequestRecord::default();
        let mut have_time = false;
        let mut unknown = 0;
        // Field errors are kept until the end: a syntax error anywhere in the line wins,
        // as the line is then not JSON at all.
        let mut first: Option<Reject> = None;
        Scanner::new(line_text)
            .object(|key, sc| {
                let Some(k) = Key::from_str(key) else {
                    unknown += 1;
                    return sc.skip_value();
                };
                if k == Key::header_names {
                    // Names go straight into the record; nulls in the list are skipped.
                    let mut names = Vec::with_capacity(32);
                    let mut bad = None;
                    let present = sc.array(|sc| {
                        if let (Some(v), None) = (sc.scalar()?, &bad) {
                            match text(Key::header_names, v) {
                                Ok(name) => names.push(name),
                                Err(e) => bad = Some(e),
                            }
                        }
                        Ok(())
                    })?;
                    if first.is_none() {
                        match bad {
                            Some(e) => first = Some(e.into()),
                            None if present => r.header_names = Some(names),
                            None => {}
                        }
                    }
                    return Ok(());
                }
                let v = sc.scalar()?;
                if let (Some(v), None) = (v, &first) {
                    if let Err(e) = apply(&mut r, k, v, &mut have_time) {
                        first = Some(e);
                    }
                }
                Ok(())
            })
            .map_err(|e| Reject::new(RejectReason::InvalidJson, e.to_string()))?;
        *unknown_keys += unknown;
        if let Some(e) = first {
            return Err(e);
        }
        required(r, have_time, ("`time`", "`src_ip`"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<RequestRecord<'_>, Reject> {
        JsonLines.parse_line(s.as_bytes(), &mut 0)
    }

    #[test]
    fn full_record_and_borrowing() {
        let line = r#"{"time":"2024-05-01T12:00:00Z","src_ip":"203.0.113.7","method":"GET","path":"/a","status":"200","bytes":512,"header_names":["Host","User-Agent"],"ja4":"t13d1516h2_8daaf6152771_02713d6af862","tls_alpn":"h2","tcp_ttl":"57","ip_df":1,"syn_ack_ms":12.5,"asn":"AS3215","country":"fr","correlated":true,"extra":{"x":[1,2]}}"#;
        let mut unknown = 0;
        let r = JsonLines.parse_line(line.as_bytes(), &mut unknown).unwrap();
        assert_eq!(unknown, 1);
        assert_eq!(r.status, Some(200));
        assert_eq!(r.tcp_ttl, Some(57));
        assert_eq!(r.asn, Some(3215));
        assert_eq!(r.country.unwrap().as_str(), "FR");
        assert!(matches!(r.path, Some(Cow::Borrowed("/a"))));
        assert_eq!(r.header_names.as_ref().unwrap().len(), 2);
        assert_eq!(r.tls_alpn, Some(Alpn::H2));
    }

    #[test]
    fn each_bad_input_has_its_reason() {
        let cases = [
            (
                r#"{"time":"2024-05-01T12:00:00Z","src_ip":"999.1.1.1"}"#,
                "invalid_ip",
            ),
            (
                r#"{"time":"2024-02-30T12:00:00Z","src_ip":"1.2.3.4"}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"time":1714564800,"src_ip":"1.2.3.4"}"#,
                "invalid_timestamp",
            ),
            (
                r#"{"time":"2024-05-01T12:00:00Z","src_ip":"1.2.3.4","syn_ack_ms":"NaN"}"#,
                "non_finite:syn_ack_ms",
            ),
            (
                r#"{"time":"2024-05-01T12:00:00Z","src_ip":"1.2.3.4","syn_ack_ms":"inf"}"#,
                "non_finite:syn_ack_ms",
            ),
            (
                r#"{"time":"2024-05-01T12:00:00Z","src_ip":"1.2.3.4","bytes":-5}"#,
                "negative_counter:bytes",
            ),
            (
                r#"{"time":"2024-05-01T12:00:00Z","src_ip":"1.2.3.4","ja4":"nope"}"#,
                "invalid_field:ja4",
            ),
            (r#"{"src_ip":"1.2.3.4"}"#, "missing_field:time"),
            (r#"{"time":"2024-05-01T12:00:00Z"}"#, "missing_field:src_ip"),
            (
                r#"{"time":"2024-05-01T12:00:00Z","src_ip":"1.2.3.4""#,
                "invalid_json",
            ),
            (r#"[1,2]"#, "invalid_json"),
            (
                r#"{"time":"2024-05-01T12:00:00Z","src_ip":"1.2.3.4"} trailing"#,
                "invalid_json",
            ),
        ];
        for (line, want) in cases {
            let got = parse(line).map(|_| ()).unwrap_err().reason.key();
            assert_eq!(got, want, "{line}");
        }
        let long = format!(
            r#"{{"time":"2024-05-01T12:00:00Z","src_ip":"1.2.3.4","user_agent":"{}"}}"#,
            "a".repeat(70_000)
        );
        assert_eq!(
            parse(&long).unwrap_err().reason.key(),
            "field_too_long:user_agent"
        );
        let mut bytes = br#"{"time":"2024-05-01T12:00:00Z","src_ip":"1.2.3.4","path":"/"#.to_vec();
        bytes.extend_from_slice(&[0xff, 0xfe, b'"', b'}']);
        assert_eq!(
            JsonLines
                .parse_line(&bytes, &mut 0)
                .unwrap_err()
                .reason
                .key(),
            "not_utf8"
        );
    }

    #[test]
    fn nulls_are_missing_and_epoch_millis_accepted() {
        let r = parse(
            r#"{"time":1714564800000,"src_ip":"2001:db8::1","host":null,"ja4":null,"ja4h":""}"#,
        )
        .unwrap();
        assert_eq!(r.time.millis(), 1_714_564_800_000);
        assert!(r.host.is_none() && r.ja4.is_none());
        assert_eq!(r.ja4h.as_deref(), Some(""));
    }
}
