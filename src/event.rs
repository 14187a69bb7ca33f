//! One CloudTrail record and the field paths rules read from it.
//!
//! Real trails hold records with missing or oddly typed fields (`userIdentity` as a string,
//! no `eventTime`, a non-date `eventTime`), so every accessor returns an `Option` and a rule
//! that needs an absent field simply does not match. Paths are split once, when rules
//! compile, never per event.

use serde_json::Value;
use std::borrow::Cow;
use std::cell::OnceCell;
use std::collections::HashMap;
use std::fmt;

/// Longest string read as embedded JSON: policy documents are at most a few KiB (IAM's
/// limit is 10 KiB, bucket policies 20 KiB); the record cap bounds the rest anyway.
pub const MAX_EMBEDDED_JSON: usize = 256 * 1024;

/// A decoded CloudTrail record.
#[derive(Debug)]
pub struct Event {
    value: Value,
    /// `eventTime` as Unix seconds, when it is present and a valid timestamp.
    pub time: Option<i64>,
    /// Strings of `value` that hold a JSON object or array (policy documents, Lambda
    /// statements), parsed the first time a path needs to enter one; keyed by address.
    embedded: OnceCell<HashMap<usize, Value>>,
}

impl Clone for Event {
    /// A fresh parse cache: the original's is keyed by the original's addresses.
    fn clone(&self) -> Event {
        Event {
            value: self.value.clone(),
            time: self.time,
            embedded: OnceCell::new(),
        }
    }
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
        Some(Event {
            value,
            time,
            embedded: OnceCell::new(),
        })
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

    /// How a failed call failed: `errorCode` / `errorMessage`, or a sign-in event whose
    /// response says `Failure` (`ConsoleLogin`, `PasswordUpdated`: CloudTrail gives those an
    /// `errorMessage` at most). `None` for a call that succeeded.
    pub fn failure(&self) -> Option<Failure<'_>> {
        let nonempty = |k: &str| self.str(k).filter(|s| !s.is_empty());
        let (code, message) = (nonempty("errorCode"), nonempty("errorMessage"));
        let response = self.value.get("responseElements");
        let said_failure = SIGN_IN_RESULTS
            .iter()
            .any(|k| response.and_then(|r| r.get(*k)).and_then(Value::as_str) == Some("Failure"));
        (code.is_some() || message.is_some() || said_failure).then_some(Failure { code, message })
    }

    /// Calls `f` with every value `path` reaches (`[*]` fans out over arrays).
    pub fn visit<'a>(&'a self, path: &FieldPath, f: &mut dyn FnMut(&'a Value)) {
        self.visit_from(&self.value, &path.segments, f)
    }

    /// The JSON a string value holds, if it holds an object or an array.
    fn embedded(&self, s: &Value) -> Option<&Value> {
        let map = self.embedded.get_or_init(|| {
            let mut map = HashMap::new();
            collect_embedded(&self.value, &mut map);
            map
        });
        map.get(&(s as *const Value as usize))
    }

    fn visit_from<'a>(&'a self, v: &'a Value, segs: &[Segment], f: &mut dyn FnMut(&'a Value)) {
        let Some((head, rest)) = segs.split_first() else {
            f(v);
            return;
        };
        // A path that goes on below a string enters the JSON the string holds.
        if let Some(inner) = v.is_string().then(|| self.embedded(v)).flatten() {
            return self.visit_from(inner, segs, f);
        }
        match (head, v) {
            (Segment::Key(k), _) => {
                if let Some(child) = v.get(k.as_str()) {
                    self.visit_from(child, rest, f)
                }
            }
            (Segment::Index(i), _) => {
                if let Some(child) = v.get(*i) {
                    self.visit_from(child, rest, f)
                }
            }
            (Segment::Any, Value::Array(items)) => {
                for item in items {
                    self.visit_from(item, rest, f)
                }
            }
            // XML-derived fields hold one element as itself and several as an array:
            // `[*]` reaches both.
            (Segment::Any, Value::Null) => {}
            (Segment::Any, _) => self.visit_from(v, rest, f),
        }
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

/// `responseElements` fields in which sign-in events say `Success` or `Failure`.
pub const SIGN_IN_RESULTS: &[&str] = &["ConsoleLogin", "PasswordUpdated"];

/// The outcome of a call that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Failure<'a> {
    pub code: Option<&'a str>,
    pub message: Option<&'a str>,
}

