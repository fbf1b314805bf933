//! Turning an actor and a start time into requests.

use shrike_types::Rng;

use crate::actors::{Actor, Family};
use crate::profiles::Os;
use crate::record::SimRecord;

/// What a navigation asks for.
struct Nav {
    path: String,
    referer: Option<String>,
    cookie: bool,
}

/// Share of visits whose requests are all uncorrelated.
const UNSEEN_VISIT: f64 = 0.03;

pub(crate) struct Generator {
    hosts: usize,
    next_conn: u64,
}

const ASSETS: [&str; 8] = [
    "/static/app.4f2a.js",
    "/static/vendor.91c3.js",
    "/static/main.7d1e.css",
    "/fonts/inter.woff2",
    "/img/logo.svg",
    "/img/hero.webp",
    "/favicon.ico",
    "/static/app.4f2a.js.map",
];
const PROBES: [&str; 14] = [
    "/.env",
    "/wp-login.php",
    "/admin/",
    "/phpmyadmin/index.php",
    "/.git/config",
    "/cgi-bin/../../../../etc/passwd",
    "/server-status",
    "/actuator/health",
    "/vendor/phpunit/phpunit/src/Util/PHP/eval-stdin.php",
    "/backup.zip",
    "/config.json",
    "/xmlrpc.php",
    "/api/v1/users",
    "/solr/admin/info/system",
];

fn page(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => "/".into(),
        1 => format!("/products/{}", rng.range(1, 400)),
        2 => format!(
            "/category/{}",
            *rng.pick(&["shoes", "bags", "coats", "sale", "new"])
        ),
        3 => format!("/article/{}", rng.range(1000, 1200)),
        _ => format!("/products/{}/reviews", rng.range(1, 400)),
    }
}

impl Generator {
    pub(crate) fn new(hosts: usize) -> Self {
        Generator {
            hosts,
            next_conn: 0,
        }
    }

    fn conn(&mut self) -> String {
        self.next_conn += 1;
        format!("c{:x}", self.next_conn)
    }

    /// The skeleton of a request from this actor.
    fn base(&self, a: &Actor, ip_i: usize, host: usize, t: i64, rng: &mut Rng) -> SimRecord {
        let (ip, net) = a.ips[ip_i % a.ips.len()];
        let c = &a.client;
        let (ttl0, window, scale, options) = c.os.tcp();
        let mobile = matches!(c.os, Os::Android | Os::Ios);
        let mss = if mobile {
            *rng.pick(&[1380, 1400, 1440])
        } else {
            1460
        };
        let h2 = c.h2.is_some() && c.browser_like;
        let host = crate::host_name(host % self.hosts);
        SimRecord {
            t_ms: t,
            src_ip: ip.to_string(),
            src_port: Some(rng.range(32768, 60999) as u16),
            dst_port: 443,
            host: host.clone(),
            method: "GET",
            http_version: if h2 { "2" } else { "1.1" },
            status: 200,
            user_agent: c.ua.clone(),
            header_names: c.nav_headers.clone(),
            accept_encoding: Some(if c.browser_like {
                "gzip, deflate, br, zstd"
            } else {
                "gzip, deflate"
            }),
            sec_ch_ua: c.sec_ch_ua.clone(),
            sec_ch_ua_mobile: c
                .sec_ch_ua
                .as_ref()
                .map(|_| if mobile { "?1" } else { "?0" }),
            sec_ch_ua_platform: c.sec_ch_ua.as_ref().map(|_| c.os.ch_platform()),
            ja4: Some(c.ja4.clone()),
            tls_version: Some(if c.ja4.starts_with("t12") {
                "1.2"
            } else {
                "1.3"
            }),
            tls_alpn: Some(if h2 { "h2" } else { "http/1.1" }),
            tls_sni: Some(host),
            tcp_ttl: ttl0.saturating_sub(a.hops),
            tcp_window: window,
            tcp_window_scale: scale,
            tcp_mss: mss,
            tcp_options: options,
            ip_id: if c.os == Os::Linux && !c.browser_like {
                0
            } else {
                rng.range(1, 65535) as u32
            },
            ip_df: true,
            syn_ack_ms: (20.0 + a.hops as f64 * 2.5 + rng.normal() * 3.0).max(1.0),
            h2_fingerprint: c
                .h2
                .as_ref()
                .filter(|h| h2 && !h.0.is_empty())
                .map(|h| h.0.clone()),
            h2_pseudo_order: c.h2.as_ref().filter(|_| h2).map(|h| h.1.clone()),
            asn: net.asn,
            asn_org: net.org,
            country: net.country,
            correlated: rng.chance(0.99),
            bytes: rng.range(400, 60_000),
            ..SimRecord::default()
        }
    }

