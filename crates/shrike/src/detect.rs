//! `shrike detect`: one detection cycle over the store's horizon, outputs written back.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Args;
use shrike_detect::{
    CampaignMemory, CycleOutput, Decision, DecisionKind, DetectConfig, KnownCampaign, LabelSource,
    Labelled, PolicyMark, Registry, Session,
};
use shrike_dict::fcrdns::Verifier;
use shrike_dict::{Dictionaries, DictionaryWatch, Reload};
use shrike_store::{
    CampaignRow, CycleRecord, CycleStore, FeedbackLabel, FleetRow, Retention, ScoreRow, SessionRow,
};
use shrike_types::{ThreatLevel, Timestamp, HOUR_MS};

use crate::config::{Config, Settings};
use crate::CommonOpts;

/// Arguments of `shrike detect`.
#[derive(Args, Clone, Default)]
pub struct DetectArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// End of the horizon (RFC 3339) [default: the newest session in the store].
    #[arg(long)]
    pub at: Option<String>,
    /// Model registry directory [default: `models/` beside the store].
    #[arg(long)]
    pub models: Option<PathBuf>,
    /// Run a cycle every interval (`30s`, `10m`, `1h`) until SIGINT or SIGTERM. A cycle in
    /// progress finishes before the exit; a second signal abandons it at once (its outputs
    /// are written in one transaction, so nothing of it is kept).
    #[arg(long, value_parser = parse_interval, conflicts_with = "at")]
    pub every: Option<Duration>,
}

