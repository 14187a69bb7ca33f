//! `trailwatch rules`: what the loaded rules watch, as a table for people or for the docs.
//!
//! The coverage table in `rules/README.md` is this output, so the docs cannot drift from
//! the rules (a test compares them).

use super::Rule;
use std::fmt::Write;

/// One row per enabled rule (disabled ones are marked), in rule order.
pub struct Row {
    pub id: String,
    pub severity: String,
    /// `eventName` values, else `eventSource` values, else `*` (every event).
    pub events: String,
    pub attack: String,
    pub cis: String,
}

pub fn rows(rules: &[Rule]) -> Vec<Row> {
    rules
        .iter()
        .map(|r| {
            let (field, values) = r.index_keys();
            let events = match field {
                "*" => "*".to_string(),
                "eventSource" => format!("source: {}", values.join(", ")),
                _ => values.join(", "),
            };
            Row {
                id: if r.enabled {
                    r.id.clone()
                } else {
                    format!("{} (disabled)", r.id)
                },
                severity: r.severity.to_string(),
                events,
                attack: r.attack_techniques().join(", "),
                cis: r.cis_controls().join(", "),
            }
        })
        .collect()
}

/// A Markdown table.
pub fn markdown(rules: &[Rule]) -> String {
    let mut s =
        String::from("| rule | severity | events | ATT&CK | CIS |\n|---|---|---|---|---|\n");
    for r in rows(rules) {
        let _ = writeln!(
            s,
            "| `{}` | {} | {} | {} | {} |",
            r.id, r.severity, r.events, r.attack, r.cis
        );
    }
    s
}

/// Aligned columns for a terminal; the event list is cut to `width` characters.
pub fn text(rules: &[Rule], width: usize) -> String {
    let rows = rows(rules);
    let w =
        |f: fn(&Row) -> usize, head: &str| rows.iter().map(f).max().unwrap_or(0).max(head.len());
    let (wi, ws) = (
        w(|r| r.id.len(), "RULE"),
        w(|r| r.severity.len(), "SEVERITY"),
    );
    let (wa, wc) = (w(|r| r.attack.len(), "ATT&CK"), w(|r| r.cis.len(), "CIS"));
    let mut s = format!(
        "{:wi$}  {:ws$}  {:wa$}  {:wc$}  EVENTS\n",
        "RULE", "SEVERITY", "ATT&CK", "CIS"
    );
    for r in &rows {
        let events = if r.events.chars().count() > width {
            let cut: String = r.events.chars().take(width.saturating_sub(1)).collect();
            format!("{cut}…")
        } else {
            r.events.clone()
        };
        let _ = writeln!(
            s,
            "{:wi$}  {:ws$}  {:wa$}  {:wc$}  {events}",
            r.id, r.severity, r.attack, r.cis
        );
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleFile, RuleSet};

    fn set() -> RuleSet {
        let file = |path: &str, text: &str| RuleFile {
            path: path.into(),
            text: text.into(),
        };
        let (set, diags) = RuleSet::compile(
            &[
                file("a.yaml", "id: short\ntitle: t\nseverity: low\nmatch:\n  eventName: [Ab, Cd]\n"),
                file("b.yaml", "id: a-longer-id\ntitle: t\nseverity: critical\ntags: [attack.t1078]\nmatch:\n  eventSource: iam.amazonaws.com\n"),
            ],
            &[],
            &[],
            0,
        );
        assert!(diags.is_empty(), "{diags:?}");
        set.unwrap()
    }

    #[test]
    fn text_aligns_its_columns_and_cuts_only_event_lists_longer_than_the_width() {
        let text = text(set().rules(), 6);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "RULE         SEVERITY  ATT&CK  CIS  EVENTS",
                "short        low                    Ab, Cd",
                "a-longer-id  critical  T1078        sourc…",
            ]
        );
    }
}
