//! A small RFC 4180 reader for shrike's dictionary files: `#` comments, blank lines, one
//! optional header line (recognised by its first field), double-quoted fields with `""`.

/// A malformed dictionary line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {why}")]
pub struct CsvError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong.
    pub why: String,
}

/// Splits one CSV line into fields.
pub fn split_line(line: &str, line_no: usize) -> Result<Vec<String>, CsvError> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut quoted = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            (true, '"') => quoted = false,
            (true, c) => cur.push(c),
            (false, '"') if cur.trim().is_empty() && !was_quoted => {
                cur.clear();
                quoted = true;
                was_quoted = true;
            }
            (false, ',') => {
                fields.push(if was_quoted {
                    std::mem::take(&mut cur)
                } else {
                    cur.trim().to_string()
                });
                cur.clear();
                was_quoted = false;
            }
            // Spaces between a closing quote and the comma are not part of the value.
            (false, c) if was_quoted && c.is_whitespace() => {}
            (false, c) => cur.push(c),
        }
    }
    if quoted {
        return Err(CsvError {
            line: line_no,
            why: "unterminated quoted field".into(),
        });
    }
    fields.push(if was_quoted {
        cur
    } else {
        cur.trim().to_string()
    });
    Ok(fields)
}

/// Iterates over the data rows of a file: `(line number, fields)`, skipping comments, blank
/// lines and a header whose first field equals `header`.
pub fn rows<'a>(
    text: &'a str,
    header: &'a str,
    min_fields: usize,
) -> impl Iterator<Item = Result<(usize, Vec<String>), CsvError>> + 'a {
    text.lines().enumerate().filter_map(move |(i, raw)| {
        let line = raw.trim_end_matches('\r');
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            return None;
        }
        let n = i + 1;
        match split_line(line, n) {
            Ok(f) if f[0].eq_ignore_ascii_case(header) => None,
            Ok(f) if f.len() < min_fields => Some(Err(CsvError {
                line: n,
                why: format!("expected at least {min_fields} fields, found {}", f.len()),
            })),
            Ok(f) => Some(Ok((n, f))),
            Err(e) => Some(Err(e)),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoted_fields_and_comments() {
        assert_eq!(
            split_line(r#"a, "b,c" ,"d""e""#, 1).unwrap(),
            vec!["a", "b,c", "d\"e"]
        );
        let text = "# comment\ncidr,bot\n\n1.2.3.0/24,Googlebot\n";
        let r: Vec<_> = rows(text, "cidr", 2).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            r,
            vec![(4, vec!["1.2.3.0/24".to_string(), "Googlebot".to_string()])]
        );
        assert!(split_line("\"open", 3).is_err());
    }
}
