//! Why a rule did or did not fire: the compiled rule as plain data, and one record traced
//! through it.
//!
//! "Why did this not alert?" is the question a rule's author and the on-call ask most, and
//! reading YAML does not answer it: lists are resolved, Sigma rules become a different
//! tree, the index skips rules, `on_failure`, suppressions and copies of records drop hits.
//! So the answer is read from what actually runs. [`describe`] turns a compiled [`Rule`]
//! into a [`RuleView`]; [`rule_trace`] follows one [`Event`] through it. Every verdict in
//! a trace comes from the matcher's own operators ([`FieldTest`]'s `holds`), so a trace
//! cannot disagree with [`Rule::matches`]; this module only adds the words around it
//! (the values found, the values expected). Values of secret fields
//! ([`FieldRef::is_sensitive`]) are never shown. [`text`] renders all of it for a
//! terminal; the same structures serialise to JSON for machines.
//!
//! [`Rule`]: super::Rule
//! [`Rule::matches`]: super::Rule::matches
//! [`Event`]: crate::event::Event
//! [`FieldTest`]: super::matcher::FieldTest
//! [`FieldRef::is_sensitive`]: super::matcher::FieldRef::is_sensitive

pub mod text;

mod describe;
mod trace;

pub use describe::*;
pub use trace::*;

use serde_json::Value;

/// Values of a list shown before "… N in all".
const SHOWN_VALUES: usize = 8;
/// Values found in a record shown before "and N more".
const SHOWN_FOUND: usize = 5;
/// Characters of one value shown before "…".
const SHOWN_CHARS: usize = 120;
/// Elements of a `where` traced when none meets it.
const SHOWN_ELEMENTS: usize = 3;
/// Elements of a `where` tried to find the one that meets it.
const TRIED_ELEMENTS: usize = 1000;

/// `a and b`, parenthesised when there are several.
fn joined_ops(ops: &[OpView]) -> String {
    match ops {
        [one] => one.text.clone(),
        _ => format!(
            "({})",
            ops.iter()
                .map(|o| o.text.as_str())
                .collect::<Vec<_>>()
                .join(" and ")
        ),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// A number as written in YAML: Rust prints `5.0` as `5` and never uses an exponent, so
/// only the sign of zero needs care (`-0` reads as a typo).
fn number(n: f64) -> String {
    (n + 0.0).to_string()
}

/// `"x"` for one value, `any of ["x", "y"]` for several.
fn one_or_any(list: &[String]) -> String {
    match list {
        [one] => quote(one),
        _ => format!(
            "any of {}",
            quoted_list(list.iter().map(String::as_str), list.len())
        ),
    }
}

/// `["a", "b", … 36 in all]`.
fn quoted_list<'a>(items: impl Iterator<Item = &'a str>, total: usize) -> String {
    let mut shown: Vec<String> = items.take(SHOWN_VALUES).map(quote).collect();
    if total > SHOWN_VALUES {
        shown.push(format!("… {total} in all"));
    }
    format!("[{}]", shown.join(", "))
}

/// A text in double quotes with JSON escapes, cut after [`SHOWN_CHARS`] characters.
fn quote(s: &str) -> String {
    Value::from(cut(s)).to_string()
}

/// `s` cut after [`SHOWN_CHARS`] characters, with `…` when it was longer.
fn cut(s: &str) -> String {
    if s.chars().count() <= SHOWN_CHARS {
        return s.to_string();
    }
    let mut c: String = s.chars().take(SHOWN_CHARS).collect();
    c.push('…');
    c
}

/// `30s`, `10m`, `1h`, `2d`: the largest unit that divides the seconds.
pub fn duration(secs: i64) -> String {
    for (unit, n) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs != 0 && secs % n == 0 {
            return format!("{}{unit}", secs / n);
        }
    }
    format!("{secs}s")
}

#[cfg(test)]
mod tests;
