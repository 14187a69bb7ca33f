//! The compiled form of a rule's `match`: a tree of checked, ready-to-run tests.
//!
//! Each operator picks its strategy when the rule compiles (literal set, prefix/suffix
//! lists, a linear-time regex, CIDR blocks), so matching an event does no parsing.

use crate::event::{scalar_text, Event, FieldPath};
use regex::Regex;
use serde_json::Value;
use std::borrow::Cow;
use std::collections::HashSet;
use std::net::IpAddr;

/// Most values a title shows for one `[*]` placeholder.
pub const MAX_JOINED: usize = 5;

/// Which part of an ARN `arn:partition:service:region:account:resource` to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArnPart {
    Partition = 1,
    Service = 2,
    Region = 3,
    Account = 4,
    Resource = 5,
}

impl ArnPart {
    pub const NAMES: &'static [&'static str] = &[
        "arn_partition",
        "arn_service",
        "arn_region",
        "arn_account",
        "arn_resource",
    ];

    pub fn from_name(name: &str) -> Option<ArnPart> {
        Some(match name {
            "arn_partition" => ArnPart::Partition,
            "arn_service" => ArnPart::Service,
            "arn_region" => ArnPart::Region,
            "arn_account" => ArnPart::Account,
            "arn_resource" => ArnPart::Resource,
            _ => return None,
        })
    }
}

/// Where a test reads its values.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldRef {
    Path(FieldPath),
    /// A part of every ARN string the path reaches.
    Arn(ArnPart, FieldPath),
    /// The alert's account: `recipientAccountId`, else `userIdentity.accountId`.
    Account,
    /// `success`, or `failure` for a failed or denied call (see [`Event::failure`]).
    Outcome,
    /// `a|b`: the values of the first alternative that has any.
    First(Vec<FieldRef>),
    /// The whole record (Sigma keyword searches read its JSON text).
    Record,
}

