//! Versioned schema migrations, applied in order inside one transaction each; the schema
//! version is SQLite's `user_version`.

/// Migration `i` brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: sessions, their mergeable states, ingested sources, metadata.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE TABLE ingested_sources (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        label TEXT NOT NULL,
        records INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        ingested_at_ms INTEGER NOT NULL
    );
    CREATE TABLE session_states (
        window_start_ms INTEGER NOT NULL,
        src_ip TEXT NOT NULL,
        ja4 TEXT NOT NULL,
        host TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (window_start_ms, src_ip, ja4, host)
    ) WITHOUT ROWID;
    CREATE TABLE ip_window_states (
        window_start_ms INTEGER NOT NULL,
        src_ip TEXT NOT NULL,
        state BLOB NOT NULL,
        PRIMARY KEY (window_start_ms, src_ip)
    ) WITHOUT ROWID;
    CREATE TABLE sessions (
        window_start_ms INTEGER NOT NULL,
        src_ip TEXT NOT NULL,
        ja4 TEXT NOT NULL,
        host TEXT NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        hits INTEGER NOT NULL,
        asn INTEGER NOT NULL,
        asn_org TEXT NOT NULL,
        country TEXT NOT NULL,
        asn_label TEXT NOT NULL,
        bot_name TEXT NOT NULL,
        browser_family TEXT NOT NULL,
        correlated INTEGER NOT NULL,
        user_agent TEXT NOT NULL,
        tcp_fingerprint TEXT NOT NULL,
        header_order_hash TEXT NOT NULL,
        h2_fingerprint TEXT NOT NULL,
        features BLOB NOT NULL,
        feature_count INTEGER NOT NULL,
        PRIMARY KEY (window_start_ms, src_ip, ja4, host)
    ) WITHOUT ROWID;
    CREATE INDEX sessions_by_ip ON sessions (src_ip, window_start_ms);
    "#,
    // 2: detection outputs (SPEC §6).
    r#"
    CREATE TABLE cycles (
        id INTEGER PRIMARY KEY,
        started_at_ms INTEGER NOT NULL,
        horizon_start_ms INTEGER NOT NULL,
        horizon_end_ms INTEGER NOT NULL,
        sessions INTEGER NOT NULL,
        scored INTEGER NOT NULL,
        anomalies INTEGER NOT NULL,
        anomaly_rate REAL NOT NULL,
        metrics TEXT NOT NULL
    );
    CREATE TABLE all_scores (
        cycle_id INTEGER NOT NULL REFERENCES cycles(id),
        window_start_ms INTEGER NOT NULL,
        src_ip TEXT NOT NULL,
        ja4 TEXT NOT NULL,
        host TEXT NOT NULL,
        model TEXT NOT NULL,
        threat_level TEXT NOT NULL,
        raw_score REAL NOT NULL,
        anomaly_score REAL NOT NULL,
        is_anomaly INTEGER NOT NULL,
        recurrence INTEGER NOT NULL,
        browser_confidence REAL NOT NULL,
        browser_family TEXT NOT NULL,
        campaign_id INTEGER NOT NULL DEFAULT -1,
        reason TEXT NOT NULL,
        top_features TEXT NOT NULL,
        PRIMARY KEY (cycle_id, window_start_ms, src_ip, ja4, host)
    ) WITHOUT ROWID;
    CREATE INDEX all_scores_by_ip ON all_scores (src_ip, cycle_id);
    CREATE VIEW detected_anomalies AS
        SELECT * FROM all_scores WHERE is_anomaly = 1;
    CREATE TABLE decisions (
        id INTEGER PRIMARY KEY,
        cycle_id INTEGER NOT NULL REFERENCES cycles(id),
        at_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        model TEXT NOT NULL,
        payload TEXT NOT NULL
    );
    CREATE INDEX decisions_by_kind ON decisions (kind, cycle_id);
    CREATE TABLE models (
        model TEXT NOT NULL,
        version TEXT NOT NULL,
        cycle_id INTEGER NOT NULL,
        trained_at_ms INTEGER NOT NULL,
        meta TEXT NOT NULL,
        PRIMARY KEY (model, version)
    ) WITHOUT ROWID;
    "#,
    // 3: ingested sources remember which byte range of which file they covered, so that a
    // log file that grew is ingested from where the last run stopped; the same content may
    // be ingested twice on purpose (`--force`), so the fingerprint is no longer unique.
    r#"
    CREATE TABLE ingested_sources_v3 (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        label TEXT NOT NULL,
        path TEXT,
        start_offset INTEGER NOT NULL DEFAULT 0,
        end_offset INTEGER,
        lines INTEGER NOT NULL DEFAULT 0,
        ends_with_newline INTEGER NOT NULL DEFAULT 1,
        records INTEGER NOT NULL,
        rejected INTEGER NOT NULL,
        ingested_at_ms INTEGER NOT NULL
    );
    INSERT INTO ingested_sources_v3 (id, fingerprint, label, records, rejected, ingested_at_ms)
        SELECT id, fingerprint, label, records, rejected, ingested_at_ms FROM ingested_sources;
    DROP TABLE ingested_sources;
    ALTER TABLE ingested_sources_v3 RENAME TO ingested_sources;
    CREATE INDEX ingested_sources_by_fingerprint ON ingested_sources (fingerprint);
    CREATE INDEX ingested_sources_by_path ON ingested_sources (path, id);
    "#,
    // 4: fleets (SPEC §5 step 12): each score's fleet, and the fleets of each cycle.
    r#"
    ALTER TABLE all_scores ADD COLUMN fleet_id INTEGER NOT NULL DEFAULT -1;
    ALTER TABLE all_scores ADD COLUMN fleet_score REAL NOT NULL DEFAULT 0;
    ALTER TABLE all_scores ADD COLUMN fleet_flag INTEGER NOT NULL DEFAULT 0;
    CREATE TABLE fleet_detections (
        cycle_id INTEGER NOT NULL REFERENCES cycles(id),
        fleet_id INTEGER NOT NULL,
        detected_at_ms INTEGER NOT NULL,
        sessions INTEGER NOT NULL,
        ips INTEGER NOT NULL,
        prefixes INTEGER NOT NULL,
        asns TEXT NOT NULL,
        ja4s TEXT NOT NULL,
        mean_browser_confidence REAL NOT NULL,
        score REAL NOT NULL,
        flagged INTEGER NOT NULL,
        PRIMARY KEY (cycle_id, fleet_id)
    ) WITHOUT ROWID;
    CREATE INDEX fleet_detections_by_time ON fleet_detections (detected_at_ms);
    "#,
    // 5: campaigns (SPEC §5 step 11): one row per campaign, updated by each cycle that
    // sees it, and its member addresses, by which later cycles recognise it.
    r#"
    CREATE TABLE campaigns (
        campaign_id INTEGER PRIMARY KEY,
        first_cycle INTEGER NOT NULL,
        last_cycle INTEGER NOT NULL,
        cycles INTEGER NOT NULL,
        first_seen_ms INTEGER NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        model TEXT NOT NULL,
        algorithm TEXT NOT NULL,
        sessions INTEGER NOT NULL,
        ips INTEGER NOT NULL,
        escalated INTEGER NOT NULL,
        ja4s TEXT NOT NULL,
        asns TEXT NOT NULL,
        countries TEXT NOT NULL,
        hosts TEXT NOT NULL,
        features TEXT NOT NULL,
        levels TEXT NOT NULL
    );
    CREATE INDEX campaigns_by_update ON campaigns (updated_at_ms);
    CREATE TABLE campaign_members (
        campaign_id INTEGER NOT NULL,
        src_ip TEXT NOT NULL,
        last_seen_ms INTEGER NOT NULL,
        PRIMARY KEY (campaign_id, src_ip)
    ) WITHOUT ROWID;
    CREATE INDEX campaign_members_by_time ON campaign_members (last_seen_ms);
    CREATE INDEX all_scores_by_campaign ON all_scores (campaign_id) WHERE campaign_id >= 0;
    "#,
    // 6: analyst feedback (SPEC §6): a label for one session or for every session of an
    // address, with who gave it, when and why. Labels override the models' in training.
    r#"
    CREATE TABLE feedback (
        id INTEGER PRIMARY KEY,
        created_at_ms INTEGER NOT NULL,
        analyst TEXT NOT NULL,
        label TEXT NOT NULL CHECK (label IN ('bot', 'human')),
        note TEXT NOT NULL,
        src_ip TEXT NOT NULL,
        window_start_ms INTEGER,
        ja4 TEXT,
        host TEXT,
        CHECK ((window_start_ms IS NULL) = (ja4 IS NULL) AND (ja4 IS NULL) = (host IS NULL))
    );
    CREATE INDEX feedback_by_ip ON feedback (src_ip, id);
    "#,
    // 7: each scorer's part of a score (SPEC §5 steps 5–7): the normalised forest score,
    // the normalised flow score and the boosted trees' probability (NULL when that scorer
    // did not score the session).
    r#"
    ALTER TABLE all_scores ADD COLUMN forest_score REAL NOT NULL DEFAULT 0;
    ALTER TABLE all_scores ADD COLUMN flow_score REAL;
    ALTER TABLE all_scores ADD COLUMN trees_prob REAL;
    "#,
    // 8: the Threats page's order as an index, so that a page (and the next one, after
    // its last row) reads only its own rows instead of sorting the cycle's; it holds the
    // filtered columns too, so that a filter is checked without reading the table.
    r#"
    CREATE INDEX all_scores_by_rank
        ON all_scores (cycle_id, anomaly_score DESC, src_ip, window_start_ms, ja4, host,
                       threat_level, is_anomaly, campaign_id, fleet_id);
    "#,
    // 9: all_scores becomes a rowid table with a unique index on its key. Its rows (about
    // 1.2 KB with their reason and top features) are longer than a WITHOUT ROWID table
    // keeps in its B-tree cell, so most of each spilled to an overflow page of its own:
    // 1.9 KB per row on disk. Now a row is stored whole, and a cycle writes a third less.
    r#"
    CREATE TABLE all_scores_v9 (
        cycle_id INTEGER NOT NULL REFERENCES cycles(id),
        window_start_ms INTEGER NOT NULL,
        src_ip TEXT NOT NULL,
        ja4 TEXT NOT NULL,
        host TEXT NOT NULL,
        model TEXT NOT NULL,
        threat_level TEXT NOT NULL,
        raw_score REAL NOT NULL,
        anomaly_score REAL NOT NULL,
        is_anomaly INTEGER NOT NULL,
        recurrence INTEGER NOT NULL,
        browser_confidence REAL NOT NULL,
        browser_family TEXT NOT NULL,
        campaign_id INTEGER NOT NULL DEFAULT -1,
        reason TEXT NOT NULL,
        top_features TEXT NOT NULL,
        fleet_id INTEGER NOT NULL DEFAULT -1,
        fleet_score REAL NOT NULL DEFAULT 0,
        fleet_flag INTEGER NOT NULL DEFAULT 0,
        forest_score REAL NOT NULL DEFAULT 0,
        flow_score REAL,
        trees_prob REAL
    );
    INSERT INTO all_scores_v9 (cycle_id, window_start_ms, src_ip, ja4, host, model,
            threat_level, raw_score, anomaly_score, is_anomaly, recurrence, browser_confidence,
            browser_family, campaign_id, reason, top_features, fleet_id, fleet_score,
            fleet_flag, forest_score, flow_score, trees_prob)
        SELECT cycle_id, window_start_ms, src_ip, ja4, host, model,
            threat_level, raw_score, anomaly_score, is_anomaly, recurrence, browser_confidence,
            browser_family, campaign_id, reason, top_features, fleet_id, fleet_score,
            fleet_flag, forest_score, flow_score, trees_prob
        FROM all_scores ORDER BY cycle_id, window_start_ms, src_ip, ja4, host;
    DROP VIEW detected_anomalies;
    DROP TABLE all_scores;
    ALTER TABLE all_scores_v9 RENAME TO all_scores;
    CREATE UNIQUE INDEX all_scores_by_key
        ON all_scores (cycle_id, window_start_ms, src_ip, ja4, host);
    CREATE INDEX all_scores_by_ip ON all_scores (src_ip, cycle_id);
    CREATE INDEX all_scores_by_campaign ON all_scores (campaign_id) WHERE campaign_id >= 0;
    CREATE INDEX all_scores_by_rank
        ON all_scores (cycle_id, anomaly_score DESC, src_ip, window_start_ms, ja4, host,
                       threat_level, is_anomaly, campaign_id, fleet_id);
    CREATE VIEW detected_anomalies AS
        SELECT * FROM all_scores WHERE is_anomaly = 1;
    "#,
    // 10: session_states likewise (a state is 0.5-2 KB, most of it spilled to an overflow
    // page: 85 MB on disk for 52 MB of states after a 1M-line ingest).
    r#"
    CREATE TABLE session_states_v10 (
        window_start_ms INTEGER NOT NULL,
        src_ip TEXT NOT NULL,
        ja4 TEXT NOT NULL,
        host TEXT NOT NULL,
        state BLOB NOT NULL
    );
    INSERT INTO session_states_v10 (window_start_ms, src_ip, ja4, host, state)
        SELECT window_start_ms, src_ip, ja4, host, state FROM session_states
        ORDER BY window_start_ms, src_ip, ja4, host;
    DROP TABLE session_states;
    ALTER TABLE session_states_v10 RENAME TO session_states;
    CREATE UNIQUE INDEX session_states_by_key
        ON session_states (window_start_ms, src_ip, ja4, host);
    "#,
    // 11: where `shrike run` stopped reading each file it follows (one row per file: the
    // current one at a name and any rotated one still being read), written in the
    // transaction that stores the sessions of the bytes read.
    r#"
    CREATE TABLE follow_positions (
        name TEXT NOT NULL,
        dev INTEGER NOT NULL,
        ino INTEGER NOT NULL,
        offset INTEGER NOT NULL,
        lines INTEGER NOT NULL,
        head BLOB NOT NULL,
        updated_at_ms INTEGER NOT NULL,
        PRIMARY KEY (name, dev, ino)
    ) WITHOUT ROWID;
    "#,
    // 12: what the `session_features` view (one column per feature, created with this
    // migration from the feature catalogue: `feature_view.rs`) needs: 2^(e-150) for every
    // normal f32 exponent, each the one before doubled (exact).
    r#"
    CREATE TABLE f32_scale (e INTEGER PRIMARY KEY, scale REAL NOT NULL);
    WITH RECURSIVE p(e, scale) AS (
        SELECT 1, 1.401298464324817e-45
        UNION ALL SELECT e + 1, scale * 2 FROM p WHERE e < 254
    )
    INSERT INTO f32_scale (e, scale) SELECT e, scale FROM p;
    "#,
];

