//! From accumulated state to [`SessionFeatures`]: per-session formulas, the (window, IP)
//! join, cohort features over the horizon and sequence features.

use std::collections::{HashMap, HashSet};
use std::net::IpAddr;

use shrike_dict::{AsnLabel, Dictionaries};
use shrike_types::{math, Alpn, HttpVersion, Timestamp, HOUR_MS};

use crate::accumulate::{Counter, IpWindowAcc, SessionAcc, U64Set};
use crate::catalogue::FeatureId;
use crate::sequence::{ja4_drift, session_sequence, SeqEvent};
use crate::sessionizer::{SessionKey, Sessionizer};

/// Which sessions to compute and against which cohort.
#[derive(Debug, Clone, Copy)]
pub struct FinishOptions {
    /// End of the horizon; `None` = the newest request seen (never the wall clock).
    pub at: Option<Timestamp>,
    /// Horizon length in hours (seed: 24).
    pub horizon_hours: u32,
}

impl Default for FinishOptions {
    fn default() -> Self {
        FinishOptions {
            at: None,
            horizon_hours: 24,
        }
    }
}

/// One session with its enrichment and its feature vector.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionFeatures {
    /// Identity.
    pub key: SessionKey,
    /// First request time.
    pub first_seen: Timestamp,
    /// Last request time.
    pub last_seen: Timestamp,
    /// AS number (0 when unknown).
    pub asn: u32,
    /// AS organisation.
    pub asn_org: String,
    /// Country code or "".
    pub country: String,
    /// ASN reputation.
    pub asn_label: AsnLabel,
    /// Known-bot name from bot_ip / bot_ja4, or "".
    pub bot_name: String,
    /// Browser family of the JA4, or "".
    pub browser_family: String,
    /// Whether any request had its TCP/TLS side matched.
    pub correlated: bool,
    /// User agent of the first request.
    pub user_agent: String,
    /// SYN fingerprint (JA4T layout) of the first request.
    pub tcp_fingerprint: String,
    /// 16-hex-digit hash of the IP's header order in the window ("" when unknown).
    pub header_order_hash: String,
    /// Akamai HTTP/2 fingerprint of the IP in the window.
    pub h2_fingerprint: String,
    /// Feature values indexed by [`FeatureId::index`]; all finite.
    pub values: [f32; FeatureId::COUNT],
}

impl SessionFeatures {
    /// The value of one feature.
    pub fn get(&self, f: FeatureId) -> f32 {
        self.values[f.index()]
    }
}

fn ratio(n: u64, d: u64) -> f64 {
    n as f64 / (d as f64 + 1.0)
}

struct Base<'a> {
    key: &'a SessionKey,
    acc: &'a SessionAcc,
    ipw: Option<&'a IpWindowAcc>,
    asn: u32,
    asn_org: String,
    country: String,
    hoh: String,
}

impl Sessionizer {
    /// Newest request time seen.
    pub fn newest(&self) -> Option<Timestamp> {
        self.sessions
            .iter()
            .map(|(_, a)| a.last_seen)
            .max()
            .map(Timestamp::from_millis)
    }

    /// Computes the features of every session whose window lies in the horizon, sorted by key.
    pub fn finish(&self, dict: &Dictionaries, opts: &FinishOptions) -> Vec<SessionFeatures> {
        let Some(at) = opts.at.or_else(|| self.newest()) else {
            return Vec::new();
        };
        let lo = at.millis() - opts.horizon_hours as i64 * HOUR_MS;
        let ipw: HashMap<(i64, IpAddr), &IpWindowAcc> =
            self.ip_windows.iter().map(|(k, a)| (*k, a)).collect();
        let mut selected: Vec<&(SessionKey, SessionAcc)> = self
            .sessions
            .iter()
            .filter(|(k, _)| {
                k.window_start.millis() >= lo && k.window_start.millis() <= at.millis()
            })
            .collect();
        selected.sort_by(|a, b| a.0.cmp(&b.0));
        let key = self.hash_key();
        let bases: Vec<Base<'_>> = par_map(&selected, |(k, a)| {
            let looked = dict.ip_asn.get(k.src_ip);
            let asn = a.first.asn.or(looked.map(|i| i.asn)).unwrap_or(0);
            let asn_org = if a.first.asn_org.is_empty() {
                looked.map(|i| i.org.clone()).unwrap_or_default()
            } else {
                a.first.asn_org.clone()
            };
            let country = if a.first.country.is_empty() {
                looked.map(|i| i.country.clone()).unwrap_or_default()
            } else {
                a.first.country.clone()
            };
            let w = ipw.get(&(k.window_start.millis(), k.src_ip)).copied();
            let hoh = w
                .filter(|w| !w.header_order.is_empty())
                .map(|w| format!("{:016x}", key.hash(w.header_order.as_bytes())))
                .unwrap_or_default();
            Base {
                key: k,
                acc: a,
                ipw: w,
                asn,
                asn_org,
                country,
                hoh,
            }
        });
        let cohort = Cohort::build(&bases);
        let ip_seq = IpSequence::build(&bases);
        par_map(&bases, |b| compute(b, dict, &cohort, &ip_seq))
    }
}

