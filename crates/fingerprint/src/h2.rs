//! Akamai HTTP/2 fingerprint: `SETTINGS|WINDOW_UPDATE|PRIORITY|PSEUDO_HEADER_ORDER`.
//!
//! SETTINGS as `id:value` pairs in the order sent, joined by `;`; the connection-level
//! WINDOW_UPDATE increment (`0` when none); PRIORITY frames as `stream:exclusive:dep:weight`
//! joined by `,` (`0` when none); pseudo-headers as initials (`m,a,s,p`).

/// The first frames of an HTTP/2 connection, as far as the fingerprint is concerned.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct H2Settings {
    /// SETTINGS `(identifier, value)` in wire order.
    pub settings: Vec<(u16, u32)>,
    /// Connection WINDOW_UPDATE increment.
    pub window_update: u32,
    /// PRIORITY frames already formatted as `stream:exclusive:dependency:weight`.
    pub priorities: Vec<String>,
    /// Pseudo-header names in order (`:method`, `:authority`, ...).
    pub pseudo_headers: Vec<String>,
}

/// Initials of pseudo-headers: `[":method", ":authority", ":scheme", ":path"]` → `m,a,s,p`.
pub fn pseudo_order(names: &[String]) -> String {
    names
        .iter()
        .filter_map(|n| n.trim_start_matches(':').chars().next())
        .map(String::from)
        .collect::<Vec<_>>()
        .join(",")
}

/// Formats the Akamai fingerprint.
pub fn akamai_fingerprint(h: &H2Settings) -> String {
    let settings = h
        .settings
        .iter()
        .map(|(k, v)| format!("{k}:{v}"))
        .collect::<Vec<_>>()
        .join(";");
    let prio = if h.priorities.is_empty() {
        "0".to_string()
    } else {
        h.priorities.join(",")
    };
    format!(
        "{settings}|{}|{prio}|{}",
        h.window_update,
        pseudo_order(&h.pseudo_headers)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrome_fingerprint() {
        let h = H2Settings {
            settings: vec![(1, 65536), (2, 0), (4, 6_291_456), (6, 262_144)],
            window_update: 15_663_105,
            priorities: vec![],
            pseudo_headers: [":method", ":authority", ":scheme", ":path"]
                .map(String::from)
                .to_vec(),
        };
        assert_eq!(
            akamai_fingerprint(&h),
            "1:65536;2:0;4:6291456;6:262144|15663105|0|m,a,s,p"
        );
    }
}
