//! Runs the `tests:` written inside each rule: every case gets a fresh pipeline holding
//! only its rule, feeds its events in order, and compares the number of alerts. Events are
//! decoded as live records are (keeping only the fields the rule reads), so a rule that
//! reads a field decoding would drop fails its tests instead of failing in production.

use crate::event::Event;
use crate::pipeline::{Pipeline, DEFAULT_HORIZON};
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
            for (i, v) in case.events.iter().enumerate() {
                let decoded = keep.parse(v.to_string().as_bytes()).ok();
                match decoded.and_then(Event::from_value) {
                    Some(e) => {
                        if let Err(err) = pipeline.push(Item::Record(e), &mut sink, &mut |_, _| {})
                        {
                            problems.push(format!("event {i}: {err}"));
                        }
                    }
                    None => problems.push(format!("event {i} is not an object")),
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
