//! Zeek logs: http.log joined to ssl.log and conn.log by uid, in TSV and JSON, on fixtures
//! written from Zeek's log documentation (with the JA4 package's columns and
//! `client_header_names`), and on the FoxIO JA4 package's own Zeek test baselines.

use std::path::{Path, PathBuf};

use shrike_ingest::{
    detect_format, detect_zeek, run_zeek, DeadLetterWriter, Format, IngestOptions, Input,
    RecordSink, ZeekLog,
};
use shrike_types::{RequestRecord, TlsVersion};

/// What the tests compare of a record.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    time: i64,
    ip: String,
    host: Option<String>,
    path: Option<String>,
    query: Option<String>,
    ua: Option<String>,
    keepalive: Option<u32>,
    headers: Option<usize>,
    status: Option<u16>,
    ja4: Option<String>,
    ja4h: Option<String>,
    ja4t: Option<String>,
    tls: Option<TlsVersion>,
    sni: Option<String>,
    alpn: Option<String>,
    conn: Option<String>,
    correlated: Option<bool>,
}

#[derive(Default)]
struct Collect(Vec<Seen>);
impl RecordSink for Collect {
    fn accept(&mut self, _line: u64, r: &RequestRecord<'_>) {
        let s = |c: &Option<std::borrow::Cow<'_, str>>| c.as_deref().map(str::to_string);
        self.0.push(Seen {
            time: r.time.millis(),
            ip: r.src_ip.map(|i| i.to_string()).unwrap_or_default(),
            host: s(&r.host),
            path: s(&r.path),
            query: s(&r.query),
            ua: s(&r.user_agent),
            keepalive: r.keepalive_index,
            headers: r.header_names.as_ref().map(Vec::len),
            status: r.status,
            ja4: r.ja4.as_ref().map(|j| j.as_str().to_string()),
            ja4h: s(&r.ja4h),
            ja4t: s(&r.ja4t),
            tls: r.tls_version,
            sni: s(&r.tls_sni),
            alpn: r.tls_alpn.map(|a| a.as_str().to_string()),
            conn: s(&r.conn_id),
            correlated: r.correlated,
        });
    }
}

fn fixture(dir: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/zeek")
        .join(dir)
}

fn read(
    path: &Path,
) -> (
    Vec<Seen>,
    shrike_ingest::ZeekStats,
    u64,
    Vec<serde_json::Value>,
) {
    let dir = tempfile::tempdir().unwrap();
    let dl = dir.path().join("dead.jsonl");
    let opts = IngestOptions {
        workers: 2,
        chunk_size: 512,
        first_line: 1,
    };
    let (report, _, stats) = run_zeek(
        &Input::File(path.to_path_buf()),
        &opts,
        DeadLetterWriter::to_file(&dl),
        Collect::default,
        &|_| {},
    )
    .unwrap();
    let dead = std::fs::read_to_string(&dl)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rejected = report.rejects.total();
    let mut records: Vec<Seen> = report.sinks.into_iter().flat_map(|c| c.0).collect();
    // Workers hand records on in any order: the file's order is the time's here.
    records.sort_by(|a, b| (a.time, &a.conn).cmp(&(b.time, &b.conn)));
    (records, stats, rejected, dead)
}

