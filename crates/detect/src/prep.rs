//! Preprocessing: browser identification on six axes, the derived features, the two
//! feature sets, and the cycle's feature matrix with imputation.

use serde::{Deserialize, Serialize};
use shrike_dict::Basis;
use shrike_features::{FeatureId, FeatureKind};
pub use shrike_store::SessionRow;
pub use shrike_types::FeatureSetName;
use shrike_types::SessionKey;

/// One session as the cycle sees it: the stored row, with the dictionaries in service
/// applied to its names, and what the policy says of it. The same value is read from the
/// store, scored, and written back beside its verdict.
#[derive(Debug, Clone)]
pub struct Session {
    /// Identity, names and base features (in [`FeatureId`] order).
    pub row: SessionRow,
    /// What the Anubis policy and the user-agent bot patterns say of it.
    pub policy: PolicyMark,
    /// How its JA4 named `row.browser_family` (`None` when no family): exactly, or by the
    /// structure of the ClientHello ([`shrike_dict::stack`]).
    pub identity: Option<Basis>,
    /// Another JA4 came from the same address in the same window (a household or office
    /// behind one NAT, a carrier's CGNAT): the address-level layers joined to the session
    /// (client hints, the HTTP/2 fingerprint) may be another client's. See
    /// [`mark_shared_addresses`].
    pub shared_address: bool,
}

/// Marks the sessions whose address sent more than one JA4 in their window
/// ([`Session::shared_address`]); `sessions` should hold whole windows (a cycle's horizon,
/// a labelled history).
pub fn mark_shared_addresses(sessions: &mut [Session]) {
    let mut first: std::collections::HashMap<(i64, std::net::IpAddr), &str> =
        std::collections::HashMap::new();
    let mut shared: std::collections::HashSet<(i64, std::net::IpAddr)> =
        std::collections::HashSet::new();
    for s in sessions.iter() {
        let k = s.key();
        let at = (k.window_start.millis(), k.src_ip);
        match first.get(&at) {
            Some(ja4) if *ja4 != k.ja4_str() => {
                shared.insert(at);
            }
            Some(_) => {}
            None => {
                first.insert(at, k.ja4_str());
            }
        }
    }
    for s in sessions.iter_mut() {
        let k = s.key();
        s.shared_address = shared.contains(&(k.window_start.millis(), k.src_ip));
    }
}

/// What the Anubis policy and the user-agent bot patterns say of a session, from what a
/// session keeps (its address, ASN, country and first user agent). An ALLOW rule makes the
/// session a known bot (its `bot_name`) before it gets here.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyMark {
    /// The DENY rule that matched ("" when none): the session is scored and reported as
    /// ANUBIS_DENY.
    pub deny: String,
    /// WEIGH rules raised its weight above zero, or a CHALLENGE decided
    /// (`anubis_is_flagged`).
    pub flagged: bool,
    /// The bot its user agent claims to be ("" when none): a claim, not an identification.
    pub claimed_bot: String,
}

impl Session {
    /// A session with no policy mark (no dictionaries, or none applied).
    pub fn new(row: SessionRow) -> Session {
        Session {
            identity: (!row.browser_family.is_empty()).then_some(Basis::Exact),
            row,
            policy: PolicyMark::default(),
            shared_address: false,
        }
    }

    /// Its identity.
    pub fn key(&self) -> &SessionKey {
        &self.row.key
    }

    /// A base feature's value.
    pub fn get(&self, f: FeatureId) -> f64 {
        self.row
            .features
            .get(f.index())
            .map_or(f64::NAN, |v| *v as f64)
    }
}

/// Features computed in preprocessing (seed `preprocessing.py`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Derived {
    /// How surely the JA4 names a browser family: 1 when the dictionary has it, 0.85 when
    /// its cipher or extension set is one family's, 0.6 by shape with HTTP/2's agreement,
    /// 0 otherwise ([`Basis::strength`]).
    AxisJa4Known,
    /// Share of browser traits in the JA4's structure: TCP, TLS 1.3, SNI, 8–20 ciphers,
    /// 10–25 extensions, ALPN h2.
    AxisJa4Struct,
    /// modern_browser_score (Sec-Fetch, br/zstd, HTTP/2, Accept-Language, modern UA).
    AxisHttpModern,
    /// Share of navigation traits: assets fetched, referer, cookie, Accept-Language, no
    /// fake navigation, and think time (gaps that vary as a person's, from 10 requests).
    AxisNavBehavior,
    /// Share of agreeing TLS traits: UA and client hints agree, ALPN agrees with the HTTP
    /// version, SNI equals the host.
    AxisTlsCoherence,
    /// HTTP/2 agrees with the JA4's family (settings and pseudo-header order); for a JA4
    /// the dictionary does not know, whether the SETTINGS are a known browser's; 0.5 when
    /// the session has no HTTP/2 fingerprint.
    AxisH2Coherence,
    /// Weighted mean of the six axes.
    BrowserConfidence,
    /// 1 when the JA4 names a browser family (exactly or by structure), else 0.
    IsKnownBrowser,
    /// Seed formula: ja4 known + http_modern ≥ .5 + nav ≥ .5 + tls ≥ .5 + family inferred.
    BrowserConsistencyScore,
    /// An Anubis WEIGH/CHALLENGE rule matched (0 until Anubis policies are loaded).
    AnubisIsFlagged,
}

