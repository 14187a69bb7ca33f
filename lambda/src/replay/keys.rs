//! CloudTrail's S3 layout, read without any AWS call: `s3://` URIs, the time range, folder
//! names and log file names.
//!
//! CloudTrail writes
//! `[prefix/]AWSLogs/[<org-id>/]<account>/CloudTrail/<region>/<yyyy>/<mm>/<dd>/<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<unique>.json.gz`;
//! the time in the file name is what orders a replay, and the date folders are what narrow
//! its listing. Anything that does not fit is skipped and counted, never a panic.

use trailwatch::event::{format_time, parse_time};

/// Why an argument cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ArgError {
    #[error("'{0}' is not an S3 location: write s3://BUCKET or s3://BUCKET/PREFIX")]
    NotS3(String),
    #[error("'{0}' is neither an RFC 3339 time (2024-05-01T10:00:00Z) nor a date (2024-05-01)")]
    BadTime(String),
    #[error("the range is empty: --since {since} is not before --until {until}")]
    EmptyRange { since: String, until: String },
    #[error("'{0}' is not a 12-digit AWS account id")]
    BadAccount(String),
    #[error("s3://{bucket}/{prefix}: '{segment}' is not where CloudTrail writes log files (expected [org id/]account/CloudTrail/region after AWSLogs/; narrow dates with --since/--until)")]
    BadScope {
        bucket: String,
        prefix: String,
        segment: String,
    },
}

/// `s3://BUCKET[/PREFIX]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Uri {
    pub bucket: String,
    /// Without a leading `/`; may be empty.
    pub prefix: String,
}

impl std::str::FromStr for S3Uri {
    type Err = ArgError;
    fn from_str(s: &str) -> Result<S3Uri, ArgError> {
        let rest = s
            .strip_prefix("s3://")
            .ok_or_else(|| ArgError::NotS3(s.into()))?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let valid = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b));
        if !valid {
            return Err(ArgError::NotS3(s.into()));
        }
        Ok(S3Uri {
            bucket: bucket.into(),
            prefix: prefix.trim_start_matches('/').into(),
        })
    }
}

impl std::fmt::Display for S3Uri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "s3://{}/{}", self.bucket, self.prefix)
    }
}

/// A date `YYYY-MM-DD` as Unix seconds at its midnight (UTC), checked for existence.
fn date(s: &str) -> Option<i64> {
    if s.len() != 10 {
        return None;
    }
    let t = parse_time(&format!("{s}T00:00:00Z"))?;
    (format_time(t)[..10] == *s).then_some(t)
}

/// `--since`: an RFC 3339 time, or a date (its midnight, UTC).
pub fn parse_since(s: &str) -> Result<i64, ArgError> {
    date(s)
        .or_else(|| parse_time(s).filter(|_| s.len() > 10))
        .ok_or_else(|| ArgError::BadTime(s.into()))
}

/// `--until` (exclusive): an RFC 3339 time, or a date, which includes that whole day.
pub fn parse_until(s: &str) -> Result<i64, ArgError> {
    match date(s) {
        Some(t) => Ok(t + 86_400),
        // Inclusive, as `scan --until`: event times have whole seconds.
        None => parse_time(s)
            .filter(|_| s.len() > 10)
            .map(|t| t + 1)
            .ok_or_else(|| ArgError::BadTime(s.into())),
    }
}

/// Event times evaluated: `since <= t < until` (`until` is one second after the time the
/// user gave, or the end of the date).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Range {
    pub since: Option<i64>,
    pub until: i64,
}

impl Range {
    pub fn new(since: Option<i64>, until: i64) -> Result<Range, ArgError> {
        if let Some(s) = since {
            if s >= until {
                return Err(ArgError::EmptyRange {
                    since: format_time(s),
                    until: format_time(until),
                });
            }
        }
        Ok(Range { since, until })
    }

    pub fn contains(&self, t: i64) -> bool {
        self.since.is_none_or(|s| t >= s) && t < self.until
    }

    /// File-name times worth reading: the range widened by `margin` seconds on both sides,
    /// since a file is named when it is written, minutes after its events.
    pub fn widened(&self, margin: i64) -> Window {
        Window {
            from: self.since.map(|s| s - margin),
            to: self.until + margin,
        }
    }
}

/// File-name times to list and read: `from <= t <= to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub from: Option<i64>,
    pub to: i64,
}

impl Window {
    pub fn contains(&self, t: i64) -> bool {
        self.from.is_none_or(|f| t >= f) && t <= self.to
    }

    /// Whether the period `[start, end)` has any second in the window.
    pub fn overlaps(&self, start: i64, end: i64) -> bool {
        end > self.from.unwrap_or(i64::MIN) && start <= self.to
    }
}

