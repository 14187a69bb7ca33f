//! The AWS Chatbot custom notification (SNS `https`; Slack through Chatbot), and the
//! schema every one of them must meet ([`check`]).
//!
//! Chatbot drops a message it cannot read without telling anyone, and Slack refuses
//! blocks over its limits, so a page that never shows up is the failure to fear. The
//! structure and the fixed values are those of AWS's "Custom notifications" page
//! (`version` 1.0, `source` custom, `content.{textType, title, description, nextSteps,
//! keywords}`, `metadata.{threadId, summary, eventType, relatedResources,
//! additionalContext}`, `textType` only `client-markdown`). The length limits are Slack's
//! Block Kit limits for what Chatbot renders (a header of 150 characters, a section of
//! 3,000, a context of 10 elements) and, for `eventType`, the pattern Chatbot's custom
//! actions match notification types with; the rest are our own, kept small. Every value
//! from a record is escaped for Slack (`&`, `<`, `>`) and shown in code spans, so a user
//! agent cannot make a link or bold text; long values are cut with a visible mark.

use super::{ago, console_link, cut_chars, history_link, subject, utc, when};
use crate::alert::Alert;
use serde_json::{json, Map, Value};

/// `content.title`: Slack's header block holds at most 150 characters, on one line.
pub const TITLE_MAX: usize = 150;
/// `content.description`: a Slack section's text, at most 3,000 characters.
pub const DESCRIPTION_MAX: usize = 3000;
/// `content.nextSteps`: at most this many, shown together in one section of at most
/// [`DESCRIPTION_MAX`] characters.
pub const NEXT_STEPS_MAX: usize = 5;
/// `content.keywords`: a Slack context block holds at most 10 elements.
pub const KEYWORDS_MAX: usize = 10;
/// Longest keyword, in characters (ours).
pub const KEYWORD_MAX_CHARS: usize = 75;
/// `metadata.summary`, in characters (the notification preview; ours, like a header).
pub const SUMMARY_MAX: usize = 150;
/// `metadata.threadId`, in characters (ours; a fingerprint is 16).
pub const THREAD_ID_MAX: usize = 128;
/// `metadata.eventType`: Chatbot's custom-action notification types are
/// `^[a-zA-Z0-9-]+$`, at most 100 characters.
pub const EVENT_TYPE_MAX: usize = 100;
/// `metadata.relatedResources`: at most this many (ours), each an ARN or id of at most
/// 2,048 characters (the longest ARN IAM accepts).
pub const RELATED_MAX: usize = 10;
pub const RELATED_MAX_CHARS: usize = 2048;
/// `metadata.additionalContext`: at most this many string values (ours) of at most
/// [`CONTEXT_VALUE_MAX`] characters.
pub const CONTEXT_MAX: usize = 20;
pub const CONTEXT_VALUE_MAX: usize = 1000;

/// Longest record value shown in the description (an ARN, a user agent, a group value).
const VALUE_MAX: usize = 300;
/// Event ids listed in the description; the rest are counted.
const EVENT_IDS_SHOWN: usize = 5;

/// Text for Slack: `&`, `<` and `>` escaped as Slack asks, so no value can open a link
/// or a mention.
fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A record value in a code span: escaped, on one line, without backticks (shown as `'`)
/// that would end the span, cut at [`VALUE_MAX`].
fn code(s: &str) -> String {
    let one_line: String = s
        .chars()
        .map(|c| match c {
            '`' => '\'',
            c if c.is_control() => ' ',
            c => c,
        })
        .collect();
    format!("`{}`", esc(&cut_chars(&one_line, VALUE_MAX)))
}

/// Prose (a rule's description, a runbook): escaped and cut; a cut that would leave a
/// code span open is made before the span instead.
fn prose(s: &str, max: usize) -> String {
    let mut cut = cut_chars(s, max);
    if cut.len() < s.len() && cut.matches('`').count() % 2 == 1 {
        let keep = cut.rfind('`').unwrap_or(0);
        cut = format!("{}… [cut]", cut[..keep].trim_end());
    }
    esc(&cut)
}

/// A value in a code span with the aliases of the accounts it names after it.
fn named(alert: &Alert, value: &str) -> String {
    let shown = alert.named(value);
    match shown.strip_prefix(value) {
        Some(aliases) if !aliases.is_empty() => format!("{}{}", code(value), prose(aliases, 200)),
        _ => code(value),
    }
}

