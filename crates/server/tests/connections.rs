//! The server on a real socket, under clients that hold connections: a client that sends
//! half a request head and stalls is closed after the header-read timeout, and beyond the
//! connection cap new connections are closed at once, so slow clients cannot take the
//! server from the analysts.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shrike_server::{AppState, ServeSettings};
use shrike_types::SystemClock;

/// Serves an empty store with small limits; returns the address and a stop handle.
fn start(dir: &std::path::Path) -> (SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let db = dir.join("s.db");
    shrike_store::SqliteStore::open(&db).unwrap();
    let mut settings = ServeSettings::new(db);
    settings.max_connections = 2;
    // Long enough that the slow heads still hold their slots while the third connection
    // comes, on a loaded machine too.
    settings.header_read_timeout = Duration::from_secs(2);
    let state = AppState::new(settings, Arc::new(SystemClock)).unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(shrike_server::serve(
            "127.0.0.1:0".parse().unwrap(),
            state,
            |addr| tx.send(addr).unwrap(),
            async {
                let _ = stopped.await;
            },
        ))
        .unwrap();
    });
    (rx.recv().unwrap(), stop)
}

/// Reads until the server closes the connection or `within` passes; returns whether it
/// closed, and what it sent.
fn closed_within(s: &mut TcpStream, within: Duration) -> (bool, String) {
    s.set_read_timeout(Some(within)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (true, String::from_utf8_lossy(&got).into()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {
                return (true, String::from_utf8_lossy(&got).into())
            }
            Err(_) => return (false, String::from_utf8_lossy(&got).into()),
        }
    }
}

fn healthz(addr: SocketAddr) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
        .unwrap();
    closed_within(&mut s, Duration::from_secs(10)).1
}

#[test]
fn slow_clients_are_closed_and_cannot_take_every_slot() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, stop) = start(dir.path());
    assert!(healthz(addr).starts_with("HTTP/1.1 200"));

    // Two clients send half a head and stall: they hold both slots. The healthz connection
    // above frees its slot a moment after its client has seen the end of the answer, so a
    // slow client that came in that moment was refused: it is replaced until both hold.
    let mut slow: Vec<TcpStream> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while slow.len() < 2 {
        assert!(
            Instant::now() < deadline,
            "the slow clients never held both slots"
        );
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ")
            .unwrap();
        let (closed, _) = closed_within(&mut s, Duration::from_millis(200));
        if !closed {
            slow.push(s);
        }
    }
    // ...so a third connection is closed at once, without an answer.
    let mut third = TcpStream::connect(addr).unwrap();
    let _ = third.write_all(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    let (closed, answer) = closed_within(&mut third, Duration::from_secs(5));
    assert!(closed && answer.is_empty(), "{answer}");
    // The stalled heads time out (2 s) and their connections close...
    let started = Instant::now();
    for s in &mut slow {
        let (closed, _) = closed_within(s, Duration::from_secs(10));
        assert!(closed, "a stalled head kept its connection");
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    // ...and the server answers again.
    assert!(healthz(addr).starts_with("HTTP/1.1 200"));
    let _ = stop.send(());
}
