//! Indexes rules by the `eventName` (or else `eventSource`) values their `match` requires,
//! so an event meets only the rules that can match it. Rules that constrain neither are
//! checked against every event.

use super::matcher::{Cond, FieldRef, Lit, Op};
use super::Rule;
use crate::event::Event;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub struct Index {
    by_name: HashMap<String, Vec<usize>>,
    by_source: HashMap<String, Vec<usize>>,
    always: Vec<usize>,
}

impl Index {
    pub fn build(rules: &[Rule]) -> Index {
        let mut ix = Index::default();
        for (i, r) in rules.iter().enumerate() {
            if !r.enabled {
                continue;
            }
            if let Some(names) = required(&r.cond, "eventName") {
                for n in names {
                    ix.by_name.entry(n).or_default().push(i);
                }
            } else if let Some(sources) = required(&r.cond, "eventSource") {
                for s in sources {
                    ix.by_source.entry(s).or_default().push(i);
                }
            } else {
                ix.always.push(i);
            }
        }
        ix
    }

    /// Calls `f` with each candidate rule index, in ascending order, once.
    pub fn for_each_candidate(&self, e: &Event, f: &mut dyn FnMut(usize)) {
        let empty: &[usize] = &[];
        let by_name = e
            .event_name()
            .and_then(|n| self.by_name.get(n))
            .map_or(empty, Vec::as_slice);
        let by_source = e
            .event_source()
            .and_then(|s| self.by_source.get(s))
            .map_or(empty, Vec::as_slice);
        // Each rule sits in exactly one bucket, so a three-way merge yields no duplicates.
        let (mut a, mut b, mut c) = (0, 0, 0);
        loop {
            let next = [by_name.get(a), by_source.get(b), self.always.get(c)]
                .into_iter()
                .flatten()
                .min()
                .copied();
            let Some(i) = next else { break };
            if by_name.get(a) == Some(&i) {
                a += 1;
            } else if by_source.get(b) == Some(&i) {
                b += 1;
            } else {
                c += 1;
            }
            f(i);
        }
    }

    pub fn candidates(&self, e: &Event) -> Vec<usize> {
        let mut out = Vec::new();
        self.for_each_candidate(e, &mut |i| out.push(i));
        out
    }
}

/// What a rule is indexed on: `("eventName", names)`, `("eventSource", sources)`, or
/// `("*", [])` when it is checked against every event.
pub fn keys(rule: &Rule) -> (&'static str, Vec<String>) {
    for field in ["eventName", "eventSource"] {
        if let Some(values) = required(&rule.cond, field) {
            return (field, values.into_iter().collect());
        }
    }
    ("*", Vec::new())
}

/// The literal values `field` must have for `cond` to match, when `cond` pins them down.
fn required(cond: &Cond, field: &str) -> Option<BTreeSet<String>> {
    match cond {
        Cond::Test(t) => {
            let FieldRef::Path(p) = &t.field else {
                return None;
            };
            if p.as_str() != field || t.ignore_case {
                return None;
            }
            t.ops.iter().find_map(|op| match op {
                Op::Equals(Lit::Text { text, num: None }) => Some(BTreeSet::from([text.clone()])),
                Op::Set(s) => Some(s.iter().cloned().collect()),
                _ => None,
            })
        }
        // Every branch must hold: any one that pins the field is enough; take the smallest.
        Cond::All(parts) => parts
            .iter()
            .filter_map(|c| required(c, field))
            .min_by_key(BTreeSet::len),
        // One branch is enough: every branch must pin the field.
        Cond::Any(parts) => parts.iter().try_fold(BTreeSet::new(), |mut acc, c| {
            acc.extend(required(c, field)?);
            Some(acc)
        }),
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
        let always = ["c-everything", "f-not-name", "g-ci-name", "h-half"];
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
                "g-ci-name",
                "h-half"
            ]
        );
        assert_eq!(
            ids(json!({"eventName":"StopLogging","eventSource":"cloudtrail.amazonaws.com"})),
            [
                "c-everything",
                "d-trail",
                "f-not-name",
                "g-ci-name",
                "h-half"
            ]
        );
        assert_eq!(ids(json!({"eventVersion":"1.08"})), always);
    }
}