impl Failure<'_> {
    /// `AccessDenied`, else the message, else `Failure`.
    pub fn label(&self) -> &str {
        self.code.or(self.message).unwrap_or("Failure")
    }
}

/// Parses every string below `v` that holds a JSON object or array.
fn collect_embedded(v: &Value, out: &mut HashMap<usize, Value>) {
    match v {
        Value::String(s) => {
            let t = s.trim_start();
            if (t.starts_with('{') || t.starts_with('[')) && s.len() <= MAX_EMBEDDED_JSON {
                if let Ok(inner @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str(s) {
                    out.insert(v as *const Value as usize, inner);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|i| collect_embedded(i, out)),
        Value::Object(m) => m.values().for_each(|i| collect_embedded(i, out)),
        _ => {}
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

    /// The path of the whole record.
    pub fn whole() -> &'static FieldPath {
        static WHOLE: FieldPath = FieldPath {
            segments: Vec::new(),
            text: String::new(),
        };
        &WHOLE
    }

    /// `self` followed by `rest` (`a.b` joined with `c[*].d` is `a.b.c[*].d`).
    pub fn join(&self, rest: &FieldPath) -> FieldPath {
        FieldPath {
            segments: self
                .segments
                .iter()
                .chain(&rest.segments)
                .cloned()
                .collect(),
            text: format!("{}.{}", self.text, rest.text),
        }
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
/// A time bound given by a person: RFC 3339, or a date `YYYY-MM-DD` meaning the start of
/// that day (UTC), or its last second when `end` (so `--until 2024-05-01` includes that day).
pub fn parse_bound(s: &str, end: bool) -> Option<i64> {
    let s = s.trim();
    if s.len() == 10 {
        let start = parse_time(&format!("{s}T00:00:00Z"))?;
        return Some(if end { start + 86_399 } else { start });
    }
    parse_time(s)
}

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
    fn paths_enter_json_strings_and_single_elements() {
        let policy = r#"{"Statement":[{"Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"}},{"Effect":"Deny","Principal":"*"}]}"#;
        let e = Event::from_value(json!({"requestParameters":{"policyDocument":policy,
            "grants":{"items":{"uri":"AllUsers"}},"many":{"items":[{"uri":"a"},{"uri":"b"}]},
            "text":"{not json","none":null}}))
        .unwrap();
        let all = |p: &str| {
            let mut out = Vec::new();
            e.visit(&FieldPath::parse(p).unwrap(), &mut |v| out.push(v.clone()));
            out
        };
        assert_eq!(
            all("requestParameters.policyDocument.Statement[*].Principal.AWS[*]"),
            vec![json!("arn:aws:iam::1:root")]
        );
        assert_eq!(
            all("requestParameters.policyDocument.Statement[1].Principal"),
            vec![json!("*")]
        );
        // The string itself is still a string to operators.
        assert_eq!(all("requestParameters.policyDocument"), vec![json!(policy)]);
        assert_eq!(
            all("requestParameters.grants.items[*].uri"),
            vec![json!("AllUsers")]
        );
        assert_eq!(
            all("requestParameters.many.items[*].uri"),
            vec![json!("a"), json!("b")]
        );
        assert!(all("requestParameters.text.x").is_empty());
        assert!(all("requestParameters.none[*]").is_empty());
        // Without [*] an array is not entered by a key.
        assert!(all("requestParameters.many.items.uri").is_empty());
    }

    #[test]
    fn failures_are_errors_or_failed_sign_ins() {
        let f = |v| {
            Event::from_value(v)
                .unwrap()
                .failure()
                .map(|f| f.label().to_string())
        };
        assert_eq!(f(json!({"eventName":"StopLogging"})), None);
        assert_eq!(f(json!({"errorCode":"","errorMessage":null})), None);
        assert_eq!(
            f(json!({"errorCode":"TrailNotFoundException","errorMessage":"Unknown trail"})),
            Some("TrailNotFoundException".into())
        );
        assert_eq!(
            f(
                json!({"responseElements":{"ConsoleLogin":"Failure"},"errorMessage":"Failed authentication"})
            ),
            Some("Failed authentication".into())
        );
        assert_eq!(
            f(json!({"responseElements":{"ConsoleLogin":"Failure"}})),
            Some("Failure".into())
        );
        assert_eq!(
            f(json!({"responseElements":{"ConsoleLogin":"Success"}})),
            None
        );
        assert_eq!(
            f(json!({"responseElements":{"PasswordUpdated":"Failure"}})),
            Some("Failure".into())
        );
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
