//! The SQLite implementation.

use std::hash::{BuildHasher, Hasher};
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use shrike_features::{FeatureId, HashKey, SessionFeatures, Sessionizer};
use shrike_types::{FilePosition, SessionKey, Timestamp};

use crate::migrations::MIGRATIONS;
use crate::rows::{FileSpan, IngestedSource, OutputTable, SessionRow};
use crate::traits::{CycleStore, DashboardStore, IngestLedger};

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
    /// A remote store (ClickHouse) failed; `transient` when retrying later may work.
    #[error("store {store}: {message}")]
    Remote {
        /// The store's address (without password).
        store: String,
        /// What went wrong.
        message: String,
        /// Whether a later attempt may succeed (server down, timeout).
        transient: bool,
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

/// The embedded store.
pub struct SqliteStore {
    pub(crate) conn: Connection,
    pub(crate) path: PathBuf,
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
        // First, so that every statement after it (the switch to WAL included) waits for a
        // concurrent opener instead of failing.
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        // A 64 MiB page cache (the default is 2 MiB): a cycle reads a day of sessions and
        // writes a score per session, and index pages would otherwise be read again and
        // again from the file.
        conn.pragma_update(None, "cache_size", -65536)
            .map_err(sql)?;
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
        };
        store.migrate()?;
        Ok(store)
    }

    pub(crate) fn err(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sqlite {
            path: self.path.clone(),
            source,
        }
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
            // Another process opening the same new store may be migrating too: take the
            // write lock first, then read the version again inside it.
            let tx = self
                .conn
                .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                .map_err(sql)?;
            let now: i64 = tx
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .map_err(sql)?;
            if now > i as i64 {
                continue; // applied meanwhile
            }
            tx.execute_batch(m).map_err(sql)?;
            if crate::migrations::FEATURE_VIEW_AFTER.contains(&(i + 1)) {
                tx.execute_batch(&crate::feature_view::create_sql())
                    .map_err(sql)?;
            }
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

    /// The batch number for the next input (orders "first request" ties across inputs): one
    /// per source record, a run of `shrike ingest` or a run of lines `shrike run` stored.
    pub fn next_batch(&self) -> Result<u32, StoreError> {
        // The highest id, not the count: `shrike run` prunes its oldest records, and a batch
        // number must never come back.
        let n: i64 = self
            .conn
            .query_row(
                "SELECT COALESCE(MAX(id), 0) FROM ingested_sources",
                [],
                |r| r.get(0),
            )
            .map_err(self.err())?;
        Ok(n as u32 + 1)
    }

    /// Merges a run's new sessions into the store in one write transaction: the stored
    /// states whose window starts at most `horizon_ms` before the oldest new session are
    /// read, `new` is merged into them, `finish` computes the features of the merged
    /// sessions, and the touched states, the features and the source record are written,
    /// before any other writer can read or write (`BEGIN IMMEDIATE`). Two runs merging into one store thus
    /// store what the same runs one after the other store, whether or not they hold the
    /// [`crate::WriterLock`]. Returns the number of sessions written.
    pub fn merge_ingest(
        &mut self,
        new: Sessionizer,
        horizon_ms: i64,
        finish: impl FnOnce(&Sessionizer) -> Vec<SessionFeatures>,
        source: &IngestedSource,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        self.merge_with(new, horizon_ms, finish, |tx| record_source(tx, source, now))
    }

    /// [`SqliteStore::merge_ingest`] for `shrike run`: what it read from the files it follows
    /// (one source record per run of lines, each its own input batch), with the positions
    /// reached in them (replacing those stored for `names`), in one transaction. A run
    /// killed before the commit keeps neither the sessions nor the positions, and reads the
    /// same bytes again. The source records of earlier runs of lines older than
    /// `ledger_keep_ms` (wall time) are deleted, so that a service's ledger stays bounded.
    #[allow(clippy::too_many_arguments)]
    pub fn merge_follow(
        &mut self,
        new: Sessionizer,
        horizon_ms: i64,
        finish: impl FnOnce(&Sessionizer) -> Vec<SessionFeatures>,
        sources: &[IngestedSource],
        names: &[String],
        positions: &[FilePosition],
        now: Timestamp,
        ledger_keep_ms: i64,
    ) -> Result<usize, StoreError> {
        self.merge_with(new, horizon_ms, finish, |tx| {
            for s in sources {
                record_source(tx, s, now)?;
            }
            tx.execute(
                "DELETE FROM ingested_sources WHERE fingerprint LIKE 'follow:%' AND ingested_at_ms < ?1",
                params![now.millis().saturating_sub(ledger_keep_ms)],
            )?;
            record_positions(tx, names, positions, now)
        })
    }

    /// Where `shrike run` stopped reading the files it follows.
    pub fn follow_positions(&self) -> Result<Vec<FilePosition>, StoreError> {
        let mut q = self
            .conn
            .prepare("SELECT name, dev, ino, offset, lines, head FROM follow_positions ORDER BY name, dev, ino")
            .map_err(self.err())?;
        let rows = q
            .query_map([], |r| {
                Ok(FilePosition {
                    name: r.get(0)?,
                    dev: r.get::<_, i64>(1)? as u64,
                    ino: r.get::<_, i64>(2)? as u64,
                    offset: r.get::<_, i64>(3)? as u64,
                    lines: r.get::<_, i64>(4)? as u64,
                    head: r.get(5)?,
                })
            })
            .map_err(self.err())?;
        rows.collect::<Result<_, _>>().map_err(self.err())
    }

    /// Loads the stored states the new sessions extend, merges, computes features and
    /// writes them, and `record`s what was read, in one write transaction.
    fn merge_with(
        &mut self,
        new: Sessionizer,
        horizon_ms: i64,
        finish: impl FnOnce(&Sessionizer) -> Vec<SessionFeatures>,
        record: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<()>,
    ) -> Result<usize, StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sqlite {
            path: path.clone(),
            source,
        };
        let tx = self
            .conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(sql)?;
        let clock = std::time::Instant::now();
        let mut all = Sessionizer::new(new.hash_key(), new.batch());
        if let Some(oldest) = new.session_keys().map(|k| k.window_start).min() {
            let since = Timestamp::from_millis(oldest.millis() - horizon_ms);
            load_states(&tx, &path, &mut all, since)?;
        }
        let loaded = clock.elapsed();
        // Only the states the new data touched change: the others are still what the store
        // holds, so they are not written again.
        let touched: std::collections::HashSet<SessionKey> = new.session_keys().cloned().collect();
        let touched_ip: std::collections::HashSet<(Timestamp, IpAddr)> =
            new.ip_window_keys().collect();
        all.merge(new);
        let merged = clock.elapsed();
        let features = finish(&all);
        let finished = clock.elapsed();
        write_all(&tx, &all, &features, &touched, &touched_ip).map_err(sql)?;
        record(&tx).map_err(sql)?;
        let written = clock.elapsed();
        tx.commit().map_err(sql)?;
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        tracing::debug!(
            load_ms = ms(loaded),
            merge_ms = ms(merged - loaded),
            features_ms = ms(finished - merged),
            write_ms = ms(written - finished),
            commit_ms = ms(clock.elapsed() - written),
            sessions = features.len(),
            "ingest stages after the read"
        );
        Ok(features.len())
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
        self.sessions_between(
            Timestamp::from_millis(i64::MIN),
            Timestamp::from_millis(i64::MAX),
        )
    }

    /// Count of rows of an output table or view (for tests and summaries).
    pub fn count(&self, table: OutputTable) -> Result<u64, StoreError> {
        let sql = format!("SELECT COUNT(*) FROM {}", table.name());
        self.conn
            .query_row(&sql, [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(self.err())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// Merges into `s` every stored state of `conn` whose window starts at or after `since`.
fn load_states(
    conn: &Connection,
    path: &Path,
    s: &mut Sessionizer,
    since: Timestamp,
) -> Result<(), StoreError> {
    let err = |source| StoreError::Sqlite {
        path: path.to_path_buf(),
        source,
    };
    let corrupt = |what: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        what,
    };
    let mut q = conn
        .prepare("SELECT window_start_ms, src_ip, ja4, host, state FROM session_states WHERE window_start_ms >= ?1")
        .map_err(err)?;
    let mut rows = q.query(params![since.millis()]).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let key = crate::outputs::session_key(r, 0).map_err(err)?;
        let state: Vec<u8> = r.get(4).map_err(err)?;
        s.absorb_session_state(&key, &state)
            .map_err(|e| corrupt(e.to_string()))?;
    }
    let mut q = conn
        .prepare("SELECT window_start_ms, src_ip, state FROM ip_window_states WHERE window_start_ms >= ?1")
        .map_err(err)?;
    let mut rows = q.query(params![since.millis()]).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let ip: String = r.get(1).map_err(err)?;
        let ip: IpAddr = ip
            .parse()
            .map_err(|_| corrupt(format!("ip_window_states.src_ip {ip}")))?;
        let state: Vec<u8> = r.get(2).map_err(err)?;
        s.absorb_ip_window_state(Timestamp::from_millis(r.get(0).map_err(err)?), ip, &state)
            .map_err(|e| corrupt(e.to_string()))?;
    }
    Ok(())
}

