//! JSON access logs whose keys are another producer's names, mapped onto shrike's schema:
//! nginx's JSON `log_format` (with the JA4 module's and phuslu's variables; the documented
//! format is in docs/FORMATS.md) and Cloudflare Logpush `http_requests`.
//!
//! Both reuse the JSON Lines validation: each mapped key is validated exactly as the
//! canonical key it stands for. Keys a producer writes that shrike has no use for are
//! ignored without being counted as unknown; anything else is counted.

use std::borrow::Cow;

use shrike_types::{CountryCode, FieldError, HttpVersion, Method, RequestRecord, Timestamp};

use crate::json::{Scalar, Scanner};
use crate::jsonl::{apply, parse_time, required, Key};
use crate::{Reject, RejectReason, Source};

/// Which producer wrote the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// nginx `log_format ... escape=json` with variable names as keys.
    Nginx,
    /// Cloudflare Logpush, `http_requests` dataset.
    Cloudflare,
}

/// A JSON log of one [`Dialect`].
#[derive(Debug, Clone, Copy)]
pub struct MappedJson(pub Dialect);

#[derive(Debug, Clone, Copy)]
enum Target {
    Canon(Key),
    /// `$msec`: seconds with a millisecond fraction.
    EpochSeconds,
    /// `$time_local`: the common log format's time.
    ClfTime,
    /// A timestamp that may be RFC 3339 or an epoch number in s, ms, µs or ns.
    AnyTime,
    /// Path and query together.
    Uri,
    /// `$request`: `METHOD target PROTOCOL`.
    RequestLine,
    /// A header value whose presence is what matters.
    Present(Key),
    /// `$connection_requests`: 1-based.
    OneBased(Key),
    /// TCP smoothed RTT in microseconds (`$tcpinfo_rtt`).
    RttMicros,
    /// Cloudflare's `RequestHeaders` object.
    Headers,
    /// Known and not used.
    Ignore,
}

fn nginx(key: &str) -> Option<Target> {
    use Target::*;
    Some(match key {
        "time_iso8601" => Canon(Key::time),
        "msec" => EpochSeconds,
        "time_local" => ClfTime,
        "remote_addr" => Canon(Key::src_ip),
        "remote_port" => Canon(Key::src_port),
        "server_port" => Canon(Key::dst_port),
        "host" | "http_host" => Canon(Key::host),
        "request_method" => Canon(Key::method),
        "request_uri" => Uri,
        "uri" => Canon(Key::path),
        "args" | "query_string" => Canon(Key::query),
        "request" => RequestLine,
        "server_protocol" => Canon(Key::http_version),
        "status" => Canon(Key::status),
        "body_bytes_sent" | "bytes_sent" => Canon(Key::bytes),
        "http_user_agent" => Canon(Key::user_agent),
        "http_referer" => Canon(Key::referer),
        "http_accept" => Canon(Key::accept),
        "http_accept_language" => Canon(Key::accept_language),
        "http_accept_encoding" => Canon(Key::accept_encoding),
        "content_type" | "http_content_type" => Canon(Key::content_type),
        "http_cookie" => Present(Key::has_cookie),
        "http_x_forwarded_for" => Present(Key::has_xff),
        "http_sec_ch_ua" => Canon(Key::sec_ch_ua),
        "http_sec_ch_ua_mobile" => Canon(Key::sec_ch_ua_mobile),
        "http_sec_ch_ua_platform" => Canon(Key::sec_ch_ua_platform),
        "http_sec_fetch_site" => Canon(Key::sec_fetch_site),
        "http_sec_fetch_mode" => Canon(Key::sec_fetch_mode),
        "http_sec_fetch_dest" => Canon(Key::sec_fetch_dest),
        "http_sec_fetch_user" => Canon(Key::sec_fetch_user),
        "connection" => Canon(Key::conn_id),
        "connection_requests" => OneBased(Key::keepalive_index),
        "ssl_protocol" => Canon(Key::tls_version),
        "ssl_cipher" => Canon(Key::tls_cipher),
        "ssl_server_name" => Canon(Key::tls_sni),
        "ssl_alpn_protocol" => Canon(Key::tls_alpn),
        // FoxIO's JA4 module.
        "http_ssl_ja4" => Canon(Key::ja4),
        "http_ssl_ja4_string" => Canon(Key::ja4_r),
        "http_ssl_ja4h" => Canon(Key::ja4h),
        "http_ssl_ja4t" => Canon(Key::ja4t),
        // phuslu's nginx.
        "http2_fingerprint" => Canon(Key::h2_fingerprint),
        "http_ssl_ja3" | "http_ssl_ja3_hash" => Canon(Key::ja3),
        "tcpinfo_rtt" => RttMicros,
        "request_length"
        | "request_time"
        | "upstream_response_time"
        | "upstream_addr"
        | "remote_user"
        | "scheme"
        | "server_addr"
        | "tcpinfo_rttvar"
        | "http_ssl_greased"
        | "http_ssl_ja4s"
        | "http_ssl_ja4x"
        | "http_ssl_ja4l"
        | "http_ssl_ja4one"
        | "http_ssl_ja4h_string"
        | "http_ssl_ja4ts" => Ignore,
        other => Canon(Key::from_str(other)?),
    })
}

