//! What the ClickHouse store does with a server that refuses: a malformed batch is kept
//! aside with the server's message (not retried, not lost), a database without shrike's
//! schema is named with the command that creates it, and a batch sent twice under one token
//! is stored once.

mod common;

use std::time::Duration;

use shrike_clickhouse::{migrate, ChError, ChStore, Delivery, PushOptions, Pusher, Retention};

fn pusher(engine: &common::Engine, spool: &std::path::Path) -> Pusher {
    let mut opts = PushOptions::with_spool(spool.to_path_buf());
    opts.retry_for = Duration::from_millis(300);
    opts.backoff_start = Duration::from_millis(20);
    Pusher::new(engine.client(), opts).unwrap()
}

#[test]
fn refused_batches_are_kept_aside_and_tokens_deduplicate() {
    let Some(engine) = common::Engine::start("faults") else {
        return;
    };
    // No schema yet: the error says what to run.
    let e = ChStore::open(engine.url.clone()).unwrap_err();
    assert!(
        matches!(e, ChError::Migration { .. }) && e.to_string().contains("shrike ch migrate"),
        "{e}"
    );
    migrate(&engine.client(), &Retention::default()).unwrap();
    let store = ChStore::open(engine.url.clone()).unwrap();
    let spool = tempfile::tempdir().unwrap();
    let p = pusher(&engine, spool.path());

    // Three bytes are not a RowBinary row of http_logs: refused at once, kept under refused/.
    let d = p.send("bad:1-1", 1, b"\x01\x02\x03").unwrap();
    let Delivery::Refused(why) = d else {
        panic!("{d:?}")
    };
    assert!(why.contains("ClickHouse error"), "{why}");
    let r = p.report();
    assert_eq!((r.retries, r.refused_batches, r.spooled_batches), (0, 1, 0));
    let st = p.spool_status().unwrap();
    assert_eq!((st.pending_batches, st.refused_batches), (0, 1));
    // A replay leaves refused batches alone unless asked, and asked, reports the refusal.
    assert_eq!(p.replay(false).unwrap().refused_batches, 1);
    assert!(p.replay(true).is_err());
    assert_eq!(p.spool_status().unwrap().refused_batches, 1);

    // One valid row, sent twice under one token (a retry whose first insert had landed).
    let rec = shrike_types::RequestRecord {
        time: shrike_types::Timestamp::from_millis(
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64,
        ),
        src_ip: Some("192.0.2.9".parse().unwrap()),
        ..Default::default()
    };
    let mut body = Vec::new();
    assert!(shrike_clickhouse::rowbinary::encode(&mut body, &rec, 1));
    for _ in 0..2 {
        assert_eq!(p.send("good:1-1", 1, &body).unwrap(), Delivery::Sent);
    }
    assert_eq!(store.raw_count().unwrap(), 1);
    // Another token: another batch.
    assert_eq!(p.send("good:2-2", 1, &body).unwrap(), Delivery::Sent);
    assert_eq!(store.raw_count().unwrap(), 2);
}
