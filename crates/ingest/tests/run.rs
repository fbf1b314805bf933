//! The ingest driver on whole inputs: nothing is lost, line numbers are exact.

use std::io::Write;

use shrike_ingest::{run, DeadLetterWriter, IngestOptions, Input, JsonLines, RecordSink};
use shrike_types::RequestRecord;

#[derive(Default)]
struct Collect(Vec<(i64, String)>);
impl RecordSink for Collect {
    fn accept(&mut self, _line: u64, r: &RequestRecord<'_>) {
        self.0
            .push((r.time.millis(), r.path.as_deref().unwrap_or("").to_string()));
    }
}

fn line(i: usize) -> String {
    format!(
        r#"{{"time":{},"src_ip":"198.51.100.{}","path":"/p{i}"}}"#,
        1_714_564_800_000u64 + i as u64,
        i % 250
    )
}

fn ingest(
    path: &std::path::Path,
    chunk: usize,
) -> (shrike_ingest::IngestReport<Collect>, Vec<serde_json::Value>) {
    let dl = path.with_extension("dead.jsonl");
    let _ = std::fs::remove_file(&dl);
    let opts = IngestOptions {
        workers: 2,
        chunk_size: chunk,
        first_line: 1,
    };
    let (report, dead) = run(
        &Input::File(path.into()),
        &JsonLines,
        &opts,
        DeadLetterWriter::to_file(&dl),
        Collect::default,
        &|_| {},
    )
    .unwrap();
    assert_eq!(dead.written(), report.rejects.total());
    let dead_lines = std::fs::read_to_string(&dl)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    (report, dead_lines)
}

#[test]
fn mixed_bad_lines_are_counted_and_dead_lettered_with_exact_line_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in.jsonl");
    let mut text = String::new();
    let mut bad = Vec::new();
    for i in 0..20_000 {
        if i % 997 == 0 {
            bad.push(i + 1);
            text.push_str("{\"time\":\"2024-13-01T00:00:00Z\",\"src_ip\":\"1.2.3.4\"}\n");
        } else if i == 5000 {
            text.push('\n');
        } else {
            text.push_str(&line(i));
            text.push('\n');
        }
    }
    std::fs::write(&p, text).unwrap();
    // Several chunk sizes, including tiny ones, give the same outcome.
    for chunk in [64 * 1024, 1 << 20] {
        let (report, dead) = ingest(&p, chunk);
        assert_eq!(report.blank_lines, 1);
        assert_eq!(report.rejects.get("invalid_timestamp"), bad.len() as u64);
        assert_eq!(report.records, 20_000 - 1 - bad.len() as u64);
        let mut got: Vec<u64> = dead.iter().map(|d| d["line"].as_u64().unwrap()).collect();
        got.sort();
        assert_eq!(got, bad.iter().map(|b| *b as u64).collect::<Vec<_>>());
        assert!(dead[0]["raw"].as_str().unwrap().contains("2024-13-01"));
    }
}

#[test]
fn truncated_gzip_keeps_what_decoded_and_reports_the_cut() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in.jsonl.gz");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    for i in 0..5000 {
        writeln!(gz, "{}", line(i)).unwrap();
    }
    let full = gz.finish().unwrap();
    std::fs::write(&p, &full).unwrap();
    let (report, _) = ingest(&p, 64 * 1024);
    assert_eq!((report.records, report.rejects.total()), (5000, 0));
    std::fs::write(&p, &full[..full.len() * 2 / 3]).unwrap();
    let (report, dead) = ingest(&p, 64 * 1024);
    assert!(
        report.records > 1000 && report.records < 5000,
        "{}",
        report.records
    );
    assert_eq!(report.rejects.get("truncated_input"), 1);
    assert_eq!(dead.len(), 1);
}

#[test]
fn empty_input_and_overlong_lines() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("empty.jsonl");
    std::fs::write(&p, "").unwrap();
    let (report, dead) = ingest(&p, 64 * 1024);
    assert_eq!((report.records, report.lines, dead.len()), (0, 0, 0));
    assert_eq!(report.reject_ratio(), 0.0);

    let p = dir.path().join("long.jsonl");
    let huge = format!(
        r#"{{"time":1714564800000,"src_ip":"1.2.3.4","user_agent":"{}"}}"#,
        "x".repeat(3 << 20)
    );
    std::fs::write(&p, format!("{}\n{huge}\n{}\n", line(1), line(3))).unwrap();
    for chunk in [64 * 1024, 8 << 20] {
        let (report, dead) = ingest(&p, chunk);
        assert_eq!(report.records, 2, "chunk {chunk}");
        assert_eq!(report.rejects.get("line_too_long"), 1);
        assert_eq!(dead[0]["line"].as_u64(), Some(2));
        assert_eq!(dead[0]["raw"].as_str().map(str::len), Some(64 * 1024));
    }
}

#[test]
fn a_byte_range_of_a_gzip_file_that_gained_a_member_reads_only_that_member() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("in.jsonl.gz");
    let member = |range: std::ops::Range<usize>| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for i in range {
            writeln!(gz, "{}", line(i)).unwrap();
        }
        gz.finish().unwrap()
    };
    let first = member(0..100);
    let mut file = first.clone();
    file.extend(member(100..130));
    file.extend_from_slice(b"not yet written"); // beyond `end`: left for a later run
    std::fs::write(&p, &file).unwrap();
    let end = file.len() as u64 - 15;
    let dead = dir.path().join("dead.jsonl");
    let (report, _) = run(
        &Input::FileRange {
            path: p.clone(),
            start: first.len() as u64,
            end,
        },
        &JsonLines,
        &IngestOptions {
            workers: 2,
            first_line: 101,
            ..IngestOptions::default()
        },
        DeadLetterWriter::to_file(&dead),
        Collect::default,
        &|_| {},
    )
    .unwrap();
    assert_eq!(report.records, 30);
    assert_eq!(report.lines, 30);
    assert_eq!(report.rejects.total(), 0);
    let mut paths: Vec<String> = report
        .sinks
        .into_iter()
        .flat_map(|s| s.0)
        .map(|(_, p)| p)
        .collect();
    paths.sort();
    assert_eq!(paths.first().map(String::as_str), Some("/p100"));
    assert_eq!(paths.last().map(String::as_str), Some("/p129"));
}