/// The seconds a date folder covers: a year (`month`, `day` 0), a month (`day` 0) or a day.
pub fn folder_period(year: i64, month: u32, day: u32) -> Option<(i64, i64)> {
    let start = |y: i64, m: u32, d: u32| parse_time(&format!("{y:04}-{m:02}-{d:02}T00:00:00Z"));
    match (month, day) {
        (0, _) => Some((start(year, 1, 1)?, start(year + 1, 1, 1)?)),
        (m @ 1..=12, 0) => {
            let (ny, nm) = if m == 12 {
                (year + 1, 1)
            } else {
                (year, m + 1)
            };
            Some((start(year, m, 1)?, start(ny, nm, 1)?))
        }
        (m @ 1..=12, d) => {
            let s = start(year, m, d)?;
            // 2024/02/30 is no day: parse_time would roll it into March.
            (format_time(s)[..10] == format!("{year:04}-{m:02}-{d:02}")).then_some((s, s + 86_400))
        }
        _ => None,
    }
}

/// What a folder below `AWSLogs/` is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Folder {
    /// An organization trail's `o-…` folder.
    Org(String),
    Account(String),
    Other,
}

pub fn is_account(s: &str) -> bool {
    s.len() == 12 && s.bytes().all(|b| b.is_ascii_digit())
}

pub fn classify(name: &str) -> Folder {
    let name = name.trim_end_matches('/');
    if is_account(name) {
        Folder::Account(name.into())
    } else if name.strip_prefix("o-").is_some_and(|id| {
        !id.is_empty()
            && id
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    }) {
        Folder::Org(name.into())
    } else {
        Folder::Other
    }
}

/// The last segment of a folder prefix (`a/b/c/` → `c`).
pub fn last_segment(prefix: &str) -> &str {
    prefix
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
}

/// Where in the layout a user's prefix points: above `AWSLogs/` (to be searched), or at
/// `AWSLogs/` with an organization, account and region already fixed by the path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A folder (ending in `/`, or empty for the bucket) to search for `AWSLogs/`.
    Search(String),
    At {
        /// `…AWSLogs/`.
        root: String,
        org: Option<String>,
        account: Option<String>,
        region: Option<String>,
    },
}

impl Scope {
    pub fn of(uri: &S3Uri) -> Result<Scope, ArgError> {
        let segs: Vec<&str> = uri.prefix.split('/').filter(|s| !s.is_empty()).collect();
        let Some(i) = segs.iter().position(|s| *s == "AWSLogs") else {
            let mut folder = segs.join("/");
            if !folder.is_empty() {
                folder.push('/');
            }
            return Ok(Scope::Search(folder));
        };
        let root = format!("{}/", segs[..=i].join("/"));
        let bad = |segment: &str| ArgError::BadScope {
            bucket: uri.bucket.clone(),
            prefix: uri.prefix.clone(),
            segment: segment.into(),
        };
        let mut rest = segs[i + 1..].iter().copied().peekable();
        let mut org = None;
        if let Some(s) = rest.peek() {
            if let Folder::Org(o) = classify(s) {
                org = Some(o);
                rest.next();
            }
        }
        let account = match rest.next() {
            None => None,
            Some(a) if is_account(a) => Some(a.to_string()),
            Some(a) => return Err(bad(a)),
        };
        match rest.next() {
            None | Some("CloudTrail") => {}
            Some(s) => return Err(bad(s)),
        }
        let region = rest.next().map(str::to_string);
        if let Some(s) = rest.next() {
            return Err(bad(s));
        }
        Ok(Scope::At {
            root,
            org,
            account,
            region,
        })
    }
}

/// What a file in a date folder is, by its name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Name {
    Log {
        account: String,
        region: String,
        /// The time in the name (Unix seconds).
        time: i64,
    },
    Digest,
    Insight,
}

/// Reads `<account>_CloudTrail_<region>_<YYYYMMDDTHHMMZ>_<unique>…` from the key's last
/// segment; `Err` says why a name is not a log file's.
pub fn parse_name(key: &str) -> Result<Name, String> {
    let name = key.rsplit('/').next().unwrap_or(key);
    if name.contains("_CloudTrail-Digest_") {
        return Ok(Name::Digest);
    }
    if name.contains("_CloudTrail-Insight_") {
        return Ok(Name::Insight);
    }
    let Some((account, rest)) = name.split_once("_CloudTrail_") else {
        return Err("no _CloudTrail_ in the file name".into());
    };
    if !is_account(account) {
        return Err(format!("'{account}' is not an account id"));
    }
    let mut parts = rest.splitn(3, '_');
    let region = parts.next().unwrap_or("");
    let stamp = parts.next().unwrap_or("");
    if parts.next().is_none_or(str::is_empty) {
        return Err("no unique part after the time".into());
    }
    if region.is_empty()
        || !region
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    {
        return Err(format!("'{region}' is not a region"));
    }
    let time = parse_stamp(stamp).ok_or_else(|| format!("'{stamp}' is not YYYYMMDDTHHMMZ"))?;
    Ok(Name::Log {
        account: account.into(),
        region: region.into(),
        time,
    })
}

