//! UTC timestamps with millisecond precision and strict parsing.
//!
//! Parsing is hand-written because it sits on the ingest hot path (one call per record) and
//! because "impossible" must be rejected, not normalised: 2024-02-30, hour 24, month 13 and
//! anything outside [`Timestamp::MIN_VALID`, `Timestamp::MAX_VALID`] are errors.

use std::fmt;

/// One hour in milliseconds: the session window length.
pub const HOUR_MS: i64 = 3_600_000;

/// Milliseconds since 1970-01-01T00:00:00Z.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Default,
    serde::Serialize,
    serde::Deserialize,
)]
pub struct Timestamp(i64);

/// Why a timestamp was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    /// The text is not in a supported layout.
    #[error("unrecognised timestamp layout (expected RFC 3339 or epoch milliseconds)")]
    Syntax,
    /// A calendar field is out of range (month 13, February 30, hour 24...).
    #[error("impossible date or time: {0}")]
    Impossible(&'static str),
    /// A well-formed instant outside the accepted range.
    #[error("timestamp outside 1990-01-01..2100-01-01 (epoch milliseconds expected for numbers)")]
    OutOfRange,
}

fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    // Howard Hinnant's algorithm.
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m as i64 + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn digits(b: &[u8]) -> Option<u32> {
    if b.is_empty() || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0u32, |a, c| a * 10 + (c - b'0') as u32))
}

fn check_civil(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32) -> Result<(), TimestampError> {
    if !(1..=12).contains(&mo) {
        return Err(TimestampError::Impossible("month"));
    }
    if d == 0 || d > days_in_month(y, mo) {
        return Err(TimestampError::Impossible("day of month"));
    }
    if h > 23 {
        return Err(TimestampError::Impossible("hour"));
    }
    if mi > 59 {
        return Err(TimestampError::Impossible("minute"));
    }
    // 60 is a leap second; it is folded into the next minute like most producers do.
    if s > 60 {
        return Err(TimestampError::Impossible("second"));
    }
    Ok(())
}

impl Timestamp {
    /// 1990-01-01T00:00:00Z: anything earlier is a producer error.
    pub const MIN_VALID: Timestamp = Timestamp(631_152_000_000);
    /// 2100-01-01T00:00:00Z.
    pub const MAX_VALID: Timestamp = Timestamp(4_102_444_800_000);

    /// From milliseconds since the epoch, unchecked.
    pub const fn from_millis(ms: i64) -> Self {
        Timestamp(ms)
    }

    /// Milliseconds since the epoch.
    pub const fn millis(self) -> i64 {
        self.0
    }

    /// Whole seconds since the epoch (floor), as ClickHouse's `DateTime` stores them.
    pub const fn unix_seconds(self) -> i64 {
        self.0.div_euclid(1000)
    }

    /// From epoch milliseconds, refusing instants outside the valid range.
    pub fn from_epoch_millis_checked(ms: i64) -> Result<Self, TimestampError> {
        let t = Timestamp(ms);
        if t < Self::MIN_VALID || t >= Self::MAX_VALID {
            return Err(TimestampError::OutOfRange);
        }
        Ok(t)
    }

    /// From a calendar date and time in UTC.
    pub fn from_civil(
        y: i64,
        mo: u32,
        d: u32,
        h: u32,
        mi: u32,
        s: u32,
        ms: u32,
    ) -> Result<Self, TimestampError> {
        check_civil(y, mo, d, h, mi, s)?;
        let days = days_from_civil(y, mo, d);
        let secs = days * 86_400 + h as i64 * 3600 + mi as i64 * 60 + s as i64;
        Self::from_epoch_millis_checked(secs * 1000 + ms as i64)
    }

    /// The start of the hour that contains this instant (the session window).
    pub const fn hour_start(self) -> Timestamp {
        Timestamp(self.0 - self.0.rem_euclid(HOUR_MS))
    }