fn or_dash(o: &Option<String>) -> &str {
    o.as_deref().unwrap_or("-")
}

/// What [`fit`] ends a cut text with.
const MARK: &str = "… [cut: see the email or the alert JSON]";

/// Lines joined with line breaks when they fit in `max` characters; otherwise as many as
/// leave room for a mark saying the text was cut (a line is never cut, so no code span or
/// link is left open).
fn fit(lines: &[String], max: usize) -> String {
    let whole = lines.join("\n");
    if whole.chars().count() <= max {
        return whole;
    }
    // What the kept lines may take, beside a line break and the mark.
    let Some(room) = max.checked_sub(MARK.chars().count() + 1) else {
        return MARK.to_string();
    };
    let mut kept: Vec<&str> = Vec::new();
    let mut used = 0;
    for l in lines {
        let n = l.chars().count() + usize::from(!kept.is_empty());
        if used + n > room {
            break;
        }
        kept.push(l);
        used += n;
    }
    kept.push(MARK);
    kept.join("\n")
}

/// `eventType`: the rule id in Chatbot's notification-type alphabet.
fn event_type(rule_id: &str) -> String {
    let t: String = rule_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(EVENT_TYPE_MAX)
        .collect();
    if t.is_empty() {
        "trailwatch-alert".into()
    } else {
        t
    }
}

