//! `shrike serve`: the API and the dashboard over the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::Args;
use shrike_server::{AppState, ServeSettings};
use shrike_types::SystemClock;

use crate::config::{Config, ServeConfig};
use crate::CommonOpts;

/// Arguments of `shrike serve`.
#[derive(Args, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonOpts,
    /// Address to listen on [default: 127.0.0.1:8080]. Beyond loopback a token is required.
    #[arg(long)]
    pub listen: Option<SocketAddr>,
    /// File holding the API token (one line). Also SHRIKE_API_TOKEN or serve.token.
    #[arg(long)]
    pub token_file: Option<PathBuf>,
}

/// The serving part of the configuration, resolved: file < environment < flags.
pub fn settings(
    file: ServeConfig,
    args: &ServeArgs,
    base: ServeSettings,
) -> anyhow::Result<(SocketAddr, ServeSettings)> {
    let listen = match (args.listen, std::env::var("SHRIKE_LISTEN")) {
        (Some(a), _) => a,
        (None, Ok(text)) => text.trim().parse().map_err(|_| {
            anyhow::anyhow!("environment variable SHRIKE_LISTEN={text:?} is invalid (allowed: an address and port, e.g. 127.0.0.1:8080)")
        })?,
        (None, Err(_)) => match file.listen.as_deref() {
            Some(text) => text.parse().map_err(|_| {
                anyhow::anyhow!("serve.listen = {text:?} is invalid (allowed: an address and port, e.g. 127.0.0.1:8080)")
            })?,
            None => "127.0.0.1:8080".parse()?,
        },
    };
    let token = match &args.token_file {
        Some(p) => Some(read_token(p)?),
        None => std::env::var("SHRIKE_API_TOKEN").ok().or(file.token),
    }
    .map(|t| t.trim().to_string())
    .filter(|t| !t.is_empty());
    let mut s = base;
    s.token = token;
    if let Some(kib) = file.max_body_kib {
        if !(1..=10_240).contains(&kib) {
            bail!("serve.max_body_kib = {kib} is invalid (allowed: 1 to 10240)");
        }
        s.max_body_bytes = kib as usize * 1024;
    }
    if let Some(m) = file.map_ttl_minutes {
        if !(1..=1440).contains(&m) {
            bail!("serve.map_ttl_minutes = {m} is invalid (allowed: 1 to 1440)");
        }
        s.map_ttl = std::time::Duration::from_secs(u64::from(m) * 60);
    }
    if let Some(n) = file.map_max_rows {
        if !(1_000..=20_000_000).contains(&n) {
            bail!("serve.map_max_rows = {n} is invalid (allowed: 1000 to 20000000)");
        }
        s.map_max_rows = n;
    }
    if let Some(names) = file.public_names {
        if let Some(bad) = names
            .iter()
            .find(|n| n.is_empty() || n.contains([':', '/', ' ', '[', ']']))
        {
            bail!("serve.public_names has {bad:?}, which is invalid (allowed: host names without port or scheme, e.g. \"shrike.example.org\")");
        }
        s.public_names = names;
    }
    let mut keys: Vec<String> = std::env::var("SHRIKE_BOUNCER_API_KEY")
        .map(|k| k.split(',').map(|k| k.trim().to_string()).collect())
        .unwrap_or_default();
    keys.extend(file.bouncer_api_keys.unwrap_or_default());
    keys.retain(|k| !k.is_empty());
    if let Some(short) = keys.iter().find(|k| k.len() < 16) {
        bail!(
            "a bouncer API key ({}…, from SHRIKE_BOUNCER_API_KEY or serve.bouncer_api_keys) is invalid (allowed: at least 16 characters, e.g. `openssl rand -hex 16`)",
            short.chars().take(2).collect::<String>()
        );
    }
    s.bouncer_keys = keys;
    if let Some(d) = file.bouncer_duration {
        if crate::detect::parse_interval(&d).is_err() {
            bail!("serve.bouncer_duration = {d:?} is invalid (allowed: a whole number followed by s, m or h, e.g. 4h)");
        }
        s.bouncer_duration = d;
    }
    shrike_server::check_bind(listen, s.token.as_deref())?;
    Ok((listen, s))
}

fn read_token(p: &Path) -> anyhow::Result<String> {
    std::fs::read_to_string(p)
        .with_context(|| format!("cannot read the token file {}", p.display()))
}

/// Serves until Ctrl-C, printing the URL once listening.
pub fn serve(listen: SocketAddr, settings: ServeSettings) -> anyhow::Result<ExitCode> {
    let state = AppState::new(settings, Arc::new(SystemClock))?;
    shrike_server::serve_blocking(listen, state, |addr| {
        println!("dashboard: http://{addr}/  (API: http://{addr}/api/openapi.json; Ctrl-C stops)");
    })?;
    Ok(ExitCode::SUCCESS)
}

/// `shrike serve`.
pub fn run(mut config: Config, args: ServeArgs) -> anyhow::Result<ExitCode> {
    let file = config.serve.take().unwrap_or_default();
    let common = config.resolve(&crate::config::Overrides::common(&args.common))?;
    let (listen, settings) = settings(file, &args, crate::stores::serve_settings(&common))?;
    serve(listen, settings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_serve_section_resolves_and_bad_values_name_their_key() {
        let config = Config::from_toml(include_str!("../../../shrike.example.toml")).unwrap();
        let file = config.serve.unwrap();
        let (listen, s) = settings(
            file,
            &ServeArgs::default(),
            ServeSettings::new("x.db".into()),
        )
        .unwrap();
        assert_eq!(listen.to_string(), "127.0.0.1:8080");
        assert_eq!(s.max_body_bytes, 64 * 1024);
        assert_eq!(s.map_ttl, std::time::Duration::from_secs(1800));
        let bad = Config::from_toml("[serve]\nmap_ttl_minutes = 0\n").unwrap();
        let e = settings(
            bad.serve.unwrap(),
            &ServeArgs::default(),
            ServeSettings::new("x.db".into()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("serve.map_ttl_minutes"), "{e}");
        let open = Config::from_toml("[serve]\nlisten = \"0.0.0.0:8080\"\n").unwrap();
        let e = settings(
            open.serve.unwrap(),
            &ServeArgs::default(),
            ServeSettings::new("x.db".into()),
        )
        .unwrap_err();
        assert!(e.to_string().contains("without a token"), "{e}");
    }
}
