//! TCP SYN fingerprint in JA4T layout: `window_options_mss_wscale`, e.g.
//! `64240_2-1-3-1-1-4_1460_8`. Options are TCP option kinds in wire order joined by `-`
//! (`00` when none); a missing MSS or window scale is written `00`.

/// Formats a SYN fingerprint from its parts.
pub fn tcp_fingerprint(window: u32, options: &str, mss: Option<u16>, wscale: Option<u8>) -> String {
    let opts = if options.is_empty() { "00" } else { options };
    let mss = mss.map_or_else(|| "00".to_string(), |m| m.to_string());
    let ws = wscale.map_or_else(|| "00".to_string(), |w| w.to_string());
    format!("{window}_{opts}_{mss}_{ws}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn windows_10_syn() {
        assert_eq!(
            super::tcp_fingerprint(64240, "2-1-3-1-1-4", Some(1460), Some(8)),
            "64240_2-1-3-1-1-4_1460_8"
        );
        assert_eq!(
            super::tcp_fingerprint(5744, "2", Some(1436), None),
            "5744_2_1436_00"
        );
    }
}
