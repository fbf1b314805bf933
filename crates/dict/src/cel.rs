//! The part of CEL (Common Expression Language) Anubis policies use in `expression` rules
//! and weight thresholds: string, number and boolean literals; the request variables
//! `userAgent`, `path`, `method`, `host`, `remoteAddress`, `headers`, `query` and the
//! threshold's `weight`; `!`, `&&`, `||`, comparisons, `in`, map indexing; the string
//! methods `contains`, `startsWith`, `endsWith`, `matches`; and Anubis's
//! `verifyFCrDNS(remoteAddress[, regex])`.
//!
//! Evaluation is three-valued: a field the caller does not know (a session keeps its user
//! agent but not every header) is *unknown*, and so is anything computed from it, so a rule
//! matches only when it is known to match. Anything else (another function, `load_1m`) is a
//! parse error naming it, and the rule using it is left out at import.

use std::borrow::Cow;
use std::net::IpAddr;

pub use regex::Regex;

/// A variable an expression reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Var {
    /// `userAgent`.
    UserAgent,
    /// `path`.
    Path,
    /// `method`.
    Method,
    /// `host`.
    Host,
    /// `remoteAddress`.
    RemoteAddress,
    /// `headers` (a map, canonical header names).
    Headers,
    /// `query` (a map of query parameters).
    Query,
    /// `weight` (thresholds only).
    Weight,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum StrFn {
    Contains,
    StartsWith,
    EndsWith,
}

/// A parsed expression.
#[derive(Debug, Clone)]
pub enum Expr {
    /// A string literal.
    Str(String),
    /// A number literal.
    Num(f64),
    /// `true` / `false`.
    Bool(bool),
    /// A variable.
    Var(Var),
    /// `!e`.
    Not(Box<Expr>),
    /// `a && b`.
    And(Box<Expr>, Box<Expr>),
    /// `a || b`.
    Or(Box<Expr>, Box<Expr>),
    /// A comparison.
    #[allow(private_interfaces)]
    Cmp(Cmp, Box<Expr>, Box<Expr>),
    /// `key in map`.
    In(Box<Expr>, Box<Expr>),
    /// `map[key]`.
    Index(Box<Expr>, Box<Expr>),
    /// `s.contains(x)`, `s.startsWith(x)`, `s.endsWith(x)`.
    #[allow(private_interfaces)]
    StrFn(StrFn, Box<Expr>, Box<Expr>),
    /// `s.matches("re")` (the pattern compiled once).
    Matches(Box<Expr>, Regex),
    /// `verifyFCrDNS(addr[, "re"])`.
    Fcrdns(Box<Expr>, Option<Regex>),
}

/// What an expression can read about one request. `None` fields are unknown.
#[derive(Default)]
pub struct Fields<'a> {
    /// User-Agent.
    pub user_agent: Option<&'a str>,
    /// Path (without the query).
    pub path: Option<&'a str>,
    /// Method.
    pub method: Option<&'a str>,
    /// Host.
    pub host: Option<&'a str>,
    /// Client address.
    pub remote_address: Option<IpAddr>,
    /// Request headers (name, value), when the whole set is known.
    pub headers: Option<&'a [(&'a str, &'a str)]>,
    /// Query parameters, when known.
    pub query: Option<&'a [(&'a str, &'a str)]>,
    /// AS number of the client, when known.
    pub asn: Option<u32>,
    /// Country code of the client, when known.
    pub country: Option<&'a str>,
    /// Forward-confirmed reverse DNS: the client's verified host name matches the pattern
    /// (`None` when not checked).
    #[allow(clippy::type_complexity)]
    pub fcrdns: Option<&'a dyn Fn(IpAddr, Option<&Regex>) -> Option<bool>>,
    /// A threshold's accumulated weight.
    pub weight: Option<i64>,
}

