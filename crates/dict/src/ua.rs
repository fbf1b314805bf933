//! User-agent bot patterns: regexes naming a bot and its category, matched all at once with
//! one compiled [`RegexSet`].
//!
//! A user agent is attacker-controlled: a match says what a client *claims* to be, never
//! that it is that bot. Triage counts a claimed crawler as known only once its address is
//! in that crawler's published ranges or its name is confirmed by forward-confirmed reverse
//! DNS (`shrike-dict`'s [`crate::fcrdns`]).
//!
//! Imported from crawler-user-agents' JSON (`pattern`, `tags`) and Matomo device-detector's
//! `regexes/bots.yml` (`regex`, `name`, `category`; matched case-insensitively after a
//! word boundary, as device-detector does). The few patterns that need look-around, which
//! the `RegexSet` engine does not have (device-detector's generic `bot|crawler|...`
//! catch-all is one), run on `fancy-regex`, with a backtracking limit: a user agent is
//! attacker-controlled, and one that would make a pattern backtrack without end simply
//! does not match it. Patterns neither engine compiles are reported and left out.

use regex::{RegexSet, RegexSetBuilder};
use serde_json::{json, Value};

use crate::import::ImportError;

/// One pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UaPattern {
    /// The regex, as matched (device-detector's boundary prefix and flag included).
    pub pattern: String,
    /// The bot's name.
    pub name: String,
    /// Its category (`search-engine`, `Crawler`, `seo`...; may be empty).
    pub category: String,
}

/// Compiled patterns.
#[derive(Debug, Clone)]
pub struct UaBots {
    patterns: Vec<UaPattern>,
    /// The patterns the fast engine runs, and their index in `patterns`.
    set: RegexSet,
    in_set: Vec<usize>,
    /// The look-around patterns (few), their index in `patterns`, and a broader pattern
    /// without the look-arounds that the fast engine runs first.
    fancy: Vec<(usize, fancy_regex::Regex, Option<regex::Regex>)>,
}

impl Default for UaBots {
    fn default() -> Self {
        UaBots {
            patterns: Vec::new(),
            set: RegexSet::empty(),
            in_set: Vec::new(),
            fancy: Vec::new(),
        }
    }
}

/// Backtracking steps a look-around pattern may take on one user agent.
const BACKTRACK_LIMIT: usize = 100_000;

fn fancy(pattern: &str) -> Result<fancy_regex::Regex, String> {
    fancy_regex::RegexBuilder::new(pattern)
        .backtrack_limit(BACKTRACK_LIMIT)
        .build()
        .map_err(|e| e.to_string())
}

/// `pattern` without its look-around groups: it matches whatever `pattern` matches (and
/// more), so a user agent it does not match needs no backtracking run.
fn without_lookaround(pattern: &str) -> String {
    let b = pattern.as_bytes();
    let mut out = String::with_capacity(pattern.len());
    let mut i = 0;
    let mut class = false;
    while i < b.len() {
        let c = b[i];
        if c == b'\\' {
            out.push_str(&pattern[i..(i + 2).min(b.len())]);
            i += 2;
            continue;
        }
        if class {
            class = c != b']';
        } else if c == b'[' {
            class = true;
        } else if c == b'('
            && ["(?=", "(?!", "(?<=", "(?<!"]
                .iter()
                .any(|p| pattern[i..].starts_with(p))
        {
            // Skip to the matching parenthesis.
            let mut depth = 0;
            let mut in_class = false;
            while i < b.len() {
                match b[i] {
                    b'\\' => i += 1,
                    b'[' if !in_class => in_class = true,
                    b']' if in_class => in_class = false,
                    b'(' if !in_class => depth += 1,
                    b')' if !in_class => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                i += 1;
            }
            i += 1;
            continue;
        }
        let ch = pattern[i..].chars().next().unwrap_or(' ');
        out.push(ch);
        i += ch.len_utf8();
    }
    out
}

/// A pattern left out of an import, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedPattern {
    /// The pattern.
    pub pattern: String,
    /// Why.
    pub why: String,
}

