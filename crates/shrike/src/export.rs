//! `shrike export`: the latest cycle's verdicts as a block list for a proxy, firewall or
//! WAF, or (`--shadow`) a report of what would be blocked and why.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use shrike_export::{plan, render, Filters, Format, RenderOptions};
use shrike_store::VerdictStore;
use shrike_types::{ThreatLevel, Timestamp, HOUR_MS};

use crate::config::Config;
use crate::CommonOpts;

fn parse_format(text: &str) -> Result<Format, String> {
    Format::parse(text).ok_or_else(|| {
        let names: Vec<&str> = Format::ALL.iter().map(|(_, n)| *n).collect();
        format!("`{text}`: allowed {}", names.join(", "))
    })
}

/// Arguments of `shrike export`.
#[derive(Args, Clone)]
pub struct ExportArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// Output format: json, csv, nginx (deny include), nginx-map (geo + JA4 map include),
    /// haproxy (ACL file), ipset (restore file), crowdsec (decisions import JSON), anubis
    /// (policy rules).
    #[arg(long, value_parser = parse_format)]
    pub format: Format,
    /// Write here (atomically: a temporary file renamed over it) instead of stdout.
    #[arg(long, short)]
    pub output: Option<PathBuf>,
    /// Lowest level exported: LOW, MEDIUM, HIGH or CRITICAL (ANUBIS_DENY counts as HIGH).
    #[arg(long, default_value_t = ThreatLevel::Medium)]
    pub min_level: ThreatLevel,
    /// Lowest normalised anomaly score (0-1).
    #[arg(long, default_value_t = 0.0)]
    pub min_score: f64,
    /// Only the sessions of this campaign.
    #[arg(long)]
    pub campaign: Option<i64>,
    /// Only the sessions of this flagged fleet of the latest cycle.
    #[arg(long)]
    pub fleet: Option<i64>,
    /// Only sessions from the last N hours of the latest cycle's horizon.
    #[arg(long)]
    pub max_age_hours: Option<u32>,
    /// Blocked addresses of one /24 (or /48) that collapse it to one prefix entry when
    /// they are all the addresses seen in it (0: never).
    #[arg(long, default_value_t = 8)]
    pub collapse_min: usize,
    /// Blocked addresses that block a JA4 no calm session shares (0: never).
    #[arg(long, default_value_t = 5)]
    pub ja4_min_ips: usize,
    /// ipset set name prefix (sets `<name>4` and `<name>6`).
    #[arg(long, default_value = "shrike")]
    pub set_name: String,
    /// CrowdSec decision duration.
    #[arg(long, default_value = "24h")]
    pub duration: String,
    /// Request header carrying the client's JA4 in front of Anubis.
    #[arg(long, default_value = "X-JA4")]
    pub ja4_header: String,
    /// Print what would be blocked and why, and what is held back; write nothing.
    #[arg(long)]
    pub shadow: bool,
}

/// One export of the latest verdicts: its format, filters and rendering options (from
/// `shrike export`'s flags or a `[[run.export]]` of the service).
#[derive(Debug, Clone)]
pub struct ExportJob {
    pub format: Format,
    pub min_level: ThreatLevel,
    pub min_score: f64,
    pub campaign: Option<i64>,
    pub fleet: Option<i64>,
    pub max_age_hours: Option<u32>,
    pub collapse_min: usize,
    pub ja4_min_ips: usize,
    pub set_name: String,
    pub duration: String,
    pub ja4_header: String,
}

