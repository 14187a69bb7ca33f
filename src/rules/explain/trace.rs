//! One record traced through a rule: each condition's verdict (the matcher's own), the
//! values found, and why what failed failed.

use super::describe::{describe_op, expiry};
use super::{
    cut, duration, joined_ops, plural, quote, quoted_list, IndexView, OpView, SHOWN_ELEMENTS,
    SHOWN_FOUND, TRIED_ELEMENTS,
};
use crate::event::Event;
use crate::rules::matcher::{is_secret_key, Cond, FieldRef, FieldTest, Op, Val};
use crate::rules::{OnFailure, Rule, RuleSet};
use crate::state::{identity, seen::Seen};
use serde::Serialize;
use serde_json::Value;
use std::collections::HashMap;

/// A condition evaluated on one record: whether it held, and its parts.
#[derive(Debug, Clone, Serialize)]
pub struct Trace {
    pub holds: bool,
    #[serde(flatten)]
    pub node: TraceNode,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TraceNode {
    All { of: Vec<Trace> },
    Any { of: Vec<Trace> },
    Not { cond: Box<Trace> },
    Test(TestTrace),
}

/// A field test: the values found and each operator's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct TestTrace {
    pub field: String,
    pub ignore_case: bool,
    pub found: Found,
    pub ops: Vec<OpTrace>,
}

/// The values a field reached in the record.
#[derive(Debug, Clone, Serialize)]
pub struct Found {
    /// The first few: texts (cut after 120 characters), numbers, booleans, null, objects
    /// and arrays (as JSON text where the test compares JSON text), secrets inside them
    /// replaced. Empty when redacted.
    pub values: Vec<Value>,
    /// How many values the path reached.
    pub total: usize,
    /// A secret field: its values are never shown.
    pub redacted: bool,
    /// The test reads the whole record's text (a Sigma keyword), which is not shown.
    pub whole_record: bool,
}

