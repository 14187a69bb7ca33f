//! Sigma correlation rules onto trailwatch's windows: `event_count` and `value_count`
//! become thresholds, `temporal` and `temporal_ordered` sequences, all over event time
//! and per `group-by`, so they run alike in the CLI and the Lambda.
//!
//! A correlation names its rules by `name` or `id`, possibly in other files, so it is read
//! with its file ([`read`]) and resolved once every file is loaded ([`resolve`]). A
//! temporal correlation may name an `event_count` correlation as one of its steps (a burst
//! of failures, then a success); that step then needs the burst's count of events.

use super::{rule, Meta};
use crate::rules::diag::{did_you_mean, Diagnostic, Diags};
use crate::rules::matcher::{Cond, FieldRef};
use crate::rules::yaml::{Node, Pos, Scalar};
use crate::rules::{Rule, Sequence, Step, Threshold};
use crate::state::window::MAX_STEPS;
use std::collections::HashMap;

const KEYS: &[&str] = &[
    "type",
    "rules",
    "group-by",
    "timespan",
    "condition",
    "generate",
    "aliases",
];

/// Longest timespan: a year (as native windows).
const MAX_TIMESPAN: i64 = 366 * 86_400;

#[derive(Debug, Clone, Copy, PartialEq)]
enum Type {
    EventCount,
    ValueCount,
    Temporal { ordered: bool },
}

/// A correlation read from its file, waiting for the rules it names.
#[derive(Debug, Clone)]
pub struct Pending {
    kind: Type,
    refs: Vec<(String, Pos)>,
    group_by: Vec<FieldRef>,
    group_labels: Vec<String>,
    timespan: i64,
    /// Events (or values) for the count types; steps needed for the temporal ones.
    count: Option<usize>,
    value_field: Option<FieldRef>,
    generate: bool,
    pos: Pos,
    meta: Option<Meta>,
    file: String,
}

impl Pending {
    pub(super) fn with(mut self, meta: Meta, file: &str) -> Pending {
        self.meta = Some(meta);
        self.file = file.to_string();
        self
    }
}

/// `30s`, `10m`, `1h`, `2d`, `1w`, `1M`, `1y` (Sigma's units).
fn timespan(n: &Node, diags: &mut Diags) -> Option<i64> {
    let t = n.text().unwrap_or_default().trim();
    let (num, unit) = t.split_at(t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len()));
    let mult = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        "w" => 604_800,
        "M" => 2_629_746,
        "y" => 31_556_952,
        _ => 0,
    };
    let secs = num
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0 && mult > 0)
        .map(|n| n.saturating_mul(mult));
    match secs {
        None => {
            diags.error(
                n.pos,
                format!("timespan must be a number and a unit (s, m, h, d, w, M, y) such as 10m, found '{t}'"),
            );
            None
        }
        Some(s) if s > MAX_TIMESPAN => {
            diags.error(n.pos, format!("timespan {t} is longer than 366 days"));
            None
        }
        Some(s) => Some(s),
    }
}

fn number(n: &Node) -> Option<i64> {
    match n.scalar() {
        Some(Scalar::Int(i)) => Some(i),
        _ => None,
    }
}

