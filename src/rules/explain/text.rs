//! Renders explanations for a terminal: short lines, two-space indents, `✓`/`✗` marks.

use super::{
    duration, CondView, IndexView, OpView, RecordTrace, RuleTrace, RuleView, Trace, TraceNode,
};
use std::fmt::Write;

/// `trailwatch explain RULE_ID`.
pub fn rule(v: &RuleView) -> String {
    let mut s = String::new();
    let mut field = |k: &str, val: &str| {
        let _ = writeln!(s, "{:<12}{val}", format!("{k}:"));
    };
    field("rule", &v.id);
    field("file", &v.file);
    field("title", &v.title);
    field("severity", &v.severity);
    if !v.enabled {
        field(
            "enabled",
            "false (it never evaluates live records; its tests still run)",
        );
    }
    field("indexed on", &index(&v.index));
    field(
        "on_failure",
        &match v.on_failure.as_str() {
            "alert" => "alert (a failed or denied call alerts too; the title says so)".to_string(),
            "ignore" => "ignore (failed and denied calls never match)".to_string(),
            other => format!("{other} (for a failed or denied call)"),
        },
    );
    if let Some(c) = &v.condition {
        s.push_str("match:\n");
        cond(&mut s, c, 1);
    }
    if let Some(t) = &v.threshold {
        let counted = match &t.distinct {
            Some(d) => format!("{} distinct {d}", t.count),
            None => format!("{} matches", t.count),
        };
        let _ = writeln!(
            s,
            "threshold:  {counted} within {}{}",
            duration(t.window),
            per(&t.group_by)
        );
    }
    if let Some(q) = &v.sequence {
        let how = if q.ordered {
            format!("{} steps in order", q.steps.len())
        } else {
            format!("{} of {} steps in any order", q.need, q.steps.len())
        };
        let _ = writeln!(
            s,
            "sequence:   {how} within {}{}",
            duration(q.window),
            per(&q.group_by)
        );
        for (i, st) in q.steps.iter().enumerate() {
            let _ = writeln!(
                s,
                "  step {} \"{}\" ({} event{}):",
                i + 1,
                st.name,
                st.count,
                if st.count == 1 { "" } else { "s" }
            );
            cond(&mut s, &st.condition, 2);
        }
    }
    if let Some(d) = &v.dedup {
        let cooldown = d
            .cooldown
            .map(|c| format!(" per {} of event time", duration(c)))
            .unwrap_or_else(|| " (remembered for the horizon, 24h by default)".to_string());
        let key = if d.key.is_empty() {
            String::new()
        } else {
            format!(" per {}", d.key.join(", "))
        };
        let _ = writeln!(s, "dedup:      one alert{key}{cooldown}");
    }
    if v.suppressions.is_empty() {
        s.push_str("suppress:   none\n");
    } else {
        s.push_str("suppress:\n");
        for x in &v.suppressions {
            let _ = writeln!(s, "  - {} (owner {}, {})", x.reason, x.owner, x.expires);
            s.push_str("    when:\n");
            cond(&mut s, &x.condition, 3);
        }
    }
    s
}

fn index(ix: &IndexView) -> String {
    let case = if ix.ignore_case {
        " (ignoring case)"
    } else {
        ""
    };
    match ix.field.as_str() {
        "*" => "nothing: checked against every record".to_string(),
        f => format!("{f} {}{case}", ix.values.join(", ")),
    }
}

fn per(refs: &[String]) -> String {
    if refs.is_empty() {
        String::new()
    } else {
        format!(", per {}", refs.join(", "))
    }
}

fn pad(depth: usize) -> String {
    "  ".repeat(depth)
}