impl Derived {
    /// Every derived feature.
    pub const ALL: [Derived; 10] = [
        Derived::AxisJa4Known,
        Derived::AxisJa4Struct,
        Derived::AxisHttpModern,
        Derived::AxisNavBehavior,
        Derived::AxisTlsCoherence,
        Derived::AxisH2Coherence,
        Derived::BrowserConfidence,
        Derived::IsKnownBrowser,
        Derived::BrowserConsistencyScore,
        Derived::AnubisIsFlagged,
    ];

    /// Column name.
    pub const fn name(self) -> &'static str {
        match self {
            Derived::AxisJa4Known => "axis_ja4_known",
            Derived::AxisJa4Struct => "axis_ja4_struct",
            Derived::AxisHttpModern => "axis_http_modern",
            Derived::AxisNavBehavior => "axis_nav_behavior",
            Derived::AxisTlsCoherence => "axis_tls_coherence",
            Derived::AxisH2Coherence => "axis_h2_coherence",
            Derived::BrowserConfidence => "browser_confidence",
            Derived::IsKnownBrowser => "is_known_browser",
            Derived::BrowserConsistencyScore => "browser_consistency_score",
            Derived::AnubisIsFlagged => "anubis_is_flagged",
        }
    }
}

/// A model input column: a session feature or a derived one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Column {
    /// From the sessionizer.
    Base(FeatureId),
    /// From preprocessing.
    Derived(Derived),
}

impl Column {
    /// Column name (as stored in model metadata).
    pub fn name(self) -> &'static str {
        match self {
            Column::Base(f) => f.name(),
            Column::Derived(d) => d.name(),
        }
    }

    /// Looks a column up by name (model metadata).
    pub fn from_name(name: &str) -> Option<Column> {
        FeatureId::from_name(name).map(Column::Base).or_else(|| {
            Derived::ALL
                .into_iter()
                .find(|d| d.name() == name)
                .map(Column::Derived)
        })
    }

    /// Binary columns use -1 for unknown.
    pub fn is_binary(self) -> bool {
        matches!(self, Column::Base(f) if f.kind() == FeatureKind::Binary)
            || matches!(self, Column::Derived(Derived::AnubisIsFlagged))
    }
}

/// A feature set's columns. `fingerprint_coherence_score` selects the baseline and is not
/// a model input, as in the seed.
pub fn columns(set: FeatureSetName) -> Vec<Column> {
    let base: Vec<FeatureId> = match set {
        FeatureSetName::Application => FeatureId::application().collect(),
        FeatureSetName::Complete => FeatureId::complete().collect(),
    };
    base.into_iter()
        .filter(|f| *f != FeatureId::FingerprintCoherenceScore)
        .map(Column::Base)
        .chain(Derived::ALL.into_iter().map(Column::Derived))
        .collect()
}

/// Browser identification of one session.
#[derive(Debug, Clone, PartialEq)]
pub struct BrowserId {
    /// The six axes, in [`Derived`] order (ja4_known .. h2_coherence).
    pub axes: [f64; 6],
    /// Weighted mean of the axes.
    pub confidence: f64,
    /// Family from the dictionary (refined by the user agent among Chromium browsers), else
    /// inferred from the user agent when the fingerprint looks like a browser's; "" otherwise.
    pub family: String,
}

impl BrowserId {
    /// The navigation axis (assets fetched, referers, cookies, Accept-Language, no fake
    /// navigation, think time): high for a person's browsing, low for a script's.
    pub fn navigation(&self) -> f64 {
        self.axes[Derived::AxisNavBehavior as usize]
    }

    /// A browser family identified with at least `threshold` confidence.
    pub fn identified(&self, threshold: f64) -> bool {
        self.confidence >= threshold && !self.family.is_empty()
    }

