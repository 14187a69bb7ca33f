//! A Sigma `detection` into a [`Cond`]: search identifiers, field modifiers, wildcards.
//!
//! The meaning follows the Sigma specification as pySigma reads it (the reference engine
//! of the differential test): values are case-insensitive unless `|cased` or `|re`; `*`
//! and `?` are wildcards, `\*`, `\?` and `\\` their literal forms; a list is any of its
//! values (`|all`: every one); `null` is a missing field. An object or array compares as
//! its compact JSON text, as SIEM backends do. Every construct outside this is an error
//! at its position, never a silent mismatch.

use super::condition::{self, Expr};
use crate::rules::cond;
use crate::rules::diag::{did_you_mean, Diags};
use crate::rules::matcher::{Cidr, CmpOp, Cond, FieldRef, FieldTest, Lit, Op};
use crate::rules::yaml::{Kind, Node, Pos, Scalar};
use base64::Engine as _;
use regex::RegexBuilder;
use std::collections::HashSet;

/// Compiled regexes are capped so a pathological pattern is refused, not run.
const REGEX_SIZE_LIMIT: usize = 1 << 20;

const MODIFIERS: &[&str] = &[
    "contains",
    "startswith",
    "endswith",
    "all",
    "re",
    "i",
    "m",
    "s",
    "cidr",
    "exists",
    "fieldref",
    "gt",
    "gte",
    "lt",
    "lte",
    "base64",
    "base64offset",
    "cased",
];

/// Modifiers of the Sigma specification that have no meaning for CloudTrail records.
const REFUSED: &[(&str, &str)] = &[
    ("windash", "it varies Windows command-line dashes"),
    ("expand", "its %placeholders% need a processing pipeline"),
    ("utf16", "CloudTrail values are UTF-8 text"),
    ("utf16le", "CloudTrail values are UTF-8 text"),
    ("utf16be", "CloudTrail values are UTF-8 text"),
    ("wide", "CloudTrail values are UTF-8 text"),
];

/// Compiles a `detection` mapping: its search identifiers and its `condition`.
pub fn compile(node: &Node, diags: &mut Diags) -> Option<Cond> {
    let Some(entries) = node.as_map() else {
        diags.error(
            node.pos,
            format!("detection must be a mapping, found {}", node.kind_name()),
        );
        return None;
    };
    let mut searches: Vec<(String, Option<Cond>)> = Vec::new();
    let mut condition = None;
    for (k, v) in entries {
        match k.text().unwrap_or_default() {
            "condition" => condition = Some(v),
            "timeframe" => diags.error(
                k.pos,
                "'timeframe' (Sigma 1 aggregations) is not supported: write a correlation rule (type event_count) instead",
            ),
            name => searches.push((name.to_string(), search(v, diags))),
        }
    }
    let Some(condition) = condition else {
        diags.error(node.pos, "detection is missing 'condition'");
        return None;
    };
    let names: Vec<String> = searches.iter().map(|(n, _)| n.clone()).collect();
    let texts: Vec<&Node> = match &condition.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![condition],
    };
    let mut any = Vec::new();
    for c in texts {
        let Some(text) = c.text() else {
            diags.error(
                c.pos,
                "condition must be text such as 'selection and not filter'",
            );
            return None;
        };
        match condition::parse(text, &names) {
            Ok(expr) => any.push(expr),
            Err(e) => {
                diags.error(offset_pos(c, e.offset), e.message);
                return None;
            }
        }
    }
    if any.is_empty() {
        diags.error(condition.pos, "condition is empty");
        return None;
    }
    let compiled: HashSet<&str> = searches
        .iter()
        .filter(|(_, c)| c.is_some())
        .map(|(n, _)| n.as_str())
        .collect();
    if compiled.len() != searches.len() {
        return None;
    }
    let lookup = |name: &str| {
        searches
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, c)| c.clone())
    };
    let mut conds: Vec<Cond> = any.iter().filter_map(|e| to_cond(e, &lookup)).collect();
    Some(if conds.len() == 1 {
        conds.pop()?
    } else {
        Cond::Any(conds)
    })
}

