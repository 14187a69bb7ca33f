//! Rules: YAML files operators edit, checked with located errors, compiled once.
//!
//! `yaml` keeps positions, `spec` checks a rule file into a [`Rule`] (all problems at
//! once), `cond` compiles `match` trees into `matcher` operators, `index` makes sure an
//! event meets only the rules that can match its `eventSource`/`eventName`. `sigma` reads
//! Sigma rules into the same [`Rule`]s. `explain` says why a rule did or did not fire.

pub mod aws_api;
pub mod cond;
pub mod diag;
pub mod explain;
pub mod fields;
mod index;
pub mod listing;
mod load;
pub mod matcher;
pub mod samples;
mod sigma;
pub mod spec;
pub mod yaml;

#[cfg(test)]
mod tests;

pub use diag::{Diagnostic, Level};
pub use load::{bundled, read_dir, RuleDir, RuleFile};

use crate::event::Event;
use cond::Piece;
use matcher::{Cond, FieldRef};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;

/// Named lists from `lists.yaml` (trusted accounts, break-glass users, …).
pub type Lists = BTreeMap<String, Vec<String>>;

/// Splits `a, b,,c` into `["a", "b", "c"]`.
pub fn split_list(values: &str) -> Vec<String> {
    values
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// List replacements from the environment: `TRAILWATCH_LIST_TRUSTED_ACCOUNTS=1,2`
/// replaces the list `trusted_accounts`. The CLI and the Lambda read the same variables.
pub fn list_overrides_from_env() -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = std::env::vars()
        .filter_map(|(k, v)| {
            Some((
                k.strip_prefix("TRAILWATCH_LIST_")?.to_ascii_lowercase(),
                split_list(&v),
            ))
        })
        .collect();
    out.sort();
    out
}

/// MITRE ATT&CK technique ids in rule tags (`attack.t1562.008` → `T1562.008`); alerts
/// carry their rule's tags, so this reads either.
pub fn attack_techniques(tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter_map(|t| t.strip_prefix("attack.t"))
        .filter(|t| t.starts_with(|c: char| c.is_ascii_digit()))
        .map(|t| format!("T{}", t.to_ascii_uppercase()))
        .collect()
}

#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    pub const NAMES: &'static [&'static str] = &["info", "low", "medium", "high", "critical"];

    pub fn parse(s: &str) -> Option<Severity> {
        Some(match s {
            "info" => Severity::Info,
            "low" => Severity::Low,
            "medium" => Severity::Medium,
            "high" => Severity::High,
            "critical" => Severity::Critical,
            _ => return None,
        })
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Severity::NAMES[*self as usize])
    }
}

/// `count` events (or `distinct` values) within `window` seconds of event time, per group.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub count: usize,
    pub window: i64,
    pub group_by: Vec<FieldRef>,
    pub distinct: Option<FieldRef>,
    /// Steps that must happen within the window (the rule's condition is any step's).
    pub sequence: Option<Sequence>,
}

/// A sequence of steps within one window and group: a burst of failed sign-ins then a
/// success, or Sigma's `temporal` and `temporal_ordered` correlations.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub steps: Vec<Step>,
    /// Steps happen one after another in event time.
    pub ordered: bool,
    /// How many steps must happen (all, for an ordered sequence).
    pub need: usize,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub name: String,
    pub cond: Cond,
    /// Events the step needs.
    pub count: usize,
}

impl Sequence {
    /// The first step `e` belongs to.
    pub fn step_of(&self, e: &Event) -> Option<usize> {
        self.steps.iter().position(|s| s.cond.matches(e))
    }

    /// The fewest events that can meet the sequence.
    pub fn min_events(&self) -> usize {
        let mut counts: Vec<usize> = self.steps.iter().map(|s| s.count).collect();
        counts.sort_unstable();
        counts.iter().take(self.need).sum()
    }
}

/// One alert per key (per `cooldown` seconds of event time, if given).
#[derive(Debug, Clone)]
pub struct Dedup {
    pub key: Vec<FieldRef>,
    pub cooldown: Option<i64>,
}

#[derive(Debug, Clone)]
pub struct Suppression {
    pub cond: Cond,
    pub reason: String,
    pub owner: String,
    /// Unix seconds after which it no longer applies.
    pub expires: i64,
}