    /// Parses RFC 3339 (`2024-05-01T12:00:00Z`, `...12:00:00.123+02:00`; a space instead of
    /// `T` and a missing offset, read as UTC, are accepted as common producer variants).
    pub fn parse_rfc3339(s: &str) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || b[13] != b':' || b[16] != b':' {
            return Err(TimestampError::Syntax);
        }
        if !matches!(b[10], b'T' | b't' | b' ') {
            return Err(TimestampError::Syntax);
        }
        let y = digits(&b[0..4]).ok_or(TimestampError::Syntax)? as i64;
        let mo = digits(&b[5..7]).ok_or(TimestampError::Syntax)?;
        let d = digits(&b[8..10]).ok_or(TimestampError::Syntax)?;
        let h = digits(&b[11..13]).ok_or(TimestampError::Syntax)?;
        let mi = digits(&b[14..16]).ok_or(TimestampError::Syntax)?;
        let sec = digits(&b[17..19]).ok_or(TimestampError::Syntax)?;
        let mut i = 19;
        let mut ms = 0u32;
        if i < b.len() && b[i] == b'.' {
            let start = i + 1;
            i = start;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let frac = &b[start..i];
            if frac.is_empty() {
                return Err(TimestampError::Syntax);
            }
            for (k, c) in frac.iter().take(3).enumerate() {
                ms += (c - b'0') as u32 * [100, 10, 1][k];
            }
        }
        let offset_min: i64 = match b.get(i) {
            None => 0,
            Some(b'Z' | b'z') if i + 1 == b.len() => 0,
            Some(&sign @ (b'+' | b'-')) => {
                let rest = &b[i + 1..];
                let (oh, om) = match rest.len() {
                    5 if rest[2] == b':' => (digits(&rest[0..2]), digits(&rest[3..5])),
                    4 => (digits(&rest[0..2]), digits(&rest[2..4])),
                    2 => (digits(rest), Some(0)),
                    _ => (None, None),
                };
                let (oh, om) = (
                    oh.ok_or(TimestampError::Syntax)?,
                    om.ok_or(TimestampError::Syntax)?,
                );
                if oh > 23 || om > 59 {
                    return Err(TimestampError::Impossible("UTC offset"));
                }
                let m = (oh * 60 + om) as i64;
                if sign == b'-' {
                    -m
                } else {
                    m
                }
            }
            _ => return Err(TimestampError::Syntax),
        };
        let t = Self::from_civil(y, mo, d, h, mi, sec, ms)?;
        Self::from_epoch_millis_checked(t.0 - offset_min * 60_000)
    }

    /// Parses the common log format time `10/Oct/2000:13:55:36 -0700` (brackets stripped).
    pub fn parse_clf(s: &str) -> Result<Self, TimestampError> {
        let b = s.as_bytes();
        if b.len() != 26 || b[2] != b'/' || b[6] != b'/' || b[11] != b':' || b[20] != b' ' {
            return Err(TimestampError::Syntax);
        }
        let d = digits(&b[0..2]).ok_or(TimestampError::Syntax)?;
        const MONTHS: [&[u8]; 12] = [
            b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
            b"Dec",
        ];
        let mo = MONTHS
            .iter()
            .position(|m| m.eq_ignore_ascii_case(&b[3..6]))
            .ok_or(TimestampError::Impossible("month"))? as u32
            + 1;
        let y = digits(&b[7..11]).ok_or(TimestampError::Syntax)? as i64;
        let h = digits(&b[12..14]).ok_or(TimestampError::Syntax)?;
        let mi = digits(&b[15..17]).ok_or(TimestampError::Syntax)?;
        let sec = digits(&b[18..20]).ok_or(TimestampError::Syntax)?;
        let sign = b[21];
        let oh = digits(&b[22..24]).ok_or(TimestampError::Syntax)?;
        let om = digits(&b[24..26]).ok_or(TimestampError::Syntax)?;
        if !matches!(sign, b'+' | b'-') || oh > 23 || om > 59 {
            return Err(TimestampError::Syntax);
        }
        let off = (oh * 60 + om) as i64 * if sign == b'-' { -1 } else { 1 };
        let t = Self::from_civil(y, mo, d, h, mi, sec, 0)?;
        Self::from_epoch_millis_checked(t.0 - off * 60_000)
    }

    /// Adds milliseconds.
    pub const fn add_millis(self, ms: i64) -> Timestamp {
        Timestamp(self.0 + ms)
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 in UTC with milliseconds: `2024-05-01T12:00:00.000Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(86_400_000);
        let rem = self.0.rem_euclid(86_400_000);
        let (y, m, d) = civil_from_days(days);
        let (h, mi, s, ms) = (
            rem / 3_600_000,
            rem / 60_000 % 60,
            rem / 1000 % 60,
            rem % 1000,
        );
        write!(f, "{y:04}-{m:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{ms:03}Z")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_rfc3339_variants() {
        let z = Timestamp::parse_rfc3339("2024-05-01T12:00:00Z").unwrap();
        assert_eq!(z.millis(), 1_714_564_800_000);
        let off = Timestamp::parse_rfc3339("2024-05-01T14:00:00.250+02:00").unwrap();
        assert_eq!(off.millis(), 1_714_564_800_250);
        let space = Timestamp::parse_rfc3339("2024-05-01 12:00:00").unwrap();
        assert_eq!(space, z);
        assert_eq!(z.to_string(), "2024-05-01T12:00:00.000Z");
    }

    #[test]
    fn refuses_impossible_dates() {
        for bad in [
            "2023-02-29T00:00:00Z",
            "2024-13-01T00:00:00Z",
            "2024-04-31T00:00:00Z",
            "2024-01-01T24:00:00Z",
            "2024-01-01T00:60:00Z",
            "1969-12-31T23:59:59Z",
            "2150-01-01T00:00:00Z",
            "2024-01-01T00:00:00+25:00",
            "yesterday",
        ] {
            assert!(Timestamp::parse_rfc3339(bad).is_err(), "{bad} accepted");
        }
        assert!(Timestamp::parse_rfc3339("2024-02-29T00:00:00Z").is_ok());
    }

    #[test]
    fn parses_common_log_format() {
        let t = Timestamp::parse_clf("10/Oct/2000:13:55:36 -0700").unwrap();
        assert_eq!(t, Timestamp::parse_rfc3339("2000-10-10T20:55:36Z").unwrap());
        assert!(Timestamp::parse_clf("32/Oct/2000:13:55:36 -0700").is_err());
        assert!(Timestamp::parse_clf("10/Foo/2000:13:55:36 -0700").is_err());
    }

    #[test]
    fn epoch_range_is_enforced() {
        assert!(
            Timestamp::from_epoch_millis_checked(1_700_000_000).is_err(),
            "seconds"
        );
        assert!(Timestamp::from_epoch_millis_checked(1_700_000_000_000).is_ok());
    }

    proptest! {
        #[test]
        fn display_then_parse_round_trips(ms in 631_152_000_000i64..4_102_444_799_999) {
            let t = Timestamp::from_millis(ms);
            prop_assert_eq!(Timestamp::parse_rfc3339(&t.to_string()).unwrap(), t);
            prop_assert!(t.hour_start() <= t && t.millis() - t.hour_start().millis() < HOUR_MS);
        }
    }
}