/// Where offset `at` of a scalar's text is (exact for a one-line scalar).
fn offset_pos(node: &Node, at: usize) -> Pos {
    let quoted = matches!(node.kind, Kind::Scalar { plain: false, .. });
    Pos {
        line: node.pos.line,
        col: node.pos.col + at + usize::from(quoted),
    }
}

fn to_cond(e: &Expr, lookup: &dyn Fn(&str) -> Option<Cond>) -> Option<Cond> {
    Some(match e {
        Expr::Ident(name) => lookup(name)?,
        Expr::Not(inner) => Cond::Not(Box::new(to_cond(inner, lookup)?)),
        Expr::And(parts) => Cond::All(
            parts
                .iter()
                .map(|p| to_cond(p, lookup))
                .collect::<Option<_>>()?,
        ),
        Expr::Or(parts) => Cond::Any(
            parts
                .iter()
                .map(|p| to_cond(p, lookup))
                .collect::<Option<_>>()?,
        ),
    })
}

/// One search identifier: a map (all of its fields), a list of maps (any of them), or
/// keywords (values searched in the whole record).
fn search(v: &Node, diags: &mut Diags) -> Option<Cond> {
    match &v.kind {
        Kind::Map(entries) => {
            if entries.is_empty() {
                diags.error(v.pos, "empty search: it would match every event");
                return None;
            }
            let parts: Option<Vec<Cond>> = entries
                .iter()
                .map(|(k, val)| field(k, val, diags))
                .collect::<Vec<_>>()
                .into_iter()
                .collect();
            let mut parts = parts?;
            Some(if parts.len() == 1 {
                parts.pop()?
            } else {
                Cond::All(parts)
            })
        }
        Kind::Seq(items) if items.iter().all(|i| i.as_map().is_some()) && !items.is_empty() => {
            let parts: Option<Vec<Cond>> = items
                .iter()
                .map(|i| search(i, diags))
                .collect::<Vec<_>>()
                .into_iter()
                .collect();
            Some(Cond::Any(parts?))
        }
        Kind::Seq(items) if items.iter().all(|i| i.as_map().is_none()) && !items.is_empty() => {
            keywords(v, &[], v.pos, diags)
        }
        Kind::Seq(items) if items.is_empty() => {
            diags.error(v.pos, "empty search list");
            None
        }
        Kind::Seq(_) => {
            diags.error(
                v.pos,
                "a search list holds either maps of fields or keywords, not both",
            );
            None
        }
        Kind::Scalar { .. } => keywords(v, &[], v.pos, diags),
    }
}

/// A parsed Sigma value: literal characters and wildcards.
#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Char(char),
    /// `*`
    Any,
    /// `?`
    One,
}

/// Reads `*`/`?` wildcards and their escapes `\*`, `\?`, `\\` (any other backslash is
/// itself).
fn pieces(s: &str) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some(&n @ ('*' | '?' | '\\')) => {
                    chars.next();
                    out.push(Piece::Char(n));
                }
                _ => out.push(Piece::Char('\\')),
            },
            '*' => out.push(Piece::Any),
            '?' => out.push(Piece::One),
            c => out.push(Piece::Char(c)),
        }
    }
    out
}

fn plain(p: &[Piece]) -> Option<String> {
    p.iter()
        .map(|p| match p {
            Piece::Char(c) => Some(*c),
            _ => None,
        })
        .collect()
}

fn pattern_regex(p: &[Piece]) -> String {
    let mut re = String::from("^");
    for piece in p {
        match piece {
            Piece::Char(c) => re.push_str(&regex::escape(&c.to_string())),
            Piece::Any => re.push_str("(?s:.*)"),
            Piece::One => re.push_str("(?s:.)"),
        }
    }
    re.push('$');
    re
}

