//! Who sends traffic, and how: humans, good bots and the bad-bot families.

use std::net::IpAddr;

use shrike_types::Rng;

use crate::network::{self, Network};
use crate::profiles::{BrowserProfile, Os};

/// Ground truth for one actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Class {
    /// A person with a browser.
    Human,
    /// A declared, wanted crawler.
    GoodBot,
    /// Automation to detect.
    BadBot,
}

impl Class {
    /// `human`, `good_bot` or `bad_bot`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::Human => "human",
            Class::GoodBot => "good_bot",
            Class::BadBot => "bad_bot",
        }
    }
}

/// Behaviour families.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Family {
    /// Browsing person.
    Human,
    /// Person behind a VPN or on a hosting network (looks bot-ish by network).
    HumanVpn,
    /// Googlebot from Google's ranges.
    Googlebot,
    /// Bingbot from Microsoft's ranges.
    Bingbot,
    /// Product-page scraper on hosting.
    Scraper,
    /// Login POST floods through proxies.
    CredentialStuffing,
    /// Headless Chrome: Chrome TLS, inconsistent client hints.
    HeadlessChrome,
    /// Path probing across hosts.
    VulnScanner,
    /// Many residential IPs, one JA4 and one header order.
    ResidentialProxyFleet,
    /// Large-scale AI crawler with an honest UA.
    AiCrawler,
    /// Chrome JA4 and headers, machine cadence: headless Chrome with stealth patches (a real
    /// stack and coherent hints, scripted behaviour).
    ChromeImpersonator,
    /// A real browser's ClientHello driven by a library's HTTP/2 stack (Go's net/http2 or
    /// okhttp), browsing like a person: only the layers disagree.
    LibraryH2,
    /// A real browser's TLS and HTTP/2 under the user agent (and client hints) of a browser
    /// of another engine, browsing like a person.
    UaSwap,
    /// Many residential addresses presenting a real Chrome's ClientHello, HTTP/2 and hints,
    /// a few product pages each.
    ChromeProxyRotation,
    /// A person whose browser version is in no dictionary the simulation writes (real
    /// captures other than the ones the dictionaries are built from).
    HumanUnlistedBrowser,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 15] = [
        Family::Human,
        Family::HumanVpn,
        Family::Googlebot,
        Family::Bingbot,
        Family::Scraper,
        Family::CredentialStuffing,
        Family::HeadlessChrome,
        Family::VulnScanner,
        Family::ResidentialProxyFleet,
        Family::AiCrawler,
        Family::ChromeImpersonator,
        Family::LibraryH2,
        Family::UaSwap,
        Family::ChromeProxyRotation,
        Family::HumanUnlistedBrowser,
    ];

    /// snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Family::Human => "human",
            Family::HumanVpn => "human_vpn",
            Family::Googlebot => "googlebot",
            Family::Bingbot => "bingbot",
            Family::Scraper => "scraper",
            Family::CredentialStuffing => "credential_stuffing",
            Family::HeadlessChrome => "headless_chrome",
            Family::VulnScanner => "vuln_scanner",
            Family::ResidentialProxyFleet => "residential_proxy_fleet",
            Family::AiCrawler => "ai_crawler",
            Family::ChromeImpersonator => "chrome_impersonator",
            Family::LibraryH2 => "library_h2",
            Family::UaSwap => "ua_swap",
            Family::ChromeProxyRotation => "chrome_proxy_rotation",
            Family::HumanUnlistedBrowser => "human_unlisted_browser",
        }
    }

    /// Ground-truth class.
    pub fn class(self) -> Class {
        match self {
            Family::Human | Family::HumanVpn | Family::HumanUnlistedBrowser => Class::Human,
            Family::Googlebot | Family::Bingbot => Class::GoodBot,
            _ => Class::BadBot,
        }
    }
}

