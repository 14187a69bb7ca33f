//! Checks a rule's `match` tree and compiles it into a [`Cond`], reporting every problem.
//!
//! A mapping means *all*; `all`, `any` and `not` combine; any other key is a field
//! reference whose value is a literal (equals), a list (one of) or an operator map. The
//! keys of an operator map are operators only, so a typo such as `equal:` is reported
//! instead of being taken for a nested field.

use super::diag::{did_you_mean, Diags};
use super::fields;
use super::matcher::{ArnPart, Cidr, CmpOp, Cond, FieldRef, FieldTest, Lit, Op};
use super::yaml::{Node, Pos, Scalar};
use super::Lists;
use crate::event::FieldPath;
use regex::RegexBuilder;

pub const OPERATORS: &[&str] = &[
    "equals",
    "one_of",
    "in_list",
    "exists",
    "prefix",
    "suffix",
    "contains",
    "glob",
    "regex",
    "cidr",
    "gt",
    "gte",
    "lt",
    "lte",
    "same_as",
    "differs_from",
    "not",
    "some",
    "where",
    "ignore_case",
];
const COMBINATORS: &[&str] = &["all", "any", "not"];
/// Compiled regexes are capped so a pathological pattern is refused, not run.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

pub struct Ctx<'a> {
    pub lists: &'a Lists,
    pub diags: &'a mut Diags,
    /// Inside `where`: paths are read from an element, not checked against the record.
    pub relative: bool,
}

impl Ctx<'_> {
    fn field_ref(&self, text: &str) -> Result<FieldRef, String> {
        field_ref_in(text, !self.relative)
    }
}

/// Compiles a condition node; `None` when it has errors (already reported).
pub fn compile(node: &Node, cx: &mut Ctx) -> Option<Cond> {
    let Some(entries) = node.as_map() else {
        cx.diags.error(
            node.pos,
            format!(
                "a condition must be a mapping of fields (or all/any/not), found {}",
                node.kind_name()
            ),
        );
        return None;
    };
    if entries.is_empty() {
        cx.diags
            .error(node.pos, "empty condition: it would match every event");
        return None;
    }
    let mut out = Vec::new();
    let mut ok = true;
    for (k, v) in entries {
        let key = k.text().unwrap_or_default();
        let c = match key {
            "all" | "any" => combine(key, v, cx),
            "not" => compile(v, cx).map(|c| Cond::Not(Box::new(c))),
            "and" | "or" => {
                let want = if key == "and" { "all" } else { "any" };
                cx.diags.error(
                    k.pos,
                    format!("unknown key '{key}' (did you mean '{want}'?)"),
                );
                None
            }
            _ if OPERATORS.contains(&key) => {
                cx.diags.error(
                    k.pos,
                    format!("'{key}' is an operator; put it under a field, e.g. `eventName: {{{key}: …}}`"),
                );
                None
            }
            _ => match cx.field_ref(key) {
                Err(msg) => {
                    let hint = did_you_mean(key, COMBINATORS.iter().copied());
                    if !hint.is_empty() && !key.contains('.') {
                        cx.diags.error(k.pos, format!("unknown key '{key}'{hint}"));
                    } else {
                        cx.diags.error(k.pos, msg);
                    }
                    None
                }
                Ok(field) => {
                    if !cx.relative {
                        cx.diags.read(k.pos, &field);
                    }
                    field_test(key, field, v, cx).map(Cond::Test)
                }
            },
        };
        match c {
            Some(c) => out.push(c),
            None => ok = false,
        }
    }
    if !ok {
        return None;
    }
    Some(if out.len() == 1 {
        out.pop()?
    } else {
        Cond::All(out)
    })
}

fn combine(key: &str, v: &Node, cx: &mut Ctx) -> Option<Cond> {
    let Some(items) = v.as_seq() else {
        cx.diags.error(
            v.pos,
            format!(
                "'{key}' takes a list of conditions, found {}",
                v.kind_name()
            ),
        );
        return None;
    };
    if items.is_empty() {
        cx.diags.error(v.pos, format!("'{key}' has an empty list"));
        return None;
    }
    let parts: Vec<Option<Cond>> = items.iter().map(|i| compile(i, cx)).collect();
    let parts: Option<Vec<Cond>> = parts.into_iter().collect();
    parts.map(|p| {
        if key == "all" {
            Cond::All(p)
        } else {
            Cond::Any(p)
        }
    })
}

/// Parses `path`, `account_id` or `arn_account(path)`, checking the path is a CloudTrail field.
pub fn field_ref(text: &str) -> Result<FieldRef, String> {
    field_ref_in(text, true)
}

