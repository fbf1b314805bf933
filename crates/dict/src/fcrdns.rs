//! Forward-confirmed reverse DNS (FCrDNS): the check search engines publish for their
//! crawlers. An address is verified as `name` when its PTR record gives `name` and `name`
//! resolves back (A/AAAA) to the address. A user agent saying "Googlebot" is a claim; an
//! address whose verified name ends in `.googlebot.com` is Google's crawler.
//!
//! [`Verifier`] caches results per address (positive and negative, for `ttl`), bounds the
//! number of new lookups per cycle (a flood of fake "Googlebot" addresses must not stall a
//! cycle) and works through a [`Resolver`]: [`UdpResolver`] asks the nameservers of
//! `/etc/resolv.conf` with a timeout; tests inject their own. It is off by default: it
//! sends the clients' addresses to the resolver and takes time.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use regex::Regex;

/// A DNS lookup that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DnsError {
    /// No answer within the timeout.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// The name does not exist or has no record of that type.
    #[error("no such record")]
    NotFound,
    /// The server answered with an error code.
    #[error("server failure (rcode {0})")]
    Server(u8),
    /// The answer could not be read.
    #[error("malformed answer: {0}")]
    Malformed(&'static str),
    /// No nameserver to ask, or the socket failed.
    #[error("{0}")]
    Io(String),
}

/// What FCrDNS needs from DNS.
pub trait Resolver: Send + Sync {
    /// The PTR names of an address.
    fn reverse(&self, ip: IpAddr) -> Result<Vec<String>, DnsError>;
    /// The A and AAAA addresses of a name.
    fn forward(&self, name: &str) -> Result<Vec<IpAddr>, DnsError>;
}

/// Crawler operators' published verification domains, by the start of the bot's name as
/// the user-agent lists write it, lower case and letters and digits only ("Yahoo! Slurp" is
/// `yahooslurp`, "Baidu Spider" `baiduspider`). A verified host name must end with one of
/// them.
pub const CRAWLER_DOMAINS: &[(&str, &[&str])] = &[
    (
        "googlebot",
        &[".googlebot.com", ".google.com", ".googleusercontent.com"],
    ),
    (
        "google",
        &[".googlebot.com", ".google.com", ".googleusercontent.com"],
    ),
    ("bingbot", &[".search.msn.com"]),
    ("msnbot", &[".search.msn.com"]),
    ("adidxbot", &[".search.msn.com"]),
    ("yandex", &[".yandex.ru", ".yandex.net", ".yandex.com"]),
    ("baidu", &[".baidu.com", ".baidu.jp"]),
    ("applebot", &[".applebot.apple.com"]),
    ("petalbot", &[".petalsearch.com"]),
    ("seznam", &[".seznam.cz"]),
    ("yahoo", &[".crawl.yahoo.net"]),
    ("slurp", &[".crawl.yahoo.net"]),
    ("amazonbot", &[".crawl.amazonbot.amazon"]),
    ("ahrefs", &[".ahrefs.com", ".ahrefs.net"]),
    ("qwant", &[".qwant.com"]),
    ("mojeek", &[".mojeek.com"]),
    ("coccoc", &[".coccoc.com"]),
];

/// The verification domains of a claimed bot, if its operator publishes any.
pub fn domains_of(bot: &str) -> Option<&'static [&'static str]> {
    let key: String = bot
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect();
    CRAWLER_DOMAINS
        .iter()
        .find(|(name, _)| key.starts_with(name))
        .map(|(_, d)| *d)
}

#[derive(Debug, Clone)]
struct Entry {
    name: Option<String>,
    at: Instant,
}

/// Cached FCrDNS checks through a [`Resolver`].
pub struct Verifier {
    resolver: Box<dyn Resolver>,
    ttl: Duration,
    budget: usize,
    used: AtomicUsize,
    over_budget: AtomicUsize,
    cache: Mutex<HashMap<IpAddr, Entry>>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("ttl", &self.ttl)
            .field("budget", &self.budget)
            .finish_non_exhaustive()
    }
}

/// How many addresses a PTR answer may name before the rest are ignored.
const MAX_PTR_NAMES: usize = 4;