    /// Identified (`browser_confidence_threshold`) and browsing like a person
    /// (`legit_navigation_min`): what LEGITIMATE_BROWSER and the evidence of a person ask.
    pub fn person_like(&self, cfg: &crate::DetectConfig) -> bool {
        self.identified(cfg.browser_confidence_threshold)
            && self.navigation() >= cfg.legit_navigation_min
    }
}

/// Axis weights (sum 1): dictionary knowledge and HTTP behaviour weigh most.
pub const AXIS_WEIGHTS: [f64; 6] = [0.25, 0.15, 0.2, 0.15, 0.1, 0.15];

/// Share of browser traits in a JA4's `a` part (`t13d1516h2`).
pub fn ja4_structure(ja4: &str) -> f64 {
    let a = ja4.split('_').next().unwrap_or("");
    let b = a.as_bytes();
    if b.len() != 10 {
        return 0.0;
    }
    let num = |s: &[u8]| {
        std::str::from_utf8(s)
            .ok()
            .and_then(|s| s.parse::<u32>().ok())
    };
    let traits = [
        b[0] == b't',
        &b[1..3] == b"13",
        b[3] == b'd',
        num(&b[4..6]).is_some_and(|n| (8..=20).contains(&n)),
        num(&b[6..8]).is_some_and(|n| (10..=25).contains(&n)),
        &b[8..10] == b"h2",
    ];
    traits.iter().filter(|t| **t).count() as f64 / traits.len() as f64
}

/// Browser family claimed by a user agent ("" for none).
pub fn ua_family(ua: &str) -> &'static str {
    if ua.contains("Edg/") {
        "Edge"
    } else if ua.contains("Firefox/") {
        "Firefox"
    } else if ua.contains("Chrome/") || ua.contains("CriOS/") {
        "Chrome"
    } else if ua.contains("Safari/") && ua.contains("Version/") {
        "Safari"
    } else {
        ""
    }
}

/// Whether a family name is a Chromium-based browser (they share one TLS stack, so one JA4).
fn is_chromium(family: &str) -> bool {
    shrike_dict::engine(family) == Some("Chromium")
}

/// The dictionary's family for a JA4, refined by the user agent where the JA4 cannot tell:
/// Chrome and Edge send the same ClientHello, so a Chromium JA4 with an Edge user agent is
/// Edge. A user agent of another engine does not override the JA4 (that disagreement is
/// what `ua_ch_mismatch` and the coherence axes measure).
pub fn refine_family<'a>(dictionary: &'a str, ua: &'a str) -> &'a str {
    if !ua.is_empty() && is_chromium(dictionary) && is_chromium(ua) {
        ua
    } else {
        dictionary
    }
}

/// Binary feature as 0/1 with unknown (-1) as `None`.
fn known(v: f64) -> Option<f64> {
    (v >= 0.0).then_some(v)
}

/// Requests from which a session's cadence says whether someone reads between them.
pub const THINK_TIME_MIN_HITS: f64 = 10.0;
/// Coefficient of variation of the gaps between requests below which they are a machine's
/// clock, not a person's reading: a person's page views come in bursts (the page and its
/// assets) between pauses, a script's at a steady period.
pub const MACHINE_CADENCE_CV: f64 = 0.25;

/// The think-time trait of the navigation axis: 1 when the gaps between requests vary as a
/// person's do, 0 when they are a steady period, unknown below
/// [`THINK_TIME_MIN_HITS`] requests.
fn think_time(s: &Session) -> Option<f64> {
    (s.get(FeatureId::Hits) >= THINK_TIME_MIN_HITS)
        .then(|| f64::from(u8::from(s.get(FeatureId::CadenceCv) >= MACHINE_CADENCE_CV)))
}

/// What in a session's browsing is a script's rather than a person's, in words: the
/// navigation traits ([`BrowserId::navigation`]) it fails. Empty when it fails none.
pub fn script_traits(s: &Session) -> Vec<String> {
    use FeatureId as F;
    let mut out = Vec::new();
    if s.get(F::AssetRatio) <= 0.0 {
        out.push("no assets".to_string());
    }
    for (f, what) in [
        (F::HasReferer, "no referer"),
        (F::HasCookie, "no cookie"),
        (F::HasAcceptLanguage, "no Accept-Language"),
    ] {
        if s.get(f) == 0.0 {
            out.push(what.to_string());
        }
    }
    if s.get(F::IsFakeNavigation) == 1.0 {
        out.push("navigation headers on a request for no document".to_string());
    }
    if think_time(s) == Some(0.0) {
        let hits = s.get(F::Hits);
        let span = s
            .row
            .last_seen
            .millis()
            .saturating_sub(s.row.first_seen.millis());
        let period = span as f64 / 1000.0 / (hits - 1.0).max(1.0);
        out.push(format!(
            "a steady {period:.1} s period over {hits:.0} requests (gaps' CV {:.2})",
            s.get(F::CadenceCv)
        ));
    }
    out
}

