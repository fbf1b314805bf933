//! RowBinary encoding of [`RequestRecord`]s for `http_logs` (ClickHouse's row format:
//! little-endian numbers, LEB128-prefixed strings, a null byte before every Nullable value,
//! IPv6 as 16 bytes in network order, DateTime64(3) as Int64 milliseconds).

use std::net::IpAddr;

use shrike_types::RequestRecord;

/// `http_logs` columns in the order [`encode`] writes them.
pub const HTTP_LOGS_COLUMNS: &[&str] = &[
    "time",
    "ingest_seq",
    "src_ip",
    "src_port",
    "dst_port",
    "host",
    "method",
    "path",
    "query",
    "http_version",
    "status",
    "bytes",
    "user_agent",
    "referer",
    "header_names",
    "header_names_known",
    "accept",
    "accept_language",
    "accept_encoding",
    "content_type",
    "has_cookie",
    "has_xff",
    "sec_ch_ua",
    "sec_ch_ua_mobile",
    "sec_ch_ua_platform",
    "sec_fetch_site",
    "sec_fetch_mode",
    "sec_fetch_dest",
    "sec_fetch_user",
    "conn_id",
    "keepalive_index",
    "ip_total_length",
    "ja4",
    "ja4_r",
    "ja3",
    "ja4h",
    "ja4t",
    "tls_version",
    "tls_alpn",
    "tls_sni",
    "tls_cipher",
    "tcp_ttl",
    "tcp_window",
    "tcp_window_scale",
    "tcp_mss",
    "tcp_options",
    "ip_id",
    "ip_df",
    "syn_ack_ms",
    "h2_fingerprint",
    "h2_pseudo_order",
    "asn",
    "asn_org",
    "country",
    "correlated",
];

/// The `INSERT` statement matching [`encode`] for table `table` (`db.http_logs`).
pub fn insert_statement(table: &str) -> String {
    format!(
        "INSERT INTO {table} ({}) FORMAT RowBinary",
        HTTP_LOGS_COLUMNS.join(", ")
    )
}

fn leb128(out: &mut Vec<u8>, mut n: usize) {
    loop {
        let b = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(b);
            return;
        }
        out.push(b | 0x80);
    }
}

fn string(out: &mut Vec<u8>, s: &str) {
    leb128(out, s.len());
    out.extend_from_slice(s.as_bytes());
}

fn opt_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(1),
        Some(s) => {
            out.push(0);
            string(out, s);
        }
    }
}

macro_rules! opt_num {
    ($name:ident, $t:ty) => {
        fn $name(out: &mut Vec<u8>, v: Option<$t>) {
            match v {
                None => out.push(1),
                Some(v) => {
                    out.push(0);
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }
        }
    };
}
opt_num!(opt_u8, u8);
opt_num!(opt_u16, u16);
opt_num!(opt_u32, u32);
opt_num!(opt_u64, u64);
opt_num!(opt_f64, f64);

fn s<'a>(v: &'a Option<std::borrow::Cow<'_, str>>) -> Option<&'a str> {
    v.as_deref()
}

fn opt_bool(out: &mut Vec<u8>, v: Option<bool>) {
    opt_u8(out, v.map(u8::from));
}

/// The 16 bytes of an address as ClickHouse's IPv6 (IPv4 as IPv4-mapped).
pub fn ipv6_bytes(ip: IpAddr) -> [u8; 16] {
    match ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped().octets(),
        IpAddr::V6(v6) => v6.octets(),
    }
}

/// The `ingest_seq` of line `line` of ingest batch `batch`: the Rust sessionizer's order
/// of requests within a millisecond.
pub fn ingest_seq(batch: u32, line: u64) -> u64 {
    u64::from(batch) << 40 | (line & ((1 << 40) - 1))
}