/// Parses an interval: a positive whole number followed by `s`, `m` or `h`.
pub fn parse_interval(text: &str) -> Result<Duration, String> {
    let bad = || format!("`{text}`: expected a positive number followed by s, m or h (e.g. 10m)");
    let (digits, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = digits.parse().map_err(|_| bad())?;
    let secs = match unit {
        "s" => Some(n),
        "m" => n.checked_mul(60),
        "h" => n.checked_mul(3600),
        _ => None,
    };
    match secs {
        Some(s) if s > 0 => Ok(Duration::from_secs(s)),
        _ => Err(bad()),
    }
}

/// Opens the configured dictionary directory for the cycles (`None` when none is set).
pub fn watch_dictionaries(settings: &Settings) -> anyhow::Result<Option<DictionaryWatch>> {
    let Some(dir) = settings.dict_dir.as_deref() else {
        return Ok(None);
    };
    let mut watch = DictionaryWatch::open(dir)?;
    if let Some(f) = settings.fcrdns {
        let resolver = shrike_dict::fcrdns::UdpResolver::from_system(f.timeout).map_err(|e| {
            anyhow::anyhow!("dictionaries.fcrdns is on but no resolver can be used: {e}")
        })?;
        tracing::info!(
            timeout_ms = f.timeout.as_millis() as u64,
            max_lookups = f.max_lookups,
            "claimed crawlers are verified by forward-confirmed reverse DNS"
        );
        watch = watch.with_verifier(shrike_dict::fcrdns::Verifier::new(
            Box::new(resolver),
            std::time::Duration::from_secs(6 * 3600),
            f.max_lookups,
        ));
    }
    Ok(Some(watch))
}

/// Reloads changed dictionary files; returns the decision to log, if any.
fn refresh_dictionaries(watch: &mut DictionaryWatch) -> Option<Decision> {
    let dir = watch.dir().display().to_string();
    match watch.refresh() {
        Reload::Unchanged => None,
        Reload::Reloaded { changed } => {
            tracing::info!(dir, ?changed, "dictionaries changed: reloaded");
            Some(Decision {
                kind: DecisionKind::DictionariesReloaded,
                model: String::new(),
                payload: serde_json::json!({ "dir": dir, "changed": changed }),
            })
        }
        Reload::Failed(e) => {
            tracing::error!(error = %e, "dictionaries changed but do not load: the previous ones stay in service");
            Some(Decision {
                kind: DecisionKind::DictionaryReloadFailed,
                model: String::new(),
                payload: serde_json::json!({ "dir": dir, "error": e.to_string() }),
            })
        }
    }
}

/// Runs one cycle on an open store and saves its outputs; `None` when the store is empty.
/// With a dictionary directory, changed files are reloaded first and the sessions' known-bot
/// names, JA4 browser families and ASN labels come from the dictionaries in service.
pub fn cycle(
    store: &mut dyn CycleStore,
    cfg: &DetectConfig,
    registry: &Registry,
    settings: &Settings,
    at: Option<Timestamp>,
    dictionaries: Option<&mut DictionaryWatch>,
) -> anyhow::Result<Option<(Vec<Session>, CycleOutput, i64)>> {
    let (reload, dict, verifier) = match dictionaries {
        Some(w) => (refresh_dictionaries(w), Some(w.current()), w.verifier()),
        None => (None, None, None),
    };
    if let Some(v) = &verifier {
        let missed = v.new_cycle();
        if missed > 0 {
            tracing::warn!(missed, "the last cycle had more claimed crawlers than dictionaries.fcrdns_max_lookups: these stayed unverified");
        }
    }
    let enrich = Enrich {
        dict: dict.as_deref(),
        verifier: verifier.as_deref(),
    };
    let Some((sessions, start, end)) = load_sessions(store, settings.horizon_hours, at, enrich)?
    else {
        return Ok(None);
    };
    let recurrence = store.recurrences()?;
    // The cycle's clock is the end of its horizon, so that replays are reproducible.
    let now = Timestamp::from_millis(end.millis() + HOUR_MS);
    let memory = campaign_memory(store, cfg, now)?;
    let labels = load_labels(store, cfg, now, dict.as_deref())?;
    let mut out =
        shrike_detect::run_cycle(&sessions, &labels, &recurrence, &memory, registry, cfg, now);
    out.decisions.splice(0..0, reload);
    let id = save(store, registry, &sessions, &out, start, end, now)?;
    let hours = |h: u32| Timestamp::from_millis(now.millis() - h as i64 * HOUR_MS);
    let pruned = store.prune(&Retention {
        scores_before: hours(settings.scores_retention_hours),
        sessions_before: hours(settings.sessions_retention_hours),
        fleets_before: hours(settings.fleet_retention_hours),
        campaigns_before: hours(settings.campaign_retention_hours),
    })?;
    if pruned.total() > 0 {
        tracing::info!(
            scores = pruned.scores,
            sessions = pruned.sessions,
            fleets = pruned.fleets,
            campaigns = pruned.campaigns,
            "retention: deleted what is older than store.*_retention_hours"
        );
    }
    Ok(Some((sessions, out, id)))
}

/// The campaigns of earlier cycles still within `campaign_memory_hours` of the cycle's clock.
pub fn campaign_memory(
    store: &dyn CycleStore,
    cfg: &DetectConfig,
    now: Timestamp,
) -> anyhow::Result<CampaignMemory> {
    let since = Timestamp::from_millis(now.millis() - (cfg.campaign_memory_hours * 3.6e6) as i64);
    let (known, next_id) = store.campaign_memory(since)?;
    Ok(CampaignMemory {
        known: known
            .into_iter()
            .map(|(id, ips)| KnownCampaign { id, ips })
            .collect(),
        next_id,
    })
}

/// The sessions of the horizon ending at `at` (default: the newest window), with the
/// horizon's first and last window; `None` when the store is empty.
///
/// With `dict`, the dictionary lookups that triage relies on (known-bot name by IP or JA4,
/// browser family of the JA4, ASN reputation) are made again, so that a dictionary edited
/// since the ingest applies to the next cycle. Features computed from dictionaries at ingest
/// (the HTTP/2 ones, fingerprint coherence) change for sessions ingested after the edit.
pub fn load_sessions(
    store: &dyn CycleStore,
    horizon_hours: u32,
    at: Option<Timestamp>,
    enrich: Enrich<'_>,
) -> anyhow::Result<Option<(Vec<Session>, Timestamp, Timestamp)>> {
    let Some(end) = at.map(|t| t.hour_start()).or(store.newest_window()?) else {
        return Ok(None);
    };
    let start = Timestamp::from_millis(end.millis() - (horizon_hours as i64 - 1) * HOUR_MS);
    let mut sessions: Vec<Session> = store
        .sessions_between(start, end)?
        .into_iter()
        .map(|r| to_session(r, enrich))
        .collect();
    // One order whatever the store (clustering labels follow it): by window, then the
    // address as text, JA4 and host, as the embedded store lists them.
    sessions.sort_by(|a, b| {
        (a.window_start, &a.src_ip, &a.ja4, &a.host).cmp(&(
            b.window_start,
            &b.src_ip,
            &b.ja4,
            &b.host,
        ))
    });
    Ok(Some((sessions, start, end)))
}

/// What a cycle looks sessions up in: the dictionaries in service and, when enabled, the
/// claimed-crawler verifier.
#[derive(Clone, Copy, Default)]
pub struct Enrich<'a> {
    /// Dictionaries (`None`: the names stored at ingest stand).
    pub dict: Option<&'a Dictionaries>,
    /// Forward-confirmed reverse DNS.
    pub verifier: Option<&'a Verifier>,
}

