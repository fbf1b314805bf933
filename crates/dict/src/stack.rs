//! Browser identity by structure. A browser release that changes its ClientHello changes its
//! JA4, yet rarely all of it: Chrome kept one cipher list from version 70 to 150 while its
//! extensions changed (ALPS, ECH, the ALPS codepoint move in 135), and Firefox 91 ESR added
//! one cipher to the extensions every later Firefox sends. So a JA4 the dictionary has never
//! seen is still a family's when
//!
//! - its cipher set (JA4 `b`) is one only that family's engine sends ([`Basis::CipherSet`]);
//! - or its extension and signature-algorithm set (JA4 `c`) is ([`Basis::ExtensionSet`]);
//! - or, weaker, its shape (transport, TLS version, ALPN, cipher and extension counts) is
//!   nearest that engine's known shapes ([`Basis::Shape`]); the caller accepts a shape only
//!   when the HTTP/2 layer agrees (the family's SETTINGS or pseudo-header order).
//!
//! What is learned is the dictionary's own `browser_ja4` table: the importers fill it from
//! FoxIO's mapping, ja4db and real browser captures (rama, curl-impersonate). A hash that two
//! engines share (Tor Browser sends a Chromium-like cipher list under a Firefox user agent)
//! identifies nothing.

use std::collections::HashMap;

/// How a JA4 was matched to a family, strongest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Basis {
    /// The JA4 itself is in the dictionary.
    Exact,
    /// Its cipher set is one only this family's engine sends.
    CipherSet,
    /// Its extension and signature-algorithm set is one only this family's engine sends.
    ExtensionSet,
    /// Its shape is nearest this engine's (needs the HTTP/2 layer's agreement).
    Shape,
}

impl Basis {
    /// How much the match says, in [0, 1]: the browser-identity axis of a session.
    pub const fn strength(self) -> f64 {
        match self {
            Basis::Exact => 1.0,
            Basis::CipherSet | Basis::ExtensionSet => 0.85,
            Basis::Shape => 0.6,
        }
    }

    /// Its name in explanations.
    pub const fn as_str(self) -> &'static str {
        match self {
            Basis::Exact => "exact JA4",
            Basis::CipherSet => "cipher set",
            Basis::ExtensionSet => "extension set",
            Basis::Shape => "ClientHello shape",
        }
    }
}

/// What a session's HTTP/2 layer says of the family its JA4 was matched to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum H2Word {
    /// Its SETTINGS are the family's engine's, or its pseudo-header order one the family
    /// sends.
    Agrees,
    /// It spoke HTTP/2 and neither agrees.
    Contradicts,
    /// No HTTP/2 (HTTP/1.1, or a producer that does not log it).
    Silent,
}

impl H2Word {
    /// From whether the layers agree and whether HTTP/2 was seen at all.
    pub fn from_layers(agrees: bool, silent: bool) -> H2Word {
        match (agrees, silent) {
            (true, _) => H2Word::Agrees,
            (false, true) => H2Word::Silent,
            (false, false) => H2Word::Contradicts,
        }
    }

    /// Whether a match on `basis` stands: an exact match always; a cipher or extension
    /// set unless HTTP/2 contradicts it (Tor Browser sends a Chromium cipher list with
    /// Firefox's HTTP/2); a shape only when HTTP/2 agrees.
    pub fn accepts(self, basis: Basis) -> bool {
        match basis {
            Basis::Exact => true,
            Basis::CipherSet | Basis::ExtensionSet => self != H2Word::Contradicts,
            Basis::Shape => self == H2Word::Agrees,
        }
    }
}

/// A family a JA4 was matched to, and how.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FamilyMatch<'a> {
    /// Browser family (`Chrome`, `Edge`, `Firefox`, `Safari`...).
    pub family: &'a str,
    /// How.
    pub basis: Basis,
}

/// The browser engine whose TLS stack a family uses: Chromium-based browsers share one
/// ClientHello, and so do the browsers built on Gecko and on WebKit. `None` for anything
/// else.
pub fn engine(family: &str) -> Option<&'static str> {
    let f = family.to_ascii_lowercase();
    if [
        "chrom", "edge", "opera", "brave", "vivaldi", "samsung", "yandex",
    ]
    .iter()
    .any(|k| f.contains(k))
    {
        Some("Chromium")
    } else if f.contains("firefox") || f.contains("gecko") {
        Some("Gecko")
    } else if f.contains("safari") || f.contains("webkit") {
        Some("WebKit")
    } else {
        None
    }
}

/// The parts of a hashed JA4 (`t13d1516h2_8daaf6152771_02713d6af862`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Parts<'a> {
    shape: Shape,
    ciphers: &'a str,
    extensions: &'a str,
}

