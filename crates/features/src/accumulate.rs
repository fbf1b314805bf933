//! Mergeable per-session and per-(window, IP) accumulators.
//!
//! Every piece of state merges exactly, so that splitting the input in any way (threads,
//! chunks, successive runs) gives the same result: counts add, maxima take the max,
//! distinct counts are sets of keyed 64-bit hashes, variances come from integer sums
//! (exact whatever the order), and "the session's first value" is an argMin over
//! `(time, input order)`.

use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

use serde::{Deserialize, Serialize};
use shrike_types::{Alpn, HttpVersion, Method, RequestRecord, TlsVersion};

use crate::hash::HashKey;
use crate::request;
use crate::sequence::SeqBuffer;

/// Position of a record: `(time in ms, input order)`; smaller is earlier.
pub(crate) type Order = (i64, u64);
pub(crate) const NEVER: Order = (i64::MAX, u64::MAX);

/// Hasher for values that are already keyed hashes.
#[derive(Default)]
pub(crate) struct IdHasher(u64);
impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | *b as u64;
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
    fn write_u128(&mut self, n: u128) {
        self.0 = n as u64 ^ (n >> 64) as u64;
    }
}
pub(crate) type IdBuild = BuildHasherDefault<IdHasher>;

/// A set of keyed 64-bit hashes (exact distinct count up to collisions of a keyed hash).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct U64Set(HashSet<u64, IdBuild>);

impl U64Set {
    pub fn insert(&mut self, h: u64) {
        self.0.insert(h);
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn merge(&mut self, other: &U64Set) {
        self.0.extend(other.0.iter().copied());
    }
    pub fn iter(&self) -> impl Iterator<Item = &u64> {
        self.0.iter()
    }
    pub fn contains(&self, h: &u64) -> bool {
        self.0.contains(h)
    }
}

impl Serialize for U64Set {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut v: Vec<u64> = self.0.iter().copied().collect();
        v.sort_unstable();
        v.serialize(s)
    }
}

impl<'de> Deserialize<'de> for U64Set {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let v = Vec::<u64>::deserialize(d)?;
        Ok(U64Set(v.into_iter().collect()))
    }
}

/// Count, sum and sum of squares of integer observations: an exact population variance.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Moments {
    n: u64,
    sum: i128,
    sumsq: i128,
}

impl Moments {
    pub fn push(&mut self, x: i64) {
        self.n += 1;
        self.sum += x as i128;
        self.sumsq += (x as i128) * (x as i128);
    }
    pub fn merge(&mut self, o: &Moments) {
        self.n += o.n;
        self.sum += o.sum;
        self.sumsq += o.sumsq;
    }
    /// Mean, or 0 without observations.
    pub fn mean(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            self.sum as f64 / self.n as f64
        }
    }
    /// Population variance, or 0 without observations.
    pub fn var_pop(&self) -> f64 {
        if self.n == 0 {
            return 0.0;
        }
        let n = self.n as i128;
        let num = n * self.sumsq - self.sum * self.sum;
        (num.max(0) as f64) / (n as f64 * n as f64)
    }
}

/// Counters of the session aggregate (one per seed `count_*` column).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(usize)]
pub(crate) enum Counter {
    Post,
    Head,
    Orphan,
    IpIdZero,
    Mss1460,
    Asset,
    NoReferer,
    AnomalousPayload,
    Tls12,
    NoSecFetch,
    GenericAccept,
    Http10,
    NoWindowScale,
    Correlated,
    NoAcceptEncoding,
    HttpScheme,
    Xff,
    UnusualContentType,
    NonStandardPort,
    LoginPost,
}
const N_COUNTERS: usize = Counter::LoginPost as usize + 1;

/// The session's values taken from its earliest request.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct FirstValues {
    pub user_agent: String,
    pub http_version: Option<HttpVersion>,
    pub alpn: Option<Alpn>,
    pub sni: String,
    pub tcp_fingerprint: String,
    pub tcp_window: Option<u32>,
    pub tcp_window_scale: Option<u8>,
    pub tcp_mss: Option<u16>,
    pub asn: Option<u32>,
    pub asn_org: String,
    pub country: String,
}