/// The six axes, the confidence and the family of a session.
pub fn identify_browser(s: &Session) -> BrowserId {
    use FeatureId as F;
    let ja4_known = if s.row.browser_family.is_empty() {
        0.0
    } else {
        s.identity.map_or(1.0, Basis::strength)
    };
    let ja4_struct = ja4_structure(s.row.key.ja4_str());
    let http_modern = s.get(F::ModernBrowserScore).clamp(0.0, 1.0);
    let nav_traits = [
        Some((s.get(F::AssetRatio) > 0.0) as u8 as f64),
        known(s.get(F::HasReferer)),
        known(s.get(F::HasCookie)),
        known(s.get(F::HasAcceptLanguage)),
        known(s.get(F::IsFakeNavigation)).map(|v| 1.0 - v),
        think_time(s),
    ];
    let mean = |xs: &[Option<f64>]| {
        let k: Vec<f64> = xs.iter().flatten().copied().collect();
        if k.is_empty() {
            0.0
        } else {
            k.iter().sum::<f64>() / k.len() as f64
        }
    };
    let nav = mean(&nav_traits);
    let tls = if s.row.correlated || s.row.key.ja4.is_some() {
        mean(&[
            known(s.get(F::UaChMismatch)).map(|v| 1.0 - v),
            known(s.get(F::AlpnHttpMismatch)).map(|v| 1.0 - v),
            known(s.get(F::SniHostMismatch)).map(|v| 1.0 - v),
        ])
    } else {
        0.0
    };
    let h2_known = s.get(F::H2SettingsKnown) > 0.0 || s.get(F::H2SettingsRare) > 0.0;
    let h2 = if !h2_known {
        0.5
    } else if s.row.browser_family.is_empty() {
        // No family to agree with (a JA4 the dictionary has not seen, such as a new browser
        // release): the SETTINGS frame alone says whether a known browser sent it.
        s.get(F::H2SettingsKnown).max(0.0)
    } else {
        0.5 * s.get(F::H2Ja4Coherence).max(0.0) + 0.5 * s.get(F::H2PseudoOrderMatch).max(0.0)
    };
    let axes = [ja4_known, ja4_struct, http_modern, nav, tls, h2];
    let confidence = axes.iter().zip(AXIS_WEIGHTS).map(|(a, w)| a * w).sum();
    let family = if !s.row.browser_family.is_empty() {
        refine_family(&s.row.browser_family, ua_family(&s.row.user_agent)).to_string()
    } else if ja4_struct >= 4.0 / 6.0 && http_modern >= 0.6 {
        ua_family(&s.row.user_agent).to_string()
    } else {
        String::new()
    };
    BrowserId {
        axes,
        confidence,
        family,
    }
}

/// Value of a derived column for a session and its browser identification.
pub fn derived_value(d: Derived, s: &Session, b: &BrowserId) -> f64 {
    let half = |x: f64| (x >= 0.5) as u8 as f64;
    match d {
        Derived::AxisJa4Known => b.axes[0],
        Derived::AxisJa4Struct => b.axes[1],
        Derived::AxisHttpModern => b.axes[2],
        Derived::AxisNavBehavior => b.axes[3],
        Derived::AxisTlsCoherence => b.axes[4],
        Derived::AxisH2Coherence => b.axes[5],
        Derived::BrowserConfidence => b.confidence,
        Derived::IsKnownBrowser => f64::from(u8::from(b.axes[0] > 0.0)),
        Derived::BrowserConsistencyScore => {
            b.axes[0].clamp(0.0, 1.0)
                + half(b.axes[2])
                + half(b.axes[3])
                + half(b.axes[4])
                + (!b.family.is_empty()) as u8 as f64
        }
        Derived::AnubisIsFlagged => {
            f64::from(u8::from(s.policy.flagged || !s.policy.deny.is_empty()))
        }
    }
}

/// A column's value for one session (NaN when not finite).
pub fn value(s: &Session, b: &BrowserId, c: Column) -> f64 {
    let v = match c {
        Column::Base(f) => s.get(f),
        Column::Derived(d) => derived_value(d, s, b),
    };
    if v.is_finite() {
        v
    } else {
        f64::NAN
    }
}

