//! The rows the store reads and writes, independent of the storage engine.

use shrike_dict::AsnLabel;
use shrike_types::{DecisionKind, FeatureSetName, SessionKey, ThreatLevel, Timestamp};

/// An input already ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestedSource {
    /// Content fingerprint (SHA-256 of the bytes).
    pub fingerprint: String,
    /// Path or label.
    pub label: String,
    /// Valid records.
    pub records: u64,
    /// Rejected lines.
    pub rejected: u64,
    /// For a file: the part of it this ingest covered (`None` for standard input).
    pub span: Option<FileSpan>,
}

/// The part of a file one ingest read. The fingerprint of that ingest is the SHA-256 of
/// bytes `0..end` of the file, so a later run can tell whether the file only grew.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpan {
    /// Canonical path of the file.
    pub path: String,
    /// First byte read (0 unless the run continued an earlier one).
    pub start: u64,
    /// One past the last byte read.
    pub end: u64,
    /// Lines of the file up to `end` (cumulative over the runs that read it).
    pub lines: u64,
    /// Whether byte `end - 1` is a newline (when not, the next run's first bytes continue
    /// the last line).
    pub ends_with_newline: bool,
}

/// A stored session, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// Window, address, JA4 and host.
    pub key: SessionKey,
    /// Requests.
    pub hits: u64,
    /// ASN reputation label.
    pub asn_label: AsnLabel,
    /// Known-bot name or "".
    pub bot_name: String,
    /// Browser family or "".
    pub browser_family: String,
    /// Features in [`FeatureId`] order.
    pub features: Vec<f32>,
    /// First request.
    pub first_seen: Timestamp,
    /// AS number (0 = unknown).
    pub asn: u32,
    /// User agent of the first request.
    pub user_agent: String,
    /// TCP/TLS side matched.
    pub correlated: bool,
    /// Country code of the client ("" when unknown).
    pub country: String,
    /// Last request.
    pub last_seen: Timestamp,
    /// AS organisation ("" when unknown).
    pub asn_org: String,
    /// SYN fingerprint (JA4T layout) of the first request ("" when unknown).
    pub tcp_fingerprint: String,
    /// Akamai HTTP/2 fingerprint of the address in the window ("" when unknown).
    pub h2_fingerprint: String,
}

impl SessionRow {
    /// A session of one request at the start of its window, with no names and every base
    /// feature 0 (tests and tools fill in what they need).
    pub fn new(key: SessionKey) -> SessionRow {
        SessionRow {
            first_seen: key.window_start,
            last_seen: key.window_start,
            key,
            hits: 1,
            asn_label: AsnLabel::Unknown,
            bot_name: String::new(),
            browser_family: String::new(),
            features: vec![0.0; shrike_features::FeatureId::COUNT],
            asn: 0,
            user_agent: String::new(),
            correlated: false,
            country: String::new(),
            asn_org: String::new(),
            tcp_fingerprint: String::new(),
            h2_fingerprint: String::new(),
        }
    }
}

impl From<shrike_features::SessionFeatures> for SessionRow {
    /// A finished session as the store lists it.
    fn from(f: shrike_features::SessionFeatures) -> SessionRow {
        SessionRow {
            hits: f.values[shrike_features::FeatureId::Hits.index()] as u64,
            key: f.key,
            asn_label: f.asn_label,
            bot_name: f.bot_name,
            browser_family: f.browser_family,
            features: f.values.to_vec(),
            first_seen: f.first_seen,
            asn: f.asn,
            user_agent: f.user_agent,
            correlated: f.correlated,
            country: f.country,
            last_seen: f.last_seen,
            asn_org: f.asn_org,
            tcp_fingerprint: f.tcp_fingerprint,
            h2_fingerprint: f.h2_fingerprint,
        }
    }
}

/// Output tables whose rows can be counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputTable {
    /// `cycles`.
    Cycles,
    /// `all_scores`.
    AllScores,
    /// `detected_anomalies` (a view).
    DetectedAnomalies,
    /// `decisions`.
    Decisions,
    /// `models`.
    Models,
    /// `fleet_detections`.
    FleetDetections,
    /// `campaigns`.
    Campaigns,
}

impl OutputTable {
    /// SQL name (a constant, never user input).
    pub const fn name(self) -> &'static str {
        match self {
            OutputTable::Cycles => "cycles",
            OutputTable::AllScores => "all_scores",
            OutputTable::DetectedAnomalies => "detected_anomalies",
            OutputTable::Decisions => "decisions",
            OutputTable::Models => "models",
            OutputTable::FleetDetections => "fleet_detections",
            OutputTable::Campaigns => "campaigns",
        }
    }
}

