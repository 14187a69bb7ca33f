//! Checks one rule file's tree into a [`Rule`], collecting every problem with its position.

use super::cond::{self, Ctx};
use super::diag::{did_you_mean, Diags};
use super::matcher::Cond;
use super::samples::{self, Samples};
use super::yaml::{Kind, Node, Pos, Scalar};
use super::{
    Dedup, Lists, OnFailure, Rule, RuleTest, Sequence, Severity, Step, Suppression, Threshold,
};
use crate::event::parse_time;
use crate::state::window::MAX_STEPS;

const RULE_KEYS: &[&str] = &[
    "id",
    "title",
    "severity",
    "description",
    "runbook",
    "references",
    "tags",
    "enabled",
    "match",
    "on_failure",
    "threshold",
    "sequence",
    "dedup",
    "suppress",
    "tests",
];
const THRESHOLD_KEYS: &[&str] = &["count", "window", "group_by", "distinct"];
const SEQUENCE_KEYS: &[&str] = &["window", "group_by", "ordered", "need", "steps"];
const STEP_KEYS: &[&str] = &["name", "match", "count"];
const DEDUP_KEYS: &[&str] = &["key", "cooldown"];
const SUPPRESS_KEYS: &[&str] = &["match", "reason", "owner", "expires"];
const TEST_KEYS: &[&str] = &["name", "lists", "event", "events", "expect"];

/// Looks up keys of a mapping, reporting unknown ones with a suggestion.
struct Fields<'a> {
    entries: &'a [(Node, Node)],
    pos: Pos,
}

impl<'a> Fields<'a> {
    fn new(node: &'a Node, what: &str, known: &[&str], diags: &mut Diags) -> Option<Self> {
        let Some(entries) = node.as_map() else {
            diags.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.kind_name()),
            );
            return None;
        };
        for (k, _) in entries {
            let key = k.text().unwrap_or_default();
            if !known.contains(&key) {
                diags.error(
                    k.pos,
                    format!(
                        "unknown key '{key}' in {what}{}",
                        did_you_mean(key, known.iter().copied())
                    ),
                );
            }
        }
        Some(Fields {
            entries,
            pos: node.pos,
        })
    }

    fn get(&self, key: &str) -> Option<&'a Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.text() == Some(key))
            .map(|(_, v)| v)
    }

    fn required(&self, key: &str, what: &str, diags: &mut Diags) -> Option<&'a Node> {
        let v = self.get(key);
        if v.is_none() {
            diags.error(self.pos, format!("{what} is missing required key '{key}'"));
        }
        v
    }
}

pub(super) fn text(node: &Node, what: &str, diags: &mut Diags) -> Option<String> {
    match node.scalar() {
        Some(Scalar::Str(s)) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Some(Scalar::Int(_)) | Some(Scalar::Float(_)) => node.text().map(str::to_string),
        _ => {
            diags.error(
                node.pos,
                format!("{what} must be non-empty text, found {}", node.kind_name()),
            );
            None
        }
    }
}

pub(super) fn text_list(node: &Node, what: &str, diags: &mut Diags) -> Vec<String> {
    match node.as_seq() {
        Some(items) => items.iter().filter_map(|i| text(i, what, diags)).collect(),
        None => {
            diags.error(
                node.pos,
                format!("{what} must be a list, found {}", node.kind_name()),
            );
            Vec::new()
        }
    }
}

/// Longest window or cooldown: a year (longer ones would overflow event-time arithmetic).
const MAX_DURATION: i64 = 366 * 86_400;

/// How a wrong value is shown: `'five'`, `"5" (quoted, so it is text)`, or `a list`.
pub(super) fn found(node: &Node) -> String {
    match &node.kind {
        Kind::Scalar { text, plain: false } if text.trim().parse::<f64>().is_ok() => {
            format!("\"{text}\" (quoted, so it is text; remove the quotes)")
        }
        Kind::Scalar { text, .. } => format!("'{text}'"),
        _ => node.kind_name().to_string(),
    }
}

