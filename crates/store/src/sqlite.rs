//! The SQLite implementation.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use shrike_features::{FeatureId, HashKey, SessionFeatures, Sessionizer};
use shrike_types::Timestamp;

use crate::migrations::MIGRATIONS;

/// A store failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("store {path}: {source}")]
    Sqlite {
        /// The database file.
        path: PathBuf,
        /// The SQLite error.
        source: rusqlite::Error,
    },
    /// The file was written by a newer shrike.
    #[error(
        "store {path} has schema version {found}; this shrike knows up to {known}: upgrade shrike"
    )]
    TooNew {
        /// The database file.
        path: PathBuf,
        /// Version in the file.
        found: i64,
        /// Latest version known.
        known: i64,
    },
    /// A saved state or value cannot be decoded.
    #[error("store {path}: corrupt row ({what})")]
    Corrupt {
        /// The database file.
        path: PathBuf,
        /// What could not be read.
        what: String,
    },
}

/// An input already ingested.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IngestedSource {
    /// Content fingerprint (SHA-256 of the bytes).
    pub fingerprint: String,
    /// Path or label.
    pub label: String,
    /// Valid records.
    pub records: u64,
    /// Rejected lines.
    pub rejected: u64,
}

/// A stored session, as listed.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionRow {
    /// Start of the hour.
    pub window_start: Timestamp,
    /// Client address.
    pub src_ip: IpAddr,
    /// JA4 or "".
    pub ja4: String,
    /// Host.
    pub host: String,
    /// Requests.
    pub hits: u64,
    /// ASN reputation label.
    pub asn_label: String,
    /// Known-bot name or "".
    pub bot_name: String,
    /// Browser family or "".
    pub browser_family: String,
    /// Features in [`FeatureId`] order.
    pub features: Vec<f32>,
}

/// The embedded store.
pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
}

fn random_u64() -> u64 {
    // std's RandomState is seeded from the operating system's randomness.
    std::collections::hash_map::RandomState::new()
        .build_hasher()
        .finish()
}

