//! `shrike bench pcap`: capture → request records throughput, on a capture read into memory
//! first (so the disk is not measured): a real file, or a generated one shaped like a web
//! server's traffic (TLS connections with bulk responses, HTTP/1 keep-alive connections).

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use anyhow::Context;
use clap::Args;
use shrike_pcap::write::{client_hello_record, PcapWriter, TcpWriter};
use shrike_pcap::{read_capture, Options};
use shrike_types::Rng;

/// Arguments of `shrike bench pcap`.
#[derive(Args)]
pub struct BenchPcapArgs {
    /// A capture to measure instead of the generated one.
    #[arg(long)]
    pub input: Option<PathBuf>,
    /// Size of the generated capture, in MiB.
    #[arg(long, default_value_t = 512)]
    pub mib: usize,
    /// Repetitions (the median is reported).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

/// A capture of `target` bytes: 80% TLS connections (a two-segment ClientHello, a ServerHello,
/// then 4–60 full-size encrypted segments from the server, acknowledged every second one)
/// and 20% HTTP/1 connections (3 keep-alive requests, responses of 2–20 segments).
fn generate(target: usize) -> Vec<u8> {
    let mut rng = Rng::seed_from_u64(4);
    let mut w = PcapWriter::new();
    let mut ts: i64 = 1_763_000_000_000_000;
    let server_hello = {
        let mut body = vec![0x03, 0x03];
        body.extend_from_slice(&[9; 32]);
        body.extend_from_slice(&[0, 0x13, 0x01, 0, 0, 6, 0, 0x2b, 0, 2, 3, 4]);
        let mut rec = vec![22, 3, 3];
        rec.extend_from_slice(&((body.len() + 4) as u16).to_be_bytes());
        rec.extend_from_slice(&[2, 0]);
        rec.extend_from_slice(&(body.len() as u16).to_be_bytes());
        rec.extend_from_slice(&body);
        rec
    };
    let bulk = vec![0x17u8; 1448];
    let mut n: u32 = 0;
    while w.bytes().len() < target {
        n += 1;
        let client = (
            Ipv4Addr::from(0x0a00_0000 | (rng.range(1, 1 << 20) as u32)),
            (1024 + n % 60_000) as u16,
        );
        ts += 500;
        if rng.chance(0.8) {
            let server = (Ipv4Addr::new(198, 51, 100, 10), 443);
            let mut c = TcpWriter::open(&mut w, ts, client, server);
            let hello = client_hello_record(&format!("www{}.example", n % 50), 1800);
            c.client(&mut w, ts + 50_000, &hello[..1448]);
            c.client(&mut w, ts + 50_001, &hello[1448..]);
            c.server(&mut w, ts + 70_000, &server_hello);
            for i in 0..rng.range(4, 60) {
                c.server(&mut w, ts + 80_000 + i as i64, &bulk);
                if i % 2 == 1 {
                    c.client(&mut w, ts + 80_000 + i as i64, &[]);
                }
            }
            c.close(&mut w, ts + 200_000);
        } else {
            let server = (Ipv4Addr::new(198, 51, 100, 20), 80);
            let mut c = TcpWriter::open(&mut w, ts, client, server);
            for k in 0..3 {
                let req = format!(
                    "GET /products/{}?page={k} HTTP/1.1\r\nHost: shop.example\r\nUser-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36\r\nAccept: text/html\r\nAccept-Language: en-US,en;q=0.9\r\nAccept-Encoding: gzip, deflate, br\r\nCookie: sid=abc\r\n\r\n",
                    rng.range(1, 100_000)
                );
                c.client(&mut w, ts + 50_000 + k * 1000, req.as_bytes());
                let segments = rng.range(2, 20) as usize;
                let head = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\n\r\n",
                    segments * 1448
                );
                c.server(&mut w, ts + 60_000 + k * 1000, head.as_bytes());
                for s in 0..segments {
                    c.server(&mut w, ts + 60_001 + k * 1000 + s as i64, &bulk);
                }
            }
            c.close(&mut w, ts + 200_000);
        }
    }
    w.into_bytes()
}

/// `shrike bench pcap`.
pub fn run(a: BenchPcapArgs) -> anyhow::Result<ExitCode> {
    let bytes = match &a.input {
        Some(p) => std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?,
        None => {
            let t = Instant::now();
            let b = generate(a.mib << 20);
            println!(
                "generated a capture of {:.1} MiB in {:.1} s",
                b.len() as f64 / 1048576.0,
                t.elapsed().as_secs_f64()
            );
            b
        }
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..a.runs.max(1) {
        let mut records = 0u64;
        let t = Instant::now();
        let stats = read_capture(&bytes[..], Options::default(), |_| records += 1)?;
        times.push(t.elapsed().as_secs_f64());
        last = Some((stats, records));
    }
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let (stats, records) = last.unwrap_or_default();
    println!(
        "{} packets, {} TCP connections ({} TLS hellos, {} HTTP/1 requests) -> {records} records",
        stats.packets, stats.tcp_connections, stats.tls_hellos, stats.http1_requests
    );
    println!(
        "median of {} runs: {:.3} s = {:.2} GB/s of capture, {:.2} M packets/s (runs: {})",
        times.len(),
        median,
        bytes.len() as f64 / median / 1e9,
        stats.packets as f64 / median / 1e6,
        times
            .iter()
            .map(|t| format!("{t:.3}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    Ok(ExitCode::SUCCESS)
}
