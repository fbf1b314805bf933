//! Anubis bot policies: rules with Anubis's matchers and actions, evaluated as Anubis does.
//!
//! A rule matches when every matcher it has matches: `user_agent_regex`, `path_regex`,
//! `headers_regex` (each named header's value), `remote_addresses` (CIDRs), `asns.match`,
//! `geoip.countries` and `expression` (CEL, `all`/`any` lists; see [`crate::cel`]). Rules
//! are tried in order: the first matching ALLOW, DENY or CHALLENGE rule decides; a matching
//! WEIGH rule adds its `weight.adjust` and the search goes on. When no rule decided, the
//! thresholds are tried in order on the accumulated weight (Anubis's defaults when the
//! policy has none), and without a matching threshold the request is allowed.
//!
//! [`import_anubis`] reads a `botPolicies.yaml` (or any rule file), resolving `import:`
//! entries (`(data)/...` from the Anubis data directory, other paths from the importing
//! file's directory), and leaves out, with the reason, the rules shrike cannot evaluate.
//! The result is saved as `anubis_policy.json` in the dictionary directory
//! ([`Policy::to_json`]) and loaded from there ([`Policy::from_json`]).

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use regex::Regex;
use serde_json::{json, Value};

use crate::cel::{Expr, Fields, Truth};
use crate::cidr::CidrMap;

/// What a rule or threshold does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Let through (a known, wanted client).
    Allow,
    /// Refuse.
    Deny,
    /// Ask for a proof of work.
    Challenge,
    /// Adjust the request's weight by this much and go on.
    Weigh(i64),
}

impl Action {
    /// Anubis's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Allow => "ALLOW",
            Action::Deny => "DENY",
            Action::Challenge => "CHALLENGE",
            Action::Weigh(_) => "WEIGH",
        }
    }
}

/// One matcher of a rule.
#[derive(Debug, Clone)]
enum Matcher {
    UserAgent(Regex),
    Path(Regex),
    Headers(Vec<(String, Regex)>),
    Addresses(CidrMap<()>),
    Asns(HashSet<u32>),
    Countries(HashSet<String>),
    Expression(Expr),
}

/// One policy rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its `name`.
    pub name: String,
    /// Its action.
    pub action: Action,
    /// The file it came from (for messages).
    pub from: String,
    /// The rule as written (for saving).
    raw: Value,
    matchers: Vec<Matcher>,
}

/// A weight threshold.
#[derive(Debug, Clone)]
pub struct Threshold {
    /// Its `name`.
    pub name: String,
    /// Its action (never WEIGH).
    pub action: Action,
    raw: Value,
    expr: Expr,
}

/// Which part of the policy decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecidedBy {
    /// A bot rule (its index and name).
    Rule(usize, String),
    /// A weight threshold (its name).
    Threshold(String),
    /// Nothing matched: Anubis's default allow.
    Default,
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyVerdict {
    /// ALLOW, DENY or CHALLENGE.
    pub action: Action,
    /// What decided.
    pub by: DecidedBy,
    /// Accumulated weight.
    pub weight: i64,
    /// Names of the WEIGH rules that matched.
    pub weighed: Vec<String>,
}

impl PolicyVerdict {
    /// Anubis's rule label: `bot/<name>`, `threshold/<name>` or `default/allow`.
    pub fn label(&self) -> String {
        match &self.by {
            DecidedBy::Rule(_, n) => format!("bot/{n}"),
            DecidedBy::Threshold(n) => format!("threshold/{n}"),
            DecidedBy::Default => "default/allow".into(),
        }
    }
}

/// A rule left out of an import, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The rule's name (or `#n` when it has none).
    pub name: String,
    /// Its file.
    pub from: String,
    /// Why.
    pub why: String,
}

/// An import that cannot go on: a file that cannot be read or parsed.
#[derive(Debug, thiserror::Error)]
#[error("{file}: {why}")]
pub struct PolicyError {
    /// The file.
    pub file: String,
    /// What is wrong.
    pub why: String,
}

/// A loaded policy.
#[derive(Debug, Clone, Default)]
pub struct Policy {
    /// Bot rules, in evaluation order.
    pub rules: Vec<Rule>,
    /// Weight thresholds, in order.
    pub thresholds: Vec<Threshold>,
}