/// The JA4 `a` part without its SNI flag: transport, version, ALPN, cipher count, and the
/// extension count without SNI (a browser connecting to an address sends none).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Shape {
    transport: u8,
    version: [u8; 2],
    alpn: [u8; 2],
    ciphers: u8,
    extensions: u8,
}

impl Shape {
    fn distance(&self, other: &Shape) -> Option<u32> {
        (self.transport == other.transport
            && self.version == other.version
            && self.alpn == other.alpn)
            .then(|| {
                self.ciphers.abs_diff(other.ciphers) as u32
                    + self.extensions.abs_diff(other.extensions) as u32
            })
    }
}

fn parts(ja4: &str) -> Option<Parts<'_>> {
    let mut it = ja4.split('_');
    let (a, b, c) = (it.next()?, it.next()?, it.next()?);
    let a = a.as_bytes();
    if a.len() != 10 || b.len() != 12 || c.len() != 12 || it.next().is_some() {
        return None;
    }
    let num = |s: &[u8]| std::str::from_utf8(s).ok()?.parse::<u8>().ok();
    let sni = u8::from(a[3] == b'd');
    Some(Parts {
        shape: Shape {
            transport: a[0],
            version: [a[1], a[2]],
            alpn: [a[8], a[9]],
            ciphers: num(&a[4..6])?,
            extensions: num(&a[6..8])?.saturating_sub(sni),
        },
        ciphers: b,
        extensions: c,
    })
}

/// Farthest shape (cipher plus extension count difference) that still names a family.
const MAX_SHAPE_DISTANCE: u32 = 8;

/// What the dictionary's browser JA4s say of the structure of each engine's ClientHello.
#[derive(Debug, Clone, Default)]
pub struct StackIndex {
    /// Cipher-set hash → family (`None` when engines disagree).
    ciphers: HashMap<String, Option<String>>,
    /// Extension-set hash → family (`None` when engines disagree).
    extensions: HashMap<String, Option<String>>,
    /// Every known shape with its family.
    shapes: Vec<(Shape, String)>,
}

impl StackIndex {
    /// Learns from `(ja4, family)` pairs. Within one engine a hash goes to the family most
    /// entries name (Chrome over Edge for their shared cipher list; the user agent tells
    /// them apart later).
    pub fn learn<'a>(entries: impl IntoIterator<Item = (&'a str, &'a str)>) -> StackIndex {
        let mut ciphers: HashMap<&str, HashMap<&str, u32>> = HashMap::new();
        let mut extensions: HashMap<&str, HashMap<&str, u32>> = HashMap::new();
        let mut shapes = Vec::new();
        for (ja4, family) in entries {
            let Some(p) = parts(ja4) else { continue };
            if engine(family).is_none() {
                continue;
            }
            *ciphers
                .entry(p.ciphers)
                .or_default()
                .entry(family)
                .or_default() += 1;
            *extensions
                .entry(p.extensions)
                .or_default()
                .entry(family)
                .or_default() += 1;
            if !shapes.iter().any(|(s, f)| *s == p.shape && f == family) {
                shapes.push((p.shape, family.to_string()));
            }
        }
        // Deterministic whatever the map's iteration order.
        shapes.sort_by(|a, b| {
            (a.1.as_str(), a.0.ciphers, a.0.extensions).cmp(&(
                b.1.as_str(),
                b.0.ciphers,
                b.0.extensions,
            ))
        });
        StackIndex {
            ciphers: resolve(ciphers),
            extensions: resolve(extensions),
            shapes,
        }
    }

    /// The family a JA4 that is not in the dictionary belongs to, by structure.
    pub fn family(&self, ja4: &str) -> Option<FamilyMatch<'_>> {
        let p = parts(ja4)?;
        if let Some(family) = lookup(&self.ciphers, p.ciphers) {
            return Some(FamilyMatch {
                family,
                basis: Basis::CipherSet,
            });
        }
        if let Some(family) = lookup(&self.extensions, p.extensions) {
            return Some(FamilyMatch {
                family,
                basis: Basis::ExtensionSet,
            });
        }
        let nearest = self
            .shapes
            .iter()
            .filter_map(|(s, f)| Some((s.distance(&p.shape)?, f)))
            .filter(|(d, _)| *d <= MAX_SHAPE_DISTANCE);
        let mut best: Option<(u32, &str)> = None;
        let mut tied_engines = false;
        for (d, f) in nearest {
            match best {
                Some((bd, _)) if d > bd => {}
                Some((bd, bf)) if d == bd => tied_engines |= engine(bf) != engine(f),
                _ => {
                    best = Some((d, f));
                    tied_engines = false;
                }
            }
        }
        match best {
            Some((_, family)) if !tied_engines => Some(FamilyMatch {
                family,
                basis: Basis::Shape,
            }),
            _ => None,
        }
    }
}