/// Aggregate of one session (hour window, source IP, JA4, host).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SessionAcc {
    pub first_at: Order,
    pub first: FirstValues,
    pub last_seen: i64,
    pub hits: u64,
    pub counters: [u64; N_COUNTERS],
    pub correlated: bool,
    pub max_keepalive: u32,
    pub paths: U64Set,
    pub queries: U64Set,
    pub src_ports: U64Set,
    pub conn_ids: U64Set,
    pub user_agents: U64Set,
    pub ja3s: U64Set,
    /// SYN→ACK in microseconds.
    pub syn_us: Moments,
    pub size: Moments,
    pub depth: Moments,
    pub df: Moments,
    pub ttl: Moments,
    pub seq: SeqBuffer,
}

impl Default for SessionAcc {
    fn default() -> Self {
        SessionAcc {
            first_at: NEVER,
            first: FirstValues::default(),
            last_seen: i64::MIN,
            hits: 0,
            counters: [0; N_COUNTERS],
            correlated: false,
            max_keepalive: 0,
            paths: U64Set::default(),
            queries: U64Set::default(),
            src_ports: U64Set::default(),
            conn_ids: U64Set::default(),
            user_agents: U64Set::default(),
            ja3s: U64Set::default(),
            syn_us: Moments::default(),
            size: Moments::default(),
            depth: Moments::default(),
            df: Moments::default(),
            ttl: Moments::default(),
            seq: SeqBuffer::default(),
        }
    }
}

fn s(v: &Option<std::borrow::Cow<'_, str>>) -> String {
    v.as_deref().unwrap_or("").to_string()
}

impl SessionAcc {
    pub fn count(&self, c: Counter) -> u64 {
        self.counters[c as usize]
    }

    fn bump(&mut self, c: Counter, cond: bool) {
        self.counters[c as usize] += cond as u64;
    }

    pub fn update(&mut self, r: &RequestRecord<'_>, order: Order, key: &HashKey) {
        let t = order.0;
        if order < self.first_at {
            self.first_at = order;
            let tcp_fingerprint = match (r.tcp_window, r.ja4t.as_deref()) {
                (Some(w), _) => shrike_fingerprint::tcp_fingerprint(
                    w,
                    r.tcp_options.as_deref().unwrap_or(""),
                    r.tcp_mss,
                    r.tcp_window_scale,
                ),
                (None, Some(ja4t)) => ja4t.to_string(),
                (None, None) => String::new(),
            };
            self.first = FirstValues {
                user_agent: s(&r.user_agent),
                http_version: r.http_version,
                alpn: r.tls_alpn,
                sni: s(&r.tls_sni),
                tcp_fingerprint,
                tcp_window: r.tcp_window,
                tcp_window_scale: r.tcp_window_scale,
                tcp_mss: r.tcp_mss,
                asn: r.asn,
                asn_org: s(&r.asn_org),
                country: r
                    .country
                    .map(|c| c.as_str().to_string())
                    .unwrap_or_default(),
            };
        }
        self.last_seen = self.last_seen.max(t);
        self.hits += 1;
        let path = r.path.as_deref().unwrap_or("");
        let query = r.query.as_deref().unwrap_or("");
        let correlated = r.correlated == Some(true);
        use Counter::*;
        self.bump(Post, r.method == Some(Method::Post));
        self.bump(Head, r.method == Some(Method::Head));
        self.bump(Orphan, !correlated);
        self.bump(IpIdZero, r.ip_id == Some(0));
        self.bump(Mss1460, r.tcp_mss == Some(1460));
        self.bump(Asset, request::is_asset(path));
        self.bump(NoReferer, r.referer.as_deref().is_none_or(str::is_empty));
        self.bump(AnomalousPayload, request::is_anomalous_payload(path, query));
        self.bump(Tls12, r.tls_version == Some(TlsVersion::Tls12));
        self.bump(
            NoSecFetch,
            r.sec_fetch_site.is_none()
                && r.sec_fetch_mode.is_none()
                && r.sec_fetch_dest.is_none()
                && r.sec_fetch_user.is_none(),
        );
        self.bump(GenericAccept, request::is_generic_accept(r.accept.as_ref()));
        self.bump(Http10, r.http_version == Some(HttpVersion::Http10));
        self.bump(NoWindowScale, correlated && r.tcp_window_scale.is_none());
        self.bump(Correlated, correlated);
        self.bump(
            NoAcceptEncoding,
            r.accept_encoding.as_deref().is_none_or(str::is_empty),
        );
        self.bump(HttpScheme, request::is_http_scheme(r));
        self.bump(Xff, r.has_xff == Some(true));
        let post = r.method == Some(Method::Post);
        self.bump(
            UnusualContentType,
            post && request::is_unusual_content_type(r.content_type.as_ref()),
        );
        self.bump(
            NonStandardPort,
            r.dst_port.is_some_and(|p| p != 80 && p != 443),
        );
        self.bump(LoginPost, request::is_login_post(r.method, path));
        self.correlated |= correlated;
        if let Some(k) = r.keepalive_index {
            self.max_keepalive = self.max_keepalive.max(k);
        }
        let path_hash = key.hash(path.as_bytes());
        self.paths.insert(path_hash);
        if !query.is_empty() {
            self.queries.insert(key.hash(query.as_bytes()));
        }
        if let Some(p) = r.src_port {
            self.src_ports.insert(p as u64);
        }
        if let Some(c) = r.conn_id.as_deref() {
            self.conn_ids.insert(key.hash(c.as_bytes()));
        }
        if let Some(ua) = r.user_agent.as_deref() {
            self.user_agents.insert(key.hash(ua.as_bytes()));
        }
        if let Some(j) = r.ja3.as_deref().filter(|j| !j.is_empty()) {
            self.ja3s.insert(key.hash(j.as_bytes()));
        }
        if let Some(ms) = r.syn_ack_ms {
            self.syn_us.push((ms * 1000.0).round() as i64);
        }
        if let Some(l) = r.ip_total_length {
            self.size.push(l as i64);
        }
        self.depth.push(request::url_depth(path) as i64);
        if let Some(df) = r.ip_df {
            self.df.push(df as i64);
        }
        if let Some(ttl) = r.tcp_ttl {
            self.ttl.push(ttl as i64);
        }
        self.seq.push(order, path_hash);
    }