fn anubis_default_thresholds() -> Value {
    json!([
        {"name": "minimal-suspicion", "expression": "weight <= 0", "action": "ALLOW"},
        {"name": "mild-suspicion", "expression": {"all": ["weight > 0", "weight < 10"]}, "action": "CHALLENGE"},
        {"name": "moderate-suspicion", "expression": {"all": ["weight >= 10", "weight < 20"]}, "action": "CHALLENGE"},
        {"name": "mild-proof-of-work", "expression": {"all": ["weight >= 20", "weight < 30"]}, "action": "CHALLENGE"},
        {"name": "extreme-suspicion", "expression": "weight >= 30", "action": "CHALLENGE"}
    ])
}

/// An `expression`: a string, or `{all: [...]}` / `{any: [...]}` of strings.
fn expression(v: &Value) -> Result<Expr, String> {
    let join = |items: &Value, and: bool| -> Result<Expr, String> {
        let items = items.as_array().ok_or("`all`/`any` must be a list")?;
        let mut out: Option<Expr> = None;
        for it in items {
            let e = expression(it)?;
            out = Some(match out {
                None => e,
                Some(prev) if and => Expr::And(Box::new(prev), Box::new(e)),
                Some(prev) => Expr::Or(Box::new(prev), Box::new(e)),
            });
        }
        out.ok_or_else(|| "empty `all`/`any` list".to_string())
    };
    match v {
        Value::String(s) => {
            Expr::parse(s.trim()).map_err(|e| format!("expression `{}`: {e}", s.trim()))
        }
        Value::Object(m) => match (m.get("all"), m.get("any")) {
            (Some(a), None) => join(a, true),
            (None, Some(a)) => join(a, false),
            _ => Err("an expression object needs exactly one of `all` and `any`".into()),
        },
        _ => Err("`expression` must be a string or an all/any list".into()),
    }
}

fn action(v: &Value, weight: Option<&Value>) -> Result<Action, String> {
    let a = v.as_str().ok_or("`action` is missing or not a string")?;
    Ok(match a.to_ascii_uppercase().as_str() {
        "ALLOW" => Action::Allow,
        "DENY" => Action::Deny,
        "CHALLENGE" => Action::Challenge,
        "WEIGH" => Action::Weigh(
            weight
                .and_then(|w| w.get("adjust"))
                .and_then(Value::as_i64)
                .ok_or("a WEIGH rule needs an integer `weight.adjust`")?,
        ),
        "BENCHMARK" => return Err("the BENCHMARK action has no meaning for logged traffic".into()),
        other => {
            return Err(format!(
                "unknown action `{other}` (allowed: ALLOW, DENY, CHALLENGE, WEIGH)"
            ))
        }
    })
}

fn regex(v: &Value, key: &str) -> Result<Regex, String> {
    let s = v.as_str().ok_or(format!("`{key}` must be a string"))?;
    Regex::new(s.trim()).map_err(|e| format!("`{key}`: {e}"))
}

impl Rule {
    /// Compiles one rule object.
    pub fn compile(raw: &Value, from: &str) -> Result<Rule, String> {
        let obj = raw.as_object().ok_or("a rule must be a mapping")?;
        let name = obj
            .get("name")
            .and_then(Value::as_str)
            .ok_or("a rule needs a `name`")?
            .to_string();
        let mut matchers = Vec::new();
        for (k, v) in obj {
            match k.as_str() {
                "name" | "action" | "weight" | "challenge" | "from" => {}
                "user_agent_regex" => matchers.push(Matcher::UserAgent(regex(v, k)?)),
                "path_regex" => matchers.push(Matcher::Path(regex(v, k)?)),
                "headers_regex" => {
                    let m = v
                        .as_object()
                        .ok_or("`headers_regex` must map header names to regexes")?;
                    let mut hs = Vec::new();
                    for (h, re) in m {
                        hs.push((h.clone(), regex(re, k)?));
                    }
                    matchers.push(Matcher::Headers(hs));
                }
                "remote_addresses" => {
                    let mut cidrs = CidrMap::new();
                    for c in v.as_array().ok_or("`remote_addresses` must be a list")? {
                        let c = c
                            .as_str()
                            .ok_or("`remote_addresses` entries must be strings")?;
                        cidrs.insert_cidr(c, ()).map_err(|e| e.to_string())?;
                    }
                    matchers.push(Matcher::Addresses(cidrs));
                }
                "asns" => {
                    let list = v
                        .get("match")
                        .and_then(Value::as_array)
                        .ok_or("`asns` needs a `match` list")?;
                    let asns = list
                        .iter()
                        .map(|a| {
                            a.as_u64()
                                .and_then(|a| u32::try_from(a).ok())
                                .ok_or("an ASN must be a number")
                        })
                        .collect::<Result<_, _>>()?;
                    matchers.push(Matcher::Asns(asns));
                }
                "geoip" => {
                    let list = v
                        .get("countries")
                        .and_then(Value::as_array)
                        .ok_or("`geoip` needs a `countries` list")?;
                    let cs = list
                        .iter()
                        .map(|c| {
                            c.as_str()
                                .map(str::to_ascii_uppercase)
                                .ok_or("a country must be a code")
                        })
                        .collect::<Result<_, _>>()?;
                    matchers.push(Matcher::Countries(cs));
                }
                "expression" => matchers.push(Matcher::Expression(expression(v)?)),
                other => return Err(format!("unsupported rule key `{other}`")),
            }
        }
        if matchers.is_empty() {
            return Err("a rule needs at least one matcher".into());
        }
        let action = action(obj.get("action").unwrap_or(&Value::Null), obj.get("weight"))?;
        Ok(Rule {
            name,
            action,
            from: from.to_string(),
            raw: raw.clone(),
            matchers,
        })
    }

