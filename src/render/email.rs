//! The plain-text form (SNS `email` and `default`): what the on-call reads on a phone.
//!
//! Mail clients on phones wrap long lines wherever they like and show tables as noise, so
//! prose is wrapped at [`WIDTH`] columns, every field is a short labelled line, and the
//! order follows what the reader needs first: the title, how bad, what happened, who,
//! from where, when, the events, the console, the runbook, the alert id. Words longer
//! than a line (ARNs, links, user agents) are never broken, so they still copy and click.

use super::{console_link, history_link, utc, when};
use crate::alert::Alert;
use crate::event::parse_time;

/// Column at which prose is wrapped.
pub const WIDTH: usize = 72;
/// Labels are padded to this width; continuation lines are indented by it.
const LABEL: usize = 7;

/// `text` wrapped at [`WIDTH`] columns: the first line after `first`, the others after
/// `rest`. Line breaks in `text` are kept.
pub fn wrap(text: &str, first: &str, rest: &str) -> String {
    let mut out = String::new();
    let mut prefix = first;
    for para in text.split('\n') {
        let mut line = String::from(prefix);
        let mut empty = true;
        for word in para.split_whitespace() {
            let fits = line.chars().count() + 1 + word.chars().count() <= WIDTH;
            if !empty && !fits {
                out.push_str(line.trim_end());
                out.push('\n');
                line = String::from(rest);
                empty = true;
            }
            if !empty {
                line.push(' ');
            }
            line.push_str(word);
            empty = false;
        }
        out.push_str(line.trim_end());
        out.push('\n');
        prefix = rest;
    }
    out
}

/// A labelled field: `Label: value`, continuation lines under the value.
fn field(label: &str, value: &str) -> String {
    let first = format!("{:<LABEL$}", format!("{label}:"));
    let first = if first.len() > LABEL {
        format!("{first} ")
    } else {
        first
    };
    wrap(value, &first, &" ".repeat(LABEL))
}

/// Numbered steps written inline (`1. Do this. 2. Then that.`) put on lines of their own.
fn steps(text: &str) -> String {
    if !text.starts_with("1. ") {
        return text.to_string();
    }
    let mut out = String::new();
    let mut rest = text;
    let mut n = 2;
    // Step `n` starts after the end of a sentence, not at `see 3. below`.
    while let Some(at) = rest
        .match_indices(&format!(" {n}. "))
        .map(|(i, _)| i)
        .find(|&i| rest[..i].ends_with(['.', ':', ';', '!', '?']))
    {
        out.push_str(&rest[..at]);
        out.push('\n');
        rest = &rest[at + 1..];
        n += 1;
    }
    out.push_str(rest);
    out
}

fn or_dash(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("-")
}