fn cloudflare(key: &str) -> Option<Target> {
    use Target::*;
    Some(match key {
        "EdgeStartTimestamp" => AnyTime,
        "ClientIP" => Canon(Key::src_ip),
        "ClientSrcPort" => Canon(Key::src_port),
        "ClientRequestHost" => Canon(Key::host),
        "ClientRequestMethod" => Canon(Key::method),
        "ClientRequestURI" => Uri,
        "ClientRequestPath" => Canon(Key::path),
        "ClientRequestQuery" => Canon(Key::query),
        "ClientRequestProtocol" => Canon(Key::http_version),
        "ClientRequestUserAgent" => Canon(Key::user_agent),
        "ClientRequestReferer" => Canon(Key::referer),
        "EdgeResponseStatus" => Canon(Key::status),
        "EdgeResponseBytes" => Canon(Key::bytes),
        "ClientASN" => Canon(Key::asn),
        "ClientCountry" => Canon(Key::country),
        "ClientSSLProtocol" => Canon(Key::tls_version),
        "ClientSSLCipher" => Canon(Key::tls_cipher),
        "JA4" => Canon(Key::ja4),
        "JA3Hash" => Canon(Key::ja3),
        "ClientTCPRTTMs" => Canon(Key::syn_ack_ms),
        "RequestHeaders" => Headers,
        "JA4Signals"
        | "BotScore"
        | "BotScoreSrc"
        | "BotTags"
        | "BotDetectionIDs"
        | "VerifiedBotCategory"
        | "RayID"
        | "ZoneName"
        | "CacheCacheStatus"
        | "CacheResponseStatus"
        | "ClientDeviceType"
        | "ClientRequestScheme"
        | "ClientRequestBytes"
        | "ClientRequestSource"
        | "ClientXRequestedWith"
        | "EdgeColoCode"
        | "EdgeEndTimestamp"
        | "EdgeServerIP"
        | "EdgeResponseContentType"
        | "OriginResponseStatus"
        | "OriginIP"
        | "SecurityAction"
        | "SecurityRuleID"
        | "WAFAttackScore"
        | "WorkerSubrequest"
        | "ClientIPClass"
        | "ClientMTLSAuthStatus"
        | "ResponseHeaders"
        | "Cookies"
        | "ParentRayID"
        | "EdgeRequestHost"
        | "ContentScanObjResults"
        | "LeakedCredentialCheckResult" => Ignore,
        _ => return None,
    })
}

/// Absent-value spellings: nginx writes `-` for an unset variable.
fn missing(v: &Scalar<'_>) -> bool {
    matches!(v, Scalar::Str(s) if s.is_empty() || s == "-")
}

pub(crate) fn split_uri<'a>(r: &mut RequestRecord<'a>, uri: Cow<'a, str>) {
    match uri {
        Cow::Borrowed(u) => {
            let (p, q) = u.split_once('?').map_or((u, None), |(p, q)| (p, Some(q)));
            r.path = Some(Cow::Borrowed(p));
            r.query = q.filter(|q| !q.is_empty()).map(Cow::Borrowed);
        }
        Cow::Owned(u) => {
            let (p, q) = u
                .split_once('?')
                .map_or((u.as_str(), None), |(p, q)| (p, Some(q)));
            r.path = Some(Cow::Owned(p.to_string()));
            r.query = q
                .filter(|q| !q.is_empty())
                .map(|q| Cow::Owned(q.to_string()));
        }
    }
}