/// Reads a document's `correlation` mapping (rule names are looked up later).
pub fn read(c: &Node, doc_pos: Pos, diags: &mut Diags) -> Option<Pending> {
    let Some(entries) = c.as_map() else {
        diags.error(c.pos, "correlation must be a mapping");
        return None;
    };
    let get = |key: &str| entries.iter().find(|(k, _)| k.text() == Some(key));
    for (k, _) in entries {
        let key = k.text().unwrap_or_default();
        if !KEYS.contains(&key) {
            diags.error(
                k.pos,
                format!(
                    "unknown key '{key}' in a correlation{}",
                    did_you_mean(key, KEYS.iter().copied())
                ),
            );
        }
    }
    let mut ok = true;
    if let Some((k, _)) = get("aliases") {
        diags.error(
            k.pos,
            "correlation 'aliases' (a field named differently in each rule) are not supported: group by a field the rules share",
        );
        ok = false;
    }
    let kind = match get("type").map(|(_, v)| (v, v.text().unwrap_or_default())) {
        Some((_, "event_count")) => Some(Type::EventCount),
        Some((_, "value_count")) => Some(Type::ValueCount),
        Some((_, "temporal")) => Some(Type::Temporal { ordered: false }),
        Some((_, "temporal_ordered")) => Some(Type::Temporal { ordered: true }),
        Some((v, t @ ("value_sum" | "value_avg" | "value_percentile" | "value_median"))) => {
            diags.error(
                v.pos,
                format!("correlation type '{t}' is not supported (it sums or averages a field's values); trailwatch runs event_count, value_count, temporal and temporal_ordered"),
            );
            None
        }
        Some((v, t)) => {
            diags.error(
                v.pos,
                format!(
                    "unknown correlation type '{t}'{}",
                    did_you_mean(
                        t,
                        ["event_count", "value_count", "temporal", "temporal_ordered"]
                    )
                ),
            );
            None
        }
        None => {
            diags.error(c.pos, "the correlation is missing 'type'");
            None
        }
    };
    let refs: Vec<(String, Pos)> = match get("rules") {
        Some((_, v)) => v
            .items()
            .iter()
            .filter_map(|i| match i.text() {
                Some(t) => Some((t.to_string(), i.pos)),
                _ => {
                    diags.error(i.pos, "rules lists rule names or ids");
                    None
                }
            })
            .collect(),
        None => {
            diags.error(c.pos, "the correlation is missing 'rules'");
            Vec::new()
        }
    };
    let (group_by, group_labels) = match get("group-by") {
        Some((_, v)) => {
            let mut refs = Vec::new();
            let mut labels = Vec::new();
            for i in v.items() {
                match i.text() {
                    Some(t) => match super::detection::sigma_field(t, i.pos, diags) {
                        Some(f) => {
                            refs.push(f);
                            labels.push(t.to_string());
                        }
                        None => ok = false,
                    },
                    None => {
                        diags.error(i.pos, "group-by lists field names");
                        ok = false;
                    }
                }
            }
            (refs, labels)
        }
        None => (Vec::new(), Vec::new()),
    };
    let span = match get("timespan") {
        Some((_, v)) => timespan(v, diags),
        None => {
            diags.error(c.pos, "the correlation is missing 'timespan'");
            None
        }
    };
    let generate = match get("generate").map(|(_, v)| (v, v.scalar())) {
        None => false,
        Some((_, Some(Scalar::Bool(b)))) => b,
        Some((v, _)) => {
            diags.error(v.pos, "generate takes true or false");
            false
        }
    };
    let (count, value_field) = condition(get("condition").map(|(_, v)| v), kind, c, diags)?;
    let kind = kind?;
    if let Type::Temporal { .. } = kind {
        if !(2..=MAX_STEPS).contains(&refs.len()) {
            diags.error(
                c.pos,
                format!("a temporal correlation names 2 to {MAX_STEPS} rules"),
            );
            ok = false;
        }
    } else if refs.is_empty() {
        ok = false;
    }
    (ok && !refs.is_empty()).then_some(Pending {
        kind,
        refs,
        group_by,
        group_labels,
        timespan: span?,
        count,
        value_field,
        generate,
        pos: doc_pos,
        meta: None,
        file: String::new(),
    })
}

/// The `condition`: `{gte: N}` or `{gt: N}` (and `field` for value_count). Conditions that
/// only a closed window can decide (`lt`, `lte`, `eq`, `neq`) are refused.
#[allow(clippy::type_complexity)]
fn condition(
    n: Option<&Node>,
    kind: Option<Type>,
    c: &Node,
    diags: &mut Diags,
) -> Option<(Option<usize>, Option<FieldRef>)> {
    let Some(n) = n else {
        if matches!(kind, Some(Type::Temporal { .. })) {
            return Some((None, None));
        }
        diags.error(
            c.pos,
            "the correlation is missing 'condition' (e.g. {gte: 10})",
        );
        return None;
    };
    let Some(entries) = n.as_map() else {
        diags.error(
            n.pos,
            "condition must be a mapping such as {gte: 10} (extended temporal conditions are not supported)",
        );
        return None;
    };
    let mut count = None;
    let mut field = None;
    let mut ok = true;
    for (k, v) in entries {
        match k.text().unwrap_or_default() {
            op @ ("gte" | "gt") => match number(v) {
                Some(i) if (0..100_000).contains(&i) => {
                    let min = if op == "gt" { i + 1 } else { i };
                    count = Some(min.max(1) as usize);
                }
                _ => {
                    diags.error(v.pos, format!("{op} takes a whole number below 100000"));
                    ok = false;
                }
            },
            op @ ("lt" | "lte" | "eq" | "neq") => {
                diags.error(
                    k.pos,
                    format!("condition '{op}' is not supported: an alert is raised as events arrive, so only a lower bound (gte, gt) can be decided before the timespan has passed"),
                );
                ok = false;
            }
            "field" if kind == Some(Type::ValueCount) => match v.text() {
                Some(t) => match super::detection::sigma_field(t, v.pos, diags) {
                    Some(f) => field = Some(f),
                    None => ok = false,
                },
                None => {
                    diags.error(v.pos, "field takes a field name");
                    ok = false;
                }
            },
            other => {
                diags.error(
                    k.pos,
                    format!("unknown condition '{other}'{}", condition_hint(other, kind)),
                );
                ok = false;
            }
        }
    }
    if ok && count.is_none() {
        diags.error(n.pos, "condition needs gte or gt");
        ok = false;
    }
    if ok && kind == Some(Type::ValueCount) && field.is_none() {
        diags.error(n.pos, "a value_count condition names the counted 'field'");
        ok = false;
    }
    ok.then_some((count, field))
}

