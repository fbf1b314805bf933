//! The ClickHouse engine the tests run against: `CLICKHOUSE_URL` when set (a real server),
//! else the genuine engine behind `../shared/tools/clickhouse-shim`, started here and
//! stopped on drop. Each test works in a database of its own.

use std::path::PathBuf;
use std::process::Command;

use shrike_clickhouse::{ChUrl, Client};

pub struct Engine {
    pub url: ChUrl,
    pid: Option<u32>,
    _data: Option<tempfile::TempDir>,
}

/// Starts the shim on `data` (and `port`, when given); returns its address and PID.
fn launch(script: &std::path::Path, data: &std::path::Path, port: Option<u16>) -> (ChUrl, u32) {
    // The first start installs the engine into a shared venv: one at a time.
    static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
    let mut cmd = Command::new("bash");
    cmd.arg(script).env("CLICKHOUSE_SHIM_DATA", data);
    if let Some(p) = port {
        cmd.env("CLICKHOUSE_SHIM_PORT", p.to_string());
    }
    let out = cmd.output().expect("run the clickhouse shim");
    assert!(
        out.status.success(),
        "the shim did not start: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let var = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .to_string()
    };
    (
        ChUrl::parse(&var("CLICKHOUSE_URL")).unwrap(),
        var("CLICKHOUSE_SHIM_PID").parse().unwrap(),
    )
}

/// An engine this test owns and may kill and restart (always the shim: a shared server
/// cannot be killed). The data directory survives restarts.
#[allow(dead_code)]
pub struct OwnEngine {
    pub url: ChUrl,
    pid: Option<u32>,
    script: PathBuf,
    data: tempfile::TempDir,
}

#[allow(dead_code)]
impl OwnEngine {
    /// The shim, or `None` (with one printed line) when it is absent.
    pub fn start(test: &str) -> Option<OwnEngine> {
        let script = shared().join("tools/clickhouse-shim/start.sh");
        if !script.is_file() {
            println!(
                "skipped: {test} kills its own engine and needs {}",
                script.display()
            );
            return None;
        }
        let data = tempfile::tempdir().unwrap();
        let (url, pid) = launch(&script, data.path(), None);
        let url = url.with_database(&format!("shrike_t_{test}")).unwrap();
        Some(OwnEngine {
            url,
            pid: Some(pid),
            script,
            data,
        })
    }

    pub fn client(&self) -> Client {
        Client::new(self.url.clone())
    }

    /// SIGKILL: no chance to finish anything in flight.
    pub fn kill(&mut self) {
        if let Some(pid) = self.pid.take() {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            // Reap it, so the port is free for the restart.
            for _ in 0..100 {
                if !std::path::Path::new(&format!("/proc/{pid}")).exists()
                    || std::fs::read_to_string(format!("/proc/{pid}/stat"))
                        .is_ok_and(|s| s.contains(") Z "))
                {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        }
    }

    /// Starts the engine again on the same port and data.
    pub fn restart(&mut self) {
        assert!(self.pid.is_none(), "restart after kill");
        let (_, pid) = launch(&self.script, self.data.path(), Some(self.url.port));
        self.pid = Some(pid);
    }
}

impl Drop for OwnEngine {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

#[allow(dead_code)]
impl Engine {
    /// The engine, or `None` (with one printed line) when neither a server nor the shim is
    /// available.
    pub fn start(test: &str) -> Option<Engine> {
        let db = format!("shrike_t_{test}_{}", std::process::id());
        if let Ok(u) = std::env::var("CLICKHOUSE_URL") {
            let url = ChUrl::parse(&u).unwrap().with_database(&db).unwrap();
            return Some(Engine {
                url,
                pid: None,
                _data: None,
            });
        }
        let script = shared().join("tools/clickhouse-shim/start.sh");
        if !script.is_file() {
            println!("skipped: no CLICKHOUSE_URL and no {}", script.display());
            return None;
        }
        let data = tempfile::tempdir().unwrap();
        let (url, pid) = launch(&script, data.path(), None);
        Some(Engine {
            url: url.with_database(&db).unwrap(),
            pid: Some(pid),
            _data: Some(data),
        })
    }

    pub fn client(&self) -> Client {
        Client::new(self.url.clone())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        match self.pid {
            Some(pid) => {
                let _ = Command::new("kill").arg(pid.to_string()).status();
            }
            None => {
                let _ = self
                    .client()
                    .execute(&format!("DROP DATABASE IF EXISTS {}", self.url.database));
            }
        }
    }
}