/// `f` of every item, in order, over the machine's cores (each item on its own: the
/// result does not depend on the split).
fn par_map<T: Sync, U: Send>(items: &[T], f: impl Fn(&T) -> U + Sync) -> Vec<U> {
    let workers = std::thread::available_parallelism().map_or(1, |n| n.get());
    if workers <= 1 || items.len() < 4096 {
        return items.iter().map(f).collect();
    }
    let per = items.len().div_ceil(workers);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = items
            .chunks(per)
            .map(|chunk| s.spawn(move || chunk.iter().map(f).collect::<Vec<U>>()))
            .collect();
        parts
            .into_iter()
            .flat_map(|p| p.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
            .collect()
    })
}

/// The seed view's `OVER (PARTITION BY ...)` aggregates over the horizon.
#[derive(Default)]
struct Cohort<'a> {
    ip_hits: HashMap<IpAddr, u64>,
    ip_ja4s: HashMap<IpAddr, HashSet<&'a str>>,
    ip_hohs: HashMap<IpAddr, HashSet<&'a str>>,
    ip_ja3_sum: HashMap<IpAddr, u64>,
    ip_entropy: HashMap<IpAddr, f64>,
    tcp_count: HashMap<&'a str, u64>,
    hoh_count: HashMap<&'a str, u64>,
    ja4_hits: HashMap<&'a str, u64>,
    ja4_count: HashMap<&'a str, u64>,
    ja4_asn_hits: HashMap<(&'a str, u32), u64>,
    ja4_country_hits: HashMap<(&'a str, &'a str), u64>,
    hoh_ja4_count: HashMap<(&'a str, &'a str), u64>,
}

impl<'a> Cohort<'a> {
    fn build(bases: &'a [Base<'a>]) -> Self {
        let mut c = Cohort::default();
        for b in bases {
            let ip = b.key.src_ip;
            let ja4 = b.key.ja4_str();
            *c.ip_hits.entry(ip).or_default() += b.acc.hits;
            c.ip_ja4s.entry(ip).or_default().insert(ja4);
            c.ip_hohs.entry(ip).or_default().insert(b.hoh.as_str());
            *c.ip_ja3_sum.entry(ip).or_default() += b.acc.ja3s.len() as u64;
            *c.tcp_count
                .entry(b.acc.first.tcp_fingerprint.as_str())
                .or_default() += 1;
            *c.hoh_count.entry(b.hoh.as_str()).or_default() += 1;
            *c.ja4_hits.entry(ja4).or_default() += b.acc.hits;
            *c.ja4_count.entry(ja4).or_default() += 1;
            *c.ja4_asn_hits.entry((ja4, b.asn)).or_default() += b.acc.hits;
            *c.ja4_country_hits
                .entry((ja4, b.country.as_str()))
                .or_default() += b.acc.hits;
            *c.hoh_ja4_count.entry((b.hoh.as_str(), ja4)).or_default() += 1;
        }
        // Sessions are sorted by key, so this sum runs in a fixed order.
        for b in bases {
            let total = c.ip_hits[&b.key.src_ip];
            let p = b.acc.hits as f64 / (total as f64 + 1.0);
            *c.ip_entropy.entry(b.key.src_ip).or_default() -= p * math::log2(p + 1e-6);
        }
        c
    }
}

/// IP-level sequence features per (window, IP).
#[derive(Default)]
struct IpSequence {
    by_ip: HashMap<(i64, IpAddr), [f64; 5]>,
}