/// A count correlation as a step of a temporal one.
struct Burst {
    cond: Cond,
    count: usize,
    timespan: i64,
    group: Vec<String>,
    /// Its place in the correlations made.
    at: usize,
}

/// Resolves the correlations against the loaded rules (`names`: Sigma name or id → index
/// into `rules`). Rules a correlation uses stop alerting on their own unless it says
/// `generate: true`. Returns the correlation rules with the position of their ids.
pub fn resolve(
    pending: Vec<Pending>,
    rules: &mut [Rule],
    names: &HashMap<String, usize>,
    out: &mut Vec<Diagnostic>,
) -> Vec<(Rule, Pos, String)> {
    let mut made: Vec<(Rule, Pos, String)> = Vec::new();
    let mut bursts: HashMap<String, Burst> = HashMap::new();
    // Count correlations first: temporal ones may use them as steps.
    let (counts, temporals): (Vec<Pending>, Vec<Pending>) = pending
        .into_iter()
        .partition(|p| !matches!(p.kind, Type::Temporal { .. }));
    for p in counts.into_iter().chain(temporals) {
        let mut diags = Diags::new(&p.file);
        let mut steps = Vec::new();
        let mut ok = true;
        for (name, pos) in &p.refs {
            if let Some(&i) = names.get(name) {
                if !p.generate {
                    rules[i].enabled = false;
                }
                steps.push(Step {
                    name: name.clone(),
                    cond: rules[i].cond.clone(),
                    count: 1,
                });
                continue;
            }
            match (bursts.get(name), p.kind) {
                (Some(b), Type::Temporal { .. }) => {
                    // A burst used only as a step does not alert on its own either.
                    if !p.generate {
                        if let Some((r, ..)) = made.get_mut(b.at) {
                            r.enabled = false;
                        }
                    }
                    if b.timespan != p.timespan || b.group != p.group_labels {
                        diags.error(
                            *pos,
                            format!("'{name}' is an event_count correlation: as a step it must have the same timespan and group-by as this correlation"),
                        );
                        ok = false;
                    }
                    steps.push(Step {
                        name: name.clone(),
                        cond: b.cond.clone(),
                        count: b.count,
                    });
                }
                (Some(_), _) => {
                    diags.error(
                        *pos,
                        format!("'{name}' is a correlation: only a temporal correlation may use one (as a step)"),
                    );
                    ok = false;
                }
                (None, _) => {
                    let known = names.keys().chain(bursts.keys()).map(String::as_str);
                    diags.error(
                        *pos,
                        format!(
                            "unknown rule '{name}'{}: a correlation names Sigma rules by name or id",
                            did_you_mean(name, known)
                        ),
                    );
                    ok = false;
                }
            }
        }
        let Some(meta) = p.meta.clone().filter(|_| ok) else {
            out.extend(diags.list);
            continue;
        };
        let any = Cond::Any(steps.iter().map(|s| s.cond.clone()).collect());
        let threshold = match p.kind {
            Type::Temporal { ordered } => {
                let need = p.count.unwrap_or(steps.len());
                if need > steps.len() || (ordered && need != steps.len()) {
                    diags.error(
                        p.pos,
                        format!(
                            "condition asks for {need} of {} rules{}",
                            steps.len(),
                            if ordered {
                                "; an ordered correlation needs every rule"
                            } else {
                                ""
                            }
                        ),
                    );
                    out.extend(diags.list);
                    continue;
                }
                let seq = Sequence {
                    steps,
                    ordered,
                    need,
                };
                Threshold {
                    count: seq.min_events(),
                    window: p.timespan,
                    group_by: p.group_by.clone(),
                    distinct: None,
                    sequence: Some(seq),
                }
            }
            Type::EventCount | Type::ValueCount => {
                let count = p.count.unwrap_or(1);
                if p.kind == Type::EventCount {
                    let burst = || Burst {
                        cond: any.clone(),
                        count,
                        timespan: p.timespan,
                        group: p.group_labels.clone(),
                        at: made.len(),
                    };
                    for key in [Some(&meta.id), meta.name.as_ref()].into_iter().flatten() {
                        bursts.insert(key.clone(), burst());
                    }
                }
                Threshold {
                    count,
                    window: p.timespan,
                    group_by: p.group_by.clone(),
                    distinct: p.value_field.clone(),
                    sequence: None,
                }
            }
        };
        let pos = meta.id_pos;
        let mut r = rule(meta, &p.file, any);
        r.threshold = Some(threshold);
        made.push((r, pos, p.file.clone()));
        out.extend(diags.list);
    }
    made
}

/// After "unknown condition 'X'": what was meant, or why `field` does not apply.
fn condition_hint(key: &str, kind: Option<Type>) -> String {
    match (key, kind) {
        ("field", _) => ": 'field' names what a value_count correlation counts".to_string(),
        (k, Some(Type::ValueCount)) => did_you_mean(k, ["gte", "gt", "field"]),
        (k, _) => did_you_mean(k, ["gte", "gt"]),
    }
}

#[cfg(test)]
mod tests;