impl SqliteStore {
    /// Opens (creating if needed) the store file and applies pending migrations.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            let _ = std::fs::create_dir_all(dir);
        }
        let sql = |source| StoreError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
    }

    /// The schema version of the file.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .map_err(self.err())
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let known = MIGRATIONS.len() as i64;
        let current = self.schema_version()?;
        if current > known {
            return Err(StoreError::TooNew {
                path: self.path.clone(),
                found: current,
                known,
            });
        }
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        for (i, m) in MIGRATIONS.iter().enumerate().skip(current as usize) {
            let tx = self.conn.transaction().map_err(sql)?;
            tx.execute_batch(m).map_err(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(sql)?;
            if i == 0 {
                let key = format!("{:016x}{:016x}", random_u64(), random_u64());
                tx.execute(
                    "INSERT INTO meta (key, value) VALUES ('hash_key', ?1)",
                    params![key],
                )
                .map_err(sql)?;
            }
            tx.commit().map_err(sql)?;
        }
        Ok(())
    }

    /// The store's secret hash key (created with the store).
    pub fn hash_key(&self) -> Result<HashKey, StoreError> {
        let v: String = self
            .conn
            .query_row("SELECT value FROM meta WHERE key = 'hash_key'", [], |r| {
                r.get(0)
            })
            .map_err(self.err())?;
        let corrupt = || StoreError::Corrupt {
            path: self.path.clone(),
            what: "meta.hash_key".into(),
        };
        if v.len() != 32 {
            return Err(corrupt());
        }
        let a = u64::from_str_radix(&v[..16], 16).map_err(|_| corrupt())?;
        let b = u64::from_str_radix(&v[16..], 16).map_err(|_| corrupt())?;
        Ok(HashKey([a, b]))
    }

    /// Whether an input with this content fingerprint was already ingested.
    pub fn source_seen(&self, fingerprint: &str) -> Result<Option<IngestedSource>, StoreError> {
        self.conn
            .query_row(
                "SELECT fingerprint, label, records, rejected FROM ingested_sources WHERE fingerprint = ?1",
                params![fingerprint],
                |r| {
                    Ok(IngestedSource {
                        fingerprint: r.get(0)?,
                        label: r.get(1)?,
                        records: r.get::<_, i64>(2)? as u64,
                        rejected: r.get::<_, i64>(3)? as u64,
                    })
                },
            )
            .optional()
            .map_err(self.err())
    }

    /// The batch number for the next input (orders "first request" ties across inputs).
    pub fn next_batch(&self) -> Result<u32, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM ingested_sources", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(n as u32 + 1)
    }

    /// Merges into `s` every stored state whose window starts at or after `since`.
    pub fn load_states(&self, s: &mut Sessionizer, since: Timestamp) -> Result<(), StoreError> {
        let corrupt = |what: String| StoreError::Corrupt {
            path: self.path.clone(),
            what,
        };
        let mut q = self
            .conn
            .prepare("SELECT window_start_ms, src_ip, ja4, host, state FROM session_states WHERE window_start_ms >= ?1")
            .map_err(self.err())?;
        let mut rows = q.query(params![since.millis()]).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            let ip: String = r.get(1).map_err(self.err())?;
            let key = shrike_features::SessionKey {
                window_start: Timestamp::from_millis(r.get(0).map_err(self.err())?),
                src_ip: ip
                    .parse()
                    .map_err(|_| corrupt(format!("session_states.src_ip {ip}")))?,
                ja4: r.get(2).map_err(self.err())?,
                host: r.get(3).map_err(self.err())?,
            };
            let state: Vec<u8> = r.get(4).map_err(self.err())?;
            s.absorb_session_state(&key, &state)
                .map_err(|e| corrupt(e.to_string()))?;
        }
        let mut q = self
            .conn
            .prepare("SELECT window_start_ms, src_ip, state FROM ip_window_states WHERE window_start_ms >= ?1")
            .map_err(self.err())?;
        let mut rows = q.query(params![since.millis()]).map_err(self.err())?;
        while let Some(r) = rows.next().map_err(self.err())? {
            let ip: String = r.get(1).map_err(self.err())?;
            let ip: IpAddr = ip
                .parse()
                .map_err(|_| corrupt(format!("ip_window_states.src_ip {ip}")))?;
            let state: Vec<u8> = r.get(2).map_err(self.err())?;
            s.absorb_ip_window_state(
                Timestamp::from_millis(r.get(0).map_err(self.err())?),
                ip,
                &state,
            )
            .map_err(|e| corrupt(e.to_string()))?;
        }
        Ok(())
    }

    /// Writes, in one transaction: the states of `s` (which must hold the merged state of
    /// every session it touches: stored states are replaced), the features of `sessions`,
    /// and the source record. Either all of it lands or none of it.
    pub fn save_ingest(
        &mut self,
        s: &Sessionizer,
        sessions: &[SessionFeatures],
        source: &IngestedSource,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        write_all(&tx, s, sessions, source, now).map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Number of stored sessions.
    pub fn session_count(&self) -> Result<u64, StoreError> {
        let n: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM sessions", [], |r| r.get(0))
            .map_err(self.err())?;
        Ok(n as u64)
    }

    /// Every stored session (ordered by key).
    pub fn sessions(&self) -> Result<Vec<SessionRow>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT window_start_ms, src_ip, ja4, host, hits, asn_label, bot_name, browser_family, features
                 FROM sessions ORDER BY window_start_ms, src_ip, ja4, host",
            )
            .map_err(self.err())?;
        let rows = q
            .query_map([], |r| {
                let ip: String = r.get(1)?;
                let blob: Vec<u8> = r.get(8)?;
                Ok((
                    ip,
                    blob,
                    r.get::<_, i64>(0)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, i64>(4)?,
                    r.get(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .map_err(self.err())?;
        let mut out = Vec::new();
        for row in rows {
            let (ip, blob, w, ja4, host, hits, asn_label, bot_name, browser_family) =
                row.map_err(self.err())?;
            let corrupt = |what: &str| StoreError::Corrupt {
                path: self.path.clone(),
                what: format!("sessions.{what} of {ip}"),
            };
            if blob.len() % 4 != 0 {
                return Err(corrupt("features"));
            }
            out.push(SessionRow {
                window_start: Timestamp::from_millis(w),
                src_ip: ip.parse().map_err(|_| corrupt("src_ip"))?,
                ja4,
                host,
                hits: hits as u64,
                asn_label,
                bot_name,
                browser_family,
                features: blob
                    .chunks_exact(4)
                    .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            });
        }
        Ok(out)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

fn write_all(
    tx: &Transaction<'_>,
    s: &Sessionizer,
    sessions: &[SessionFeatures],
    source: &IngestedSource,
    now: Timestamp,
) -> rusqlite::Result<()> {
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO session_states (window_start_ms, src_ip, ja4, host, state) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        for (k, state) in s.session_states() {
            put.execute(params![
                k.window_start.millis(),
                k.src_ip.to_string(),
                k.ja4,
                k.host,
                state
            ])?;
        }
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO ip_window_states (window_start_ms, src_ip, state) VALUES (?1, ?2, ?3)",
        )?;
        for ((w, ip), state) in s.ip_window_states() {
            put.execute(params![w.millis(), ip.to_string(), state])?;
        }
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO sessions (window_start_ms, src_ip, ja4, host, first_seen_ms, last_seen_ms, hits,
                asn, asn_org, country, asn_label, bot_name, browser_family, correlated, user_agent, tcp_fingerprint,
                header_order_hash, h2_fingerprint, features, feature_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        )?;
        for f in sessions {
            let blob: Vec<u8> = f.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            put.execute(params![
                f.key.window_start.millis(),
                f.key.src_ip.to_string(),
                f.key.ja4,
                f.key.host,
                f.first_seen.millis(),
                f.last_seen.millis(),
                f.get(FeatureId::Hits) as i64,
                f.asn,
                f.asn_org,
                f.country,
                f.asn_label.as_str(),
                f.bot_name,
                f.browser_family,
                f.correlated,
                f.user_agent,
                f.tcp_fingerprint,
                f.header_order_hash,
                f.h2_fingerprint,
                blob,
                FeatureId::COUNT as i64,
            ])?;
        }
    }
    tx.execute(
        "INSERT INTO ingested_sources (fingerprint, label, records, rejected, ingested_at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![source.fingerprint, source.label, source.records as i64, source.rejected as i64, now.millis()],
    )?;
    Ok(())
}
