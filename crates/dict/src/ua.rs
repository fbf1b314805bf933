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
//! word boundary, as device-detector does). Patterns the regex engine cannot compile
//! (look-around) are reported and left out.

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
    set: RegexSet,
}

impl Default for UaBots {
    fn default() -> Self {
        UaBots {
            patterns: Vec::new(),
            set: RegexSet::empty(),
        }
    }
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
    /// Compiles patterns; an error names the first pattern that does not compile.
    pub fn new(patterns: Vec<UaPattern>) -> Result<Self, String> {
        let texts: Vec<String> = patterns.iter().map(|p| p.pattern.clone()).collect();
        let set = compile(&texts).map_err(|e| {
            let bad = texts
                .iter()
                .find(|t| regex::Regex::new(t).is_err())
                .cloned()
                .unwrap_or_default();
            format!("cannot compile the user-agent patterns ({e}); first bad pattern: `{bad}`")
        })?;
        Ok(UaBots { patterns, set })
    }

    /// The first pattern (in file order) the user agent matches.
    pub fn classify(&self, ua: &str) -> Option<&UaPattern> {
        if ua.is_empty() || self.patterns.is_empty() {
            return None;
        }
        self.set
            .matches(ua)
            .iter()
            .next()
            .map(|i| &self.patterns[i])
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

/// Keeps the patterns that compile, reporting the others.
fn keep_compilable(all: Vec<UaPattern>) -> (Vec<UaPattern>, Vec<SkippedPattern>) {
    let mut kept = Vec::with_capacity(all.len());
    let mut skipped = Vec::new();
    for p in all {
        match regex::Regex::new(&p.pattern) {
            Ok(_) => kept.push(p),
            Err(e) => skipped.push(SkippedPattern {
                why: e
                    .to_string()
                    .lines()
                    .last()
                    .unwrap_or("")
                    .trim()
                    .to_string(),
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
