//! shrike's JSON Lines scanner against `serde_json`, the reference: on mutated lines, both
//! must agree on what is JSON, and on the strings they read from it.

use proptest::prelude::*;
use shrike_ingest::{JsonLines, RejectReason, Source};

/// A realistic line with escapes, numbers, booleans, nulls, an array and an unknown nested key.
const BASE: &str = r#"{"time":"2024-05-01T12:00:00.000Z","src_ip":"203.0.113.5","src_port":50000,"host":"shop.example","method":"GET","path":"/a\/b?x=1","status":200,"user_agent":"Mozilla/5.0 (X11; Linux x86_64) \u00e9t\u00e9 \ud83d\ude00","header_names":["user-agent","accept",null],"sec_ch_ua":"\"Chromium\";v=\"131\"","has_cookie":false,"ip_df":true,"syn_ack_ms":23.4e0,"referer":null,"extra":{"a":[1,-2.5,{"b":"c"}],"d":[]},"asn":-0}"#;

/// Bytes a mutation may insert: JSON punctuation, escapes and a few troublemakers.
const ALPHABET: &[u8] = b"{}[]:,\"\\/ \t\nuetrfanl0123456789-+.eE\x01\x7f";

#[derive(Debug, Clone)]
enum Edit {
    Delete(usize),
    Insert(usize, u8),
    Replace(usize, u8),
}

fn apply(line: &str, edits: &[Edit]) -> Vec<u8> {
    let mut b = line.as_bytes().to_vec();
    for e in edits {
        match *e {
            Edit::Delete(i) if !b.is_empty() => {
                b.remove(i % b.len());
            }
            Edit::Insert(i, c) => {
                let at = i % (b.len() + 1);
                b.insert(at, ALPHABET[c as usize % ALPHABET.len()]);
            }
            Edit::Replace(i, c) if !b.is_empty() => {
                let at = i % b.len();
                b[at] = ALPHABET[c as usize % ALPHABET.len()];
            }
            _ => {}
        }
    }
    b
}

fn edit() -> impl Strategy<Value = Edit> {
    prop_oneof![
        any::<usize>().prop_map(Edit::Delete),
        (any::<usize>(), any::<u8>()).prop_map(|(i, c)| Edit::Insert(i, c)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, c)| Edit::Replace(i, c)),
    ]
}

fn check(line: &[u8]) -> Result<(), TestCaseError> {
    let reference = serde_json::from_slice::<serde_json::Value>(line);
    let mut unknown = 0;
    let ours = JsonLines.parse_line(line, &mut unknown);
    let ours_syntax_error = matches!(
        &ours,
        Err(r) if matches!(r.reason, RejectReason::InvalidJson | RejectReason::NotUtf8)
    );
    match &reference {
        Ok(v) if v.is_object() => {
            prop_assert!(
                !ours_syntax_error,
                "serde_json reads {:?} but shrike says {:?}",
                String::from_utf8_lossy(line),
                ours.err()
            );
            if let Ok(rec) = &ours {
                for (key, got) in [
                    ("path", rec.path.as_deref()),
                    ("user_agent", rec.user_agent.as_deref()),
                    ("sec_ch_ua", rec.sec_ch_ua.as_deref()),
                    ("host", rec.host.as_deref()),
                ] {
                    if let Some(serde_json::Value::String(want)) = v.get(key) {
                        prop_assert_eq!(Some(want.as_str()), got, "field {}", key);
                    }
                }
            }
        }
        _ => prop_assert!(
            ours_syntax_error,
            "serde_json rejects {:?} ({:?}) but shrike says {:?}",
            String::from_utf8_lossy(line),
            reference.err(),
            ours.map(|_| "a record")
        ),
    }
    Ok(())
}

#[test]
fn the_base_line_is_valid_and_decoded() {
    let mut unknown = 0;
    let r = JsonLines.parse_line(BASE.as_bytes(), &mut unknown).unwrap();
    assert_eq!(unknown, 1, "`extra` is the one unknown key");
    assert_eq!(r.path.as_deref(), Some("/a/b?x=1"));
    assert_eq!(
        r.user_agent.as_deref(),
        Some("Mozilla/5.0 (X11; Linux x86_64) été 😀")
    );
    assert_eq!(r.sec_ch_ua.as_deref(), Some("\"Chromium\";v=\"131\""));
    assert_eq!(r.header_names.as_ref().map(Vec::len), Some(2));
    assert_eq!(r.asn, Some(0));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn mutated_lines_agree_with_serde_json(edits in proptest::collection::vec(edit(), 1..4)) {
        check(&apply(BASE, &edits))?;
    }

    #[test]
    fn arbitrary_bytes_agree_with_serde_json(
        bytes in proptest::collection::vec(proptest::sample::select(ALPHABET.to_vec()), 0..24)
    ) {
        check(&bytes)?;
    }
}
