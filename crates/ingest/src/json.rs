//! A strict JSON scanner for the flat objects of shrike JSON Lines.
//!
//! A general JSON library builds a value tree or drives a visitor for every token; a line of
//! shrike JSON Lines is one flat object of scalars plus one array of strings, so this scanner
//! reads it in one forward pass over a line already checked as UTF-8, borrows every string
//! without escapes from the line and decodes the others. It accepts exactly RFC 8259 JSON
//! (a differential test against `serde_json` holds it to that): strict number grammar, no
//! raw control characters in strings, valid `\u` escapes with paired surrogates, nesting
//! bounded by [`MAX_DEPTH`] in values it skips.

use std::borrow::Cow;
use std::fmt;

/// Deepest nesting accepted inside a skipped value (`serde_json` stops at 128 too).
pub const MAX_DEPTH: usize = 128;

/// A syntax error and the byte offset where it was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonError {
    /// What was wrong.
    pub what: &'static str,
    /// Byte offset in the line.
    pub at: usize,
}

impl fmt::Display for JsonError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at byte {}", self.what, self.at)
    }
}

/// A scalar as it appeared in the JSON.
#[derive(Debug, Clone, PartialEq)]
pub enum Scalar<'a> {
    /// A string, borrowed when it had no escapes.
    Str(Cow<'a, str>),
    /// A non-negative integer that fits in u64.
    U(u64),
    /// A negative integer that fits in i64.
    I(i64),
    /// Any other number.
    F(f64),
    /// `true` or `false`.
    B(bool),
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// The first byte at or after `from` that ends the plain run of a string: a quote, a
/// backslash or a control character (below 0x20). Eight bytes at a time: strings here are
/// mostly short (header names, keys), where a SIMD search costs more to set up than it saves.
#[inline]
fn find_special(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while let Some(w) = b.get(i..i + 8) {
        let x = u64::from_le_bytes(w.try_into().unwrap_or([0; 8]));
        let q = x ^ (LO * b'"' as u64);
        let s = x ^ (LO * b'\\' as u64);
        // A zero byte in q or s, or a byte below 0x20 in x. The lowest flagged byte is exact
        // (borrows only propagate upwards), which is the one we want.
        let m = ((q.wrapping_sub(LO) & !q)
            | (s.wrapping_sub(LO) & !s)
            | (x.wrapping_sub(LO * 0x20) & !x))
            & HI;
        if m != 0 {
            return Some(i + (m.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    b[i..]
        .iter()
        .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
        .map(|p| i + p)
}

/// A forward-only cursor over one line.
pub struct Scanner<'a> {
    s: &'a str,
    b: &'a [u8],
    i: usize,
}

type R<T> = Result<T, JsonError>;

impl<'a> Scanner<'a> {
    /// A scanner at the start of `s`.
    pub fn new(s: &'a str) -> Self {
        Scanner {
            s,
            b: s.as_bytes(),
            i: 0,
        }
    }

    fn err<T>(&self, what: &'static str) -> R<T> {
        Err(JsonError { what, at: self.i })
    }

    /// Skips JSON whitespace.
    #[inline]
    pub fn ws(&mut self) {
        while let Some(&c) = self.b.get(self.i) {
            if matches!(c, b' ' | b'\t' | b'\n' | b'\r') {
                self.i += 1;
            } else {
                break;
            }
        }
    }

    /// The next byte after whitespace, not consumed.
    #[inline]
    pub fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.b.get(self.i).copied()
    }

    /// Consumes `c` after whitespace.
    #[inline]
    pub fn expect(&mut self, c: u8, what: &'static str) -> R<()> {
        if self.peek() == Some(c) {
            self.i += 1;
            Ok(())
        } else if self.i >= self.b.len() {
            self.err("unexpected end of line")
        } else {
            self.err(what)
        }
    }

    /// True when only whitespace is left.
    pub fn at_end(&mut self) -> bool {
        self.peek().is_none()
    }

    /// Reads a string; the cursor is on its opening quote.
    pub fn string(&mut self) -> R<Cow<'a, str>> {
        self.expect(b'"', "expected a string")?;
        let start = self.i;
        let Some(end) = find_special(self.b, start) else {
            return self.err("unterminated string");
        };
        self.i = end;
        let n = end - start;
        if self.b[end] < 0x20 {
            return self.err("control character in a string");
        }
        if self.b[end] == b'"' {
            self.i += 1;
            return Ok(Cow::Borrowed(&self.s[start..start + n]));
        }
        let mut out = String::with_capacity(n + 16);
        out.push_str(&self.s[start..end]);
        self.escaped_tail(&mut out)?;
        Ok(Cow::Owned(out))
    }

    /// Decodes from a backslash to the closing quote into `out`.
    fn escaped_tail(&mut self, out: &mut String) -> R<()> {
        loop {
            // The cursor is on a backslash or a quote.
            if self.b[self.i] == b'"' {
                self.i += 1;
                return Ok(());
            }
            self.i += 1;
            let Some(&e) = self.b.get(self.i) else {
                return self.err("unterminated string");
            };
            self.i += 1;
            match e {
                b'"' => out.push('"'),
                b'\\' => out.push('\\'),
                b'/' => out.push('/'),
                b'b' => out.push('\u{8}'),
                b'f' => out.push('\u{c}'),
                b'n' => out.push('\n'),
                b'r' => out.push('\r'),
                b't' => out.push('\t'),
                b'u' => {
                    let hi = self.hex4()?;
                    let c = if (0xD800..0xDC00).contains(&hi) {
                        if self.b.get(self.i) != Some(&b'\\')
                            || self.b.get(self.i + 1) != Some(&b'u')
                        {
                            return self.err("lone leading surrogate in a \\u escape");
                        }
                        self.i += 2;
                        let lo = self.hex4()?;
                        if !(0xDC00..0xE000).contains(&lo) {
                            return self.err("invalid low surrogate in a \\u escape");
                        }
                        0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
                    } else if (0xDC00..0xE000).contains(&hi) {
                        return self.err("lone trailing surrogate in a \\u escape");
                    } else {
                        hi
                    };
                    match char::from_u32(c) {
                        Some(c) => out.push(c),
                        None => return self.err("invalid \\u escape"),
                    }
                }
                _ => {
                    self.i -= 1;
                    return self.err("invalid escape");
                }
            }
            let start = self.i;
            let Some(end) = find_special(self.b, start) else {
                return self.err("unterminated string");
            };
            self.i = end;
            if self.b[end] < 0x20 {
                return self.err("control character in a string");
            }
            out.push_str(&self.s[start..end]);
        }
    }

    fn hex4(&mut self) -> R<u32> {
        let Some(h) = self.b.get(self.i..self.i + 4) else {
            return self.err("truncated \\u escape");
        };
        let mut v = 0u32;
        for &c in h {
            let d = match c {
                b'0'..=b'9' => c - b'0',
                b'a'..=b'f' => c - b'a' + 10,
                b'A'..=b'F' => c - b'A' + 10,
                _ => return self.err("invalid hex digit in a \\u escape"),
            };
            v = v * 16 + d as u32;
        }
        self.i += 4;
        Ok(v)
    }

    fn digits(&mut self) -> usize {
        let start = self.i;
        while self.b.get(self.i).is_some_and(u8::is_ascii_digit) {
            self.i += 1;
        }
        self.i - start
    }

    fn number(&mut self) -> R<Scalar<'a>> {
        let start = self.i;
        let neg = self.b[self.i] == b'-';
        if neg {
            self.i += 1;
        }
        let int_start = self.i;
        let n = self.digits();
        if n == 0 {
            return self.err("invalid number");
        }
        if n > 1 && self.b[int_start] == b'0' {
            self.i = int_start + 1;
            return self.err("leading zero in a number");
        }
        let mut integer = true;
        if self.b.get(self.i) == Some(&b'.') {
            self.i += 1;
            integer = false;
            if self.digits() == 0 {
                return self.err("expected digits after the decimal point");
            }
        }
        if matches!(self.b.get(self.i), Some(b'e' | b'E')) {
            self.i += 1;
            integer = false;
            if matches!(self.b.get(self.i), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return self.err("expected digits in the exponent");
            }
        }
        if integer {
            let mut v: u64 = 0;
            let mut overflow = false;
            for &c in &self.b[int_start..self.i] {
                match v
                    .checked_mul(10)
                    .and_then(|x| x.checked_add((c - b'0') as u64))
                {
                    Some(x) => v = x,
                    None => {
                        overflow = true;
                        break;
                    }
                }
            }
            if !overflow {
                if !neg {
                    return Ok(Scalar::U(v));
                }
                if v <= i64::MAX as u64 + 1 {
                    return Ok(Scalar::I((v as i64).wrapping_neg()));
                }
            }
        }
        match self.s[start..self.i].parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Scalar::F(x)),
            _ => {
                self.i = start;
                self.err("number out of range")
            }
        }
    }

    fn literal(&mut self, word: &'static [u8]) -> R<()> {
        if self.b[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(())
        } else {
            self.err("invalid literal")
        }
    }

    /// Reads a scalar or `null` (`None`); an array or object is an error.
    pub fn scalar(&mut self) -> R<Option<Scalar<'a>>> {
        match self.peek() {
            Some(b'"') => self.string().map(|s| Some(Scalar::Str(s))),
            Some(b'-' | b'0'..=b'9') => self.number().map(Some),
            Some(b't') => self.literal(b"true").map(|_| Some(Scalar::B(true))),
            Some(b'f') => self.literal(b"false").map(|_| Some(Scalar::B(false))),
            Some(b'n') => self.literal(b"null").map(|_| None),
            Some(b'[') => self.err("an array where a scalar was expected"),
            Some(b'{') => self.err("an object where a scalar was expected"),
            Some(_) => self.err("expected a value"),
            None => self.err("unexpected end of line"),
        }
    }

    /// Reads `null` (false) or an array (true), calling `element` with the cursor on each
    /// element; `element` must consume exactly that element.
    pub fn array(&mut self, mut element: impl FnMut(&mut Scanner<'a>) -> R<()>) -> R<bool> {
        match self.peek() {
            Some(b'n') => return self.literal(b"null").map(|_| false),
            Some(b'[') => self.i += 1,
            _ => return self.err("expected an array of strings or null"),
        }
        if self.peek() == Some(b']') {
            self.i += 1;
            return Ok(true);
        }
        loop {
            element(self)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(b']') => {
                    self.i += 1;
                    return Ok(true);
                }
                _ => return self.err("expected `,` or `]`"),
            }
        }
    }

    /// Skips any value, nested up to [`MAX_DEPTH`].
    pub fn skip_value(&mut self) -> R<()> {
        self.skip_at(0)
    }

    fn skip_at(&mut self, depth: usize) -> R<()> {
        let close = match self.peek() {
            Some(b'[') => b']',
            Some(b'{') => b'}',
            _ => return self.scalar().map(|_| ()),
        };
        if depth >= MAX_DEPTH {
            return self.err("nesting too deep");
        }
        self.i += 1;
        if self.peek() == Some(close) {
            self.i += 1;
            return Ok(());
        }
        loop {
            if close == b'}' {
                self.string()?;
                self.expect(b':', "expected `:`")?;
            }
            self.skip_at(depth + 1)?;
            match self.peek() {
                Some(b',') => self.i += 1,
                Some(c) if c == close => {
                    self.i += 1;
                    return Ok(());
                }
                _ => return self.err("expected `,` or a closing bracket"),
            }
        }
    }

    /// Walks a top-level object, calling `field(key, scanner)` with the cursor on each
    /// value; `field` must consume exactly that value.
    pub fn object(&mut self, field: impl FnMut(&str, &mut Scanner<'a>) -> R<()>) -> R<()> {
        self.members(field)?;
        if self.at_end() {
            Ok(())
        } else {
            self.err("trailing characters after the object")
        }
    }

    /// Walks an object nested in a value, like [`Scanner::object`].
    pub fn members(&mut self, mut field: impl FnMut(&str, &mut Scanner<'a>) -> R<()>) -> R<()> {
        self.expect(b'{', "expected a JSON object")?;
        if self.peek() == Some(b'}') {
            self.i += 1;
        } else {
            loop {
                if self.peek() != Some(b'"') {
                    return self.err("expected a key");
                }
                let key = self.string()?;
                self.expect(b':', "expected `:`")?;
                field(&key, self)?;
                match self.peek() {
                    Some(b',') => self.i += 1,
                    Some(b'}') => {
                        self.i += 1;
                        break;
                    }
                    None => return self.err("unexpected end of line"),
                    _ => return self.err("expected `,` or `}`"),
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(s: &str) -> R<Option<Scalar<'_>>> {
        let mut sc = Scanner::new(s);
        let v = sc.scalar()?;
        if sc.at_end() {
            Ok(v)
        } else {
            sc.err("trailing")
        }
    }

    #[test]
    fn numbers_follow_the_json_grammar() {
        assert_eq!(scalar("0"), Ok(Some(Scalar::U(0))));
        assert_eq!(scalar("-12"), Ok(Some(Scalar::I(-12))));
        assert_eq!(
            scalar("18446744073709551615"),
            Ok(Some(Scalar::U(u64::MAX)))
        );
        assert_eq!(
            scalar("-9223372036854775808"),
            Ok(Some(Scalar::I(i64::MIN)))
        );
        assert_eq!(
            scalar("18446744073709551616"),
            Ok(Some(Scalar::F(18446744073709551616.0)))
        );
        assert_eq!(scalar("1.5e3"), Ok(Some(Scalar::F(1500.0))));
        for bad in [
            "01", "-", "1.", ".5", "1e", "+1", "1e400", "NaN", "Infinity", "0x10",
        ] {
            assert!(scalar(bad).is_err(), "{bad} must be rejected");
        }
    }

    #[test]
    fn strings_borrow_unless_escaped_and_decode_surrogates() {
        assert!(matches!(
            scalar(r#""abc""#),
            Ok(Some(Scalar::Str(Cow::Borrowed("abc"))))
        ));
        assert_eq!(
            scalar(r#""a\"b\\c\/d\n\u00e9\ud83d\ude00""#),
            Ok(Some(Scalar::Str(Cow::Owned("a\"b\\c/d\né😀".into()))))
        );
        for bad in [
            r#""abc"#,
            "\"a\tb\"",
            r#""\x""#,
            r#""\ud83d""#,
            r#""\ude00""#,
            r#""\u12""#,
        ] {
            assert!(scalar(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    proptest::proptest! {
        #[test]
        fn find_special_matches_a_byte_loop(
            bytes in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            from in 0usize..40,
        ) {
            let from = from.min(bytes.len());
            let naive = bytes[from..]
                .iter()
                .position(|&c| c == b'"' || c == b'\\' || c < 0x20)
                .map(|p| from + p);
            proptest::prop_assert_eq!(find_special(&bytes, from), naive);
        }
    }

    #[test]
    fn skipping_bounds_depth() {
        let deep = "[".repeat(MAX_DEPTH + 1) + &"]".repeat(MAX_DEPTH + 1);
        assert!(Scanner::new(&deep).skip_value().is_err());
        let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
        assert!(Scanner::new(&ok).skip_value().is_ok());
        assert!(Scanner::new(r#"{"a":[1,{"b":null}],"c":"d"}"#)
            .skip_value()
            .is_ok());
        assert!(Scanner::new(r#"{"a":[1,}"#).skip_value().is_err());
    }
}