/// How a value is placed: `contains`, `startswith`, `endswith`, or whole.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Place {
    Whole,
    Contains,
    Start,
    End,
}

/// The modifiers of one field item, checked.
#[derive(Debug, Default)]
struct Mods {
    place: Option<&'static str>,
    all: bool,
    re: bool,
    re_flags: (bool, bool, bool),
    cidr: bool,
    exists: bool,
    fieldref: bool,
    cmp: Option<CmpOp>,
    base64: bool,
    base64offset: bool,
    cased: bool,
}

fn mods(names: &[&str], pos: Pos, diags: &mut Diags) -> Option<Mods> {
    let mut m = Mods::default();
    let mut ok = true;
    for &name in names {
        match name {
            "contains" | "startswith" | "endswith" => {
                if let Some(other) = m.place {
                    diags.error(pos, format!("'|{name}' cannot follow '|{other}'"));
                    ok = false;
                }
                m.place = MODIFIERS.iter().copied().find(|x| *x == name);
            }
            "all" => m.all = true,
            "re" => m.re = true,
            "i" | "m" | "s" if !m.re => {
                diags.error(
                    pos,
                    format!("'|{name}' is a flag of '|re' and must follow it"),
                );
                ok = false;
            }
            "i" => m.re_flags.0 = true,
            "m" => m.re_flags.1 = true,
            "s" => m.re_flags.2 = true,
            "cidr" => m.cidr = true,
            "exists" => m.exists = true,
            "fieldref" => m.fieldref = true,
            "gt" => m.cmp = Some(CmpOp::Gt),
            "gte" => m.cmp = Some(CmpOp::Gte),
            "lt" => m.cmp = Some(CmpOp::Lt),
            "lte" => m.cmp = Some(CmpOp::Lte),
            "base64" => m.base64 = true,
            "base64offset" => m.base64offset = true,
            "cased" => m.cased = true,
            _ => {
                match REFUSED.iter().find(|(r, _)| *r == name) {
                    Some((_, why)) => diags.error(
                        pos,
                        format!("modifier '|{name}' is not supported for CloudTrail: {why}"),
                    ),
                    None => diags.error(
                        pos,
                        format!(
                            "unknown modifier '|{name}'{}",
                            did_you_mean(name, MODIFIERS.iter().copied())
                        ),
                    ),
                }
                ok = false;
            }
        }
    }
    // Modifiers that stand alone.
    let alone = [
        ("re", m.re),
        ("cidr", m.cidr),
        ("exists", m.exists),
        ("fieldref", m.fieldref),
        ("gt/gte/lt/lte", m.cmp.is_some()),
    ];
    let set: Vec<&str> = alone
        .iter()
        .filter(|(_, on)| *on)
        .map(|(n, _)| *n)
        .collect();
    let shaping = m.place.is_some() || m.base64 || m.base64offset || m.cased;
    if set.len() > 1 || (set.len() == 1 && shaping) {
        diags.error(
            pos,
            format!(
                "'|{}' cannot be combined with other value modifiers here",
                set.first().copied().unwrap_or("re")
            ),
        );
        ok = false;
    }
    if m.base64 && m.base64offset {
        diags.error(pos, "use either '|base64' or '|base64offset'");
        ok = false;
    }
    if m.base64offset && m.place != Some("contains") {
        diags.error(
            pos,
            "'|base64offset' finds a value inside encoded text: write it as '|base64offset|contains'",
        );
        ok = false;
    }
    ok.then_some(m)
}

/// `field|mod|mod: value(s)`.
fn field(k: &Node, v: &Node, diags: &mut Diags) -> Option<Cond> {
    let key = k.text().unwrap_or_default();
    let mut parts = key.split('|');
    let name = parts.next().unwrap_or_default().trim();
    let modifiers: Vec<&str> = parts.collect();
    if name.is_empty() {
        return keywords(v, &modifiers, k.pos, diags);
    }
    let field = sigma_field(name, k.pos, diags)?;
    let m = mods(&modifiers, k.pos, diags)?;
    if let Kind::Map(_) = v.kind {
        diags.error(
            v.pos,
            format!("'{key}' takes a value or a list of values, found a mapping"),
        );
        return None;
    }
    values(field, v, &m, key, diags)
}

