//! From a finished connection to request records: one per HTTP request seen (correlated with
//! the connection's SYN and TLS hello), or one TLS-only record when no request is visible.

use std::borrow::Cow;

use shrike_types::{Alpn, HttpVersion, Ja4, Method, RequestRecord, Timestamp, TlsVersion};

use crate::conn::{Request, TcpConn, TlsSide};

fn owned(s: &str) -> Option<Cow<'static, str>> {
    (!s.is_empty() && s.len() <= shrike_types::MAX_FIELD_BYTES).then(|| Cow::Owned(s.to_owned()))
}

fn version_of(v: u16) -> Option<TlsVersion> {
    match v {
        0x0304 => Some(TlsVersion::Tls13),
        0x0303 => Some(TlsVersion::Tls12),
        0x0302 => Some(TlsVersion::Tls11),
        0x0301 => Some(TlsVersion::Tls10),
        0x0300 => Some(TlsVersion::Ssl3),
        _ => None,
    }
}

/// Fills the TLS fields of a record.
pub fn tls_fields(r: &mut RequestRecord<'static>, t: &TlsSide) {
    r.ja4 = Ja4::parse(Cow::Owned(t.ja4.clone())).ok();
    r.ja4_r = owned(&t.ja4_r);
    r.tls_sni = t.sni.as_deref().and_then(owned);
    let server = t.server.as_ref();
    r.tls_version = version_of(server.map_or(t.version_offered, |s| s.version));
    // TLS 1.3 hides the chosen ALPN (EncryptedExtensions): the first offered stands in.
    r.tls_alpn = server.and_then(|s| s.alpn).or_else(|| {
        t.alpn_offered
            .as_deref()
            .and_then(|a| Alpn::from_id(a).ok().flatten())
    });
    r.tls_cipher = server.map(|s| Cow::Owned(format!("0x{:04x}", s.cipher)));
}

fn host_of(authority: &str) -> &str {
    if authority.starts_with('[') {
        return authority
            .split_once(']')
            .map_or(authority, |(h, _)| &h[1..]);
    }
    authority.rsplit_once(':').map_or(authority, |(h, p)| {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            authority
        }
    })
}

fn request_fields(r: &mut RequestRecord<'static>, q: &Request, index: u32) {
    r.time = Timestamp::from_millis(q.ts_us.div_euclid(1000));
    r.method = Method::from_token(&q.method);
    let target = q
        .target
        .strip_prefix("http://")
        .or_else(|| q.target.strip_prefix("https://"))
        .map_or(q.target.as_str(), |rest| {
            rest.find('/').map_or("/", |i| &rest[i..])
        });
    let (path, query) = target
        .split_once('?')
        .map_or((target, None), |(p, q)| (p, Some(q)));
    r.path = owned(path);
    r.query = query.and_then(owned);
    r.http_version = HttpVersion::parse(&q.version);
    r.status = q.status;
    r.bytes = q.bytes;
    r.keepalive_index = Some(index);
    r.ip_total_length = Some(q.ip_total_len);
    if let Some(a) = q.authority.as_deref() {
        r.host = owned(&host_of(a).to_ascii_lowercase());
    }
    let mut names = Vec::with_capacity(q.headers.len());
    // The names and values read here are the ones `conn` keeps ([`value_read`]).
    let (mut cookie, mut xff) = (false, false);
    for (n, v) in &q.headers {
        names.push(Cow::Owned(n.clone()));
        let slot = match n.to_ascii_lowercase().as_str() {
            "user-agent" => &mut r.user_agent,
            "referer" => &mut r.referer,
            "accept" => &mut r.accept,
            "accept-language" => &mut r.accept_language,
            "accept-encoding" => &mut r.accept_encoding,
            "content-type" => &mut r.content_type,
            "sec-ch-ua" => &mut r.sec_ch_ua,
            "sec-ch-ua-mobile" => &mut r.sec_ch_ua_mobile,
            "sec-ch-ua-platform" => &mut r.sec_ch_ua_platform,
            "sec-fetch-site" => &mut r.sec_fetch_site,
            "sec-fetch-mode" => &mut r.sec_fetch_mode,
            "sec-fetch-dest" => &mut r.sec_fetch_dest,
            "sec-fetch-user" => &mut r.sec_fetch_user,
            "cookie" => {
                cookie = true;
                continue;
            }
            "x-forwarded-for" => {
                xff = true;
                continue;
            }
            _ => continue,
        };
        if slot.is_none() {
            // An empty value is kept: it says the header was sent empty.
            *slot = Some(Cow::Owned(v.clone()));
        }
    }
    r.header_names = Some(names);
    r.has_cookie = Some(cookie);
    r.has_xff = Some(xff);
}