/// A value read from an event.
#[derive(Debug, Clone, Copy)]
pub enum Val<'a> {
    Json(&'a Value),
    Str(&'a str),
}

impl<'a> Val<'a> {
    pub fn text(&self) -> Option<Cow<'a, str>> {
        match *self {
            Val::Json(v) => scalar_text(v),
            Val::Str(s) => Some(Cow::Borrowed(s)),
        }
    }

    /// The text, or for an object or array its compact JSON.
    fn text_or_json(&self) -> Option<Cow<'a, str>> {
        match *self {
            Val::Json(v @ (Value::Object(_) | Value::Array(_))) => Some(Cow::Owned(v.to_string())),
            _ => self.text(),
        }
    }

    fn is_null(&self) -> bool {
        matches!(self, Val::Json(Value::Null))
    }

    /// The value as a number: a JSON number or a numeric string (what `gt`/`lt` read).
    pub(crate) fn number(&self) -> Option<f64> {
        match *self {
            Val::Json(Value::Number(n)) => n.as_f64(),
            Val::Json(Value::String(s)) => s.trim().parse().ok(),
            Val::Str(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

impl FieldRef {
    pub fn visit<'a>(&self, e: &'a Event, f: &mut dyn FnMut(Val<'a>)) {
        match self {
            FieldRef::Path(p) => e.visit(p, &mut |v| f(Val::Json(v))),
            FieldRef::Arn(part, p) => e.visit(p, &mut |v| {
                if let Some(s) = v.as_str() {
                    arn_parts(s, *part, &mut |x| f(Val::Str(x)))
                }
            }),
            FieldRef::Account => {
                if let Some(a) = e.account_id() {
                    f(Val::Str(a))
                }
            }
            FieldRef::Outcome => f(Val::Str(if e.failure().is_some() {
                "failure"
            } else {
                "success"
            })),
            FieldRef::Record => f(Val::Json(e.value())),
            FieldRef::First(alts) => {
                for alt in alts {
                    let mut any = false;
                    alt.visit(e, &mut |v| {
                        any = true;
                        f(v)
                    });
                    if any {
                        break;
                    }
                }
            }
        }
    }

    /// The first value's text, for titles, grouping and keys.
    pub fn first_text<'a>(&self, e: &'a Event) -> Option<Cow<'a, str>> {
        let mut out = None;
        self.visit(e, &mut |v| {
            if out.is_none() {
                out = v.text()
            }
        });
        out
    }

    /// The record paths this reads (`account_id` and `outcome` read fields every event
    /// keeps anyway).
    pub fn paths(&self) -> Vec<&FieldPath> {
        match self {
            FieldRef::Path(p) | FieldRef::Arn(_, p) => vec![p],
            FieldRef::Account | FieldRef::Outcome => Vec::new(),
            FieldRef::First(alts) => alts.iter().flat_map(FieldRef::paths).collect(),
            FieldRef::Record => vec![FieldPath::whole()],
        }
    }

    /// True when this reads a secret (`responseElements.credentials`, a session token, a
    /// password, key material): alerts show `[redacted]` instead of its value.
    pub fn is_sensitive(&self) -> bool {
        self.paths().iter().any(|p| {
            p.segments.iter().any(|s| match s {
                crate::event::Segment::Key(k) => is_secret_key(k),
                _ => false,
            })
        })
    }

    /// The first value's text for an alert: `[redacted]` for secrets.
    pub fn shown_text<'a>(&self, e: &'a Event) -> Option<Cow<'a, str>> {
        let v = self.first_text(e)?;
        Some(if self.is_sensitive() {
            Cow::Borrowed("[redacted]")
        } else {
            v
        })
    }

    /// For titles: the first value's text, or, when the path fans out with `[*]`, every
    /// distinct value joined with ", " (at most [`MAX_JOINED`], then "and N more").
    pub fn shown_joined(&self, e: &Event) -> Option<String> {
        let fans_out = self
            .paths()
            .iter()
            .any(|p| p.segments.contains(&crate::event::Segment::Any));
        if !fans_out {
            return self.shown_text(e).map(Cow::into_owned);
        }
        if self.is_sensitive() {
            return self.first_text(e).map(|_| "[redacted]".to_string());
        }
        let mut all: Vec<String> = Vec::new();
        self.visit(e, &mut |v| {
            if let Some(t) = v.text() {
                if !all.iter().any(|a| *a == t) {
                    all.push(t.into_owned());
                }
            }
        });
        match all.len() {
            0 => None,
            n if n > MAX_JOINED => Some(format!(
                "{} and {} more",
                all[..MAX_JOINED].join(", "),
                n - MAX_JOINED
            )),
            _ => Some(all.join(", ")),
        }
    }

    /// The path as written in the rule.
    pub fn label(&self) -> String {
        match self {
            FieldRef::Path(p) => p.to_string(),
            FieldRef::Arn(part, p) => format!("{}({p})", ArnPart::NAMES[*part as usize - 1]),
            FieldRef::Account => "account_id".into(),
            FieldRef::Outcome => "outcome".into(),
            FieldRef::Record => "(the record)".into(),
            FieldRef::First(alts) => alts
                .iter()
                .map(FieldRef::label)
                .collect::<Vec<_>>()
                .join("|"),
        }
    }
}

/// True for a key whose value is a secret (a session token, a password, key material).
pub(crate) fn is_secret_key(key: &str) -> bool {
    const SECRETS: &[&str] = &[
        "credentials",
        "sessiontoken",
        "secretaccesskey",
        "password",
        "masteruserpassword",
        "privatekey",
        "keymaterial",
        "secretstring",
        "secretbinary",
    ];
    // The names are lower case: no lower-cased copy of the key is needed.
    SECRETS.iter().any(|s| s.eq_ignore_ascii_case(key))
}