/// A stored session as the cycle sees it, with the dictionaries in service applied.
pub(crate) fn to_session(mut r: shrike_store::SessionRow, enrich: Enrich<'_>) -> Session {
    let mut policy = PolicyMark::default();
    if let Some(d) = enrich.dict {
        r.bot_name = d.bot_name(r.src_ip, &r.ja4).unwrap_or("").to_string();
        r.browser_family = d.browser_family(&r.ja4).to_string();
        r.asn_label = d.asn_label(r.asn).as_str().to_string();
        policy = policy_mark(d, enrich.verifier, &mut r);
    }
    Session {
        window_start: r.window_start,
        first_seen: r.first_seen,
        last_seen: r.last_seen,
        country: r.country,
        src_ip: r.src_ip.to_string(),
        ja4: r.ja4,
        host: r.host,
        asn_label: r.asn_label,
        asn: r.asn,
        bot_name: r.bot_name,
        browser_family: r.browser_family,
        user_agent: r.user_agent,
        correlated: r.correlated,
        asn_org: r.asn_org,
        tcp_fingerprint: r.tcp_fingerprint,
        features: r.features,
        policy,
    }
}

/// The Anubis policy and the user-agent patterns applied to what a session keeps: its
/// address, ASN, country and first user agent (rules on headers, path or method cannot
/// match at this level). A matching ALLOW rule names the session a known bot.
fn policy_mark(
    d: &Dictionaries,
    verifier: Option<&Verifier>,
    r: &mut shrike_store::SessionRow,
) -> PolicyMark {
    use shrike_dict::policy::DecidedBy;
    let mut mark = PolicyMark::default();
    if let Some(claim) = d.ua_bots.classify(&r.user_agent) {
        // A claim is an identification only once the address is verified as that
        // crawler's (its operator's DNS names it).
        let verified = r.bot_name.is_empty()
            && verifier.and_then(|v| v.confirms_bot(r.src_ip, &claim.name)) == Some(true);
        if verified {
            r.bot_name = claim.name.clone();
        } else if r.bot_name.is_empty() {
            mark.claimed_bot = claim.name.clone();
        }
    }
    if d.policy.is_empty() {
        return mark;
    }
    let check =
        |ip: std::net::IpAddr, re: Option<&shrike_dict::cel::Regex>| verifier?.confirms(ip, re);
    let fields = shrike_dict::cel::Fields {
        user_agent: Some(&r.user_agent),
        remote_address: Some(r.src_ip),
        asn: (r.asn != 0).then_some(r.asn),
        country: (!r.country.is_empty()).then_some(r.country.as_str()),
        fcrdns: Some(&check),
        ..Default::default()
    };
    let v = d.policy.evaluate(&fields);
    match (&v.by, v.action) {
        (DecidedBy::Rule(_, name), shrike_dict::Action::Allow) if r.bot_name.is_empty() => {
            r.bot_name = format!("anubis:{name}");
        }
        (DecidedBy::Rule(_, name), shrike_dict::Action::Deny) => mark.deny = name.clone(),
        (_, shrike_dict::Action::Challenge) => mark.flagged = true,
        _ => {}
    }
    mark.flagged |= v.weight > 0;
    mark
}

