//! One CloudTrail record and the field paths rules read from it.
//!
//! Real trails hold records with missing or oddly typed fields (`userIdentity` as a string,
//! no `eventTime`, a non-date `eventTime`), so every accessor returns an `Option` and a rule
//! that needs an absent field simply does not match. Paths are split once, when rules
//! compile, never per event.

use serde_json::Value;
use std::borrow::Cow;
use std::fmt;

/// A decoded CloudTrail record.
#[derive(Debug, Clone)]
pub struct Event {
    value: Value,
    /// `eventTime` as Unix seconds, when it is present and a valid timestamp.
    pub time: Option<i64>,
}

impl Event {
    /// Wraps a JSON object; anything else is not a record.
    pub fn from_value(value: Value) -> Option<Event> {
        if !value.is_object() {
            return None;
        }
        let time = value
            .get("eventTime")
            .and_then(Value::as_str)
            .and_then(parse_time);
        Some(Event { value, time })
    }

    pub fn value(&self) -> &Value {
        &self.value
    }

    /// A top-level string field.
    pub fn str(&self, key: &str) -> Option<&str> {
        self.value.get(key).and_then(Value::as_str)
    }

    pub fn event_id(&self) -> Option<&str> {
        self.str("eventID")
    }

    pub fn event_name(&self) -> Option<&str> {
        self.str("eventName")
    }

    pub fn event_source(&self) -> Option<&str> {
        self.str("eventSource")
    }

    pub fn region(&self) -> Option<&str> {
        self.str("awsRegion")
    }

    /// The account an alert is about: `recipientAccountId`, else `userIdentity.accountId`.
    pub fn account_id(&self) -> Option<&str> {
        self.str("recipientAccountId").or_else(|| {
            self.value
                .get("userIdentity")
                .and_then(|u| u.get("accountId"))
                .and_then(Value::as_str)
        })
    }

    /// Calls `f` with every value `path` reaches (`[*]` fans out over arrays).
    pub fn visit<'a>(&'a self, path: &FieldPath, f: &mut dyn FnMut(&'a Value)) {
        visit(&self.value, &path.segments, f)
    }

    /// The first value `path` reaches.
    pub fn first<'a>(&'a self, path: &FieldPath) -> Option<&'a Value> {
        let mut found = None;
        self.visit(path, &mut |v| {
            if found.is_none() {
                found = Some(v)
            }
        });
        found
    }
}

fn visit<'a>(v: &'a Value, segs: &[Segment], f: &mut dyn FnMut(&'a Value)) {
    let Some((head, rest)) = segs.split_first() else {
        f(v);
        return;
    };
    match head {
        Segment::Key(k) => {
            if let Some(child) = v.get(k.as_str()) {
                visit(child, rest, f)
            }
        }
        Segment::Index(i) => {
            if let Some(child) = v.get(*i) {
                visit(child, rest, f)
            }
        }
        Segment::Any => {
            if let Value::Array(items) = v {
                for item in items {
                    visit(item, rest, f)
                }
            }
        }
    }
}

/// The text of a scalar JSON value: strings as they are, numbers and booleans printed.
pub fn scalar_text(v: &Value) -> Option<Cow<'_, str>> {
    match v {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        _ => None,
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    Key(String),
    Index(usize),
    /// `[*]`: every element of an array.
    Any,
}

/// A dotted path such as `userIdentity.sessionContext.sessionIssuer.arn` or `resources[*].ARN`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct FieldPath {
    pub segments: Vec<Segment>,
    text: String,
}

impl FieldPath {
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        if text.is_empty() {
            return Err("empty field path".into());
        }
        let mut segments = Vec::new();
        for part in text.split('.') {
            let (name, mut brackets) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if name.is_empty() && (segments.is_empty() || brackets.is_empty()) {
                return Err(format!("empty segment in field path '{text}'"));
            }
            if !name.is_empty() {
                if name.contains([']', ' ', '*', '{', '}']) {
                    return Err(format!("bad character in field path '{text}'"));
                }
                segments.push(Segment::Key(name.to_string()));
            }
            while !brackets.is_empty() {
                let Some(end) = brackets.find(']') else {
                    return Err(format!("unclosed '[' in field path '{text}'"));
                };
                let inner = &brackets[1..end];
                segments.push(if inner == "*" {
                    Segment::Any
                } else {
                    Segment::Index(
                        inner
                            .parse()
                            .map_err(|_| format!("'[{inner}]' in '{text}': use [*] or a number"))?,
                    )
                });
                brackets = &brackets[end + 1..];
                if !brackets.is_empty() && !brackets.starts_with('[') {
                    return Err(format!("unexpected text after ']' in field path '{text}'"));
                }
            }
        }
        Ok(FieldPath {
            segments,
            text: text.to_string(),
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Top-level key, if the path starts with one.
    pub fn root(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Parses CloudTrail's `2023-07-10T11:45:03Z` (fractions and offsets accepted) to Unix seconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let part = s.get(r)?;
        if !part.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        part.parse().ok()
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (h, mi, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if b[13] != b':' || b[16] != b':' || !(1..=12).contains(&mo) || !(1..=31).contains(&d) {
        return None;
    }
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut rest = &s[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" | "" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hh: i64 = rest.get(1..3)?.parse().ok()?;
            let mm: i64 = rest.get(4..6)?.parse().ok()?;
            if rest.len() != 6 || rest.as_bytes()[3] != b':' {
                return None;
            }
            sign * (hh * 3600 + mm * 60)
        }
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec - offset)
}

/// Days since 1970-01-01 for a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Formats Unix seconds as `2023-07-10T11:45:03Z`.
pub fn format_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn times_round_trip() {
        let t = parse_time("2023-07-10T11:45:03Z").unwrap();
        assert_eq!(t, 1_688_989_503);
        assert_eq!(format_time(t), "2023-07-10T11:45:03Z");
        assert_eq!(parse_time("2023-07-10T13:45:03.123+02:00"), Some(t));
        assert_eq!(
            parse_time("2000-02-29T00:00:00Z").map(format_time).unwrap(),
            "2000-02-29T00:00:00Z"
        );
        for bad in [
            "",
            "yesterday",
            "2023-13-10T11:45:03Z",
            "2023-07-10 11:45",
            "2023-07-10T11:45:03Q",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn paths_fan_out_over_arrays() {
        let e = Event::from_value(json!({"resources":[{"ARN":"a"},{"ARN":"b"}],"x":{"y":[1,2]}}))
            .unwrap();
        let mut seen = Vec::new();
        e.visit(&FieldPath::parse("resources[*].ARN").unwrap(), &mut |v| {
            seen.push(v.clone())
        });
        assert_eq!(seen, vec![json!("a"), json!("b")]);
        assert_eq!(
            e.first(&FieldPath::parse("x.y[1]").unwrap()),
            Some(&json!(2))
        );
        assert_eq!(e.first(&FieldPath::parse("x.z").unwrap()), None);
        assert!(FieldPath::parse("a..b").is_err());
        assert!(FieldPath::parse("a[x]").is_err());
    }

    #[test]
    fn odd_records_still_answer() {
        let e = Event::from_value(json!({"userIdentity":"root","eventTime":"soon"})).unwrap();
        assert_eq!(e.time, None);
        assert_eq!(e.account_id(), None);
        let e = Event::from_value(json!({"userIdentity":{"accountId":"1"}})).unwrap();
        assert_eq!(e.account_id(), Some("1"));
        assert!(Event::from_value(json!([1])).is_none());
    }
}