/// The part of the ARN a value is, or of every ARN it holds inside text (an `errorMessage`
/// such as "… is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::…").
fn arn_parts<'a>(s: &'a str, part: ArnPart, f: &mut dyn FnMut(&'a str)) {
    if let Some(p) = arn_part(s, part) {
        return f(p);
    }
    let mut rest = s;
    while let Some(at) = rest.find("arn:") {
        let tail = &rest[at..];
        let end = tail
            .find(|c: char| {
                c.is_whitespace() || matches!(c, '"' | '\'' | ',' | ';' | ')' | ']' | '}')
            })
            .unwrap_or(tail.len());
        // Not a word that merely ends in "arn:" (e.g. "learn:").
        let starts_word = rest[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !c.is_ascii_alphanumeric());
        if starts_word {
            if let Some(p) = arn_part(&tail[..end], part) {
                f(p);
            }
        }
        rest = &tail[end.max(4)..];
    }
}

/// A part of an ARN; a bare 12-digit account id (as policies write principals) is its
/// own account.
fn arn_part(arn: &str, part: ArnPart) -> Option<&str> {
    if part == ArnPart::Account && arn.len() == 12 && arn.bytes().all(|b| b.is_ascii_digit()) {
        return Some(arn);
    }
    let mut it = arn.splitn(6, ':');
    if it.next()? != "arn" {
        return None;
    }
    it.nth(part as usize - 1)
}

/// A literal for `equals`.
#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    Null,
    Bool(bool),
    Text { text: String, num: Option<f64> },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug, Clone)]
pub struct Cidr {
    net: IpAddr,
    bits: u8,
}

impl std::fmt::Display for Cidr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.net, self.bits)
    }
}

impl Cidr {
    pub fn parse(s: &str) -> Result<Cidr, String> {
        let (addr, bits) = match s.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (s, None),
        };
        let net: IpAddr = addr
            .trim()
            .parse()
            .map_err(|_| format!("'{s}' is not an IP network (e.g. 203.0.113.0/24)"))?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) => b
                .parse::<u8>()
                .ok()
                .filter(|b| *b <= max)
                .ok_or_else(|| format!("'{s}': prefix length must be 0..={max}"))?,
        };
        Ok(Cidr { net, bits })
    }

    fn contains(&self, ip: &IpAddr) -> bool {
        let (a, b, width) = match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(i)) => (u32::from(n) as u128, u32::from(*i) as u128, 32),
            (IpAddr::V6(n), IpAddr::V6(i)) => (u128::from(n), u128::from(*i), 128),
            _ => return false,
        };
        if self.bits == 0 {
            return true;
        }
        let shift = width - u32::from(self.bits);
        (a >> shift) == (b >> shift)
    }
}

/// One operator of a field test.
#[derive(Debug, Clone)]
pub enum Op {
    Equals(Lit),
    /// `one_of` and `in_list`: a hash set of texts, and the list's name for `in_list`
    /// (kept so `explain` can name it).
    Set(HashSet<String>, Option<String>),
    Prefix(Vec<String>),
    Suffix(Vec<String>),
    Contains(Vec<String>),
    /// `regex` and `glob` (globs compile to anchored regexes).
    Regex(Regex),
    Cidr(Vec<Cidr>),
    Cmp(CmpOp, f64),
    Exists(bool),
    /// `same_as` (true) or `differs_from` (false): both fields present; texts equal or not.
    Field(FieldRef, bool),
    /// Not all of the inner operators hold; the flag is their own `ignore_case`.
    Not(Vec<Op>, bool),
    /// `some`: one value meets all the inner operators on its own (flag as for `Not`).
    Some(Vec<Op>, bool),
    /// `where`: one value is an object that meets the condition, read from that object;
    /// with the record paths the condition reads (the field's path joined with its own),
    /// so decoding keeps just those.
    Where(Box<Cond>, Vec<FieldRef>),
}

