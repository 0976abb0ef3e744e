//! Syntax checks for the typed values of the envelope, per dialect, and timestamp formatting
//! for the messages the gateway writes.

use super::dialect::Dialect;

/// XML white space (XML 1.0 §2.3 `S`).
pub(crate) fn is_xml_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The value with XML white space removed at both ends: the whitespace facet `collapse` of
/// tokens, URIs, booleans, numbers and dates (XML Schema Part 2 §4.3.6), for single tokens.
pub(crate) fn collapse(s: &str) -> &str {
    s.trim_matches(is_xml_space)
}

/// A message id or in-response-to value, per dialect (DIALECTS.md §4).
pub(crate) fn valid_message_id(dialect: Dialect, value: &str) -> Result<(), &'static str> {
    let v = collapse(value);
    if v.is_empty() {
        return Err("is empty");
    }
    if v.chars().any(|c| c.is_control()) {
        return Err("contains control characters");
    }
    match dialect {
        // Draft 1 XML Binding §2.2.2: a GUID, other characters allowed and ignored; MITRE's own
        // examples break the 32-digit rule (DIGEST §12 #11), so only require one hex digit.
        Dialect::Draft1 if !v.bytes().any(|b| b.is_ascii_hexdigit()) => Err("holds no hex digit"),
        Dialect::Draft1 => Ok(()),
        // 1.0 Services §3.1.1: an unsigned integer, `[0-9]+` in the XSD.
        Dialect::V10 if !v.bytes().all(|b| b.is_ascii_digit()) => Err("is not a decimal number"),
        Dialect::V10 => Ok(()),
        // 1.1 XML Binding §2.2.3: xs:anyURI.
        Dialect::V11 if v.chars().any(is_xml_space) => Err("contains white space"),
        Dialect::V11 => Ok(()),
    }
}

pub(crate) fn valid_boolean(value: &str) -> bool {
    matches!(collapse(value), "true" | "false" | "1" | "0")
}

pub(crate) fn valid_integer(value: &str) -> bool {
    let v = collapse(value);
    let v = v.strip_prefix('+').unwrap_or(v);
    !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit())
}

/// A timestamp. 1.0/1.1: RFC 3339 with a time zone and at most 6 fractional digits (1.0 XML
/// Binding §2.2.2, 1.1 XML Binding §2.2.1). Draft 1: xs:dateTime, zone optional, any number
/// of fractional digits (Draft 1 XML Binding §2.2.4).
pub(crate) fn valid_timestamp(dialect: Dialect, value: &str) -> Result<(), &'static str> {
    let v = collapse(value).as_bytes();
    let strict = dialect != Dialect::Draft1;
    let mut i = 0;
    if !strict && v.first() == Some(&b'-') {
        i = 1;
    }
    let year_digits = v[i..].iter().take_while(|b| b.is_ascii_digit()).count();
    if year_digits < 4 || (strict && year_digits != 4) {
        return Err("has no four-digit year");
    }
    i += year_digits;
    let two = |at: usize| -> Option<u32> {
        match (v.get(at), v.get(at + 1)) {
            (Some(a @ b'0'..=b'9'), Some(b @ b'0'..=b'9')) => {
                Some(u32::from(a - b'0') * 10 + u32::from(b - b'0'))
            }
            _ => None,
        }
    };
    let expect = |at: usize, c: u8| v.get(at) == Some(&c);
    if !expect(i, b'-')
        || !expect(i + 3, b'-')
        || !(expect(i + 6, b'T') || (strict && expect(i + 6, b't')))
    {
        return Err("is not a date-time");
    }
    let (Some(month), Some(day), Some(hour), Some(minute), Some(second)) =
        (two(i + 1), two(i + 4), two(i + 7), two(i + 10), two(i + 13))
    else {
        return Err("is not a date-time");
    };
    if !expect(i + 9, b':') || !expect(i + 12, b':') {
        return Err("is not a date-time");
    }
    if !(1..=12).contains(&month) || day == 0 || day > 31 || hour > 24 || minute > 59 || second > 60
    {
        return Err("has a field out of range");
    }
    i += 15;
    if expect(i, b'.') {
        let digits = v[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return Err("has an empty fraction");
        }
        if strict && digits > 6 {
            return Err("has more than 6 fractional digits");
        }
        i += 1 + digits;
    }
    match &v[i..] {
        [] if strict => Err("has no time zone"),
        [] => Ok(()),
        [b'Z'] => Ok(()),
        [b'z'] if strict => Ok(()),
        [sign, ..] if matches!(sign, b'+' | b'-') && v.len() == i + 6 && expect(i + 3, b':') => {
            match (two(i + 1), two(i + 4)) {
                (Some(h), Some(m)) if h <= 14 && m <= 59 => Ok(()),
                _ => Err("has an invalid time zone"),
            }
        }
        _ => Err("has trailing characters"),
    }
}

