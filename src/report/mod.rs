//! The HTML report of a run (`scan --report FILE.html`): one page for the people who read
//! an intrusion after the fact, beside the alerts that paged.
//!
//! A plain function from data (alerts, the loaded rules, the run's counters) to a
//! `String`, so `scan` and any other reader of trails (an S3 replay) make the same page and
//! tests check it without a browser. The page must open on an analyst's laptop offline and
//! years later, so it loads nothing: no script, no external CSS, font or image, and a
//! Content-Security-Policy that forbids them. Every value from a record is
//! attacker-controlled (a user agent can say `<script>`): all text goes through [`esc`].

mod attack;
mod timeline;

pub use attack::{coverage, tactic_of, Coverage, Tactic, Technique};

use crate::alert::Alert;
use crate::event::{format_time, parse_time};
use crate::pipeline::Report;
use crate::rules::{Rule, Severity};
use std::collections::BTreeMap;
use std::fmt::Write;
use timeline::{Mark, Row};

/// Rows of the top principals and top source IPs tables.
pub const TOP: usize = 10;
/// Named inputs listed in the header; the rest are counted.
pub const MAX_INPUTS_SHOWN: usize = 20;
/// What CloudTrail writes for a user name it hides (it may be a mistyped password).
pub const HIDDEN_USER: &str = "HIDDEN_DUE_TO_SECURITY_REASONS";

/// Most urgent first: the order of the page's counts and lists.
pub(crate) const SEVERITIES: [Severity; 5] = [
    Severity::Critical,
    Severity::High,
    Severity::Medium,
    Severity::Low,
    Severity::Info,
];

/// How many inputs the run read, skipped (not CloudTrail) and could not read.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Inputs {
    pub read: u64,
    pub skipped: u64,
    pub unreadable: u64,
}

/// Everything the page shows.
#[derive(Debug, Clone, Copy)]
pub struct ReportInput<'a> {
    /// The inputs as the user named them (paths, `-`, S3 URIs).
    pub named: &'a [String],
    pub inputs: Inputs,
    /// Where the rules came from (`@bundled`, folders).
    pub rule_sources: &'a [String],
    pub rules: &'a [Rule],
    /// The alerts, as published.
    pub alerts: &'a [Alert],
    pub run: &'a Report,
    /// When the page was made (Unix seconds), if the caller wants it said.
    pub generated: Option<i64>,
}

/// `s`, safe as HTML text and inside a double-quoted attribute (inline SVG included).
/// Control characters other than tab and line breaks become U+FFFD.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if c.is_control() => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// `s` cut to `max` characters, with `…` when cut.
pub(crate) fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// `1 h 5 min`, `3 d 4 h`, `42 s`.
fn duration(secs: i64) -> String {
    let (d, h, m, s) = (
        secs / 86_400,
        secs % 86_400 / 3600,
        secs % 3600 / 60,
        secs % 60,
    );
    match (d, h, m) {
        (0, 0, 0) => format!("{s} s"),
        (0, 0, _) => format!("{m} min {s} s"),
        (0, _, _) => format!("{h} h {m} min"),
        _ => format!("{d} d {h} h"),
    }
}

/// An alert's first and last event time, when both parse.
fn span(a: &Alert) -> Option<(i64, i64)> {
    let first = parse_time(a.first_seen.as_deref()?)?;
    let last = a.last_seen.as_deref().and_then(parse_time).unwrap_or(first);
    Some((first, last.max(first)))
}

/// Who an alert's triggering event names: its ARN as recorded, else its type and account.
/// Never a name pieced together: a hidden user name stays what the record says.
fn principal(a: &Alert) -> String {
    let kind = a.actor.kind.as_deref();
    match (&a.actor.arn, &a.actor.account_id) {
        (Some(arn), _) => arn.clone(),
        (None, Some(acct)) => format!(
            "{} in account {acct} (no ARN recorded)",
            kind.unwrap_or("principal")
        ),
        (None, None) => match kind {
            Some(k) => format!("{k} (no ARN recorded)"),
            None => "(not recorded)".to_string(),
        },
    }
}