/// [`field_ref`], checking the path against the record schema only when `schema`.
pub fn field_ref_in(text: &str, schema: bool) -> Result<FieldRef, String> {
    if text.contains('|') {
        let alts = text
            .split('|')
            .map(|a| field_ref_in(a.trim(), schema))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(FieldRef::First(alts));
    }
    let check = |path: &FieldPath| if schema { fields::check(path) } else { Ok(()) };
    if let Some((func, rest)) = text.split_once('(') {
        let Some(inner) = rest.strip_suffix(')') else {
            return Err(format!("'{text}': missing ')'"));
        };
        let part = ArnPart::from_name(func.trim()).ok_or_else(|| {
            format!(
                "unknown function '{func}'{}",
                did_you_mean(func, ArnPart::NAMES.iter().copied())
            )
        })?;
        let inner = inner.trim();
        if fields::VIRTUAL.contains(&inner) {
            return Err(format!(
                "{func}() reads an ARN field of the record; '{inner}' is computed, not an ARN"
            ));
        }
        let path = FieldPath::parse(inner)?;
        check(&path)?;
        return Ok(FieldRef::Arn(part, path));
    }
    if text == "account_id" && schema {
        return Ok(FieldRef::Account);
    }
    if text == "outcome" && schema {
        return Ok(FieldRef::Outcome);
    }
    let path = FieldPath::parse(text)?;
    check(&path)?;
    Ok(FieldRef::Path(path))
}

fn field_test(name: &str, field: FieldRef, v: &Node, cx: &mut Ctx) -> Option<FieldTest> {
    let ignore_case = ignore_case_of(v, false, cx);
    let ops = ops(name, v, ignore_case, cx)?;
    Some(FieldTest {
        field,
        ops,
        ignore_case,
        json_text: false,
    })
}

/// The `ignore_case` an operator map sets for itself, else the one it inherits.
fn ignore_case_of(v: &Node, inherited: bool, cx: &mut Ctx) -> bool {
    let set = v
        .as_map()
        .and_then(|m| m.iter().find(|(k, _)| k.text() == Some("ignore_case")));
    match set.map(|(_, val)| (val, val.scalar())) {
        None => inherited,
        Some((_, Some(Scalar::Bool(b)))) => b,
        Some((val, _)) => {
            cx.diags.error(val.pos, "ignore_case takes true or false");
            inherited
        }
    }
}