/// The migration after which the `session_features` view is (re)created from the feature
/// catalogue of this build (a later change of the catalogue adds a migration that does it
/// again).
pub(crate) const FEATURE_VIEW_AFTER: &[usize] = &[12];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use rusqlite::Connection;

    /// A store at version 8 with scores of two cycles keeps every score, in the same
    /// columns, once all_scores is rebuilt as a rowid table; its key stays unique.
    #[test]
    fn all_scores_keeps_its_rows_and_key_through_migration_9() {
        let conn = Connection::open_in_memory().unwrap();
        for m in &MIGRATIONS[..8] {
            conn.execute_batch(m).unwrap();
        }
        conn.execute_batch(
            "INSERT INTO cycles (id, started_at_ms, horizon_start_ms, horizon_end_ms, sessions,
                 scored, anomalies, anomaly_rate, metrics) VALUES
                 (1, 0, 0, 0, 2, 2, 1, 0.5, '{}'), (2, 1, 0, 0, 2, 2, 1, 0.5, '{}');
             INSERT INTO all_scores (cycle_id, window_start_ms, src_ip, ja4, host, model,
                 threat_level, raw_score, anomaly_score, is_anomaly, recurrence,
                 browser_confidence, browser_family, campaign_id, reason, top_features,
                 fleet_id, fleet_score, fleet_flag, forest_score, flow_score, trees_prob)
             VALUES
                 (1, 0, '192.0.2.1', 'j', 'h', 'm', 'HIGH', 0.9, 0.8, 1, 2, 0.1, 'chrome', 7,
                  'because', '[]', 3, 0.4, 1, 0.7, 0.6, NULL),
                 (2, 0, '192.0.2.1', 'j', 'h', 'm', 'LOW', 0.1, 0.2, 0, 0, 0.9, '', -1,
                  '', '[]', -1, 0.0, 0, 0.1, NULL, 0.3);",
        )
        .unwrap();
        let dump = |conn: &Connection| -> Vec<String> {
            let mut q = conn
                .prepare(
                    "SELECT cycle_id, window_start_ms, src_ip, ja4, host, model, threat_level,
                        raw_score, anomaly_score, is_anomaly, recurrence, browser_confidence,
                        browser_family, campaign_id, reason, top_features, fleet_id,
                        fleet_score, fleet_flag, forest_score, flow_score, trees_prob
                     FROM all_scores ORDER BY cycle_id",
                )
                .unwrap();
            q.query_map([], |r| {
                Ok((0..22)
                    .map(|i| format!("{:?}", r.get_ref(i).unwrap()))
                    .collect::<Vec<_>>()
                    .join("|"))
            })
            .unwrap()
            .map(Result::unwrap)
            .collect()
        };
        let before = dump(&conn);
        conn.execute_batch(MIGRATIONS[8]).unwrap();
        assert_eq!(dump(&conn), before);
        let anomalies: i64 = conn
            .query_row("SELECT COUNT(*) FROM detected_anomalies", [], |r| r.get(0))
            .unwrap();
        assert_eq!(anomalies, 1);
        let again = conn.execute(
            "INSERT INTO all_scores (cycle_id, window_start_ms, src_ip, ja4, host, model,
                 threat_level, raw_score, anomaly_score, is_anomaly, recurrence,
                 browser_confidence, browser_family, reason, top_features)
             VALUES (1, 0, '192.0.2.1', 'j', 'h', 'm', 'LOW', 0, 0, 0, 0, 0, '', '', '[]')",
            [],
        );
        assert!(
            again.is_err(),
            "a second score for the same cycle and session"
        );
    }
}