/// The labelled history the boosted trees learn from: sessions of the last
/// `label_history_days` before `now` whose latest level is a label, or that an analyst
/// labelled (the analyst wins); a seeded sample of `trees_max_labels` at most.
pub fn load_labels(
    store: &dyn CycleStore,
    cfg: &DetectConfig,
    now: Timestamp,
    dict: Option<&Dictionaries>,
) -> anyhow::Result<Vec<Labelled>> {
    if cfg.trees_weight <= 0.0 {
        return Ok(Vec::new());
    }
    let from = Timestamp::from_millis(
        now.millis() - (cfg.label_history_days * 24.0 * HOUR_MS as f64) as i64,
    );
    let levels: Vec<&str> = ThreatLevel::ALL
        .iter()
        .filter(|l| l.label().is_some())
        .map(|l| l.as_str())
        .collect();
    let mut out: Vec<Labelled> = Vec::new();
    for row in store.labelled_sessions(from, now, &levels)? {
        let level = row
            .level
            .as_deref()
            .map(str::parse::<ThreatLevel>)
            .transpose()?;
        let (bot, source) = match (row.feedback, level.and_then(|l| Some((l.label()?, l)))) {
            (Some(f), _) => (f == FeedbackLabel::Bot, LabelSource::Analyst),
            (None, Some((bot, level))) => (bot, LabelSource::Level(level)),
            (None, None) => continue,
        };
        out.push(Labelled {
            session: to_session(
                row.session,
                Enrich {
                    dict,
                    verifier: None,
                },
            ),
            bot,
            source,
        });
    }
    if out.len() > cfg.trees_max_labels {
        // Analyst labels are always kept; the rest is a seeded sample.
        let (mut keep, mut rest): (Vec<Labelled>, Vec<Labelled>) = out
            .into_iter()
            .partition(|l| l.source == LabelSource::Analyst);
        let mut rng = shrike_types::Rng::seed_from_u64(cfg.seed);
        for i in (1..rest.len()).rev() {
            rest.swap(i, rng.below(i as u64 + 1) as usize);
        }
        rest.truncate(cfg.trees_max_labels.saturating_sub(keep.len()));
        keep.extend(rest);
        out = keep;
    }
    Ok(out)
}

/// A session as a store row (for a store that keeps each cycle's copy).
fn session_row(s: &Session) -> SessionRow {
    SessionRow {
        window_start: s.window_start,
        src_ip: s
            .src_ip
            .parse()
            .unwrap_or(std::net::Ipv4Addr::UNSPECIFIED.into()),
        ja4: s.ja4.clone(),
        host: s.host.clone(),
        hits: s.features[shrike_features::FeatureId::Hits.index()] as u64,
        asn_label: s.asn_label.clone(),
        bot_name: s.bot_name.clone(),
        browser_family: s.browser_family.clone(),
        features: s.features.clone(),
        first_seen: s.first_seen,
        asn: s.asn,
        user_agent: s.user_agent.clone(),
        correlated: s.correlated,
        country: s.country.clone(),
        last_seen: s.last_seen,
        asn_org: s.asn_org.clone(),
        tcp_fingerprint: s.tcp_fingerprint.clone(),
    }
}

/// A value as JSON text (the store keeps summaries as JSON).
fn json<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_default()
}

