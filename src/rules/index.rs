//! Indexes rules by the `eventName` (or else `eventSource`) values their `match` requires,
//! so an event meets only the rules that can match it. Rules that constrain neither are
//! checked against every event. Values a rule compares ignoring case (every Sigma rule's)
//! sit in buckets keyed by their lower case, looked up with the event's lower-cased value.

use super::matcher::{Cond, FieldRef, FieldTest, Lit, Op};
use super::Rule;
use crate::event::Event;
use crate::source::skip::Gate;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct Index {
    by_name: HashMap<String, Vec<usize>>,
    by_source: HashMap<String, Vec<usize>>,
    /// Keyed by lower case: rules that compare the value ignoring case.
    by_name_ci: HashMap<String, Vec<usize>>,
    by_source_ci: HashMap<String, Vec<usize>>,
    always: Vec<usize>,
}

impl Index {
    pub fn build(rules: &[Rule]) -> Index {
        let mut ix = Index::default();
        for (i, r) in rules.iter().enumerate() {
            if !r.enabled {
                continue;
            }
            let bucket = match (
                required(&r.cond, "eventName"),
                required(&r.cond, "eventSource"),
            ) {
                (Some((names, false)), _) => Some((names, &mut ix.by_name)),
                (Some((names, true)), _) => Some((names, &mut ix.by_name_ci)),
                (None, Some((sources, false))) => Some((sources, &mut ix.by_source)),
                (None, Some((sources, true))) => Some((sources, &mut ix.by_source_ci)),
                (None, None) => None,
            };
            match bucket {
                Some((values, map)) => {
                    for v in values {
                        map.entry(v).or_default().push(i);
                    }
                }
                None => ix.always.push(i),
            }
        }
        ix
    }

    /// Calls `f` with each candidate rule index, in ascending order, once.
    pub fn for_each_candidate(&self, e: &Event, f: &mut dyn FnMut(usize)) {
        fn exact<'m>(map: &'m HashMap<String, Vec<usize>>, v: Option<&str>) -> &'m [usize] {
            v.and_then(|v| map.get(v)).map_or(&[], Vec::as_slice)
        }
        fn folded<'m>(map: &'m HashMap<String, Vec<usize>>, v: Option<&str>) -> &'m [usize] {
            if map.is_empty() {
                return &[];
            }
            v.and_then(|v| map.get(&v.to_lowercase()))
                .map_or(&[], Vec::as_slice)
        }
        let lists = [
            exact(&self.by_name, e.event_name()),
            exact(&self.by_source, e.event_source()),
            folded(&self.by_name_ci, e.event_name()),
            folded(&self.by_source_ci, e.event_source()),
            &self.always,
        ];
        // Each rule sits in exactly one bucket, so merging the lists yields no duplicates.
        let mut at = [0usize; 5];
        loop {
            let next = (0..lists.len())
                .filter_map(|k| lists[k].get(at[k]).map(|i| (*i, k)))
                .min();
            let Some((i, k)) = next else { break };
            at[k] += 1;
            f(i);
        }
    }

    /// What a record must hold for some rule to be a candidate: a name or source with a
    /// bucket, or for each rule indexed nowhere, one test it cannot match without
    /// ([`Gate`]). `None` when some such rule has no test the gate can decide.
    pub fn gate(&self, rules: &[Rule]) -> Option<Gate> {
        let mut tests = Vec::new();
        for &i in &self.always {
            let (path, t) = necessary_test(&rules[i].cond)?;
            tests.push((path, t.clone()));
        }
        let keys = |m: &HashMap<String, Vec<usize>>| m.keys().cloned().collect();
        Gate::new(
            keys(&self.by_name),
            keys(&self.by_source),
            keys(&self.by_name_ci),
            keys(&self.by_source_ci),
            tests,
        )
    }

    pub fn candidates(&self, e: &Event) -> Vec<usize> {
        let mut out = Vec::new();
        self.for_each_candidate(e, &mut |i| out.push(i));
        out
    }
}

/// A test `cond` cannot hold without, on a top-level field or one an object below, that
/// the gate can decide from the field's text and that fails when the field is absent.
fn necessary_test(cond: &Cond) -> Option<(Vec<String>, &FieldTest)> {
    match cond {
        Cond::All(parts) => parts.iter().find_map(necessary_test),
        Cond::Test(t) => t
            .decided_by_text()
            .filter(|p| p.len() <= 2 && !t.holds_on_text(None))
            .map(|p| (p, t)),
        Cond::Any(_) | Cond::Not(_) => None,
    }
}

/// What a rule is indexed on: `("eventName", names)`, `("eventSource", sources)`, or
/// `("*", [])` when it is checked against every event.
pub fn keys(rule: &Rule) -> (&'static str, Vec<String>) {
    let (field, values, _) = keys_folded(rule);
    (field, values)
}

