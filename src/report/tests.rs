use super::*;
use crate::event::Event;
use crate::pipeline::{Pipeline, DEFAULT_HORIZON};
use crate::rules::{RuleFile, RuleSet};
use crate::sink::Memory as Alerts;
use crate::source::Item;
use crate::state::memory::Memory;
use serde_json::{json, Value};

/// Rules `(id, severity, tags, eventName)` run over `events` through the real pipeline.
fn run(rules: &[(&str, &str, &str, &str)], events: &[Value]) -> (RuleSet, Vec<Alert>, Report) {
    let files: Vec<RuleFile> = rules
        .iter()
        .map(|(id, sev, tags, name)| RuleFile {
            path: format!("{id}.yaml"),
            text: format!(
                "id: {id}\ntitle: '{{eventName}} by {{userIdentity.arn}}'\nseverity: {sev}\nrunbook: Call the owner of {id}.\ntags: [{tags}]\nmatch:\n  eventName: {name}\n"
            ),
        })
        .collect();
    let (set, diags) = RuleSet::compile(&files, &[], &[], 0);
    let set = set.unwrap_or_else(|| panic!("{diags:?}"));
    let mut sink = Alerts::default();
    let report = {
        let mut p = Pipeline::new(&set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
        for e in events {
            let item = Item::Record(Event::from_value(e.clone()).unwrap());
            p.push(item, &mut sink, &mut |_, _| {}).unwrap();
        }
        p.flush(&mut sink).unwrap();
        p.report
    };
    (set, sink.alerts, report)
}

fn page(set: &RuleSet, alerts: &[Alert], report: &Report) -> String {
    html(&ReportInput {
        named: &["trail/".to_string()],
        inputs: Inputs {
            read: 2,
            skipped: 1,
            unreadable: 0,
        },
        rule_sources: &["@bundled".to_string()],
        rules: set.rules(),
        alerts,
        run: report,
        generated: Some(1_700_000_000),
    })
}

fn event(name: &str, time: &str, account: &str, arn: &str, ip: &str, id: u32) -> Value {
    json!({"eventName": name, "eventTime": time, "recipientAccountId": account,
        "eventSource": "iam.amazonaws.com", "awsRegion": "us-east-1",
        "userIdentity": {"type": "IAMUser", "arn": arn, "accountId": account},
        "sourceIPAddress": ip, "userAgent": "aws-cli/2", "eventID": format!("e-{id}")})
}

/// The text of the element with `id` (up to its first `<`).
fn text_of<'a>(page: &'a str, id: &str) -> &'a str {
    let at = page
        .find(&format!("id=\"{id}\">"))
        .unwrap_or_else(|| panic!("no #{id}"));
    let rest = &page[at + id.len() + 6..];
    &rest[..rest.find('<').unwrap_or(rest.len())]
}

fn story() -> (RuleSet, Vec<Alert>, Report) {
    run(
        &[
            (
                "stop",
                "critical",
                "attack.defense_evasion, attack.t1562.008",
                "StopLogging",
            ),
            (
                "key",
                "high",
                "attack.persistence, attack.t1098.001",
                "CreateAccessKey",
            ),
            (
                "quiet",
                "low",
                "attack.discovery, attack.t1580",
                "DescribeInstances",
            ),
        ],
        &[
            event(
                "CreateAccessKey",
                "2024-11-05T09:36:40Z",
                "111122223333",
                "arn:aws:iam::111122223333:user/alice",
                "203.0.113.66",
                1,
            ),
            event(
                "StopLogging",
                "2024-11-05T09:40:30Z",
                "111122223333",
                "arn:aws:iam::111122223333:user/svc",
                "203.0.113.66",
                2,
            ),
            event(
                "CreateAccessKey",
                "2024-11-05T09:41:00Z",
                "444455556666",
                "arn:aws:iam::444455556666:user/bob",
                "198.51.100.7",
                3,
            ),
            event(
                "GetUser",
                "2024-11-05T08:55:00Z",
                "111122223333",
                "arn:aws:iam::111122223333:user/carol",
                "192.0.2.1",
                4,
            ),
        ],
    )
}

