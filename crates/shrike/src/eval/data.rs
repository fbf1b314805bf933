//! The offline datasets of `shrike eval`: the web-bot-detection logs and CSIC 2010, read
//! from `../shared/data` (or `--data`), turned into shrike records and measured by
//! [`super::offline`].

use std::collections::HashMap;
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;

use super::{offline, print_rows, sessions_of, EvalDataArgs, Item};
use crate::config::Config;

pub(super) fn data_dir(arg: &Option<PathBuf>, name: &str) -> Option<PathBuf> {
    let dir = arg.clone().unwrap_or_else(|| {
        std::env::var_os("SHRIKE_SHARED_DATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("../shared/data"))
            .join(name)
    });
    dir.is_dir().then_some(dir)
}

/// One line of the web-bot-detection logs:
/// `- - [30/Oct/2019:11:50:36 +0000] "GET /p HTTP/1.1" 200 2770 "referer" <PHPSESSID|-> "UA"`.
fn parse_web_bot_line(line: &str) -> Option<WebBotLine> {
    let open = line.find('[')?;
    let close = line[open..].find(']')? + open;
    let time = parse_clf_time(&line[open + 1..close])?;
    let rest = &line[close + 1..];
    let q1 = rest.find('"')?;
    let q2 = rest[q1 + 1..].find('"')? + q1 + 1;
    let request: Vec<&str> = rest[q1 + 1..q2].split(' ').collect();
    let (method, target, version) = match request[..] {
        [m, t, v] => (m, t, v.trim_start_matches("HTTP/")),
        _ => return None,
    };
    let mut fields = rest[q2 + 1..].trim_start().splitn(3, ' ');
    let status: u16 = fields.next()?.parse().ok()?;
    let bytes: u64 = fields.next()?.parse().unwrap_or(0);
    let tail = fields.next()?;
    let r1 = tail.find('"')?;
    let r2 = tail[r1 + 1..].find('"')? + r1 + 1;
    let referer = tail[r1 + 1..r2].to_string();
    let mut after = tail[r2 + 1..].trim_start().splitn(2, ' ');
    let session = after.next()?.to_string();
    let ua = after.next()?.trim().trim_matches('"').to_string();
    Some(WebBotLine {
        time,
        method: method.into(),
        target: target.into(),
        version: version.into(),
        status,
        bytes,
        referer,
        session,
        ua,
    })
}

/// A parsed line of the web-bot-detection logs.
struct WebBotLine {
    time: i64,
    method: String,
    target: String,
    version: String,
    status: u16,
    bytes: u64,
    referer: String,
    session: String,
    ua: String,
}

/// A raw CSIC request: method, target, headers (the body as `__body`).
type RawRequest = (String, String, Vec<(String, String)>);

/// `30/Oct/2019:11:50:36 +0000` → epoch milliseconds (UTC offsets honoured).
fn parse_clf_time(t: &str) -> Option<i64> {
    let (dt, zone) = t.split_once(' ')?;
    let mut p = dt.splitn(4, [':', '/']);
    let day: i64 = p.next()?.parse().ok()?;
    let name = p.next()?;
    let month = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ]
    .iter()
    .position(|m| *m == name)? as i64
        + 1;
    let year: i64 = p.next()?.parse().ok()?;
    let hms: Vec<i64> = p
        .next()?
        .split(':')
        .filter_map(|v| v.parse().ok())
        .collect();
    let [h, mi, s] = hms[..] else { return None };
    let sign = if zone.starts_with('-') { -1 } else { 1 };
    let off: i64 = zone.get(1..)?.parse().ok()?;
    let offset = sign * ((off / 100) * 60 + off % 100) * 60;
    // Days from the civil date (Howard Hinnant's algorithm).
    let (y, m) = if month <= 2 {
        (year - 1, month + 9)
    } else {
        (year, month - 3)
    };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * m + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((days * 86_400 + h * 3600 + mi * 60 + s - offset) * 1000)
}