/// `30s`, `10m`, `1h`, `2d`, or plain seconds.
pub fn duration(node: &Node, what: &str, diags: &mut Diags) -> Option<i64> {
    let parsed = match node.scalar() {
        Some(Scalar::Int(i)) if i > 0 => Some(i),
        Some(Scalar::Str(s)) => {
            let s = s.trim();
            let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
            let mult = match unit {
                "" | "s" => Some(1),
                "m" => Some(60),
                "h" => Some(3600),
                "d" => Some(86_400),
                _ => None,
            };
            // All digits: too many for an i64 is simply too long.
            let n = (!num.is_empty()).then(|| num.parse::<i64>().unwrap_or(i64::MAX));
            n.zip(mult)
                .map(|(n, m)| n.saturating_mul(m))
                .filter(|d| *d > 0)
        }
        _ => None,
    };
    match parsed {
        None => diags.error(
            node.pos,
            format!(
                "{what} must be a duration such as 30s, 10m, 1h or 2d, found {}",
                found(node)
            ),
        ),
        Some(d) if d > MAX_DURATION => {
            diags.error(
                node.pos,
                format!(
                    "{what} is too long: {} is more than 366d",
                    node.text().unwrap_or("?")
                ),
            );
            return None;
        }
        Some(_) => {}
    }
    parsed
}

pub(super) fn field_refs(
    node: &Node,
    what: &str,
    diags: &mut Diags,
) -> Vec<super::matcher::FieldRef> {
    let items = node.items();
    let mut out = Vec::new();
    for item in items {
        match item.text().map(cond::field_ref) {
            Some(Ok(f)) => {
                diags.read(item.pos, &f);
                out.push(f)
            }
            Some(Err(msg)) => diags.error(item.pos, format!("{what}: {msg}")),
            None => diags.error(item.pos, format!("{what} takes field paths")),
        }
    }
    out
}