/// The report page.
pub fn html(input: &ReportInput) -> String {
    let mut out = String::with_capacity(64 * 1024 + input.alerts.len() * 4096);
    out.push_str(concat!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">",
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'\">",
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">",
        "<title>trailwatch report</title><style>"
    ));
    out.push_str(CSS);
    out.push_str("</style></head><body>\n");
    header(&mut out, input);
    timelines(&mut out, input);
    tops(&mut out, input.alerts);
    attack_section(&mut out, input);
    alert_list(&mut out, input.alerts);
    out.push_str("</body></html>\n");
    out
}

fn header(out: &mut String, input: &ReportInput) {
    let run = input.run;
    let _ = write!(
        out,
        "<header><h1>trailwatch report</h1><p class=\"sub\">{}</p><div class=\"cards\">",
        match input.generated {
            Some(t) => format!(
                "made {} by trailwatch {}",
                format_time(t),
                env!("CARGO_PKG_VERSION")
            ),
            None => format!("made by trailwatch {}", env!("CARGO_PKG_VERSION")),
        }
    );
    // Alerts by severity.
    let _ = write!(
        out,
        "<section class=\"card\"><h2>Alerts</h2><p class=\"big\" id=\"alert-count\">{}</p><ul class=\"sevs\">",
        input.alerts.len()
    );
    for sev in SEVERITIES {
        let n = input.alerts.iter().filter(|a| a.severity == sev).count();
        let _ = write!(
            out,
            "<li><span class=\"sev sev-{sev}\">{sev}</span> <b id=\"sev-{sev}\">{n}</b></li>"
        );
    }
    out.push_str("</ul>");
    if input.run.follow_ups > 0 {
        let _ = write!(
            out,
            "<p id=\"follow-ups\">and {} follow-up(s): the matches after an alert, summarised (listed with the alerts)</p>",
            input.run.follow_ups
        );
    }
    out.push_str("</section>");
    // Events.
    let _ = write!(
        out,
        "<section class=\"card\"><h2>Events</h2><p class=\"big\" id=\"event-count\">{}</p><ul>\
         <li>{} duplicates dropped</li><li>{} malformed</li><li>{} hits suppressed</li>\
         <li>{} hits joined an earlier alert</li><li>{} untimed threshold hits</li></ul></section>",
        run.events, run.duplicates, run.malformed, run.suppressed, run.deduplicated, run.untimed
    );
    // Time range.
    out.push_str("<section class=\"card\"><h2>Event time</h2>");
    match (run.oldest_event, run.newest_event) {
        (Some(a), Some(b)) => {
            let _ = write!(
                out,
                "<p id=\"time-range\"><time>{}</time><br>to <time>{}</time></p><p>{} of trail</p>",
                format_time(a),
                format_time(b),
                duration(b - a)
            );
        }
        _ => out.push_str("<p id=\"time-range\">no event with a usable time</p>"),
    }
    out.push_str("</section>");
    // Inputs.
    let i = input.inputs;
    let _ = write!(
        out,
        "<section class=\"card\"><h2>Inputs</h2><p class=\"big\" id=\"inputs-read\">{}</p><p>read; {} skipped (not CloudTrail), {} unreadable</p><ul class=\"paths\">",
        i.read, i.skipped, i.unreadable
    );
    for p in input.named.iter().take(MAX_INPUTS_SHOWN) {
        let _ = write!(out, "<li><code>{}</code></li>", esc(p));
    }
    if input.named.len() > MAX_INPUTS_SHOWN {
        let _ = write!(
            out,
            "<li>… and {} more</li>",
            input.named.len() - MAX_INPUTS_SHOWN
        );
    }
    out.push_str("</ul></section>");
    // Rules.
    let enabled = input.rules.iter().filter(|r| r.enabled).count();
    let _ = write!(
        out,
        "<section class=\"card\"><h2>Rules</h2><p class=\"big\" id=\"rules-loaded\">{}</p><p>loaded, {enabled} enabled, from</p><ul class=\"paths\">",
        input.rules.len()
    );
    for s in input.rule_sources {
        let _ = write!(out, "<li><code>{}</code></li>", esc(s));
    }
    out.push_str("</ul></section></div></header>\n");
}

