//! Runs the `tests:` written inside each rule: every case gets a fresh pipeline holding
//! only its rule, feeds its events in order, and compares the number of alerts. Events are
//! decoded as live records are (keeping only the fields the rule reads), so a rule that
//! reads a field decoding would drop fails its tests instead of failing in production.
//! A case that got too few alerts says, for each event the rule did not take, the first
//! condition that failed (from `rules::explain`); one that got too many says which events
//! matched.

use crate::event::Event;
use crate::pipeline::{Pipeline, DEFAULT_HORIZON};
use crate::rules::explain::{self, Copies};
use crate::rules::{Rule, RuleSet};
use crate::sink::Memory as Alerts;
use crate::source::Item;
use crate::state::memory::Memory;

/// The result of one test case.
#[derive(Debug)]
pub struct CaseResult {
    pub rule_id: String,
    pub file: String,
    pub line: usize,
    pub name: String,
    /// `None` when it passed; otherwise what differed.
    pub failure: Option<String>,
}

/// Runs every test of every rule, in rule order.
pub fn run_all(rules: &[Rule]) -> Vec<CaseResult> {
    let mut out = Vec::new();
    for rule in rules {
        for case in &rule.tests {
            let mut alone = Rule {
                enabled: true,
                ..rule.clone()
            };
            if let Some(v) = &case.variant {
                (alone.cond, alone.suppressions) = (v.0.clone(), v.1.clone());
            }
            let alone = RuleSet::new(vec![alone]);
            let keep = alone.keep();
            let mut pipeline = Pipeline::new(&alone, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
            let mut sink = Alerts::default();
            let mut problems = Vec::new();
            // Numbered from 1 as the case lists them, kept to explain a failure.
            let mut fed = Vec::new();
            for (i, v) in case.events.iter().enumerate() {
                let n = i + 1;
                let decoded = keep.parse(v.to_string().as_bytes()).ok();
                match decoded.and_then(Event::from_value) {
                    Some(e) => {
                        fed.push((n, e.clone()));
                        if let Err(err) = pipeline.push(Item::Record(e), &mut sink, &mut |_, _| {})
                        {
                            problems.push(format!("event {n}: {err}"));
                        }
                    }
                    None => problems.push(format!("event {n} is not an object")),
                }
            }
            if let Err(err) = pipeline.flush(&mut sink) {
                problems.push(err.to_string());
            }
            let got = sink.alerts.len();
            let failure = if !problems.is_empty() {
                Some(problems.join("; "))
            } else if got != case.expect {
                let r = &pipeline.report;
                let mut msg = format!(
                    "expected {} alert(s), got {got} (events {}, duplicates {}, suppressed {}, deduplicated {}, untimed {})",
                    case.expect, r.events, r.duplicates, r.suppressed, r.deduplicated, r.untimed
                );
                for a in &sink.alerts {
                    msg.push_str(&format!("\n      got: {} [{} event(s)]", a.title, a.count));
                }
                if let Some(r) = alone.rules().first() {
                    for line in explain_events(r, &fed, got < case.expect) {
                        msg.push_str(&format!("\n      {line}"));
                    }
                }
                Some(msg)
            } else {
                sink.alerts
                    .iter()
                    .find(|a| {
                        case.expect_severity.is_some_and(|s| a.severity != s)
                            || case
                                .expect_title
                                .as_ref()
                                .is_some_and(|t| !a.title.contains(t.as_str()))
                    })
                    .map(|a| {
                        format!(
                            "expected alerts{}{}, got: {} [{}]",
                            case.expect_severity
                                .map(|s| format!(" of severity {s}"))
                                .unwrap_or_default(),
                            case.expect_title
                                .as_ref()
                                .map(|t| format!(" whose title contains \"{t}\""))
                                .unwrap_or_default(),
                            a.title,
                            a.severity
                        )
                    })
            };
            out.push(CaseResult {
                rule_id: rule.id.clone(),
                file: rule.file.clone(),
                line: case.pos.line,
                name: case.name.clone(),
                failure,
            });
        }
    }
    out
}

/// Why a case's events gave too few alerts (`fewer`): for each event the rule did not
/// take, the first condition that failed, a suppression, or a copy of an earlier event;
/// or, when they gave too many, which events matched.
fn explain_events(rule: &Rule, events: &[(usize, Event)], fewer: bool) -> Vec<String> {
    let mut copies = Copies::new(DEFAULT_HORIZON);
    let mut out = Vec::new();
    let mut then = None;
    for (n, e) in events {
        let copy_of = copies.check(e, *n);
        let t = explain::rule_trace(rule, e, true);
        let line = match (copy_of, t.matches, &t.suppressed_by) {
            (Some(first), ..) if fewer => Some(format!(
                "a copy of event {first} (same eventID, eventTime, eventName and recipientAccountId): dropped"
            )),
            (_, false, _) if fewer => t.reason.clone(),
            (_, true, Some(s)) if fewer => Some(format!(
                "matched, but suppressed: {} (owner {}, {})",
                s.reason, s.owner, s.expires
            )),
            (None, true, None) if !fewer => Some(match &t.step {
                Some(step) => format!("matched (step \"{step}\")"),
                None => "matched".to_string(),
            }),
            _ => None,
        };
        if t.matches {
            then = t.escalation.clone();
        }
        if let Some(line) = line {
            out.push(format!("event {n}: {line}"));
        }
    }
    if let (true, true, Some(then)) = (fewer, out.is_empty(), then) {
        out.push(format!("every event matched; {then}"));
    }
    out
}