/// Checks and compiles one rule; `None` if it has errors.
pub fn check(
    root: &Node,
    file: &str,
    lists: &Lists,
    samples: Option<&Samples>,
    now: i64,
    diags: &mut Diags,
) -> Option<Rule> {
    let before = diags.list.len();
    let reads_before = diags.reads.len();
    let f = Fields::new(root, "a rule", RULE_KEYS, diags)?;
    let id = f.required("id", "the rule", diags).and_then(|n| {
        let id = text(n, "id", diags)?;
        if !id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
        {
            diags.error(
                n.pos,
                format!("id '{id}' may use only lower-case letters, digits, '-', '_' and '.'"),
            );
        }
        Some(id)
    });
    let title = f.required("title", "the rule", diags).and_then(|n| {
        let t = text(n, "title", diags)?;
        cond::template(&t, n.pos, diags)
    });
    let severity = f.required("severity", "the rule", diags).and_then(|n| {
        let Some(s) = n.text().filter(|s| !s.is_empty()) else {
            diags.error(
                n.pos,
                format!(
                    "severity must be one of info, low, medium, high or critical, found {}",
                    n.kind_name()
                ),
            );
            return None;
        };
        let sev = Severity::parse(s);
        if sev.is_none() {
            diags.error(
                n.pos,
                format!(
                    "unknown severity '{s}'{}; use info, low, medium, high or critical",
                    did_you_mean(s, Severity::NAMES.iter().copied())
                ),
            );
        }
        sev
    });
    let description = f
        .get("description")
        .and_then(|n| text(n, "description", diags));
    let runbook = f.get("runbook").and_then(|n| text(n, "runbook", diags));
    let references = f
        .get("references")
        .map(|n| text_list(n, "references", diags))
        .unwrap_or_default();
    let tags = f
        .get("tags")
        .map(|n| text_list(n, "tags", diags))
        .unwrap_or_default();
    let enabled = match f.get("enabled").map(|n| (n, n.scalar())) {
        None => true,
        Some((_, Some(Scalar::Bool(b)))) => b,
        Some((n, _)) => {
            diags.error(n.pos, "enabled takes true or false");
            true
        }
    };
    let seq_node = f.get("sequence");
    let cond = match (f.get("match"), seq_node) {
        (Some(n), _) => cond::compile(
            n,
            &mut Ctx {
                lists,
                diags,
                relative: false,
            },
        )
        .map(Some),
        (None, Some(_)) => Some(None),
        (None, None) => {
            f.required("match", "the rule", diags);
            None
        }
    };
    let on_failure = f
        .get("on_failure")
        .map_or(Some(OnFailure::Alert), |n| on_failure(n, diags));
    let mut threshold = f.get("threshold").and_then(|n| threshold(n, diags));
    let dedup = f.get("dedup").and_then(|n| dedup(n, diags));
    for other in ["threshold", "sequence"] {
        if let (Some(_), Some(n)) = (f.get(other), f.get("dedup")) {
            diags.error(
                n.pos,
                format!("dedup does not apply to a {other} rule: a {other} already alerts once per group and span"),
            );
        }
    }
    if let (Some(_), Some(n)) = (f.get("threshold"), seq_node) {
        diags.error(
            n.pos,
            "a rule has either a threshold or a sequence, not both",
        );
    }
    // A sequence's condition is its steps', each also meeting the rule's `match`.
    let cond = match (cond, seq_node) {
        (Some(common), Some(n)) => sequence(n, common.as_ref(), lists, diags).map(|(th, any)| {
            threshold = Some(th);
            any
        }),
        (c, _) => c.flatten(),
    };
    let suppressions = f
        .get("suppress")
        .map(|n| suppressions(n, lists, now, diags))
        .unwrap_or_default();
    // Without samples the tests are not compiled (a process that only evaluates events).
    let mut tests = match (f.get("tests"), samples) {
        (Some(n), Some(samples)) => tests(n, lists, samples, diags),
        _ => Vec::new(),
    };
    // A test that sets lists runs the rule compiled with them (errors were reported above).
    for t in tests.iter_mut().filter(|t| !t.lists.is_empty()) {
        if seq_node.is_some() {
            diags.error(
                t.pos,
                "a test of a sequence rule cannot set lists (its steps are compiled once)",
            );
            continue;
        }
        let mut with = lists.clone();
        with.extend(t.lists.iter().cloned());
        let mut scratch = Diags::new(file);
        let cond = f.get("match").and_then(|n| {
            cond::compile(
                n,
                &mut Ctx {
                    lists: &with,
                    diags: &mut scratch,
                    relative: false,
                },
            )
        });
        let supp = f
            .get("suppress")
            .map(|n| self::suppressions(n, &with, now, &mut scratch))
            .unwrap_or_default();
        t.variant = cond.map(|cond| Box::new((cond, supp)));
    }
    if diags.list[before..]
        .iter()
        .any(|d| d.level == super::diag::Level::Error)
    {
        return None;
    }
    let title = title?;
    let title_shows_outcome = shows_outcome(&title);
    let rule = Rule {
        id: id?,
        file: file.to_string(),
        title,
        title_shows_outcome,
        severity: severity?,
        description: description.unwrap_or_default(),
        runbook,
        references,
        tags,
        falsepositives: Vec::new(),
        enabled,
        cond: cond?,
        on_failure: on_failure?,
        threshold,
        dedup,
        suppressions,
        tests,
    };
    // With samples, the rule is being checked (`validate`, `test`), not only run.
    let reads: Vec<_> = diags.reads.drain(reads_before..).collect();
    if samples.is_some() {
        super::aws_api::check_rule(&rule, &reads, diags);
    }
    Some(rule)
}

/// Whether a title already speaks of a failure (it then gets no "(failed: …)").
pub(super) fn shows_outcome(title: &[cond::Piece]) -> bool {
    title.iter().any(|p| match p {
        cond::Piece::Field(alts, _) => alts.iter().any(|f| {
            f.paths()
                .iter()
                .any(|p| matches!(p.root(), Some("errorCode" | "errorMessage")))
        }),
        cond::Piece::Text(t) => {
            let t = t.to_ascii_lowercase();
            ["fail", "denied", "error"].iter().any(|w| t.contains(w))
        }
        cond::Piece::Count => false,
    })
}