fn compile(patterns: &[String]) -> Result<RegexSet, regex::Error> {
    RegexSetBuilder::new(patterns)
        .size_limit(256 << 20)
        .dfa_size_limit(64 << 20)
        .build()
}

impl UaBots {
    /// Compiles patterns; an error names the first pattern neither engine compiles.
    pub fn new(patterns: Vec<UaPattern>) -> Result<Self, String> {
        let mut texts = Vec::with_capacity(patterns.len());
        let mut in_set = Vec::with_capacity(patterns.len());
        let mut fallback = Vec::new();
        for (i, p) in patterns.iter().enumerate() {
            if regex::Regex::new(&p.pattern).is_ok() {
                texts.push(p.pattern.clone());
                in_set.push(i);
            } else {
                let re = fancy(&p.pattern).map_err(|e| {
                    format!("cannot compile the user-agent pattern `{}`: {e}", p.pattern)
                })?;
                let broad = regex::Regex::new(&without_lookaround(&p.pattern)).ok();
                fallback.push((i, re, broad));
            }
        }
        let set = compile(&texts)
            .map_err(|e| format!("cannot compile the user-agent patterns together: {e}"))?;
        Ok(UaBots {
            patterns,
            set,
            in_set,
            fancy: fallback,
        })
    }

    /// The first pattern (in file order) the user agent matches.
    pub fn classify(&self, ua: &str) -> Option<&UaPattern> {
        if ua.is_empty() || self.patterns.is_empty() {
            return None;
        }
        let fast = self.set.matches(ua).iter().next().map(|i| self.in_set[i]);
        // A look-around pattern earlier in the list wins; one that hits its backtracking
        // limit does not match.
        let slow = self
            .fancy
            .iter()
            .take_while(|(i, _, _)| fast.is_none_or(|f| *i < f))
            .filter(|(_, _, broad)| broad.as_ref().is_none_or(|b| b.is_match(ua)))
            .find(|(_, re, _)| re.is_match(ua).unwrap_or(false))
            .map(|(i, _, _)| *i);
        slow.or(fast).map(|i| &self.patterns[i])
    }

    /// Number of patterns.
    pub fn len(&self) -> usize {
        self.patterns.len()
    }

    /// Whether there is no pattern.
    pub fn is_empty(&self) -> bool {
        self.patterns.is_empty()
    }

    /// The patterns, in order.
    pub fn patterns(&self) -> &[UaPattern] {
        &self.patterns
    }

    /// As shrike's `ua_bots.json`.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.patterns
                .iter()
                .map(|p| json!({"pattern": p.pattern, "name": p.name, "category": p.category}))
                .collect(),
        )
    }

    /// Loads `ua_bots.json`.
    pub fn from_json(v: &Value) -> Result<Self, String> {
        let items = v.as_array().ok_or("expected a list of patterns")?;
        let mut out = Vec::with_capacity(items.len());
        for (i, it) in items.iter().enumerate() {
            let s = |k: &str| it.get(k).and_then(Value::as_str).map(str::to_string);
            out.push(UaPattern {
                pattern: s("pattern").ok_or(format!("entry {}: no `pattern`", i + 1))?,
                name: s("name").unwrap_or_default(),
                category: s("category").unwrap_or_default(),
            });
        }
        Self::new(out)
    }
}