impl Verifier {
    /// A verifier caching for `ttl`, making at most `budget` new lookups per cycle.
    pub fn new(resolver: Box<dyn Resolver>, ttl: Duration, budget: usize) -> Self {
        Verifier {
            resolver,
            ttl,
            budget,
            used: AtomicUsize::new(0),
            over_budget: AtomicUsize::new(0),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Starts a cycle: the lookup budget is available again. Returns how many checks the
    /// last cycle could not make for want of budget.
    pub fn new_cycle(&self) -> usize {
        self.used.store(0, Ordering::Relaxed);
        self.over_budget.swap(0, Ordering::Relaxed)
    }

    /// The forward-confirmed host name of `ip` (lower case, no final dot); `None` when it
    /// has none, or the lookup failed or is over budget.
    pub fn verified_name(&self, ip: IpAddr) -> Option<String> {
        self.check(ip).flatten()
    }

    /// The cached or looked-up verified name; `None` when over budget (unknown).
    fn check(&self, ip: IpAddr) -> Option<Option<String>> {
        let now = Instant::now();
        if let Some(e) = self.cache.lock().ok()?.get(&ip) {
            if now.duration_since(e.at) < self.ttl {
                return Some(e.name.clone());
            }
        }
        if self.used.fetch_add(1, Ordering::Relaxed) >= self.budget {
            self.over_budget.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        let name = self.lookup(ip);
        if let Ok(mut c) = self.cache.lock() {
            c.insert(
                ip,
                Entry {
                    name: name.clone(),
                    at: now,
                },
            );
        }
        Some(name)
    }

    fn lookup(&self, ip: IpAddr) -> Option<String> {
        let names = match self.resolver.reverse(ip) {
            Ok(n) => n,
            Err(e) => {
                tracing::debug!(%ip, error = %e, "reverse lookup failed");
                return None;
            }
        };
        for name in names.into_iter().take(MAX_PTR_NAMES) {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            match self.resolver.forward(&name) {
                Ok(addrs) if addrs.contains(&ip) => return Some(name),
                Ok(_) => {}
                Err(e) => tracing::debug!(%ip, %name, error = %e, "forward lookup failed"),
            }
        }
        None
    }

    /// Anubis's `verifyFCrDNS(addr, pattern)`: whether the verified name matches
    /// (`None`: over budget, unknown).
    pub fn confirms(&self, ip: IpAddr, pattern: Option<&Regex>) -> Option<bool> {
        self.check(ip)
            .map(|n| n.is_some_and(|n| pattern.is_none_or(|re| re.is_match(&n))))
    }

    /// Whether `ip` is verified as the crawler `bot` claims to be: `None` when the bot's
    /// operator publishes no verification domain (nothing to check) or over budget.
    pub fn confirms_bot(&self, ip: IpAddr, bot: &str) -> Option<bool> {
        let domains = domains_of(bot)?;
        self.check(ip)
            .map(|n| n.is_some_and(|n| domains.iter().any(|d| n.ends_with(d))))
    }
}

/// A stub resolver over UDP: one question per query, the nameservers tried in turn.
#[derive(Debug, Clone)]
pub struct UdpResolver {
    servers: Vec<SocketAddr>,
    timeout: Duration,
}

impl UdpResolver {
    /// Asks `servers`, waiting `timeout` for each.
    pub fn new(servers: Vec<SocketAddr>, timeout: Duration) -> Self {
        UdpResolver { servers, timeout }
    }

    /// The nameservers of `/etc/resolv.conf`.
    pub fn from_system(timeout: Duration) -> Result<Self, DnsError> {
        let text = std::fs::read_to_string("/etc/resolv.conf")
            .map_err(|e| DnsError::Io(format!("cannot read /etc/resolv.conf: {e}")))?;
        let servers: Vec<SocketAddr> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix("nameserver"))
            .filter_map(|s| s.trim().split('%').next()?.parse::<IpAddr>().ok())
            .map(|ip| SocketAddr::new(ip, 53))
            .collect();
        if servers.is_empty() {
            return Err(DnsError::Io("no nameserver in /etc/resolv.conf".into()));
        }
        Ok(Self::new(servers, timeout))
    }

    fn ask(&self, name: &str, qtype: u16) -> Result<Vec<Record>, DnsError> {
        let mut last = DnsError::Io("no nameserver".into());
        for server in &self.servers {
            match query(*server, name, qtype, self.timeout) {
                Ok(r) => return Ok(r),
                Err(e @ (DnsError::NotFound | DnsError::Malformed(_))) => return Err(e),
                Err(e) => last = e,
            }
        }
        Err(last)
    }
}

impl Resolver for UdpResolver {
    fn reverse(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
        let names: Vec<String> = self
            .ask(&reverse_name(ip), 12)?
            .into_iter()
            .filter_map(|r| match r {
                Record::Ptr(n) => Some(n),
                _ => None,
            })
            .collect();
        if names.is_empty() {
            return Err(DnsError::NotFound);
        }
        Ok(names)
    }

    fn forward(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
        let mut out = Vec::new();
        for qtype in [1, 28] {
            match self.ask(name, qtype) {
                Ok(rs) => out.extend(rs.into_iter().filter_map(|r| match r {
                    Record::Addr(a) => Some(a),
                    _ => None,
                })),
                Err(DnsError::NotFound) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}

/// `d.c.b.a.in-addr.arpa` or the nibbles of an IPv6 address under `ip6.arpa`.
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(72);
            for b in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", b & 0xf, b >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Record {
    Ptr(String),
    Addr(IpAddr),
}

fn query_id() -> u16 {
    use std::hash::{BuildHasher, Hasher};
    // A fresh random state per query (std seeds it from the OS): unpredictable ids.
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(Instant::now().elapsed().as_nanos() as u64);
    h.finish() as u16
}

fn encode_query(id: u16, name: &str, qtype: u16) -> Result<Vec<u8>, DnsError> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.trim_end_matches('.').split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(DnsError::Malformed("bad name in query"));
        }
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.push(0);
    q.extend_from_slice(&qtype.to_be_bytes());
    q.extend_from_slice(&[0, 1]);
    Ok(q)
}

fn query(
    server: SocketAddr,
    name: &str,
    qtype: u16,
    timeout: Duration,
) -> Result<Vec<Record>, DnsError> {
    let io = |e: std::io::Error| DnsError::Io(e.to_string());
    let bind: SocketAddr = if server.is_ipv4() {
        "0.0.0.0:0".parse().unwrap_or(server)
    } else {
        "[::]:0".parse().unwrap_or(server)
    };
    let sock = UdpSocket::bind(bind).map_err(io)?;
    sock.connect(server).map_err(io)?;
    let id = query_id();
    sock.send(&encode_query(id, name, qtype)?).map_err(io)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DnsError::Timeout(timeout));
        }
        sock.set_read_timeout(Some(left)).map_err(io)?;
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                return Err(DnsError::Timeout(timeout))
            }
            Err(e) => return Err(io(e)),
        };
        // An answer to another question (or a spoofing attempt) is ignored.
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            return decode(&buf[..n], qtype);
        }
    }
}