/// One scored session of a cycle.
#[derive(Debug, Clone, PartialEq)]
pub struct ScoreRow {
    /// The session scored.
    pub key: SessionKey,
    /// Feature set that scored it (`None`: not scored).
    pub model: Option<FeatureSetName>,
    /// Threat level.
    pub threat_level: ThreatLevel,
    /// Raw score (negative = anomalous).
    pub raw_score: f64,
    /// Normalised score.
    pub anomaly_score: f64,
    /// Below the threshold.
    pub is_anomaly: bool,
    /// Times flagged including this one.
    pub recurrence: u32,
    /// Browser confidence.
    pub browser_confidence: f64,
    /// Browser family.
    pub browser_family: String,
    /// Reason.
    pub reason: String,
    /// Top features as JSON.
    pub top_features: String,
    /// Fleet within the cycle (-1: none).
    pub fleet_id: i64,
    /// The fleet's score (0 outside any fleet).
    pub fleet_score: f64,
    /// The fleet is flagged.
    pub fleet_flag: bool,
    /// Campaign (-1: none).
    pub campaign_id: i64,
    /// Normalised isolation-forest score (0–1).
    pub forest_score: f64,
    /// Normalised flow score (0–1), when a flow scored the session.
    pub flow_score: Option<f64>,
    /// Boosted trees' bot probability, when trees scored the session.
    pub trees_prob: Option<f64>,
}

/// One fleet of a cycle, as stored in `fleet_detections`.
#[derive(Debug, Clone, PartialEq)]
pub struct FleetRow {
    /// Number within the cycle.
    pub fleet_id: i64,
    /// Sessions.
    pub sessions: usize,
    /// Distinct addresses.
    pub ips: usize,
    /// Distinct prefixes.
    pub prefixes: usize,
    /// `[[asn, sessions], ...]` as JSON.
    pub asns: String,
    /// `[[ja4, sessions], ...]` as JSON.
    pub ja4s: String,
    /// Mean browser confidence.
    pub mean_browser_confidence: f64,
    /// Fleet score.
    pub score: f64,
    /// Flagged.
    pub flagged: bool,
}

/// A campaign as one cycle saw it (`campaigns` keeps the latest, with its history).
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignRow {
    /// Id, stable across cycles.
    pub campaign_id: i64,
    /// First cycle that saw it (filled when read).
    pub first_cycle: i64,
    /// Last cycle that saw it (filled when read).
    pub last_cycle: i64,
    /// Cycles that saw it (filled when read).
    pub cycles: i64,
    /// First request of any member, over all cycles.
    pub first_seen: Timestamp,
    /// Last request of any member, over all cycles.
    pub last_seen: Timestamp,
    /// Clock of the last cycle that saw it.
    pub updated_at: Timestamp,
    /// Feature set.
    pub model: FeatureSetName,
    /// Clustering algorithm.
    pub algorithm: String,
    /// Member sessions in the last cycle.
    pub sessions: usize,
    /// Member addresses in the last cycle.
    pub ips: usize,
    /// Members escalated to CRITICAL in the last cycle.
    pub escalated: usize,
    /// `[[ja4, sessions], ...]` as JSON.
    pub ja4s: String,
    /// `[[asn, sessions], ...]` as JSON.
    pub asns: String,
    /// `[[country, sessions], ...]` as JSON.
    pub countries: String,
    /// `[[host, sessions], ...]` as JSON.
    pub hosts: String,
    /// Dominant features as JSON.
    pub features: String,
    /// `{level: sessions}` as JSON.
    pub levels: String,
    /// Member addresses of the last cycle (written; read only by [`crate::SqliteStore::campaign_members`]).
    pub members: Vec<String>,
}

/// Retention cut-offs: what is older is deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Scores of cycles started before.
    pub scores_before: Timestamp,
    /// Sessions of windows before.
    pub sessions_before: Timestamp,
    /// Fleets detected before.
    pub fleets_before: Timestamp,
    /// Campaigns last updated (and member addresses last seen) before.
    pub campaigns_before: Timestamp,
}

/// Rows deleted by [`crate::SqliteStore::prune`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    /// Score rows.
    pub scores: usize,
    /// Sessions.
    pub sessions: usize,
    /// Fleet rows.
    pub fleets: usize,
    /// Campaigns.
    pub campaigns: usize,
}

impl Pruned {
    /// Rows deleted in all.
    pub fn total(&self) -> usize {
        self.scores + self.sessions + self.fleets + self.campaigns
    }
}