/// `alert`, `ignore`, or `{severity: low}`.
fn on_failure(n: &Node, diags: &mut Diags) -> Option<OnFailure> {
    match n.scalar() {
        Some(Scalar::Str("alert")) => return Some(OnFailure::Alert),
        Some(Scalar::Str("ignore")) => return Some(OnFailure::Ignore),
        _ => {}
    }
    if let Some([(k, v)]) = n.as_map() {
        if k.text() == Some("severity") {
            if let Some(s) = v.text().and_then(Severity::parse) {
                return Some(OnFailure::Severity(s));
            }
        }
    }
    let hint = n
        .text()
        .map(|t| did_you_mean(t, ["alert", "ignore"]))
        .unwrap_or_default();
    diags.error(
        n.pos,
        format!(
            "on_failure must be 'alert', 'ignore' or {{severity: info|low|medium|high|critical}}, found {}{hint}",
            found(n)
        ),
    );
    None
}

fn threshold(n: &Node, diags: &mut Diags) -> Option<Threshold> {
    let f = Fields::new(n, "threshold", THRESHOLD_KEYS, diags)?;
    let count = f
        .required("count", "threshold", diags)
        .and_then(|c| match c.scalar() {
            Some(Scalar::Int(i)) if (1..=100_000).contains(&i) => Some(i as usize),
            _ => {
                diags.error(
                    c.pos,
                    format!(
                        "count must be a whole number from 1 to 100000, found {}",
                        found(c)
                    ),
                );
                None
            }
        });
    let window = f
        .required("window", "threshold", diags)
        .and_then(|w| duration(w, "window", diags));
    let group_by = f
        .get("group_by")
        .map(|g| field_refs(g, "group_by", diags))
        .unwrap_or_default();
    let distinct = f.get("distinct").and_then(|d| {
        if d.as_seq().is_some_and(|s| s.len() != 1) {
            diags.error(d.pos, "distinct takes one field path");
            return None;
        }
        field_refs(d, "distinct", diags).into_iter().next()
    });
    Some(Threshold {
        count: count?,
        window: window?,
        group_by,
        distinct,
        sequence: None,
    })
}

/// `sequence: {window, group_by, ordered, need, steps: [{name, match, count}]}` into a
/// threshold with steps, and the rule's condition (any step).
fn sequence(
    n: &Node,
    common: Option<&Cond>,
    lists: &Lists,
    diags: &mut Diags,
) -> Option<(Threshold, Cond)> {
    let f = Fields::new(n, "sequence", SEQUENCE_KEYS, diags)?;
    let window = f
        .required("window", "sequence", diags)
        .and_then(|w| duration(w, "window", diags));
    let group_by = f
        .get("group_by")
        .map(|g| field_refs(g, "group_by", diags))
        .unwrap_or_default();
    let ordered = match f.get("ordered").map(|n| (n, n.scalar())) {
        None => true,
        Some((_, Some(Scalar::Bool(b)))) => b,
        Some((n, _)) => {
            diags.error(n.pos, "ordered takes true or false");
            true
        }
    };
    let steps_node = f.required("steps", "sequence", diags)?;
    let Some(items) = steps_node
        .as_seq()
        .filter(|i| (2..=MAX_STEPS).contains(&i.len()))
    else {
        diags.error(
            steps_node.pos,
            format!("steps must be a list of 2 to {MAX_STEPS} steps"),
        );
        return None;
    };
    let mut steps = Vec::new();
    for item in items {
        let Some(sf) = Fields::new(item, "a step", STEP_KEYS, diags) else {
            continue;
        };
        let name = sf
            .required("name", "the step", diags)
            .and_then(|n| text(n, "name", diags));
        let cond = sf.required("match", "the step", diags).and_then(|m| {
            cond::compile(
                m,
                &mut Ctx {
                    lists,
                    diags,
                    relative: false,
                },
            )
        });
        let count = sf.get("count").map_or(Some(1), |c| match c.scalar() {
            Some(Scalar::Int(i)) if (1..=100_000).contains(&i) => Some(i as usize),
            _ => {
                diags.error(
                    c.pos,
                    format!(
                        "count must be a whole number from 1 to 100000, found {}",
                        found(c)
                    ),
                );
                None
            }
        });
        if let (Some(name), Some(cond), Some(count)) = (name, cond, count) {
            let cond = match common {
                Some(c) => Cond::All(vec![c.clone(), cond]),
                None => cond,
            };
            steps.push(Step { name, cond, count });
        }
    }
    let need = match f.get("need") {
        None => Some(steps.len()),
        Some(_) if ordered => {
            diags.error(
                f.get("need")?.pos,
                "need applies to an unordered sequence (ordered: false); an ordered one needs every step",
            );
            None
        }
        Some(c) => match c.scalar() {
            Some(Scalar::Int(i)) if i >= 1 && (i as usize) <= items.len() => Some(i as usize),
            _ => {
                diags.error(
                    c.pos,
                    format!(
                        "need must be a number of steps from 1 to {}, found {}",
                        items.len(),
                        found(c)
                    ),
                );
                None
            }
        },
    };
    if steps.len() != items.len() {
        return None;
    }
    let any = Cond::Any(steps.iter().map(|s| s.cond.clone()).collect());
    let seq = Sequence {
        steps,
        ordered,
        need: need?,
    };
    Some((
        Threshold {
            count: seq.min_events(),
            window: window?,
            group_by,
            distinct: None,
            sequence: Some(seq),
        },
        any,
    ))
}