    fn finish(&self, r: &mut SimRecord, rng: &mut Rng) {
        r.ip_total_length = (40
            + r.path.len()
            + r.user_agent.len()
            + r.header_names.len() * 18
            + rng.below(60) as usize) as u32;
    }

    /// The requests of one visit (one hour of activity at most).
    pub(crate) fn visit(&mut self, a: &Actor, start: i64, rng: &mut Rng) -> Vec<SimRecord> {
        let mut out = Vec::new();
        let host = *rng.pick(&a.hosts);
        match a.family {
            Family::Human
            | Family::HumanVpn
            | Family::HumanUnlistedBrowser
            | Family::LibraryH2
            | Family::UaSwap => self.human(a, host, start, rng, &mut out),
            Family::Googlebot | Family::Bingbot | Family::AiCrawler => {
                self.crawler(a, start, rng, &mut out)
            }
            Family::Scraper => self.scraper(a, host, start, rng, &mut out),
            Family::CredentialStuffing => self.stuffer(a, host, start, rng, &mut out),
            Family::HeadlessChrome => self.headless(a, host, start, rng, &mut out),
            Family::VulnScanner => self.scanner(a, start, rng, &mut out),
            Family::ResidentialProxyFleet | Family::ChromeProxyRotation => {
                self.fleet(a, host, start, rng, &mut out)
            }
            Family::ChromeImpersonator => self.impersonator(a, host, start, rng, &mut out),
        }
        // Some visits reach the site by a path where the sensor's TCP/TLS data are not
        // joined to the requests (another edge, a proxy that hides the handshake): every
        // request of the visit is uncorrelated, and its session is scored on the
        // application features alone. Within other visits a request is missed now and
        // then (`base`).
        let unseen = rng.chance(UNSEEN_VISIT);
        for r in &mut out {
            self.finish(r, rng);
            if unseen {
                r.correlated = false;
            }
        }
        out
    }

    /// A document navigation to `path` (with `referer`; `cookie` once the site set one).
    fn navigation(&mut self, a: &Actor, host: usize, t: i64, nav: Nav, rng: &mut Rng) -> SimRecord {
        let Nav {
            path,
            referer,
            cookie,
        } = nav;
        let mut r = self.base(a, 0, host, t, rng);
        r.path = path;
        r.accept = Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
        r.accept_language = Some(*rng.pick(&[
            "fr-FR,fr;q=0.9,en;q=0.8",
            "en-US,en;q=0.9",
            "de-DE,de;q=0.9",
            "en-GB,en;q=0.8",
        ]));
        r.sec_fetch_site = Some(if referer.is_some() {
            "same-origin"
        } else {
            "none"
        });
        r.sec_fetch_mode = Some("navigate");
        r.sec_fetch_dest = Some("document");
        r.referer = referer;
        r.has_cookie = cookie;
        if !cookie {
            r.header_names.retain(|h| h != "cookie");
        }
        if let Some(ref_) = &r.referer {
            let _ = ref_;
            r.header_names.push("referer".into());
        }
        r
    }