#[test]
fn http_log_joined_to_ssl_and_conn_in_tsv_and_json() {
    let mut runs = Vec::new();
    for layout in ["tsv", "json"] {
        let http = fixture(layout).join("http.log");
        let head = std::fs::read(&http).unwrap();
        assert_eq!(detect_format(&head), Some(Format::Zeek), "{layout}");
        assert_eq!(detect_zeek(&head), Some(ZeekLog::Http), "{layout}");
        for (log, kind) in [("ssl.log", ZeekLog::Ssl), ("conn.log", ZeekLog::Conn)] {
            let bytes = std::fs::read(fixture(layout).join(log)).unwrap();
            assert_eq!(detect_zeek(&bytes), Some(kind), "{layout} {log}");
        }
        let (recs, stats, rejected, dead) = read(&http);
        assert_eq!(stats.ssl_log, Some(fixture(layout).join("ssl.log")));
        assert_eq!(stats.conn_log, Some(fixture(layout).join("conn.log")));
        assert_eq!(
            (stats.http_requests, stats.joined_ssl, stats.joined_conn),
            (3, 1, 3),
            "{layout}"
        );
        assert_eq!((stats.ssl_connections, stats.tls_only), (2, 1), "{layout}");
        assert_eq!(stats.conn_fingerprints, 3, "a DNS flow has no JA4T");
        assert_eq!(recs.len(), 4, "three requests and one TLS-only connection");

        // Plain HTTP keep-alive: the second request of the connection, its SYN's JA4T.
        let b = &recs[1];
        assert_eq!(b.time, 1_714_564_801_400);
        assert_eq!(b.ip, "192.0.2.10");
        assert_eq!(b.host.as_deref(), Some("www.example.org"));
        assert_eq!(
            (b.path.as_deref(), b.query.as_deref()),
            (Some("/static/app.js"), Some("v=3"))
        );
        assert_eq!(b.keepalive, Some(1), "trans_depth is 1-based");
        assert_eq!(b.headers, Some(8), "client_header_names in wire order");
        assert_eq!(b.ja4t.as_deref(), Some("64240_2-4-8-1-3_1460_7"));
        assert_eq!(b.ja4, None);
        assert_eq!(b.correlated, Some(true));

        // A request inside a decrypted TLS connection: ssl.log's fields joined.
        let c = &recs[2];
        assert_eq!(c.host.as_deref(), Some("shop.example.org"), "port dropped");
        assert_eq!(
            c.ua.as_deref(),
            Some("python-requests/2.31.0\t(evil)"),
            "\\x09 unescaped"
        );
        assert_eq!(c.status, Some(302));
        assert_eq!(
            c.ja4.as_deref(),
            Some("t12d1207h1_c866b44c5a26_b5fcb4e41af4")
        );
        assert_eq!(c.tls, Some(TlsVersion::Tls12));
        assert_eq!(c.sni.as_deref(), Some("shop.example.org"));
        assert_eq!(c.alpn.as_deref(), Some("http/1.1"));
        assert_eq!(c.ja4t.as_deref(), Some("29200_2-4-8-1-3_1460_10"));
        assert_eq!(
            c.ja4h.as_deref(),
            Some("po11nn05enus_9f1e2d3c4b5a_000000000000_000000000000")
        );

        // The TLS connection no request was seen on: a TLS-only record named by its SNI.
        let d = &recs[3];
        assert_eq!(d.conn.as_deref(), Some("CUM0KZ3MLUfNB0cl11"));
        assert_eq!(d.host.as_deref(), Some("api.example.org"));
        assert_eq!(d.path, None);
        assert_eq!(d.tls, Some(TlsVersion::Tls13));
        assert_eq!(d.alpn.as_deref(), Some("h2"));
        assert_eq!(d.ja4t.as_deref(), Some("65535_2-1-3-1-1-8-4-0-0_1440_6"));
        assert_eq!(d.correlated, Some(true));

        // The bad address is refused, counted and kept, naming its log.
        assert_eq!(rejected, 1);
        assert_eq!(dead.len(), 1);
        assert_eq!(dead[0]["reason"], "invalid_ip");
        assert!(
            dead[0]["detail"]
                .as_str()
                .unwrap()
                .starts_with("http.log: "),
            "{}",
            dead[0]
        );
        assert!(dead[0]["raw"].as_str().unwrap().contains("203.0.113.999"));
        runs.push(recs);
    }
    assert_eq!(runs[0], runs[1], "TSV and JSON give the same records");
}

#[test]
fn ssl_log_alone_gives_tls_only_records_and_conn_log_alone_is_refused() {
    let (recs, stats, rejected, _) = read(&fixture("tsv").join("ssl.log"));
    assert_eq!(rejected, 0);
    assert_eq!(stats.tls_only, 2);
    assert!(stats.ssl_log.is_none());
    assert!(stats.conn_log.is_some());
    assert_eq!(recs.len(), 2);
    assert!(recs.iter().all(|r| r.ja4t.is_some() && r.ja4.is_some()));

    let err = run_zeek(
        &Input::File(fixture("tsv").join("conn.log")),
        &IngestOptions::default(),
        DeadLetterWriter::discard(),
        Collect::default,
        &|_| {},
    )
    .err()
    .expect("conn.log alone is refused");
    assert!(
        err.to_string().contains("conn.log alone holds no requests"),
        "{err}"
    );
}

