//! Alert → SNS message, one form per subscriber protocol (`MessageStructure=json`):
//! concise text for email and the default, an AWS Chatbot custom notification for
//! `https` (Slack through Chatbot), and the full alert JSON for `sqs` and `lambda`.
//! Pure functions: the Lambda's SNS sink only sends what this returns.

use crate::alert::Alert;
use crate::event::format_time;
use serde_json::json;
use std::fmt::Write;

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

/// The CloudTrail console page for the alert's first event (or its event history).
pub fn console_link(alert: &Alert) -> Option<String> {
    let region = alert.region.as_deref()?;
    Some(match alert.event_ids.first() {
        Some(id) => format!("https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events/{id}"),
        None => format!("https://{region}.console.aws.amazon.com/cloudtrailv2/home?region={region}#/events"),
    })
}

fn or_dash(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("-")
}

/// Text for email and the default form. `now` (Unix seconds) tells how late it is.
pub fn text(alert: &Alert, now: i64) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{}", alert.title);
    let _ = writeln!(s, "Severity: {}   Rule: {}", alert.severity, alert.rule_id);
    if !alert.description.is_empty() {
        let _ = writeln!(s, "\nWhat happened: {}", alert.description);
    }
    if alert.principals.is_empty() {
        let _ = writeln!(
            s,
            "\nWho:   {} {} (MFA: {})",
            or_dash(&alert.actor.kind),
            alert.actor_label(),
            or_dash(&alert.actor.mfa)
        );
    } else {
        let _ = writeln!(s, "\nWho:   {}", alert.principals.join(", "));
    }
    let _ = writeln!(
        s,
        "From:  {}  ({})",
        alert.ips_label(),
        or_dash(&alert.user_agent)
    );
    if let Some(f) = alert.failure_label() {
        let _ = writeln!(s, "Outcome: {f}");
    }
    let _ = writeln!(
        s,
        "Where: account {}, region {}",
        or_dash(&alert.account_id),
        or_dash(&alert.region)
    );
    let late = alert
        .last_seen
        .as_deref()
        .and_then(crate::event::parse_time)
        .map(|t| {
            format!(
                ", reported {} min after the last event",
                (now - t).max(0) / 60
            )
        })
        .unwrap_or_default();
    let _ = writeln!(
        s,
        "When:  {} .. {}{late}",
        or_dash(&alert.first_seen),
        or_dash(&alert.last_seen)
    );
    let _ = writeln!(s, "Events ({}): {}", alert.count, alert.event_ids.join(" "));
    if let Some(link) = console_link(alert) {
        let _ = writeln!(s, "CloudTrail: {link}");
    }
    if let Some(r) = &alert.runbook {
        let _ = writeln!(s, "\nRunbook: {r}");
    }
    if !alert.falsepositives.is_empty() {
        let _ = writeln!(
            s,
            "\nKnown false positives: {}",
            alert.falsepositives.join("; ")
        );
    }
    let _ = writeln!(
        s,
        "\nAlert id: {} (reported {})",
        alert.fingerprint,
        format_time(now)
    );
    s
}

/// An AWS Chatbot custom notification (renders in Slack through Chatbot).
pub fn chatbot(alert: &Alert) -> serde_json::Value {
    let mut description = format!(
        "*{}* in account `{}` ({}), {} event(s) {} .. {}\nWho: {} `{}` from {}",
        alert.severity.to_string().to_uppercase(),
        or_dash(&alert.account_id),
        or_dash(&alert.region),
        alert.count,
        or_dash(&alert.first_seen),
        or_dash(&alert.last_seen),
        or_dash(&alert.actor.kind),
        alert.actor_label(),
        alert.ips_label(),
    );
    if let Some(f) = alert.failure_label() {
        let _ = write!(description, "\nOutcome: {f}");
    }
    if let Some(link) = console_link(alert) {
        let _ = write!(description, "\n<{link}|Open in CloudTrail>");
    }
    let mut next = Vec::new();
    if let Some(r) = &alert.runbook {
        next.push(r.clone());
    }
    if !alert.falsepositives.is_empty() {
        next.push(format!(
            "Known false positives: {}",
            alert.falsepositives.join("; ")
        ));
    }
    next.push(format!(
        "Rule `{}`; alert id `{}`",
        alert.rule_id, alert.fingerprint
    ));
    json!({
        "version": "1.0",
        "source": "custom",
        "id": alert.fingerprint,
        "content": {
            "textType": "client-markdown",
            "title": format!(":rotating_light: {}", alert.title),
            "description": description,
            "nextSteps": next,
        },
        "metadata": {
            "threadId": alert.fingerprint,
            "summary": alert.title,
            "eventType": alert.rule_id,
        }
    })
}