/// The custom notification for `alert`, as reported at `now` (Unix seconds).
pub fn chatbot(alert: &Alert, now: i64) -> Value {
    let mut lines = vec![format!(
        "*{}* · rule {}",
        alert.severity.to_string().to_uppercase(),
        code(&alert.rule_id)
    )];
    if !alert.description.is_empty() {
        lines.push(prose(&alert.description, 400));
    }
    if alert.principals.is_empty() {
        lines.push(format!(
            "*Who:* {} {} · MFA: {}",
            esc(&cut_chars(or_dash(&alert.actor.kind), 40)),
            named(alert, alert.actor_label()),
            esc(&cut_chars(or_dash(&alert.actor.mfa), 20))
        ));
    } else {
        // A follow-up: the principals of its events.
        let who: Vec<String> = alert
            .principals
            .iter()
            .take(5)
            .map(|p| named(alert, p))
            .collect();
        let more = alert.principals.len().saturating_sub(5);
        let more = if more > 0 {
            format!(" and {more} more")
        } else {
            String::new()
        };
        lines.push(format!("*Who:* {}{more}", who.join(", ")));
    }
    let ips: Vec<String> = alert
        .source_ips
        .iter()
        .take(10)
        .map(|ip| code(ip))
        .collect();
    let mut from = format!(
        "*From:* {}",
        if ips.is_empty() {
            "-".to_string()
        } else {
            ips.join(", ")
        }
    );
    if alert.source_ips.len() > ips.len() {
        from.push_str(&format!(" and {} more", alert.source_ips.len() - ips.len()));
    }
    if let Some(ua) = &alert.user_agent {
        from.push_str(&format!(" · {}", code(ua)));
    }
    lines.push(from);
    lines.push(format!(
        "*Where:* account {} · {}",
        named(alert, or_dash(&alert.account_id)),
        code(or_dash(&alert.region))
    ));
    let first = when(alert.first_seen.as_deref(), now);
    let last = when(alert.last_seen.as_deref(), now);
    lines.push(if first == last {
        format!("*When:* {}", esc(&cut_chars(&first, VALUE_MAX)))
    } else {
        format!(
            "*When:* {} to {}",
            esc(&cut_chars(&first, VALUE_MAX)),
            esc(&cut_chars(&last, VALUE_MAX))
        )
    });
    if let Some(f) = alert.failure_label() {
        lines.push(format!("*Outcome:* {}", code(&f)));
    }
    if !alert.group.is_empty() {
        let g: Vec<String> = alert
            .group
            .iter()
            .take(10)
            .map(|(k, v)| format!("{}={}", esc(&cut_chars(k, 100)), named(alert, v)))
            .collect();
        lines.push(format!("*Group:* {}", g.join(", ")));
    }
    let others: Vec<String> = alert
        .other_named_accounts()
        .iter()
        .take(10)
        .map(|(id, a)| format!("{} ({})", code(id), prose(a, 100)))
        .collect();
    if !others.is_empty() {
        lines.push(format!("*Also:* {}", others.join(", ")));
    }
    let ids: Vec<String> = alert
        .event_ids
        .iter()
        .take(EVENT_IDS_SHOWN)
        .map(|id| code(id))
        .collect();
    let mut events = format!("*Events ({}):* {}", alert.count, ids.join(", "));
    if alert.count > ids.len() && !ids.is_empty() {
        events.push_str(&format!(" and {} more", alert.count - ids.len()));
    }
    lines.push(events);
    let mut links = Vec::new();
    if let Some(link) = console_link(alert) {
        let which = if alert.count > 1 {
            "first event"
        } else {
            "event"
        };
        links.push(format!("<{link}|Open the {which} in CloudTrail>"));
    }
    if let (Some(link), Some(name)) = (history_link(alert), &alert.event_name) {
        let name: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(64)
            .collect();
        links.push(format!("<{link}|All {name} events>"));
    }
    if !links.is_empty() {
        lines.push(links.join(" · "));
    }

    let mut next = Vec::new();
    if let Some(r) = &alert.runbook {
        next.push(format!("Runbook: {}", prose(r, 1500)));
    }
    if !alert.falsepositives.is_empty() {
        next.push(format!(
            "Known false positives: {}",
            prose(&alert.falsepositives.join("; "), 600)
        ));
    }
    next.push(format!(
        "Alert id {} · reported {} ({} after the last event)",
        code(&alert.fingerprint),
        utc(now),
        alert
            .last_seen
            .as_deref()
            .and_then(crate::event::parse_time)
            .map_or_else(|| "-".to_string(), |t| ago(t, now).replace(" ago", "")),
    ));

    let mut keywords = vec![alert.severity.to_string().to_uppercase()];
    match (&alert.account_alias, &alert.account_id) {
        (Some(a), _) => keywords.push(a.clone()),
        (None, Some(id)) => keywords.push(id.clone()),
        _ => {}
    }
    keywords.extend(alert.region.clone());
    keywords.extend(
        crate::rules::attack_techniques(&alert.tags)
            .into_iter()
            .take(3),
    );
    let keywords: Vec<String> = keywords
        .iter()
        .map(|k| esc(&cut_chars(&k.replace(char::is_control, " "), 60)))
        .take(KEYWORDS_MAX)
        .collect();

    let related: Vec<String> = alert
        .actor
        .arn
        .iter()
        .chain(alert.group.values().filter(|v| v.starts_with("arn:")))
        .map(|a| cut_chars(a, RELATED_MAX_CHARS))
        .fold(Vec::new(), |mut acc, a| {
            if !acc.contains(&a) && acc.len() < RELATED_MAX {
                acc.push(a);
            }
            acc
        });

    let mut context = Map::new();
    let mut put = |k: &str, v: Option<String>| {
        if let Some(v) = v {
            context.insert(k.into(), Value::String(cut_chars(&v, CONTEXT_VALUE_MAX)));
        }
    };
    put("severity", Some(alert.severity.to_string()));
    put("rule_id", Some(alert.rule_id.clone()));
    put("account_id", alert.account_id.clone());
    put("account_alias", alert.account_alias.clone());
    put("region", alert.region.clone());
    put("count", Some(alert.count.to_string()));
    put("first_seen", alert.first_seen.clone());
    put("last_seen", alert.last_seen.clone());
    put("fingerprint", Some(alert.fingerprint.clone()));

    // Cut before escaping, so no `&amp;` is cut in half.
    let raw_title = alert.title.replace(char::is_control, " ");
    let mut keep = TITLE_MAX;
    let title = loop {
        let t = format!(":rotating_light: {}", esc(&cut_chars(&raw_title, keep)));
        if t.chars().count() <= TITLE_MAX || keep == 0 {
            break t;
        }
        keep -= 1;
    };
    json!({
        "version": "1.0",
        "source": "custom",
        "id": alert.fingerprint,
        "content": {
            "textType": "client-markdown",
            "title": title,
            "description": fit(&lines, DESCRIPTION_MAX),
            "nextSteps": next,
            "keywords": keywords,
        },
        "metadata": {
            "threadId": cut_chars(&alert.fingerprint, THREAD_ID_MAX),
            "summary": cut_chars(&subject(alert), SUMMARY_MAX),
            "eventType": event_type(&alert.rule_id),
            "relatedResources": related,
            "additionalContext": context,
        }
    })
}