    /// Whether the rule matches (`None`: it depends on a field that is unknown).
    pub fn matches(&self, f: &Fields<'_>) -> Truth {
        let mut all = Some(true);
        for m in &self.matchers {
            let t = match m {
                Matcher::UserAgent(re) => f.user_agent.map(|ua| re.is_match(ua)),
                Matcher::Path(re) => f.path.map(|p| re.is_match(p)),
                Matcher::Headers(hs) => f.headers.map(|have| {
                    hs.iter().all(|(name, re)| {
                        have.iter()
                            .find(|(n, _)| n.eq_ignore_ascii_case(name))
                            .is_some_and(|(_, v)| re.is_match(v))
                    })
                }),
                Matcher::Addresses(c) => f.remote_address.map(|ip| c.get(ip).is_some()),
                Matcher::Asns(a) => f.asn.map(|asn| a.contains(&asn)),
                Matcher::Countries(cs) => f.country.map(|c| cs.contains(&c.to_ascii_uppercase())),
                Matcher::Expression(e) => e.holds(f),
            };
            match t {
                Some(false) => return Some(false),
                None => all = None,
                Some(true) => {}
            }
        }
        all
    }

    /// The CIDRs of its `remote_addresses` (empty when it has none).
    pub fn cidrs(&self) -> Vec<(IpAddr, u8)> {
        self.matchers
            .iter()
            .filter_map(|m| match m {
                Matcher::Addresses(c) => {
                    Some(c.entries().into_iter().map(|(ip, len, _)| (ip, len)))
                }
                _ => None,
            })
            .flatten()
            .collect()
    }
}

fn threshold(raw: &Value) -> Result<Threshold, String> {
    let name = raw
        .get("name")
        .and_then(Value::as_str)
        .ok_or("a threshold needs a `name`")?
        .to_string();
    let expr = expression(
        raw.get("expression")
            .ok_or("a threshold needs an `expression`")?,
    )?;
    let action = action(raw.get("action").unwrap_or(&Value::Null), None)?;
    if matches!(action, Action::Weigh(_)) {
        return Err("a threshold cannot WEIGH".into());
    }
    Ok(Threshold {
        name,
        action,
        raw: raw.clone(),
        expr,
    })
}

/// The import of an Anubis policy.
#[derive(Debug, Default)]
pub struct AnubisImport {
    /// The rules that compiled, flattened in evaluation order.
    pub policy: Policy,
    /// Rules left out.
    pub skipped: Vec<Skipped>,
    /// Files read.
    pub files: Vec<PathBuf>,
}

/// Reads an Anubis policy file and everything it imports. `data_dir` resolves `(data)/`
/// imports (default: the policy file's own directory, where Anubis's `data/` tree keeps
/// `botPolicies.yaml`).
pub fn import_anubis(path: &Path, data_dir: Option<&Path>) -> Result<AnubisImport, PolicyError> {
    let data = data_dir
        .map(Path::to_path_buf)
        .or_else(|| path.parent().map(Path::to_path_buf))
        .unwrap_or_default();
    let mut out = AnubisImport::default();
    let doc = read_yaml(path)?;
    let (bots, thresholds) = match &doc {
        Value::Object(m) => (
            m.get("bots").cloned().unwrap_or(Value::Null),
            m.get("thresholds").cloned(),
        ),
        list @ Value::Array(_) => (list.clone(), None),
        _ => {
            return Err(PolicyError {
                file: path.display().to_string(),
                why: "expected a policy (with `bots:`) or a list of rules".into(),
            })
        }
    };
    out.files.push(path.to_path_buf());
    rules_of(&bots, path, &data, &mut out, 0)?;
    let thresholds = thresholds.unwrap_or_else(anubis_default_thresholds);
    for t in thresholds.as_array().into_iter().flatten() {
        match threshold(t) {
            Ok(t) => out.policy.thresholds.push(t),
            Err(why) => out.skipped.push(Skipped {
                name: format!(
                    "threshold {}",
                    t.get("name").and_then(Value::as_str).unwrap_or("?")
                ),
                from: path.display().to_string(),
                why,
            }),
        }
    }
    Ok(out)
}