impl ExportJob {
    /// Checks the options a renderer relies on; `key` names them in errors (`--set-name`,
    /// `run.export.set_name`).
    pub fn check(&self, key: impl Fn(&str) -> String) -> anyhow::Result<()> {
        if !(self.set_name.len() <= 24
            && !self.set_name.is_empty()
            && self
                .set_name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-'))
        {
            anyhow::bail!(
                "{} {:?}: allowed 1 to 24 of A-Z a-z 0-9 _ -",
                key("set_name"),
                self.set_name
            );
        }
        let d = &self.duration;
        let duration_ok = d.len() > 1
            && d[..d.len() - 1].bytes().all(|b| b.is_ascii_digit())
            && d.ends_with(['s', 'm', 'h']);
        if !duration_ok {
            anyhow::bail!(
                "{} {:?}: allowed a whole number followed by s, m or h (e.g. 24h)",
                key("duration"),
                d
            );
        }
        if !ThreatLevel::GRADED.contains(&self.min_level) {
            anyhow::bail!(
                "{} {}: allowed LOW, MEDIUM, HIGH, CRITICAL",
                key("min_level"),
                self.min_level
            );
        }
        Ok(())
    }

    /// The latest cycle's block plan (`None` when the store has no cycle yet), with the
    /// cycle's id and clock.
    pub fn plan(
        &self,
        store: &dyn VerdictStore,
    ) -> anyhow::Result<Option<(shrike_export::Plan, i64, Timestamp)>> {
        let Some((cycle, clock)) = store.latest_cycle()? else {
            return Ok(None);
        };
        let sessions = store.cycle_scores(cycle)?;
        // The cycle's clock is one hour past its newest window.
        let since = self
            .max_age_hours
            .map(|h| Timestamp::from_millis(clock.millis() - h as i64 * HOUR_MS));
        let filters = Filters {
            min_level: self.min_level,
            min_score: self.min_score,
            campaign: self.campaign,
            fleet: self.fleet,
            since,
            collapse_min: self.collapse_min,
            ja4_min_ips: self.ja4_min_ips,
        };
        Ok(Some((plan(&sessions, &filters)?, cycle, clock)))
    }

    /// The plan as the job's format.
    pub fn render(&self, p: &shrike_export::Plan, cycle: i64, clock: Timestamp) -> String {
        render(
            p,
            self.format,
            &RenderOptions {
                cycle_clock: clock,
                cycle,
                set_name: self.set_name.clone(),
                duration: self.duration.clone(),
                ja4_header: self.ja4_header.clone(),
            },
        )
    }
}

/// Writes `text` to `path` atomically: a temporary file beside it, synced, renamed over it,
/// so that a reader (nginx reloading, ipset restoring) never sees half a file.
pub fn write_atomically(path: &std::path::Path, text: impl AsRef<[u8]>) -> anyhow::Result<()> {
    let tmp = path.with_extension("shrike-tmp");
    let mut f =
        std::fs::File::create(&tmp).with_context(|| format!("cannot write {}", tmp.display()))?;
    f.write_all(text.as_ref())
        .and_then(|()| f.sync_all())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(&tmp, path)
        .with_context(|| format!("cannot move {} to {}", tmp.display(), path.display()))
}

impl ExportArgs {
    fn job(&self) -> ExportJob {
        ExportJob {
            format: self.format,
            min_level: self.min_level,
            min_score: self.min_score,
            campaign: self.campaign,
            fleet: self.fleet,
            max_age_hours: self.max_age_hours,
            collapse_min: self.collapse_min,
            ja4_min_ips: self.ja4_min_ips,
            set_name: self.set_name.clone(),
            duration: self.duration.clone(),
            ja4_header: self.ja4_header.clone(),
        }
    }
}

/// `shrike export`.
pub fn run(config: Config, a: ExportArgs) -> anyhow::Result<ExitCode> {
    let job = a.job();
    job.check(|k| format!("--{}", k.replace('_', "-")))?;
    let settings = config.resolve(&crate::config::Overrides::common(&a.common))?;
    let store = crate::stores::verdict_store(&settings)?;
    let Some((p, cycle, clock)) = job.plan(store.as_ref())? else {
        eprintln!(
            "error: {} has no detection cycle yet: run `shrike detect` first",
            store.describe()
        );
        return Ok(ExitCode::from(1));
    };
    if a.shadow {
        let mut out = std::io::stdout().lock();
        return match print_shadow(&mut out, &p, cycle, clock, a.format) {
            // A reader that stops early (`| head`) is not an error.
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(e.into()),
            _ => Ok(ExitCode::SUCCESS),
        };
    }
    let text = job.render(&p, cycle, clock);
    match &a.output {
        None => match std::io::stdout().lock().write_all(text.as_bytes()) {
            Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => return Err(e.into()),
            _ => {}
        },
        Some(path) => {
            write_atomically(path, &text)?;
            eprintln!(
                "wrote {} ({} addresses/prefixes, {} JA4s, {} held back) from cycle {cycle}",
                path.display(),
                p.addresses.len(),
                p.ja4s.len(),
                p.held_back.len()
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_shadow(
    out: &mut impl Write,
    p: &shrike_export::Plan,
    cycle: i64,
    clock: Timestamp,
    format: Format,
) -> std::io::Result<()> {
    writeln!(
        out,
        "shadow mode: nothing written. Cycle {cycle} ({clock}): {} candidate sessions; the {} export would block {} addresses/prefixes{}.",
        p.candidates,
        format.name(),
        p.addresses.len(),
        if matches!(format, Format::NginxMap | Format::Anubis | Format::Json | Format::Csv) {
            format!(" and {} JA4s", p.ja4s.len())
        } else {
            String::new()
        }
    )?;
    for e in p.addresses.iter().chain(&p.ja4s) {
        let kind = match e.kind {
            shrike_export::EntryKind::Ip => "ip",
            shrike_export::EntryKind::Prefix => "prefix",
            shrike_export::EntryKind::Ja4 => "ja4",
        };
        writeln!(
            out,
            "  block {kind} {}: {} score {:.3}, {} session(s), {} address(es); {}",
            e.value, e.level, e.score, e.sessions, e.addresses, e.reason
        )?;
    }
    for h in &p.held_back {
        writeln!(out, "  hold back {}: {}", h.ip, h.why)?;
    }
    Ok(())
}