#[test]
fn the_header_counts_what_the_run_did() {
    let (set, alerts, report) = story();
    let p = page(&set, &alerts, &report);
    assert_eq!(text_of(&p, "alert-count"), "3");
    assert_eq!(text_of(&p, "sev-critical"), "1");
    assert_eq!(text_of(&p, "sev-high"), "2");
    assert_eq!(text_of(&p, "sev-low"), "0");
    assert_eq!(text_of(&p, "event-count"), "4");
    assert_eq!(text_of(&p, "inputs-read"), "2");
    assert_eq!(text_of(&p, "rules-loaded"), "3");
    // From the first event (no alert) to the last one.
    assert!(
        p.contains("<time>2024-11-05T08:55:00Z</time><br>to <time>2024-11-05T09:41:00Z</time></p><p>46 min 0 s of trail"),
        "{p}"
    );
    assert_eq!(text_of(&p, "techniques-covered"), "3");
    assert_eq!(text_of(&p, "techniques-fired"), "2");
    assert_eq!(text_of(&p, "tactics-covered"), "3");
    assert!(p.contains("made 2023-11-14T22:13:20Z by trailwatch"));
}

#[test]
fn the_timeline_has_a_row_per_account_and_per_rule_and_a_mark_per_alert() {
    let (set, alerts, report) = story();
    let p = page(&set, &alerts, &report);
    assert!(p.contains("<title>111122223333</title>") && p.contains("<title>444455556666</title>"));
    assert_eq!(
        p.matches("data-rows=\"2\" viewBox").count(),
        2,
        "two accounts, two rules"
    );
    assert_eq!(p.matches("<svg class=\"timeline\"").count(), 2);
    assert_eq!(
        p.matches("class=\"mark sev-").count(),
        2 * 3,
        "each alert once per chart"
    );
    assert_eq!(p.matches("class=\"mark sev-critical\"").count(), 2);
    // Rows in the order of their first alert: key (09:36) before stop (09:40).
    let rule_chart = &p[p.find("<h3>Per rule</h3>").unwrap()..];
    assert!(
        rule_chart.find("<title>key</title>").unwrap()
            < rule_chart.find("<title>stop</title>").unwrap()
    );
    assert!(
        p.contains("<title>[CRITICAL] StopLogging by arn:aws:iam::111122223333:user/svc\n2024-11-05T09:40:30Z\nstop · account 111122223333 · 1 event(s)</title>"),
        "hover title: {p}"
    );
}

#[test]
fn marks_sit_in_event_time_and_spans_are_bars() {
    let (set, mut alerts, report) = story();
    alerts[0].last_seen = Some("2024-11-05T09:39:00Z".into());
    alerts[1].first_seen = Some("yesterday".into());
    let p = page(&set, &alerts, &report);
    assert_eq!(p.matches("class=\"mark sev-high span\"").count(), 2);
    assert_eq!(
        p.matches("class=\"mark sev-").count(),
        2 * 2,
        "the untimed alert is not drawn"
    );
    assert!(p.contains("1 alert(s) without a usable event time are not drawn."));
    // x is event time: alice's bar (09:36:40..09:39) ends left of bob's dot (09:41, the
    // last event, near the right end of the plot, 280..1180).
    let num = |from: &str, attr: &str| -> f64 {
        let at =
            p[p.find(from).unwrap()..].find(attr).unwrap() + p.find(from).unwrap() + attr.len();
        p[at..at + p[at..].find('"').unwrap()].parse().unwrap()
    };
    let alice_end = num("class=\"mark sev-high span\"", "x2=\"");
    let bob = num("<circle class=\"mark sev-high\"", "cx=\"");
    assert!(
        alice_end < bob && bob > 1100.0 && bob < 1180.0,
        "{alice_end} {bob}"
    );
}

#[test]
fn hostile_record_values_are_escaped_everywhere() {
    let evil = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    let mut e = event(
        "CreateAccessKey",
        "2024-11-05T09:36:40Z",
        "111122223333",
        &format!("arn:aws:iam::1:user/{evil}"),
        evil,
        1,
    );
    e["userAgent"] = json!(evil);
    e["eventID"] = json!(evil);
    e["awsRegion"] = json!(evil);
    e["recipientAccountId"] = json!(evil);
    let (set, alerts, report) = run(&[("key", "high", "attack.t1098", "CreateAccessKey")], &[e]);
    assert_eq!(alerts.len(), 1);
    assert!(
        alerts[0].title.contains("<script>"),
        "the title carries the record's ARN"
    );
    let p = page(&set, &alerts, &report);
    for bad in ["<script", "<img", "alert(2)>"] {
        assert!(!p.contains(bad), "{bad} in the page: {p}");
    }
    assert!(p.contains(
        "&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;"
    ));
    // Title, hover title, principal, IP, user agent, account, event id: all escaped copies.
    assert!(p.matches("&lt;script&gt;").count() >= 7, "{p}");
}