/// A (possibly compressed) name at `pos`; returns it and the position after it.
fn read_name(msg: &[u8], mut pos: usize) -> Result<(String, usize), DnsError> {
    let bad = DnsError::Malformed("bad name");
    let mut out = String::new();
    let mut end = None;
    for _ in 0..128 {
        let len = *msg.get(pos).ok_or(bad.clone())? as usize;
        if len & 0xc0 == 0xc0 {
            let ptr = ((len & 0x3f) << 8) | *msg.get(pos + 1).ok_or(bad.clone())? as usize;
            end.get_or_insert(pos + 2);
            pos = ptr;
            continue;
        }
        if len == 0 {
            return Ok((out, end.unwrap_or(pos + 1)));
        }
        let label = msg.get(pos + 1..pos + 1 + len).ok_or(bad.clone())?;
        if !out.is_empty() {
            out.push('.');
        }
        out.push_str(&String::from_utf8_lossy(label));
        pos += 1 + len;
    }
    Err(bad)
}

fn decode(msg: &[u8], qtype: u16) -> Result<Vec<Record>, DnsError> {
    if msg.len() < 12 {
        return Err(DnsError::Malformed("short header"));
    }
    match msg[3] & 0x0f {
        0 => {}
        3 => return Err(DnsError::NotFound),
        rcode => return Err(DnsError::Server(rcode)),
    }
    let qd = u16::from_be_bytes([msg[4], msg[5]]) as usize;
    let an = u16::from_be_bytes([msg[6], msg[7]]) as usize;
    let mut pos = 12;
    for _ in 0..qd {
        pos = read_name(msg, pos)?.1 + 4;
    }
    let mut out = Vec::new();
    for _ in 0..an {
        let after = read_name(msg, pos)?.1;
        let h = msg
            .get(after..after + 10)
            .ok_or(DnsError::Malformed("short record"))?;
        let rtype = u16::from_be_bytes([h[0], h[1]]);
        let rdlen = u16::from_be_bytes([h[8], h[9]]) as usize;
        let rdata_at = after + 10;
        let rdata = msg
            .get(rdata_at..rdata_at + rdlen)
            .ok_or(DnsError::Malformed("short record data"))?;
        match (rtype, qtype) {
            (12, 12) => out.push(Record::Ptr(read_name(msg, rdata_at)?.0)),
            (1, 1) if rdlen == 4 => out.push(Record::Addr(IpAddr::from([
                rdata[0], rdata[1], rdata[2], rdata[3],
            ]))),
            (28, 28) if rdlen == 16 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(rdata);
                out.push(Record::Addr(IpAddr::from(a)));
            }
            // CNAMEs are followed by the server in the same answer.
            _ => {}
        }
        pos = rdata_at + rdlen;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::sync::Arc;

    /// A zone in memory, counting the questions it is asked.
    struct Zone {
        ptr: HashMap<IpAddr, Vec<String>>,
        addr: HashMap<String, Vec<IpAddr>>,
        asked: Arc<AtomicUsize>,
    }

    impl Resolver for Zone {
        fn reverse(&self, ip: IpAddr) -> Result<Vec<String>, DnsError> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            self.ptr.get(&ip).cloned().ok_or(DnsError::NotFound)
        }
        fn forward(&self, name: &str) -> Result<Vec<IpAddr>, DnsError> {
            self.asked.fetch_add(1, Ordering::Relaxed);
            Ok(self.addr.get(name).cloned().unwrap_or_default())
        }
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn forward_confirmation_caching_and_budget() {
        let asked = Arc::new(AtomicUsize::new(0));
        let zone = Zone {
            ptr: HashMap::from([
                (
                    ip("66.249.66.1"),
                    vec!["crawl-66-249-66-1.googlebot.com.".into()],
                ),
                // A PTR anyone can set on their own range, which does not resolve back.
                (ip("203.0.113.7"), vec!["crawl-1.googlebot.com".into()]),
            ]),
            addr: HashMap::from([
                (
                    "crawl-66-249-66-1.googlebot.com".into(),
                    vec![ip("66.249.66.1")],
                ),
                ("crawl-1.googlebot.com".into(), vec![ip("66.249.66.200")]),
            ]),
            asked: asked.clone(),
        };
        let v = Verifier::new(Box::new(zone), Duration::from_secs(3600), 3);
        assert_eq!(v.confirms_bot(ip("66.249.66.1"), "Googlebot"), Some(true));
        assert_eq!(v.confirms_bot(ip("203.0.113.7"), "Googlebot"), Some(false));
        assert_eq!(v.confirms_bot(ip("66.249.66.1"), "bingbot"), Some(false));
        assert_eq!(
            v.confirms_bot(ip("66.249.66.1"), "SomeSeoTool"),
            None,
            "no published domain"
        );
        let re = Regex::new(r"\.googlebot\.com$").unwrap();
        assert_eq!(v.confirms(ip("66.249.66.1"), Some(&re)), Some(true));
        // Cached: the two addresses cost four questions, whatever the number of checks.
        assert_eq!(asked.load(Ordering::Relaxed), 4);
        // The budget: one more new address, then none until the next cycle.
        assert_eq!(v.confirms_bot(ip("192.0.2.1"), "googlebot"), Some(false));
        assert_eq!(v.confirms_bot(ip("192.0.2.2"), "googlebot"), None);
        assert!(v.new_cycle() >= 1);
        assert_eq!(v.confirms_bot(ip("192.0.2.2"), "googlebot"), Some(false));
    }

    #[test]
    fn names_and_answers_on_the_wire() {
        assert_eq!(reverse_name(ip("66.249.66.1")), "1.66.249.66.in-addr.arpa");
        assert!(reverse_name(ip("2001:db8::1")).starts_with("1.0.0.0.0.0.0.0"));
        assert!(reverse_name(ip("2001:db8::1")).ends_with("8.b.d.0.1.0.0.2.ip6.arpa"));
        // A PTR answer with a compressed name, as servers send it.
        let mut m = encode_query(7, "1.66.249.66.in-addr.arpa", 12).unwrap();
        m[2] = 0x81;
        m[3] = 0x80;
        m[7] = 1;
        m.extend_from_slice(&[0xc0, 12, 0, 12, 0, 1, 0, 0, 0, 60]);
        let rdata: Vec<u8> =
            [&[5u8][..], b"crawl", &[9], b"googlebot", &[3], b"com", &[0]].concat();
        m.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
        m.extend_from_slice(&rdata);
        assert_eq!(
            decode(&m, 12).unwrap(),
            vec![Record::Ptr("crawl.googlebot.com".into())]
        );
        m[3] = 0x83;
        assert_eq!(decode(&m, 12), Err(DnsError::NotFound));
        assert!(decode(&m[..8], 12).is_err());
        // A pointer loop is refused, not followed forever.
        let looped = [0u8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xc0, 12];
        assert!(read_name(&looped, 12).is_err());
    }

    /// A DNS server on a local port answering from `zone`, until `n` queries are served.
    fn serve(zone: Vec<(String, u16, Vec<u8>)>, n: usize) -> SocketAddr {
        let sock = UdpSocket::bind("127.0.0.1:0").unwrap();
        let addr = sock.local_addr().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            for _ in 0..n {
                let Ok((len, from)) = sock.recv_from(&mut buf) else {
                    return;
                };
                let q = &buf[..len];
                let (name, end) = read_name(q, 12).unwrap();
                let qtype = u16::from_be_bytes([q[end], q[end + 1]]);
                let mut a = q[..end + 4].to_vec();
                a[2] = 0x81;
                a[3] = 0x80;
                let answers: Vec<&Vec<u8>> = zone
                    .iter()
                    .filter(|(n, t, _)| *n == name && *t == qtype)
                    .map(|(_, _, rdata)| rdata)
                    .collect();
                if answers.is_empty() && !zone.iter().any(|(n, _, _)| *n == name) {
                    a[3] = 0x83; // NXDOMAIN
                }
                a[7] = answers.len() as u8;
                for rdata in answers {
                    a.extend_from_slice(&[0xc0, 12]);
                    a.extend_from_slice(&qtype.to_be_bytes());
                    a.extend_from_slice(&[0, 1, 0, 0, 0, 60]);
                    a.extend_from_slice(&(rdata.len() as u16).to_be_bytes());
                    a.extend_from_slice(rdata);
                }
                sock.send_to(&a, from).unwrap();
            }
        });
        addr
    }

    fn wire_name(n: &str) -> Vec<u8> {
        let mut v = Vec::new();
        for l in n.split('.') {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.push(0);
        v
    }

    #[test]
    fn the_udp_resolver_verifies_against_a_real_socket() {
        let host = "crawl-66-249-66-1.googlebot.com";
        let server = serve(
            vec![
                ("1.66.249.66.in-addr.arpa".into(), 12, wire_name(host)),
                (host.into(), 1, vec![66, 249, 66, 1]),
                (
                    host.into(),
                    28,
                    vec![0x20, 0x01, 0x48, 0x60, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
                ),
            ],
            8,
        );
        let r = UdpResolver::new(vec![server], Duration::from_secs(2));
        assert_eq!(
            r.reverse(ip("66.249.66.1")).unwrap(),
            vec![host.to_string()]
        );
        assert_eq!(
            r.forward(host).unwrap(),
            vec![ip("66.249.66.1"), ip("2001:4860::1")]
        );
        assert_eq!(r.reverse(ip("192.0.2.1")), Err(DnsError::NotFound));
        let v = Verifier::new(Box::new(r), Duration::from_secs(60), 10);
        assert_eq!(v.confirms_bot(ip("66.249.66.1"), "Googlebot"), Some(true));
    }

    #[test]
    fn an_unanswered_query_times_out() {
        // A socket that never answers.
        let silent = UdpSocket::bind("127.0.0.1:0").unwrap();
        let r = UdpResolver::new(
            vec![silent.local_addr().unwrap()],
            Duration::from_millis(150),
        );
        let t = Instant::now();
        assert!(matches!(
            r.reverse(ip("192.0.2.1")),
            Err(DnsError::Timeout(_))
        ));
        assert!(t.elapsed() < Duration::from_secs(2));
    }
}