/// Whether a record reads this header's value (the others count by name, or by presence
/// as cookies and X-Forwarded-For do): what a connection keeps of each request head.
pub(crate) fn value_read(name: &str) -> bool {
    matches!(
        name.to_ascii_lowercase().as_str(),
        "host"
            | "user-agent"
            | "referer"
            | "accept"
            | "accept-language"
            | "accept-encoding"
            | "content-type"
            | "sec-ch-ua"
            | "sec-ch-ua-mobile"
            | "sec-ch-ua-platform"
            | "sec-fetch-site"
            | "sec-fetch-mode"
            | "sec-fetch-dest"
            | "sec-fetch-user"
    )
}

/// The records of one finished TCP connection (none when it carried neither TLS nor HTTP).
pub fn tcp_records(c: &TcpConn, out: &mut Vec<RequestRecord<'static>>) {
    if c.requests.is_empty() && c.tls.is_none() {
        return;
    }
    let mut base = RequestRecord {
        time: Timestamp::from_millis(c.first_ts.div_euclid(1000)),
        src_ip: Some(c.client.0),
        src_port: Some(c.client.1),
        dst_port: Some(c.server.1),
        conn_id: Some(Cow::Owned(format!(
            "{}:{}>{}:{}@{}",
            c.client.0, c.client.1, c.server.0, c.server.1, c.first_ts
        ))),
        ..RequestRecord::default()
    };
    if let Some(s) = &c.syn {
        base.tcp_ttl = Some(s.ttl);
        base.tcp_window = Some(s.window as u32);
        base.tcp_window_scale = s.wscale;
        base.tcp_mss = s.mss;
        base.tcp_options = Some(Cow::Owned(s.options.clone()));
        base.ip_id = s.ip_id.map(u32::from);
        base.ip_df = s.df;
    }
    base.syn_ack_ms = c.handshake_ms;
    // What the capture saw of the connection is tied to each request it carried.
    base.correlated = Some(true);
    if let Some(t) = &c.tls {
        tls_fields(&mut base, t);
        base.time = Timestamp::from_millis(t.ts_us.div_euclid(1000));
        base.ip_total_length = Some(t.ip_total_len);
        if base.host.is_none() {
            base.host = t.sni.as_deref().and_then(owned);
        }
    }
    if let Some((fp, order)) = &c.h2 {
        base.h2_fingerprint = owned(fp);
        base.h2_pseudo_order = owned(order);
    }
    if c.requests.is_empty() {
        out.push(base);
        return;
    }
    for (i, q) in c.requests.iter().enumerate() {
        let mut r = base.clone();
        request_fields(&mut r, q, i as u32);
        if r.host.is_none() {
            r.host = base.host.clone();
        }
        out.push(r);
    }
}

#[cfg(test)]
mod tests {
    use super::host_of;

    #[test]
    fn host_loses_its_port_only() {
        assert_eq!(host_of("example.org:8080"), "example.org");
        assert_eq!(host_of("example.org"), "example.org");
        assert_eq!(host_of("[2001:db8::1]:443"), "2001:db8::1");
    }
}