/// Rows of `alerts` grouped by `key`, in the order of their first alert.
fn rows<'a>(alerts: &[(&'a Alert, i64, i64)], key: impl Fn(&Alert) -> String) -> Vec<Row<'a>> {
    let mut groups: BTreeMap<String, Vec<Mark<'a>>> = BTreeMap::new();
    for &(alert, first, last) in alerts {
        groups
            .entry(key(alert))
            .or_default()
            .push(Mark { alert, first, last });
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .map(|(label, marks)| Row { label, marks })
        .collect();
    let start = |r: &Row| r.marks.iter().map(|m| m.first).min().unwrap_or(i64::MAX);
    rows.sort_by_key(start); // stable: ties keep the label order
    rows
}

fn timelines(out: &mut String, input: &ReportInput) {
    out.push_str("<section id=\"timeline\"><h2>Timeline of alerts</h2>");
    let timed: Vec<(&Alert, i64, i64)> = input
        .alerts
        .iter()
        .filter_map(|a| span(a).map(|(f, l)| (a, f, l)))
        .collect();
    let run = input.run;
    let lo = timed.iter().map(|t| t.1).chain(run.oldest_event).min();
    let hi = timed.iter().map(|t| t.2).chain(run.newest_event).max();
    let (Some(lo), Some(hi), false) = (lo, hi, timed.is_empty()) else {
        out.push_str("<p>No alert has a usable event time.</p></section>\n");
        return;
    };
    let _ = write!(
        out,
        "<p>x: event time (UTC), from the first to the last event read. A dot is an alert; a bar runs from its first to its last event. Hover a mark for its title.</p><ul class=\"legend\">"
    );
    for sev in SEVERITIES {
        let _ = write!(out, "<li><span class=\"sev sev-{sev}\">{sev}</span></li>");
    }
    out.push_str("</ul><h3>Per account</h3>");
    let by_account = rows(&timed, |a| {
        a.account_id
            .clone()
            .unwrap_or_else(|| "(no account)".into())
    });
    timeline::svg(out, "account", &by_account, lo, hi);
    out.push_str("<h3>Per rule</h3>");
    let by_rule = rows(&timed, |a| a.rule_id.clone());
    timeline::svg(out, "rule", &by_rule, lo, hi);
    let untimed = input.alerts.len() - timed.len();
    if untimed > 0 {
        let _ = write!(
            out,
            "<p class=\"note\">{untimed} alert(s) without a usable event time are not drawn.</p>"
        );
    }
    out.push_str("</section>\n");
}

/// Alerts and events (the alerts' counts) per key, most alerts first.
fn top<'a>(
    alerts: &'a [Alert],
    keys: impl Fn(&'a Alert) -> Vec<String>,
) -> (usize, Vec<(String, usize, usize)>) {
    let mut tally: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for a in alerts {
        for k in keys(a) {
            let t = tally.entry(k).or_default();
            t.0 += 1;
            t.1 += a.count;
        }
    }
    let distinct = tally.len();
    let mut v: Vec<(String, usize, usize)> =
        tally.into_iter().map(|(k, (a, e))| (k, a, e)).collect();
    v.sort_by(|x, y| y.1.cmp(&x.1).then(y.2.cmp(&x.2)).then(x.0.cmp(&y.0)));
    v.truncate(TOP);
    (distinct, v)
}

fn top_table(
    out: &mut String,
    id: &str,
    title: &str,
    what: &str,
    alerts: &[Alert],
    rows: (usize, Vec<(String, usize, usize)>),
) {
    let (distinct, rows) = rows;
    let _ = write!(
        out,
        "<section class=\"top\" id=\"{id}\"><h3>{title}</h3><p>{distinct} {what} in {} alert(s); the top {}.</p><table><thead><tr><th>{what}</th><th class=\"n\">alerts</th><th class=\"n\">events</th></tr></thead><tbody>",
        alerts.len(),
        rows.len()
    );
    for (k, a, e) in &rows {
        let note = if k.contains(HIDDEN_USER) {
            " <span class=\"note\">(user name hidden by CloudTrail, shown as recorded)</span>"
        } else {
            ""
        };
        let _ = write!(
            out,
            "<tr><td><code>{}</code>{note}</td><td class=\"n\">{a}</td><td class=\"n\">{e}</td></tr>",
            esc(k)
        );
    }
    out.push_str("</tbody></table></section>");
}

