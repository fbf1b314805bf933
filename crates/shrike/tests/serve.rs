//! `shrike serve`'s API on a demo store, through the Router (no socket). The dashboard in
//! a real browser is `dashboard.rs`.

mod demo_store;
mod support;

use demo_store::copy_store;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::Value;
use shrike_server::{AppState, ServeSettings};
use shrike_store::{DashboardStore, SqliteStore, ThreatFilter, VerdictStore};
use shrike_types::{FixedClock, Timestamp};
use tower::ServiceExt;

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap()
}

struct Api {
    rt: tokio::runtime::Runtime,
    router: axum::Router,
    _dir: tempfile::TempDir,
    db: PathBuf,
}

impl Api {
    fn new(token: Option<&str>) -> Api {
        Api::with(|s| s.token = token.map(String::from))
    }

    fn with(configure: impl FnOnce(&mut ServeSettings)) -> Api {
        let (dir, db) = copy_store();
        let mut settings = ServeSettings::new(db.clone());
        configure(&mut settings);
        settings.max_body_bytes = 4096;
        let clock = Arc::new(FixedClock(Timestamp::from_millis(1_714_550_400_000)));
        let state = AppState::new(settings, clock).unwrap();
        Api {
            rt: runtime(),
            router: shrike_server::router(state),
            _dir: dir,
            db,
        }
    }

    fn send(&self, req: Request<Body>) -> (StatusCode, Value, String) {
        self.rt.block_on(async {
            let res = self.router.clone().oneshot(req).await.unwrap();
            let status = res.status();
            let bytes = axum::body::to_bytes(res.into_body(), 1 << 26)
                .await
                .unwrap();
            let text = String::from_utf8_lossy(&bytes).to_string();
            (
                status,
                serde_json::from_str(&text).unwrap_or(Value::Null),
                text,
            )
        })
    }

    fn get(&self, uri: &str) -> (StatusCode, Value) {
        let (s, v, _) = self.send(Request::get(uri).body(Body::empty()).unwrap());
        (s, v)
    }

    fn store(&self) -> SqliteStore {
        SqliteStore::open(&self.db).unwrap()
    }
}