pub(crate) fn epoch_any(x: f64) -> Result<Timestamp, Reject> {
    if !x.is_finite() {
        return Err(Reject::new(
            RejectReason::NonFinite("time"),
            "time is not finite",
        ));
    }
    // Seconds, milliseconds, microseconds or nanoseconds, told apart by magnitude.
    let ms = match x.abs() {
        a if a >= 1e17 => x / 1e6,
        a if a >= 1e14 => x / 1e3,
        a if a >= 1e11 => x,
        _ => x * 1e3,
    };
    Ok(Timestamp::from_epoch_millis_checked(ms as i64)?)
}

fn number(v: &Scalar<'_>) -> Option<f64> {
    match v {
        Scalar::U(n) => Some(*n as f64),
        Scalar::I(n) => Some(*n as f64),
        Scalar::F(x) => Some(*x),
        Scalar::Str(s) => s.trim().parse().ok(),
        Scalar::B(_) => None,
    }
}

impl MappedJson {
    fn target(&self, key: &str) -> Option<Target> {
        match self.0 {
            Dialect::Nginx => nginx(key),
            Dialect::Cloudflare => cloudflare(key),
        }
    }

    fn field<'a>(
        &self,
        r: &mut RequestRecord<'a>,
        t: Target,
        v: Scalar<'a>,
        have_time: &mut bool,
    ) -> Result<(), Reject> {
        if missing(&v) {
            return Ok(());
        }
        // Cloudflare writes "none"/"NONE" for a request without TLS.
        if self.0 == Dialect::Cloudflare
            && matches!(t, Target::Canon(Key::tls_version | Key::tls_cipher))
            && matches!(&v, Scalar::Str(s) if s.eq_ignore_ascii_case("none"))
        {
            return Ok(());
        }
        match t {
            Target::Canon(Key::country) => {
                if let Scalar::Str(s) = &v {
                    // Cloudflare: lower case, and `xx`/`t1` for unknown and Tor.
                    if s.eq_ignore_ascii_case("xx") || s.eq_ignore_ascii_case("t1") {
                        return Ok(());
                    }
                    r.country = Some(CountryCode::parse(s).ok_or(FieldError::Invalid {
                        field: "country",
                        why: "not a two-letter country code",
                    })?);
                    return Ok(());
                }
                apply(r, Key::country, v, have_time)
            }
            Target::Canon(k) => apply(r, k, v, have_time),
            Target::EpochSeconds => {
                let s = number(&v).ok_or_else(|| {
                    Reject::new(RejectReason::InvalidTimestamp, "msec is not a number")
                })?;
                r.time = epoch_any(s)?;
                *have_time = true;
                Ok(())
            }
            Target::ClfTime => {
                let Scalar::Str(s) = &v else {
                    return Err(Reject::new(
                        RejectReason::InvalidTimestamp,
                        "time_local is not a string",
                    ));
                };
                r.time = Timestamp::parse_clf(s)?;
                *have_time = true;
                Ok(())
            }
            Target::AnyTime => {
                r.time = match &v {
                    Scalar::Str(s) if !s.trim().bytes().all(|c| c.is_ascii_digit()) => {
                        parse_time(&v)?
                    }
                    other => epoch_any(number(other).ok_or_else(|| {
                        Reject::new(RejectReason::InvalidTimestamp, "time is not a number")
                    })?)?,
                };
                *have_time = true;
                Ok(())
            }
            Target::Uri => {
                let Scalar::Str(s) = v else {
                    return Err(FieldError::Invalid {
                        field: "path",
                        why: "expected a string",
                    }
                    .into());
                };
                if s.len() > shrike_types::MAX_FIELD_BYTES {
                    return Err(FieldError::TooLong {
                        field: "path",
                        len: s.len(),
                    }
                    .into());
                }
                split_uri(r, s);
                Ok(())
            }
            Target::RequestLine => {
                let Scalar::Str(s) = v else { return Ok(()) };
                let mut parts = s.split(' ');
                let (m, t, p) = (parts.next(), parts.next(), parts.next());
                if r.method.is_none() {
                    r.method = m.and_then(Method::from_token);
                }
                if r.http_version.is_none() {
                    r.http_version = p.and_then(HttpVersion::parse);
                }
                if r.path.is_none() {
                    if let Some(t) = t {
                        split_uri(r, Cow::Owned(t.to_string()));
                    }
                }
                Ok(())
            }
            Target::Present(k) => apply(r, k, Scalar::B(true), have_time),
            Target::OneBased(k) => {
                let n = number(&v)
                    .filter(|n| *n >= 1.0)
                    .ok_or(FieldError::Invalid {
                        field: "keepalive_index",
                        why: "connection_requests must be 1 or more",
                    })?;
                apply(r, k, Scalar::U(n as u64 - 1), have_time)
            }
            Target::RttMicros => {
                let us = number(&v).ok_or(FieldError::Invalid {
                    field: "syn_ack_ms",
                    why: "tcpinfo_rtt is not a number",
                })?;
                apply(r, Key::syn_ack_ms, Scalar::F(us / 1000.0), have_time)
            }
            Target::Headers | Target::Ignore => Ok(()),
        }
    }
}