fn read_yaml(path: &Path) -> Result<Value, PolicyError> {
    let err = |why: String| PolicyError {
        file: path.display().to_string(),
        why,
    };
    let text = std::fs::read_to_string(path).map_err(|e| err(e.to_string()))?;
    crate::yaml::to_json(&text).map_err(err)
}

fn rules_of(
    list: &Value,
    file: &Path,
    data: &Path,
    out: &mut AnubisImport,
    depth: usize,
) -> Result<(), PolicyError> {
    if depth > 16 {
        return Err(PolicyError {
            file: file.display().to_string(),
            why: "imports nested more than 16 deep (a cycle?)".into(),
        });
    }
    let from = file
        .strip_prefix(data)
        .unwrap_or(file)
        .display()
        .to_string();
    let Some(items) = list.as_array() else {
        return if list.is_null() {
            Ok(())
        } else {
            Err(PolicyError {
                file: file.display().to_string(),
                why: "`bots` must be a list of rules".into(),
            })
        };
    };
    for (i, item) in items.iter().enumerate() {
        if let Some(target) = item.get("import").and_then(Value::as_str) {
            let target = match target.strip_prefix("(data)/") {
                Some(rest) => data.join(rest),
                None => file.parent().unwrap_or(Path::new(".")).join(target),
            };
            let doc = read_yaml(&target)?;
            out.files.push(target.clone());
            rules_of(&doc, &target, data, out, depth + 1)?;
            continue;
        }
        match Rule::compile(item, &from) {
            Ok(r) => out.policy.rules.push(r),
            Err(why) => out.skipped.push(Skipped {
                name: item
                    .get("name")
                    .and_then(Value::as_str)
                    .map_or_else(|| format!("#{}", i + 1), str::to_string),
                from: from.clone(),
                why,
            }),
        }
    }
    Ok(())
}

impl Policy {
    /// Evaluates the policy on one request, as Anubis does (see the module documentation).
    /// A rule that depends on an unknown field does not match.
    pub fn evaluate(&self, f: &Fields<'_>) -> PolicyVerdict {
        let mut weight = 0i64;
        let mut weighed = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            if r.matches(f) != Some(true) {
                continue;
            }
            match r.action {
                Action::Weigh(adj) => {
                    weight += adj;
                    weighed.push(r.name.clone());
                }
                action => {
                    return PolicyVerdict {
                        action,
                        by: DecidedBy::Rule(i, r.name.clone()),
                        weight,
                        weighed,
                    }
                }
            }
        }
        let at = Fields {
            weight: Some(weight),
            ..Fields::default()
        };
        for t in &self.thresholds {
            if t.expr.holds(&at) == Some(true) {
                return PolicyVerdict {
                    action: t.action,
                    by: DecidedBy::Threshold(t.name.clone()),
                    weight,
                    weighed,
                };
            }
        }
        PolicyVerdict {
            action: Action::Allow,
            by: DecidedBy::Default,
            weight,
            weighed,
        }
    }

    /// Whether the policy has no rule.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// The policy as shrike's `anubis_policy.json`.
    pub fn to_json(&self) -> Value {
        let rules: Vec<Value> = self
            .rules
            .iter()
            .map(|r| {
                let mut v = r.raw.clone();
                if let Some(m) = v.as_object_mut() {
                    m.insert("from".into(), Value::String(r.from.clone()));
                }
                v
            })
            .collect();
        let thresholds: Vec<Value> = self.thresholds.iter().map(|t| t.raw.clone()).collect();
        json!({"rules": rules, "thresholds": thresholds})
    }

    /// Loads `anubis_policy.json`; every rule must compile.
    pub fn from_json(v: &Value) -> Result<Policy, String> {
        let mut p = Policy::default();
        for (i, r) in v
            .get("rules")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let from = r
                .get("from")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            p.rules
                .push(Rule::compile(r, &from).map_err(|e| format!("rule {}: {e}", i + 1))?);
        }
        for t in v
            .get("thresholds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            p.thresholds.push(threshold(t)?);
        }
        Ok(p)
    }
}