/// Appends one `http_logs` row. `seq` orders requests of the same millisecond (shrike's
/// input order). Returns `false`, writing nothing, for a record without a source address
/// (the session key needs one).
pub fn encode(out: &mut Vec<u8>, r: &RequestRecord<'_>, seq: u64) -> bool {
    let Some(ip) = r.src_ip else {
        return false;
    };
    out.extend_from_slice(&r.time.millis().to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    out.extend_from_slice(&ipv6_bytes(ip));
    opt_u16(out, r.src_port);
    opt_u16(out, r.dst_port);
    opt_str(out, s(&r.host));
    opt_str(out, r.method.map(|m| m.as_str()));
    opt_str(out, s(&r.path));
    opt_str(out, s(&r.query));
    opt_str(out, r.http_version.map(|v| v.as_str()));
    opt_u16(out, r.status);
    opt_u64(out, r.bytes);
    opt_str(out, s(&r.user_agent));
    opt_str(out, s(&r.referer));
    match &r.header_names {
        Some(hs) => {
            leb128(out, hs.len());
            for h in hs {
                string(out, h);
            }
            out.push(1);
        }
        None => out.extend_from_slice(&[0, 0]),
    }
    opt_str(out, s(&r.accept));
    opt_str(out, s(&r.accept_language));
    opt_str(out, s(&r.accept_encoding));
    opt_str(out, s(&r.content_type));
    opt_bool(out, r.has_cookie);
    opt_bool(out, r.has_xff);
    opt_str(out, s(&r.sec_ch_ua));
    opt_str(out, s(&r.sec_ch_ua_mobile));
    opt_str(out, s(&r.sec_ch_ua_platform));
    opt_str(out, s(&r.sec_fetch_site));
    opt_str(out, s(&r.sec_fetch_mode));
    opt_str(out, s(&r.sec_fetch_dest));
    opt_str(out, s(&r.sec_fetch_user));
    opt_str(out, s(&r.conn_id));
    opt_u32(out, r.keepalive_index);
    opt_u32(out, r.ip_total_length);
    opt_str(out, r.ja4.as_ref().map(|j| j.as_str()));
    opt_str(out, s(&r.ja4_r));
    opt_str(out, s(&r.ja3));
    opt_str(out, s(&r.ja4h));
    opt_str(out, s(&r.ja4t));
    opt_str(out, r.tls_version.map(|v| v.as_str()));
    opt_str(out, r.tls_alpn.map(|v| v.as_str()));
    opt_str(out, s(&r.tls_sni));
    opt_str(out, s(&r.tls_cipher));
    opt_u8(out, r.tcp_ttl);
    opt_u32(out, r.tcp_window);
    opt_u8(out, r.tcp_window_scale);
    opt_u16(out, r.tcp_mss);
    opt_str(out, s(&r.tcp_options));
    opt_u32(out, r.ip_id);
    opt_bool(out, r.ip_df);
    opt_f64(out, r.syn_ack_ms);
    opt_str(out, s(&r.h2_fingerprint));
    opt_str(out, s(&r.h2_pseudo_order));
    opt_u32(out, r.asn);
    opt_str(out, s(&r.asn_org));
    opt_str(out, r.country.as_ref().map(|c| c.as_str()));
    opt_bool(out, r.correlated);
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_are_leb128_and_nulls_are_flagged() {
        let mut v = Vec::new();
        leb128(&mut v, 300);
        assert_eq!(v, [0xac, 0x02]);
        let mut v = Vec::new();
        opt_str(&mut v, None);
        opt_str(&mut v, Some("ab"));
        opt_u16(&mut v, Some(443));
        assert_eq!(v, [1, 0, 2, b'a', b'b', 0, 0xbb, 0x01]);
        assert_eq!(
            ipv6_bytes("1.2.3.4".parse().unwrap())[10..],
            [0xff, 0xff, 1, 2, 3, 4]
        );
        let mut v = Vec::new();
        assert!(!encode(&mut v, &RequestRecord::default(), 0) && v.is_empty());
    }
}