/// A session key as the tables' primary keys order it: window, address as text, JA4, host.
pub(crate) fn sort_key(k: &SessionKey) -> (i64, String, &str, &str) {
    (
        k.window_start.millis(),
        k.src_ip.to_string(),
        k.ja4_str(),
        k.host.as_str(),
    )
}

/// Positions of `keys` in ascending order (the order of a table's primary key when the
/// keys are its columns: text compares as bytes, as SQLite's BINARY collation does).
pub(crate) fn key_order<K: Ord>(keys: &[K]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..keys.len()).collect();
    order.sort_unstable_by(|a, b| keys[*a].cmp(&keys[*b]));
    order
}

fn write_all(
    tx: &Transaction<'_>,
    s: &Sessionizer,
    sessions: &[SessionFeatures],
    touched: &std::collections::HashSet<SessionKey>,
    touched_ip: &std::collections::HashSet<(Timestamp, IpAddr)>,
) -> rusqlite::Result<()> {
    {
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO session_states (window_start_ms, src_ip, ja4, host, state) VALUES (?1, ?2, ?3, ?4, ?5)",
        )?;
        // Every table in primary-key order, so that its B-tree is filled in order rather
        // than split at random places (the sessionizer's maps have no order); each state
        // is serialised as it is written.
        let keys: Vec<_> = s.session_keys().map(sort_key).collect();
        let changed: Vec<bool> = s.session_keys().map(|k| touched.contains(k)).collect();
        for i in key_order(&keys) {
            if !changed[i] {
                continue;
            }
            let (window, ip, ja4, host) = &keys[i];
            put.execute(params![window, ip, ja4, host, s.session_state(i)])?;
        }
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO ip_window_states (window_start_ms, src_ip, state) VALUES (?1, ?2, ?3)",
        )?;
        let keys: Vec<(i64, String)> = s
            .ip_window_keys()
            .map(|(w, ip)| (w.millis(), ip.to_string()))
            .collect();
        let changed: Vec<bool> = s
            .ip_window_keys()
            .map(|k| touched_ip.contains(&k))
            .collect();
        for i in key_order(&keys) {
            if !changed[i] {
                continue;
            }
            let (window, ip) = &keys[i];
            put.execute(params![window, ip, s.ip_window_state(i)])?;
        }
        let mut put = tx.prepare_cached(
            "INSERT OR REPLACE INTO sessions (window_start_ms, src_ip, ja4, host, first_seen_ms, last_seen_ms, hits,
                asn, asn_org, country, asn_label, bot_name, browser_family, correlated, user_agent, tcp_fingerprint,
                header_order_hash, h2_fingerprint, features, feature_count)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20)",
        )?;
        let keys: Vec<_> = sessions.iter().map(|f| sort_key(&f.key)).collect();
        for (f, (_, ip, _, _)) in key_order(&keys)
            .into_iter()
            .map(|i| (&sessions[i], &keys[i]))
        {
            let blob: Vec<u8> = f.values.iter().flat_map(|v| v.to_le_bytes()).collect();
            put.execute(params![
                f.key.window_start.millis(),
                ip,
                f.key.ja4_str(),
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
    Ok(())
}

fn record_source(
    tx: &Transaction<'_>,
    source: &IngestedSource,
    now: Timestamp,
) -> rusqlite::Result<()> {
    let span = source.span.as_ref();
    tx.execute(
        "INSERT INTO ingested_sources (fingerprint, label, path, start_offset, end_offset, lines, ends_with_newline,
            records, rejected, ingested_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
        params![
            source.fingerprint,
            source.label,
            span.map(|s| s.path.as_str()),
            span.map_or(0, |s| s.start as i64),
            span.map(|s| s.end as i64),
            span.map_or(0, |s| s.lines as i64),
            span.is_none_or(|s| s.ends_with_newline),
            source.records as i64,
            source.rejected as i64,
            now.millis()
        ],
    )?;
    Ok(())
}

fn record_positions(
    tx: &Transaction<'_>,
    names: &[String],
    positions: &[FilePosition],
    now: Timestamp,
) -> rusqlite::Result<()> {
    let mut forget = tx.prepare_cached("DELETE FROM follow_positions WHERE name = ?1")?;
    for name in names {
        forget.execute(params![name])?;
    }
    let mut put = tx.prepare_cached(
        "INSERT OR REPLACE INTO follow_positions (name, dev, ino, offset, lines, head, updated_at_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for p in positions {
        put.execute(params![
            p.name,
            p.dev as i64,
            p.ino as i64,
            p.offset as i64,
            p.lines as i64,
            p.head,
            now.millis()
        ])?;
    }
    Ok(())
}

const SOURCE_COLUMNS: &str = "SELECT fingerprint, label, records, rejected, path, start_offset, end_offset, lines, ends_with_newline FROM ingested_sources";

fn source_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<IngestedSource> {
    let path: Option<String> = r.get(4)?;
    let end: Option<i64> = r.get(6)?;
    let span = match (path, end) {
        (Some(path), Some(end)) => Some(FileSpan {
            path,
            start: r.get::<_, i64>(5)? as u64,
            end: end as u64,
            lines: r.get::<_, i64>(7)? as u64,
            ends_with_newline: r.get(8)?,
        }),
        _ => None,
    };
    Ok(IngestedSource {
        fingerprint: r.get(0)?,
        label: r.get(1)?,
        records: r.get::<_, i64>(2)? as u64,
        rejected: r.get::<_, i64>(3)? as u64,
        span,
    })
}

impl IngestLedger for SqliteStore {
    /// Whether an input with this content fingerprint was already ingested.
    fn source_seen(&self, fingerprint: &str) -> Result<Option<IngestedSource>, StoreError> {
        self.conn
            .query_row(
                &format!("{SOURCE_COLUMNS} WHERE fingerprint = ?1 ORDER BY id DESC LIMIT 1"),
                params![fingerprint],
                source_row,
            )
            .optional()
            .map_err(self.err())
    }

    /// The latest ingest of the file at this canonical path that recorded its byte span.
    fn last_ingest_of(&self, path: &str) -> Result<Option<IngestedSource>, StoreError> {
        self.conn
            .query_row(
                &format!(
                    "{SOURCE_COLUMNS} WHERE path = ?1 AND end_offset IS NOT NULL ORDER BY id DESC LIMIT 1"
                ),
                params![path],
                source_row,
            )
            .optional()
            .map_err(self.err())
    }

    fn may_have_seen_size(&self, size: u64) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT EXISTS (SELECT 1 FROM ingested_sources WHERE end_offset = ?1)",
                params![size as i64],
                |r| r.get(0),
            )
            .map_err(self.err())
    }
}