/// The plain text of `alert` as reported at `now` (Unix seconds).
pub fn text(alert: &Alert, now: i64) -> String {
    let mut s = wrap(&alert.title, "", "");
    s.push('\n');
    s.push_str(&wrap(
        &format!(
            "Severity: {} · Rule: {}",
            alert.severity.to_string().to_uppercase(),
            alert.rule_id
        ),
        "",
        "",
    ));
    if !alert.description.is_empty() {
        s.push_str("\nWhat happened:\n");
        s.push_str(&wrap(&alert.description, "", ""));
    }
    s.push('\n');
    // A follow-up lists the principals of its events instead of one actor.
    let who = if alert.principals.is_empty() {
        format!(
            "{} {}\nMFA: {}",
            or_dash(&alert.actor.kind),
            alert.named(alert.actor_label()),
            or_dash(&alert.actor.mfa)
        )
    } else {
        let names: Vec<String> = alert.principals.iter().map(|p| alert.named(p)).collect();
        names.join("\n")
    };
    s.push_str(&field("Who", &who));
    let from = match &alert.user_agent {
        Some(ua) => format!("{}\n{ua}", alert.ips_label()),
        None => alert.ips_label(),
    };
    s.push_str(&field("From", &from));
    s.push_str(&field(
        "Where",
        &format!(
            "account {}, region {}",
            alert.named(or_dash(&alert.account_id)),
            or_dash(&alert.region)
        ),
    ));
    let first = when(alert.first_seen.as_deref(), now);
    let last = when(alert.last_seen.as_deref(), now);
    let span = if first == last {
        first
    } else {
        format!("{first}\nto {last}")
    };
    s.push_str(&field("When", &span));
    if let Some(f) = alert.failure_label() {
        s.push_str(&field("Outcome", &f));
    }
    if !alert.group.is_empty() {
        let g: Vec<String> = alert
            .group
            .iter()
            .map(|(k, v)| format!("{k}={}", alert.named(v)))
            .collect();
        s.push_str(&field("Group", &g.join("\n")));
    }
    let others: Vec<String> = alert
        .other_named_accounts()
        .iter()
        .map(|(id, a)| format!("account {id} ({a})"))
        .collect();
    if !others.is_empty() {
        s.push_str(&field("Also", &others.join("\n")));
    }
    s.push_str(&format!("\nEvents ({}):\n", alert.count));
    for id in &alert.event_ids {
        s.push_str(&format!("  {id}\n"));
    }
    if alert.count > alert.event_ids.len() && !alert.event_ids.is_empty() {
        s.push_str(&format!(
            "  ({} listed of {})\n",
            alert.event_ids.len(),
            alert.count
        ));
    }
    if let Some(link) = console_link(alert) {
        let account = match &alert.account_id {
            Some(a) => format!(", signed in to account {}", alert.named(a)),
            None => String::new(),
        };
        s.push_str(&wrap(&format!("CloudTrail console{account}:"), "\n", ""));
        match (history_link(alert), &alert.event_name) {
            (Some(all), Some(name)) => s.push_str(&format!(
                "First event:\n{link}\nAll {name} events (event history):\n{all}\n"
            )),
            _ => s.push_str(&format!("{link}\n")),
        }
    }
    if let Some(r) = &alert.runbook {
        s.push_str("\nRunbook:\n");
        s.push_str(&wrap(&steps(r), "", ""));
    }
    if !alert.falsepositives.is_empty() {
        s.push_str("\nKnown false positives:\n");
        for fp in &alert.falsepositives {
            s.push_str(&wrap(fp, "- ", "  "));
        }
    }
    s.push('\n');
    s.push_str(&field("Alert id", &alert.fingerprint));
    let late = alert
        .last_seen
        .as_deref()
        .and_then(parse_time)
        .map(|t| {
            let m = (now - t).max(0) / 60;
            let unit = if m == 1 { "minute" } else { "minutes" };
            format!(", {m} {unit} after the last event")
        })
        .unwrap_or_default();
    s.push_str(&field("Reported", &format!("{}{late}", utc(now))));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_wraps_at_72_columns_and_long_words_stay_whole() {
        let words = "word ".repeat(40);
        let link = format!("https://example.com/{}", "x".repeat(100));
        let out = wrap(&format!("{words}{link} end"), "Label: ", "       ");
        for line in out.lines() {
            assert!(
                line.chars().count() <= WIDTH || line.trim() == link,
                "{line:?}"
            );
        }
        assert!(out.starts_with("Label: word word"));
        assert!(out.lines().any(|l| l == format!("       {link}")), "{out}");
        assert!(out.lines().skip(1).all(|l| l.starts_with("       ")));
        assert!(out.ends_with(" end\n") || out.ends_with("\nend\n"), "{out}");
    }

    #[test]
    fn numbered_runbook_steps_get_their_own_lines() {
        assert_eq!(
            steps("1. Ask. 2. Revoke keys (see 3. below). 3. Review."),
            "1. Ask.\n2. Revoke keys (see 3. below).\n3. Review."
        );
        assert_eq!(steps("Ask. 2. Not a list."), "Ask. 2. Not a list.");
    }

    #[test]
    fn a_word_that_ends_at_column_72_stays_on_its_line() {
        let fits = format!("{} {}", "a".repeat(60), "b".repeat(11));
        assert_eq!(wrap(&fits, "", ""), format!("{fits}\n"));
        let over = format!("{} {}", "a".repeat(60), "b".repeat(12));
        assert_eq!(
            wrap(&over, "", "  "),
            format!("{}\n  {}\n", "a".repeat(60), "b".repeat(12))
        );
    }

    /// The text of `a`, reported seven minutes after the sample's event.
    fn email(a: &Alert) -> String {
        text(a, parse_time("2024-05-01T10:07:00Z").unwrap())
    }

    #[test]
    fn optional_sections_show_only_when_there_is_something_to_say() {
        let mut a = crate::alert::sample();
        let plain = email(&a);
        for absent in [
            "Group:",
            "Also:",
            "listed of",
            "All ConsoleLogin",
            "to 2024",
        ] {
            assert!(!plain.contains(absent), "{absent}: {plain}");
        }
        assert!(
            plain.contains("\nReported: 2024-05-01 10:07:00 UTC, 7 minutes after the last event\n")
        );

        a.group.insert("sourceIPAddress".into(), "192.0.2.1".into());
        a.error_message = Some("denied by 222233334444".into());
        let (aliases, _) = crate::aliases::AccountAliases::parse(&["222233334444=audit".into()]);
        a.name_accounts(&aliases);
        a.event_ids = vec!["e1".into(), "e2".into()];
        a.count = 3;
        a.last_seen = Some("2024-05-01T10:06:00Z".into());
        a.falsepositives = vec!["A locked-out admin".into()];
        let busy = email(&a);
        for present in [
            "\nGroup: sourceIPAddress=192.0.2.1\n",
            "\nAlso:  account 222233334444 (audit)\n",
            "\n  e1\n  e2\n  (2 listed of 3)\n",
            "\nAll ConsoleLogin events (event history):\nhttps://",
            "\n       to 2024-05-01 10:06:00 UTC (1 minute ago)\n",
            "\nKnown false positives:\n- A locked-out admin\n",
            "1 minute after the last event\n",
        ] {
            assert!(busy.contains(present), "{present:?}: {busy}");
        }
        a.count = 2;
        assert!(!email(&a).contains("listed of"));
    }
}