/// A field's value: literal, list, or operator map. `name` is the field as written.
fn ops(name: &str, v: &Node, ic: bool, cx: &mut Ctx) -> Option<Vec<Op>> {
    if v.as_seq().is_some() {
        return Some(vec![one_of(v, ic, cx)?]);
    }
    let Some(entries) = v.as_map() else {
        return Some(vec![Op::Equals(literal(v, ic, cx)?)]);
    };
    let mut out = Vec::new();
    let mut ok = true;
    for (k, val) in entries {
        let key = k.text().unwrap_or_default();
        let op = match key {
            "ignore_case" => continue,
            "equals" => {
                if val.as_seq().is_some() {
                    cx.diags
                        .error(val.pos, "equals takes one value; use one_of for a list");
                    None
                } else {
                    literal(val, ic, cx).map(Op::Equals)
                }
            }
            "one_of" => one_of(val, ic, cx),
            "in_list" => in_list(val, ic, cx),
            "exists" => match val.scalar() {
                Some(Scalar::Bool(b)) => Some(Op::Exists(b)),
                _ => {
                    cx.diags.error(val.pos, "exists takes true or false");
                    None
                }
            },
            "prefix" | "suffix" | "contains" => strings(key, val, cx).map(|list| {
                let list = list.into_iter().map(|s| fold(s, ic)).collect();
                match key {
                    "prefix" => Op::Prefix(list),
                    "suffix" => Op::Suffix(list),
                    _ => Op::Contains(list),
                }
            }),
            "glob" | "regex" => strings(key, val, cx).and_then(|list| {
                let pats: Vec<String> = list
                    .iter()
                    .map(|s| {
                        if key == "glob" {
                            glob_to_regex(s)
                        } else {
                            s.clone()
                        }
                    })
                    .collect();
                let build = |pat: &str| {
                    RegexBuilder::new(pat)
                        .case_insensitive(ic)
                        .size_limit(REGEX_SIZE_LIMIT)
                        .dfa_size_limit(REGEX_SIZE_LIMIT)
                        .build()
                        .map_err(|e| {
                            let msg = e.to_string();
                            let last = msg.lines().last().unwrap_or("").trim();
                            format!("invalid {key}: {}", last.trim_start_matches("error: "))
                        })
                };
                if pats.len() == 1 {
                    return match build(&pats[0]) {
                        Ok(re) => Some(Op::Regex(re)),
                        Err(msg) => {
                            cx.diags.error(val.items()[0].pos, msg);
                            None
                        }
                    };
                }
                // Each pattern on its own first, so an error points at its list item.
                let mut ok = true;
                for (pat, item) in pats.iter().zip(val.items()) {
                    if let Err(msg) = build(pat) {
                        cx.diags.error(item.pos, msg);
                        ok = false;
                    }
                }
                if !ok {
                    return None;
                }
                let joined = pats
                    .iter()
                    .map(|p| format!("(?:{p})"))
                    .collect::<Vec<_>>()
                    .join("|");
                match build(&joined) {
                    Ok(re) => Some(Op::Regex(re)),
                    Err(msg) => {
                        cx.diags.error(val.pos, msg);
                        None
                    }
                }
            }),
            "cidr" => strings(key, val, cx).and_then(|list| {
                let mut nets = Vec::new();
                for (s, item) in list.iter().zip(val.items()) {
                    match Cidr::parse(s) {
                        Ok(c) => nets.push(c),
                        Err(e) => cx.diags.error(item.pos, format!("invalid cidr: {e}")),
                    }
                }
                (nets.len() == list.len()).then_some(Op::Cidr(nets))
            }),
            "gt" | "gte" | "lt" | "lte" => match val.scalar() {
                Some(Scalar::Int(i)) => Some(cmp(key, i as f64)),
                Some(Scalar::Float(f)) => Some(cmp(key, f)),
                _ => {
                    cx.diags.error(
                        val.pos,
                        format!("{key} takes a number, found {}", val.kind_name()),
                    );
                    None
                }
            },
            "same_as" | "differs_from" => match val.scalar() {
                // Inside `where` the other field is read from the element too.
                Some(Scalar::Str(s)) => match field_ref_in(s, !cx.relative) {
                    Ok(f) => {
                        if !cx.relative {
                            cx.diags.read(val.pos, &f);
                        }
                        Some(Op::Field(f, key == "same_as"))
                    }
                    Err(msg) => {
                        cx.diags.error(val.pos, msg);
                        None
                    }
                },
                _ => {
                    cx.diags.error(val.pos, format!("{key} takes a field path"));
                    None
                }
            },
            "not" | "some" => {
                let inner_ic = ignore_case_of(val, ic, cx);
                ops(name, val, inner_ic, cx).map(|o| {
                    if key == "not" {
                        Op::Not(o, inner_ic)
                    } else {
                        Op::Some(o, inner_ic)
                    }
                })
            }
            "where" => {
                let outer = std::mem::replace(&mut cx.relative, true);
                let c = compile(val, cx);
                cx.relative = outer;
                c.map(|c| {
                    let mut inner = Vec::new();
                    c.field_refs(&mut inner);
                    let base = field_ref_in(name, false)
                        .map(|f| f.paths().into_iter().cloned().collect::<Vec<_>>())
                        .unwrap_or_default();
                    let reads = base
                        .iter()
                        .flat_map(|b| {
                            inner
                                .iter()
                                .flat_map(|r| r.paths())
                                .map(move |r| FieldRef::Path(b.join(r)))
                        })
                        .collect();
                    Op::Where(Box::new(c), reads)
                })
            }
            _ => {
                let hint = did_you_mean(key, OPERATORS.iter().copied());
                let nested = format!("{name}.{key}");
                let extra = if !hint.is_empty() {
                    String::new()
                } else if !name.contains('(') && field_ref(&nested).is_ok() {
                    format!(" (operator maps hold operators only; for the nested field write `{nested}: …`)")
                } else if field_ref(key).is_ok() {
                    " (operator maps hold operators only; for a nested field write the dotted path, e.g. `a.b: value`)".to_string()
                } else {
                    String::new()
                };
                cx.diags
                    .error(k.pos, format!("unknown operator '{key}'{hint}{extra}"));
                None
            }
        };
        match op {
            Some(op) => out.push(op),
            None => ok = false,
        }
    }
    if ok && out.is_empty() {
        cx.diags.error(v.pos, "operator map has no operators");
        return None;
    }
    ok.then_some(out)
}

fn fold(s: String, ic: bool) -> String {
    if ic {
        s.to_lowercase()
    } else {
        s
    }
}

fn cmp(key: &str, n: f64) -> Op {
    let op = match key {
        "gt" => CmpOp::Gt,
        "gte" => CmpOp::Gte,
        "lt" => CmpOp::Lt,
        _ => CmpOp::Lte,
    };
    Op::Cmp(op, n)
}