fn cond(s: &mut String, c: &CondView, depth: usize) {
    let p = pad(depth);
    match c {
        CondView::All { of } => {
            let _ = writeln!(s, "{p}all of:");
            of.iter().for_each(|c| cond(s, c, depth + 1));
        }
        CondView::Any { of } => {
            let _ = writeln!(s, "{p}any of:");
            of.iter().for_each(|c| cond(s, c, depth + 1));
        }
        CondView::Not { cond: inner } => {
            let _ = writeln!(s, "{p}not:");
            cond(s, inner, depth + 1);
        }
        CondView::Test {
            field,
            ignore_case,
            ops,
        } => {
            let texts: Vec<&str> = ops.iter().map(|o| o.text.as_str()).collect();
            let case = if *ignore_case { " (ignoring case)" } else { "" };
            let _ = writeln!(s, "{p}{field}: {}{case}", texts.join(" and "));
            for w in ops.iter().filter_map(where_cond) {
                cond(s, w, depth + 1);
            }
        }
    }
}

/// The condition of a `where`, also one nested in `not`/`some`.
fn where_cond(o: &OpView) -> Option<&CondView> {
    o.cond
        .as_deref()
        .or_else(|| o.inner.iter().find_map(where_cond))
}

fn mark(holds: bool) -> &'static str {
    if holds {
        "✓"
    } else {
        "✗"
    }
}

/// The record's heading: `record 2: ConsoleLogin (signin.amazonaws.com) at …, eventID …`.
fn heading(r: &RecordTrace) -> String {
    let mut h = format!(
        "record {}: {}",
        r.record,
        r.event_name.as_deref().unwrap_or("(no eventName)")
    );
    if let Some(src) = &r.event_source {
        let _ = write!(h, " ({src})");
    }
    if let Some(t) = &r.event_time {
        let _ = write!(h, " at {t}");
    }
    if let Some(id) = &r.event_id {
        let _ = write!(h, ", eventID {id}");
    }
    h
}

/// `trailwatch explain --event FILE`: the matching rules, one line per other candidate.
pub fn record_summary(r: &RecordTrace) -> String {
    let mut s = heading(r);
    s.push('\n');
    copy_line(&mut s, r);
    let (hits, misses): (Vec<&RuleTrace>, Vec<&RuleTrace>) =
        r.rules.iter().partition(|t| t.matches);
    if hits.is_empty() {
        s.push_str("  matches: none\n");
    } else {
        let _ = writeln!(s, "  matches ({}):", hits.len());
        for t in hits {
            let _ = writeln!(s, "    {} ({}){}", t.rule, t.severity, outcome_note(t));
        }
    }
    if !misses.is_empty() {
        let _ = writeln!(
            s,
            "  no match ({} candidate{}):",
            misses.len(),
            if misses.len() == 1 { "" } else { "s" }
        );
        for t in misses {
            let _ = writeln!(
                s,
                "    {}: {}",
                t.rule,
                t.reason.as_deref().unwrap_or("no reason recorded")
            );
        }
    }
    let _ = write!(
        s,
        "  the index skipped {} rule{} (their eventName or eventSource cannot match)",
        r.skipped,
        if r.skipped == 1 { "" } else { "s" }
    );
    if r.disabled > 0 {
        let _ = write!(s, "; {} disabled", r.disabled);
    }
    s.push('\n');
    s
}

fn copy_line(s: &mut String, r: &RecordTrace) {
    if let Some(first) = r.duplicate_of {
        let _ = writeln!(
            s,
            "  a copy of record {first} (same eventID, eventTime, eventName and recipientAccountId): scan drops it before any rule sees it"
        );
    }
}

/// After a matching rule's name: suppressed, the step, what escalation does.
fn outcome_note(t: &RuleTrace) -> String {
    let mut n = String::new();
    if let Some(x) = &t.suppressed_by {
        let _ = write!(
            n,
            ": suppressed: {} (owner {}, {})",
            x.reason, x.owner, x.expires
        );
    }
    if let Some(step) = &t.step {
        let _ = write!(n, "; step \"{step}\"");
    }
    if let Some(e) = &t.escalation {
        let _ = write!(n, "; {e}");
    }
    n
}