/// [`keys`], and whether the values are compared ignoring case (they are then in lower
/// case, as every Sigma rule's).
pub fn keys_folded(rule: &Rule) -> (&'static str, Vec<String>, bool) {
    for field in ["eventName", "eventSource"] {
        if let Some((values, ci)) = required(&rule.cond, field) {
            return (field, values.into_iter().collect(), ci);
        }
    }
    ("*", Vec::new(), false)
}

/// The literal values `field` must have for `cond` to match, when `cond` pins them down,
/// and whether they are compared ignoring case (then they are in lower case).
pub(super) fn required(cond: &Cond, field: &str) -> Option<(BTreeSet<String>, bool)> {
    match cond {
        Cond::Test(t) => {
            let FieldRef::Path(p) = &t.field else {
                return None;
            };
            if p.as_str() != field {
                return None;
            }
            // Operators fold their literals when they ignore case.
            t.ops.iter().find_map(|op| match op {
                Op::Equals(Lit::Text { text, num: None }) => {
                    Some((BTreeSet::from([text.clone()]), t.ignore_case))
                }
                Op::Set(s, _) => Some((s.iter().cloned().collect(), t.ignore_case)),
                _ => None,
            })
        }
        // Every branch must hold: any one that pins the field is enough; take the smallest.
        Cond::All(parts) => parts
            .iter()
            .filter_map(|c| required(c, field))
            .min_by_key(|(s, _)| s.len()),
        // One branch is enough: every branch must pin the field; mixed case rules go to
        // the folded bucket.
        Cond::Any(parts) => {
            let all: Option<Vec<_>> = parts.iter().map(|c| required(c, field)).collect();
            let all = all?;
            let ci = all.iter().any(|(_, ci)| *ci);
            let mut out = BTreeSet::new();
            for (values, _) in all {
                out.extend(
                    values
                        .into_iter()
                        .map(|v| if ci { v.to_lowercase() } else { v }),
                );
            }
            Some((out, ci))
        }
        Cond::Not(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use crate::event::Event;
    use crate::rules::{RuleFile, RuleSet};
    use serde_json::json;

    fn rule(id: &str, m: &str) -> RuleFile {
        RuleFile {
            path: format!("{id}.yaml"),
            text: format!("id: {id}\ntitle: t\nseverity: low\nmatch:\n{m}"),
        }
    }

    #[test]
    fn candidates_for_events() {
        let files = [
            rule("a-login", "  eventName: ConsoleLogin\n"),
            rule("b-any-sts", "  eventSource: sts.amazonaws.com\n"),
            rule("c-everything", "  errorCode: AccessDenied\n"),
            rule("d-trail", "  eventName: [StopLogging, DeleteTrail]\n"),
            rule(
                "e-either",
                "  any:\n    - eventName: AssumeRole\n    - {eventName: ConsoleLogin, errorCode: {exists: true}}\n",
            ),
            rule("f-not-name", "  not: {eventName: ConsoleLogin}\n"),
            rule("g-ci-name", "  eventName: {equals: consolelogin, ignore_case: true}\n"),
            rule("h-half", "  any:\n    - eventName: AssumeRole\n    - errorCode: x\n"),
        ];
        let (set, diags) = RuleSet::compile(&files, &[], &[], 0);
        assert!(diags.is_empty(), "{diags:?}");
        let set = set.unwrap();
        let ids = |e: serde_json::Value| -> Vec<String> {
            let e = Event::from_value(e).unwrap();
            set.candidates(&e)
                .into_iter()
                .map(|i| set.rules()[i].id.clone())
                .collect()
        };
        let always = ["c-everything", "f-not-name", "h-half"];
        assert_eq!(
            ids(json!({"eventName":"ConsoleLogin","eventSource":"signin.amazonaws.com"})),
            [
                "a-login",
                "c-everything",
                "e-either",
                "f-not-name",
                "g-ci-name",
                "h-half"
            ]
        );
        assert_eq!(
            ids(json!({"eventName":"AssumeRole","eventSource":"sts.amazonaws.com"})),
            [
                "b-any-sts",
                "c-everything",
                "e-either",
                "f-not-name",
                "h-half"
            ]
        );
        assert_eq!(
            ids(json!({"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"})),
            ["c-everything", "d-trail", "f-not-name", "h-half"]
        );
        // A rule that ignores case is found whatever the case of the event's name.
        assert_eq!(
            ids(json!({"eventName":"CONSOLELOGIN"})),
            ["c-everything", "f-not-name", "g-ci-name", "h-half"]
        );
        assert_eq!(ids(json!({"eventVersion":"1.08"})), always);
    }
}