impl IpSequence {
    fn build(bases: &[Base<'_>]) -> Self {
        let mut groups: HashMap<(i64, IpAddr), Vec<&Base<'_>>> = HashMap::new();
        for b in bases {
            groups
                .entry((b.key.window_start.millis(), b.key.src_ip))
                .or_default()
                .push(b);
        }
        let mut out = IpSequence::default();
        for (k, members) in groups {
            let mut host_hits: Vec<(&str, u64)> = Vec::new();
            let mut host_paths: Vec<(&str, U64Set)> = Vec::new();
            let (mut first, mut last) = (i64::MAX, i64::MIN);
            let mut ja4_ids: Vec<&str> = Vec::new();
            let mut tagged: Vec<(SeqEvent, u32)> = Vec::new();
            for b in &members {
                first = first.min(b.acc.first_at.0);
                last = last.max(b.acc.last_seen);
                let host = b.key.host.as_str();
                match host_hits.iter_mut().find(|(h, _)| *h == host) {
                    Some(e) => e.1 += b.acc.hits,
                    None => host_hits.push((host, b.acc.hits)),
                }
                match host_paths.iter_mut().find(|(h, _)| *h == host) {
                    Some(e) => e.1.merge(&b.acc.paths),
                    None => host_paths.push((host, b.acc.paths.clone())),
                }
                let id = match ja4_ids.iter().position(|j| *j == b.key.ja4_str()) {
                    Some(i) => i,
                    None => {
                        ja4_ids.push(b.key.ja4_str());
                        ja4_ids.len() - 1
                    }
                } as u32;
                tagged.extend(b.acc.seq.sorted().into_iter().map(|e| (e, id)));
            }
            let hosts = host_hits.len() as f64;
            let span_min = (last - first).max(0) as f64 / 60_000.0;
            let total: u64 = host_hits.iter().map(|(_, h)| h).sum();
            let uniformity = if host_hits.len() > 1 {
                let h: f64 = host_hits
                    .iter()
                    .map(|(_, n)| *n as f64 / total as f64)
                    .filter(|p| *p > 0.0)
                    .map(|p| -p * math::log2(p))
                    .sum();
                h / math::log2(hosts)
            } else {
                0.0
            };
            // Jaccard over at most the 32 busiest hosts (pairs grow quadratically).
            host_paths.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
            host_paths.truncate(32);
            let mut jac = 0.0;
            let mut pairs = 0;
            for i in 0..host_paths.len() {
                for j in i + 1..host_paths.len() {
                    let (a, b) = (&host_paths[i].1, &host_paths[j].1);
                    let (small, large) = if a.len() <= b.len() { (a, b) } else { (b, a) };
                    let inter = small.iter().filter(|h| large.contains(h)).count();
                    let union = a.len() + b.len() - inter;
                    jac += if union == 0 {
                        0.0
                    } else {
                        inter as f64 / union as f64
                    };
                    pairs += 1;
                }
            }
            let jaccard = if pairs == 0 { 0.0 } else { jac / pairs as f64 };
            let drift = ja4_drift(&mut tagged);
            out.by_ip.insert(
                k,
                [
                    hosts,
                    hosts / (span_min + 1.0),
                    uniformity.clamp(0.0, 1.0),
                    jaccard,
                    drift,
                ],
            );
        }
        out
    }
}

fn compute(
    b: &Base<'_>,
    dict: &Dictionaries,
    c: &Cohort<'_>,
    ip_seq: &IpSequence,
) -> SessionFeatures {
    use FeatureId as F;
    let a = b.acc;
    let k = b.key;
    let ja4 = k.ja4_str();
    let mut v = [0f64; FeatureId::COUNT];
    let mut set = |f: FeatureId, x: f64| v[f.index()] = x;
    let hits = a.hits;
    let duration = (a.last_seen.div_euclid(1000) - a.first_at.0.div_euclid(1000)).max(0) as f64;
    let n = |ct: Counter| a.count(ct);
    set(F::Hits, hits as f64);
    set(F::PostRatio, ratio(n(Counter::Post), hits));
    set(
        F::FuzzingIndex,
        ratio(a.queries.len() as u64, a.paths.len() as u64),
    );
    set(F::HitVelocity, hits as f64 / (duration + 1.0));
    set(
        F::PortExhaustionRatio,
        ratio(a.src_ports.len() as u64, hits),
    );
    set(F::OrphanRatio, ratio(n(Counter::Orphan), hits));
    set(F::IpIdZeroRatio, ratio(n(Counter::IpIdZero), hits));
    set(
        F::MultiplexingEfficiency,
        ratio(hits, a.conn_ids.len() as u64),
    );
    let has_ch = b.ipw.map_or(-1, |w| w.has_sec_ch_ua);
    set(
        F::MssMobileMismatch,
        f64::from(n(Counter::Mss1460) as f64 > hits as f64 * 0.8 && has_ch > 0),
    );
    set(F::RequestSizeVariance, a.size.var_pop());
    let alpn_http_mismatch =
        a.first.alpn == Some(Alpn::H2) && a.first.http_version != Some(HttpVersion::Http2);
    set(F::AlpnHttpMismatch, f64::from(alpn_http_mismatch));
    set(F::IsAlpnMissing, f64::from(a.first.alpn.is_none()));
    let sni_host_mismatch = !a.first.sni.is_empty() && !a.first.sni.eq_ignore_ascii_case(&k.host);
    set(F::SniHostMismatch, f64::from(sni_host_mismatch));
    let fake_nav = b
        .ipw
        .is_some_and(|w| w.sec_fetch_mode == "navigate" && w.sec_fetch_dest != "document");
    set(F::IsFakeNavigation, f64::from(fake_nav));
    set(
        F::TcpSharedCount,
        c.tcp_count[a.first.tcp_fingerprint.as_str()] as f64,
    );
    set(
        F::HeaderOrderSharedCount,
        c.hoh_count[b.hoh.as_str()] as f64,
    );
    set(F::AssetRatio, ratio(n(Counter::Asset), hits));
    set(F::DirectAccessRatio, ratio(n(Counter::NoReferer), hits));
    set(F::IsUaRotating, f64::from(a.user_agents.len() > 2));
    let distinct_ja4 = c.ip_ja4s[&k.src_ip].len() as f64;
    set(F::DistinctJa4Count, distinct_ja4);
    set(
        F::SrcPortDensity,
        (hits as f64 / (a.src_ports.len() as f64 + 1.0)) / (duration + 1.0),
    );
    let ja4_hits = c.ja4_hits[ja4] as f64;
    set(
        F::Ja4AsnConcentration,
        c.ja4_asn_hits[&(ja4, b.asn)] as f64 / (ja4_hits + 1.0),
    );
    set(
        F::Ja4CountryConcentration,
        c.ja4_country_hits[&(ja4, b.country.as_str())] as f64 / (ja4_hits + 1.0),
    );
    set(F::IsRareJa4, f64::from(ja4_hits < 100.0));
    set(
        F::HeaderOrderConfidence,
        c.hoh_ja4_count[&(b.hoh.as_str(), ja4)] as f64 / (c.ja4_count[ja4] as f64 + 1.0),
    );
    set(F::DistinctHeaderOrders, c.ip_hohs[&k.src_ip].len() as f64);
    set(F::PathDiversityRatio, ratio(a.paths.len() as u64, hits));
    set(F::UrlDepthVariance, a.depth.var_pop());
    set(
        F::AnomalousPayloadRatio,
        ratio(n(Counter::AnomalousPayload), hits),
    );
    let jitter_var = a.syn_us.var_pop() / 1e6;
    set(F::TcpJitterVariance, jitter_var);
    set(
        F::SynTimingCv,
        jitter_var.sqrt() / (a.syn_us.mean() / 1000.0).max(1.0),
    );
    set(F::Tls12Ratio, ratio(n(Counter::Tls12), hits));
    set(F::HeadRatio, ratio(n(Counter::Head), hits));
    set(F::SecFetchAbsenceRate, ratio(n(Counter::NoSecFetch), hits));
    set(
        F::GenericAcceptRatio,
        ratio(n(Counter::GenericAccept), hits),
    );
    set(F::Http10Ratio, ratio(n(Counter::Http10), hits));
    set(F::IpDfVariance, a.df.var_pop());
    set(F::AvgTtl, a.ttl.mean());
    set(F::TtlStd, a.ttl.var_pop().sqrt());
    let correlated_n = n(Counter::Correlated);
    set(
        F::NoWindowScaleRatio,
        if correlated_n > 0 {
            n(Counter::NoWindowScale) as f64 / correlated_n as f64
        } else {
            0.0
        },
    );
    set(
        F::MissingAcceptEncRatio,
        ratio(n(Counter::NoAcceptEncoding), hits),
    );
    set(F::HttpSchemeRatio, ratio(n(Counter::HttpScheme), hits));
    set(F::HasXff, f64::from(n(Counter::Xff) > 0));
    let posts = n(Counter::Post).max(1) as f64;
    set(
        F::UnusualContentTypeRatio,
        n(Counter::UnusualContentType) as f64 / posts,
    );
    set(
        F::NonStandardPortRatio,
        ratio(n(Counter::NonStandardPort), hits),
    );
    set(
        F::LoginPostConcentration,
        n(Counter::LoginPost) as f64 / posts,
    );
    set(
        F::SecChMobileMismatch,
        b.ipw.map_or(-1, |w| w.sec_ch_mobile_mismatch) as f64,
    );
    let window = a.first.tcp_window.unwrap_or(0) as f64;
    set(
        F::TrueWindowSize,
        window * 2f64.powi(a.first.tcp_window_scale.unwrap_or(0) as i32),
    );
    set(
        F::WindowMssRatio,
        match a.first.tcp_mss {
            Some(m) if m > 0 => window / m as f64,
            _ => 0.0,
        },
    );
    set(F::MaxKeepalives, a.max_keepalive as f64);
    let w = b.ipw;
    set(F::HeaderCount, w.map_or(0, |w| w.header_count) as f64);
    let has_lang = w.map_or(-1, |w| w.has_accept_language);
    set(F::HasAcceptLanguage, has_lang as f64);
    set(F::HasCookie, w.map_or(-1, |w| w.has_cookie) as f64);
    set(F::HasReferer, w.map_or(-1, |w| w.has_referer) as f64);
    set(
        F::ModernBrowserScore,
        w.map_or(0.0, |w| w.modern_browser_score) as f64,
    );
    set(F::HasSecChUa, has_ch as f64);
    let ua_ch = w.map_or(-1, |w| w.ua_ch_mismatch);
    set(F::UaChMismatch, ua_ch as f64);
    let h2_fp = w.map_or("", |w| w.h2_fingerprint.as_str());
    let h2_family = dict.h2_family(h2_fp);
    let order = w.map_or("", |w| w.pseudo_order());
    // The JA4's family, exactly or by structure (a shape alone needs HTTP/2's agreement).
    let family = dict
        .browser_family_with_h2(ja4, h2_fp, order)
        .map_or("", |m| m.family);
    set(
        F::H2SettingsKnown,
        f64::from(!h2_fp.is_empty() && !h2_family.is_empty()),
    );
    set(
        F::H2PseudoOrderMatch,
        f64::from(!order.is_empty() && dict.pseudo_order_expected(family, order)),
    );
    // Chromium browsers share one HTTP/2 stack as they share one ClientHello.
    let h2_coherent = !h2_fp.is_empty()
        && !family.is_empty()
        && (h2_family == family
            || shrike_dict::engine(h2_family)
                .is_some_and(|e| shrike_dict::engine(family) == Some(e)));
    set(F::H2Ja4Coherence, f64::from(h2_coherent));
    set(
        F::H2SettingsRare,
        f64::from(!h2_fp.is_empty() && h2_family.is_empty()),
    );
    set(F::TemporalEntropy, c.ip_entropy[&k.src_ip]);
    set(
        F::Ja3DiversityRatio,
        c.ip_ja3_sum[&k.src_ip] as f64 / distinct_ja4.max(1.0),
    );
    let coherence = if family.is_empty() { 0.0 } else { 0.25 }
        + f64::from(h2_coherent) * 0.20
        + (1.0 - f64::from(alpn_http_mismatch)) * 0.15
        + (1.0 - f64::from(sni_host_mismatch)) * 0.10
        + f64::from(has_lang == 1) * 0.15
        + (1.0 - f64::from(ua_ch == 1)) * 0.15;
    set(F::FingerprintCoherenceScore, coherence);
    let seq = session_sequence(&a.seq.sorted());
    set(F::PathTransitionEntropy, seq.path_transition_entropy);
    set(F::CadenceCv, seq.cadence_cv);
    set(F::BurstRatio, seq.burst_ratio);
    set(F::PauseRatio, seq.pause_ratio);
    set(F::Lag1Autocorrelation, seq.lag1_autocorrelation);
    set(F::BenfordDeviation, seq.benford_deviation);
    let ipf = ip_seq.by_ip[&(k.window_start.millis(), k.src_ip)];
    set(F::HostDiversity, ipf[0]);
    set(F::HostSweepSpeed, ipf[1]);
    set(F::HostCoverageUniformity, ipf[2]);
    set(F::CrossDomainPathSimilarity, ipf[3]);
    set(F::Ja4DriftRatio, ipf[4]);

    let bot_name = dict.bot_name(k.src_ip, ja4).unwrap_or("").to_string();
    let mut values = [0f32; FeatureId::COUNT];
    for (o, x) in values.iter_mut().zip(v) {
        *o = if x.is_finite() { x as f32 } else { 0.0 };
    }
    SessionFeatures {
        key: k.clone(),
        first_seen: Timestamp::from_millis(a.first_at.0),
        last_seen: Timestamp::from_millis(a.last_seen),
        asn: b.asn,
        asn_org: b.asn_org.clone(),
        country: b.country.clone(),
        asn_label: dict.asn_label(b.asn),
        bot_name,
        browser_family: family.to_string(),
        correlated: a.correlated,
        user_agent: a.first.user_agent.clone(),
        tcp_fingerprint: a.first.tcp_fingerprint.clone(),
        header_order_hash: b.hoh.clone(),
        h2_fingerprint: h2_fp.to_string(),
        values,
    }
}