/// Everything one cycle writes, in one transaction.
#[derive(Debug, Clone)]
pub struct CycleRecord {
    /// Clock of the cycle.
    pub started_at: Timestamp,
    /// Horizon start.
    pub horizon_start: Timestamp,
    /// Horizon end.
    pub horizon_end: Timestamp,
    /// Sessions.
    pub sessions: usize,
    /// Scored sessions.
    pub scored: usize,
    /// Anomalies.
    pub anomalies: usize,
    /// anomalies / scored.
    pub anomaly_rate: f64,
    /// Metrics JSON.
    pub metrics: String,
    /// Scores.
    pub scores: Vec<ScoreRow>,
    /// Decisions: kind, feature set, JSON payload.
    pub decisions: Vec<(DecisionKind, Option<FeatureSetName>, String)>,
    /// Models trained this cycle: feature set, version, trained_at, metadata JSON.
    pub models: Vec<(FeatureSetName, String, Timestamp, String)>,
    /// Fleets found.
    pub fleets: Vec<FleetRow>,
    /// Campaigns found.
    pub campaigns: Vec<CampaignRow>,
    /// The sessions scored, for a store that keeps each cycle's copy
    /// ([`crate::CycleStore::records_sessions`]); empty otherwise.
    pub sessions_scored: Vec<SessionRow>,
}

/// One cycle, as listed in the history.
#[derive(Debug, Clone, PartialEq)]
pub struct CycleSummary {
    /// Cycle id.
    pub id: i64,
    /// Clock of the cycle.
    pub started_at: Timestamp,
    /// Horizon start.
    pub horizon_start: Timestamp,
    /// Horizon end.
    pub horizon_end: Timestamp,
    /// Sessions.
    pub sessions: u64,
    /// Scored sessions.
    pub scored: u64,
    /// Anomalies.
    pub anomalies: u64,
    /// anomalies / scored.
    pub anomaly_rate: f64,
    /// The cycle's metrics as JSON (levels, models, thresholds, drift, stage latencies).
    pub metrics: String,
}

/// A dimension of [`crate::SqliteStore::top_values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TopBy {
    /// Autonomous system (key: the number; label: the organisation).
    Asn,
    /// Country code.
    Country,
    /// JA4.
    Ja4,
    /// Host.
    Host,
}

/// One value of a top list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopValue {
    /// The value.
    pub key: String,
    /// A readable label ("" when none).
    pub label: String,
    /// Sessions.
    pub sessions: u64,
    /// Anomalous sessions.
    pub anomalies: u64,
    /// Requests.
    pub hits: u64,
}

/// Which scores [`crate::SqliteStore::threats`] returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ThreatFilter {
    /// Threat levels (empty: all).
    pub levels: Vec<String>,
    /// Lowest normalised anomaly score.
    pub min_score: f64,
    /// Address prefix, as text (e.g. `203.0.113.`).
    pub ip_prefix: Option<String>,
    /// Exact JA4.
    pub ja4: Option<String>,
    /// Exact host.
    pub host: Option<String>,
    /// Campaign.
    pub campaign: Option<i64>,
    /// Fleet of the cycle.
    pub fleet: Option<i64>,
    /// Anomalies only.
    pub anomalies_only: bool,
    /// Rows skipped.
    pub offset: usize,
    /// Rows returned at most.
    pub limit: usize,
    /// Start after this row (keyset pagination; then `offset` counts from it).
    pub after: Option<ThreatCursor>,
}

/// Where a page of threats ended: the next page starts after it, at the cost of the first
/// page however deep it is (keyset pagination over the threats' order).
#[derive(Debug, Clone, PartialEq)]
pub struct ThreatCursor {
    /// The row's normalised anomaly score.
    pub anomaly_score: f64,
    /// Its address, as stored.
    pub src_ip: String,
    /// Its window start.
    pub window_start_ms: i64,
    /// Its JA4, as stored.
    pub ja4: String,
    /// Its host.
    pub host: String,
}

impl ThreatCursor {
    /// The longest cursor text accepted.
    pub const MAX_LEN: usize = 4096;

    /// The cursor just after `row`.
    pub fn after(row: &ScoreRow) -> ThreatCursor {
        ThreatCursor {
            anomaly_score: row.anomaly_score,
            src_ip: row.key.src_ip.to_string(),
            window_start_ms: row.key.window_start.millis(),
            ja4: row.key.ja4_str().to_string(),
            host: row.key.host.clone(),
        }
    }

    /// Opaque text for a URL: the fields (the score by its bits, so that it survives
    /// exactly) as lowercase hex.
    pub fn encode(&self) -> String {
        let text = format!(
            "{:x}\n{}\n{}\n{}\n{}",
            self.anomaly_score.to_bits(),
            self.window_start_ms,
            self.src_ip,
            self.ja4,
            self.host
        );
        text.bytes().map(|b| format!("{b:02x}")).collect()
    }

