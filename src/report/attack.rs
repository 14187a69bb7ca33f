//! What the loaded rules cover of MITRE ATT&CK, grouped by tactic, and what fired.
//!
//! Rules say it in their tags: `attack.<tactic>` (Sigma spells it with `_`) and
//! `attack.tNNNN[.NNN]`. A technique is listed under every tactic its rule names, since
//! ATT&CK itself puts one technique under several tactics and the rule is the only
//! authority on which one it means; a technique in a rule without a tactic tag goes under
//! [`NO_TACTIC`]. Only enabled rules cover anything.

use crate::alert::Alert;
use crate::rules::{attack_techniques, Rule};
use std::collections::{BTreeMap, BTreeSet};

/// Enterprise tactics in ATT&CK's order (with v18's Stealth and Defense Impairment beside
/// Defense Evasion, which Sigma rules already use). Other tactic names follow, sorted.
pub const TACTICS: &[&str] = &[
    "reconnaissance",
    "resource-development",
    "initial-access",
    "execution",
    "persistence",
    "privilege-escalation",
    "defense-evasion",
    "stealth",
    "defense-impairment",
    "credential-access",
    "discovery",
    "lateral-movement",
    "collection",
    "command-and-control",
    "exfiltration",
    "impact",
];

/// The group of techniques whose rules name no tactic.
pub const NO_TACTIC: &str = "";