pub(super) fn web_bots(config: Config, a: EvalDataArgs) -> anyhow::Result<ExitCode> {
    let cfg = config.detect()?;
    let Some(dir) = data_dir(&a.data, "web-bot-detection-iliou") else {
        println!("web-bot-detection data not found (../shared/data or --data): skipped");
        return Ok(ExitCode::SUCCESS);
    };
    let ann = dir.join("phase1/annotations/humans_and_moderate_bots");
    let mut split: HashMap<String, (bool, bool)> = HashMap::new();
    for (file, train) in [("train", true), ("test", false)] {
        let text = std::fs::read_to_string(ann.join(file))
            .with_context(|| format!("cannot read {}", ann.join(file).display()))?;
        for line in text.lines() {
            if let Some((id, label)) = line.split_once(' ') {
                split.insert(id.trim().into(), (label.trim() != "human", train));
            }
        }
    }
    let logs = dir.join("phase1/data/web_logs");
    let mut files = vec![logs.join("bots/access_moderate_bots.log")];
    for n in 1..=5 {
        let p = logs.join(format!("humans/access_{n}.log"));
        if p.exists() {
            files.push(p);
        }
    }
    let mut records = Vec::new();
    let mut ips: HashMap<String, String> = HashMap::new();
    let (mut unlabelled, mut bad) = (0usize, 0usize);
    for f in &files {
        let file =
            std::fs::File::open(f).with_context(|| format!("cannot read {}", f.display()))?;
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            let Some(WebBotLine {
                time: t,
                method,
                target,
                version,
                status,
                bytes,
                referer,
                session,
                ua,
            }) = parse_web_bot_line(&line)
            else {
                bad += 1;
                continue;
            };
            if !split.contains_key(&session) {
                unlabelled += 1;
                continue;
            }
            // One synthetic address per PHP session: the logs carry none.
            let n = ips.len() + 1;
            let ip = ips
                .entry(session.clone())
                .or_insert_with(|| format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255))
                .clone();
            let (path, query) = target
                .split_once('?')
                .map_or((target.as_str(), None), |(p, q)| (p, Some(q)));
            records.push(serde_json::json!({
                "time": t, "src_ip": ip, "host": "site", "method": method, "path": path, "query": query,
                "http_version": version, "status": status, "bytes": bytes,
                "referer": if referer == "-" { None } else { Some(referer) },
                "user_agent": if ua == "-" { None } else { Some(ua) },
            }));
        }
    }
    println!(
        "{} requests of {} labelled PHP sessions ({unlabelled} lines of unlabelled sessions or without a session id skipped, {bad} unparsable)",
        records.len(),
        ips.len()
    );
    let by_ip: HashMap<String, String> = ips.into_iter().map(|(s, ip)| (ip, s)).collect();
    let sessions = sessions_of(&records, &a.out.join("web-bots"), config)?;
    let items: Vec<Item> = sessions
        .into_iter()
        .filter_map(|s| {
            let id = by_ip.get(&s.key().src_ip.to_string())?.clone();
            let (bot, train) = split[&id];
            Some(Item {
                session: s,
                bot,
                group: id,
                train,
            })
        })
        .collect();
    // The annotated test humans are in the logs this copy lacks (access_1 and access_5), so
    // the dataset's test split has no humans: cross-validate over the sessions present.
    let (rows, what) = offline(&cfg, &items, Some(5))?;
    print_rows(
        "web-bot-detection (Iliou et al., phase 1): humans vs moderate bots, per PHP session",
        &what,
        &rows,
        a.markdown.as_deref(),
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Raw HTTP requests of a CSIC 2010 file (gzip): request line, headers, optional body.
fn csic_requests(path: &Path) -> anyhow::Result<Vec<RawRequest>> {
    let file =
        std::fs::File::open(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(file), &mut bytes)
        .with_context(|| format!("cannot decompress {}", path.display()))?;
    // The files are Latin-1 in places; requests are compared as text, lossily.
    let text = String::from_utf8_lossy(&bytes);
    let mut out = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        if !(line.starts_with("GET ") || line.starts_with("POST ") || line.starts_with("PUT ")) {
            continue;
        }
        let mut parts = line.splitn(3, ' ');
        let method = parts.next().unwrap_or("").to_string();
        let target = parts.next().unwrap_or("").to_string();
        let mut headers = Vec::new();
        for h in lines.by_ref() {
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.push((k.trim().to_string(), v.trim().to_string()));
            }
        }
        // A POST body is the next non-empty line.
        if method == "POST" {
            if let Some(body) = lines
                .next_if(|l| !l.is_empty() && !l.starts_with("GET ") && !l.starts_with("POST "))
            {
                headers.push(("__body".into(), body.to_string()));
            }
        }
        out.push((method, target, headers));
    }
    Ok(out)
}