/// Non-browser TLS clients (JA4s verified in ja4db).
pub const GO_JA4: &str = "t13d190900_9dc949149365_97f8aa674fd9";
/// Python's default TLS stack connecting to a host name. ja4db's capture of it
/// (`t13i181000_85036bcba153_d41ae481755e`) went to an address: without SNI. The simulated
/// clients send SNI, which sets the flag to `d` and adds one extension to the count; the
/// hashes leave SNI and ALPN out, so they stay.
pub const PYTHON_JA4: &str = "t13d181100_85036bcba153_d41ae481755e";
/// The crawler stack used by the simulated Googlebot and Bingbot.
pub const CRAWLER_JA4: &str = "t13d1812h2_e8a523a41297_ef7df7f74e48";
/// HTTP/2 stacks of libraries (Akamai layout): Go's net/http2 (4 MiB stream window, 10 MiB
/// header list, 1 GiB connection window, `:authority` first) and okhttp 4.
pub const LIBRARY_H2: [(&str, &str); 2] = [
    ("2:0;4:4194304;6:10485760|1073741824|0|a,m,p,s", "a,m,p,s"),
    ("4:16777216|16711681|0|m,p,a,s", "m,p,a,s"),
];
/// The uTLS-style client of the residential proxy fleet.
pub const FLEET_JA4: &str = "t13d1715h2_5b57614c22b0_7121afd63204";

/// How an actor's client looks on the wire.
#[derive(Debug, Clone)]
pub struct Client {
    pub(crate) ja4: String,
    pub(crate) ua: String,
    pub(crate) h2: Option<(String, String)>,
    pub(crate) sec_ch_ua: Option<String>,
    pub(crate) os: Os,
    pub(crate) nav_headers: Vec<String>,
    pub(crate) browser_like: bool,
}

impl Client {
    pub(crate) fn browser(p: &BrowserProfile) -> Client {
        Client {
            ja4: p.ja4.clone(),
            ua: p.user_agent.clone(),
            h2: Some((p.h2_fingerprint.clone(), p.pseudo_order.clone())),
            sec_ch_ua: p.sec_ch_ua.clone(),
            os: p.os,
            nav_headers: p.nav_headers.clone(),
            browser_like: true,
        }
    }

    pub(crate) fn tool(ja4: &str, ua: &str, headers: &str) -> Client {
        Client {
            ja4: ja4.into(),
            ua: ua.into(),
            h2: None,
            sec_ch_ua: None,
            os: Os::Linux,
            nav_headers: headers.split(',').map(String::from).collect(),
            browser_like: false,
        }
    }
}

/// One simulated actor.
#[derive(Debug, Clone)]
pub struct Actor {
    /// Behaviour.
    pub family: Family,
    /// Addresses it uses (several for fleets and stuffers).
    pub ips: Vec<(IpAddr, Network)>,
    pub(crate) client: Client,
    /// Hosts it visits.
    pub hosts: Vec<usize>,
    /// Hops between it and the sensor (TTL decrement).
    pub hops: u8,
}

const TOOL_HEADERS: &str = "host,user-agent,accept-encoding,accept,connection";