/// A readable name from a crawler-user-agents pattern (`Googlebot\/` → `Googlebot`).
fn name_of(pattern: &str) -> String {
    let plain: String = pattern
        .trim_start_matches('^')
        .replace('\\', "")
        .chars()
        .take_while(|c| c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.'))
        .collect();
    let plain = plain.trim().trim_end_matches(['.', '-']).to_string();
    if plain.is_empty() {
        pattern.to_string()
    } else {
        plain
    }
}

/// Keeps the patterns one of the two engines compiles, reporting the others.
fn keep_compilable(all: Vec<UaPattern>) -> (Vec<UaPattern>, Vec<SkippedPattern>) {
    let mut kept = Vec::with_capacity(all.len());
    let mut skipped = Vec::new();
    for p in all {
        if regex::Regex::new(&p.pattern).is_ok() {
            kept.push(p);
            continue;
        }
        match fancy(&p.pattern) {
            Ok(_) => kept.push(p),
            Err(why) => skipped.push(SkippedPattern {
                why,
                pattern: p.pattern,
            }),
        }
    }
    (kept, skipped)
}

/// crawler-user-agents' JSON list.
pub fn parse_crawler_user_agents(
    text: &str,
) -> Result<(Vec<UaPattern>, Vec<SkippedPattern>), ImportError> {
    let v: Value = serde_json::from_str(text).map_err(|e| ImportError {
        line: e.line(),
        why: e.to_string(),
    })?;
    let items = v.as_array().ok_or(ImportError {
        line: 0,
        why: "expected a JSON list of {pattern, tags...} objects".into(),
    })?;
    let mut all = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let pattern = it
            .get("pattern")
            .and_then(Value::as_str)
            .ok_or(ImportError {
                line: 0,
                why: format!("entry {} has no `pattern`", i + 1),
            })?;
        let category = it
            .get("tags")
            .and_then(Value::as_array)
            .and_then(|t| t.first())
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        all.push(UaPattern {
            pattern: pattern.to_string(),
            name: name_of(pattern),
            category,
        });
    }
    Ok(keep_compilable(all))
}

/// Matomo device-detector's `regexes/bots.yml`.
pub fn parse_device_detector(
    text: &str,
) -> Result<(Vec<UaPattern>, Vec<SkippedPattern>), ImportError> {
    let v = crate::yaml::to_json(text).map_err(|why| ImportError { line: 0, why })?;
    let items = v.as_array().ok_or(ImportError {
        line: 0,
        why: "expected a YAML list of {regex, name, category} entries".into(),
    })?;
    let mut all = Vec::new();
    for (i, it) in items.iter().enumerate() {
        let s = |k: &str| it.get(k).and_then(Value::as_str).map(str::to_string);
        let regex = s("regex").ok_or(ImportError {
            line: 0,
            why: format!("entry {} has no `regex`", i + 1),
        })?;
        all.push(UaPattern {
            // device-detector's own wrapping: a boundary before the bot's token, any case.
            pattern: format!("(?i)(?:^|[^A-Z0-9_-]|[^A-Z0-9-]_|sprd-|MZ-)(?:{regex})"),
            name: s("name").unwrap_or_default(),
            category: s("category").unwrap_or_default(),
        });
    }
    Ok(keep_compilable(all))
}

/// Tells the two formats apart: JSON or YAML.
pub fn parse_ua_patterns(text: &str) -> Result<(Vec<UaPattern>, Vec<SkippedPattern>), ImportError> {
    if text.trim_start().starts_with('[') {
        parse_crawler_user_agents(text)
    } else {
        parse_device_detector(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_arounds_run_on_the_fallback_engine_after_a_broad_prefilter() {
        // Escapes and character classes are not look-arounds.
        assert_eq!(
            without_lookaround(r"(?<!cu|Hu)bot(?![ _]TAB|[)(])x[(?!]\(y(?=z)"),
            r"botx[(?!]\(y"
        );
        let bots = UaBots::new(vec![
            UaPattern {
                pattern: r"(?i)(?<!cu)bot(?!tle)".into(),
                name: "generic".into(),
                category: String::new(),
            },
            UaPattern {
                pattern: "Googlebot/".into(),
                name: "Googlebot".into(),
                category: String::new(),
            },
        ])
        .unwrap();
        assert_eq!(bots.classify("MyBot/1.0").unwrap().name, "generic");
        assert!(bots.classify("Cubot phone").is_none());
        assert!(bots.classify("a bottle").is_none());
        // The earlier pattern wins, whichever engine runs it.
        assert_eq!(bots.classify("Googlebot/2.1").unwrap().name, "generic");
        assert!(bots.classify("Mozilla/5.0 Firefox/125.0").is_none());
    }
}
