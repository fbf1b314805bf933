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
];