fn lookup<'a>(map: &'a HashMap<String, Option<String>>, key: &str) -> Option<&'a str> {
    map.get(key).and_then(|f| f.as_deref())
}

/// Each hash's family: the most named one when every family naming it has one engine, else
/// `None`. Ties go to the alphabetically first family, so that the result does not depend
/// on the order rows were read in.
fn resolve(m: HashMap<&str, HashMap<&str, u32>>) -> HashMap<String, Option<String>> {
    m.into_iter()
        .map(|(hash, families)| {
            let first = families.keys().next().and_then(|f| engine(f));
            let engines_agree = families.keys().all(|f| engine(f) == first);
            let family = engines_agree
                .then(|| {
                    families
                        .iter()
                        .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
                        .map(|(f, _)| f.to_string())
                })
                .flatten();
            (hash.to_string(), family)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_131: &str = "t13d1516h2_8daaf6152771_02713d6af862";
    const FIREFOX_117: &str = "t13d1715h2_5b57614c22b0_3d5424432f57";
    const SAFARI_18: &str = "t13d2014h2_a09f3c656075_e42f34c56612";

    fn index() -> StackIndex {
        StackIndex::learn([
            (CHROME_131, "Chrome"),
            ("t13d1516h2_8daaf6152771_e5627efa2ab1", "Edge"),
            ("t13d1516h2_8daaf6152771_d8a2da3f94cd", "Chrome"),
            (FIREFOX_117, "Firefox"),
            (SAFARI_18, "Safari"),
            ("t13d0506h2_000000000000_111111111111", "Go-http-client"),
        ])
    }

    #[test]
    fn a_new_release_is_its_family_by_cipher_or_extension_set() {
        let ix = index();
        // Chrome 150: same cipher list, new extensions.
        let m = ix.family("t13d1516h2_8daaf6152771_806a8c22fdea").unwrap();
        assert_eq!((m.family, m.basis), ("Chrome", Basis::CipherSet));
        // Firefox 91 ESR: one more cipher, Firefox's extensions.
        let m = ix.family("t13d1815h2_e8a523a41297_3d5424432f57").unwrap();
        assert_eq!((m.family, m.basis), ("Firefox", Basis::ExtensionSet));
    }

    #[test]
    fn an_unseen_stack_is_named_by_shape_only_when_one_engine_is_nearest() {
        let ix = index();
        // Safari 15.3: 26 ciphers, 13 extensions; nearest is Safari's 20/14.
        let m = ix.family("t13d2613h2_2802a3db6c62_845d286b0d67").unwrap();
        assert_eq!((m.family, m.basis), ("Safari", Basis::Shape));
        // Far from every browser: nothing.
        assert_eq!(ix.family("t12d0805h1_aaaaaaaaaaaa_bbbbbbbbbbbb"), None);
        // Other ALPN or transport: nothing.
        assert_eq!(ix.family("t13d1516h1_cccccccccccc_dddddddddddd"), None);
        // A library's entry teaches nothing.
        assert_eq!(ix.family("t13d0506h2_000000000000_222222222222"), None);
    }

    #[test]
    fn a_hash_two_engines_send_names_no_family() {
        let ix = StackIndex::learn([
            (CHROME_131, "Chrome"),
            ("t13d1513h2_8daaf6152771_748f4c70de1c", "Firefox"),
        ]);
        let m = ix.family("t13d1516h2_8daaf6152771_ffffffffffff");
        assert_ne!(m.map(|m| m.basis), Some(Basis::CipherSet));
    }

    #[test]
    fn chromium_browsers_share_a_hash_without_ambiguity() {
        let ix = index();
        let m = ix.family("t13d1516h2_8daaf6152771_000000000000").unwrap();
        assert_eq!(m.family, "Chrome", "two Chrome rows against one Edge row");
        assert_eq!(engine("Edge"), engine("Chrome"));
        assert_ne!(engine("Firefox"), engine("Safari"));
    }

    #[test]
    fn rows_loaded_after_a_lookup_are_learned() {
        use crate::{Dictionaries, DictionaryFile};
        let mut d = Dictionaries::default();
        d.load_text(DictionaryFile::BrowserJa4, &format!("{SAFARI_18},Safari\n"))
            .unwrap();
        let firefox_133 = "t13d1716h2_5b57614c22b0_eeeea6562960";
        assert_eq!(d.browser_family(firefox_133), "");
        d.load_text(
            DictionaryFile::BrowserJa4,
            &format!("{FIREFOX_117},Firefox\n"),
        )
        .unwrap();
        assert_eq!(d.browser_family(firefox_133), "Firefox");
    }
}