#[derive(Debug, Clone, PartialEq)]
enum V<'a> {
    Str(Cow<'a, str>),
    Num(f64),
    Bool(bool),
    Map(&'a [(&'a str, &'a str)]),
    Unknown,
}

/// Three-valued truth.
pub type Truth = Option<bool>;

impl Expr {
    /// Parses one expression.
    pub fn parse(src: &str) -> Result<Expr, String> {
        let toks = lex(src)?;
        let mut p = Parser { toks, i: 0 };
        let e = p.or()?;
        if p.i != p.toks.len() {
            return Err(format!("unexpected `{}`", p.toks[p.i].text()));
        }
        Ok(e)
    }

    /// Whether the expression holds (`None`: it depends on something unknown).
    pub fn holds(&self, f: &Fields<'_>) -> Truth {
        match self.eval(f) {
            V::Bool(b) => Some(b),
            _ => None,
        }
    }

    /// Whether the expression reads `v`.
    pub fn reads(&self, v: Var) -> bool {
        match self {
            Expr::Var(x) => *x == v,
            Expr::Str(_) | Expr::Num(_) | Expr::Bool(_) => false,
            Expr::Not(a) | Expr::Matches(a, _) | Expr::Fcrdns(a, _) => a.reads(v),
            Expr::And(a, b)
            | Expr::Or(a, b)
            | Expr::Cmp(_, a, b)
            | Expr::In(a, b)
            | Expr::Index(a, b)
            | Expr::StrFn(_, a, b) => a.reads(v) || b.reads(v),
        }
    }

    fn eval<'a>(&'a self, f: &Fields<'a>) -> V<'a> {
        let known = |o: Option<&'a str>| o.map_or(V::Unknown, |s| V::Str(Cow::Borrowed(s)));
        match self {
            Expr::Str(s) => V::Str(Cow::Borrowed(s)),
            Expr::Num(n) => V::Num(*n),
            Expr::Bool(b) => V::Bool(*b),
            Expr::Var(v) => match v {
                Var::UserAgent => known(f.user_agent),
                Var::Path => known(f.path),
                Var::Method => known(f.method),
                Var::Host => known(f.host),
                Var::RemoteAddress => f
                    .remote_address
                    .map_or(V::Unknown, |a| V::Str(Cow::Owned(a.to_string()))),
                Var::Headers => f.headers.map_or(V::Unknown, V::Map),
                Var::Query => f.query.map_or(V::Unknown, V::Map),
                Var::Weight => f.weight.map_or(V::Unknown, |w| V::Num(w as f64)),
            },
            Expr::Not(a) => match a.eval(f) {
                V::Bool(b) => V::Bool(!b),
                _ => V::Unknown,
            },
            Expr::And(a, b) => match (a.eval(f), b.eval(f)) {
                (V::Bool(false), _) | (_, V::Bool(false)) => V::Bool(false),
                (V::Bool(true), V::Bool(true)) => V::Bool(true),
                _ => V::Unknown,
            },
            Expr::Or(a, b) => match (a.eval(f), b.eval(f)) {
                (V::Bool(true), _) | (_, V::Bool(true)) => V::Bool(true),
                (V::Bool(false), V::Bool(false)) => V::Bool(false),
                _ => V::Unknown,
            },
            Expr::Cmp(op, a, b) => {
                let (x, y) = (a.eval(f), b.eval(f));
                let ord = match (&x, &y) {
                    (V::Str(p), V::Str(q)) => p.as_ref().partial_cmp(q.as_ref()),
                    (V::Num(p), V::Num(q)) => p.partial_cmp(q),
                    (V::Bool(p), V::Bool(q)) => p.partial_cmp(q),
                    _ => return V::Unknown,
                };
                let Some(o) = ord else { return V::Unknown };
                use std::cmp::Ordering::*;
                V::Bool(match op {
                    Cmp::Eq => o == Equal,
                    Cmp::Ne => o != Equal,
                    Cmp::Lt => o == Less,
                    Cmp::Le => o != Greater,
                    Cmp::Gt => o == Greater,
                    Cmp::Ge => o != Less,
                })
            }
            Expr::In(k, m) => match (k.eval(f), m.eval(f)) {
                (V::Str(k), V::Map(m)) => {
                    V::Bool(m.iter().any(|(n, _)| n.eq_ignore_ascii_case(&k)))
                }
                _ => V::Unknown,
            },
            Expr::Index(m, k) => match (m.eval(f), k.eval(f)) {
                (V::Map(m), V::Str(k)) => m
                    .iter()
                    .find(|(n, _)| n.eq_ignore_ascii_case(&k))
                    .map_or(V::Unknown, |(_, v)| V::Str(Cow::Borrowed(v))),
                _ => V::Unknown,
            },
            Expr::StrFn(which, s, x) => match (s.eval(f), x.eval(f)) {
                (V::Str(s), V::Str(x)) => V::Bool(match which {
                    StrFn::Contains => s.contains(x.as_ref()),
                    StrFn::StartsWith => s.starts_with(x.as_ref()),
                    StrFn::EndsWith => s.ends_with(x.as_ref()),
                }),
                _ => V::Unknown,
            },
            Expr::Matches(s, re) => match s.eval(f) {
                V::Str(s) => V::Bool(re.is_match(&s)),
                _ => V::Unknown,
            },
            Expr::Fcrdns(addr, re) => match (addr.eval(f), f.fcrdns) {
                (V::Str(a), Some(check)) => match a.parse::<IpAddr>() {
                    Ok(ip) => check(ip, re.as_ref()).map_or(V::Unknown, V::Bool),
                    Err(_) => V::Bool(false),
                },
                _ => V::Unknown,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Str(String),
    Num(f64),
    Ident(String),
    Op(&'static str),
}

impl Tok {
    fn text(&self) -> String {
        match self {
            Tok::Str(s) => format!("\"{s}\""),
            Tok::Num(n) => n.to_string(),
            Tok::Ident(s) => s.clone(),
            Tok::Op(o) => (*o).to_string(),
        }
    }
}

fn lex(src: &str) -> Result<Vec<Tok>, String> {
    const OPS: [&str; 16] = [
        "==", "!=", "<=", ">=", "&&", "||", "<", ">", "!", "(", ")", "[", "]", ".", ",", "-",
    ];
    let b = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    'next: while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if c == b'"' || c == b'\'' {
            let mut s = String::new();
            let mut j = i + 1;
            let mut chars = src[j..].char_indices();
            loop {
                let Some((k, ch)) = chars.next() else {
                    return Err("unterminated string".into());
                };
                if ch == c as char {
                    j += k + 1;
                    break;
                }
                if ch == '\\' {
                    let Some((_, e)) = chars.next() else {
                        return Err("unterminated string".into());
                    };
                    s.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        other => other,
                    });
                } else {
                    s.push(ch);
                }
            }
            out.push(Tok::Str(s));
            i = j;
            continue;
        }
        if c.is_ascii_digit() {
            let j = i + src[i..]
                .find(|ch: char| !(ch.is_ascii_digit() || ch == '.'))
                .unwrap_or(src.len() - i);
            let n = src[i..j]
                .parse()
                .map_err(|_| format!("bad number `{}`", &src[i..j]))?;
            out.push(Tok::Num(n));
            i = j;
            continue;
        }
        if c.is_ascii_alphabetic() || c == b'_' {
            let j = i + src[i..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .unwrap_or(src.len() - i);
            out.push(Tok::Ident(src[i..j].to_string()));
            i = j;
            continue;
        }
        for op in OPS {
            if src[i..].starts_with(op) {
                out.push(Tok::Op(op));
                i += op.len();
                continue 'next;
            }
        }
        return Err(format!(
            "unexpected character `{}`",
            &src[i..].chars().next().unwrap_or(' ')
        ));
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    i: usize,
}

impl Parser {
    fn peek_op(&self, op: &str) -> bool {
        matches!(self.toks.get(self.i), Some(Tok::Op(o)) if *o == op)
    }

    fn eat_op(&mut self, op: &str) -> bool {
        let hit = self.peek_op(op);
        self.i += hit as usize;
        hit
    }

    fn expect(&mut self, op: &str) -> Result<(), String> {
        if self.eat_op(op) {
            Ok(())
        } else {
            Err(format!(
                "expected `{op}`, found {}",
                self.toks
                    .get(self.i)
                    .map_or("the end".into(), |t| format!("`{}`", t.text()))
            ))
        }
    }

    fn or(&mut self) -> Result<Expr, String> {
        let mut e = self.and()?;
        while self.eat_op("||") {
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, String> {
        let mut e = self.unary()?;
        while self.eat_op("&&") {
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, String> {
        if self.eat_op("!") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        self.relation()
    }

    fn relation(&mut self) -> Result<Expr, String> {
        let a = self.postfix()?;
        for (op, cmp) in [
            ("==", Cmp::Eq),
            ("!=", Cmp::Ne),
            ("<=", Cmp::Le),
            (">=", Cmp::Ge),
            ("<", Cmp::Lt),
            (">", Cmp::Gt),
        ] {
            if self.eat_op(op) {
                return Ok(Expr::Cmp(cmp, Box::new(a), Box::new(self.postfix()?)));
            }
        }
        if matches!(self.toks.get(self.i), Some(Tok::Ident(w)) if w == "in") {
            self.i += 1;
            return Ok(Expr::In(Box::new(a), Box::new(self.postfix()?)));
        }
        Ok(a)
    }

    fn postfix(&mut self) -> Result<Expr, String> {
        let mut e = self.primary()?;
        loop {
            if self.eat_op("[") {
                let k = self.or()?;
                self.expect("]")?;
                e = Expr::Index(Box::new(e), Box::new(k));
            } else if self.eat_op(".") {
                let Some(Tok::Ident(m)) = self.toks.get(self.i).cloned() else {
                    return Err("expected a method name after `.`".into());
                };
                self.i += 1;
                let args = self.args()?;
                let [arg] =
                    <[Expr; 1]>::try_from(args).map_err(|_| format!("`{m}` takes one argument"))?;
                e = match m.as_str() {
                    "contains" => Expr::StrFn(StrFn::Contains, Box::new(e), Box::new(arg)),
                    "startsWith" => Expr::StrFn(StrFn::StartsWith, Box::new(e), Box::new(arg)),
                    "endsWith" => Expr::StrFn(StrFn::EndsWith, Box::new(e), Box::new(arg)),
                    "matches" => Expr::Matches(Box::new(e), regex_arg(&arg)?),
                    other => return Err(format!("unsupported method `{other}`")),
                };
            } else {
                return Ok(e);
            }
        }
    }

    fn args(&mut self) -> Result<Vec<Expr>, String> {
        self.expect("(")?;
        let mut args = Vec::new();
        if !self.eat_op(")") {
            loop {
                args.push(self.or()?);
                if self.eat_op(")") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(args)
    }

    fn primary(&mut self) -> Result<Expr, String> {
        let Some(t) = self.toks.get(self.i).cloned() else {
            return Err("unexpected end of expression".into());
        };
        self.i += 1;
        Ok(match t {
            Tok::Str(s) => Expr::Str(s),
            Tok::Num(n) => Expr::Num(n),
            Tok::Op("-") => match self.toks.get(self.i) {
                Some(Tok::Num(n)) => {
                    let n = -*n;
                    self.i += 1;
                    Expr::Num(n)
                }
                _ => return Err("`-` must precede a number".into()),
            },
            Tok::Op("(") => {
                let e = self.or()?;
                self.expect(")")?;
                e
            }
            Tok::Ident(id) => match id.as_str() {
                "true" => Expr::Bool(true),
                "false" => Expr::Bool(false),
                "userAgent" => Expr::Var(Var::UserAgent),
                "path" => Expr::Var(Var::Path),
                "method" => Expr::Var(Var::Method),
                "host" => Expr::Var(Var::Host),
                "remoteAddress" => Expr::Var(Var::RemoteAddress),
                "headers" => Expr::Var(Var::Headers),
                "query" => Expr::Var(Var::Query),
                "weight" => Expr::Var(Var::Weight),
                "verifyFCrDNS" => {
                    let mut args = self.args()?.into_iter();
                    let addr = args
                        .next()
                        .ok_or("verifyFCrDNS needs an address argument")?;
                    let re = args.next().map(|a| regex_arg(&a)).transpose()?;
                    if args.next().is_some() {
                        return Err("verifyFCrDNS takes at most two arguments".into());
                    }
                    Expr::Fcrdns(Box::new(addr), re)
                }
                other => return Err(format!("unsupported name `{other}`")),
            },
            other => return Err(format!("unexpected `{}`", other.text())),
        })
    }
}

fn regex_arg(e: &Expr) -> Result<Regex, String> {
    match e {
        Expr::Str(s) => Regex::new(s).map_err(|e| format!("invalid regex: {e}")),
        _ => Err("a regex argument must be a string literal".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn holds(src: &str, f: &Fields<'_>) -> Truth {
        Expr::parse(src).unwrap().holds(f)
    }

    #[test]
    fn anubis_expressions() {
        let headers = [
            ("Accept", "*/*"),
            ("Accept-Encoding", "gzip, br"),
            ("Sec-Ch-Ua", "\"Chromium\";v=\"126\""),
        ];
        let f = Fields {
            user_agent: Some("Mozilla/5.0 Chrome/126"),
            path: Some("/api/v1"),
            method: Some("GET"),
            headers: Some(&headers),
            weight: Some(12),
            ..Fields::default()
        };
        assert_eq!(holds(r#""Accept" in headers"#, &f), Some(true));
        assert_eq!(holds(r#"!("Dnt" in headers)"#, &f), Some(true));
        assert_eq!(holds(r#"headers["Accept"] == "*/*""#, &f), Some(true));
        assert_eq!(
            holds(r#"headers["Sec-Ch-Ua"].contains("Chromium")"#, &f),
            Some(true)
        );
        assert_eq!(
            holds(
                r#"( headers["Accept-Encoding"].contains("zstd") || headers["Accept-Encoding"].contains("br") )"#,
                &f
            ),
            Some(true)
        );
        assert_eq!(
            holds(
                r#"userAgent.matches("(?i:chrome)") && path.startsWith("/api/")"#,
                &f
            ),
            Some(true)
        );
        assert_eq!(
            holds(r#"!(method == "HEAD" || method == "GET")"#, &f),
            Some(false)
        );
        assert_eq!(holds("weight >= 10 && weight < 20", &f), Some(true));
        assert_eq!(holds("weight <= 0", &f), Some(false));
        assert_eq!(holds(r#"userAgent == """#, &f), Some(false));
        // Unknown fields stay unknown through negation, and `false && unknown` is false.
        let session = Fields {
            user_agent: Some("curl/8"),
            ..Fields::default()
        };
        assert_eq!(holds(r#"!("Accept" in headers)"#, &session), None);
        assert_eq!(
            holds(
                r#"userAgent.contains("Mozilla") && "Accept" in headers"#,
                &session
            ),
            Some(false)
        );
        assert_eq!(
            holds(
                r#"userAgent.contains("curl") || "Accept" in headers"#,
                &session
            ),
            Some(true)
        );
        assert_eq!(
            holds(
                r#"verifyFCrDNS(remoteAddress, "ptr\\.telegram\\.org$")"#,
                &session
            ),
            None
        );
        for bad in [
            "load_1m >= 10.0",
            "size(headers) > 3",
            "userAgent.lower()",
            "\"a\" ==",
        ] {
            assert!(Expr::parse(bad).is_err(), "{bad}");
        }
    }
}