/// `field: {operators…}`: every operator must hold.
#[derive(Debug, Clone)]
pub struct FieldTest {
    pub field: FieldRef,
    pub ops: Vec<Op>,
    pub ignore_case: bool,
    /// Objects and arrays compare as their compact JSON text (Sigma's convention, as SIEM
    /// backends do), instead of having no text.
    pub json_text: bool,
}

#[derive(Debug, Clone)]
pub enum Cond {
    All(Vec<Cond>),
    Any(Vec<Cond>),
    Not(Box<Cond>),
    Test(FieldTest),
}

/// Fields the operators read from the record (a `where` reads below its own field, which
/// is kept whole).
fn op_refs<'a>(ops: &'a [Op], out: &mut Vec<&'a FieldRef>) {
    for op in ops {
        match op {
            Op::Field(f, _) => out.push(f),
            Op::Not(inner, _) | Op::Some(inner, _) => op_refs(inner, out),
            Op::Where(_, reads) => out.extend(reads),
            _ => {}
        }
    }
}

impl Cond {
    /// Every field this condition reads.
    pub fn field_refs<'a>(&'a self, out: &mut Vec<&'a FieldRef>) {
        match self {
            Cond::All(c) | Cond::Any(c) => c.iter().for_each(|c| c.field_refs(out)),
            Cond::Not(c) => c.field_refs(out),
            Cond::Test(t) => {
                // A field tested only by `where` is read through the paths below it.
                if !t.ops.iter().all(|op| matches!(op, Op::Where(..))) {
                    out.push(&t.field);
                }
                op_refs(&t.ops, out);
            }
        }
    }

    pub fn matches(&self, e: &Event) -> bool {
        match self {
            Cond::All(c) => c.iter().all(|c| c.matches(e)),
            Cond::Any(c) => c.iter().any(|c| c.matches(e)),
            Cond::Not(c) => !c.matches(e),
            Cond::Test(t) => t.ops.iter().all(|op| t.holds(op, e, t.ignore_case)),
        }
    }
}