/// Every way `v` breaks the custom-notification schema and the limits above, as
/// `path: problem`; empty when Chatbot and Slack can show it.
pub fn check(v: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let Some(root) = v.as_object() else {
        return vec!["$: not an object".into()];
    };
    only(
        root,
        "$",
        &["version", "source", "id", "content", "metadata"],
        &mut p,
    );
    if root.get("version") != Some(&json!("1.0")) {
        p.push("version: must be \"1.0\"".into());
    }
    if root.get("source") != Some(&json!("custom")) {
        p.push("source: must be \"custom\"".into());
    }
    if let Some(id) = root.get("id") {
        text(id, "id", 1, 256, false, &mut p);
    }
    match root.get("content").and_then(Value::as_object) {
        None => p.push("content: required object".into()),
        Some(c) => {
            only(
                c,
                "content",
                &["textType", "title", "description", "nextSteps", "keywords"],
                &mut p,
            );
            if let Some(t) = c.get("textType") {
                if t != "client-markdown" {
                    p.push("content.textType: only \"client-markdown\"".into());
                }
            }
            if let Some(t) = c.get("title") {
                text(t, "content.title", 1, TITLE_MAX, false, &mut p);
            }
            match c.get("description") {
                Some(d) => {
                    text(d, "content.description", 1, DESCRIPTION_MAX, true, &mut p);
                    if let Some(d) = d.as_str() {
                        links(d, "content.description", &mut p);
                    }
                }
                None => p.push("content.description: required".into()),
            }
            if let Some(n) = c.get("nextSteps") {
                let items = list(n, "content.nextSteps", NEXT_STEPS_MAX, &mut p);
                let mut total = 0;
                for (i, s) in items.iter().enumerate() {
                    let at = format!("content.nextSteps[{i}]");
                    text(s, &at, 1, DESCRIPTION_MAX, true, &mut p);
                    if let Some(s) = s.as_str() {
                        total += s.chars().count() + 3;
                        links(s, &at, &mut p);
                    }
                }
                if total > DESCRIPTION_MAX {
                    p.push(format!(
                        "content.nextSteps: {total} characters together, at most {DESCRIPTION_MAX}"
                    ));
                }
            }
            if let Some(k) = c.get("keywords") {
                for (i, s) in list(k, "content.keywords", KEYWORDS_MAX, &mut p)
                    .iter()
                    .enumerate()
                {
                    text(
                        s,
                        &format!("content.keywords[{i}]"),
                        1,
                        KEYWORD_MAX_CHARS,
                        false,
                        &mut p,
                    );
                }
            }
        }
    }
    if let Some(m) = root.get("metadata") {
        let Some(m) = m.as_object() else {
            p.push("metadata: not an object".into());
            return p;
        };
        only(
            m,
            "metadata",
            &[
                "threadId",
                "summary",
                "eventType",
                "relatedResources",
                "additionalContext",
            ],
            &mut p,
        );
        if let Some(t) = m.get("threadId") {
            text(t, "metadata.threadId", 1, THREAD_ID_MAX, false, &mut p);
        }
        if let Some(s) = m.get("summary") {
            text(s, "metadata.summary", 1, SUMMARY_MAX, false, &mut p);
        }
        if let Some(e) = m.get("eventType") {
            text(e, "metadata.eventType", 1, EVENT_TYPE_MAX, false, &mut p);
            if e.as_str()
                .is_some_and(|e| !e.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
            {
                p.push("metadata.eventType: only letters, digits and '-'".into());
            }
        }
        if let Some(r) = m.get("relatedResources") {
            for (i, s) in list(r, "metadata.relatedResources", RELATED_MAX, &mut p)
                .iter()
                .enumerate()
            {
                text(
                    s,
                    &format!("metadata.relatedResources[{i}]"),
                    1,
                    RELATED_MAX_CHARS,
                    false,
                    &mut p,
                );
            }
        }
        if let Some(a) = m.get("additionalContext") {
            match a.as_object() {
                None => p.push("metadata.additionalContext: not an object".into()),
                Some(a) => {
                    if a.len() > CONTEXT_MAX {
                        p.push(format!(
                            "metadata.additionalContext: {} keys, at most {CONTEXT_MAX}",
                            a.len()
                        ));
                    }
                    for (k, v) in a {
                        text(
                            v,
                            &format!("metadata.additionalContext.{k}"),
                            0,
                            CONTEXT_VALUE_MAX,
                            false,
                            &mut p,
                        );
                    }
                }
            }
        }
    }
    p
}

fn only(o: &Map<String, Value>, at: &str, keys: &[&str], p: &mut Vec<String>) {
    for k in o.keys().filter(|k| !keys.contains(&k.as_str())) {
        p.push(format!("{at}.{k}: not in the schema"));
    }
}

fn list<'a>(v: &'a Value, at: &str, max: usize, p: &mut Vec<String>) -> &'a [Value] {
    match v.as_array() {
        None => {
            p.push(format!("{at}: not a list"));
            &[]
        }
        Some(a) => {
            if a.len() > max {
                p.push(format!("{at}: {} items, at most {max}", a.len()));
            }
            a
        }
    }
}