#[test]
fn cut_lines_and_a_second_header_are_reported_not_lost() {
    let dir = tempfile::tempdir().unwrap();
    let http = dir.path().join("http.log");
    let text = std::fs::read_to_string(fixture("tsv").join("http.log")).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    // A line cut short (its last columns missing).
    let cut = lines[8].rsplitn(4, '\t').last().unwrap().to_string();
    lines.insert(9, &cut);
    // And a second header block with other columns (two logs concatenated).
    let mut text = lines.join("\n");
    text.push_str("\n#fields\tts\tuid\n1714564900.0\tCxyz\n");
    std::fs::write(&http, text).unwrap();
    let (recs, _, rejected, dead) = read(&http);
    assert!(dead.iter().any(|d| d["detail"]
        .as_str()
        .unwrap()
        .contains("#fields header unlike")));
    assert_eq!(
        rejected, 4,
        "the cut line, the bad address, the header and its line"
    );
    assert_eq!(recs.len(), 3, "no ssl.log or conn.log here: requests only");
    assert!(recs.iter().all(|r| r.correlated == Some(false)));
    assert!(dead.iter().any(|d| d["reason"] == "invalid_log_line"
        && d["detail"]
            .as_str()
            .unwrap()
            .contains("values for 32 #fields columns")));
}

fn foxio_zeek() -> Option<PathBuf> {
    let base = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    let dir = base.join("foxio-ja4/zeek/tests/Traces");
    if dir.is_dir() {
        Some(dir)
    } else {
        println!(
            "skipped: {} not found (set SHRIKE_SHARED_DATA)",
            dir.display()
        );
        None
    }
}

/// The column `name` of every data line of a real TSV log, read independently.
fn column(path: &Path, name: &str) -> Vec<String> {
    let text = std::fs::read_to_string(path).unwrap();
    let fields: Vec<&str> = text
        .lines()
        .find_map(|l| l.strip_prefix("#fields\t"))
        .unwrap()
        .split('\t')
        .collect();
    let i = fields.iter().position(|f| *f == name).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split('\t').nth(i).unwrap().to_string())
        .collect()
}

#[test]
fn foxio_ja4_package_baselines() {
    let Some(dir) = foxio_zeek() else { return };
    let http = dir.join("Scripts.ja4-http1-with-cookies/http.log");
    let (recs, _, rejected, _) = read(&http);
    assert_eq!(rejected, 0);
    assert_eq!(recs.len(), 1);
    assert_eq!(
        recs[0].ja4h.as_deref(),
        Some(column(&http, "ja4h")[0].as_str())
    );
    assert_eq!(recs[0].ua.as_deref(), Some("curl/8.1.2"));
    assert_eq!(recs[0].host.as_deref(), Some("localhost"));

    let ssl = dir.join("Scripts.ja4-tls-handshake/ssl.log");
    let (recs, stats, rejected, _) = read(&ssl);
    assert_eq!(rejected, 0);
    let ja4 = column(&ssl, "ja4");
    let sni = column(&ssl, "server_name");
    assert_eq!(recs.len(), ja4.len());
    assert_eq!(stats.tls_only, ja4.len() as u64);
    let mut got: Vec<(String, String)> = recs
        .iter()
        .map(|r| (r.ja4.clone().unwrap(), r.host.clone().unwrap()))
        .collect();
    let mut want: Vec<(String, String)> = ja4.into_iter().zip(sni).collect();
    got.sort();
    want.sort();
    assert_eq!(got, want);

    for (log, kind) in [
        ("Scripts.ja4-conn/conn.log", Some(ZeekLog::Conn)),
        ("Scripts.ja4-conn-quic/conn.log", Some(ZeekLog::Conn)),
        ("Scripts.ja4-conn-tls3/conn.log", Some(ZeekLog::Conn)),
        ("Scripts.ja4-dhcp/ja4d.log", None),
        ("Scripts.ja4-ssh2/ja4ssh.log", None),
    ] {
        assert_eq!(
            detect_zeek(&std::fs::read(dir.join(log)).unwrap()),
            kind,
            "{log}"
        );
    }
}
