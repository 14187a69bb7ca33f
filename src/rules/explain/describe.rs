//! A compiled rule as plain data: its index, condition tree (lists by name, operators with
//! their values), failure handling, windows, keys and suppressions.

use super::{joined_ops, number, one_or_any, plural, quote, quoted_list, SHOWN_VALUES};
use crate::event::format_time;
use crate::rules::matcher::{CmpOp, Cond, FieldRef, Lit, Op};
use crate::rules::{OnFailure, Rule, Suppression};
use serde::Serialize;
use serde_json::Value;

/// A compiled rule, for people (`trailwatch explain RULE_ID`) and machines.
#[derive(Debug, Clone, Serialize)]
pub struct RuleView {
    pub id: String,
    pub file: String,
    /// The title template, as written (`{field}` placeholders kept).
    pub title: String,
    pub severity: String,
    pub enabled: bool,
    pub index: IndexView,
    /// The `match` tree; `None` for a sequence, whose steps carry the conditions.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub condition: Option<CondView>,
    pub on_failure: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub threshold: Option<ThresholdView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequence: Option<SequenceView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedup: Option<DedupView>,
    pub suppressions: Vec<SuppressionView>,
}

/// What the index files a rule under (see [`Rule::index_keys`]).
#[derive(Debug, Clone, Serialize)]
pub struct IndexView {
    /// `eventName`, `eventSource`, or `*` (checked against every record).
    pub field: String,
    pub values: Vec<String>,
    /// The values are compared ignoring case (and are in lower case).
    pub ignore_case: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct ThresholdView {
    pub count: usize,
    /// Seconds of event time.
    pub window: i64,
    pub group_by: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub distinct: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SequenceView {
    pub window: i64,
    pub group_by: Vec<String>,
    pub ordered: bool,
    pub need: usize,
    pub steps: Vec<StepView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepView {
    pub name: String,
    pub count: usize,
    pub condition: CondView,
}

#[derive(Debug, Clone, Serialize)]
pub struct DedupView {
    pub key: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cooldown: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuppressionView {
    pub reason: String,
    pub owner: String,
    /// When it stops applying: `through 2027-06-30` or `until 2027-06-30T12:00:00Z`.
    pub expires: String,
    pub condition: CondView,
}

/// A condition of the compiled tree.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum CondView {
    All {
        of: Vec<CondView>,
    },
    Any {
        of: Vec<CondView>,
    },
    Not {
        cond: Box<CondView>,
    },
    Test {
        field: String,
        ignore_case: bool,
        ops: Vec<OpView>,
    },
}

/// One operator, with its values.
#[derive(Debug, Clone, Serialize)]
pub struct OpView {
    /// The operator's name in the rule language (`equals`, `in_list`, `glob`, …).
    pub op: &'static str,
    /// Readable: `one of ["a", "b"]`, `in list trusted_accounts (empty)`.
    pub text: String,
    /// The values compared with (the first few of a long list).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub values: Vec<Value>,
    /// How many values in all, for lists.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<usize>,
    /// The named list of `in_list`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub list: Option<String>,
    /// `not` and `some`: the operators inside.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub inner: Vec<OpView>,
    /// `where`: the condition each element is tested on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cond: Option<Box<CondView>>,
}

/// Describes a compiled rule.
pub fn describe(rule: &Rule) -> RuleView {
    let (field, values) = rule.index_keys();
    let seq = rule.threshold.as_ref().and_then(|t| t.sequence.as_ref());
    RuleView {
        id: rule.id.clone(),
        file: rule.file.clone(),
        title: title_template(rule),
        severity: rule.severity.to_string(),
        enabled: rule.enabled,
        index: IndexView {
            field: field.to_string(),
            values,
            ignore_case: rule.index_ignores_case(),
        },
        condition: seq.is_none().then(|| describe_cond(&rule.cond)),
        on_failure: match rule.on_failure {
            OnFailure::Alert => "alert".to_string(),
            OnFailure::Ignore => "ignore".to_string(),
            OnFailure::Severity(s) => format!("severity {s}"),
        },
        threshold: rule
            .threshold
            .as_ref()
            .filter(|t| t.sequence.is_none())
            .map(|t| ThresholdView {
                count: t.count,
                window: t.window,
                group_by: t.group_by.iter().map(FieldRef::label).collect(),
                distinct: t.distinct.as_ref().map(FieldRef::label),
            }),
        sequence: rule.threshold.as_ref().and_then(|t| {
            let s = t.sequence.as_ref()?;
            Some(SequenceView {
                window: t.window,
                group_by: t.group_by.iter().map(FieldRef::label).collect(),
                ordered: s.ordered,
                need: s.need,
                steps: s
                    .steps
                    .iter()
                    .map(|st| StepView {
                        name: st.name.clone(),
                        count: st.count,
                        condition: describe_cond(&st.cond),
                    })
                    .collect(),
            })
        }),
        dedup: rule.dedup.as_ref().map(|d| DedupView {
            key: d.key.iter().map(FieldRef::label).collect(),
            cooldown: d.cooldown,
        }),
        suppressions: rule.suppressions.iter().map(suppression_view).collect(),
    }
}

pub(super) fn suppression_view(s: &Suppression) -> SuppressionView {
    SuppressionView {
        reason: s.reason.clone(),
        owner: s.owner.clone(),
        expires: expiry(s.expires),
        condition: describe_cond(&s.cond),
    }
}

/// A date's expiry is the end of that day, so midnight is shown as the day before.
pub(super) fn expiry(t: i64) -> String {
    if t.rem_euclid(86_400) == 0 {
        format!("through {}", &format_time(t - 86_400)[..10])
    } else {
        format!("until {}", format_time(t))
    }
}

/// The title as written: `{a|b|'text'}` placeholders and `{count}` kept.
fn title_template(rule: &Rule) -> String {
    use crate::rules::cond::Piece;
    let mut out = String::new();
    for p in &rule.title {
        match p {
            Piece::Text(t) => out.push_str(t),
            Piece::Count => out.push_str("{count}"),
            Piece::Field(alts, default) => {
                let mut parts: Vec<String> = alts.iter().map(FieldRef::label).collect();
                parts.extend(default.iter().map(|d| format!("'{d}'")));
                out.push('{');
                out.push_str(&parts.join("|"));
                out.push('}');
            }
        }
    }
    out
}

/// Describes a compiled condition.
pub fn describe_cond(c: &Cond) -> CondView {
    match c {
        // `all` inside `all` (a sequence step and the rule's match) reads as one list.
        Cond::All(cs) => CondView::All {
            of: cs
                .iter()
                .map(describe_cond)
                .flat_map(|v| match v {
                    CondView::All { of } => of,
                    other => vec![other],
                })
                .collect(),
        },
        Cond::Any(cs) => CondView::Any {
            of: cs.iter().map(describe_cond).collect(),
        },
        Cond::Not(c) => CondView::Not {
            cond: Box::new(describe_cond(c)),
        },
        Cond::Test(t) => CondView::Test {
            field: t.field.label(),
            ignore_case: t.ignore_case,
            ops: t
                .ops
                .iter()
                .map(|o| describe_op(o, t.ignore_case))
                .collect(),
        },
    }
}

/// Describes one operator, evaluated ignoring case or not (`ic`): a `not` or `some` that
/// sets its own `ignore_case` says so.
pub fn describe_op(op: &Op, ic: bool) -> OpView {
    let plain = |op: &'static str, text: String, values: Vec<Value>| OpView {
        op,
        text,
        values,
        total: None,
        list: None,
        inner: Vec::new(),
        cond: None,
    };
    let texts = |list: &[String]| list.iter().map(|s| Value::from(s.as_str())).collect();
    match op {
        Op::Equals(lit) => {
            let (shown, value) = match lit {
                Lit::Null => ("null".to_string(), Value::Null),
                Lit::Bool(b) => (b.to_string(), Value::Bool(*b)),
                Lit::Text { text, num: Some(_) } => (text.clone(), Value::from(text.as_str())),
                Lit::Text { text, num: None } => (quote(text), Value::from(text.as_str())),
            };
            plain("equals", format!("equals {shown}"), vec![value])
        }
        Op::Set(set, list) => {
            let mut all: Vec<&String> = set.iter().collect();
            all.sort();
            let first: Vec<Value> = all
                .iter()
                .take(SHOWN_VALUES)
                .map(|s| Value::from(s.as_str()))
                .collect();
            let shown = quoted_list(all.iter().map(|s| s.as_str()), all.len());
            let (name, text) = match list {
                Some(name) if all.is_empty() => ("in_list", format!("in list {name} (empty)")),
                Some(name) => {
                    let mut first: Vec<String> =
                        all.iter().take(SHOWN_VALUES).map(|s| quote(s)).collect();
                    if all.len() > SHOWN_VALUES {
                        first.push("…".to_string());
                    }
                    (
                        "in_list",
                        format!(
                            "in list {name} ({} value{}: {})",
                            all.len(),
                            plural(all.len()),
                            first.join(", ")
                        ),
                    )
                }
                None => ("one_of", format!("one of {shown}")),
            };
            OpView {
                total: Some(all.len()),
                list: list.clone(),
                ..plain(name, text, first)
            }
        }
        Op::Prefix(l) => plain("prefix", format!("prefix {}", one_or_any(l)), texts(l)),
        Op::Suffix(l) => plain("suffix", format!("suffix {}", one_or_any(l)), texts(l)),
        Op::Contains(l) => plain("contains", format!("contains {}", one_or_any(l)), texts(l)),
        Op::Regex(re) => match globs_of(re.as_str()) {
            Some(globs) => plain(
                "glob",
                format!("glob {}", one_or_any(&globs)),
                texts(&globs),
            ),
            None => plain(
                "regex",
                format!("regex '{}'", re.as_str()),
                vec![Value::from(re.as_str())],
            ),
        },
        Op::Cidr(nets) => {
            let nets: Vec<String> = nets.iter().map(ToString::to_string).collect();
            let text = match &nets[..] {
                [one] => format!("cidr {one}"),
                _ => format!("cidr any of [{}]", nets.join(", ")),
            };
            plain("cidr", text, texts(&nets))
        }
        Op::Cmp(c, n) => {
            let name = match c {
                CmpOp::Gt => "gt",
                CmpOp::Gte => "gte",
                CmpOp::Lt => "lt",
                CmpOp::Lte => "lte",
            };
            plain(
                name,
                format!("{name} {}", number(*n)),
                vec![Value::from(*n)],
            )
        }
        Op::Exists(b) => plain(
            "exists",
            if *b { "exists" } else { "is absent or null" }.to_string(),
            vec![Value::Bool(*b)],
        ),
        Op::Field(other, same) => {
            let (name, verb) = if *same {
                ("same_as", "same as")
            } else {
                ("differs_from", "differs from")
            };
            plain(
                name,
                format!("{verb} {}", other.label()),
                vec![Value::from(other.label())],
            )
        }
        Op::Not(ops, own) | Op::Some(ops, own) => {
            let inner: Vec<OpView> = ops.iter().map(|o| describe_op(o, *own)).collect();
            let joined = joined_ops(&inner);
            let case = match (*own, ic) {
                (true, false) => " (ignoring case)",
                (false, true) => " (case-sensitive)",
                _ => "",
            };
            let (name, text) = match op {
                Op::Not(..) => ("not", format!("not {joined}{case}")),
                _ => ("some", format!("some value: {joined}{case}")),
            };
            OpView {
                inner,
                ..plain(name, text, Vec::new())
            }
        }
        Op::Where(cond, _) => OpView {
            cond: Some(Box::new(describe_cond(cond))),
            ..plain(
                "where",
                "where an element meets the condition".to_string(),
                Vec::new(),
            )
        },
    }
}

/// The globs a regex was compiled from (`cond::glob_to_regex`, several joined as
/// `(?:…)|(?:…)`), when it is exactly that; a glob without a wildcard is shown as the
/// regex it became.
pub(super) fn globs_of(re: &str) -> Option<Vec<String>> {
    fn one(s: &str) -> Option<(String, &str)> {
        let mut rest = s.strip_prefix('^')?;
        let mut out = String::new();
        let mut wild = false;
        loop {
            if let Some(r) = rest.strip_prefix("(?s:.*)") {
                (out, rest, wild) = (out + "*", r, true);
            } else if let Some(r) = rest.strip_prefix("(?s:.)") {
                (out, rest, wild) = (out + "?", r, true);
            } else if let Some(r) = rest.strip_prefix('$') {
                return wild.then_some((out, r));
            } else if let Some(r) = rest.strip_prefix('\\') {
                let c = r.chars().next()?;
                out.push(c);
                rest = &r[c.len_utf8()..];
            } else {
                let c = rest.chars().next()?;
                if "()[]{}|*+?.^$".contains(c) {
                    return None;
                }
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    if !re.starts_with("(?:") {
        let (g, rest) = one(re)?;
        return rest.is_empty().then(|| vec![g]);
    }
    let mut out = Vec::new();
    let mut rest = re;
    while !rest.is_empty() {
        rest = rest.strip_prefix("(?:")?;
        let (g, r) = one(rest)?;
        rest = r.strip_prefix(')')?;
        out.push(g);
        if !rest.is_empty() {
            rest = rest.strip_prefix('|')?;
        }
    }
    Some(out)
}