/// A string of `min..=max` characters, without control characters (line breaks only
/// where `lines`).
fn text(v: &Value, at: &str, min: usize, max: usize, lines: bool, p: &mut Vec<String>) {
    let Some(s) = v.as_str() else {
        p.push(format!("{at}: not a string"));
        return;
    };
    let n = s.chars().count();
    if n < min || n > max {
        p.push(format!("{at}: {n} characters, {min} to {max} allowed"));
    }
    if s.chars().any(|c| c.is_control() && !(lines && c == '\n')) {
        p.push(format!("{at}: holds a control character"));
    }
}

/// Slack reads `<…>` as a link or a mention: the only ones allowed are our own links to
/// the AWS console, `<https://…|label>`; any other `<` or `>` must be escaped.
fn links(s: &str, at: &str, p: &mut Vec<String>) {
    let mut rest = s;
    while let Some(open) = rest.find(['<', '>']) {
        if rest[open..].starts_with('>') {
            p.push(format!("{at}: an unescaped '>'"));
            return;
        }
        let inner = &rest[open + 1..];
        let Some(close) = inner.find('>') else {
            p.push(format!("{at}: an unescaped '<'"));
            return;
        };
        let link = &inner[..close];
        let ok = link.split_once('|').is_some_and(|(url, label)| {
            is_console_url(url) && !label.is_empty() && !label.contains(['<', '\n'])
        });
        if !ok {
            p.push(format!("{at}: '<{link}>' is not a link to the AWS console"));
        }
        rest = &inner[close + 1..];
    }
}