/// Request headers Cloudflare can log, by lower-case name.
fn header_key(name: &str) -> Option<Target> {
    let n = name.to_ascii_lowercase();
    Some(match n.as_str() {
        "accept" => Target::Canon(Key::accept),
        "accept-language" => Target::Canon(Key::accept_language),
        "accept-encoding" => Target::Canon(Key::accept_encoding),
        "content-type" => Target::Canon(Key::content_type),
        "sec-ch-ua" => Target::Canon(Key::sec_ch_ua),
        "sec-ch-ua-mobile" => Target::Canon(Key::sec_ch_ua_mobile),
        "sec-ch-ua-platform" => Target::Canon(Key::sec_ch_ua_platform),
        "sec-fetch-site" => Target::Canon(Key::sec_fetch_site),
        "sec-fetch-mode" => Target::Canon(Key::sec_fetch_mode),
        "sec-fetch-dest" => Target::Canon(Key::sec_fetch_dest),
        "sec-fetch-user" => Target::Canon(Key::sec_fetch_user),
        "cookie" => Target::Present(Key::has_cookie),
        "x-forwarded-for" => Target::Present(Key::has_xff),
        _ => return None,
    })
}

impl Source for MappedJson {
    fn name(&self) -> &'static str {
        match self.0 {
            Dialect::Nginx => "nginx-json",
            Dialect::Cloudflare => "cloudflare",
        }
    }

    fn parse_line<'a>(
        &self,
        line: &'a [u8],
        unknown_keys: &mut u64,
    ) -> Result<RequestRecord<'a>, Reject> {
        let Ok(text) = std::str::from_utf8(line) else {
            return Err(Reject::new(
                RejectReason::NotUtf8,
                "the line is not valid UTF-8",
            ));
        };
        let mut r = RequestRecord::default();
        let mut have_time = false;
        let mut first: Option<Reject> = None;
        Scanner::new(text)
            .object(|key, sc| {
                let Some(t) = self.target(key) else {
                    *unknown_keys += 1;
                    return sc.skip_value();
                };
                if matches!(t, Target::Headers) {
                    return sc.members(|name, sc| {
                        let v = sc.scalar()?;
                        if let (Some(t), Some(v), None) = (header_key(name), v, &first) {
                            if let Err(e) = self.field(&mut r, t, v, &mut have_time) {
                                first = Some(e);
                            }
                        }
                        Ok(())
                    });
                }
                if matches!(t, Target::Ignore) {
                    return sc.skip_value();
                }
                let v = sc.scalar()?;
                if let (Some(v), None) = (v, &first) {
                    if let Err(e) = self.field(&mut r, t, v, &mut have_time) {
                        first = Some(e);
                    }
                }
                Ok(())
            })
            .map_err(|e| Reject::new(RejectReason::InvalidJson, e.to_string()))?;
        if let Some(e) = first {
            return Err(e);
        }
        let names = match self.0 {
            Dialect::Nginx => ("`msec`, `time_iso8601` or `time_local`", "`remote_addr`"),
            Dialect::Cloudflare => ("`EdgeStartTimestamp`", "`ClientIP`"),
        };
        required(r, have_time, names)
    }
}