/// `20240501T1005Z` (or with seconds, `20240501T100512Z`) as Unix seconds.
fn parse_stamp(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let digits =
        |r: std::ops::Range<usize>| b.get(r).is_some_and(|d| d.iter().all(u8::is_ascii_digit));
    let secs = match b.len() {
        14 => "00",
        16 if digits(13..15) => s.get(13..15)?,
        _ => return None,
    };
    if b[8] != b'T' || b[b.len() - 1] != b'Z' || !digits(0..8) || !digits(9..13) {
        return None;
    }
    let iso = format!(
        "{}-{}-{}T{}:{}:{secs}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13]
    );
    let t = parse_time(&iso)?;
    // No rolling 20240230 into March.
    (format_time(t)[..10] == iso[..10]).then_some(t)
}

/// Percent-encodes a key as S3 event notifications do (space as `+`).
pub fn notification_key(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' | b'/' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn uri(s: &str) -> S3Uri {
        s.parse().unwrap()
    }

    #[test]
    fn s3_uris() {
        assert_eq!(
            uri("s3://trail-logs/o-abc123/"),
            S3Uri {
                bucket: "trail-logs".into(),
                prefix: "o-abc123/".into()
            }
        );
        assert_eq!(uri("s3://trail-logs").prefix, "");
        for bad in [
            "trail-logs",
            "s3://",
            "s3://Upper/x",
            "/tmp/x",
            "s3://a b/c",
        ] {
            assert!(bad.parse::<S3Uri>().is_err(), "{bad}");
        }
    }

    #[test]
    fn times_and_dates() {
        let may1 = parse_time("2024-05-01T00:00:00Z").unwrap();
        assert_eq!(parse_since("2024-05-01"), Ok(may1));
        assert_eq!(parse_until("2024-05-01"), Ok(may1 + 86_400));
        assert_eq!(parse_since("2024-05-01T02:00:00+02:00"), Ok(may1));
        // Inclusive: the range ends one second after the time given.
        assert_eq!(parse_until("2024-05-01T00:00:00Z"), Ok(may1 + 1));
        for bad in [
            "2024-02-30",
            "2024-5-1",
            "yesterday",
            "2024-05-01T25:00:00Z",
            "",
        ] {
            assert!(parse_since(bad).is_err(), "{bad}");
            assert!(parse_until(bad).is_err(), "{bad}");
        }
        assert!(Range::new(Some(may1), may1).is_err());
        let r = Range::new(Some(may1), may1 + 86_400).unwrap();
        assert!(r.contains(may1) && r.contains(may1 + 86_399) && !r.contains(may1 + 86_400));
        assert!(!r.contains(may1 - 1));
        let w = r.widened(3600);
        assert!(w.contains(may1 - 3600) && w.contains(may1 + 86_400 + 3600));
        assert!(!w.contains(may1 - 3601));
    }

    #[test]
    fn folder_periods_and_overlap() {
        let (s, e) = folder_period(2024, 0, 0).unwrap();
        assert_eq!(
            (format_time(s), format_time(e)),
            ("2024-01-01T00:00:00Z".into(), "2025-01-01T00:00:00Z".into())
        );
        let (s, e) = folder_period(2024, 12, 0).unwrap();
        assert_eq!(
            (format_time(s), format_time(e)),
            ("2024-12-01T00:00:00Z".into(), "2025-01-01T00:00:00Z".into())
        );
        let (s, e) = folder_period(2024, 2, 29).unwrap();
        assert_eq!(e - s, 86_400);
        assert_eq!(folder_period(2023, 2, 29), None);
        assert_eq!(folder_period(2024, 13, 0), None);
        let day2 = folder_period(2024, 5, 2).unwrap();
        let w = Range::new(Some(day2.0), day2.1).unwrap().widened(0);
        assert!(w.overlaps(day2.0, day2.1));
        let day1 = folder_period(2024, 5, 1).unwrap();
        let day3 = folder_period(2024, 5, 3).unwrap();
        // `to` is inclusive: a file named at the range's end may hold its last events.
        assert!(!w.overlaps(day1.0, day1.1));
        assert!(w.overlaps(day3.0, day3.1));
        let w = Range::new(Some(day2.0), day2.1 - 1).unwrap().widened(0);
        assert!(!w.overlaps(day3.0, day3.1));
        let open = Range::new(None, day2.1).unwrap().widened(0);
        assert!(open.overlaps(0, 1) && open.overlaps(day1.0, day1.1));
    }

    #[test]
    fn folders() {
        assert_eq!(
            classify("111122223333/"),
            Folder::Account("111122223333".into())
        );
        assert_eq!(classify("o-abc123/"), Folder::Org("o-abc123".into()));
        assert_eq!(classify("o-/"), Folder::Other);
        assert_eq!(classify("CloudTrail-Digest/"), Folder::Other);
        assert_eq!(classify("11112222333/"), Folder::Other);
        assert_eq!(last_segment("a/AWSLogs/o-x/"), "o-x");
    }

    #[test]
    fn scopes() {
        let at = |p: &str| Scope::of(&uri(&format!("s3://trail/{p}")));
        assert_eq!(at(""), Ok(Scope::Search(String::new())));
        assert_eq!(at("o-abc123"), Ok(Scope::Search("o-abc123/".into())));
        assert_eq!(at("a/b/"), Ok(Scope::Search("a/b/".into())));
        assert_eq!(
            at("o-abc123/AWSLogs"),
            Ok(Scope::At {
                root: "o-abc123/AWSLogs/".into(),
                org: None,
                account: None,
                region: None
            })
        );
        assert_eq!(
            at("x/AWSLogs/o-abc123/111122223333/CloudTrail/eu-west-1/"),
            Ok(Scope::At {
                root: "x/AWSLogs/".into(),
                org: Some("o-abc123".into()),
                account: Some("111122223333".into()),
                region: Some("eu-west-1".into())
            })
        );
        assert_eq!(
            at("AWSLogs/111122223333"),
            Ok(Scope::At {
                root: "AWSLogs/".into(),
                org: None,
                account: Some("111122223333".into()),
                region: None
            })
        );
        for bad in [
            "AWSLogs/111122223333/CloudTrail-Digest/",
            "AWSLogs/trail/",
            "AWSLogs/111122223333/CloudTrail/us-east-1/2024/",
        ] {
            assert!(matches!(at(bad), Err(ArgError::BadScope { .. })), "{bad}");
        }
    }

    #[test]
    fn names() {
        let k = "o/AWSLogs/o-a/111122223333/CloudTrail/eu-west-1/2024/05/01/111122223333_CloudTrail_eu-west-1_20240501T1005Z_Ab12.json.gz";
        assert_eq!(
            parse_name(k),
            Ok(Name::Log {
                account: "111122223333".into(),
                region: "eu-west-1".into(),
                time: parse_time("2024-05-01T10:05:00Z").unwrap()
            })
        );
        assert_eq!(
            parse_name("x/111122223333_CloudTrail-Digest_us-east-1_trail_us-east-1_20240501T101500Z.json.gz"),
            Ok(Name::Digest)
        );
        assert_eq!(
            parse_name("x/111122223333_CloudTrail-Insight_us-east-1_20240501T1015Z_u.json.gz"),
            Ok(Name::Insight)
        );
        for bad in [
            "notes.txt",
            "x/",
            "111122223333_CloudTrail_us-east-1_20240501T1005Z.json.gz",
            "111122223333_CloudTrail_us-east-1_20240230T1005Z_u.json.gz",
            "111122223333_CloudTrail_us-east-1_20240501T2505Z_u.json.gz",
            "111122223333_CloudTrail_us-east-1_2024050T11005Z_u.json.gz",
            "11112222333_CloudTrail_us-east-1_20240501T1005Z_u.json.gz",
            "111122223333_CloudTrail__20240501T1005Z_u.json.gz",
            "111122223333_CloudTrail_us_east_20240501T1005Z_u.json.gz",
            "111122223333_CloudTrail_us-east-1_20240501T1005Z_",
            "111122223333_CloudTrail_us-east-1_\u{e9}0240501T1005Z_u",
        ] {
            // Malformed names are reported, never a panic.
            assert!(parse_name(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_name("111122223333_CloudTrail_us-east-1_20240501T100512Z_u"),
            Ok(Name::Log {
                account: "111122223333".into(),
                region: "us-east-1".into(),
                time: parse_time("2024-05-01T10:05:12Z").unwrap()
            })
        );
    }

    #[test]
    fn notification_keys_round_trip_through_the_trigger_parser() {
        let key = "p q/AWSLogs/1/CloudTrail/x/2024/01/01/a+b%c:é.json.gz";
        let body = format!(
            r#"{{"Records":[{{"eventSource":"aws:s3","s3":{{"bucket":{{"name":"b"}},"object":{{"key":"{}"}}}}}}]}}"#,
            notification_key(key)
        );
        let parsed = trailwatch::trigger::parse(body.as_bytes()).unwrap();
        assert_eq!(
            parsed,
            trailwatch::trigger::Payload::Direct(vec![trailwatch::trigger::Work::Object(
                trailwatch::trigger::Object {
                    bucket: "b".into(),
                    key: key.into()
                }
            )])
        );
    }
}