#[test]
fn esc_covers_attributes_and_control_characters() {
    assert_eq!(esc("a&b<c>d\"e'f"), "a&amp;b&lt;c&gt;d&quot;e&#39;f");
    assert_eq!(esc("x\u{0}y\u{1b}z\tw\n"), "x\u{FFFD}y\u{FFFD}z\tw\n");
}

#[test]
fn the_page_loads_nothing_and_forbids_loading() {
    let (set, alerts, report) = story();
    let p = page(&set, &alerts, &report);
    assert!(p.contains("content=\"default-src 'none'; style-src 'unsafe-inline'"));
    for load in [
        "<script",
        "<link",
        "<img",
        "<iframe",
        "<object",
        "src=",
        "url(",
        "@import",
        "@font-face",
    ] {
        assert!(!p.contains(load), "{load}");
    }
}

#[test]
fn a_hidden_user_name_stays_literal_and_no_arn_is_made_up() {
    let (set, mut alerts, report) = story();
    alerts[0].actor.arn = Some(format!("arn:aws:iam::111122223333:user/{HIDDEN_USER}"));
    alerts[1].actor.arn = None;
    let p = page(&set, &alerts, &report);
    let principals =
        &p[p.find("id=\"top-principals\"").unwrap()..p.find("id=\"top-ips\"").unwrap()];
    assert!(
        principals.contains(&format!("<code>arn:aws:iam::111122223333:user/{HIDDEN_USER}</code> <span class=\"note\">(user name hidden by CloudTrail, shown as recorded)</span>")),
        "{principals}"
    );
    assert!(
        principals.contains("<code>IAMUser in account 111122223333 (no ARN recorded)</code>"),
        "{principals}"
    );
    assert!(
        !principals.contains("user/svc"),
        "the ARN that was removed is not recovered"
    );
}

#[test]
fn top_tables_rank_by_alerts_then_events() {
    let (set, mut alerts, report) = story();
    alerts[2].count = 7; // bob's one alert outweighs alice's one alert in events
    alerts[2].source_ips = vec!["203.0.113.66".into(), "198.51.100.7".into()];
    let p = page(&set, &alerts, &report);
    let ips = &p[p.find("id=\"top-ips\"").unwrap()..];
    assert!(
        ips.contains("<p>2 source IPs in 3 alert(s); the top 2.</p>"),
        "{ips}"
    );
    assert!(ips.contains("<tr><td><code>203.0.113.66</code></td><td class=\"n\">3</td><td class=\"n\">9</td></tr><tr><td><code>198.51.100.7</code></td><td class=\"n\">1</td><td class=\"n\">7</td></tr>"), "{ips}");
    let principals = &p[p.find("id=\"top-principals\"").unwrap()..];
    let bob = principals.find("user/bob").unwrap();
    assert!(
        bob < principals.find("user/alice").unwrap(),
        "same alerts, more events first"
    );
}

#[test]
fn the_alert_list_is_most_urgent_first_with_the_runbook_folded() {
    let (set, alerts, report) = story();
    let p = page(&set, &alerts, &report);
    let list = &p[p.find("<section id=\"alerts\">").unwrap()..];
    assert_eq!(list.matches("<tr class=\"alert ").count(), 3);
    let order: Vec<usize> = ["user/svc", "user/alice", "user/bob"]
        .iter()
        .map(|s| list.find(s).unwrap())
        .collect();
    assert!(order.windows(2).all(|w| w[0] < w[1]), "{order:?}");
    assert!(list.contains(
        "<details><summary>runbook</summary><p class=\"runbook\">Call the owner of stop.</p>"
    ));
}

#[test]
fn an_empty_run_still_makes_a_page() {
    let (set, alerts, report) = run(&[("x", "low", "", "Nothing")], &[]);
    let p = page(&set, &alerts, &report);
    assert_eq!(text_of(&p, "alert-count"), "0");
    assert_eq!(text_of(&p, "time-range"), "no event with a usable time");
    assert!(p.contains("No alert has a usable event time."));
    assert_eq!(text_of(&p, "techniques-covered"), "0");
    assert!(p.ends_with("</body></html>\n"));
}