/// `trailwatch explain --event FILE RULE_ID`: one rule in full.
pub fn record_detail(r: &RecordTrace) -> String {
    let mut s = heading(r);
    s.push('\n');
    copy_line(&mut s, r);
    for t in &r.rules {
        let verdict = match t.verdict {
            "match" => "match",
            "suppressed" => "match, suppressed",
            _ => "no match",
        };
        let _ = writeln!(s, "rule {}: {verdict}", t.rule);
        let offered = if t.offered {
            format!("offered (indexed on {})", index(&t.index))
        } else {
            format!(
                "not offered: {}",
                t.skipped_because.as_deref().unwrap_or("")
            )
        };
        let _ = writeln!(s, "  index:      {offered}");
        if t.matches {
            let _ = writeln!(s, "  severity:   {}", t.severity);
        }
        if let Some(why) = &t.reason {
            let _ = writeln!(s, "  why:        {why}");
        }
        if let Some(x) = &t.suppressed_by {
            let _ = writeln!(
                s,
                "  suppressed: {} (owner {}, {})",
                x.reason, x.owner, x.expires
            );
        }
        if let Some(step) = &t.step {
            let _ = writeln!(s, "  step:       {step}");
        }
        if let (true, Some(e)) = (t.matches, &t.escalation) {
            let _ = writeln!(s, "  then:       {e}");
        }
        s.push_str("  condition:\n");
        trace_tree(&mut s, &t.trace, 2, &t.steps);
        if let Some(x) = &t.suppressed_by {
            s.push_str("  suppression:\n");
            trace_tree(&mut s, &x.trace, 2, &[]);
        }
    }
    s
}

/// A trace as a tree; `steps` labels the branches of a sequence's condition.
pub fn trace_tree(s: &mut String, t: &Trace, depth: usize, steps: &[String]) {
    let p = pad(depth);
    let m = mark(t.holds);
    match &t.node {
        TraceNode::All { of } => {
            let _ = writeln!(s, "{p}{m} all of:");
            of.iter().for_each(|c| trace_tree(s, c, depth + 1, &[]));
        }
        TraceNode::Any { of } if steps.len() == of.len() => {
            let _ = writeln!(s, "{p}{m} any step:");
            for (c, name) in of.iter().zip(steps) {
                let _ = writeln!(s, "{p}  step \"{name}\":");
                trace_tree(s, c, depth + 2, &[]);
            }
        }
        TraceNode::Any { of } => {
            let _ = writeln!(s, "{p}{m} any of:");
            of.iter().for_each(|c| trace_tree(s, c, depth + 1, &[]));
        }
        TraceNode::Not { cond } => {
            let _ = writeln!(s, "{p}{m} not:");
            trace_tree(s, cond, depth + 1, &[]);
        }
        TraceNode::Test(test) => {
            let case = if test.ignore_case {
                " (ignoring case)"
            } else {
                ""
            };
            let simple = test.ops.len() == 1 && test.ops[0].elements.is_empty();
            if simple {
                let o = &test.ops[0];
                let _ = match &o.why {
                    Some(why) => writeln!(s, "{p}{m} {}: {why}", test.field),
                    None => writeln!(
                        s,
                        "{p}{m} {}: found {}; {}{case}",
                        test.field,
                        test.found.shown(),
                        o.expected
                    ),
                };
                return;
            }
            let _ = writeln!(
                s,
                "{p}{m} {}: found {}{case}",
                test.field,
                test.found.shown()
            );
            for o in &test.ops {
                let _ = writeln!(
                    s,
                    "{p}  {} {}",
                    mark(o.holds),
                    o.why.as_deref().unwrap_or(&o.expected)
                );
                for (i, el) in o.elements.iter().enumerate() {
                    let which = if o.holds {
                        "the element that meets it".to_string()
                    } else {
                        format!("element {}", i + 1)
                    };
                    let _ = writeln!(s, "{p}    {which}:");
                    trace_tree(s, el, depth + 3, &[]);
                }
            }
        }
    }
}