#[derive(Debug, Clone)]
pub struct RuleTest {
    pub name: String,
    pub pos: yaml::Pos,
    /// Named lists this test replaces (`lists:`), e.g. a trusted account.
    pub lists: Vec<(String, Vec<String>)>,
    /// The rule's condition and suppressions compiled with those lists.
    pub variant: Option<Box<(Cond, Vec<Suppression>)>>,
    pub events: Vec<serde_json::Value>,
    /// How many alerts.
    pub expect: usize,
    /// The severity every alert has, when the test says.
    pub expect_severity: Option<Severity>,
    /// Text every alert's title contains, when the test says.
    pub expect_title: Option<String>,
}

/// What a rule does with a call that failed (`errorCode`, a failed sign-in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnFailure {
    /// Alert as on success; the title says it failed.
    Alert,
    /// Only successful calls match.
    Ignore,
    /// Alert at this severity instead of the rule's.
    Severity(Severity),
}

/// A checked, compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub file: String,
    pub title: Vec<Piece>,
    pub severity: Severity,
    pub description: String,
    pub runbook: Option<String>,
    pub references: Vec<String>,
    pub tags: Vec<String>,
    /// Known false positives (Sigma's `falsepositives`), copied into alerts.
    pub falsepositives: Vec<String>,
    pub enabled: bool,
    pub cond: Cond,
    pub on_failure: OnFailure,
    /// The title shows `errorCode`/`errorMessage` itself, so no "(failed: …)" is added.
    pub title_shows_outcome: bool,
    pub threshold: Option<Threshold>,
    pub dedup: Option<Dedup>,
    pub suppressions: Vec<Suppression>,
    pub tests: Vec<RuleTest>,
}

impl Rule {
    /// Whether the rule matches `e` (its condition, and its choice about failed calls).
    pub fn matches(&self, e: &Event) -> bool {
        self.cond.matches(e) && !(self.on_failure == OnFailure::Ignore && e.failure().is_some())
    }

    /// The alert's severity for an alert triggered by `e`.
    pub fn severity_for(&self, e: &Event) -> Severity {
        match (self.on_failure, e.failure()) {
            (OnFailure::Severity(s), Some(_)) => s,
            _ => self.severity,
        }
    }

    /// Renders the title template against an event; a failed call's title says so.
    pub fn render_title(&self, e: &Event, count: usize) -> String {
        let mut out = self.render_template(e, count);
        if let (false, Some(f)) = (self.title_shows_outcome, e.failure()) {
            out.push_str(" (failed: ");
            out.push_str(f.label());
            out.push(')');
        }
        out
    }

    fn render_template(&self, e: &Event, count: usize) -> String {
        let mut out = String::new();
        for p in &self.title {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Count => out.push_str(&count.to_string()),
                Piece::Field(alts, default) => match alts.iter().find_map(|f| f.shown_joined(e)) {
                    Some(v) => out.push_str(&v),
                    None => out.push_str(default.as_deref().unwrap_or("?")),
                },
            }
        }
        out
    }

    /// What the rule is indexed on (see [`index::keys`]).
    pub fn index_keys(&self) -> (&'static str, Vec<String>) {
        index::keys(self)
    }

    /// Whether the index compares [`Rule::index_keys`] ignoring case (Sigma rules).
    pub fn index_ignores_case(&self) -> bool {
        index::keys_folded(self).2
    }

    /// MITRE ATT&CK technique ids from the tags (`attack.t1562.008` → `T1562.008`).
    pub fn attack_techniques(&self) -> Vec<String> {
        attack_techniques(&self.tags)
    }

    /// CIS AWS Foundations controls from the tags: `securityhub.cloudwatch.5` →
    /// `CloudWatch.5`, `cis.4.5` → `CIS 4.5`.
    pub fn cis_controls(&self) -> Vec<String> {
        let mut out = Vec::new();
        for t in &self.tags {
            if let Some(n) = t.strip_prefix("securityhub.cloudwatch.") {
                out.push(format!("CloudWatch.{n}"));
            } else if let Some(n) = t.strip_prefix("cis.") {
                out.push(format!("CIS {n}"));
            }
        }
        out
    }

    /// The suppression that covers this event, if any.
    pub fn suppressed_by(&self, e: &Event) -> Option<&Suppression> {
        self.suppressions.iter().find(|s| s.cond.matches(e))
    }
}

/// What a rule said about an event.
#[derive(Debug)]
pub enum Verdict<'r> {
    Hit(&'r Rule),
    Suppressed(&'r Rule, &'r Suppression),
}

/// All compiled rules and their index.
#[derive(Debug)]
pub struct RuleSet {
    rules: Vec<Rule>,
    index: index::Index,
    gate: Option<std::sync::Arc<crate::source::skip::Gate>>,
    aliases: crate::aliases::AccountAliases,
}