#[test]
fn api_answers_match_the_store_and_reject_bad_parameters() {
    let api = Api::new(None);
    let store = api.store();
    let cycle = store.cycle_summaries(1).unwrap().pop().unwrap();

    let (s, o) = api.get("/api/overview");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(o["cycle"]["id"], cycle.id);
    assert_eq!(o["kpis"]["sessions"], cycle.sessions);
    assert_eq!(o["kpis"]["anomalies"], cycle.anomalies);
    let timeline_total: u64 = o["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|t| t["levels"].as_object().unwrap().values())
        .map(|n| n.as_u64().unwrap())
        .sum();
    assert_eq!(
        timeline_total, cycle.sessions,
        "every session is in one hour and level"
    );

    // Filters: only CRITICAL rows, as many as the store holds.
    let critical = ThreatFilter {
        levels: vec!["CRITICAL".into()],
        limit: 1,
        ..ThreatFilter::default()
    };
    let (want, _) = store.threats(cycle.id, &critical).unwrap();
    let (s, t) = api.get("/api/threats?level=critical&limit=500");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(t["total"], want);
    assert!(t["rows"]
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["level"] == "CRITICAL"));
    let first = &t["rows"][0];
    let uri = format!(
        "/api/threats/session?window={}&ip={}&ja4={}&host={}",
        first["window_start_ms"],
        enc(first["src_ip"].as_str().unwrap()),
        enc(first["ja4"].as_str().unwrap()),
        enc(first["host"].as_str().unwrap())
    );
    let (s, d) = api.get(&uri);
    assert_eq!(s, StatusCode::OK, "{d}");
    assert!(
        !d["top_features"].as_array().unwrap().is_empty(),
        "an anomaly is explained"
    );

    // Paging by cursor walks the same rows as paging by offset, each once, to the total.
    let mut by_cursor = Vec::new();
    let mut after = String::new();
    let total = loop {
        let (s, page) = api.get(&format!("/api/threats?anomalies=false&limit=40{after}"));
        assert_eq!(s, StatusCode::OK, "{page}");
        let total = page["total"].as_u64().unwrap();
        let rows = page["rows"].as_array().unwrap().clone();
        let (s, same) = api.get(&format!(
            "/api/threats?anomalies=false&limit=40&offset={}",
            by_cursor.len()
        ));
        assert_eq!(s, StatusCode::OK);
        assert_eq!(
            same["rows"].as_array().unwrap(),
            &rows,
            "page at {}",
            by_cursor.len()
        );
        by_cursor.extend(rows);
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => break total,
        }
    };
    assert_eq!(by_cursor.len() as u64, total, "every session once");
    assert_eq!(total, cycle.sessions);
    assert!(
        by_cursor.len() > 80,
        "more than two pages: {}",
        by_cursor.len()
    );

    for (uri, name) in [
        ("/api/threats?after=zz", "parameter after"),
        ("/api/threats?after=0a0a", "parameter after"),
        ("/api/threats?level=SEVERE", "parameter level"),
        ("/api/threats?limit=501", "parameter limit"),
        ("/api/threats?min_score=2", "parameter min_score"),
        (
            "/api/map?k=3",
            "parameter k: expected an integer from 4 to 30",
        ),
        (
            "/api/map?hours=169",
            "parameter hours: expected an integer from 1 to 168",
        ),
        (
            "/api/map?sensitivity=3.5",
            "parameter sensitivity: expected a number from 0.5 to 3",
        ),
        (
            "/api/exports?format=iptables",
            "parameter format: allowed json, csv",
        ),
    ] {
        let (s, v) = api.get(uri);
        assert_eq!(s, StatusCode::BAD_REQUEST, "{uri}");
        assert!(v["error"].as_str().unwrap().starts_with(name), "{uri}: {v}");
    }

    let (s, c) = api.get("/api/campaigns");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        c["campaigns"].as_array().unwrap().len(),
        store.campaigns(None, 100).unwrap().len()
    );
    let (s, h) = api.get("/api/health");
    assert_eq!(s, StatusCode::OK);
    assert_eq!(h["cycles"].as_array().unwrap().len(), 1);
    assert!(h["cycles"][0]["stage_ms"]
        .as_array()
        .is_some_and(|s| !s.is_empty()));
    let hits = |api: &Api| -> u64 {
        let (_, _, text) = api.send(Request::get("/metrics").body(Body::empty()).unwrap());
        text.lines()
            .find_map(|l| l.strip_prefix("shrike_cache_hits_total "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no cache hits in {text}"))
    };
    let before = hits(&api);
    let (s, e) = api.get("/api/exports?format=nginx&min_level=HIGH");
    assert_eq!(s, StatusCode::OK);
    assert!(
        e["text"].as_str().unwrap().contains("deny"),
        "{}",
        e["text"]
    );
    // The same export again is served from the cache, byte for byte.
    let (_, again) = api.get("/api/exports?format=nginx&min_level=HIGH");
    assert_eq!(again, e);
    assert_eq!(hits(&api), before + 1);
    let (s, _, file) = api.send(
        Request::get("/api/exports?format=nginx&min_level=HIGH&download=true")
            .body(Body::empty())
            .unwrap(),
    );
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        e["text_truncated"], false,
        "a small file is previewed whole"
    );
    assert_eq!(file, e["text"].as_str().unwrap());

    let (s, _, text) = api.send(Request::get("/metrics").body(Body::empty()).unwrap());
    assert_eq!(s, StatusCode::OK);
    assert!(
        text.contains(
            "shrike_http_requests_total{route=\"/api/exports\",method=\"GET\",status=\"200\"} 3"
        ),
        "{text}"
    );
    assert!(text.contains(&format!("shrike_cycle_id {}", cycle.id)));
}

/// The overview and the tactics are built before anyone asks (at start and after each
/// cycle): the first requests are cache hits, and no build is left for them.
#[test]
fn a_warmed_cache_answers_the_first_overview_and_tactics() {
    let (_dir, db) = copy_store();
    let clock = Arc::new(FixedClock(Timestamp::from_millis(1_714_550_400_000)));
    let state = AppState::new(ServeSettings::new(db), clock).unwrap();
    let rt = runtime();
    rt.block_on(shrike_server::api::overview::warm(&state))
        .unwrap();
    let router = shrike_server::router(state);
    let get = |uri: &str| {
        rt.block_on(async {
            let res = router
                .clone()
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
                .await
                .unwrap();
            assert_eq!(res.status(), StatusCode::OK, "{uri}");
            let body = axum::body::to_bytes(res.into_body(), 1 << 26)
                .await
                .unwrap();
            String::from_utf8_lossy(&body).to_string()
        })
    };
    let metric = |text: &str, name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    let before = get("/metrics");
    assert!(get("/api/overview").contains("\"kpis\""));
    get("/api/tactics");
    let after = get("/metrics");
    let hits = "shrike_cache_hits_total ";
    let misses = "shrike_cache_misses_total ";
    assert_eq!(metric(&after, hits), metric(&before, hits) + 2);
    assert_eq!(metric(&after, misses), metric(&before, misses));
}