    fn human(
        &mut self,
        a: &Actor,
        host: usize,
        start: i64,
        rng: &mut Rng,
        out: &mut Vec<SimRecord>,
    ) {
        let pages = 1 + rng.exponential(4.0) as u32;
        let mut t = start;
        let conn = self.conn();
        let mut ka = 0;
        let privacy = rng.chance(0.15);
        let mut prev: Option<String> = if rng.chance(0.4) {
            Some("https://www.google.com/".into())
        } else {
            None
        };
        for i in 0..pages.min(40) {
            let path = page(rng);
            let mut nav = self.navigation(
                a,
                host,
                t,
                Nav {
                    path: path.clone(),
                    referer: if privacy { None } else { prev.clone() },
                    cookie: i > 0,
                },
                rng,
            );
            nav.conn_id = conn.clone();
            nav.keepalive_index = ka;
            ka += 1;
            if rng.chance(0.03) {
                nav.method = "POST";
                nav.path = "/account/login".into();
                nav.content_type = Some("application/x-www-form-urlencoded");
            }
            let page_url = format!("https://{}{}", nav.host, nav.path);
            out.push(nav);
            let n_assets = if i == 0 {
                rng.range(4, 8)
            } else {
                rng.range(0, 4)
            };
            let mut at = t;
            for _ in 0..n_assets {
                at += rng.range(20, 400) as i64;
                let mut r = self.base(a, 0, host, at, rng);
                r.path = rng.pick(&ASSETS).to_string();
                r.accept = Some("*/*");
                r.sec_fetch_site = Some("same-origin");
                r.sec_fetch_mode = Some("no-cors");
                r.sec_fetch_dest = Some(if r.path.ends_with(".css") {
                    "style"
                } else {
                    "script"
                });
                r.referer = if privacy {
                    None
                } else {
                    Some(page_url.clone())
                };
                r.has_cookie = true;
                r.conn_id = conn.clone();
                r.keepalive_index = ka;
                ka += 1;
                r.accept_language = Some("en-US,en;q=0.9");
                out.push(r);
            }
            prev = Some(page_url);
            t += rng.log_normal(9.6, 1.1) as i64 + 500; // think time: median ~15 s
        }
    }

    fn crawler(&mut self, a: &Actor, start: i64, rng: &mut Rng, out: &mut Vec<SimRecord>) {
        let n = rng.range(30, 200);
        let mut t = start;
        for i in 0..n {
            let host = a.hosts[i as usize % a.hosts.len()];
            let mut r = self.base(a, 0, host, t, rng);
            r.path = if i == 0 {
                "/robots.txt".into()
            } else {
                page(rng)
            };
            r.accept = Some("text/html,application/xhtml+xml");
            r.conn_id = self.conn();
            out.push(r);
            t += rng.range(1500, 12_000) as i64;
        }
    }

    fn scraper(
        &mut self,
        a: &Actor,
        host: usize,
        start: i64,
        rng: &mut Rng,
        out: &mut Vec<SimRecord>,
    ) {
        let n = rng.range(80, 600);
        let assets = rng.chance(0.3);
        let period = rng.range(300, 2500) as f64;
        let mut t = start;
        let conn = self.conn();
        for i in 0..n {
            let mut r = self.base(a, 0, host, t, rng);
            r.path = if assets && i % 7 == 3 {
                rng.pick(&ASSETS).to_string()
            } else {
                format!("/products/{}", 1 + i % 400)
            };
            if rng.chance(0.3) {
                r.query = Some(format!("page={}&sort=price", i / 20));
            }
            r.accept = Some("*/*");
            r.conn_id = conn.clone();
            r.keepalive_index = i as u32;
            out.push(r);
            t += (period * (1.0 + 0.15 * rng.normal())).max(50.0) as i64;
        }
    }