/// Writes a cycle's outputs (scores, decisions, metrics, new models) in one transaction.
pub fn save(
    store: &mut dyn CycleStore,
    registry: &Registry,
    sessions: &[Session],
    out: &CycleOutput,
    start: Timestamp,
    end: Timestamp,
    now: Timestamp,
) -> anyhow::Result<i64> {
    let scores = sessions
        .iter()
        .zip(&out.verdicts)
        .map(|(s, v)| ScoreRow {
            window_start: s.window_start,
            src_ip: s.src_ip.clone(),
            ja4: s.ja4.clone(),
            host: s.host.clone(),
            model: v.model.map_or("", |m| m.as_str()).to_string(),
            threat_level: v.level,
            raw_score: v.raw_score,
            anomaly_score: v.anomaly_score,
            is_anomaly: v.is_anomaly,
            recurrence: v.recurrence,
            browser_confidence: v.browser_confidence,
            browser_family: v.browser_family.clone(),
            reason: v.reason.clone(),
            top_features: json(&v.top),
            fleet_id: v.fleet.map_or(-1, i64::from),
            fleet_score: v.fleet_score,
            fleet_flag: v.fleet_flag,
            campaign_id: v.campaign.unwrap_or(-1),
            forest_score: v.forest_score,
            flow_score: v.flow_score,
            trees_prob: v.trees_prob,
        })
        .collect();
    let campaigns = out
        .campaigns
        .iter()
        .map(|c| CampaignRow {
            campaign_id: c.id,
            first_cycle: 0,
            last_cycle: 0,
            cycles: 0,
            first_seen: c.first_seen,
            last_seen: c.last_seen,
            updated_at: now,
            model: c.model.as_str().to_string(),
            algorithm: c.algorithm.as_str().to_string(),
            sessions: c.sessions,
            ips: c.ips.len(),
            escalated: c.escalated,
            ja4s: json(&c.ja4s),
            asns: json(&c.asns),
            countries: json(&c.countries),
            hosts: json(&c.hosts),
            features: json(&c.features),
            levels: json(&c.levels),
            members: c.ips.clone(),
        })
        .collect();
    let fleets = out
        .fleets
        .iter()
        .map(|f| FleetRow {
            fleet_id: i64::from(f.id),
            sessions: f.sessions,
            ips: f.ips,
            prefixes: f.prefixes,
            asns: json(&f.asns),
            ja4s: json(&f.ja4s),
            mean_browser_confidence: f.mean_browser_confidence,
            score: f.score,
            flagged: f.flagged,
        })
        .collect();
    let models = out
        .decisions
        .iter()
        .filter(|d| d.kind == shrike_detect::DecisionKind::ModelTrained)
        .filter_map(|d| {
            let version = d.payload["version"].as_str()?.to_string();
            let set = shrike_detect::FeatureSetName::ALL
                .into_iter()
                .find(|s| s.as_str() == d.model)?;
            let meta = registry.load(set, &version).ok()?.meta;
            Some((d.model.clone(), version, now, json(&meta)))
        })
        .collect();
    let record = CycleRecord {
        started_at: now,
        horizon_start: start,
        horizon_end: end,
        sessions: out.metrics.sessions,
        scored: out.metrics.scored,
        anomalies: out.metrics.anomalies,
        anomaly_rate: out.metrics.anomaly_rate,
        metrics: {
            // The cycle's figures plus each feature set's per-feature drift (Health page).
            let mut m = serde_json::to_value(&out.metrics)?;
            m["drift_features"] = serde_json::to_value(&out.drift_reports)?;
            m.to_string()
        },
        scores,
        decisions: out
            .decisions
            .iter()
            .map(|d| {
                (
                    d.kind.as_str().to_string(),
                    d.model.clone(),
                    d.payload.to_string(),
                )
            })
            .collect(),
        models,
        fleets,
        campaigns,
        sessions_scored: if store.records_sessions() {
            sessions.iter().map(session_row).collect()
        } else {
            Vec::new()
        },
    };
    Ok(store.save_cycle(&record)?)
}