/// `GET /v1/auth` denies exactly what the export would block from the latest cycle (an
/// address, an address of a blocked prefix, a blocked JA4) and allows the rest, a real
/// browser's address included; a request that does not name its client is a 400.
#[test]
fn the_auth_endpoint_denies_what_the_export_blocks_and_allows_the_rest() {
    use shrike_export::{plan, EntryKind, Filters};
    use shrike_types::ThreatLevel;
    let api = Api::new(None);
    let store = api.store();
    let (cycle, _) = store.latest_cycle().unwrap().unwrap();
    let scores = store.cycle_scores(cycle).unwrap();
    let p = plan(&scores, &Filters::default()).unwrap();
    let ask = |ip: Option<&str>, ja4: Option<&str>| {
        let mut b = Request::get("/v1/auth");
        if let Some(ip) = ip {
            b = b.header("x-real-ip", ip);
        }
        if let Some(j) = ja4 {
            b = b.header("x-ja4", j);
        }
        api.rt.block_on(async {
            let res = api
                .router
                .clone()
                .oneshot(b.body(Body::empty()).unwrap())
                .await
                .unwrap();
            let h = |name: &str| {
                res.headers()
                    .get(name)
                    .map(|v| v.to_str().unwrap().to_string())
                    .unwrap_or_default()
            };
            (res.status(), h("x-shrike-match"), h("x-shrike-level"))
        })
    };
    let ips: Vec<_> = p
        .addresses
        .iter()
        .filter(|e| e.kind == EntryKind::Ip)
        .collect();
    assert!(!ips.is_empty(), "the demo cycle blocks no address");
    for e in ips.iter().take(20) {
        assert_eq!(
            ask(Some(&e.value), None),
            (StatusCode::FORBIDDEN, "ip".into(), e.level.as_str().into()),
            "{}",
            e.value
        );
    }
    // An address the cycle never saw, inside a blocked prefix.
    for e in p
        .addresses
        .iter()
        .filter(|e| e.kind == EntryKind::Prefix)
        .take(3)
    {
        let unseen = e.value.replace(".0/24", ".254").replace("::/48", "::fe");
        assert_eq!(
            ask(Some(&unseen), None).0,
            StatusCode::FORBIDDEN,
            "{unseen}"
        );
    }
    // A real browser's address is allowed; an address the cycle never saw is allowed,
    // unless it brings a blocked JA4.
    let browser = scores
        .iter()
        .find(|s| s.threat_level == ThreatLevel::LegitimateBrowser)
        .expect("a legitimate browser in the demo");
    let (status, matched, _) = ask(Some(&browser.key.src_ip.to_string()), None);
    assert_eq!((status, matched.as_str()), (StatusCode::NO_CONTENT, "none"));
    assert_eq!(ask(Some("2001:db8::77"), None).0, StatusCode::NO_CONTENT);
    assert_eq!(
        ask(Some("2001:db8::77"), Some("not a ja4")).0,
        StatusCode::NO_CONTENT
    );
    if let Some(j) = p.ja4s.first() {
        assert_eq!(
            ask(Some("2001:db8::77"), Some(&j.value)),
            (StatusCode::FORBIDDEN, "ja4".into(), j.level.as_str().into())
        );
    }
    let (status, v, _) = api.send(Request::get("/v1/auth").body(Body::empty()).unwrap());
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(v["error"].as_str().unwrap().contains("X-Real-IP"), "{v}");
    assert_eq!(ask(Some("not-an-address"), None).0, StatusCode::BAD_REQUEST);
}