    pub fn merge(&mut self, o: &SessionAcc) {
        if o.first_at < self.first_at {
            self.first_at = o.first_at;
            self.first = o.first.clone();
        }
        self.last_seen = self.last_seen.max(o.last_seen);
        self.hits += o.hits;
        for (a, b) in self.counters.iter_mut().zip(o.counters.iter()) {
            *a += b;
        }
        self.correlated |= o.correlated;
        self.max_keepalive = self.max_keepalive.max(o.max_keepalive);
        self.paths.merge(&o.paths);
        self.queries.merge(&o.queries);
        self.src_ports.merge(&o.src_ports);
        self.conn_ids.merge(&o.conn_ids);
        self.user_agents.merge(&o.user_agents);
        self.ja3s.merge(&o.ja3s);
        self.syn_us.merge(&o.syn_us);
        self.size.merge(&o.size);
        self.depth.merge(&o.depth);
        self.df.merge(&o.df);
        self.ttl.merge(&o.ttl);
        self.seq.merge(&o.seq);
    }
}

/// -1 unknown, 0 no, 1 yes: `max` merges them correctly.
fn tri(v: Option<bool>) -> i8 {
    v.map_or(-1, i8::from)
}

/// Aggregate of one source IP in one hour window (the seed's header-fingerprint and
/// HTTP/2 aggregations, joined to sessions on (window, IP)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct IpWindowAcc {
    pub first_at: Order,
    /// Lower-cased header names of the earliest request, comma-joined ("" when unknown).
    pub header_order: String,
    pub sec_fetch_mode: String,
    pub sec_fetch_dest: String,
    pub header_count: u32,
    pub has_accept_language: i8,
    pub has_cookie: i8,
    pub has_referer: i8,
    pub has_sec_ch_ua: i8,
    pub ua_ch_mismatch: i8,
    pub sec_ch_mobile_mismatch: i8,
    pub modern_browser_score: f32,
    pub h2_at: Order,
    pub h2_fingerprint: String,
    pub h2_order_at: Order,
    pub h2_pseudo_order: String,
}

impl Default for IpWindowAcc {
    fn default() -> Self {
        IpWindowAcc {
            first_at: NEVER,
            header_order: String::new(),
            sec_fetch_mode: String::new(),
            sec_fetch_dest: String::new(),
            header_count: 0,
            has_accept_language: -1,
            has_cookie: -1,
            has_referer: -1,
            has_sec_ch_ua: -1,
            ua_ch_mismatch: -1,
            sec_ch_mobile_mismatch: -1,
            modern_browser_score: 0.0,
            h2_at: NEVER,
            h2_fingerprint: String::new(),
            h2_order_at: NEVER,
            h2_pseudo_order: String::new(),
        }
    }
}

