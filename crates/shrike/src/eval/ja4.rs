//! `shrike eval ja4`: the JA4 of every ClientHello shrike reads from captures, compared
//! connection by connection with a reference tool's output for the same captures.
//!
//! The reference format is what FoxIO's `ja4.py <capture> -J -r -o -f <capture>.json`
//! writes: a JSON array with one object per connection (`src`, `srcport`, `dstport`, and
//! `JA4` or `JA4.1`, `JA4.2`... for each ClientHello it saw). The first ClientHello of a
//! connection is compared: shrike keeps one per connection.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use shrike_pcap::{read_capture, Options};

/// Arguments of `shrike eval ja4`.
#[derive(Args, Clone)]
pub struct EvalJa4Args {
    /// Captures (pcap or pcapng), or directories of captures [default: FoxIO's own, in
    /// ../shared/data/foxio-ja4/pcap or $SHRIKE_SHARED_DATA].
    pub captures: Vec<PathBuf>,
    /// Directory of the reference outputs, `<capture's file name>.json` [default: beside
    /// each capture; FoxIO's Python outputs for FoxIO's own captures].
    #[arg(long)]
    pub reference: Option<PathBuf>,
    /// Print every difference (by default the first 40).
    #[arg(long)]
    pub all: bool,
    /// Exit with status 1 when the agreement is below this fraction (0 to 1).
    #[arg(long)]
    pub at_least: Option<f64>,
}

/// A connection: (transport, client address, client port, server port).
type Key = (&'static str, String, u16, u16);

/// The transport a JA4 names: `q` is QUIC, `d` DTLS, `t` TCP.
fn transport(ja4: &str) -> &'static str {
    match ja4.as_bytes().first() {
        Some(b'q') | Some(b'd') => "udp",
        _ => "tcp",
    }
}

/// The first ClientHello's JA4 of each connection of a reference output.
fn reference(path: &Path) -> anyhow::Result<BTreeMap<Key, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let v: serde_json::Value = if text.trim().is_empty() {
        serde_json::Value::Array(Vec::new())
    } else {
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))?
    };
    let mut out = BTreeMap::new();
    for conn in v.as_array().into_iter().flatten() {
        let Some(ja4) = conn
            .get("JA4")
            .or_else(|| conn.get("JA4.1"))
            .and_then(|j| j.as_str())
        else {
            continue;
        };
        let field = |k: &str| conn.get(k).and_then(|v| v.as_str());
        let port = |k: &str| field(k).and_then(|p| p.parse::<u16>().ok());
        let (Some(src), Some(sp), Some(dp)) = (field("src"), port("srcport"), port("dstport"))
        else {
            continue;
        };
        out.entry((transport(ja4), src.to_string(), sp, dp))
            .or_insert_with(|| ja4.to_string());
    }
    Ok(out)
}

/// shrike's JA4 per connection of a capture, and the capture's error if it could not be
/// read to its end.
fn ours(path: &Path) -> anyhow::Result<(BTreeMap<Key, String>, Option<String>)> {
    let f = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut out = BTreeMap::new();
    let read = read_capture(std::io::BufReader::new(f), Options::default(), |r| {
        if let (Some(ja4), Some(ip), Some(sp), Some(dp)) =
            (&r.ja4, r.src_ip, r.src_port, r.dst_port)
        {
            out.entry((transport(ja4.as_str()), ip.to_string(), sp, dp))
                .or_insert_with(|| ja4.to_string());
        }
    });
    let error = match read {
        Ok(stats) => stats.cut_short,
        Err(e) => Some(e.to_string()),
    };
    Ok((out, error))
}

/// The captures named (directories opened, one level), sorted.
fn captures(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for a in args {
        if a.is_dir() {
            for e in std::fs::read_dir(a).with_context(|| format!("reading {}", a.display()))? {
                let p = e?.path();
                let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
                if p.is_file() && !name.ends_with(".json") && !name.starts_with('.') {
                    out.push(p);
                }
            }
        } else {
            out.push(a.clone());
        }
    }
    out.sort();
    Ok(out)
}

/// `shrike eval ja4`.
pub fn run(a: EvalJa4Args) -> anyhow::Result<ExitCode> {
    let (inputs, reference_dir) = if a.captures.is_empty() {
        let dir = super::data::data_dir(&None, "foxio-ja4").context(
            "../shared/data/foxio-ja4 not found (set SHRIKE_SHARED_DATA, or name captures)",
        )?;
        (
            vec![dir.join("pcap")],
            Some(
                a.reference
                    .clone()
                    .unwrap_or_else(|| dir.join("python/test/testdata")),
            ),
        )
    } else {
        (a.captures.clone(), a.reference.clone())
    };
    let (mut total, mut matched, mut compared_files) = (0usize, 0usize, 0usize);
    let mut differences: Vec<String> = Vec::new();
    let mut unread: Vec<String> = Vec::new();
    let mut renamed = 0usize;
    for capture in captures(&inputs)? {
        let name = capture
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
            .to_string();
        let refpath = match &reference_dir {
            Some(d) => d.join(format!("{name}.json")),
            None => capture.with_file_name(format!("{name}.json")),
        };
        if !refpath.exists() {
            continue;
        }
        let expected = reference(&refpath)?;
        if expected.is_empty() {
            continue;
        }
        compared_files += 1;
        let (got, error) = ours(&capture)?;
        if let Some(e) = error {
            unread.push(format!("{name}: {e}"));
        }
        let mut here = 0;
        for (key, want) in &expected {
            total += 1;
            // The reference names a connection by its first packet's source, and a tunnelled
            // one by the outer address: when the exact key is not there, the one connection
            // on the same ports (either way round) is the same connection.
            let found = got.get(key).or_else(|| {
                let mut same_ports = got.iter().filter(|(k, _)| {
                    k.0 == key.0 && ((k.2, k.3) == (key.2, key.3) || (k.2, k.3) == (key.3, key.2))
                });
                match (same_ports.next(), same_ports.next()) {
                    (Some((_, j)), None) => {
                        renamed += 1;
                        Some(j)
                    }
                    _ => None,
                }
            });
            match found {
                Some(g) if g == want => {
                    matched += 1;
                    here += 1;
                }
                other => differences.push(format!(
                    "{name} {} {}:{} > :{}: reference {want}, shrike {}",
                    key.0,
                    key.1,
                    key.2,
                    key.3,
                    other.map_or("(none)", String::as_str)
                )),
            }
        }
        if here < expected.len() {
            println!("{name}: {here}/{} reproduced", expected.len());
        }
    }
    let share = if total == 0 {
        1.0
    } else {
        matched as f64 / total as f64
    };
    for e in &unread {
        println!("capture read partly: {e}");
    }
    let shown = if a.all {
        differences.len()
    } else {
        differences.len().min(40)
    };
    for d in &differences[..shown] {
        println!("  {d}");
    }
    if shown < differences.len() {
        println!("  ... {} more (--all)", differences.len() - shown);
    }
    println!(
        "JA4: {matched}/{total} reference values reproduced ({share:.3}) in {compared_files} captures"
    );
    if renamed > 0 {
        println!(
            "  {renamed} connections matched on their ports: the reference named them by another address or direction (a tunnel's outer address, a capture that begins mid-connection)"
        );
    }
    Ok(match a.at_least {
        Some(min) if share < min => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}
