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

pub fn shared() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared")
}

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
        // The first start installs the engine into a shared venv: one at a time.
        static STARTING: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _one = STARTING.lock().unwrap_or_else(|e| e.into_inner());
        let data = tempfile::tempdir().unwrap();
        let out = Command::new("bash")
            .arg(&script)
            .env("CLICKHOUSE_SHIM_DATA", data.path())
            .output()
            .expect("run the clickhouse shim");
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
        let url = ChUrl::parse(&var("CLICKHOUSE_URL"))
            .unwrap()
            .with_database(&db)
            .unwrap();
        let pid = var("CLICKHOUSE_SHIM_PID").parse().ok();
        Some(Engine {
            url,
            pid,
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