    /// Reads [`ThreatCursor::encode`]'s text; says what is wrong with anything else.
    pub fn decode(text: &str) -> Result<ThreatCursor, String> {
        if text.len() > Self::MAX_LEN || !text.len().is_multiple_of(2) {
            return Err(format!(
                "not a cursor: an even number of hex digits, at most {} of them",
                Self::MAX_LEN
            ));
        }
        let bytes = (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(text.get(i..i + 2).unwrap_or("x"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .map_err(|_| "not a cursor: not hex".to_string())?;
        let text = String::from_utf8(bytes).map_err(|_| "not a cursor: not UTF-8".to_string())?;
        let mut fields = text.splitn(5, '\n');
        let mut next = || {
            fields
                .next()
                .ok_or_else(|| "not a cursor: too few fields".to_string())
        };
        let bits = u64::from_str_radix(next()?, 16).map_err(|_| "not a cursor: bad score")?;
        let window_start_ms = next()?
            .parse::<i64>()
            .map_err(|_| "not a cursor: bad window")?;
        let (src_ip, ja4, host) = (
            next()?.to_string(),
            next()?.to_string(),
            next()?.to_string(),
        );
        let anomaly_score = f64::from_bits(bits);
        if !anomaly_score.is_finite() {
            return Err("not a cursor: bad score".into());
        }
        Ok(ThreatCursor {
            anomaly_score,
            src_ip,
            window_start_ms,
            ja4,
            host,
        })
    }
}

/// A score joined with its session's enrichment.
#[derive(Debug, Clone, PartialEq)]
pub struct ThreatRow {
    /// The score.
    pub score: ScoreRow,
    /// User agent of the session's first request.
    pub user_agent: String,
    /// AS number (0: unknown).
    pub asn: u32,
    /// AS organisation.
    pub asn_org: String,
    /// Country code.
    pub country: String,
    /// Requests.
    pub hits: u64,
    /// First request.
    pub first_seen: Timestamp,
    /// Last request.
    pub last_seen: Timestamp,
    /// Known-bot name or "".
    pub bot_name: String,
    /// TCP/TLS side matched.
    pub correlated: bool,
    /// The SYN's fingerprint in JA4T layout (`window_options_mss_scale`), or "".
    pub tcp_fingerprint: String,
    /// The session's features in [`FeatureId`](shrike_features::FeatureId) order (empty
    /// when the session was pruned).
    pub features: Vec<f32>,
}

/// One entry of the decisions log.
#[derive(Debug, Clone, PartialEq)]
pub struct DecisionRow {
    /// Id (increasing).
    pub id: i64,
    /// Cycle.
    pub cycle_id: i64,
    /// Clock of the cycle.
    pub at: Timestamp,
    /// Kind.
    pub kind: DecisionKind,
    /// Feature set (`None` for cycle-wide entries).
    pub model: Option<FeatureSetName>,
    /// JSON payload.
    pub payload: String,
}

/// One registered model version.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelRow {
    /// Feature set.
    pub model: FeatureSetName,
    /// Version.
    pub version: String,
    /// Cycle that trained it.
    pub cycle_id: i64,
    /// Training clock.
    pub trained_at: Timestamp,
    /// Metadata JSON (features, validation).
    pub meta: String,
}

/// An analyst's label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FeedbackLabel {
    /// Automated traffic.
    Bot,
    /// A person.
    Human,
}

impl FeedbackLabel {
    /// The stored name.
    pub const fn as_str(self) -> &'static str {
        match self {
            FeedbackLabel::Bot => "bot",
            FeedbackLabel::Human => "human",
        }
    }

    /// Parses `bot` or `human`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "bot" => Some(FeedbackLabel::Bot),
            "human" => Some(FeedbackLabel::Human),
            _ => None,
        }
    }
}

/// The session a label is about; `None` in [`Feedback::session`] means every session of
/// the address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeedbackSession {
    /// Start of the hour.
    pub window_start: Timestamp,
    /// JA4.
    pub ja4: String,
    /// Host.
    pub host: String,
}

/// An analyst's label on a session or an address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Feedback {
    /// Id (0 before it is stored).
    pub id: i64,
    /// When it was given.
    pub created_at: Timestamp,
    /// Who gave it.
    pub analyst: String,
    /// The label.
    pub label: FeedbackLabel,
    /// Why.
    pub note: String,
    /// The address.
    pub src_ip: String,
    /// One session of the address, or all of them.
    pub session: Option<FeedbackSession>,
}