fn dedup(n: &Node, diags: &mut Diags) -> Option<Dedup> {
    let f = Fields::new(n, "dedup", DEDUP_KEYS, diags)?;
    let key = f
        .required("key", "dedup", diags)
        .map(|k| field_refs(k, "dedup key", diags))?;
    let cooldown = f
        .get("cooldown")
        .and_then(|c| duration(c, "cooldown", diags));
    Some(Dedup { key, cooldown })
}

fn suppressions(n: &Node, lists: &Lists, now: i64, diags: &mut Diags) -> Vec<Suppression> {
    let Some(items) = n.as_seq() else {
        diags.error(n.pos, "suppress must be a list of suppressions");
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(f) = Fields::new(item, "a suppression", SUPPRESS_KEYS, diags) else {
            continue;
        };
        let cond = f.required("match", "the suppression", diags).and_then(|m| {
            cond::compile(
                m,
                &mut Ctx {
                    lists,
                    diags,
                    relative: false,
                },
            )
        });
        let reason = f
            .required("reason", "the suppression", diags)
            .and_then(|r| text(r, "reason", diags));
        let owner = f
            .required("owner", "the suppression", diags)
            .and_then(|o| text(o, "owner", diags));
        let expires = f
            .required("expires", "the suppression", diags)
            .and_then(|e| {
                let t = e.text().unwrap_or_default();
                let parsed = parse_time(&format!("{t}T00:00:00Z")).or_else(|| parse_time(t));
                if parsed.is_none() {
                    diags.error(
                        e.pos,
                        format!("expires must be a date such as 2026-12-31, found '{t}'"),
                    );
                }
                // A date means until the end of that day (UTC).
                parsed
                    .map(|p| if t.len() == 10 { p + 86_400 } else { p })
                    .map(|p| (p, e.pos, t.to_string()))
            });
        if let (Some(cond), Some(reason), Some(owner), Some((expires, pos, shown))) =
            (cond, reason, owner, expires)
        {
            if expires <= now {
                diags.warn(pos, format!("suppression expired on {shown}: it no longer applies (owner: {owner}); renew or delete it"));
                continue;
            }
            out.push(Suppression {
                cond,
                reason,
                owner,
                expires,
            });
        }
    }
    out
}

/// A test's `lists:` (list name → values), each name one the rules know.
fn test_lists(n: &Node, lists: &Lists, diags: &mut Diags) -> Vec<(String, Vec<String>)> {
    let Some(entries) = n.as_map() else {
        diags.error(
            n.pos,
            "lists maps list names to the values this test gives them",
        );
        return Vec::new();
    };
    let mut out = Vec::new();
    for (k, v) in entries {
        let name = k.text().unwrap_or_default();
        if !lists.contains_key(name) {
            diags.error(
                k.pos,
                format!(
                    "unknown list '{name}'{}; lists are defined in lists.yaml",
                    did_you_mean(name, lists.keys().map(String::as_str))
                ),
            );
            continue;
        }
        let values = match v.scalar() {
            Some(Scalar::Null) => Vec::new(),
            _ => v
                .items()
                .iter()
                .filter_map(|i| i.text().map(str::to_string))
                .collect(),
        };
        out.push((name.to_string(), values));
    }
    out
}