fn literal(v: &Node, ic: bool, cx: &mut Ctx) -> Option<Lit> {
    match v.scalar() {
        Some(Scalar::Null) => Some(Lit::Null),
        Some(Scalar::Bool(b)) => Some(Lit::Bool(b)),
        Some(Scalar::Int(i)) => Some(Lit::Text {
            text: v.text()?.to_string(),
            num: Some(i as f64),
        }),
        Some(Scalar::Float(f)) => Some(Lit::Text {
            text: v.text()?.to_string(),
            num: Some(f),
        }),
        Some(Scalar::Str(s)) => Some(Lit::Text {
            text: fold(s.to_string(), ic),
            num: None,
        }),
        None => {
            cx.diags
                .error(v.pos, format!("expected a value, found {}", v.kind_name()));
            None
        }
    }
}

fn one_of(v: &Node, ic: bool, cx: &mut Ctx) -> Option<Op> {
    let items = v.items();
    let mut set = std::collections::HashSet::new();
    for item in items {
        match item.scalar() {
            Some(Scalar::Null) | None => {
                cx.diags.error(
                    item.pos,
                    format!("list items must be values, found {}", item.kind_name()),
                );
                return None;
            }
            _ => set.insert(fold(item.text()?.to_string(), ic)),
        };
    }
    Some(Op::Set(set, None))
}

fn in_list(v: &Node, ic: bool, cx: &mut Ctx) -> Option<Op> {
    let Some(name) = v.text() else {
        cx.diags
            .error(v.pos, "in_list takes the name of a list from lists.yaml");
        return None;
    };
    match cx.lists.get(name) {
        Some(items) => Some(Op::Set(
            items.iter().map(|s| fold(s.clone(), ic)).collect(),
            Some(name.to_string()),
        )),
        None => {
            let hint = did_you_mean(name, cx.lists.keys().map(String::as_str));
            cx.diags.error(
                v.pos,
                format!("unknown list '{name}'{hint}; lists are defined in lists.yaml"),
            );
            None
        }
    }
}

/// A string or a list of strings (one per item of [`Node::items`]).
fn strings(key: &str, v: &Node, cx: &mut Ctx) -> Option<Vec<String>> {
    let items = v.items();
    let mut out = Vec::new();
    for item in items {
        match item.scalar() {
            Some(Scalar::Null) | Some(Scalar::Bool(_)) | None => {
                cx.diags.error(
                    item.pos,
                    format!(
                        "{key} takes text or a list of texts, found {}",
                        item.kind_name()
                    ),
                );
                return None;
            }
            _ => out.push(item.text()?.to_string()),
        }
    }
    if out.is_empty() {
        cx.diags.error(v.pos, format!("{key} has an empty list"));
        return None;
    }
    Some(out)
}

/// `*` any run, `?` one character; everything else literal; anchored at both ends.
pub fn glob_to_regex(glob: &str) -> String {
    let mut re = String::from("^");
    for c in glob.chars() {
        match c {
            '*' => re.push_str("(?s:.*)"),
            '?' => re.push_str("(?s:.)"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

/// Compiles a `{field.path}` title template.
pub fn template(text: &str, pos: Pos, diags: &mut Diags) -> Option<Vec<Piece>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            out.push(Piece::Text(rest[..open].to_string()));
        }
        let Some(close) = rest[open..].find('}') else {
            diags.error(pos, format!("title: unclosed '{{' in '{text}'"));
            return None;
        };
        let name = rest[open + 1..open + close].trim();
        out.push(match name {
            "count" => Piece::Count,
            _ => {
                // `{a|b|'text'}`: the first of a, b that has a value, else the text.
                let mut alts = Vec::new();
                let mut default = None;
                for alt in name.split('|').map(str::trim) {
                    if default.is_some() {
                        diags.error(pos, format!("title: '{alt}' follows the fallback text in {{{name}}}; the quoted text comes last"));
                        return None;
                    }
                    if let Some(text) = alt.strip_prefix('\'').and_then(|a| a.strip_suffix('\'')) {
                        default = Some(text.to_string());
                        continue;
                    }
                    match field_ref(alt) {
                        Ok(f) => alts.push(f),
                        Err(msg) => {
                            diags.error(pos, format!("title: {msg}"));
                            return None;
                        }
                    }
                }
                diags.read_first_of(pos, alts.iter().flat_map(FieldRef::paths).collect());
                Piece::Field(alts, default)
            }
        });
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest.to_string()));
    }
    Some(out)
}

/// A piece of a title template.
#[derive(Debug, Clone)]
pub enum Piece {
    Text(String),
    /// `{a|b|'text'}`: the first field with a value, else the text, else `?`.
    Field(Vec<FieldRef>, Option<String>),
    /// `{count}`: how many events make the alert.
    Count,
}
