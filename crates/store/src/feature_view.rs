//! `session_features`: the sessions with one column per feature, readable by any SQLite
//! (sqlite3, Python's sqlite3, DuckDB's SQLite scanner) with no extension.
//!
//! The features are stored as a packed little-endian f32 blob (`sessions.features`), which
//! plain SQL cannot read. The view decodes it with nothing but core SQL:
//! - each byte is its position in a 256-byte blob of every byte value (`instr`);
//! - sign, exponent and mantissa come out with integer shifts and masks;
//! - the power of two comes from `f32_scale` (2^(e-150) for every exponent 1..=254, filled
//!   by doubling, which is exact).
//!
//! The value is exactly the stored f32, as a REAL. A feature index past the row's
//! `feature_count`, an infinity or a NaN reads as NULL.
//!
//! A WHERE on the key columns reaches `sessions`' index, so a filtered read decodes only the
//! rows it keeps. Decoding is slow: about 3.7 µs per feature and row (`SELECT *` of 880
//! sessions took 0.24 s with Python's sqlite3 3.40), so whole-store
//! reads belong to `shrike sessions export`.

use shrike_features::FeatureId;

/// Every byte value once, in order: `instr` on it gives a byte's value plus one.
fn all_bytes() -> String {
    let hex: String = (0..=255u8).map(|b| format!("{b:02X}")).collect();
    format!("X'{hex}'")
}

/// The expression of feature `i`'s value.
fn decode(i: usize) -> String {
    let byte = |k: usize| format!("(instr(b.t, substr(s.features, {}, 1)) - 1)", 4 * i + k + 1);
    let (b0, b1, b2, b3) = (byte(0), byte(1), byte(2), byte(3));
    let e = format!("((({b3} & 127) << 1) | ({b2} >> 7))");
    let m = format!("((({b2} & 127) << 16) | ({b1} << 8) | {b0})");
    format!(
        "CASE WHEN s.feature_count <= {i} OR {e} = 255 THEN NULL \
         ELSE (1 - 2 * ({b3} >> 7)) * (CASE WHEN {e} = 0 THEN {m} ELSE 8388608 + {m} END) \
         * (SELECT scale FROM f32_scale WHERE f32_scale.e = max({e}, 1)) END"
    )
}

/// `CREATE VIEW session_features` for the current feature catalogue.
pub(crate) fn create_sql() -> String {
    let columns: Vec<String> = FeatureId::ALL
        .iter()
        .map(|f| format!("    {} AS \"{}\"", decode(f.index()), f.name()))
        .collect();
    format!(
        "DROP VIEW IF EXISTS session_features;\n\
         CREATE VIEW session_features AS\n\
         WITH b(t) AS (SELECT {})\n\
         SELECT s.window_start_ms, s.src_ip, s.ja4, s.host, s.first_seen_ms, s.last_seen_ms,\n\
             s.asn, s.asn_org, s.country, s.asn_label, s.bot_name, s.browser_family,\n\
             s.correlated, s.user_agent,\n{}\n\
         FROM sessions s, b;\n",
        all_bytes(),
        columns.join(",\n")
    )
}