    fn stuffer(
        &mut self,
        a: &Actor,
        host: usize,
        start: i64,
        rng: &mut Rng,
        out: &mut Vec<SimRecord>,
    ) {
        let n = rng.range(50, 400);
        let mut t = start;
        for i in 0..n {
            let mut r = self.base(a, i as usize, host, t, rng);
            r.method = "POST";
            r.path = (*rng.pick(&["/account/login", "/api/auth/token", "/signin"])).into();
            r.content_type = Some("application/json");
            r.accept = Some("application/json");
            r.status = if rng.chance(0.97) { 401 } else { 200 };
            r.conn_id = self.conn();
            if rng.chance(0.4) {
                r.user_agent = format!("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/{}.0.0.0 Safari/537.36", rng.range(110, 131));
            }
            out.push(r);
            t += rng.range(200, 3000) as i64;
        }
    }

    fn headless(
        &mut self,
        a: &Actor,
        host: usize,
        start: i64,
        rng: &mut Rng,
        out: &mut Vec<SimRecord>,
    ) {
        let pages = rng.range(20, 150);
        let mut t = start;
        let conn = self.conn();
        let fetch_assets = rng.chance(0.5);
        for i in 0..pages {
            let mut nav = self.navigation(
                a,
                host,
                t,
                Nav {
                    path: page(rng),
                    referer: None,
                    cookie: i > 0,
                },
                rng,
            );
            nav.conn_id = conn.clone();
            out.push(nav);
            if fetch_assets {
                for k in 0..3 {
                    let mut r = self.base(a, 0, host, t + 30 + k * 15, rng);
                    r.path = ASSETS[k as usize].to_string();
                    r.accept = Some("*/*");
                    r.sec_fetch_mode = Some("no-cors");
                    r.sec_fetch_dest = Some("script");
                    r.conn_id = conn.clone();
                    out.push(r);
                }
            }
            t += rng.range(800, 4000) as i64;
        }
    }

    fn scanner(&mut self, a: &Actor, start: i64, rng: &mut Rng, out: &mut Vec<SimRecord>) {
        let mut t = start;
        for &host in &a.hosts {
            for p in PROBES {
                let mut r = self.base(a, 0, host, t, rng);
                r.path = p.into();
                r.method = if rng.chance(0.2) { "HEAD" } else { "GET" };
                r.status = 404;
                r.accept = None;
                r.accept_encoding = None;
                r.conn_id = self.conn();
                if rng.chance(0.3) {
                    r.query = Some("id=1%27%20UNION%20SELECT%20NULL--".into());
                }
                out.push(r);
                t += rng.range(50, 600) as i64;
            }
        }
    }

    fn fleet(
        &mut self,
        a: &Actor,
        host: usize,
        start: i64,
        rng: &mut Rng,
        out: &mut Vec<SimRecord>,
    ) {
        for i in 0..a.ips.len() {
            let mut t = start + rng.below(600_000) as i64;
            for k in 0..rng.range(2, 12) {
                let mut r = self.base(a, i, host, t, rng);
                r.path = format!("/products/{}", rng.range(1, 400));
                r.accept = Some("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8");
                r.accept_language = Some("en-US,en;q=0.9");
                r.referer = (k > 0).then(|| format!("https://{}/", r.host));
                r.conn_id = self.conn();
                out.push(r);
                t += rng.range(2000, 9000) as i64;
            }
        }
    }

    fn impersonator(
        &mut self,
        a: &Actor,
        host: usize,
        start: i64,
        rng: &mut Rng,
        out: &mut Vec<SimRecord>,
    ) {
        let n = rng.range(60, 300);
        let conn = self.conn();
        let period = rng.range(800, 3000) as i64;
        for i in 0..n {
            let t = start + i as i64 * period + rng.range(0, 40) as i64;
            let mut nav = self.navigation(
                a,
                host,
                t,
                Nav {
                    path: page(rng),
                    referer: Some(format!("https://{}/", crate::host_name(host))),
                    cookie: true,
                },
                rng,
            );
            nav.conn_id = conn.clone();
            nav.keepalive_index = i as u32;
            out.push(nav);
        }
    }
}