/// Calls its argument with each value an operator is tested on.
type Values<'f, 'a> = dyn Fn(&mut dyn FnMut(Val<'a>)) + 'f;

impl FieldTest {
    /// Whether `op` (one of this test's operators, or one nested in them, with its own
    /// `ignore_case`) holds on the field's values.
    pub(crate) fn holds(&self, op: &Op, e: &Event, ic: bool) -> bool {
        self.holds_on(op, e, ic, &|f| self.field.visit(e, f))
    }

    /// Whether `op` holds on the one value `v`, as inside `some`.
    pub(crate) fn holds_on_value<'a>(&self, op: &Op, e: &'a Event, ic: bool, v: Val<'a>) -> bool {
        self.holds_on(op, e, ic, &|f: &mut dyn FnMut(Val<'a>)| f(v))
    }

    /// Whether `op` holds on the values `values` yields (the field's, or one of them).
    fn holds_on<'a>(&self, op: &Op, e: &'a Event, ic: bool, values: &Values<'_, 'a>) -> bool {
        match op {
            Op::Exists(want) => {
                let mut found = false;
                values(&mut |v| found |= !v.is_null());
                found == *want
            }
            Op::Not(ops, inner) => !ops.iter().all(|op| self.holds_on(op, e, *inner, values)),
            Op::Some(ops, inner) => {
                let mut all = Vec::new();
                values(&mut |v| all.push(v));
                all.iter().any(|v| {
                    ops.iter()
                        .all(|op| self.holds_on(op, e, *inner, &|f: &mut dyn FnMut(Val<'a>)| f(*v)))
                })
            }
            Op::Where(cond, _) => {
                let mut hit = false;
                values(&mut |v| {
                    if let (false, Val::Json(obj @ Value::Object(_))) = (hit, v) {
                        hit = Event::from_value(obj.clone()).is_some_and(|sub| cond.matches(&sub));
                    }
                });
                hit
            }
            Op::Field(other, same) => {
                let mut mine = Vec::new();
                values(&mut |v| mine.extend(v.text()));
                let mut theirs = Vec::new();
                other.visit(e, &mut |v| theirs.extend(v.text()));
                if mine.is_empty() || theirs.is_empty() {
                    return false;
                }
                let eq = |a: &str, b: &str| {
                    if ic {
                        a.eq_ignore_ascii_case(b)
                    } else {
                        a == b
                    }
                };
                let any_equal = mine.iter().any(|a| theirs.iter().any(|b| eq(a, b)));
                if *same {
                    any_equal
                } else {
                    !any_equal
                }
            }
            _ => {
                let mut hit = false;
                let json = self.json_text;
                values(&mut |v| hit = hit || value_holds(op, v, ic, json));
                hit
            }
        }
    }
}

impl FieldTest {
    /// Whether this test can be decided from its field alone, as a string or absent (see
    /// [`FieldTest::holds_on_text`]): a plain path of keys, no operator that reads
    /// another field (`same_as`) or below the value (`where`).
    pub(crate) fn decided_by_text(&self) -> Option<Vec<String>> {
        fn plain(ops: &[Op]) -> bool {
            ops.iter().all(|op| match op {
                Op::Field(..) | Op::Where(..) => false,
                Op::Not(inner, _) | Op::Some(inner, _) => plain(inner),
                _ => true,
            })
        }
        let FieldRef::Path(p) = &self.field else {
            return None;
        };
        let keys: Option<Vec<String>> = p
            .segments
            .iter()
            .map(|s| match s {
                crate::event::Segment::Key(k) => Some(k.clone()),
                _ => None,
            })
            .collect();
        keys.filter(|_| plain(&self.ops))
    }

    /// What [`Cond::matches`] says of this test on a record whose field is the string
    /// `v`, or is absent (`None`). Only for tests [`FieldTest::decided_by_text`].
    pub(crate) fn holds_on_text(&self, v: Option<&str>) -> bool {
        self.ops
            .iter()
            .all(|op| text_holds(op, v, self.ignore_case, self.json_text))
    }
}

/// [`FieldTest::holds_on`] for a field with at most one value, a string.
fn text_holds(op: &Op, v: Option<&str>, ic: bool, json: bool) -> bool {
    match op {
        Op::Exists(want) => v.is_some() == *want,
        Op::Not(ops, inner) => !ops.iter().all(|op| text_holds(op, v, *inner, json)),
        Op::Some(ops, inner) => v.is_some() && ops.iter().all(|op| text_holds(op, v, *inner, json)),
        Op::Field(..) | Op::Where(..) => true,
        _ => v.is_some_and(|s| value_holds(op, Val::Str(s), ic, json)),
    }
}

fn value_holds(op: &Op, v: Val<'_>, ic: bool, json: bool) -> bool {
    if let Op::Equals(Lit::Null) = op {
        return v.is_null();
    }
    if let Op::Cmp(c, n) = op {
        return v.number().is_some_and(|x| match c {
            CmpOp::Gt => x > *n,
            CmpOp::Gte => x >= *n,
            CmpOp::Lt => x < *n,
            CmpOp::Lte => x <= *n,
        });
    }
    let text = if json { v.text_or_json() } else { v.text() };
    let Some(text) = text else { return false };
    let text = if ic && !matches!(op, Op::Regex(_) | Op::Cidr(_)) {
        Cow::Owned(text.to_lowercase())
    } else {
        text
    };
    let t = text.as_ref();
    match op {
        Op::Equals(Lit::Bool(b)) => t == if *b { "true" } else { "false" },
        Op::Equals(Lit::Text { text, num }) => {
            t == text || num.is_some_and(|n| v.number() == Some(n))
        }
        Op::Set(set, _) => set.contains(t),
        Op::Prefix(list) => list.iter().any(|p| t.starts_with(p.as_str())),
        Op::Suffix(list) => list.iter().any(|p| t.ends_with(p.as_str())),
        Op::Contains(list) => list.iter().any(|p| t.contains(p.as_str())),
        Op::Regex(re) => re.is_match(t),
        Op::Cidr(nets) => t
            .parse::<IpAddr>()
            .is_ok_and(|ip| nets.iter().any(|n| n.contains(&ip))),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The set of the one rule `t` whose `match:` and the rest are `body`.
    fn compile(body: &str) -> crate::rules::RuleSet {
        let files = [crate::rules::RuleFile {
            path: "t.yaml".into(),
            text: format!("id: t\ntitle: t\nseverity: low\n{body}"),
        }];
        let (set, diags) = crate::rules::RuleSet::compile(&files, &[], &[], 1_700_000_000);
        assert!(diags.is_empty(), "{diags:?}");
        set.expect("compiles")
    }

    /// Whether that rule matches `event`.
    fn rule_matches(body: &str, event: serde_json::Value) -> bool {
        let e = Event::from_value(event).expect("an object");
        compile(body).rule("t").expect("rule t").matches(&e)
    }

    #[test]
    fn prefix_suffix_and_contains_each_look_at_their_own_end() {
        let arn = |v: &str| json!({"eventName": "X", "userIdentity": {"arn": v}});
        for (op, hits, misses) in [
            ("prefix", "arn:aws:iam::1:role/x", "x/arn:aws:iam::1:role"),
            ("suffix", "x/arn:aws:iam", "arn:aws:iam::1:role/x"),
            ("contains", "x/arn:aws:iam/y", "arn:aws:ia"),
        ] {
            let body = format!("match:\n  userIdentity.arn: {{{op}: 'arn:aws:iam'}}\n");
            assert!(rule_matches(&body, arn(hits)), "{op} {hits}");
            assert!(!rule_matches(&body, arn(misses)), "{op} {misses}");
        }
    }

    #[test]
    fn bounds_may_be_fractions() {
        let body = "match:\n  requestParameters.n: {gt: 1.5, lte: 2.5}\n";
        let n = |v: f64| json!({"eventName": "X", "requestParameters": {"n": v}});
        assert!(!rule_matches(body, n(1.5)));
        assert!(rule_matches(body, n(1.6)));
        assert!(rule_matches(body, n(2.5)));
        assert!(!rule_matches(body, n(2.6)));
    }

    /// Each `arn_*()` name reads its own part of `arn:partition:service:region:account:resource`.
    #[test]
    fn every_arn_function_reads_its_part() {
        let e =
            || json!({"userIdentity": {"arn": "arn:aws-cn:iam:cn-north-1:111122223333:role/x"}});
        for (name, part, other) in [
            ("arn_partition", "aws-cn", "aws"),
            ("arn_service", "iam", "sts"),
            ("arn_region", "cn-north-1", "us-east-1"),
            ("arn_account", "111122223333", "444455556666"),
            ("arn_resource", "role/x", "role/y"),
        ] {
            let m = |v: &str| format!("match:\n  {name}(userIdentity.arn): '{v}'\n");
            assert!(rule_matches(&m(part), e()), "{name}");
            assert!(!rule_matches(&m(other), e()), "{name}");
        }
        assert_eq!(ArnPart::from_name("arn_bogus"), None);
    }

    /// JSON `null` meets `equals: null` and counts as absent for `exists`.
    #[test]
    fn null_is_equal_to_null_and_not_present() {
        let null = || json!({"errorCode": null});
        assert!(rule_matches("match:\n  errorCode: null\n", null()));
        assert!(!rule_matches(
            "match:\n  errorCode: null\n",
            json!({"errorCode": "X"})
        ));
        assert!(rule_matches(
            "match:\n  errorCode: {exists: false}\n",
            null()
        ));
        assert!(!rule_matches(
            "match:\n  errorCode: {exists: true}\n",
            null()
        ));
        assert!(rule_matches(
            "match:\n  errorCode: {exists: true}\n",
            json!({"errorCode": ""})
        ));
    }

    /// `gt`/`gte` read a numeric string wherever it comes from, an ARN's part included.
    #[test]
    fn comparisons_read_numeric_text_of_an_arn_part() {
        let e = || json!({"userIdentity": {"arn": "arn:aws:iam::111122223333:root"}});
        let m =
            |op: &str| format!("match:\n  arn_account(userIdentity.arn): {{{op}: 111122223333}}\n");
        assert!(rule_matches(&m("gte"), e()));
        assert!(!rule_matches(&m("gt"), e()));
    }

    /// A field compared inside `not` or `some` is kept by the decoding that keeps only
    /// what rules read, so the rule gives the same answer on a live record.
    #[test]
    fn fields_compared_inside_not_and_some_survive_pruning() {
        for (body, event) in [
            (
                "match:\n  requestParameters.a: {not: {same_as: requestParameters.b}}\n",
                json!({"requestParameters": {"a": "x", "b": "x"}}),
            ),
            (
                "match:\n  requestParameters.a: {some: {differs_from: requestParameters.b}}\n",
                json!({"requestParameters": {"a": ["x"], "b": "x"}}),
            ),
        ] {
            let set = compile(body);
            let pruned = set.keep().parse(event.to_string().as_bytes()).unwrap();
            assert_eq!(pruned["requestParameters"]["b"], "x", "{body}");
            let e = Event::from_value(pruned).unwrap();
            assert!(!set.rule("t").unwrap().matches(&e), "{body}");
        }
    }

    /// The one field test of the rule whose `match:` is `m`.
    fn field_test(m: &str) -> FieldTest {
        let set = compile(&format!("match:\n  {m}\n"));
        let mut cond = set.rule("t").expect("t").cond.clone();
        loop {
            cond = match cond {
                Cond::Test(t) => return t,
                Cond::All(mut c) | Cond::Any(mut c) if c.len() == 1 => c.remove(0),
                other => panic!("not one test: {other:?}"),
            }
        }
    }

    /// The skip gate decides a record on a field's text only for tests that read nothing
    /// else: not another field (`same_as`, also inside `not`/`some`), not below (`where`).
    #[test]
    fn only_tests_of_the_field_alone_are_decided_by_its_text() {
        let keys = |m: &str| field_test(m).decided_by_text();
        let path = Some(vec!["requestParameters".to_string(), "a".to_string()]);
        assert_eq!(keys("requestParameters.a: {not: x}"), path);
        assert_eq!(keys("requestParameters.a: {some: {prefix: x}}"), path);
        assert_eq!(keys("requestParameters.a: {same_as: eventName}"), None);
        assert_eq!(
            keys("requestParameters.a: {not: {same_as: eventName}}"),
            None
        );
        assert_eq!(
            keys("requestParameters.a: {some: {same_as: eventName}}"),
            None
        );
        assert_eq!(keys("requestParameters.a: {where: {b: x}}"), None);
        assert_eq!(keys("requestParameters.a[0]: x"), None);
    }

    /// On a field's text (or its absence), `not` holds where the inner test does not,
    /// absent included, as on the record.
    #[test]
    fn not_on_text_is_the_opposite_absent_included() {
        let t = field_test("eventName: {not: A}");
        assert!(!t.holds_on_text(Some("A")));
        assert!(t.holds_on_text(Some("B")));
        assert!(t.holds_on_text(None));
        let t = field_test("eventName: {not: {prefix: Get}, ignore_case: true}");
        assert!(!t.holds_on_text(Some("getObject")));
        assert!(t.holds_on_text(Some("PutObject")));
    }

    /// `gt`/`gte`/`lt`/`lte` at their bound: only the `e` forms include it.
    #[test]
    fn comparisons_include_their_bound_only_with_e() {
        let at = |op: &str, n: i64| {
            rule_matches(
                &format!("match:\n  requestParameters.maxResults: {{{op}: 5}}\n"),
                json!({"requestParameters": {"maxResults": n}}),
            )
        };
        assert_eq!((at("gt", 5), at("gt", 6)), (false, true));
        assert_eq!((at("gte", 4), at("gte", 5)), (false, true));
        assert_eq!((at("lt", 5), at("lt", 4)), (false, true));
        assert_eq!((at("lte", 6), at("lte", 5)), (false, true));
    }

    /// On a field's text: `some` needs the field and its inner test; an operator that
    /// reads another field cannot be decided from the text, so it never rules a record out.
    #[test]
    fn some_on_text_needs_the_value_and_undecidable_operators_hold() {
        let t = field_test("eventName: {some: {prefix: Get}}");
        assert!(t.holds_on_text(Some("GetObject")));
        assert!(!t.holds_on_text(Some("PutObject")));
        assert!(!t.holds_on_text(None));
        let t = field_test("eventName: {same_as: eventSource}");
        assert!(t.holds_on_text(Some("x")) && t.holds_on_text(None));
    }

    #[test]
    fn cidr_blocks() {
        let c = Cidr::parse("10.0.0.0/8").unwrap();
        assert!(c.contains(&"10.2.3.4".parse().unwrap()));
        assert!(!c.contains(&"11.2.3.4".parse().unwrap()));
        assert!(!c.contains(&"::1".parse().unwrap()));
        assert!(Cidr::parse("2001:db8::/32")
            .unwrap()
            .contains(&"2001:db8::1".parse().unwrap()));
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains(&"1.1.1.1".parse().unwrap()));
        assert!(Cidr::parse("10.0.0.0/33").is_err());
        assert!(Cidr::parse("10.0.0/8").is_err());
    }

    #[test]
    fn arn_parts() {
        let arn = "arn:aws:iam::111122223333:role/EC2-dev";
        assert_eq!(arn_part(arn, ArnPart::Account), Some("111122223333"));
        assert_eq!(arn_part(arn, ArnPart::Region), Some(""));
        assert_eq!(arn_part(arn, ArnPart::Resource), Some("role/EC2-dev"));
        assert_eq!(arn_part("not-an-arn", ArnPart::Account), None);
        assert_eq!(
            arn_part("111122223333", ArnPart::Account),
            Some("111122223333")
        );
        assert_eq!(arn_part("111122223333", ArnPart::Resource), None);
        assert_eq!(arn_part("11112222333", ArnPart::Account), None);
        let msg = "User: arn:aws:iam::111122223333:user/bob is not authorized to perform: sts:AssumeRole on resource: arn:aws:iam::444455556666:role/admin";
        let mut accounts = Vec::new();
        super::arn_parts(msg, ArnPart::Account, &mut |a| accounts.push(a));
        assert_eq!(accounts, ["111122223333", "444455556666"]);
        let mut none = Vec::new();
        super::arn_parts("learn:aws:iam::1:x and arn:", ArnPart::Account, &mut |a| {
            none.push(a)
        });
        assert!(none.is_empty(), "{none:?}");
    }

    /// `true`/`false` in a rule match the JSON booleans and their text (CloudTrail writes
    /// some flags as strings), and never the other value.
    #[test]
    fn a_boolean_matches_its_own_value_as_json_or_text() {
        let ev = |v: serde_json::Value| json!({"eventName": "X", "readOnly": v});
        for (want, hit, miss) in [("true", true, false), ("false", false, true)] {
            let body = format!("match:\n  readOnly: {want}\n");
            assert!(rule_matches(&body, ev(json!(hit))), "{want}");
            assert!(rule_matches(&body, ev(json!(want))), "{want} as text");
            assert!(!rule_matches(&body, ev(json!(miss))), "{want}");
            assert!(!rule_matches(&body, ev(json!(1))), "{want}");
            assert!(!rule_matches(&body, json!({"eventName": "X"})), "{want}");
        }
    }
}