/// A Sigma field name. One CloudTrail does not write is a warning, not an error: the
/// rule loads as written (pySigma's reading too) and that field is always missing.
pub fn sigma_field(name: &str, pos: Pos, diags: &mut Diags) -> Option<FieldRef> {
    match cond::field_ref(name) {
        Ok(f) => {
            diags.read(pos, &f);
            Some(f)
        }
        Err(msg) => match cond::field_ref_in(name, false) {
            Ok(f) => {
                diags.warn(
                    pos,
                    format!("{msg}: the rule is kept as written, and this field is always missing"),
                );
                Some(f)
            }
            Err(_) => {
                diags.error(pos, msg);
                None
            }
        },
    }
}

/// Keywords: values searched in the JSON text of the whole record.
fn keywords(v: &Node, modifiers: &[&str], pos: Pos, diags: &mut Diags) -> Option<Cond> {
    let m = mods(modifiers, pos, diags)?;
    if m.place.is_some_and(|p| p != "contains") || m.exists || m.fieldref || m.cmp.is_some() {
        diags.error(
            pos,
            "keywords (values without a field) take only the modifiers contains, all, re, cased, base64 and base64offset",
        );
        return None;
    }
    let m = Mods {
        place: Some("contains"),
        ..m
    };
    values(FieldRef::Record, v, &m, "keywords", diags)
}

