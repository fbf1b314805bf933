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

/// The family of operating system whose TCP stack sends a SYN of this shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SynOs {
    /// Windows NT kernels (initial TTL 128; MSS, NOP, window scale, NOP, NOP, SACK).
    Windows,
    /// Linux, Android and ChromeOS (initial TTL 64; MSS, SACK, timestamps, NOP, window
    /// scale, or the same without timestamps).
    Linux,
    /// macOS, iOS and iPadOS (initial TTL 64; MSS, NOP, window scale, NOP, NOP,
    /// timestamps, SACK, then EOL padding).
    Apple,
}

impl SynOs {
    /// Its name in explanations.
    pub const fn as_str(self) -> &'static str {
        match self {
            SynOs::Windows => "Windows",
            SynOs::Linux => "Linux",
            SynOs::Apple => "Apple",
        }
    }
}

/// The OS family a SYN fingerprint (JA4T layout) and its observed TTL point to, by the
/// option layouts and initial TTLs of the generic (`g:`) TCP SYN signatures of p0f 3's
/// database (`p0f.fp`, `[tcp:request]`): the layout is what a stack writes, the TTL what it
/// starts from (an observed TTL is the initial one less the hops, so 65–128 means 128).
/// `None` for any other layout, or a TTL that contradicts the layout's stack (a Windows
/// layout at TTL 64 is Solaris's, say): no guess.
pub fn syn_os(fingerprint: &str, ttl: Option<f64>) -> Option<SynOs> {
    let options = fingerprint.split('_').nth(1)?;
    let os = match options {
        "2-1-3-1-1-4" | "2-1-1-4" => SynOs::Windows,
        "2-4-8-1-3" | "2-1-1-4-1-3" => SynOs::Linux,
        o if o.starts_with("2-1-3-1-1-8-4") => SynOs::Apple,
        _ => return None,
    };
    let initial_128 = match ttl {
        Some(t) if t > 0.0 => t > 64.0 && t <= 128.0,
        // Unknown: the layout alone.
        _ => return Some(os),
    };
    (initial_128 == (os == SynOs::Windows)).then_some(os)
}

#[cfg(test)]
mod tests {
    use super::{syn_os, SynOs};

    #[test]
    fn syn_layouts_name_their_stacks_and_a_contradicting_ttl_names_none() {
        assert_eq!(
            syn_os("64240_2-1-3-1-1-4_1460_8", Some(117.0)),
            Some(SynOs::Windows)
        );
        assert_eq!(
            syn_os("64240_2-4-8-1-3_1460_7", Some(52.0)),
            Some(SynOs::Linux)
        );
        assert_eq!(
            syn_os("65535_2-1-3-1-1-8-4-0-0_1460_6", Some(57.0)),
            Some(SynOs::Apple)
        );
        assert_eq!(
            syn_os("65535_2-1-3-1-1-8-4-0-0_1460_6", None),
            Some(SynOs::Apple)
        );
        // Windows' layout at a TTL of 64 or less: not a Windows stack.
        assert_eq!(syn_os("64240_2-1-3-1-1-4_1460_8", Some(60.0)), None);
        assert_eq!(syn_os("64240_2-4-8-1-3_1460_7", Some(120.0)), None);
        assert_eq!(syn_os("1024_2_1460_00", Some(50.0)), None);
        assert_eq!(syn_os("", None), None);
    }

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
