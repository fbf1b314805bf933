//! The feature catalogue: every session feature as a [`FeatureId`] with its name,
//! description, [`FeatureKind`] and [`FeatureSet`].
//!
//! Formulas follow the seed view `view_ai_features_1h` (§4 of the spec); where the seed
//! leaves a definition open, the description says what shrike does. "Window" is the
//! session's hour; "horizon" the cohort period (24 h by default) ending at the newest record.

use std::fmt;

/// How a feature's values are to be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureKind {
    /// A fraction, normally in [0, 1] (some seed ratios use `/(n+1)` and stay below 1).
    Ratio,
    /// A non-negative count.
    Count,
    /// 0 or 1, and -1 when the input did not say (e.g. no header information at all).
    Binary,
    /// Any finite real number.
    Continuous,
}

/// Which model sees the feature (SPEC §4): `Application` features exist for every
/// session; `Complete` ones need the TCP/TLS side and are used when the session is correlated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeatureSet {
    /// L7 only.
    Application,
    /// TCP/TLS (added to the application set for correlated sessions).
    Complete,
}

macro_rules! catalogue {
    ($( $(#[doc = $doc:literal])+ $var:ident = $name:literal, $kind:ident, $set:ident; )+) => {
        /// A session feature. `as usize` is its index in [`crate::SessionFeatures::values`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        #[repr(u8)]
        pub enum FeatureId { $( $(#[doc = $doc])+ $var, )+ }

        impl FeatureId {
            /// Every feature, in index order.
            pub const ALL: &'static [FeatureId] = &[$(FeatureId::$var),+];
            /// Number of features.
            pub const COUNT: usize = Self::ALL.len();

            /// The snake_case name (the seed view's column name).
            pub const fn name(self) -> &'static str {
                match self { $(FeatureId::$var => $name),+ }
            }

            /// What the feature measures and how.
            pub fn description(self) -> &'static str {
                match self { $(FeatureId::$var => concat!($($doc, "\n"),+).trim_ascii()),+ }
            }

            /// How to read the value.
            pub const fn kind(self) -> FeatureKind {
                match self { $(FeatureId::$var => FeatureKind::$kind),+ }
            }

            /// Which feature set it belongs to.
            pub const fn set(self) -> FeatureSet {
                match self { $(FeatureId::$var => FeatureSet::$set),+ }
            }
        }
    };
}

impl FeatureId {
    /// Looks a feature up by name.
    pub fn from_name(name: &str) -> Option<FeatureId> {
        Self::ALL.iter().copied().find(|f| f.name() == name)
    }

    /// The index in a feature vector.
    pub const fn index(self) -> usize {
        self as usize
    }

    /// Features of the application set.
    pub fn application() -> impl Iterator<Item = FeatureId> {
        Self::ALL
            .iter()
            .copied()
            .filter(|f| f.set() == FeatureSet::Application)
    }

    /// Features of the complete set (application + TCP/TLS).
    pub fn complete() -> impl Iterator<Item = FeatureId> {
        Self::ALL.iter().copied()
    }
}

impl fmt::Display for FeatureId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

catalogue! {
    /// Requests in the session.
    Hits = "hits", Count, Application;
    /// POST requests / (hits + 1).
    PostRatio = "post_ratio", Ratio, Application;
    /// Distinct non-empty query strings / (distinct paths + 1): many parameter variations on
    /// few paths is fuzzing.
    FuzzingIndex = "fuzzing_index", Continuous, Application;
    /// hits / (whole seconds between first and last request + 1).
    HitVelocity = "hit_velocity", Continuous, Application;
    /// Distinct source ports / (hits + 1).
    PortExhaustionRatio = "port_exhaustion_ratio", Ratio, Application;
    /// Orphan requests / (hits + 1); an orphan is a request whose TCP/TLS data were not
    /// matched (`correlated` false or absent).
    OrphanRatio = "orphan_ratio", Ratio, Application;
    /// Requests whose IP id is 0 / (hits + 1).
    IpIdZeroRatio = "ip_id_zero_ratio", Ratio, Application;
    /// hits / (distinct connection ids + 1).
    MultiplexingEfficiency = "multiplexing_efficiency", Continuous, Application;
    /// 1 when more than 80% of requests have MSS 1460 (wired Ethernet) while the IP sends
    /// Sec-CH-UA (a mobile-looking client on a desktop stack), else 0.
    MssMobileMismatch = "mss_mobile_mismatch", Binary, Application;
    /// Population variance of the IP total length of requests.
    RequestSizeVariance = "request_size_variance", Continuous, Application;
    /// 1 when the first request negotiated ALPN h2 but was not sent over HTTP/2.
    AlpnHttpMismatch = "alpn_http_mismatch", Binary, Complete;
    /// 1 when the first request has no ALPN (absent or JA4 `00`).
    IsAlpnMissing = "is_alpn_missing", Binary, Complete;
    /// 1 when the first request's SNI is non-empty and differs from its Host.
    SniHostMismatch = "sni_host_mismatch", Binary, Complete;
    /// 1 when the IP's earliest request in the window says Sec-Fetch-Mode `navigate` with a
    /// Sec-Fetch-Dest other than `document`.
    IsFakeNavigation = "is_fake_navigation", Binary, Application;
    /// Sessions of the horizon sharing this session's TCP SYN fingerprint (JA4T layout
    /// `window_options_mss_wscale` of the first request; empty when unknown).
    TcpSharedCount = "tcp_shared_count", Count, Application;
    /// Sessions of the horizon sharing this session's header-order hash.
    HeaderOrderSharedCount = "header_order_shared_count", Count, Application;
    /// Asset requests / (hits + 1); an asset is a path ending in a static-file extension
    /// (css, js, mjs, map, images, fonts).
    AssetRatio = "asset_ratio", Ratio, Application;
    /// Requests without a Referer / (hits + 1).
    DirectAccessRatio = "direct_access_ratio", Ratio, Application;
    /// 1 when the session used more than 2 distinct user agents.
    IsUaRotating = "is_ua_rotating", Binary, Application;
    /// Distinct JA4s of the source IP over the horizon.
    DistinctJa4Count = "distinct_ja4_count", Count, Application;
    /// (hits / (distinct source ports + 1)) / (duration seconds + 1).
    SrcPortDensity = "src_port_density", Continuous, Application;
    /// Hits of (JA4, ASN) / (hits of the JA4 + 1) over the horizon.
    Ja4AsnConcentration = "ja4_asn_concentration", Ratio, Application;
    /// Hits of (JA4, country) / (hits of the JA4 + 1) over the horizon.
    Ja4CountryConcentration = "ja4_country_concentration", Ratio, Application;
    /// 1 when the JA4 has fewer than 100 hits over the horizon.
    IsRareJa4 = "is_rare_ja4", Binary, Application;
    /// Sessions with this (header order, JA4) / (sessions with this JA4 + 1).
    HeaderOrderConfidence = "header_order_confidence", Ratio, Application;
    /// Distinct header orders of the source IP over the horizon (one per IP and window).
    DistinctHeaderOrders = "distinct_header_orders", Count, Application;
    /// Distinct paths / (hits + 1).
    PathDiversityRatio = "path_diversity_ratio", Ratio, Application;
    /// Population variance of URL depth (number of `/` in the path).
    UrlDepthVariance = "url_depth_variance", Continuous, Application;
    /// Requests with an anomalous payload / (hits + 1): traversal, script injection,
    /// SQL UNION, JNDI lookups or NUL bytes in the path or query.
    AnomalousPayloadRatio = "anomalous_payload_ratio", Ratio, Application;
    /// sqrt(tcp_jitter_variance) / max(mean SYN→ACK ms, 1).
    SynTimingCv = "syn_timing_cv", Continuous, Complete;
    /// TLS 1.2 requests / (hits + 1).
    Tls12Ratio = "tls12_ratio", Ratio, Complete;
    /// HEAD requests / (hits + 1).
    HeadRatio = "head_ratio", Ratio, Application;
    /// Requests with none of the Sec-Fetch-* headers / (hits + 1).
    SecFetchAbsenceRate = "sec_fetch_absence_rate", Ratio, Application;
    /// Requests whose Accept is absent or `*/*` / (hits + 1).
    GenericAcceptRatio = "generic_accept_ratio", Ratio, Application;
    /// HTTP/1.0 requests / (hits + 1).
    Http10Ratio = "http10_ratio", Ratio, Application;
    /// Population variance of the IP DF flag (0/1).
    IpDfVariance = "ip_df_variance", Continuous, Complete;
    /// Mean TCP TTL of requests that carry one (0 when none).
    AvgTtl = "avg_ttl", Continuous, Complete;
    /// Standard deviation of TCP TTL (0 when none).
    TtlStd = "ttl_std", Continuous, Complete;
    /// Correlated requests whose SYN had no window-scale option / correlated requests.
    NoWindowScaleRatio = "no_window_scale_ratio", Ratio, Complete;
    /// Requests without Accept-Encoding / (hits + 1).
    MissingAcceptEncRatio = "missing_accept_enc_ratio", Ratio, Application;
    /// Plain-HTTP requests / (hits + 1): correlated without TLS, or to port 80 when
    /// uncorrelated and without TLS data.
    HttpSchemeRatio = "http_scheme_ratio", Ratio, Application;
    /// 1 when any request carried X-Forwarded-For.
    HasXff = "has_xff", Binary, Application;
    /// POSTs with an absent or unusual Content-Type / max(POSTs, 1); usual types are form
    /// encodings, multipart, JSON and text/plain.
    UnusualContentTypeRatio = "unusual_content_type_ratio", Ratio, Application;
    /// Requests to a destination port other than 80 and 443 / (hits + 1).
    NonStandardPortRatio = "non_standard_port_ratio", Ratio, Application;
    /// POSTs to a login path (login, signin, auth, session, token) / max(POSTs, 1).
    LoginPostConcentration = "login_post_concentration", Ratio, Application;
    /// 1 when, for the IP in the window, Sec-CH-UA-Mobile or -Platform contradicts the
    /// user agent; -1 when no client hint was seen.
    SecChMobileMismatch = "sec_ch_mobile_mismatch", Binary, Application;
    /// Window × 2^scale of the first request's SYN.
    TrueWindowSize = "true_window_size", Continuous, Complete;
    /// SYN window / MSS of the first request (0 without MSS).
    WindowMssRatio = "window_mss_ratio", Continuous, Complete;
    /// Population variance of SYN→ACK time in ms.
    TcpJitterVariance = "tcp_jitter_variance", Continuous, Complete;
    /// Highest keep-alive index seen.
    MaxKeepalives = "max_keepalives", Count, Application;
    /// Most headers in one request of the IP in the window.
    HeaderCount = "header_count", Count, Application;
    /// 1 when a request of the IP in the window sent Accept-Language; -1 when unknown.
    HasAcceptLanguage = "has_accept_language", Binary, Application;
    /// 1 when a request of the IP in the window sent a Cookie; -1 when unknown.
    HasCookie = "has_cookie", Binary, Application;
    /// 1 when a request of the IP in the window sent a Referer; -1 when unknown.
    HasReferer = "has_referer", Binary, Application;
    /// Highest per-request modern-browser score of the IP in the window: the share of
    /// Sec-Fetch-* present, br/zstd accepted, HTTP/2 or 3, Accept-Language present, and a
    /// current browser version in the user agent.
    ModernBrowserScore = "modern_browser_score", Ratio, Application;
    /// 1 when a request of the IP in the window sent Sec-CH-UA; -1 when unknown.
    HasSecChUa = "has_sec_ch_ua", Binary, Application;
    /// 1 when the user agent and Sec-CH-UA disagree (Chromium ≥ 90 over TLS without
    /// client hints, hints from a non-Chromium agent, or different major versions).
    UaChMismatch = "ua_ch_mismatch", Binary, Application;
    /// 1 when the IP's HTTP/2 fingerprint is in the browser_h2 dictionary.
    H2SettingsKnown = "h2_settings_known", Binary, Application;
    /// 1 when the IP's HTTP/2 pseudo-header order is one that the JA4's browser family sends
    /// (taken from the browser_h2 dictionary, not hard-coded); 0 otherwise or when absent.
    H2PseudoOrderMatch = "h2_pseudo_order_match", Binary, Application;
    /// 1 when the HTTP/2 fingerprint's family equals the JA4's (non-empty) family.
    H2Ja4Coherence = "h2_ja4_coherence", Binary, Application;
    /// 1 when an HTTP/2 fingerprint is present but unknown to the dictionary.
    H2SettingsRare = "h2_settings_rare", Binary, Application;
    /// −Σ p·log2(p + 1e-6) over the IP's sessions of the horizon, p = hits / (IP hits + 1).
    TemporalEntropy = "temporal_entropy", Continuous, Application;
    /// Σ distinct JA3 of the IP's sessions / max(distinct JA4 of the IP, 1).
    Ja3DiversityRatio = "ja3_diversity_ratio", Continuous, Complete;
    /// Cross-layer coherence in [0, 1]: 0.25 known browser JA4 + 0.20 h2_ja4_coherence +
    /// 0.15 (1 − alpn_http_mismatch) + 0.10 (1 − sni_host_mismatch) + 0.15
    /// has_accept_language + 0.15 (1 − ua_ch_mismatch), unknowns counting as 0.
    FingerprintCoherenceScore = "fingerprint_coherence_score", Ratio, Complete;
    /// Shannon entropy of the session's path-to-path transitions (earliest 256 requests),
    /// divided by log2 of the number of transitions: 0 = one repeated walk, 1 = every
    /// transition different. 0 with fewer than 2 transitions.
    PathTransitionEntropy = "path_transition_entropy", Ratio, Application;
    /// Coefficient of variation (std / mean) of inter-request gaps in ms; 0 with fewer than
    /// 2 gaps or a zero mean. Machines are regular (low), humans bursty (high).
    CadenceCv = "cadence_cv", Continuous, Application;
    /// Share of inter-request gaps under 1 s.
    BurstRatio = "burst_ratio", Ratio, Application;
    /// Share of inter-request gaps over 30 s (reading pauses).
    PauseRatio = "pause_ratio", Ratio, Application;
    /// Lag-1 autocorrelation of inter-request gaps, in [−1, 1]; 0 with fewer than 3 gaps or
    /// constant gaps.
    Lag1Autocorrelation = "lag1_autocorrelation", Continuous, Application;
    /// Total variation distance between the first digits of inter-request gaps (ms) and
    /// Benford's law, in [0, 1]; 0 with fewer than 2 non-zero gaps.
    BenfordDeviation = "benford_deviation", Ratio, Application;
    /// Distinct hosts the source IP requested in the window.
    HostDiversity = "host_diversity", Count, Application;
    /// Distinct hosts of the IP in the window per minute of its activity span (+1 minute).
    HostSweepSpeed = "host_sweep_speed", Continuous, Application;
    /// Normalised entropy of the IP's hits over its hosts in the window (1 = even spread,
    /// 0 = one host).
    HostCoverageUniformity = "host_coverage_uniformity", Ratio, Application;
    /// Mean pairwise Jaccard similarity of the path sets of the IP's hosts in the window
    /// (the same paths probed on many hosts is a scanner); 0 with one host.
    CrossDomainPathSimilarity = "cross_domain_path_similarity", Ratio, Application;
    /// Share of consecutive requests of the IP in the window whose JA4 changes.
    Ja4DriftRatio = "ja4_drift_ratio", Ratio, Complete;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_snake_case_and_round_trip() {
        let mut seen = std::collections::HashSet::new();
        for (i, f) in FeatureId::ALL.iter().enumerate() {
            assert_eq!(f.index(), i);
            assert!(seen.insert(f.name()), "duplicate {}", f.name());
            assert!(f
                .name()
                .bytes()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_'));
            assert_eq!(FeatureId::from_name(f.name()), Some(*f));
            assert!(f.description().len() > 20, "{} undocumented", f.name());
        }
        assert_eq!(FeatureId::COUNT, 75);
    }
}