/// A timestamp that [`valid_timestamp`] accepts, as seconds since the Unix epoch (the fraction
/// dropped), and whether it named its time zone. A zone-less Draft 1 timestamp is read as UTC;
/// the caller decides what the missing zone means for it. `None` for anything else, and for
/// years beyond ±999,999,999.
pub(crate) fn timestamp_unix(value: &str) -> Option<(i64, bool)> {
    let v = collapse(value).as_bytes();
    let (negative, v) = match v.strip_prefix(b"-") {
        Some(rest) => (true, rest),
        None => (false, v),
    };
    let year_digits = v.iter().take_while(|b| b.is_ascii_digit()).count();
    if !(4..=9).contains(&year_digits) {
        return None;
    }
    let number = |digits: &[u8]| -> Option<i64> {
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return None;
        }
        Some(
            digits
                .iter()
                .fold(0i64, |n, d| n * 10 + i64::from(d - b'0')),
        )
    };
    let year = number(&v[..year_digits])? * if negative { -1 } else { 1 };
    let rest = &v[year_digits..];
    // -MM-DDThh:mm:ss
    if rest.len() < 15
        || rest[0] != b'-'
        || rest[3] != b'-'
        || !matches!(rest[6], b'T' | b't')
        || rest[9] != b':'
        || rest[12] != b':'
    {
        return None;
    }
    let month = number(&rest[1..3])?;
    let day = number(&rest[4..6])?;
    let hour = number(&rest[7..9])?;
    let minute = number(&rest[10..12])?;
    let second = number(&rest[13..15])?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 24 || minute > 59 {
        return None;
    }
    let mut rest = &rest[15..];
    if let Some(fraction) = rest.strip_prefix(b".") {
        let digits = fraction.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        rest = &fraction[digits..];
    }
    let (offset, zoned) = match rest {
        [] => (0, false),
        [b'Z' | b'z'] => (0, true),
        [sign @ (b'+' | b'-'), h1, h2, b':', m1, m2] => {
            let minutes = number(&[*h1, *h2])? * 60 + number(&[*m1, *m2])?;
            (if *sign == b'+' { minutes } else { -minutes } * 60, true)
        }
        _ => return None,
    };
    // Howard Hinnant's days_from_civil.
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((
        days * 86_400 + hour * 3_600 + minute * 60 + second - offset,
        zoned,
    ))
}

/// Formats seconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (RFC 3339, UTC).
pub fn format_rfc3339(unix_seconds: u64) -> String {
    let days = unix_seconds / 86_400;
    let secs = unix_seconds % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_per_dialect() {
        let ok_everywhere = [
            "2014-05-08T00:00:00Z",
            "2014-05-08T00:00:00.5+01:00",
            "2026-12-04T19:37:06.241347+00:00",
        ];
        for d in Dialect::ALL {
            for t in ok_everywhere {
                assert_eq!(valid_timestamp(d, t), Ok(()), "{d} {t}");
            }
        }
        // Zone-less and 7 fractional digits: Draft 1 only (fixture bad/timestamp-without-timezone).
        for t in [
            "2014-05-08T00:00:00",
            "2014-05-08T00:00:00.1234567Z",
            "2014-05-08T00:00:00.1234567",
        ] {
            assert!(valid_timestamp(Dialect::V11, t).is_err(), "{t}");
            assert!(valid_timestamp(Dialect::V10, t).is_err(), "{t}");
            assert_eq!(valid_timestamp(Dialect::Draft1, t), Ok(()), "{t}");
        }
        for t in [
            "",
            "yesterday",
            "2014-13-01T00:00:00Z",
            "2014-05-08 00:00:00Z",
            "2014-05-08T00:00:00+1:00",
            "0000-00-00T00:00:01",
        ] {
            for d in Dialect::ALL {
                assert!(valid_timestamp(d, t).is_err(), "{d} {t:?}");
            }
        }
    }

    #[test]
    fn message_ids_per_dialect() {
        assert!(valid_message_id(Dialect::V10, "41236").is_ok());
        assert!(valid_message_id(Dialect::V10, "urn:uuid:1").is_err());
        assert!(valid_message_id(Dialect::V11, "urn:uuid:6f1f3c1e-0d3a").is_ok());
        assert!(valid_message_id(Dialect::V11, "a b").is_err());
        assert!(valid_message_id(Dialect::Draft1, "a847 98be").is_ok());
        assert!(valid_message_id(Dialect::Draft1, "zzz").is_err());
        for d in Dialect::ALL {
            assert!(valid_message_id(d, " ").is_err());
        }
    }

    #[test]
    fn timestamps_to_unix() {
        for (t, want) in [
            ("1970-01-01T00:00:00Z", Some((0, true))),
            ("2013-05-02T12:00:00Z", Some((1_367_496_000, true))),
            ("2013-05-02T14:00:00.999+02:00", Some((1_367_496_000, true))),
            ("2013-05-02T11:30:00-00:30", Some((1_367_496_000, true))),
            ("2000-02-29T00:00:00", Some((951_782_400, false))),
            (" 2000-02-28T24:00:00Z\n", Some((951_782_400, true))),
            ("1969-12-31T23:59:59Z", Some((-1, true))),
            ("2000-02-29", None),
            ("2000-02-29T00:00:00+0100", None),
            ("yesterday", None),
        ] {
            assert_eq!(timestamp_unix(t), want, "{t}");
        }
        for t in ["2014-05-08T00:00:00Z", "2026-12-04T19:37:06.241347+00:00"] {
            let secs = timestamp_unix(t).map_or(-1, |(secs, _)| secs);
            assert_eq!(format_rfc3339(secs as u64), t[..19].to_string() + "Z");
        }
    }

    #[test]
    fn formats_utc() {
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(1_367_496_000), "2013-05-02T12:00:00Z");
        assert_eq!(format_rfc3339(951_782_400), "2000-02-29T00:00:00Z");
    }
}
