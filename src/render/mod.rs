//! Alert → SNS message, one form per subscriber protocol (`MessageStructure=json`):
//! plain text for email and the default ([`email`]), an AWS Chatbot custom notification
//! for `https` (Slack through Chatbot, [`chatbot`]), and the full alert JSON for `sqs`
//! and `lambda`. Pure functions of the alert and `now` (the alert carries its account
//! aliases): the Lambda's SNS sink only sends what this returns, and snapshot tests can
//! pin every form.

pub mod chatbot;
pub mod email;

pub use chatbot::chatbot;
pub use email::text;

use crate::alert::Alert;
use crate::event::format_time;
use serde_json::json;

/// SNS's limit for one message, all protocol forms, subject and attributes together.
pub const SNS_MAX_BYTES: usize = 256 * 1024;
/// SNS subjects: ASCII, no line breaks, fewer than 100 characters.
pub const SUBJECT_MAX_CHARS: usize = 99;

/// What to publish for one alert.
#[derive(Debug, Clone, PartialEq)]
pub struct SnsMessage {
    pub subject: String,
    /// The `MessageStructure=json` document: one string per protocol.
    pub message: String,
    /// Message attributes (all `String`), for subscription filter policies.
    pub attributes: Vec<(&'static str, String)>,
}

impl SnsMessage {
    /// Bytes SNS counts against its limit.
    pub fn size(&self) -> usize {
        self.subject.len()
            + self.message.len()
            + self
                .attributes
                .iter()
                .map(|(k, v)| k.len() + v.len() + "String".len())
                .sum::<usize>()
    }
}

/// A subject SNS accepts: printable ASCII only, one line, under 100 characters.
pub fn subject(alert: &Alert) -> String {
    let raw = format!(
        "[{}] {}",
        alert.severity.to_string().to_uppercase(),
        alert.title
    );
    let mut s: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else if c.is_whitespace() {
                ' '
            } else {
                '?'
            }
        })
        .collect();
    if s.len() > SUBJECT_MAX_CHARS {
        s.truncate(SUBJECT_MAX_CHARS - 3);
        s.push_str("...");
    }
    s
}

/// `2024-05-01 10:00:00 UTC`.
pub fn utc(t: i64) -> String {
    let iso = format_time(t);
    format!("{} {} UTC", &iso[..10], &iso[11..19])
}

/// How long before `now` `t` was: `less than a minute ago`, `7 minutes ago`, `3 hours
/// ago`, `2 days ago`; a time after `now` (a skewed clock) says `in …`.
pub fn ago(t: i64, now: i64) -> String {
    let d = now.saturating_sub(t);
    let secs = d.unsigned_abs();
    let span = if secs < 60 {
        return if d >= 0 {
            "less than a minute ago".into()
        } else {
            "less than a minute from now".into()
        };
    } else if secs < 2 * 3600 {
        plural(secs / 60, "minute")
    } else if secs < 48 * 3600 {
        plural(secs / 3600, "hour")
    } else {
        plural(secs / 86_400, "day")
    };
    if d >= 0 {
        format!("{span} ago")
    } else {
        format!("in {span}")
    }
}

fn plural(n: u64, unit: &str) -> String {
    if n == 1 {
        format!("1 {unit}")
    } else {
        format!("{n} {unit}s")
    }
}

/// An event time from an alert in UTC with how long ago it was, or as recorded when it is
/// not a time trailwatch can read, or `-`.
pub fn when(raw: Option<&str>, now: i64) -> String {
    match raw {
        Some(r) => match crate::event::parse_time(r) {
            Some(t) => format!("{} ({})", utc(t), ago(t, now)),
            None => r.to_string(),
        },
        None => "-".to_string(),
    }
}

/// An AWS region name as AWS spells them (`eu-west-1`, `us-gov-west-1`): a record's
/// `awsRegion` goes into a link only when it is one, so a crafted record cannot point the
/// on-call at another host.
fn is_region(r: &str) -> bool {
    let parts: Vec<&str> = r.split('-').collect();
    parts.len() >= 3
        && parts.len() <= 4
        && parts[0].len() == 2
        && parts[..parts.len() - 1]
            .iter()
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_lowercase()))
        && parts[parts.len() - 1].len() <= 2
        && parts[parts.len() - 1].bytes().all(|b| b.is_ascii_digit())
        && !parts[parts.len() - 1].is_empty()
}