/// A field's values under its modifiers: any of them (all of them with `|all`).
fn values(field: FieldRef, v: &Node, m: &Mods, key: &str, diags: &mut Diags) -> Option<Cond> {
    let items: Vec<&Node> = match &v.kind {
        Kind::Seq(items) => items.iter().collect(),
        _ => vec![v],
    };
    if items.is_empty() {
        diags.error(v.pos, format!("'{key}' has an empty list"));
        return None;
    }
    let test = |ops: Vec<Op>, ic: bool| {
        Cond::Test(FieldTest {
            field: field.clone(),
            ops,
            ignore_case: ic,
            json_text: true,
        })
    };
    if m.exists {
        return match (items.as_slice(), v.scalar()) {
            ([_], Some(Scalar::Bool(b))) => Some(test(vec![Op::Exists(b)], false)),
            _ => {
                diags.error(v.pos, "'|exists' takes true or false");
                None
            }
        };
    }
    let ic = !(m.cased || m.re);
    let place = match m.place {
        Some("contains") => Place::Contains,
        Some("startswith") => Place::Start,
        Some("endswith") => Place::End,
        _ => Place::Whole,
    };
    // Plain values of one kind gather into one operator (a set, a list of prefixes, …).
    let mut set = HashSet::new();
    let mut fixed: Vec<String> = Vec::new();
    let mut parts: Vec<Cond> = Vec::new();
    let mut ok = true;
    for item in &items {
        let scalar = item.scalar();
        let Some(scalar) = scalar else {
            diags.error(
                item.pos,
                format!("'{key}' values must be scalars, found {}", item.kind_name()),
            );
            ok = false;
            continue;
        };
        let text = item.text().unwrap_or_default().to_string();
        if let Scalar::Null = scalar {
            if m.place.is_some()
                || m.re
                || m.cidr
                || m.fieldref
                || m.cmp.is_some()
                || m.base64
                || m.base64offset
            {
                diags.error(
                    item.pos,
                    format!("null cannot take the modifiers of '{key}'"),
                );
                ok = false;
            } else {
                parts.push(test(vec![Op::Exists(false)], false));
            }
            continue;
        }
        if let Some(c) = m.cmp {
            let n = match scalar {
                Scalar::Int(i) => i as f64,
                Scalar::Float(f) => f,
                _ => {
                    diags.error(
                        item.pos,
                        format!("'{key}' compares with a number, found '{text}'"),
                    );
                    ok = false;
                    continue;
                }
            };
            parts.push(test(vec![Op::Cmp(c, n)], false));
            continue;
        }
        if m.re {
            let (i, ml, s) = m.re_flags;
            match RegexBuilder::new(&text)
                .case_insensitive(i)
                .multi_line(ml)
                .dot_matches_new_line(s)
                .size_limit(REGEX_SIZE_LIMIT)
                .dfa_size_limit(REGEX_SIZE_LIMIT)
                .build()
            {
                // A regex carries its own case folding; the flag says so to `explain`.
                Ok(re) => parts.push(test(vec![Op::Regex(re)], i)),
                Err(e) => {
                    let msg = e.to_string();
                    let last = msg.lines().last().unwrap_or("").trim();
                    diags.error(
                        item.pos,
                        format!(
                            "invalid '|re' pattern (Rust regex syntax: no look-around or backreferences): {}",
                            last.trim_start_matches("error: ")
                        ),
                    );
                    ok = false;
                }
            }
            continue;
        }
        if m.cidr {
            match Cidr::parse(&text) {
                Ok(c) => parts.push(test(vec![Op::Cidr(vec![c])], false)),
                Err(e) => {
                    diags.error(item.pos, format!("invalid cidr: {e}"));
                    ok = false;
                }
            }
            continue;
        }
        if m.fieldref {
            match sigma_field(&text, item.pos, diags) {
                Some(other) => parts.push(test(vec![Op::Field(other, true)], true)),
                None => ok = false,
            }
            continue;
        }
        if let Scalar::Bool(b) = scalar {
            if place == Place::Whole && !m.base64 {
                parts.push(test(vec![Op::Equals(Lit::Bool(b))], ic));
                continue;
            }
        }
        if let (Scalar::Int(_) | Scalar::Float(_), Place::Whole, false) = (&scalar, place, m.base64)
        {
            let num = match scalar {
                Scalar::Int(i) => i as f64,
                Scalar::Float(f) => f,
                _ => 0.0,
            };
            parts.push(test(
                vec![Op::Equals(Lit::Text {
                    text: text.clone(),
                    num: Some(num),
                })],
                ic,
            ));
            continue;
        }
        // Encoded values are literal text (their wildcards would be encoded too).
        let variants: Vec<Vec<Piece>> = if m.base64 {
            vec![base64_plain(&text).chars().map(Piece::Char).collect()]
        } else if m.base64offset {
            base64_offsets(&text)
                .into_iter()
                .map(|t| t.chars().map(Piece::Char).collect())
                .collect()
        } else {
            vec![pieces(&text)]
        };
        for p in variants {
            let fold = |s: String| if ic { s.to_lowercase() } else { s };
            match (plain(&p), place, m.all) {
                (Some(s), Place::Whole, false) => {
                    set.insert(fold(s));
                }
                (Some(s), _, false) => fixed.push(fold(s)),
                _ => {
                    let mut full = Vec::new();
                    if matches!(place, Place::Contains | Place::End) {
                        full.push(Piece::Any);
                    }
                    full.extend(p);
                    if matches!(place, Place::Contains | Place::Start) {
                        full.push(Piece::Any);
                    }
                    match plain_op(&full, ic) {
                        Some(op) => parts.push(test(vec![op], ic)),
                        None => {
                            let re = RegexBuilder::new(&pattern_regex(&full))
                                .case_insensitive(ic)
                                .size_limit(REGEX_SIZE_LIMIT)
                                .build();
                            match re {
                                Ok(re) => parts.push(test(vec![Op::Regex(re)], ic)),
                                Err(e) => {
                                    diags.error(item.pos, format!("value too complex: {e}"));
                                    ok = false;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    if !ok {
        return None;
    }
    if !set.is_empty() {
        let op = if set.len() == 1 {
            let text = set.into_iter().next().unwrap_or_default();
            Op::Equals(Lit::Text { text, num: None })
        } else {
            Op::Set(set, None)
        };
        parts.insert(0, test(vec![op], ic));
    }
    if !fixed.is_empty() {
        let op = match place {
            Place::Start => Op::Prefix(fixed),
            Place::End => Op::Suffix(fixed),
            _ => Op::Contains(fixed),
        };
        parts.push(test(vec![op], ic));
    }
    Some(match (parts.len(), m.all) {
        (1, _) => parts.pop()?,
        (_, true) => Cond::All(parts),
        _ => Cond::Any(parts),
    })
}

/// A wildcard pattern that is a plain prefix, suffix or infix.
fn plain_op(full: &[Piece], ic: bool) -> Option<Op> {
    let fold = |s: String| if ic { s.to_lowercase() } else { s };
    let (lead, trail) = (
        full.first() == Some(&Piece::Any),
        full.last() == Some(&Piece::Any) && full.len() > 1,
    );
    let inner = &full[usize::from(lead)..full.len() - usize::from(trail)];
    let text = fold(plain(inner)?);
    Some(match (lead, trail) {
        (true, true) => Op::Contains(vec![text]),
        (false, true) => Op::Prefix(vec![text]),
        (true, false) => Op::Suffix(vec![text]),
        (false, false) => Op::Equals(Lit::Text { text, num: None }),
    })
}

fn base64_plain(s: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(s.as_bytes())
}

/// The three encodings of `s` at each offset within a base64 block, trimmed to the
/// characters that do not depend on what surrounds it (Sigma's `base64offset`).
fn base64_offsets(s: &str) -> Vec<String> {
    const START: [usize; 3] = [0, 2, 3];
    const END: [usize; 3] = [0, 3, 2];
    (0..3)
        .map(|i| {
            let mut bytes = vec![b' '; i];
            bytes.extend_from_slice(s.as_bytes());
            let enc = base64_plain_bytes(&bytes);
            let cut = END[(s.len() + i) % 3];
            let end = enc.len().saturating_sub(cut);
            enc.get(START[i]..end).unwrap_or_default().to_string()
        })
        .collect()
}

fn base64_plain_bytes(b: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_wildcards() {
        assert_eq!(
            pieces(r"a\*b*c?\\d\x"),
            vec![
                Piece::Char('a'),
                Piece::Char('*'),
                Piece::Char('b'),
                Piece::Any,
                Piece::Char('c'),
                Piece::One,
                Piece::Char('\\'),
                Piece::Char('d'),
                Piece::Char('\\'),
                Piece::Char('x'),
            ]
        );
    }

    /// Sigma's keywords (values without a field) are found anywhere in the record's text.
    #[test]
    fn keywords_are_found_anywhere_in_the_record() {
        let file = crate::rules::RuleFile {
            path: "k.yml".into(),
            text: "title: k\nid: 11111111-0000-4000-8000-000000000001\nlogsource: {product: aws, service: cloudtrail}\ndetection:\n  keywords: [evil-tool]\n  condition: keywords\nlevel: high\n".into(),
        };
        let (set, diags) = crate::rules::RuleSet::compile(&[file], &[], &[], 0);
        let set = set.unwrap_or_else(|| panic!("{diags:?}"));
        let event = |ua: &str| {
            crate::event::Event::from_value(serde_json::json!({"eventName": "A", "userAgent": ua}))
                .unwrap()
        };
        assert!(set.rules()[0].matches(&event("Mozilla/5.0 evil-tool/1.2")));
        assert!(!set.rules()[0].matches(&event("Mozilla/5.0")));
    }

    #[test]
    fn base64_offsets_as_sigma_defines_them() {
        // The encodings pySigma gives for "/bin/bash" with |base64offset|contains.
        assert_eq!(base64_plain("/bin/bash"), "L2Jpbi9iYXNo");
        assert_eq!(
            base64_offsets("/bin/bash"),
            ["L2Jpbi9iYXNo", "9iaW4vYmFza", "vYmluL2Jhc2"]
        );
        assert_eq!(base64_offsets("ab"), ["YW", "Fi", "hY"]);
    }

    fn compile(detection: &str) -> (Option<crate::rules::RuleSet>, Vec<String>) {
        let file = crate::rules::RuleFile {
            path: "d.yml".into(),
            text: format!("title: d\nid: 11111111-0000-4000-8000-000000000001\nlogsource: {{product: aws, service: cloudtrail}}\ndetection:\n{detection}level: high\n"),
        };
        let (set, diags) = crate::rules::RuleSet::compile(&[file], &[], &[], 0);
        (set, diags.iter().map(ToString::to_string).collect())
    }

    fn named(name: &str) -> crate::event::Event {
        crate::event::Event::from_value(serde_json::json!({"eventName": name})).unwrap()
    }

    #[test]
    fn a_list_of_conditions_matches_when_any_does() {
        let (set, diags) =
            compile("  a: {eventName: A}\n  b: {eventName: B}\n  condition: [a, b]\n");
        let set = set.unwrap_or_else(|| panic!("{diags:?}"));
        let rule = &set.rules()[0];
        assert!(matches!(&rule.cond, Cond::Any(c) if c.len() == 2));
        assert!(rule.matches(&named("A")) && rule.matches(&named("B")));
        assert!(!rule.matches(&named("C")));
        // One condition is that condition, not a choice of one.
        let (set, _) = compile("  a: {eventName: A}\n  condition: a\n");
        assert!(matches!(&set.unwrap().rules()[0].cond, Cond::Test(_)));
    }

    #[test]
    fn a_condition_error_points_at_its_word() {
        // Line 6, the condition's text starting at column 14 (15 when quoted).
        let (_, plain) = compile("  sel: {eventName: A}\n  condition: sel and selx\n");
        let (_, quoted) = compile("  sel: {eventName: A}\n  condition: 'sel and selx'\n");
        let want = |col: usize| {
            format!("d.yml:6:{col}: unknown search identifier 'selx' (did you mean 'sel'?)")
        };
        assert_eq!(plain, [want(22)]);
        assert_eq!(quoted, [want(23)]);
    }

    #[test]
    fn a_search_list_holds_maps_or_keywords_and_is_never_empty() {
        let (set, diags) = compile("  sel: [{eventName: A}, {eventName: B}]\n  condition: sel\n");
        let set = set.unwrap_or_else(|| panic!("{diags:?}"));
        assert!(set.rules()[0].matches(&named("B")) && !set.rules()[0].matches(&named("C")));
        let (set, diags) = compile("  sel: [evil-tool, other-tool]\n  condition: sel\n");
        let set = set.unwrap_or_else(|| panic!("{diags:?}"));
        assert!(set.rules()[0].matches(&named("other-tool")));
        for (search, want) in [
            ("[]", "d.yml:5:8: empty search list"),
            (
                "[{eventName: A}, evil-tool]",
                "d.yml:5:8: a search list holds either maps of fields or keywords, not both",
            ),
        ] {
            let (set, diags) = compile(&format!("  sel: {search}\n  condition: sel\n"));
            assert!(set.is_none());
            assert_eq!(diags, [want], "{search}");
        }
    }

    #[test]
    fn comparison_modifiers_include_or_exclude_their_bound() {
        let rule = |m: &str| {
            let (set, diags) = compile(&format!(
                "  sel: {{requestParameters.maxResults|{m}: 5}}\n  condition: sel\n"
            ));
            set.unwrap_or_else(|| panic!("{diags:?}"))
        };
        let at = |set: &crate::rules::RuleSet, n: i64| {
            set.rules()[0].matches(
                &crate::event::Event::from_value(
                    serde_json::json!({"requestParameters": {"maxResults": n}}),
                )
                .unwrap(),
            )
        };
        for (m, below, equal, above) in [
            ("gt", false, false, true),
            ("gte", false, true, true),
            ("lt", true, false, false),
            ("lte", true, true, false),
        ] {
            let set = rule(m);
            assert_eq!(
                (at(&set, 4), at(&set, 5), at(&set, 6)),
                (below, equal, above),
                "{m}"
            );
        }
    }

    #[test]
    fn modifiers_that_stand_alone_refuse_shaping_and_flags_need_re() {
        let errors = |mods: &str| {
            let (set, diags) = compile(&format!(
                "  sel: {{userAgent|{mods}: x}}\n  condition: sel\n"
            ));
            assert!(set.is_none(), "{mods}");
            diags
        };
        let combined = |m: &str| {
            format!("d.yml:5:9: '|{m}' cannot be combined with other value modifiers here")
        };
        assert_eq!(errors("cidr|contains"), [combined("cidr")]);
        assert_eq!(errors("cidr|base64"), [combined("cidr")]);
        assert_eq!(errors("cidr|cased"), [combined("cidr")]);
        assert_eq!(
            errors("i"),
            ["d.yml:5:9: '|i' is a flag of '|re' and must follow it"]
        );
    }

    #[test]
    fn keywords_take_only_the_modifiers_that_search_text() {
        let (set, diags) = compile("  sel: {'|contains': evil-tool}\n  condition: sel\n");
        assert!(set.is_some(), "{diags:?}");
        for m in ["startswith", "endswith", "exists", "fieldref", "gt"] {
            let (set, diags) = compile(&format!("  sel: {{'|{m}': x}}\n  condition: sel\n"));
            assert!(set.is_none(), "{m}");
            assert_eq!(
                diags,
                ["d.yml:5:9: keywords (values without a field) take only the modifiers contains, all, re, cased, base64 and base64offset"],
                "{m}"
            );
        }
    }

    #[test]
    fn a_regex_compiles_within_its_size_limit() {
        let (set, diags) = compile("  sel: {userAgent|re: '^aws-cli/[0-9]+'}\n  condition: sel\n");
        let set = set.unwrap_or_else(|| panic!("{diags:?}"));
        let ua = |ua: &str| {
            crate::event::Event::from_value(serde_json::json!({"userAgent": ua})).unwrap()
        };
        assert!(set.rules()[0].matches(&ua("aws-cli/2.15")));
        assert!(!set.rules()[0].matches(&ua("boto3/1.34")));
        let (set, diags) = compile("  sel: {userAgent|re: '(\\w{100}){100}'}\n  condition: sel\n");
        assert!(set.is_none());
        assert!(diags[0].contains("size limit"), "{diags:?}");
    }

    /// A null value means "the field is absent"; no modifier can shape or compare it.
    #[test]
    fn null_means_absent_and_takes_no_modifier() {
        let (set, diags) = compile("  sel: {errorCode: null}\n  condition: sel\n");
        let set = set.unwrap_or_else(|| panic!("{diags:?}"));
        let ev = |v: serde_json::Value| crate::event::Event::from_value(v).unwrap();
        assert!(set.rules()[0].matches(&ev(serde_json::json!({"eventName": "A"}))));
        assert!(!set.rules()[0].matches(&ev(serde_json::json!({"errorCode": "Denied"}))));
        for m in [
            "startswith",
            "endswith",
            "contains",
            "re",
            "cidr",
            "fieldref",
            "gt",
            "lte",
            "base64",
            "base64offset|contains",
        ] {
            let (set, diags) = compile(&format!(
                "  sel: {{errorCode|{m}: null}}\n  condition: sel\n"
            ));
            assert!(set.is_none(), "{m}");
            assert_eq!(
                diags,
                [format!(
                    "d.yml:5:{}: null cannot take the modifiers of 'errorCode|{m}'",
                    9 + "errorCode|: ".len() + m.len()
                )],
                "{m}"
            );
        }
    }
}
