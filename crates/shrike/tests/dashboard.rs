//! The SOC dashboard end to end in a real headless Chromium against `shrike serve` on a
//! demo store: every page, the data shown against the store, the sensitivity slider,
//! feedback buttons, and attacker strings rendered as text, with screenshots in
//! `target/screenshots/`.

mod demo_store;
mod support;
mod webdriver;

use demo_store::{copy_store, EVIL_HOST, EVIL_UA};
use support::Server;

use std::path::PathBuf;
use std::process::Command;

use shrike_store::{DashboardStore, SqliteStore, ThreatFilter, VerdictStore};

fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[test]
fn dashboard_in_a_real_browser() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let _ = Command::new(root.join("scripts/install-chromium.sh")).status();
    let Some(b) = webdriver::Browser::start() else {
        return;
    };
    let (_dir, db) = copy_store();
    let server = Server::start(db.to_str().unwrap(), db.parent().unwrap());
    let shots = root.join("target/screenshots");
    let store = SqliteStore::open(&db).unwrap();
    let cycle = store.cycle_summaries(1).unwrap().pop().unwrap();
    let open = |page: &str| {
        b.goto(&format!("{}/#/{page}", server.url));
        b.wait(
            &format!("const p = document.getElementById('page'); return p.dataset.page === '{page}' && p.dataset.ready === 'true';"),
            page,
        );
        let errors =
            b.eval("return [...document.querySelectorAll('.error')].map(e => e.textContent);");
        assert_eq!(errors, serde_json::json!([]), "{page} shows errors");
    };
    let text = |css: &str| {
        b.eval(&format!(
            "return document.querySelector({css:?}).textContent;"
        ))
    };

    open("overview");
    assert_eq!(text("[data-value=sessions]"), thousands(cycle.sessions));
    assert_eq!(text("[data-value=anomalies]"), thousands(cycle.anomalies));
    b.screenshot(&shots.join("overview.png"));

    open("threats");
    assert_eq!(
        b.eval("return Number(document.getElementById('threats-total').dataset.total);"),
        cycle.anomalies
    );
    // The poisoned session is the most anomalous: the first row. Its host is text.
    assert_eq!(text("#threats-table tbody tr td:nth-child(5)"), EVIL_HOST);
    // At 1400 px, addresses and hosts are never broken across lines and a JA4 only between
    // its three parts; the evidence column is a headline, not the whole reason.
    let lines = |css: &str| {
        b.eval(&format!(
            "return [...document.querySelectorAll({css:?})].map(td => {{ const r = document.createRange(); r.selectNodeContents(td); return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }});"
        ))
    };
    let one_line = lines("#threats-table td.addr, #threats-table td.host");
    let counts: Vec<u64> = one_line
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(
        counts.len() >= 20 && counts.iter().all(|n| *n == 1),
        "{counts:?}"
    );
    let ja4: Vec<u64> = lines("#threats-table td.ja4")
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    assert!(ja4.iter().all(|n| *n <= 3), "{ja4:?}");
    assert_eq!(
        b.eval("return [...document.querySelectorAll('#threats-table td.evidence')].every(td => td.textContent.length > 0 && td.textContent.length < 300);"),
        true
    );
    assert_eq!(
        b.eval("const t = document.querySelector('#threats-table table'); return t.getBoundingClientRect().right <= document.getElementById('threats-table').getBoundingClientRect().right + 1;"),
        true,
        "the table runs past its panel"
    );
    b.screenshot(&shots.join("threats-table.png"));
    b.click("#threats-table tbody tr");
    b.wait(
        "return !!document.getElementById('detail-ua');",
        "the explanation",
    );
    assert_eq!(text("#detail-ua"), EVIL_UA);
    // The headline leads; the statistics wait behind a click.
    assert!(!text("#detail-headline").as_str().unwrap().is_empty());
    assert_eq!(
        b.eval("return document.getElementById('detail-statistics').open;"),
        false
    );
    assert_eq!(text("#detail-host"), EVIL_HOST);
    assert!(!b.alert_open(), "an attacker string ran as script");
    assert_eq!(b.eval("return window.__xss === undefined && document.querySelectorAll('#page img, #page svg, #page script').length === 0;"), true);
    assert!(
        b.eval("return document.querySelectorAll('#contributions tr').length;")
            .as_u64()
            .unwrap()
            > 0
    );
    b.screenshot(&shots.join("threats.png"));
    b.click("#feedback-bot");
    b.wait(
        "return document.getElementById('feedback-status').textContent.startsWith('Saved: bot');",
        "the feedback",
    );
    let (_, top) = store
        .threats(
            cycle.id,
            &ThreatFilter {
                anomalies_only: true,
                limit: 1,
                ..ThreatFilter::default()
            },
        )
        .unwrap();
    let fb = store
        .feedback(Some(&top[0].score.key.src_ip.to_string()), 0, 10)
        .unwrap();
    assert_eq!(fb.len(), 1, "the button wrote the feedback table");
    assert_eq!(fb[0].session.as_ref().unwrap().host, EVIL_HOST);

    open("map");
    b.wait(
        "return document.getElementById('map-canvas').dataset.state === 'ready';",
        "the map",
    );
    assert_eq!(
        b.eval("return document.getElementById('map-canvas').dataset.k;"),
        "14"
    );
    b.wait(
        "return Number(document.getElementById('map-canvas').dataset.drawn) > 0;",
        "the points",
    );
    b.screenshot(&shots.join("map.png"));
    // Move the slider four steps (0.25 each) with the keyboard: 1.0 → 2.0, k 14 → 28.
    b.keys("#sensitivity", "\u{E014}\u{E014}\u{E014}\u{E014}");
    b.wait("return document.getElementById('map-canvas').dataset.k === '28' && document.getElementById('map-canvas').dataset.state === 'ready';", "the map at sensitivity 2");
    assert_eq!(text("#sensitivity-label"), "Very fine");
    b.click("#map-clusters tbody tr");
    b.wait(
        "return document.querySelectorAll('#cluster-ips tbody tr').length > 0;",
        "a cluster's addresses",
    );
    b.screenshot(&shots.join("map-fine.png"));

    open("tactics");
    assert_eq!(
        b.eval("return document.querySelectorAll('[data-kpi]').length;"),
        4
    );
    assert_eq!(
        b.eval("return document.querySelectorAll('#page section.panel').length;"),
        4
    );
    b.screenshot(&shots.join("tactics.png"));

    open("fleets");
    let campaigns = store.campaigns(None, 100).unwrap().len();
    assert_eq!(
        b.eval("return document.querySelectorAll('#campaigns tbody tr').length;"),
        campaigns
    );
    b.screenshot(&shots.join("fleets.png"));

    open("health");
    let (decisions, _) = store.decisions(None, 0, 1).unwrap();
    assert_eq!(
        b.eval("return Number(document.getElementById('decisions').dataset.total);"),
        decisions
    );
    // Under `shrike serve` the service panel says no service runs.
    assert!(text("#service")
        .as_str()
        .unwrap()
        .contains("Not running as a service"));
    b.screenshot(&shots.join("health.png"));

    open("exports");
    assert!(text("#export-summary")
        .as_str()
        .unwrap()
        .starts_with(&format!("Cycle {}:", cycle.id)));
    b.screenshot(&shots.join("exports.png"));
    assert!(!b.alert_open());
}