impl RuleSet {
    /// Disabled rules are kept (their tests still run) but never indexed.
    pub fn new(rules: Vec<Rule>) -> RuleSet {
        let index = index::Index::build(&rules);
        let gate = index.gate(&rules).map(std::sync::Arc::new);
        RuleSet {
            rules,
            index,
            gate,
            aliases: Default::default(),
        }
    }

    /// The set with these account aliases (the list `account_aliases`), which name the
    /// accounts of its alerts.
    pub fn with_aliases(mut self, aliases: crate::aliases::AccountAliases) -> RuleSet {
        self.aliases = aliases;
        self
    }

    pub fn aliases(&self) -> &crate::aliases::AccountAliases {
        &self.aliases
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The rule with this id.
    pub fn rule(&self, id: &str) -> Option<&Rule> {
        self.rules.iter().find(|r| r.id == id)
    }

    /// Indices of the rules that can match `e`, in rule order.
    pub fn candidates(&self, e: &Event) -> Vec<usize> {
        self.index.candidates(e)
    }

    /// Evaluates `e` against its candidate rules.
    pub fn evaluate<'r>(&'r self, e: &Event, out: &mut Vec<(usize, Verdict<'r>)>) {
        self.index.for_each_candidate(e, &mut |i| {
            let rule = &self.rules[i];
            if rule.matches(e) {
                out.push((
                    i,
                    match rule.suppressed_by(e) {
                        Some(s) => Verdict::Suppressed(rule, s),
                        None => Verdict::Hit(rule),
                    },
                ));
            }
        });
    }

    /// Which records some enabled rule may match, decided from a few fields without
    /// parsing the record (`source::skip`); `None` when that cannot be decided so.
    pub fn gate(&self) -> Option<std::sync::Arc<crate::source::skip::Gate>> {
        self.gate.clone()
    }

    /// The fields any enabled rule can read (match, suppressions, thresholds, keys,
    /// titles): decoding keeps only these (see `source::prune`).
    pub fn keep(&self) -> crate::source::prune::Keep {
        let mut refs: Vec<&FieldRef> = Vec::new();
        for r in self.rules.iter().filter(|r| r.enabled) {
            r.cond.field_refs(&mut refs);
            for s in &r.suppressions {
                s.cond.field_refs(&mut refs);
            }
            if let Some(t) = &r.threshold {
                refs.extend(&t.group_by);
                refs.extend(&t.distinct);
            }
            if let Some(d) = &r.dedup {
                refs.extend(&d.key);
            }
            for p in &r.title {
                if let Piece::Field(alts, _) = p {
                    refs.extend(alts);
                }
            }
        }
        crate::source::prune::Keep::of(refs.into_iter().flat_map(FieldRef::paths))
    }

    /// Compiles rule and list files. Returns the set (if there were no errors) and every
    /// diagnostic, errors and warnings, sorted by file and position.
    pub fn compile(
        rules: &[RuleFile],
        lists: &[RuleFile],
        overrides: &[(String, Vec<String>)],
        now: i64,
    ) -> (Option<RuleSet>, Vec<Diagnostic>) {
        load::compile(rules, lists, Some(&[]), overrides, now)
    }

    /// Compiles what rule directories hold (rules, lists, samples), as [`RuleSet::compile`];
    /// files that could not be read count as errors.
    pub fn compile_dir(
        dir: &RuleDir,
        overrides: &[(String, Vec<String>)],
        now: i64,
    ) -> (Option<RuleSet>, Vec<Diagnostic>) {
        Self::compile_dir_as(dir, overrides, now, true)
    }

    /// [`RuleSet::compile_dir`] without the rules' tests (nor the samples they use): what
    /// a process that only evaluates events needs (`scan`, the Lambda), at less cost.
    pub fn compile_dir_to_run(
        dir: &RuleDir,
        overrides: &[(String, Vec<String>)],
        now: i64,
    ) -> (Option<RuleSet>, Vec<Diagnostic>) {
        Self::compile_dir_as(dir, overrides, now, false)
    }

    fn compile_dir_as(
        dir: &RuleDir,
        overrides: &[(String, Vec<String>)],
        now: i64,
        tests: bool,
    ) -> (Option<RuleSet>, Vec<Diagnostic>) {
        let samples = tests.then_some(&dir.samples[..]);
        let (set, mut diags) = load::compile(&dir.rules, &dir.lists, samples, overrides, now);
        if dir.problems.is_empty() {
            return (set, diags);
        }
        diags.extend(dir.problems.iter().cloned());
        diags.sort();
        (None, diags)
    }
}