fn tops(out: &mut String, alerts: &[Alert]) {
    out.push_str("<section id=\"tops\"><h2>Who and from where</h2><p>Per alert: the principal of the event that triggered it, and every source IP of its events; events = the events in those alerts.</p><div class=\"cols\">");
    let principals = top(alerts, |a| vec![principal(a)]);
    top_table(
        out,
        "top-principals",
        "Top principals",
        "principals",
        alerts,
        principals,
    );
    let ips = top(alerts, |a| a.source_ips.clone());
    top_table(out, "top-ips", "Top source IPs", "source IPs", alerts, ips);
    out.push_str("</div></section>\n");
}

fn attack_section(out: &mut String, input: &ReportInput) {
    let c = coverage(input.rules, input.alerts);
    let named = c
        .tactics
        .iter()
        .filter(|t| t.name != attack::NO_TACTIC)
        .count();
    let _ = write!(
        out,
        "<section id=\"attack\"><h2>ATT&amp;CK coverage of the loaded rules</h2>\
         <p><b id=\"techniques-covered\">{}</b> techniques covered by <b id=\"attack-rules\">{}</b> enabled rules under <b id=\"tactics-covered\">{named}</b> tactics; \
         <b id=\"techniques-fired\">{}</b> of them fired in this run (highlighted). A technique is listed under each tactic its rules name.</p><div class=\"tactics\">",
        c.techniques, c.rules, c.fired
    );
    for t in &c.tactics {
        let _ = write!(
            out,
            "<div class=\"tactic\"><h4>{}</h4><p class=\"count\">{} rule(s)</p>",
            esc(&attack::tactic_title(&t.name)),
            t.rules
        );
        for tech in &t.techniques {
            let fired = if tech.alerts > 0 { " fired" } else { "" };
            let _ = write!(
                out,
                "<div class=\"tech{fired}\" data-technique=\"{}\" title=\"{}\"><b>{}</b> <span>{} rule(s)</span>",
                esc(&tech.id),
                esc(&tech.rules.join(", ")),
                esc(&tech.id),
                tech.rules.len()
            );
            if tech.alerts > 0 {
                let _ = write!(out, " <span class=\"hits\">{} alert(s)</span>", tech.alerts);
            }
            out.push_str("</div>");
        }
        out.push_str("</div>");
    }
    out.push_str("</div></section>\n");
}

fn alert_list(out: &mut String, alerts: &[Alert]) {
    let mut sorted: Vec<&Alert> = alerts.iter().collect();
    // Most urgent first, then in event time (stable for equal times).
    sorted.sort_by(|a, b| b.severity.cmp(&a.severity).then(span(a).cmp(&span(b))));
    let _ = write!(
        out,
        "<section id=\"alerts\"><h2>Alerts ({})</h2><table><thead><tr><th>severity</th><th>first event</th><th>account</th><th>rule</th><th class=\"n\">events</th><th>title, runbook and context</th></tr></thead><tbody>",
        alerts.len()
    );
    let or = |o: &Option<String>| esc(o.as_deref().unwrap_or("-"));
    for a in sorted {
        let sev = a.severity;
        let when = match (&a.first_seen, &a.last_seen) {
            (Some(f), Some(l)) if f != l => format!("{}<br>to {}", esc(f), esc(l)),
            (f, _) => or(f),
        };
        let _ = write!(
            out,
            "<tr class=\"alert sev-{sev}\"><td><span class=\"sev sev-{sev}\">{sev}</span></td><td class=\"t\">{when}</td><td class=\"t\"><code>{}</code></td><td class=\"rule\"><code>{}</code></td><td class=\"n\">{}</td><td>{}<details><summary>{}</summary>",
            or(&a.account_id),
            esc(&a.rule_id),
            a.count,
            esc(&a.title),
            if a.runbook.is_some() { "runbook" } else { "context" }
        );
        if let Some(r) = &a.runbook {
            let _ = write!(out, "<p class=\"runbook\">{}</p>", esc(r));
        }
        out.push_str("<dl>");
        let mut item = |k: &str, v: String| {
            let _ = write!(out, "<dt>{k}</dt><dd>{v}</dd>");
        };
        if !a.description.is_empty() {
            item("what", esc(&a.description));
        }
        item(
            "who",
            format!(
                "{} <code>{}</code> (MFA: {})",
                or(&a.actor.kind),
                esc(&principal(a)),
                or(&a.actor.mfa)
            ),
        );
        item("from", format!("<code>{}</code>", esc(&a.ips_label())));
        item("user agent", format!("<code>{}</code>", or(&a.user_agent)));
        item(
            "call",
            format!(
                "{} {} in {}",
                or(&a.event_source),
                or(&a.event_name),
                or(&a.region)
            ),
        );
        if let Some(f) = a.failure_label() {
            item("outcome", esc(&f));
        }
        if !a.group.is_empty() {
            let g: Vec<String> = a.group.iter().map(|(k, v)| format!("{k}={v}")).collect();
            item("group", format!("<code>{}</code>", esc(&g.join(" "))));
        }
        item(
            "event ids",
            format!("<code>{}</code>", esc(&a.event_ids.join(" "))),
        );
        item("alert id", format!("<code>{}</code>", esc(&a.fingerprint)));
        out.push_str("</dl></details></td></tr>");
    }
    out.push_str("</tbody></table></section>\n");
}