/// `s` percent-encoded for a URL, every byte but `A-Z a-z 0-9 - _ . ~`.
fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The CloudTrail console of `region`, in its partition (China and GovCloud have their
/// own console hosts).
fn console_home(region: &str) -> Option<String> {
    // The isolated partitions' consoles are not reachable from the internet.
    if !is_region(region) || region.starts_with("us-iso") {
        return None;
    }
    Some(if region.starts_with("cn-") {
        format!("https://console.amazonaws.cn/cloudtrailv2/home?region={region}")
    } else if region.starts_with("us-gov-") {
        format!("https://console.amazonaws-us-gov.com/cloudtrailv2/home?region={region}")
    } else {
        format!("https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}")
    })
}

/// The CloudTrail console page of the alert's first event, in the event's region (event
/// history keeps an event in the region and account it happened in), or that region's
/// event history when the alert has no event id.
pub fn console_link(alert: &Alert) -> Option<String> {
    let home = console_home(alert.region.as_deref()?)?;
    Some(match alert.event_ids.first() {
        Some(id) => format!("{home}#/events/{}", url_encode(id)),
        None => format!("{home}#/events"),
    })
}

/// For an alert of several events (a threshold): the region's event history filtered on
/// the alert's event name, where all of them can be seen at once.
pub fn history_link(alert: &Alert) -> Option<String> {
    if alert.count < 2 {
        return None;
    }
    let name = alert.event_name.as_deref()?;
    let home = console_home(alert.region.as_deref()?)?;
    Some(format!("{home}#/events?EventName={}", url_encode(name)))
}

/// `s` cut to at most `max` characters, a cut one ending in `… [cut]`; never inside a
/// character.
pub fn cut_chars(s: &str, max: usize) -> String {
    const MARK: &str = "… [cut]";
    if s.chars().count() <= max {
        return s.to_string();
    }
    let keep = max.saturating_sub(MARK.chars().count());
    let mut out: String = s.chars().take(keep).collect();
    out.push_str(MARK);
    out
}

fn build(alert: &Alert, now: i64) -> SnsMessage {
    let full = serde_json::to_string(alert).unwrap_or_default();
    let text = text(alert, now);
    let message = json!({
        "default": text,
        "email": text,
        "https": chatbot(alert, now).to_string(),
        "sqs": full,
        "lambda": full,
    })
    .to_string();
    SnsMessage {
        subject: subject(alert),
        message,
        attributes: vec![
            ("severity", alert.severity.to_string()),
            ("rule_id", alert.rule_id.clone()),
            (
                "account_id",
                alert.account_id.clone().unwrap_or_else(|| "unknown".into()),
            ),
            (
                "kind",
                if alert.follow_up_of.is_some() {
                    "follow-up"
                } else {
                    "alert"
                }
                .to_string(),
            ),
        ],
    }
}

/// `s` cut to at most `max` bytes, with the same mark as [`cut_chars`].
fn cut(s: &mut String, max: usize) {
    const MARK: &str = "… [cut]";
    if s.len() > max {
        let mut at = max.saturating_sub(MARK.len());
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
        s.push_str(MARK);
    }
}

/// The SNS message for `alert`, within [`SNS_MAX_BYTES`]: long event lists and texts are
/// cut, with a note saying so.
pub fn sns_message(alert: &Alert, now: i64) -> SnsMessage {
    let mut a = alert.clone();
    let mut msg = build(&a, now);
    let mut limit = 4096;
    while msg.size() > SNS_MAX_BYTES && limit >= 64 {
        if a.event_ids.len() > 10 {
            let dropped = a.event_ids.len() - 10;
            a.event_ids.truncate(10);
            a.event_ids.push(format!("(+{dropped} more; see count)"));
        }
        for s in [&mut a.title, &mut a.description] {
            cut(s, limit);
        }
        for s in [&mut a.user_agent, &mut a.runbook, &mut a.actor.arn]
            .into_iter()
            .flatten()
        {
            cut(s, limit);
        }
        for s in a
            .group
            .values_mut()
            .chain(a.source_ips.iter_mut())
            .chain(a.references.iter_mut())
            .chain(a.tags.iter_mut())
            .chain(a.falsepositives.iter_mut())
        {
            cut(s, limit / 4);
        }
        a.source_ips.truncate(20);
        a.references.truncate(10);
        a.tags.truncate(20);
        a.falsepositives.truncate(5);
        msg = build(&a, now);
        limit /= 2;
    }
    msg
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::sample as alert;

    fn at(t: &str) -> i64 {
        crate::event::parse_time(t).unwrap()
    }

    #[test]
    fn every_protocol_gets_its_form() {
        let m = sns_message(&alert(), at("2024-05-01T10:07:00Z"));
        let forms: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let text = forms["email"].as_str().unwrap();
        assert!(
            text.contains("Who:   Root arn:aws:iam::111122223333:root\n       MFA: No"),
            "{text}"
        );
        assert!(
            text.contains("When:  2024-05-01 10:00:00 UTC (7 minutes ago)"),
            "{text}"
        );
        assert!(
            text.contains("Reported: 2024-05-01 10:07:00 UTC, 7 minutes after the last event"),
            "{text}"
        );
        assert!(
            text.contains("cloudtrailv2/home?region=us-east-1#/events/e-1"),
            "{text}"
        );
        assert!(
            text.contains("Outcome: failed: Failed authentication"),
            "{text}"
        );
        assert_eq!(forms["default"], forms["email"]);
        let chat: serde_json::Value =
            serde_json::from_str(forms["https"].as_str().unwrap()).unwrap();
        assert_eq!(chat["source"], "custom");
        assert_eq!(chatbot::check(&chat), Vec::<String>::new());
        let said = chat["content"]["description"].as_str().unwrap();
        assert!(
            said.contains("*Outcome:* `failed: Failed authentication`"),
            "{said}"
        );
        assert!(said.contains("(7 minutes ago)"), "{said}");
        let mut ok = alert();
        ok.outcome = "success";
        ok.error_message = None;
        assert!(!super::text(&ok, 0).contains("Outcome"));
        assert_eq!(chat["metadata"]["threadId"], "0123456789abcdef");
        let full: serde_json::Value = serde_json::from_str(forms["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(full, serde_json::to_value(alert()).unwrap());
        assert_eq!(forms["lambda"], forms["sqs"]);
        assert_eq!(m.attributes[0], ("severity", "high".to_string()));
    }

    #[test]
    fn subjects_are_one_ascii_line_under_100_chars() {
        let mut a = alert();
        a.title = format!("{}\r\n{}", "é".repeat(80), "x".repeat(200));
        let s = subject(&a);
        assert!(
            s.len() < 100 && s.is_ascii() && !s.contains(['\n', '\r']),
            "{s}"
        );
        assert!(subject(&alert()).starts_with("[HIGH] Failed console sign-in by Root arn:aws"));
    }

    #[test]
    fn subjects_of_99_chars_are_whole_and_longer_ones_cut_to_99() {
        let mut a = alert();
        // "[HIGH] " is 7 characters.
        a.title = "x".repeat(92);
        assert_eq!(subject(&a), format!("[HIGH] {}", "x".repeat(92)));
        a.title = "x".repeat(93);
        assert_eq!(subject(&a), format!("[HIGH] {}...", "x".repeat(89)));
    }

    #[test]
    fn huge_alerts_are_cut_to_fit() {
        let mut a = alert();
        a.count = 100;
        a.event_ids = (0..100).map(|i| format!("{i:0>60}")).collect();
        a.title = "t".repeat(300_000);
        a.description = "é".repeat(300_000);
        let m = sns_message(&a, 0);
        assert!(m.size() <= SNS_MAX_BYTES, "{}", m.size());
        assert!(m.message.contains("more; see count"));
        assert!(m.message.contains("[cut]"));
    }

    /// README.md: an SNS message (subject, every protocol form and the attributes, as SNS
    /// counts them) stays within 256 KiB; one that fits is sent whole.
    #[test]
    fn messages_stay_within_256_kib_and_what_fits_is_not_cut() {
        const SNS_LIMIT: usize = 262_144;
        let counted = |m: &SnsMessage| {
            m.subject.len()
                + m.message.len()
                + m.attributes
                    .iter()
                    .map(|(k, v)| k.len() + "String".len() + v.len())
                    .sum::<usize>()
        };
        let description = |m: &SnsMessage| {
            let forms: serde_json::Value = serde_json::from_str(&m.message).unwrap();
            let full: serde_json::Value =
                serde_json::from_str(forms["sqs"].as_str().unwrap()).unwrap();
            full["description"].as_str().unwrap().to_string()
        };
        let mut a = alert();
        a.description = "d".repeat(50_000);
        let m = sns_message(&a, 0);
        assert_eq!(m.size(), counted(&m));
        assert!(m.size() < SNS_LIMIT, "{}", m.size());
        assert_eq!(
            description(&m),
            a.description,
            "a message that fits is whole"
        );
        // Over 256 KiB in all, though under twice that: cut to fit.
        a.description = "d".repeat(100_000);
        let m = sns_message(&a, 0);
        assert_eq!(m.size(), counted(&m));
        assert!(m.size() <= SNS_LIMIT, "{}", m.size());
        assert!(description(&m).ends_with("[cut]"), "{}", description(&m));
    }

    /// `alert` with a description that makes its whole message exactly `bytes` long.
    fn sized(mut a: Alert, bytes: usize) -> Alert {
        // A letter is in several forms, a quote costs more (escaped in the JSON forms):
        // with a few quotes every size is within reach.
        for quotes in 0..8 {
            let mut size = |n: usize| {
                a.description = format!("{}{}", "\"".repeat(quotes), "d".repeat(n));
                build(&a, 0).size()
            };
            let (s1, s2) = (size(1000), size(2000));
            let per = (s2 - s1) / 1000;
            if bytes > s1 && (bytes - s1) % per == 0 && size(1000 + (bytes - s1) / per) == bytes {
                return a;
            }
        }
        panic!("no alert of {bytes} bytes");
    }

    #[test]
    fn a_message_of_exactly_256_kib_is_sent_whole() {
        let a = sized(alert(), 262_144);
        let m = sns_message(&a, 0);
        assert_eq!((m.size(), m), (262_144, build(&a, 0)));
        let a = sized(alert(), 262_145);
        let m = sns_message(&a, 0);
        assert!(m.size() <= 262_144, "{}", m.size());
        assert_ne!(m, build(&a, 0));
    }

    #[test]
    fn long_event_lists_keep_ten_ids_and_say_how_many_more() {
        let full = |m: &SnsMessage| -> serde_json::Value {
            let forms: serde_json::Value = serde_json::from_str(&m.message).unwrap();
            serde_json::from_str(forms["sqs"].as_str().unwrap()).unwrap()
        };
        let ids = |n: usize| -> Vec<String> { (0..n).map(|i| format!("{i:0>60}")).collect() };
        let mut a = alert();
        a.description = "d".repeat(300_000);
        a.count = 100;
        a.event_ids = ids(100);
        let mut want = ids(10);
        want.push("(+90 more; see count)".into());
        assert_eq!(full(&sns_message(&a, 0))["event_ids"], json!(want));
        a.event_ids = ids(10);
        assert_eq!(
            full(&sns_message(&a, 0))["event_ids"],
            json!(ids(10)),
            "ten ids are kept as they are"
        );
    }

    /// An alert too big for its many group values: the values are cut (each keeps its
    /// beginning), as often as needed, and the title and description stay whole.
    #[test]
    fn many_long_values_are_cut_until_the_message_fits() {
        let mut a = alert();
        a.description = "d".repeat(2000);
        a.group = (0..100)
            .map(|i| {
                (
                    format!("field{i:03}"),
                    format!("{i:03}{}", "v".repeat(50_000)),
                )
            })
            .collect();
        let m = sns_message(&a, 0);
        assert!(m.size() <= 262_144, "{}", m.size());
        let forms: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let full: serde_json::Value = serde_json::from_str(forms["sqs"].as_str().unwrap()).unwrap();
        assert_eq!(full["title"], json!(a.title));
        assert_eq!(full["description"], json!(a.description));
        for (k, v) in full["group"].as_object().unwrap() {
            let v = v.as_str().unwrap();
            assert!(v.starts_with(&a.group[k][..100]), "{k}: {v}");
            assert!(v.ends_with("… [cut]"), "{k}: {v}");
        }
    }

    #[test]
    fn times_are_utc_with_how_long_ago() {
        let now = at("2024-05-03T12:00:00Z");
        assert_eq!(utc(now), "2024-05-03 12:00:00 UTC");
        let cases = [
            ("2024-05-03T11:59:30Z", "less than a minute ago"),
            ("2024-05-03T11:59:00Z", "1 minute ago"),
            ("2024-05-03T10:01:00Z", "119 minutes ago"),
            ("2024-05-03T10:00:00Z", "2 hours ago"),
            ("2024-05-01T12:00:01Z", "47 hours ago"),
            ("2024-05-01T12:00:00Z", "2 days ago"),
            ("2024-05-03T12:05:00Z", "in 5 minutes"),
        ];
        for (t, want) in cases {
            assert_eq!(ago(at(t), now), want, "{t}");
        }
        assert_eq!(
            when(Some("2024-05-03T11:00:00.123+00:00"), now),
            "2024-05-03 11:00:00 UTC (60 minutes ago)"
        );
        assert_eq!(when(Some("yesterday"), now), "yesterday");
        assert_eq!(when(None, now), "-");
    }

    #[test]
    fn console_links_follow_the_region_and_its_partition() {
        let mut a = alert();
        a.region = Some("eu-west-1".into());
        a.event_ids = vec!["a/b c".into(), "x".into()];
        assert_eq!(
            console_link(&a).unwrap(),
            "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/a%2Fb%20c"
        );
        assert_eq!(history_link(&a), None, "one event: no history link");
        a.count = 2;
        a.event_name = Some("GetSecretValue".into());
        assert_eq!(
            history_link(&a).unwrap(),
            "https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events?EventName=GetSecretValue"
        );
        a.region = Some("cn-north-1".into());
        assert!(console_link(&a)
            .unwrap()
            .starts_with("https://console.amazonaws.cn/cloudtrailv2/home?region=cn-north-1#"));
        a.region = Some("us-gov-west-1".into());
        assert!(console_link(&a).unwrap().starts_with(
            "https://console.amazonaws-us-gov.com/cloudtrailv2/home?region=us-gov-west-1#"
        ));
        for bad in [
            "evil.example/x",
            "us-east-1.evil",
            "",
            "US-EAST-1",
            "us-iso-east-1",
        ] {
            a.region = Some(bad.into());
            assert_eq!(console_link(&a), None, "{bad}");
        }
        a.region = Some("us-east-1".into());
        a.event_ids.clear();
        assert!(console_link(&a).unwrap().ends_with("#/events"));
    }

    #[test]
    fn cuts_are_marked_and_never_split_a_character() {
        assert_eq!(cut_chars("short", 10), "short");
        let c = cut_chars(&"é".repeat(50), 20);
        assert_eq!(c.chars().count(), 20);
        assert!(c.ends_with("… [cut]"), "{c}");
        for max in [21, 22] {
            let mut s = "é".repeat(50);
            cut(&mut s, max);
            assert!(s.len() <= max && s.ends_with("… [cut]"), "{max}: {s}");
            assert!(s.len() >= max - 1, "as much as fits is kept: {s}");
        }
        let mut s = "é".repeat(11);
        cut(&mut s, 22);
        assert_eq!(s, "é".repeat(11), "a text of exactly the limit is whole");
    }
}