pub(super) fn csic(config: Config, a: EvalDataArgs) -> anyhow::Result<ExitCode> {
    let cfg = config.detect()?;
    let Some(dir) = data_dir(&a.data, "csic2010") else {
        println!("CSIC 2010 data not found (../shared/data or --data): skipped");
        return Ok(ExitCode::SUCCESS);
    };
    let mut records = Vec::new();
    // (attack, role): role 0 = normal training file, 1 = test files.
    let mut meta: Vec<(bool, bool)> = Vec::new();
    let start = 1_262_304_000_000i64; // 2010-01-01
    for (file, attack, test) in [
        ("normalTrafficTraining.txt.gz", false, false),
        ("normalTrafficTest.txt.gz", false, true),
        ("anomalousTrafficTest.txt.gz", true, true),
    ] {
        for (method, target, headers) in csic_requests(&dir.join(file))? {
            let n = records.len();
            let url = target
                .strip_prefix("http://")
                .map_or(target.as_str(), |t| t.find('/').map_or("/", |i| &t[i..]));
            let (path, query) = url
                .split_once('?')
                .map_or((url, None), |(p, q)| (p, Some(q)));
            let body = headers
                .iter()
                .find(|(k, _)| k == "__body")
                .map(|(_, v)| v.as_str());
            let get = |name: &str| {
                headers
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(name))
                    .map(|(_, v)| v.clone())
            };
            let names: Vec<String> = headers
                .iter()
                .filter(|(k, _)| k != "__body")
                .map(|(k, _)| k.to_ascii_lowercase())
                .collect();
            records.push(serde_json::json!({
                // One request per second within its own hour per 3,600, one address each.
                "time": start + n as i64 * 1000,
                "src_ip": format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
                "host": get("Host"), "method": method, "path": path,
                "query": query.or(body),
                "http_version": "1.1", "user_agent": get("User-Agent"),
                "accept": get("Accept"), "accept_language": get("Accept-Language"),
                "accept_encoding": get("Accept-Encoding"), "content_type": get("Content-Type"),
                "has_cookie": get("Cookie").is_some(), "header_names": names,
            }));
            meta.push((attack, test));
        }
    }
    println!(
        "{} requests ({} attacks)",
        records.len(),
        meta.iter().filter(|m| m.0).count()
    );
    let by_ip: HashMap<String, usize> = (0..records.len())
        .map(|n| {
            (
                format!("10.{}.{}.{}", (n >> 16) & 255, (n >> 8) & 255, n & 255),
                n,
            )
        })
        .collect();
    let sessions = sessions_of(&records, &a.out.join("csic"), config)?;
    // Test files: a seeded half trains the trees (with the normal training file), the
    // other half is measured.
    let mut rng = shrike_types::Rng::seed_from_u64(cfg.seed);
    let halves: Vec<bool> = (0..records.len()).map(|_| rng.below(2) == 0).collect();
    let items: Vec<Item> = sessions
        .into_iter()
        .filter_map(|s| {
            let n = *by_ip.get(&s.key().src_ip.to_string())?;
            let (attack, test) = meta[n];
            Some(Item {
                session: s,
                bot: attack,
                group: n.to_string(),
                train: !test || halves[n],
            })
        })
        .collect();
    let (rows, what) = offline(&cfg, &items, None)?;
    print_rows(
        "CSIC 2010: normal vs attack requests (one session per request), measured on a seeded half of the test files",
        &what,
        &rows,
        a.markdown.as_deref(),
    )?;
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn web_bot_lines_and_their_times_parse() {
        let l = r#"- - [30/Oct/2019:11:50:36 +0000] "GET /css/main.css?x=1 HTTP/1.1" 200 764 "https://160.40.52.164/" crv8slnnov42i8mci4ppsrou68 "Mozilla/5.0 (X11; Linux x86_64) Chrome/77.0""#;
        let p = parse_web_bot_line(l).unwrap();
        assert_eq!(p.time, 1_572_436_236_000);
        assert_eq!(
            (
                p.method.as_str(),
                p.target.as_str(),
                p.version.as_str(),
                p.status,
                p.bytes
            ),
            ("GET", "/css/main.css?x=1", "1.1", 200, 764)
        );
        assert_eq!(p.session, "crv8slnnov42i8mci4ppsrou68");
        assert_eq!(p.ua, "Mozilla/5.0 (X11; Linux x86_64) Chrome/77.0");
        assert_eq!(
            parse_clf_time("30/Oct/2019:13:50:36 +0200"),
            Some(1_572_436_236_000)
        );
        assert!(parse_web_bot_line("garbage").is_none());
    }
}