pub(super) fn tests(
    n: &Node,
    lists: &Lists,
    samples: &Samples,
    diags: &mut Diags,
) -> Vec<RuleTest> {
    let Some(items) = n.as_seq() else {
        diags.error(n.pos, "tests must be a list of test cases");
        return Vec::new();
    };
    let mut out = Vec::new();
    for item in items {
        let Some(f) = Fields::new(item, "a test", TEST_KEYS, diags) else {
            continue;
        };
        let name = f
            .required("name", "the test", diags)
            .and_then(|n| text(n, "name", diags));
        let events = match (f.get("event"), f.get("events")) {
            (Some(e), None) => samples::event(e, samples, diags).map(|e| vec![e]),
            (None, Some(list)) => match list.as_seq() {
                Some(items) if !items.is_empty() => items
                    .iter()
                    .map(|e| samples::event(e, samples, diags))
                    .collect(),
                _ => {
                    diags.error(list.pos, "events must be a non-empty list of events");
                    None
                }
            },
            (Some(_), Some(_)) => {
                diags.error(item.pos, "a test has either 'event' or 'events', not both");
                None
            }
            (None, None) => {
                diags.error(item.pos, "the test is missing 'event' (or 'events')");
                None
            }
        };
        let expect = f
            .required("expect", "the test", diags)
            .and_then(|e| expect(e, diags));
        let lists = f
            .get("lists")
            .map(|n| test_lists(n, lists, diags))
            .unwrap_or_default();
        if let (Some(name), Some(events), Some((expect, severity, title))) = (name, events, expect)
        {
            out.push(RuleTest {
                name,
                pos: item.pos,
                lists,
                variant: None,
                events,
                expect,
                expect_severity: severity,
                expect_title: title,
            });
        }
    }
    out
}

/// What a test expects: how many alerts, and optionally their severity and a text each
/// title contains.
type Expect = (usize, Option<Severity>, Option<String>);

const EXPECT_KEYS: &[&str] = &["alerts", "severity", "title"];

/// `alert`, `no_alert`, a number of alerts, or `{alerts: N, severity: S, title: TEXT}`.
fn expect(n: &Node, diags: &mut Diags) -> Option<Expect> {
    let count = |v: &Node| match v.scalar() {
        Some(Scalar::Int(i)) if i >= 0 => Some(i as usize),
        _ => None,
    };
    let result = match n.scalar() {
        Some(Scalar::Str("alert")) => Some((1, None, None)),
        Some(Scalar::Str("no_alert")) | Some(Scalar::Str("none")) => Some((0, None, None)),
        Some(Scalar::Int(i)) if i >= 0 => Some((i as usize, None, None)),
        _ if n.as_map().is_some() => {
            let f = Fields::new(n, "expect", EXPECT_KEYS, diags)?;
            let alerts = f.get("alerts").map_or(Some(1), |v| {
                let n = count(v);
                if n.is_none() {
                    diags.error(
                        v.pos,
                        format!("expect's alerts must be a whole number, found {}", found(v)),
                    );
                }
                n
            });
            let severity = f.get("severity").map(|v| {
                let s = v.text().and_then(Severity::parse);
                if s.is_none() {
                    diags.error(
                        v.pos,
                        "expect's severity is one of info, low, medium, high or critical",
                    );
                }
                s
            });
            let title = f.get("title").map(|v| text(v, "expect's title", diags));
            return match (alerts, severity, title) {
                (_, Some(None), _) | (_, _, Some(None)) => None,
                (Some(a), s, t) => Some((a, s.flatten(), t.flatten())),
                (None, ..) => None,
            };
        }
        _ => None,
    };
    if result.is_none() {
        let hint = n
            .text()
            .map(|t| did_you_mean(t, ["alert", "no_alert"]))
            .unwrap_or_default();
        diags.error(
            n.pos,
            format!(
                "expect must be 'alert', 'no_alert' or {{alerts: N, severity: S, title: TEXT}}, found {}{hint}",
                found(n)
            ),
        );
    }
    result
}