impl IpWindowAcc {
    pub fn update(&mut self, r: &RequestRecord<'_>, order: Order) {
        if order < self.first_at {
            self.first_at = order;
            self.header_order = r
                .header_names
                .as_ref()
                .map(|hs| {
                    hs.iter()
                        .map(|h| h.to_ascii_lowercase())
                        .collect::<Vec<_>>()
                        .join(",")
                })
                .unwrap_or_default();
            self.sec_fetch_mode = s(&r.sec_fetch_mode);
            self.sec_fetch_dest = s(&r.sec_fetch_dest);
        }
        self.header_count = self
            .header_count
            .max(r.header_names.as_ref().map_or(0, |h| h.len() as u32));
        self.has_accept_language = self.has_accept_language.max(tri(
            r.header_presence(r.accept_language.as_ref(), "accept-language")
        ));
        self.has_cookie = self
            .has_cookie
            .max(tri(r.has_cookie.or_else(|| r.header_listed("cookie"))));
        self.has_referer = self
            .has_referer
            .max(tri(r.header_presence(r.referer.as_ref(), "referer")));
        self.has_sec_ch_ua = self
            .has_sec_ch_ua
            .max(tri(r.header_presence(r.sec_ch_ua.as_ref(), "sec-ch-ua")));
        self.ua_ch_mismatch = self.ua_ch_mismatch.max(tri(request::ua_ch_mismatch(r)));
        self.sec_ch_mobile_mismatch = self
            .sec_ch_mobile_mismatch
            .max(tri(request::sec_ch_mobile_mismatch(r)));
        self.modern_browser_score = self
            .modern_browser_score
            .max(request::modern_browser_score(r));
        if let Some(fp) = r.h2_fingerprint.as_deref().filter(|f| !f.is_empty()) {
            if order < self.h2_at {
                self.h2_at = order;
                self.h2_fingerprint = fp.to_string();
            }
        }
        if let Some(po) = r.h2_pseudo_order.as_deref().filter(|f| !f.is_empty()) {
            if order < self.h2_order_at {
                self.h2_order_at = order;
                self.h2_pseudo_order = po.to_string();
            }
        }
    }

    pub fn merge(&mut self, o: &IpWindowAcc) {
        if o.first_at < self.first_at {
            self.first_at = o.first_at;
            self.header_order = o.header_order.clone();
            self.sec_fetch_mode = o.sec_fetch_mode.clone();
            self.sec_fetch_dest = o.sec_fetch_dest.clone();
        }
        self.header_count = self.header_count.max(o.header_count);
        self.has_accept_language = self.has_accept_language.max(o.has_accept_language);
        self.has_cookie = self.has_cookie.max(o.has_cookie);
        self.has_referer = self.has_referer.max(o.has_referer);
        self.has_sec_ch_ua = self.has_sec_ch_ua.max(o.has_sec_ch_ua);
        self.ua_ch_mismatch = self.ua_ch_mismatch.max(o.ua_ch_mismatch);
        self.sec_ch_mobile_mismatch = self.sec_ch_mobile_mismatch.max(o.sec_ch_mobile_mismatch);
        self.modern_browser_score = self.modern_browser_score.max(o.modern_browser_score);
        if o.h2_at < self.h2_at {
            self.h2_at = o.h2_at;
            self.h2_fingerprint = o.h2_fingerprint.clone();
        }
        if o.h2_order_at < self.h2_order_at {
            self.h2_order_at = o.h2_order_at;
            self.h2_pseudo_order = o.h2_pseudo_order.clone();
        }
    }

    /// The effective pseudo-header order: the explicit one, else the fingerprint's last part.
    pub fn pseudo_order(&self) -> &str {
        if !self.h2_pseudo_order.is_empty() {
            &self.h2_pseudo_order
        } else {
            self.h2_fingerprint
                .rsplit('|')
                .next()
                .filter(|_| self.h2_fingerprint.contains('|'))
                .unwrap_or("")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn moments_are_exact_and_order_free() {
        let mut a = Moments::default();
        let mut b = Moments::default();
        let mut all = Moments::default();
        for (i, x) in [3i64, 7, 7, 1, 1_000_000, -4].iter().enumerate() {
            all.push(*x);
            if i % 2 == 0 {
                a.push(*x)
            } else {
                b.push(*x)
            }
        }
        a.merge(&b);
        assert_eq!(a, all);
        let xs = [3.0, 7.0, 7.0, 1.0, 1_000_000.0, -4.0];
        let m = xs.iter().sum::<f64>() / 6.0;
        let v = xs.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / 6.0;
        assert!((all.var_pop() - v).abs() / v < 1e-12);
        assert_eq!(Moments::default().var_pop(), 0.0);
    }
}