/// Median of the finite values (0 when none).
pub fn median(values: impl Iterator<Item = f64>) -> f64 {
    shrike_forest::median(values.filter(|x| x.is_finite()).collect())
}

/// Row-major matrix of `rows` sessions over `columns`, imputed: binary columns keep -1
/// for unknown, a non-finite numeric value becomes the column's median over these rows.
pub fn matrix(sessions: &[&Session], browsers: &[&BrowserId], columns: &[Column]) -> Vec<f64> {
    let mut out = Vec::with_capacity(sessions.len() * columns.len());
    for (s, b) in sessions.iter().zip(browsers) {
        out.extend(columns.iter().map(|c| value(s, b, *c)));
    }
    let n = columns.len();
    // Columns with a missing value, found in one pass over the matrix.
    let mut missing = vec![false; n];
    for row in out.chunks_exact(n) {
        for (m, v) in missing.iter_mut().zip(row) {
            *m |= v.is_nan();
        }
    }
    for (j, c) in columns.iter().enumerate().filter(|(j, _)| missing[*j]) {
        let fill = if c.is_binary() {
            -1.0
        } else {
            median(out.iter().skip(j).step_by(n).copied())
        };
        for v in out.iter_mut().skip(j).step_by(n) {
            if v.is_nan() {
                *v = fill;
            }
        }
    }
    out
}

/// The columns of a row-major matrix with `n` columns, transposed in one pass.
pub fn columns_of(x: &[f64], n: usize) -> Vec<Vec<f64>> {
    let mut cols: Vec<Vec<f64>> = (0..n)
        .map(|_| Vec::with_capacity(x.len() / n.max(1)))
        .collect();
    for row in x.chunks_exact(n) {
        for (c, v) in cols.iter_mut().zip(row) {
            c.push(*v);
        }
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_scripts_browsing_is_named_trait_by_trait() {
        let mut row = SessionRow::new(shrike_types::SessionKey {
            window_start: shrike_types::Timestamp::from_millis(0),
            src_ip: "198.51.100.9".parse().unwrap(),
            ja4: None,
            host: "shop.example".into(),
        });
        // 14 requests over 26 s at a steady period, with referers and Accept-Language but
        // no assets and no cookie.
        row.last_seen = shrike_types::Timestamp::from_millis(26_000);
        for (f, v) in [
            (FeatureId::Hits, 14.0),
            (FeatureId::CadenceCv, 0.04),
            (FeatureId::AssetRatio, 0.0),
            (FeatureId::HasReferer, 1.0),
            (FeatureId::HasCookie, 0.0),
            (FeatureId::HasAcceptLanguage, 1.0),
            (FeatureId::IsFakeNavigation, 0.0),
        ] {
            row.features[f.index()] = v;
        }
        let s = Session::new(row);
        assert_eq!(
            script_traits(&s),
            vec![
                "no assets",
                "no cookie",
                "a steady 2.0 s period over 14 requests (gaps' CV 0.04)"
            ]
        );
        // Unknown traits (-1) and a person's bursty cadence name nothing.
        let mut person = s.clone();
        for (f, v) in [
            (FeatureId::CadenceCv, 1.3),
            (FeatureId::AssetRatio, 0.4),
            (FeatureId::HasCookie, -1.0),
        ] {
            person.row.features[f.index()] = v;
        }
        assert!(script_traits(&person).is_empty());
    }

    #[test]
    fn ja4_structure_scores_browser_traits() {
        assert_eq!(ja4_structure("t13d1516h2_8daaf6152771_02713d6af862"), 1.0);
        // curl: TLS 1.3, SNI, 31 ciphers, ALPN h2 → 4 of 6 (ciphers and extensions off).
        assert!(ja4_structure("t13d3112h2_e8f1e7e78f70_b26ce05bbdd6") < 1.0);
        assert_eq!(ja4_structure(""), 0.0);
    }

    #[test]
    fn the_user_agent_refines_a_chromium_family_only() {
        assert_eq!(refine_family("Chrome", "Edge"), "Edge");
        assert_eq!(refine_family("Chromium Browser", "Chrome"), "Chrome");
        assert_eq!(refine_family("Chrome", "Firefox"), "Chrome");
        assert_eq!(refine_family("Firefox", "Chrome"), "Firefox");
        assert_eq!(refine_family("Safari", ""), "Safari");
    }

    #[test]
    fn columns_are_named_and_found_back() {
        for set in FeatureSetName::ALL {
            for c in columns(set) {
                assert_eq!(Column::from_name(c.name()), Some(c));
            }
        }
        assert!(
            columns(FeatureSetName::Complete).len() > columns(FeatureSetName::Application).len()
        );
    }
}