impl Found {
    /// `"a", "b" and 3 more`, or `nothing` when the field is missing.
    pub fn shown(&self) -> String {
        if self.total == 0 {
            return "nothing".to_string();
        }
        if self.whole_record {
            return "the record's JSON text (not shown)".to_string();
        }
        if self.redacted {
            return "[redacted]".to_string();
        }
        let mut s = self
            .values
            .iter()
            .map(show_value)
            .collect::<Vec<_>>()
            .join(", ");
        if self.total > self.values.len() {
            s.push_str(&format!(" and {} more", self.total - self.values.len()));
        }
        s
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct OpTrace {
    pub holds: bool,
    pub op: &'static str,
    /// What the operator asks, as in [`OpView::text`].
    pub expected: String,
    /// Why it failed, without the field name: `found "bob", expected one of ["alice"]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
    /// `not` and `some`: the operators inside, on the field's values.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<OpTrace>,
    /// `where`: the element that met the condition, or the first few that did not.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub elements: Vec<Trace>,
}

/// Traces `cond` on `e`.
pub fn trace(cond: &Cond, e: &Event) -> Trace {
    trace_in(cond, e, false)
}

/// `redact`: the condition reads elements of a secret field (inside `where`).
fn trace_in(cond: &Cond, e: &Event, redact: bool) -> Trace {
    match cond {
        Cond::All(cs) => {
            let of: Vec<Trace> = cs
                .iter()
                .map(|c| trace_in(c, e, redact))
                .flat_map(|t| match t.node {
                    TraceNode::All { of } => of,
                    node => vec![Trace { node, ..t }],
                })
                .collect();
            Trace {
                holds: of.iter().all(|t| t.holds),
                node: TraceNode::All { of },
            }
        }
        Cond::Any(cs) => {
            let of: Vec<Trace> = cs.iter().map(|c| trace_in(c, e, redact)).collect();
            Trace {
                holds: of.iter().any(|t| t.holds),
                node: TraceNode::Any { of },
            }
        }
        Cond::Not(c) => {
            let inner = trace_in(c, e, redact);
            Trace {
                holds: !inner.holds,
                node: TraceNode::Not {
                    cond: Box::new(inner),
                },
            }
        }
        Cond::Test(t) => {
            let redact = redact || t.field.is_sensitive();
            let mut vals = Vec::new();
            t.field.visit(e, &mut |v| vals.push(v));
            let found = found(t, &vals, redact);
            let ops: Vec<OpTrace> = t
                .ops
                .iter()
                .map(|op| op_trace(t, op, e, t.ignore_case, &vals, &found, redact))
                .collect();
            Trace {
                holds: ops.iter().all(|o| o.holds),
                node: TraceNode::Test(TestTrace {
                    field: t.field.label(),
                    ignore_case: t.ignore_case,
                    found,
                    ops,
                }),
            }
        }
    }
}

fn found(t: &FieldTest, vals: &[Val], redact: bool) -> Found {
    let whole_record = matches!(t.field, FieldRef::Record);
    Found {
        values: if redact || whole_record {
            Vec::new()
        } else {
            vals.iter()
                .take(SHOWN_FOUND)
                .map(|v| found_value(*v, t.json_text))
                .collect()
        },
        total: vals.len(),
        redacted: redact && !vals.is_empty(),
        whole_record,
    }
}

/// A value found, for [`Found::values`].
fn found_value(v: Val, json_text: bool) -> Value {
    match v {
        Val::Str(s) => Value::from(cut(s)),
        Val::Json(Value::String(s)) => Value::from(cut(&scrub_text(s))),
        Val::Json(j @ (Value::Object(_) | Value::Array(_))) if json_text => {
            Value::from(cut(&scrub(j).to_string()))
        }
        Val::Json(j) => scrub(j),
    }
}

/// A found value as shown: texts quoted, numbers and booleans bare, objects described.
fn show_value(v: &Value) -> String {
    match v {
        Value::String(s) => quote(s),
        Value::Array(a) => format!("an array of {}", a.len()),
        Value::Object(_) => "an object".to_string(),
        other => other.to_string(),
    }
}

/// A value found, as shown.
fn show(v: Val, json_text: bool) -> String {
    show_value(&found_value(v, json_text))
}

/// `v` with the values of secret keys replaced by `[redacted]`.
fn scrub(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .map(|(k, v)| {
                    let v = if is_secret_key(k) {
                        Value::from("[redacted]")
                    } else {
                        scrub(v)
                    };
                    (k.clone(), v)
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(scrub).collect()),
        other => other.clone(),
    }
}

/// A text that holds a JSON document (a policy, Lambda environment) with its secrets
/// replaced; any other text as it is.
fn scrub_text(s: &str) -> String {
    let t = s.trim_start();
    if t.starts_with('{') || t.starts_with('[') {
        if let Ok(doc @ (Value::Object(_) | Value::Array(_))) = serde_json::from_str::<Value>(s) {
            let clean = scrub(&doc);
            if clean != doc {
                return clean.to_string();
            }
        }
    }
    s.to_string()
}

/// Traces one operator of `t`; its verdict is the matcher's.
fn op_trace(
    t: &FieldTest,
    op: &Op,
    e: &Event,
    ic: bool,
    vals: &[Val],
    found: &Found,
    redact: bool,
) -> OpTrace {
    let holds = t.holds(op, e, ic);
    let view = describe_op(op, ic);
    let mut out = OpTrace {
        holds,
        op: view.op,
        expected: view.text.clone(),
        why: None,
        inner: Vec::new(),
        elements: Vec::new(),
    };
    match op {
        Op::Not(ops, inner_ic) => {
            out.inner = ops
                .iter()
                .map(|o| op_trace(t, o, e, *inner_ic, vals, found, redact))
                .collect();
        }
        Op::Where(cond, _) => {
            let sub_redact = redact || t.field.is_sensitive();
            let objects = vals
                .iter()
                .filter_map(|v| match v {
                    Val::Json(obj @ Value::Object(_)) => Event::from_value((*obj).clone()),
                    _ => None,
                })
                .take(TRIED_ELEMENTS);
            if holds {
                out.elements = objects
                    .map(|sub| trace_in(cond, &sub, sub_redact))
                    .find(|tr| tr.holds)
                    .into_iter()
                    .collect();
            } else {
                out.elements = objects
                    .take(SHOWN_ELEMENTS)
                    .map(|sub| trace_in(cond, &sub, sub_redact))
                    .collect();
            }
        }
        _ => {}
    }
    if !holds {
        out.why = Some(why_failed(t, op, e, ic, vals, found, &out, redact));
    }
    out
}

/// Why `op` failed on the values `vals`, in one line without the field's name.
#[allow(clippy::too_many_arguments)]
fn why_failed(
    t: &FieldTest,
    op: &Op,
    e: &Event,
    ic: bool,
    vals: &[Val],
    found: &Found,
    traced: &OpTrace,
    redact: bool,
) -> String {
    let expected = &traced.expected;
    // `not` and `some` compare as their own `ignore_case` says.
    let case = match op {
        Op::Not(_, own) | Op::Some(_, own) if *own => " (ignoring case)",
        Op::Not(..) | Op::Some(..) => "",
        _ if ic => " (ignoring case)",
        _ => "",
    };
    let own_expected = match op {
        Op::Not(_, own) | Op::Some(_, own) => describe_op(op, *own).text,
        _ => expected.clone(),
    };
    let has = if vals.is_empty() {
        "missing".to_string()
    } else {
        format!("found {}", found.shown())
    };
    match op {
        Op::Exists(true) => format!("{has}, expected {expected}"),
        Op::Exists(false) => format!("{has}, expected it absent"),
        Op::Not(..) => format!("{has}, expected {own_expected}{case}; the inner test held"),
        _ if vals.is_empty() => format!("missing, expected {own_expected}{case}"),
        Op::Some(ops, inner_ic) => {
            let mut lines = Vec::new();
            for v in vals.iter().take(SHOWN_FOUND) {
                let failed = ops
                    .iter()
                    .find(|o| !t.holds_on_value(o, e, *inner_ic, *v))
                    .map(|o| describe_op(o, *inner_ic).text);
                if let Some(f) = failed {
                    let shown = if redact {
                        "[redacted]".to_string()
                    } else {
                        show(*v, t.json_text)
                    };
                    lines.push(format!("{shown} fails {f}"));
                }
            }
            let views: Vec<OpView> = ops.iter().map(|o| describe_op(o, *inner_ic)).collect();
            format!(
                "found {}, but no single value meets {}{case}: {}",
                found.shown(),
                joined_ops(&views),
                lines.join("; ")
            )
        }
        Op::Where(..) => match traced.elements.first() {
            None => format!("found {} (not an object)", found.shown()),
            Some(first) => format!(
                "no element meets the condition (element 1: {})",
                first_failure(first).unwrap_or_else(|| "held".to_string())
            ),
        },
        Op::Field(other, same) => {
            let mut theirs = Vec::new();
            other.visit(e, &mut |v| theirs.push(v));
            let theirs_shown = if theirs.is_empty() {
                String::new()
            } else if other.is_sensitive() {
                "[redacted]".to_string()
            } else {
                theirs
                    .iter()
                    .take(SHOWN_FOUND)
                    .map(|v| show(*v, false))
                    .collect::<Vec<_>>()
                    .join(", ")
            };
            let other = other.label();
            if theirs.is_empty() {
                format!("{has}, but {other} is missing (both must be present)")
            } else if *same {
                format!("{has}, {other} has {theirs_shown}: expected the same{case}")
            } else {
                format!("{has}, {other} has {theirs_shown} too: expected them to differ{case}")
            }
        }
        Op::Set(set, Some(name)) => {
            let size = match set.len() {
                0 => "empty".to_string(),
                n => format!("{n} value{}", plural(n)),
            };
            format!("{has}, not in list {name}{case} ({size})")
        }
        Op::Cidr(_) if !vals.iter().any(|v| is_ip(v)) => {
            format!("{has} (not an IP address), expected {expected}")
        }
        Op::Cmp(..) if !vals.iter().any(|v| v.number().is_some()) => {
            format!("{has} (not a number), expected {expected}")
        }
        _ if !t.json_text
            && vals
                .iter()
                .all(|v| matches!(v, Val::Json(Value::Object(_) | Value::Array(_)))) =>
        {
            format!("{has} (objects and arrays have no text), expected {expected}")
        }
        _ => format!("{has}, expected {expected}{case}"),
    }
}

fn is_ip(v: &Val) -> bool {
    v.text()
        .is_some_and(|t| t.parse::<std::net::IpAddr>().is_ok())
}

/// The first reason a failed condition failed, in one line: `field: found …, expected …`.
/// `None` when the condition held.
pub fn first_failure(t: &Trace) -> Option<String> {
    if t.holds {
        return None;
    }
    Some(match &t.node {
        TraceNode::All { of } => return of.iter().find_map(first_failure),
        TraceNode::Any { of } => {
            let mut parts: Vec<String> = of.iter().take(3).filter_map(first_failure).collect();
            if of.len() > 3 {
                parts.push(format!("… {} in all", of.len()));
            }
            format!(
                "none of {} alternatives held: {}",
                of.len(),
                parts.join(" | ")
            )
        }
        TraceNode::Not { cond } => format!(
            "not: the inner condition held ({})",
            held_summary(cond).unwrap_or_default()
        ),
        TraceNode::Test(test) => {
            let why = test.ops.iter().find_map(|o| o.why.clone())?;
            format!("{}: {why}", test.field)
        }
    })
}

/// Why a condition held, in one line (`field: found …, equals …`).
pub fn held_summary(t: &Trace) -> Option<String> {
    if !t.holds {
        return None;
    }
    Some(match &t.node {
        TraceNode::All { of } => {
            let mut parts: Vec<String> = of.iter().take(3).filter_map(held_summary).collect();
            if of.len() > 3 {
                parts.push("…".to_string());
            }
            parts.join("; ")
        }
        TraceNode::Any { of } => return of.iter().find_map(held_summary),
        TraceNode::Not { cond } => format!(
            "not: {}",
            first_failure(cond).unwrap_or_else(|| "the inner condition failed".to_string())
        ),
        TraceNode::Test(test) => {
            let ops: Vec<&str> = test.ops.iter().map(|o| o.expected.as_str()).collect();
            format!(
                "{}: found {} ({})",
                test.field,
                test.found.shown(),
                ops.join(" and ")
            )
        }
    })
}

/// What one rule made of one record.
#[derive(Debug, Clone, Serialize)]
pub struct RuleTrace {
    pub rule: String,
    pub file: String,
    /// `match`, `suppressed` or `no_match`.
    pub verdict: &'static str,
    /// [`Rule::matches`]: the condition held and `on_failure` kept the call.
    pub matches: bool,
    pub enabled: bool,
    /// Whether the index offers the rule this record (a rule it skips cannot match).
    pub offered: bool,
    pub index: IndexView,
    /// Why the index skips the rule, when it does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped_because: Option<String>,
    /// The alert's severity for this record (`on_failure: {severity: …}` may lower it).
    pub severity: String,
    /// Why it does not match, in one line.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The condition held, but `on_failure: ignore` drops this failed call (its code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_failed_call: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub suppressed_by: Option<SuppressionHit>,
    /// For a sequence: the step this record belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub step: Option<String>,
    /// For a sequence: its steps' names (its condition is any step's, in this order).
    #[serde(skip)]
    pub steps: Vec<String>,
    /// What a match leads to: a threshold or sequence counts it, dedup keys it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub escalation: Option<String>,
    pub trace: Trace,
}

/// The suppression that applied, with the trace of its condition.
#[derive(Debug, Clone, Serialize)]
pub struct SuppressionHit {
    pub reason: String,
    pub owner: String,
    pub expires: String,
    pub trace: Trace,
}

/// Traces `rule` on `e`; `offered` says whether the index offers it.
pub fn rule_trace(rule: &Rule, e: &Event, offered: bool) -> RuleTrace {
    let trace = trace(&rule.cond, e);
    let failed = e.failure().map(|f| f.label().to_string());
    let dropped = match (trace.holds, rule.on_failure, &failed) {
        (true, OnFailure::Ignore, Some(code)) => Some(code.clone()),
        _ => None,
    };
    let matches = trace.holds && dropped.is_none();
    let suppressed_by = matches
        .then(|| rule.suppressed_by(e))
        .flatten()
        .map(|s| SuppressionHit {
            reason: s.reason.clone(),
            owner: s.owner.clone(),
            expires: expiry(s.expires),
            trace: self::trace(&s.cond, e),
        });
    let reason = match (&dropped, first_failure(&trace)) {
        (Some(code), _) => Some(format!(
            "on_failure: ignore drops failed calls, and this one failed ({code})"
        )),
        (None, why) => why,
    };
    let (field, values) = rule.index_keys();
    let skipped_because = (!offered).then(|| skip_reason(rule, e, field, &values));

    let seq = rule.threshold.as_ref().and_then(|t| t.sequence.as_ref());
    let step = seq
        .filter(|_| matches)
        .and_then(|s| s.step_of(e).map(|i| s.steps[i].name.clone()));
    RuleTrace {
        rule: rule.id.clone(),
        file: rule.file.clone(),
        verdict: match (matches, &suppressed_by) {
            (false, _) => "no_match",
            (true, Some(_)) => "suppressed",
            (true, None) => "match",
        },
        matches,
        enabled: rule.enabled,
        offered,
        index: IndexView {
            field: field.to_string(),
            values,
            ignore_case: rule.index_ignores_case(),
        },
        skipped_because,
        severity: rule.severity_for(e).to_string(),
        reason,
        dropped_failed_call: dropped,
        suppressed_by,
        step,
        steps: seq
            .map(|s| s.steps.iter().map(|st| st.name.clone()).collect())
            .unwrap_or_default(),
        escalation: escalation(rule),
        trace,
    }
}

/// What a match of `rule` leads to, when it is more than one alert per record.
fn escalation(rule: &Rule) -> Option<String> {
    let per = |refs: &[FieldRef]| {
        if refs.is_empty() {
            String::new()
        } else {
            let labels: Vec<String> = refs.iter().map(FieldRef::label).collect();
            format!(" per {}", labels.join(", "))
        }
    };
    if let Some(t) = &rule.threshold {
        return Some(match &t.sequence {
            Some(s) => format!(
                "a step of a sequence: {} within {}{}",
                if s.ordered {
                    format!("{} steps in order", s.steps.len())
                } else {
                    format!("{} of {} steps in any order", s.need, s.steps.len())
                },
                duration(t.window),
                per(&t.group_by)
            ),
            None => format!(
                "counts towards a threshold: {} {} within {}{}",
                t.count,
                match &t.distinct {
                    Some(d) => format!("distinct {}", d.label()),
                    None => "matches".to_string(),
                },
                duration(t.window),
                per(&t.group_by)
            ),
        });
    }
    rule.dedup.as_ref().map(|d| {
        format!(
            "one alert{}{}",
            per(&d.key),
            d.cooldown
                .map(|c| format!(" per {} of event time", duration(c)))
                .unwrap_or_default()
        )
    })
}

fn skip_reason(rule: &Rule, e: &Event, field: &str, values: &[String]) -> String {
    if !rule.enabled {
        return "the rule is disabled (enabled: false)".to_string();
    }
    let value = match field {
        "eventName" => e.event_name(),
        "eventSource" => e.event_source(),
        _ => return "the index offers this rule every record".to_string(),
    };
    let shown = quoted_list(values.iter().map(String::as_str), values.len());
    let case = if rule.index_ignores_case() {
        " (ignoring case)"
    } else {
        ""
    };
    match value {
        None => format!("the record has no {field}; the rule needs one of {shown}"),
        Some(v) => format!("{field} {} is not one of {shown}{case}", quote(v)),
    }
}

/// Everything the rules made of one record.
#[derive(Debug, Clone, Serialize)]
pub struct RecordTrace {
    /// 1-based position of the record in its input.
    pub record: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_source: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event_time: Option<String>,
    /// The earlier record this one is a copy of: the pipeline drops it unseen by rules.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duplicate_of: Option<usize>,
    /// Matching rules first (suppressed ones included), then the candidates that did not
    /// match; or just the rule asked about.
    pub rules: Vec<RuleTrace>,
    /// Enabled rules the index did not offer (not counted when one rule was asked about).
    pub skipped: usize,
    /// Disabled rules (never offered).
    pub disabled: usize,
}

/// Traces `e` through `set`: every candidate rule, or only the rule at `only`.
pub fn record_trace(
    set: &RuleSet,
    e: &Event,
    record: usize,
    duplicate_of: Option<usize>,
    only: Option<usize>,
) -> RecordTrace {
    let candidates = set.candidates(e);
    let rules = set.rules();
    let mut traces: Vec<RuleTrace> = match only {
        Some(i) => vec![rule_trace(&rules[i], e, candidates.contains(&i))],
        None => candidates
            .iter()
            .map(|&i| rule_trace(&rules[i], e, true))
            .collect(),
    };
    // Stable: rule order within matches and within misses.
    traces.sort_by_key(|t| !t.matches);
    let disabled = rules.iter().filter(|r| !r.enabled).count();
    RecordTrace {
        record,
        event_id: e.event_id().map(String::from),
        event_name: e.event_name().map(String::from),
        event_source: e.event_source().map(String::from),
        event_time: e.str("eventTime").map(String::from),
        duplicate_of,
        rules: traces,
        skipped: match only {
            Some(_) => 0,
            None => rules
                .len()
                .saturating_sub(candidates.len())
                .saturating_sub(disabled),
        },
        disabled: if only.is_some() { 0 } else { disabled },
    }
}

/// Finds copies within one input as the pipeline does ([`identity`], [`Seen`]), and
/// remembers which record each identity came from.
pub struct Copies {
    seen: Seen,
    first: HashMap<u64, usize>,
}

impl Copies {
    pub fn new(horizon: i64) -> Copies {
        Copies {
            seen: Seen::new(horizon),
            first: HashMap::new(),
        }
    }

    /// The earlier record `e` (record number `n`) is a copy of, if any.
    pub fn check(&mut self, e: &Event, n: usize) -> Option<usize> {
        let id = identity(e);
        if self.seen.is_duplicate(e, id) {
            // Seen keeps fingerprints only; the first record of each is remembered here.
            return Some(self.first.get(&id).copied().unwrap_or(0));
        }
        self.first.entry(id).or_insert(n);
        None
    }
}