fn build(alert: &Alert, now: i64) -> SnsMessage {
    let full = serde_json::to_string(alert).unwrap_or_default();
    let text = text(alert, now);
    let message = json!({
        "default": text,
        "email": text,
        "https": chatbot(alert).to_string(),
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

fn cut(s: &mut String, max: usize) {
    if s.len() > max {
        let mut at = max;
        while !s.is_char_boundary(at) {
            at -= 1;
        }
        s.truncate(at);
        s.push_str(" [cut]");
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
    use crate::alert::Actor;
    use crate::rules::Severity;
    use std::collections::BTreeMap;

    fn alert() -> Alert {
        Alert {
            rule_id: "root-adjacent-login-failure".into(),
            title:
                "Failed console sign-in by Root\narn:aws:iam::111122223333:root — from 192.0.2.1"
                    .into(),
            severity: Severity::High,
            account_id: Some("111122223333".into()),
            region: Some("us-east-1".into()),
            count: 1,
            event_ids: vec!["e-1".into()],
            first_seen: Some("2024-05-01T10:00:00Z".into()),
            last_seen: Some("2024-05-01T10:00:00Z".into()),
            group: BTreeMap::new(),
            fingerprint: "0123456789abcdef".into(),
            event_name: Some("ConsoleLogin".into()),
            event_source: Some("signin.amazonaws.com".into()),
            actor: Actor {
                kind: Some("Root".into()),
                arn: Some("arn:aws:iam::111122223333:root".into()),
                account_id: None,
                mfa: Some("No".into()),
            },
            source_ips: vec!["192.0.2.1".into()],
            user_agent: Some("Mozilla/5.0".into()),
            outcome: "failure",
            error_code: None,
            error_message: Some("Failed authentication".into()),
            description: "A root sign-in failed.".into(),
            runbook: Some("Call the owner.".into()),
            references: vec![],
            tags: vec![],
            falsepositives: vec![],
            follow_up_of: None,
            principals: vec![],
        }
    }

    #[test]
    fn every_protocol_gets_its_form() {
        let now = crate::event::parse_time("2024-05-01T10:07:00Z").unwrap();
        let m = sns_message(&alert(), now);
        let forms: serde_json::Value = serde_json::from_str(&m.message).unwrap();
        let text = forms["email"].as_str().unwrap();
        assert!(
            text.contains("Who:   Root arn:aws:iam::111122223333:root (MFA: No)"),
            "{text}"
        );
        assert!(
            text.contains("reported 7 min after the last event"),
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
        let said = chat["content"]["description"].as_str().unwrap();
        assert!(
            said.contains("Outcome: failed: Failed authentication"),
            "{said}"
        );
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
    fn huge_alerts_are_cut_to_fit() {
        let mut a = alert();
        a.count = 100;
        a.event_ids = (0..100).map(|i| format!("{i:0>60}")).collect();
        a.title = "t".repeat(300_000);
        a.description = "d".repeat(300_000);
        let m = sns_message(&a, 0);
        assert!(m.size() <= SNS_MAX_BYTES, "{}", m.size());
        assert!(m.message.contains("more; see count"));
        assert!(m.message.contains("[cut]"));
    }
}
