//! `shrike campaigns`: the campaigns the cycles found, with their members.

use std::process::ExitCode;

use clap::Args;
use shrike_store::CampaignRow;

use crate::config::Config;
use crate::CommonOpts;

/// Arguments of `shrike campaigns`.
#[derive(Args, Clone)]
pub struct CampaignsArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// Show one campaign with its member addresses.
    #[arg(long)]
    pub id: Option<i64>,
    /// Campaigns listed, most recently seen first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

fn parsed(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or(serde_json::Value::Null)
}

fn to_json(
    c: &CampaignRow,
    members: Option<&[(String, shrike_types::Timestamp)]>,
) -> serde_json::Value {
    let mut v = serde_json::json!({
        "campaign_id": c.campaign_id,
        "first_cycle": c.first_cycle,
        "last_cycle": c.last_cycle,
        "cycles": c.cycles,
        "first_seen": c.first_seen.to_string(),
        "last_seen": c.last_seen.to_string(),
        "model": c.model,
        "algorithm": c.algorithm,
        "sessions": c.sessions,
        "ips": c.ips,
        "escalated_to_critical": c.escalated,
        "ja4s": parsed(&c.ja4s),
        "asns": parsed(&c.asns),
        "countries": parsed(&c.countries),
        "hosts": parsed(&c.hosts),
        "dominant_features": parsed(&c.features),
        "levels": parsed(&c.levels),
    });
    if let Some(m) = members {
        v["members"] = m
            .iter()
            .map(|(ip, at)| serde_json::json!({"src_ip": ip, "last_seen": at.to_string()}))
            .collect();
    }
    v
}

/// The first `n` entries of a `[[key, count], ...]` JSON list, as `key (count)`.
fn top(text: &str, n: usize) -> String {
    let v = parsed(text);
    let items: Vec<String> = v
        .as_array()
        .map(|a| {
            a.iter()
                .take(n)
                .map(|e| {
                    let key = match &e[0] {
                        serde_json::Value::String(s) if s.is_empty() => "unknown".to_string(),
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    format!("{key} ({})", e[1])
                })
                .collect()
        })
        .unwrap_or_default();
    let more = v.as_array().map_or(0, |a| a.len().saturating_sub(n));
    if more > 0 {
        format!("{}, +{more} more", items.join(", "))
    } else {
        items.join(", ")
    }
}

/// `shrike campaigns`.
pub fn run(config: Config, args: CampaignsArgs) -> anyhow::Result<ExitCode> {
    let settings = config.resolve(&crate::config::Overrides::common(&args.common))?;
    let store = crate::stores::verdict_store(&settings)?;
    let rows = store.campaigns(args.id, args.limit)?;
    if let Some(id) = args.id {
        let Some(c) = rows.first() else {
            eprintln!("error: no campaign {id} in {}", store.describe());
            return Ok(ExitCode::from(1));
        };
        let members = store.campaign_members(id)?;
        if args.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&to_json(c, Some(&members)))?
            );
        } else {
            print_one(c);
            println!("  members ({}):", members.len());
            for (ip, at) in &members {
                println!("    {ip}  last seen by the cycle of {at}");
            }
        }
        return Ok(ExitCode::SUCCESS);
    }
    if args.json {
        let all: Vec<serde_json::Value> = rows.iter().map(|c| to_json(c, None)).collect();
        println!("{}", serde_json::to_string_pretty(&all)?);
    } else if rows.is_empty() {
        println!(
            "no campaigns in {} (run `shrike detect`)",
            settings.store_path.display()
        );
    } else {
        for c in &rows {
            print_one(c);
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_one(c: &CampaignRow) {
    println!(
        "campaign #{}: {} sessions from {} addresses ({} escalated to CRITICAL), {} model, {}; seen by {} cycle(s), {} .. {}",
        c.campaign_id,
        c.sessions,
        c.ips,
        c.escalated,
        c.model,
        c.algorithm,
        c.cycles,
        c.first_seen,
        c.last_seen
    );
    println!("  JA4s: {}", top(&c.ja4s, 3));
    println!("  ASNs: {}", top(&c.asns, 5));
    println!("  countries: {}", top(&c.countries, 5));
    println!("  hosts: {}", top(&c.hosts, 3));
    let features: Vec<String> = parsed(&c.features)
        .as_array()
        .map(|a| {
            a.iter()
                .map(|f| {
                    format!(
                        "{} {:.3} vs typical {:.3} (in {:.0}% of members' explanations)",
                        f["feature"].as_str().unwrap_or("?"),
                        f["mean_value"].as_f64().unwrap_or(f64::NAN),
                        f["typical"].as_f64().unwrap_or(f64::NAN),
                        100.0 * f["share"].as_f64().unwrap_or(0.0)
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    println!("  dominant features: {}", features.join("; "));
}