fn is_console_url(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    !url.contains(char::is_whitespace)
        && (host.ends_with(".console.aws.amazon.com")
            || host == "console.amazonaws.cn"
            || host == "console.amazonaws-us-gov.com")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> Value {
        json!({
            "version": "1.0", "source": "custom", "id": "x",
            "content": {"textType": "client-markdown", "title": "t",
                "description": "d <https://eu-west-1.console.aws.amazon.com/cloudtrailv2/home?region=eu-west-1#/events/e|Open>",
                "nextSteps": ["a"], "keywords": ["HIGH"]},
            "metadata": {"threadId": "0123", "summary": "s", "eventType": "rule-1",
                "relatedResources": ["arn:aws:iam::111122223333:root"],
                "additionalContext": {"k": "v"}}
        })
    }

    /// `good()` with `path` (dot-separated) set to `v`.
    fn with(path: &str, v: Value) -> Value {
        let mut g = good();
        let mut at = &mut g;
        let keys: Vec<&str> = path.split('.').collect();
        for k in &keys[..keys.len() - 1] {
            at = &mut at[*k];
        }
        at[keys[keys.len() - 1]] = v;
        g
    }

    #[test]
    fn the_schema_check_catches_each_kind_of_mistake() {
        assert_eq!(check(&good()), Vec::<String>::new());
        let bad = [
            (with("version", json!("2.0")), "version"),
            (with("source", json!("aws")), "source"),
            (with("extra", json!(1)), "$.extra: not in the schema"),
            (with("content.textType", json!("markdown")), "textType"),
            (
                with("content.title", json!("x".repeat(151))),
                "content.title: 151",
            ),
            (
                with("content.title", json!("a\nb")),
                "content.title: holds a control",
            ),
            (
                with("content.description", json!("")),
                "content.description: 0",
            ),
            (with("content.description", json!("é".repeat(3001))), "3001"),
            (
                with("content.description", json!("<https://evil.example|x>")),
                "not a link to the AWS console",
            ),
            (with("content.description", json!("a <b")), "unescaped '<'"),
            (with("content.description", json!("a > b")), "unescaped '>'"),
            (
                with("content.nextSteps", json!(["a", "b", "c", "d", "e", "f"])),
                "6 items",
            ),
            (
                with(
                    "content.nextSteps",
                    json!(["x".repeat(2000), "y".repeat(2000)]),
                ),
                "together",
            ),
            (with("content.keywords", json!([1])), "not a string"),
            (with("content.keywords", json!(vec!["k"; 11])), "11 items"),
            (with("metadata.eventType", json!("a_b")), "only letters"),
            (
                with("metadata.summary", json!("s".repeat(151))),
                "metadata.summary",
            ),
            (
                with("metadata.relatedResources", json!("arn")),
                "not a list",
            ),
            (
                with("metadata.additionalContext", json!({"n": 1})),
                "additionalContext.n",
            ),
            (with("metadata.unknown", json!("x")), "metadata.unknown"),
        ];
        for (v, want) in bad {
            let p = check(&v);
            assert!(p.iter().any(|m| m.contains(want)), "{want}: {p:?}");
        }
        let mut no_desc = good();
        no_desc["content"]
            .as_object_mut()
            .unwrap()
            .remove("description");
        assert_eq!(check(&no_desc), ["content.description: required"]);
    }

    #[test]
    fn record_values_cannot_make_links_or_leave_spans_open() {
        assert_eq!(prose("set `trusted_accounts` now", 12), "set… [cut]");
        assert_eq!(prose("a <b> & c", 50), "a &lt;b&gt; &amp; c");
        assert_eq!(code("a`<b>&c\nd"), "`a'&lt;b&gt;&amp;c d`");
        let lines: Vec<String> = (0..100)
            .map(|i| format!("`line {i}` {}", "x".repeat(50)))
            .collect();
        let out = fit(&lines, 1000);
        assert!(out.chars().count() <= 1000, "{}", out.chars().count());
        assert!(
            out.ends_with("[cut: see the email or the alert JSON]"),
            "{out}"
        );
        assert!(
            out.lines().all(|l| l.matches('`').count() % 2 == 0),
            "{out}"
        );
        assert_eq!(event_type("sigma:4db6_x"), "sigma-4db6-x");
        assert_eq!(event_type("__"), "--");
        assert_eq!(event_type(""), "trailwatch-alert");
    }

    /// `fit` keeps every line when they all fit in `max`; otherwise the most lines that
    /// leave room for the mark, then the mark: never more than `max` characters (from the
    /// mark's own length up), never a line cut. Checked against that rule for every `max`
    /// around each boundary.
    #[test]
    fn fit_keeps_whole_lines_up_to_the_limit_and_marks_the_cut() {
        let m = MARK.chars().count();
        let join = |ls: &[String]| ls.join("\n").chars().count();
        for lens in [
            vec![3, m + 5],
            vec![10, 4, 7],
            vec![m, 1, m],
            vec![1],
            vec![0, m, 2],
        ] {
            let lines: Vec<String> = lens.iter().map(|&n| "é".repeat(n)).collect();
            for max in m..join(&lines) + m + 3 {
                let expected = if join(&lines) <= max {
                    lines.join("\n")
                } else {
                    let k = (0..lines.len())
                        .rev()
                        .find(|&k| k == 0 || join(&lines[..k]) + 1 + m <= max)
                        .unwrap_or(0);
                    let mut out = lines[..k].join("\n");
                    if k > 0 {
                        out.push('\n');
                    }
                    out + MARK
                };
                assert_eq!(fit(&lines, max), expected, "{lens:?} in {max}");
            }
        }
    }

    #[test]
    fn prose_closes_no_span_it_did_not_cut() {
        assert_eq!(prose("run `aws iam", 100), "run `aws iam");
        assert_eq!(prose("run `aws iam list-users` now", 15), "run… [cut]");
        assert_eq!(prose("a < b", 100), "a &lt; b");
    }

    #[test]
    fn values_are_followed_by_the_aliases_of_the_accounts_they_name() {
        let mut a = crate::alert::sample();
        assert_eq!(named(&a, "111122223333"), "`111122223333`");
        let (aliases, _) = crate::aliases::AccountAliases::parse(&["111122223333=prod<1>".into()]);
        a.name_accounts(&aliases);
        assert_eq!(named(&a, "111122223333"), "`111122223333` (prod&lt;1&gt;)");
        assert_eq!(or_dash(&None), "-");
        assert_eq!(or_dash(&Some("eu-west-1".into())), "eu-west-1");
    }

    /// Seven minutes after the sample alert's event.
    fn now() -> i64 {
        crate::event::parse_time("2024-05-01T10:07:00Z").unwrap()
    }

    /// The description of `a`, as Slack gets it.
    fn description(a: &Alert) -> String {
        chatbot(a, now())["content"]["description"]
            .as_str()
            .unwrap()
            .to_string()
    }

    /// Each list in the description shows up to its limit and counts the rest.
    #[test]
    fn lists_show_their_limit_and_count_the_rest() {
        let mut a = crate::alert::sample();
        a.principals = (1..=5).map(|i| format!("p{i}")).collect();
        a.source_ips = (1..=10).map(|i| format!("192.0.2.{i}")).collect();
        a.event_ids = (1..=5).map(|i| format!("e{i}")).collect();
        a.count = 5;
        let d = description(&a);
        assert!(d.contains("*Who:* `p1`, `p2`, `p3`, `p4`, `p5`\n"), "{d}");
        assert!(d.contains("`192.0.2.10` · `Mozilla/5.0`"), "{d}");
        assert!(
            d.contains("*Events (5):* `e1`, `e2`, `e3`, `e4`, `e5`\n"),
            "{d}"
        );
        assert!(!d.contains("more"), "{d}");
        assert!(d.contains("Open the first event in CloudTrail"), "{d}");

        a.principals.push("p6".into());
        a.source_ips.push("192.0.2.11".into());
        a.event_ids.push("e6".into());
        a.count = 7;
        let d = description(&a);
        assert!(d.contains("`p5` and 1 more\n"), "{d}");
        assert!(!d.contains("`p6`") && !d.contains("192.0.2.11"), "{d}");
        assert!(d.contains("`192.0.2.10` and 1 more · `Mozilla/5.0`"), "{d}");
        assert!(d.contains("`e5` and 2 more\n"), "{d}");

        a.count = 1;
        a.event_ids.truncate(1);
        assert!(description(&a).contains("Open the event in CloudTrail"));
    }

    /// Every limit of the schema: a value at the limit passes, one more fails there.
    #[test]
    fn values_at_each_limit_pass_and_one_more_fails() {
        let text = |n: usize| json!("x".repeat(n));
        let texts = |n: usize, len: usize| json!(vec!["x".repeat(len); n]);
        let context = |n: usize, len: usize| {
            let m: Map<String, Value> = (0..n).map(|i| (format!("k{i}"), text(len))).collect();
            Value::Object(m)
        };
        // Five steps of 597 characters: 3,000 with the three each one is counted for.
        let steps = |extra: usize| {
            let mut v = vec!["x".repeat(DESCRIPTION_MAX / NEXT_STEPS_MAX - 3); NEXT_STEPS_MAX];
            v[0].push_str(&"x".repeat(extra));
            json!(v)
        };
        let cases = [
            ("content.title", text(TITLE_MAX), text(TITLE_MAX + 1)),
            (
                "content.description",
                text(DESCRIPTION_MAX),
                text(DESCRIPTION_MAX + 1),
            ),
            ("content.nextSteps", steps(0), steps(1)),
            (
                "content.nextSteps",
                texts(NEXT_STEPS_MAX, 1),
                texts(NEXT_STEPS_MAX + 1, 1),
            ),
            (
                "content.keywords",
                texts(KEYWORDS_MAX, KEYWORD_MAX_CHARS),
                texts(KEYWORDS_MAX + 1, 1),
            ),
            (
                "content.keywords[0]",
                texts(1, KEYWORD_MAX_CHARS),
                texts(1, KEYWORD_MAX_CHARS + 1),
            ),
            (
                "metadata.threadId",
                text(THREAD_ID_MAX),
                text(THREAD_ID_MAX + 1),
            ),
            ("metadata.summary", text(SUMMARY_MAX), text(SUMMARY_MAX + 1)),
            (
                "metadata.eventType",
                text(EVENT_TYPE_MAX),
                text(EVENT_TYPE_MAX + 1),
            ),
            (
                "metadata.relatedResources",
                texts(RELATED_MAX, RELATED_MAX_CHARS),
                texts(RELATED_MAX + 1, 1),
            ),
            (
                "metadata.relatedResources[0]",
                texts(1, RELATED_MAX_CHARS),
                texts(1, RELATED_MAX_CHARS + 1),
            ),
            (
                "metadata.additionalContext",
                context(CONTEXT_MAX, CONTEXT_VALUE_MAX),
                context(CONTEXT_MAX + 1, 1),
            ),
            (
                "metadata.additionalContext.k0",
                context(1, CONTEXT_VALUE_MAX),
                context(1, CONTEXT_VALUE_MAX + 1),
            ),
        ];
        for (at, ok, over) in cases {
            let path = at.split(['[', '.']).take(2).collect::<Vec<_>>().join(".");
            assert_eq!(check(&with(&path, ok)), Vec::<String>::new(), "{at}");
            let p = check(&with(&path, over));
            assert!(
                p.len() == 1 && p[0].starts_with(&format!("{at}: ")),
                "{at}: {p:?}"
            );
        }
    }

    #[test]
    fn keywords_related_resources_and_next_steps_follow_the_alert() {
        let mut a = crate::alert::sample();
        let m = chatbot(&a, now());
        assert_eq!(
            m["content"]["keywords"],
            json!(["HIGH", "111122223333", "us-east-1"])
        );
        assert_eq!(
            m["content"]["nextSteps"].as_array().unwrap().len(),
            2,
            "{m}"
        );

        a.account_alias = Some("prod".into());
        a.falsepositives = vec!["a drill".into(), "a test".into()];
        let arn = |n: usize| format!("arn:aws:iam::111122223333:role/r{n}");
        a.group = (0..12).map(|n| (format!("k{n:02}"), arn(n % 11))).collect();
        a.group.insert("ip".into(), "192.0.2.1".into());
        a.actor.arn = Some(arn(0));
        let m = chatbot(&a, now());
        assert_eq!(
            m["content"]["keywords"],
            json!(["HIGH", "prod", "us-east-1"])
        );
        assert_eq!(
            m["content"]["nextSteps"][1],
            "Known false positives: a drill; a test"
        );
        // The actor's ARN first, then the group's ARNs, each once, at most ten.
        let related: Vec<String> = (0..RELATED_MAX).map(arn).collect();
        assert_eq!(m["metadata"]["relatedResources"], json!(related));
        assert_eq!(check(&m), Vec::<String>::new());
    }

    #[test]
    fn titles_are_cut_after_escaping_to_fit_the_header() {
        let mut a = crate::alert::sample();
        let prefix = ":rotating_light: ";
        a.title = "x".repeat(TITLE_MAX - prefix.chars().count());
        let title = |a: &Alert| {
            chatbot(a, now())["content"]["title"]
                .as_str()
                .unwrap()
                .to_string()
        };
        assert_eq!(title(&a), format!("{prefix}{}", a.title));
        a.title.push('x');
        let t = title(&a);
        assert_eq!(t.chars().count(), TITLE_MAX, "{t}");
        assert!(t.ends_with("… [cut]"), "{t}");
        // Each `&` takes five characters once escaped, and none is cut in half.
        a.title = "&".repeat(100);
        let t = title(&a);
        assert!(
            t.chars().count() <= TITLE_MAX && t.ends_with("&amp;… [cut]"),
            "{t}"
        );
    }

    #[test]
    fn console_links_of_every_partition_are_allowed_and_no_other_host() {
        for host in [
            "eu-west-1.console.aws.amazon.com",
            "console.amazonaws.cn",
            "console.amazonaws-us-gov.com",
        ] {
            assert!(
                is_console_url(&format!("https://{host}/cloudtrailv2/home#/events")),
                "{host}"
            );
            assert!(!is_console_url(&format!("http://{host}/")), "{host}");
            assert!(
                !is_console_url(&format!("https://{host}.evil.example/")),
                "{host}"
            );
            assert!(!is_console_url(&format!("https://{host}/a b")), "{host}");
        }
    }
}
