//! Helpers shared by the binary's end-to-end tests.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Command, Output, Stdio};

/// The `shrike` binary in `cwd`, in the same world on every machine: without the caller's
/// store or dictionary settings, and without real browser profiles (the simulator then
/// uses its built-in table, whether or not `../shared/data` or `SHRIKE_SHARED_DATA` is
/// around; a test that wants the real data passes its paths explicitly).
pub fn command(cwd: &Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_shrike"));
    c.current_dir(cwd)
        .env_remove("SHRIKE_STORE")
        .env_remove("SHRIKE_DICT_DIR")
        .env_remove("SHRIKE_PROFILES")
        .env("SHRIKE_SHARED_DATA", cwd.join("no-shared-data"));
    c
}

/// Runs the `shrike` binary in `cwd` (see [`command`]).
pub fn shrike(args: &[&str], cwd: &Path) -> Output {
    command(cwd).args(args).output().unwrap()
}

/// Simulates `hours` of traffic with `humans_per_hour` people into `cwd/sim` (the
/// built-in world, seeded), asserting that it worked.
pub fn simulate(cwd: &Path, hours: &str, humans_per_hour: &str) {
    let o = shrike(
        &[
            "simulate",
            "--hours",
            hours,
            "--humans-per-hour",
            humans_per_hour,
            "--out",
            "sim",
        ],
        cwd,
    );
    assert!(o.status.success(), "{}", text(&o));
}

/// `../shared/data` (or `SHRIKE_SHARED_DATA`) when it holds `sub`; otherwise prints one
/// line saying the test is skipped and returns `None`.
pub fn shared_data(sub: &str) -> Option<std::path::PathBuf> {
    let p = std::env::var_os("SHRIKE_SHARED_DATA")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data"));
    if p.join(sub).exists() {
        Some(p)
    } else {
        println!("skipped: no {}", p.join(sub).display());
        None
    }
}

/// Standard output then standard error.
pub fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The dashboard URL a `shrike serve` or `shrike run` child prints first on its piped
/// standard output (`http://host:port`); the rest of its output is read and dropped, so that
/// it never blocks on a full pipe.
pub fn dashboard_url(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let url = line
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .unwrap_or_else(|| panic!("no URL in {line:?}"))
        .trim_end_matches('/')
        .to_string();
    std::thread::spawn(move || {
        let mut sink = String::new();
        while out.read_line(&mut sink).is_ok_and(|n| n > 0) {
            sink.clear();
        }
    });
    url
}

/// `shrike serve` on a free port; killed on drop.
pub struct Server {
    child: std::process::Child,
    /// `http://host:port`.
    pub url: String,
}

impl Server {
    /// Serves `store` (a SQLite file or a ClickHouse address) from `cwd`.
    pub fn start(store: &str, cwd: &Path) -> Server {
        let mut c = command(cwd);
        c.args(["serve", "--listen", "127.0.0.1:0", "--store", store]);
        Server::spawn(c)
    }

    /// Runs `serve`, a `shrike serve` command that prints its URL once listening.
    pub fn spawn(mut serve: Command) -> Server {
        let mut child = serve
            .env("SHRIKE_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let url = dashboard_url(&mut child);
        Server { child, url }
    }

    /// GET `path`: the JSON body of a 200 answer.
    pub fn get(&self, path: &str) -> serde_json::Value {
        use std::io::{Read, Write};
        let addr = self.url.trim_start_matches("http://");
        let mut s = std::net::TcpStream::connect(addr).unwrap();
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).unwrap();
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.1 200"), "{path}: {head}\n{body}");
        // Chunked or not, the JSON object spans the first '{' to the last '}'.
        let (a, b) = (
            body.find(['{', '[']).unwrap(),
            body.rfind(['}', ']']).unwrap(),
        );
        serde_json::from_str(&body[a..=b]).unwrap_or_else(|e| panic!("{path}: {e}"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every stored session of a SQLite store, features included, as one text (sorted by key):
/// what two runs that should store the same sessions are compared by.
pub fn sessions_text(store: &Path) -> String {
    let c = rusqlite::Connection::open(store).unwrap();
    let mut q = c
        .prepare(
            "SELECT window_start_ms, src_ip, ja4, host, hits, hex(features) FROM sessions
             ORDER BY window_start_ms, src_ip, ja4, host",
        )
        .unwrap();
    let rows = q
        .query_map([], |r| {
            Ok(format!(
                "{} {} {} {} {} {}",
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect::<Vec<_>>().join("\n")
}

/// What the test's publisher serves for a path.
#[derive(Clone)]
pub enum Serve {
    /// The whole file.
    File(Vec<u8>),
    /// The first half, under a Content-Length announcing the whole, then the connection
    /// closes: a download that broke off.
    Truncated(Vec<u8>),
}

/// A publisher on loopback: serves `routes` (changed by the test between runs) over HTTP/1.1,
/// one connection at a time.
pub fn publisher(
    routes: std::sync::Arc<std::sync::Mutex<std::collections::HashMap<String, Serve>>>,
) -> String {
    use std::io::{BufRead, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
            let serve = routes.lock().unwrap().get(&path).cloned();
            let _ = match serve {
                Some(Serve::File(body)) => write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .and_then(|()| conn.write_all(&body)),
                Some(Serve::Truncated(body)) => write!(
                    conn,
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                )
                .and_then(|()| conn.write_all(&body[..body.len() / 2])),
                None => write!(
                    conn,
                    "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                ),
            };
        }
    });
    url
}
