//! `shrike feedback add|list|remove`: analysts' bot/human labels, which override the
//! models' labels when the supervised scorer trains (the dashboard's buttons write the same
//! table).

use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use shrike_store::{Feedback, FeedbackLabel, FeedbackSession};
use shrike_types::{Clock, SystemClock, Timestamp};

use crate::config::Config;
use crate::CommonOpts;

/// `shrike feedback`.
#[derive(Args)]
pub struct FeedbackArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    #[command(subcommand)]
    pub action: FeedbackAction,
}

/// What to do with labels.
#[derive(Subcommand)]
pub enum FeedbackAction {
    /// Label an address (every session of it) or one session (--window, --ja4, --host).
    Add {
        /// The address.
        #[arg(long)]
        ip: std::net::IpAddr,
        /// bot or human.
        #[arg(long, value_parser = ["bot", "human"])]
        label: String,
        /// Why.
        #[arg(long, default_value = "")]
        note: String,
        /// Who [default: $USER].
        #[arg(long)]
        analyst: Option<String>,
        /// The session's window start (RFC 3339), with --ja4 and --host.
        #[arg(long, requires_all = ["ja4", "host"])]
        window: Option<String>,
        /// The session's JA4.
        #[arg(long, requires = "window")]
        ja4: Option<String>,
        /// The session's host.
        #[arg(long, requires = "window")]
        host: Option<String>,
    },
    /// List labels, newest first.
    List {
        /// Only this address.
        #[arg(long)]
        ip: Option<std::net::IpAddr>,
        /// Labels shown at most.
        #[arg(long, default_value_t = 100)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove a label by id.
    Remove {
        /// The id `list` shows.
        id: i64,
    },
}

/// `shrike feedback`.
pub fn run(config: Config, args: FeedbackArgs) -> anyhow::Result<ExitCode> {
    let settings = config.resolve(&crate::config::Overrides::common(&args.common))?;
    let mut store = crate::stores::verdict_store(&settings)?;
    match args.action {
        FeedbackAction::Add {
            ip,
            label,
            note,
            analyst,
            window,
            ja4,
            host,
        } => {
            if note.chars().count() > 1000 {
                bail!("--note: at most 1000 characters");
            }
            let session = match (window, ja4, host) {
                (Some(w), Some(ja4), Some(host)) => Some(FeedbackSession {
                    window_start: Timestamp::parse_rfc3339(&w)
                        .map_err(|e| anyhow::anyhow!("--window: {e}"))?,
                    ja4,
                    host,
                }),
                _ => None,
            };
            let analyst = analyst
                .or_else(|| std::env::var("USER").ok())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| "cli".into());
            let f = Feedback {
                id: 0,
                created_at: SystemClock.now(),
                analyst,
                label: FeedbackLabel::parse(&label).context("--label")?,
                note,
                src_ip: ip.to_string(),
                session,
            };
            let id = store.add_feedback(&f)?;
            println!("feedback #{id}: {} labelled {}", f.src_ip, f.label.as_str());
        }
        FeedbackAction::List { ip, limit, json } => {
            let ip = ip.map(|i| i.to_string());
            for f in store.feedback(ip.as_deref(), 0, limit)? {
                if json {
                    // The same object as the API's `/api/feedback`.
                    println!("{}", shrike_server::api::actions::feedback_json(&f));
                    continue;
                }
                let what = f.session.as_ref().map_or_else(
                    || "every session".to_string(),
                    |k| format!("session {} {} {}", k.window_start, k.ja4, k.host),
                );
                println!(
                    "#{} {} {} {} ({what}) by {}: {}",
                    f.id,
                    f.created_at,
                    f.label.as_str(),
                    f.src_ip,
                    f.analyst.escape_debug(),
                    f.note.escape_debug()
                );
            }
        }
        FeedbackAction::Remove { id } => {
            if !store.remove_feedback(id)? {
                bail!("no feedback #{id}");
            }
            println!("feedback #{id} removed");
        }
    }
    Ok(ExitCode::SUCCESS)
}