/// The CrowdSec bouncer API: a configured `X-Api-Key` or 403 (even with the dashboard's
/// token, which it does not ask for); the stream gives every blocked address and prefix
/// once at start-up and then only changes; a look-up by address finds its decision, or the
/// prefix that covers it, and `null` for a real browser.
#[test]
fn the_bouncer_api_streams_the_export_as_crowdsec_decisions() {
    use shrike_export::{plan, EntryKind, Filters};
    use shrike_types::ThreatLevel;
    const KEY: &str = "0123456789abcdef0123";
    let api = Api::with(|s| {
        s.token = Some("a-dashboard-token-here".into());
        s.bouncer_keys = vec![KEY.into()];
    });
    let store = api.store();
    let (cycle, _) = store.latest_cycle().unwrap().unwrap();
    let scores = store.cycle_scores(cycle).unwrap();
    let p = plan(&scores, &Filters::default()).unwrap();
    let ask = |uri: &str, key: Option<&str>| {
        let mut b = Request::get(uri);
        if let Some(k) = key {
            b = b.header("x-api-key", k);
        }
        api.send(b.body(Body::empty()).unwrap())
    };
    for key in [None, Some("wrong-key-wrong-key")] {
        let (s, _, _) = ask("/v1/decisions/stream?startup=true", key);
        assert_eq!(s, StatusCode::FORBIDDEN);
        assert_eq!(
            ask("/v1/decisions?ip=192.0.2.1", key).0,
            StatusCode::FORBIDDEN
        );
    }
    let (s, v, _) = ask("/v1/decisions/stream?startup=true", Some(KEY));
    assert_eq!(s, StatusCode::OK, "{v}");
    let new = v["new"].as_array().unwrap();
    let mut got: Vec<(String, String)> = new
        .iter()
        .map(|d| {
            assert_eq!(
                (d["type"].as_str(), d["origin"].as_str()),
                (Some("ban"), Some("shrike"))
            );
            assert!(
                d["scenario"].as_str().unwrap().starts_with("shrike/"),
                "{d}"
            );
            assert_eq!(d["duration"], "4h");
            (
                d["scope"].as_str().unwrap().into(),
                d["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String)> = p
        .addresses
        .iter()
        .map(|e| {
            let scope = if e.kind == EntryKind::Ip {
                "Ip"
            } else {
                "Range"
            };
            (scope.to_string(), e.value.clone())
        })
        .collect();
    want.sort();
    assert!(!want.is_empty());
    assert_eq!(got, want);
    assert_eq!(v["deleted"].as_array().map(Vec::len), Some(0));
    // Nothing changed since: an empty stream; start-up again: everything again.
    let (_, v, _) = ask("/v1/decisions/stream?startup=false", Some(KEY));
    assert_eq!(
        (
            v["new"].as_array().unwrap().len(),
            v["deleted"].as_array().unwrap().len()
        ),
        (0, 0)
    );
    let (_, v, _) = ask("/v1/decisions/stream?startup=true&scopes=ip", Some(KEY));
    let ips = p
        .addresses
        .iter()
        .filter(|e| e.kind == EntryKind::Ip)
        .count();
    assert_eq!(
        v["new"].as_array().unwrap().len(),
        ips,
        "scopes=ip leaves out the ranges"
    );
    assert_eq!(
        ask("/v1/decisions/stream?startup=maybe", Some(KEY)).0,
        StatusCode::BAD_REQUEST
    );

    let ip = p
        .addresses
        .iter()
        .find(|e| e.kind == EntryKind::Ip)
        .unwrap();
    let (s, v, _) = ask(&format!("/v1/decisions?ip={}", ip.value), Some(KEY));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(v[0]["value"], ip.value.as_str(), "{v}");
    if let Some(range) = p.addresses.iter().find(|e| e.kind == EntryKind::Prefix) {
        let inside = range
            .value
            .replace(".0/24", ".254")
            .replace("::/48", "::fe");
        let (_, v, _) = ask(&format!("/v1/decisions?ip={}", enc(&inside)), Some(KEY));
        assert_eq!(v[0]["scope"], "Range", "{inside}: {v}");
    }
    let browser = scores
        .iter()
        .find(|s| s.threat_level == ThreatLevel::LegitimateBrowser)
        .unwrap();
    let (s, _, text) = ask(
        &format!("/v1/decisions?ip={}", enc(&browser.key.src_ip.to_string())),
        Some(KEY),
    );
    assert_eq!((s, text.as_str()), (StatusCode::OK, "null"));
}

#[test]
fn a_store_failure_is_a_500_that_does_not_leak_its_cause() {
    let api = Api::new(None);
    let c = rusqlite::Connection::open(&api.db).unwrap();
    c.execute_batch("DROP VIEW detected_anomalies; DROP TABLE all_scores;")
        .unwrap();
    drop(c);
    let (s, v, text) = api.send(Request::get("/api/threats").body(Body::empty()).unwrap());
    assert_eq!(s, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(v["error"], "internal error; see the server log");
    assert!(
        !text.contains("all_scores") && !text.contains(".db"),
        "{text}"
    );
}

#[test]
fn every_documented_route_exists_and_unknown_routes_say_so() {
    let api = Api::new(None);
    let (s, doc) = api.get("/api/openapi.json");
    assert_eq!(s, StatusCode::OK);
    let paths = doc["paths"].as_object().unwrap();
    assert!(paths.len() >= 19);
    for (path, ops) in paths {
        let uri = path.replace("{id}", "1");
        for method in ops.as_object().unwrap().keys() {
            let req = Request::builder()
                .method(method.to_uppercase().as_str())
                .uri(&uri)
                .header("content-type", "application/json")
                .body(Body::from("{}"))
                .unwrap();
            let (_, v, _) = api.send(req);
            let error = v["error"].as_str().unwrap_or("");
            assert!(
                !error.starts_with("no such route"),
                "{method} {path} is documented but not routed"
            );
        }
    }
    let (s, v) = api.get("/api/nothing");
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(v["error"].as_str().unwrap().contains("openapi"));
}

#[test]
fn feedback_is_validated_stored_listed_and_removed() {
    let api = Api::new(None);
    let post = |body: String| {
        api.send(
            Request::post("/api/feedback")
                .header("content-type", "application/json")
                .body(Body::from(body))
                .unwrap(),
        )
    };
    let (s, v, _) = post(r#"{"label":"maybe","src_ip":"192.0.2.1"}"#.into());
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(v["error"], "field label: allowed bot, human");
    let (s, v, _) = post(r#"{"label":"bot","src_ip":"not an ip"}"#.into());
    assert_eq!(s, StatusCode::BAD_REQUEST, "{v}");
    let (s, _, _) = post(r#"{"label":"bot","src_ip":"192.0.2.1","window_start_ms":1}"#.into());
    assert_eq!(
        s,
        StatusCode::BAD_REQUEST,
        "a partial session key is refused"
    );
    let (s, _, _) = post(format!(
        r#"{{"label":"bot","src_ip":"192.0.2.1","note":"{}"}}"#,
        "x".repeat(8000)
    ));
    assert_eq!(s, StatusCode::PAYLOAD_TOO_LARGE, "bodies are bounded");

    let (s, v, _) = post(
        r#"{"label":"human","src_ip":"192.0.2.1","note":"our office","analyst":"ana"}"#.into(),
    );
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let id = v["id"].as_i64().unwrap();
    let stored = api.store().feedback(Some("192.0.2.1"), 0, 10).unwrap();
    assert_eq!(stored.len(), 1);
    assert_eq!(
        (stored[0].analyst.as_str(), stored[0].note.as_str()),
        ("ana", "our office")
    );
    assert_eq!(
        stored[0].created_at,
        Timestamp::from_millis(1_714_550_400_000),
        "the injected clock"
    );
    let (_, list) = api.get("/api/feedback?ip=192.0.2.1");
    assert_eq!(list["rows"][0]["label"], "human");
    let delete = || {
        api.send(
            Request::delete(format!("/api/feedback/{id}"))
                .body(Body::empty())
                .unwrap(),
        )
        .0
    };
    assert_eq!(delete(), StatusCode::NO_CONTENT);
    assert_eq!(delete(), StatusCode::NOT_FOUND);
}

#[test]
fn a_page_that_rebinds_its_name_to_loopback_is_refused() {
    // Without a token, on loopback: a page on attacker.example whose name now resolves to
    // 127.0.0.1 sends its own Host.
    let api = Api::new(None);
    let with = |host: &str, req: axum::http::request::Builder| {
        api.send(req.header("host", host).body(Body::empty()).unwrap())
    };
    for uri in ["/", "/api/threats?limit=1", "/api/feedback"] {
        let (status, body, _) = with("attacker.example", Request::get(uri));
        assert_eq!(status, StatusCode::MISDIRECTED_REQUEST, "{uri}");
        assert!(
            body["error"]
                .as_str()
                .unwrap_or("")
                .contains("serve.public_names"),
            "{body}"
        );
        assert_eq!(
            with("127.0.0.1:8080", Request::get(uri)).0,
            StatusCode::OK,
            "{uri}"
        );
        assert_eq!(
            with("localhost:8080", Request::get(uri)).0,
            StatusCode::OK,
            "{uri}"
        );
    }
    // Nor can it write: feedback trains the trees.
    let (status, _, _) = with(
        "attacker.example:8080",
        Request::post("/api/feedback").header("content-type", "application/json"),
    );
    assert_eq!(status, StatusCode::MISDIRECTED_REQUEST);
}

#[test]
fn a_token_guards_everything_but_healthz() {
    let token = "s3cret-token-0123456789";
    let api = Api::new(Some(token));
    let with = |auth: Option<&str>, uri: &str| {
        let mut b = Request::get(uri);
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        api.send(b.body(Body::empty()).unwrap()).0
    };
    assert_eq!(with(None, "/healthz"), StatusCode::OK);
    assert_eq!(with(None, "/api/overview"), StatusCode::UNAUTHORIZED);
    assert_eq!(with(None, "/"), StatusCode::UNAUTHORIZED);
    assert_eq!(
        with(Some("Bearer wrong-token-0123456789"), "/api/overview"),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        with(Some(&format!("Bearer {token}")), "/api/overview"),
        StatusCode::OK
    );
    // A browser's Basic credentials, the token as password: "analyst:s3cret-token-0123456789".
    assert_eq!(
        with(
            Some("Basic YW5hbHlzdDpzM2NyZXQtdG9rZW4tMDEyMzQ1Njc4OQ=="),
            "/"
        ),
        StatusCode::OK
    );
    // The server refuses to start beyond loopback without one.
    let out = support::command(Path::new("."))
        .args(["serve", "--listen", "0.0.0.0:0", "--store"])
        .arg(&api.db)
        .env_remove("SHRIKE_API_TOKEN")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("without a token"));
}

#[test]
fn cluster_map_is_computed_in_the_background_cached_and_paginated() {
    let api = Api::new(None);
    let poll = |uri: &str| loop {
        let (s, v) = api.get(uri);
        assert_eq!(s, StatusCode::OK, "{v}");
        if v["status"] == "ready" {
            return v;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    let m = poll("/api/map?k=14");
    assert_eq!(m["stats"]["k"], 14);
    let rows = m["stats"]["n_samples"].as_u64().unwrap();
    let in_nodes: u64 = m["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["row_count"].as_u64().unwrap())
        .sum();
    assert_eq!(in_nodes, rows, "every (IP, JA4) row is in one cluster");
    let (_, status) = api.get("/api/map/status");
    assert_eq!(status["status"], "ready");
    // The same parameters answer from the cache at once.
    let (_, again) = api.get("/api/map?k=14");
    assert_eq!(again["status"], "ready");
    assert_eq!(again["stats"]["elapsed_s"], m["stats"]["elapsed_s"]);
    // Sensitivity multiplies k.
    let fine = poll("/api/map?k=14&sensitivity=2");
    assert_eq!(fine["stats"]["k"], 28);
    let (_, p) = api.get("/api/map/points?limit=100");
    assert_eq!(p["total"].as_u64().unwrap(), rows);
    assert_eq!(p["x"].as_array().unwrap().len(), 100);
    // A client that accepts gzip gets the same points, compressed.
    let zipped = api.rt.block_on(async {
        let req = Request::get("/api/map/points?limit=100")
            .header("accept-encoding", "br;q=1.0, gzip;q=0.8")
            .body(Body::empty())
            .unwrap();
        let res = api.router.clone().oneshot(req).await.unwrap();
        assert_eq!(res.headers()["content-encoding"], "gzip");
        axum::body::to_bytes(res.into_body(), 1 << 26)
            .await
            .unwrap()
    });
    let mut text = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut text)
        .unwrap();
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), p);
    let node = &fine["nodes"][0];
    let (s, ips) = api.get(&format!(
        "/api/map/clusters/{}/ips?limit=5",
        node["id"].as_str().unwrap()
    ));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(ips["total"], node["row_count"]);
    assert!(ips["ips"].as_array().unwrap().len() <= 5);
    let (s, _) = api.get("/api/map/clusters/c999_k28/ips");
    assert_eq!(s, StatusCode::BAD_REQUEST);
}

/// Percent-encodes a query value.
fn enc(v: &str) -> String {
    v.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