/// `shrike detect`.
pub fn run(config: Config, args: DetectArgs) -> anyhow::Result<ExitCode> {
    let cfg = config.detect()?;
    let settings = crate::ingest::settings(config, &args.common, None)?;
    let at = args
        .at
        .as_deref()
        .map(Timestamp::parse_rfc3339)
        .transpose()
        .map_err(|e| anyhow::anyhow!("--at: {e}"))?;
    let models = args
        .models
        .clone()
        .unwrap_or_else(|| settings.store_path.with_file_name("models"));
    let registry = Registry::open(&models)?;
    let mut store = crate::stores::cycle_store(&settings)?;
    let mut dictionaries = watch_dictionaries(&settings)?;
    if let Some(every) = args.every {
        return run_every(
            store.as_mut(),
            &cfg,
            &registry,
            &settings,
            every,
            dictionaries,
        );
    }
    match cycle(
        store.as_mut(),
        &cfg,
        &registry,
        &settings,
        at,
        dictionaries.as_mut(),
    )? {
        None => {
            eprintln!(
                "error: the store {} has no sessions: run `shrike ingest` first",
                store.describe()
            );
            Ok(ExitCode::from(1))
        }
        Some((_, out, id)) => {
            print_summary(&out, id);
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `shrike detect --every`: cycles until a termination signal.
fn run_every(
    store: &mut dyn CycleStore,
    cfg: &DetectConfig,
    registry: &Registry,
    settings: &Settings,
    every: Duration,
    mut dictionaries: Option<DictionaryWatch>,
) -> anyhow::Result<ExitCode> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let stop = Arc::new(AtomicBool::new(false));
    for (signal, status) in [(SIGINT, 130), (SIGTERM, 143)] {
        // The first signal sets the flag; with the flag set, the next one exits at once.
        // The exit handler must be registered first (signal-hook runs them in order).
        signal_hook::flag::register_conditional_shutdown(signal, status, Arc::clone(&stop))?;
        signal_hook::flag::register(signal, Arc::clone(&stop))?;
    }
    tracing::info!(
        every_s = every.as_secs(),
        "running a detection cycle every interval; SIGINT or SIGTERM stops after the current cycle"
    );
    let mut cycles = 0u64;
    loop {
        let started = Instant::now();
        match cycle(store, cfg, registry, settings, None, dictionaries.as_mut()) {
            Ok(Some((_, out, id))) => print_summary(&out, id),
            Ok(None) => tracing::warn!("the store has no sessions yet: nothing to score"),
            // A failed cycle (a locked or full disk, say) is reported; the next one retries.
            Err(e) => tracing::error!(error = %crate::render_error(&e), "detection cycle failed"),
        }
        cycles += 1;
        let elapsed = started.elapsed();
        if elapsed > every {
            tracing::warn!(
                elapsed_ms = elapsed.as_millis() as u64,
                every_s = every.as_secs(),
                "the cycle took longer than its interval: the next one starts now"
            );
        }
        let next = started + every;
        while !stop.load(Ordering::SeqCst) {
            let now = Instant::now();
            if now >= next {
                break;
            }
            std::thread::sleep((next - now).min(Duration::from_millis(100)));
        }
        if stop.load(Ordering::SeqCst) {
            println!("stopped by signal after {cycles} cycle(s)");
            return Ok(ExitCode::SUCCESS);
        }
    }
}

/// Prints the cycle's figures and decisions.
pub fn print_summary(out: &CycleOutput, id: i64) {
    let m = &out.metrics;
    println!(
        "cycle {id}: {} sessions, {} scored, {} anomalies ({:.1}%)",
        m.sessions,
        m.scored,
        m.anomalies,
        100.0 * m.anomaly_rate
    );
    let levels: Vec<String> = m.levels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!("  levels: {}", levels.join(", "));
    for set in shrike_detect::FeatureSetName::ALL {
        match m.models.get(set.as_str()) {
            Some(version) => println!(
                "  model {set}: {version}, threshold {:.4}",
                m.thresholds.get(set.as_str()).copied().unwrap_or(0.0),
                set = set.as_str()
            ),
            None => println!(
                "  model {}: not used this cycle (no session of its set to score, or see the decisions)",
                set.as_str()
            ),
        }
    }
    for d in &out.decisions {
        if d.kind != shrike_detect::DecisionKind::Anomaly {
            println!("  decision {} {}: {}", d.kind.as_str(), d.model, d.payload);
        }
    }
    let stages: Vec<String> = m
        .stage_ms
        .iter()
        .map(|(k, v)| format!("{k} {v} ms"))
        .collect();
    println!("  stages: {}", stages.join(", "));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_need_a_unit_and_a_positive_count() {
        assert_eq!(parse_interval("10m"), Ok(Duration::from_secs(600)));
        assert_eq!(parse_interval("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_interval("45s"), Ok(Duration::from_secs(45)));
        for bad in [
            "",
            "10",
            "0m",
            "-1m",
            "1.5h",
            "m",
            "10 m",
            "10d",
            "99999999999999999h",
        ] {
            let e = parse_interval(bad).unwrap_err();
            assert!(e.contains("s, m or h"), "{bad}: {e}");
        }
    }

    /// DNS answering for one Googlebot address only.
    struct GoogleOnly;
    impl shrike_dict::fcrdns::Resolver for GoogleOnly {
        fn reverse(
            &self,
            ip: std::net::IpAddr,
        ) -> Result<Vec<String>, shrike_dict::fcrdns::DnsError> {
            if ip.to_string() == "66.249.66.1" {
                Ok(vec!["crawl-66-249-66-1.googlebot.com.".into()])
            } else {
                Err(shrike_dict::fcrdns::DnsError::NotFound)
            }
        }
        fn forward(
            &self,
            name: &str,
        ) -> Result<Vec<std::net::IpAddr>, shrike_dict::fcrdns::DnsError> {
            Ok(if name == "crawl-66-249-66-1.googlebot.com" {
                vec!["66.249.66.1".parse().unwrap()]
            } else {
                Vec::new()
            })
        }
    }

    fn row(ip: &str, ua: &str) -> shrike_store::SessionRow {
        shrike_store::SessionRow {
            window_start: Timestamp::from_millis(1_714_564_800_000),
            src_ip: ip.parse().unwrap(),
            ja4: String::new(),
            host: "example.org".into(),
            hits: 3,
            asn_label: String::new(),
            bot_name: String::new(),
            browser_family: String::new(),
            features: vec![0.0; shrike_features::FeatureId::COUNT],
            first_seen: Timestamp::from_millis(1_714_564_800_000),
            asn: 0,
            user_agent: ua.into(),
            correlated: false,
            country: String::new(),
            last_seen: Timestamp::from_millis(1_714_564_900_000),
            asn_org: String::new(),
            tcp_fingerprint: String::new(),
        }
    }

    #[test]
    fn a_claimed_crawler_is_known_only_once_verified() {
        let ua_bots = shrike_dict::UaBots::new(vec![shrike_dict::UaPattern {
            pattern: r"Googlebot\/".into(),
            name: "Googlebot".into(),
            category: "search-engine".into(),
        }])
        .unwrap();
        let policy = shrike_dict::Policy::from_json(&serde_json::json!({"rules": [
            {"name": "headless", "user_agent_regex": "HeadlessChrome", "action": "DENY"},
            {"name": "telegram", "expression": "verifyFCrDNS(remoteAddress, \"googlebot\\\\.com$\")", "action": "ALLOW"},
            {"name": "generic-browser", "user_agent_regex": "Mozilla", "action": "WEIGH", "weight": {"adjust": 10}}
        ]}))
        .unwrap();
        let d = Dictionaries {
            ua_bots,
            policy,
            ..Dictionaries::default()
        };
        let ua = "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)";
        let v = Verifier::new(Box::new(GoogleOnly), Duration::from_secs(60), 100);
        let on = Enrich {
            dict: Some(&d),
            verifier: Some(&v),
        };
        let off = Enrich {
            dict: Some(&d),
            verifier: None,
        };
        // Without verification the user agent is a claim; the policy only weighs it.
        let s = to_session(row("66.249.66.1", ua), off);
        assert_eq!(s.bot_name, "");
        assert_eq!(s.policy.claimed_bot, "Googlebot");
        assert!(s.policy.flagged);
        // Verified: a known bot, by the user-agent pattern's name.
        let s = to_session(row("66.249.66.1", ua), on);
        assert_eq!(s.bot_name, "Googlebot");
        assert_eq!(s.policy.claimed_bot, "");
        // The same claim from elsewhere stays a claim, and is weighed.
        let s = to_session(row("203.0.113.9", ua), on);
        assert_eq!(
            (s.bot_name.as_str(), s.policy.claimed_bot.as_str()),
            ("", "Googlebot")
        );
        assert!(s.policy.flagged);
        // A DENY rule marks the session; verifyFCrDNS in a rule uses the verifier.
        let s = to_session(row("203.0.113.9", "Mozilla/5.0 HeadlessChrome/126"), on);
        assert_eq!(s.policy.deny, "headless");
        let s = to_session(row("66.249.66.1", "TelegramBot (like TwitterBot)"), on);
        assert_eq!(s.bot_name, "anubis:telegram");
    }
}