impl Actor {
    pub(crate) fn new(
        family: Family,
        rng: &mut Rng,
        browsers: &[BrowserProfile],
        unlisted: &[BrowserProfile],
        n_hosts: usize,
    ) -> Actor {
        let chrome: Vec<&BrowserProfile> = browsers
            .iter()
            .filter(|b| b.family == "Chrome" && b.os == Os::Windows)
            .collect();
        let any_chrome = chrome.first().copied().unwrap_or(&browsers[0]);
        let one = |rng: &mut Rng, nets: &[Network]| {
            let n = *rng.pick(nets);
            (n.address(rng), n)
        };
        let host = rng.below(n_hosts as u64) as usize;
        let (ips, client, hosts) = match family {
            Family::Human | Family::HumanVpn => {
                let nets: &[Network] = if family == Family::Human { network::ISPS } else { &[network::M247, network::AWS, network::OVH] };
                (vec![one(rng, nets)], Client::browser(rng.pick(browsers)), vec![host])
            }
            Family::Googlebot => (
                vec![(network::GOOGLE.address(rng), network::GOOGLE)],
                Client::tool(CRAWLER_JA4, "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", TOOL_HEADERS),
                (0..n_hosts).collect(),
            ),
            Family::Bingbot => (
                vec![(network::MICROSOFT.address(rng), network::MICROSOFT)],
                Client::tool(CRAWLER_JA4, "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)", TOOL_HEADERS),
                (0..n_hosts).collect(),
            ),
            Family::Scraper => {
                let c = if rng.chance(0.5) {
                    Client::tool(PYTHON_JA4, "python-requests/2.31.0", "host,user-agent,accept-encoding,accept,connection")
                } else {
                    // Lies in its UA but keeps Go's TLS.
                    Client::tool(GO_JA4, &any_chrome.user_agent, TOOL_HEADERS)
                };
                (vec![one(rng, network::HOSTING)], c, vec![host])
            }
            Family::CredentialStuffing => {
                let ips = (0..rng.range(3, 8))
                    .map(|_| {
                        let nets = if rng.chance(0.5) { network::ISPS } else { network::HOSTING };
                        one(rng, nets)
                    })
                    .collect();
                (ips, Client::tool(GO_JA4, &any_chrome.user_agent, TOOL_HEADERS), vec![host])
            }
            Family::HeadlessChrome => {
                let mut c = Client::browser(any_chrome);
                c.ua = c.ua.replace("Chrome/", "HeadlessChrome/");
                c.sec_ch_ua = None;
                c.nav_headers.retain(|h| !h.starts_with("sec-ch-ua"));
                (vec![one(rng, network::HOSTING)], c, vec![host])
            }
            Family::VulnScanner => (
                vec![one(rng, &[network::DIGITALOCEAN, network::M247, network::HETZNER])],
                Client::tool(GO_JA4, "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/90.0.4430.85 Safari/537.36", TOOL_HEADERS),
                (0..n_hosts).collect(),
            ),
            Family::ResidentialProxyFleet => {
                let mut c = Client::browser(any_chrome);
                c.ja4 = FLEET_JA4.into();
                c.h2 = Some(("1:65536;2:0;4:6291456;6:262144|15663105|0|m,p,a,s".into(), "m,p,a,s".into()));
                c.nav_headers = "host,user-agent,accept,accept-language,accept-encoding,referer".split(',').map(String::from).collect();
                c.sec_ch_ua = None;
                let ips = (0..rng.range(20, 60)).map(|_| one(rng, network::ISPS)).collect();
                (ips, c, vec![host])
            }
            Family::AiCrawler => (
                vec![one(rng, &[network::AWS, network::DIGITALOCEAN])],
                Client::tool(
                    PYTHON_JA4,
                    if rng.chance(0.5) {
                        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)"
                    } else {
                        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)"
                    },
                    TOOL_HEADERS,
                ),
                (0..n_hosts).collect(),
            ),
            Family::ChromeImpersonator => {
                let nets: &[Network] = if rng.chance(0.5) { network::ISPS } else { network::HOSTING };
                (vec![one(rng, nets)], Client::browser(any_chrome), vec![host])
            }
            Family::LibraryH2 => {
                let mut c = Client::browser(rng.pick(browsers));
                let (fp, order) = *rng.pick(&LIBRARY_H2);
                c.h2 = Some((fp.into(), order.into()));
                (vec![one(rng, network::ISPS)], c, vec![host])
            }
            Family::UaSwap => {
                let p = rng.pick(browsers);
                let others: Vec<&BrowserProfile> = browsers
                    .iter()
                    .filter(|q| shrike_dict::engine(&q.family) != shrike_dict::engine(&p.family))
                    .collect();
                let mut c = Client::browser(p);
                if !others.is_empty() {
                    // The user agent and its hints are another engine's; the TCP, TLS and
                    // HTTP/2 stacks stay the machine's.
                    let q = *rng.pick(&others);
                    c.ua = q.user_agent.clone();
                    c.sec_ch_ua = q.sec_ch_ua.clone();
                    c.nav_headers = q.nav_headers.clone();
                }
                (vec![one(rng, network::ISPS)], c, vec![host])
            }
            Family::ChromeProxyRotation => {
                let ips = (0..rng.range(20, 60)).map(|_| one(rng, network::ISPS)).collect();
                (ips, Client::browser(any_chrome), vec![host])
            }
            Family::HumanUnlistedBrowser => {
                let pool = if unlisted.is_empty() { browsers } else { unlisted };
                (vec![one(rng, network::ISPS)], Client::browser(rng.pick(pool)), vec![host])
            }
        };
        Actor {
            family,
            ips,
            client,
            hosts,
            hops: rng.range(4, 20) as u8,
        }
    }
}