const CSS: &str = r#"
:root{color-scheme:light;--fg:#1f2937;--muted:#6b7280;--line:#e5e7eb;--band:#f9fafb}
*{box-sizing:border-box}
body{margin:0 auto;max-width:1240px;padding:16px 20px 40px;font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:#fff}
h1{font-size:22px;margin:0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:14px 0 6px}h4{font-size:13px;margin:0 0 2px}
.sub,.note,.count{color:var(--muted)}
code{font:12px/1.3 ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;overflow-wrap:anywhere}
.cards{display:grid;grid-template-columns:repeat(5,1fr);gap:10px;margin-top:10px}
.card{border:1px solid var(--line);border-radius:6px;padding:8px 10px}.card h2{font-size:13px;margin:0;border:0;color:var(--muted);text-transform:uppercase;letter-spacing:.04em}
.card ul{margin:4px 0 0;padding-left:16px}.card p{margin:4px 0}.big{font-size:26px;font-weight:600}
ul.sevs,ul.legend{list-style:none;padding:0}ul.legend li{display:inline-block;margin-right:8px}
.sev-critical{--c:#7f1d1d}.sev-high{--c:#dc2626}.sev-medium{--c:#d97706}.sev-low{--c:#2563eb}.sev-info{--c:#6b7280}
.sev{display:inline-block;min-width:58px;text-align:center;border-radius:3px;padding:0 5px;color:#fff;background:var(--c);font-size:12px}
svg.timeline{width:100%;height:auto;display:block;border:1px solid var(--line);border-radius:4px}
svg .band{fill:#fff}svg .band.odd{fill:var(--band)}svg .grid{stroke:var(--line)}
svg text{font-size:11px;fill:var(--fg)}svg .tick{text-anchor:middle;fill:var(--muted)}
svg circle.mark{fill:var(--c);fill-opacity:.85;stroke:#fff;stroke-width:1}svg line.mark{stroke:var(--c);stroke-opacity:.85;stroke-width:8;stroke-linecap:round}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:20px}
table{border-collapse:collapse;width:100%}th,td{text-align:left;vertical-align:top;padding:4px 6px;border-bottom:1px solid var(--line)}th{font-size:12px;color:var(--muted)}
.n{text-align:right}td.t{white-space:nowrap;font-size:12px}td.rule{min-width:180px}td.rule code{overflow-wrap:normal}
.tactics{display:flex;flex-wrap:wrap;gap:8px}.tactic{flex:1 1 140px;max-width:200px;border:1px solid var(--line);border-radius:4px;padding:6px}
.tech{font-size:12px;border-radius:3px;padding:2px 4px;margin-top:3px;background:var(--band);border:1px solid var(--line)}.tech span{color:var(--muted)}
.tech.fired{background:#fee2e2;border-color:#fca5a5}.tech .hits{color:#991b1b;font-weight:600}
details summary{cursor:pointer;color:#1d4ed8}details dl{display:grid;grid-template-columns:90px 1fr;gap:2px 8px;margin:6px 0}dt{color:var(--muted)}dd{margin:0}
.runbook{margin:6px 0;padding:6px 8px;background:#eff6ff;border-left:3px solid #2563eb}
"#;

#[cfg(test)]
mod tests;