/// A technique the rules cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Technique {
    /// `T1562.008`.
    pub id: String,
    /// The enabled rules tagged with it, sorted.
    pub rules: Vec<String>,
    /// Alerts of this run whose tags name it.
    pub alerts: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Tactic {
    /// `defense-evasion`, or [`NO_TACTIC`].
    pub name: String,
    /// Enabled rules that name this tactic (with or without a technique).
    pub rules: usize,
    /// Sorted by id.
    pub techniques: Vec<Technique>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Coverage {
    pub tactics: Vec<Tactic>,
    /// Distinct technique ids the enabled rules cover.
    pub techniques: usize,
    /// Of those, how many some alert of the run names.
    pub fired: usize,
    /// Enabled rules with at least one technique.
    pub rules: usize,
}

/// The tactic a tag names (`attack.defense_evasion` → `defense-evasion`), if it names one
/// rather than a technique (`attack.t1078`), group (`attack.g0016`) or software.
pub fn tactic_of(tag: &str) -> Option<String> {
    let name = tag
        .strip_prefix("attack.")?
        .to_ascii_lowercase()
        .replace('_', "-");
    let letters = name.bytes().take_while(u8::is_ascii_alphabetic).count();
    let is_id =
        (1..=2).contains(&letters) && name[letters..].starts_with(|c: char| c.is_ascii_digit());
    let word = !name.is_empty()
        && name.bytes().all(|b| b.is_ascii_lowercase() || b == b'-')
        && !name.starts_with('-');
    (word && !is_id).then_some(name)
}

/// The coverage of `rules` and which of its techniques `alerts` name.
pub fn coverage(rules: &[Rule], alerts: &[Alert]) -> Coverage {
    let mut by_technique: BTreeMap<String, BTreeSet<&str>> = BTreeMap::new();
    // tactic → (rules naming it, techniques under it)
    let mut by_tactic: BTreeMap<String, (BTreeSet<&str>, BTreeSet<String>)> = BTreeMap::new();
    let mut with_technique = 0;
    for r in rules.iter().filter(|r| r.enabled) {
        let techniques: BTreeSet<String> = attack_techniques(&r.tags).into_iter().collect();
        let mut tactics: BTreeSet<String> = r.tags.iter().filter_map(|t| tactic_of(t)).collect();
        if !techniques.is_empty() {
            with_technique += 1;
            if tactics.is_empty() {
                tactics.insert(NO_TACTIC.to_string());
            }
        }
        for t in &techniques {
            by_technique.entry(t.clone()).or_default().insert(&r.id);
        }
        for tactic in tactics {
            let entry = by_tactic.entry(tactic).or_default();
            entry.0.insert(&r.id);
            entry.1.extend(techniques.iter().cloned());
        }
    }
    let mut fired: BTreeMap<String, usize> = BTreeMap::new();
    for a in alerts {
        let ids: BTreeSet<String> = attack_techniques(&a.tags).into_iter().collect();
        for id in ids {
            *fired.entry(id).or_default() += 1;
        }
    }
    let technique = |id: &String| Technique {
        id: id.clone(),
        rules: by_technique
            .get(id)
            .map(|r| r.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        alerts: fired.get(id).copied().unwrap_or(0),
    };
    let rank = |name: &str| match TACTICS.iter().position(|t| *t == name) {
        Some(i) => (0, i),
        None if name == NO_TACTIC => (2, 0),
        None => (1, 0),
    };
    let mut tactics: Vec<Tactic> = by_tactic
        .into_iter()
        .map(|(name, (rules, techniques))| Tactic {
            rules: rules.len(),
            techniques: techniques.iter().map(technique).collect(),
            name,
        })
        .collect();
    tactics.sort_by(|a, b| rank(&a.name).cmp(&rank(&b.name)).then(a.name.cmp(&b.name)));
    Coverage {
        techniques: by_technique.len(),
        fired: by_technique
            .keys()
            .filter(|t| fired.contains_key(*t))
            .count(),
        rules: with_technique,
        tactics,
    }
}

/// `defense-evasion` → `Defense Evasion`, `command-and-control` → `Command and Control`.
pub fn tactic_title(name: &str) -> String {
    if name == NO_TACTIC {
        return "(no tactic tag)".to_string();
    }
    name.split('-')
        .map(|w| {
            let mut c = w.chars();
            match c.next() {
                _ if w == "and" => w.to_string(),
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rules::{RuleFile, RuleSet};

    pub(crate) fn rules(specs: &[(&str, &str, bool)]) -> RuleSet {
        let files: Vec<RuleFile> = specs
            .iter()
            .map(|(id, tags, enabled)| RuleFile {
                path: format!("{id}.yaml"),
                text: format!(
                    "id: {id}\ntitle: t\nseverity: low\nenabled: {enabled}\ntags: [{tags}]\nmatch:\n  eventName: {id}\n"
                ),
            })
            .collect();
        let (set, diags) = RuleSet::compile(&files, &[], &[], 0);
        set.unwrap_or_else(|| panic!("{diags:?}"))
    }

    #[test]
    fn tactic_tags_are_told_from_ids() {
        assert_eq!(
            tactic_of("attack.defense_evasion").as_deref(),
            Some("defense-evasion")
        );
        assert_eq!(
            tactic_of("attack.Initial-Access").as_deref(),
            Some("initial-access")
        );
        for not in [
            "attack.t1078",
            "attack.t1562.008",
            "attack.g0016",
            "attack.s0002",
            "attack.ta0005",
            "attack.",
            "cis.4.5",
            "attack.mitre.org",
        ] {
            assert_eq!(tactic_of(not), None, "{not}");
        }
    }

    #[test]
    fn techniques_group_under_their_rules_tactics_and_disabled_rules_cover_nothing() {
        let set = rules(&[
            ("a", "attack.defense_evasion, attack.t1562.008", true),
            (
                "b",
                "attack.defense-evasion, attack.persistence, attack.t1562.008, attack.t1098",
                true,
            ),
            ("c", "attack.t1530", true),
            ("d", "attack.impact", true),
            ("off", "attack.exfiltration, attack.t1537", false),
        ]);
        let c = coverage(set.rules(), &[]);
        let names: Vec<&str> = c.tactics.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(
            names,
            ["persistence", "defense-evasion", "impact", NO_TACTIC]
        );
        assert_eq!((c.techniques, c.rules, c.fired), (3, 3, 0));
        let evasion = &c.tactics[1];
        assert_eq!(evasion.rules, 2);
        let ids: Vec<(&str, usize)> = evasion
            .techniques
            .iter()
            .map(|t| (t.id.as_str(), t.rules.len()))
            .collect();
        assert_eq!(ids, [("T1098", 1), ("T1562.008", 2)]);
        assert!(
            c.tactics[2].techniques.is_empty(),
            "impact: a rule, no technique"
        );
        assert_eq!(c.tactics[3].techniques[0].rules, ["c"]);
    }

    #[test]
    fn fired_techniques_come_from_the_alerts_tags() {
        let set = rules(&[("a", "attack.t1562.008, attack.t1098", true)]);
        let event = crate::event::Event::from_value(serde_json::json!({"eventName": "a"})).unwrap();
        let alert = Alert::new(&set.rules()[0], &event, 1, 0);
        let mut other = alert.clone();
        other.tags = vec!["attack.t1562.008".into(), "attack.t9999".into()];
        let c = coverage(set.rules(), &[alert, other]);
        assert_eq!(c.fired, 2, "T9999 is not covered, so not counted");
        let alerts: Vec<usize> = c.tactics[0].techniques.iter().map(|t| t.alerts).collect();
        assert_eq!(alerts, [1, 2]);
    }

    #[test]
    fn tactic_titles() {
        assert_eq!(tactic_title("command-and-control"), "Command and Control");
        assert_eq!(tactic_title("defense-evasion"), "Defense Evasion");
        assert_eq!(tactic_title(NO_TACTIC), "(no tactic tag)");
    }
}
