//! Sigma rules, run natively: a Sigma file in a rules folder becomes ordinary [`Rule`]s,
//! evaluated by the same compiled matcher and index as native rules, with thresholds,
//! state and SNS output.
//!
//! Sigma is how detection engineers share rules (SigmaHQ keeps the CloudTrail ones), so
//! operators can drop them in unchanged instead of translating them by hand. `detection`
//! compiles in [`detection`], its `condition` in [`condition`]; correlation rules become
//! thresholds or sequences in [`correlation`] once every file is read, since they may name
//! rules of other files. Rules for other log sources are skipped with a warning.

mod condition;
mod correlation;
mod detection;

pub use correlation::{resolve, Pending};

use super::cond::Piece;
use super::diag::{did_you_mean, Diags};
use super::samples::Samples;
use super::spec;
use super::yaml::{Node, Pos, Scalar};
use super::{Lists, OnFailure, Rule, RuleTest, Severity};

/// Keys of a Sigma rule or correlation (the specification's, and trailwatch's `tests` and
/// `runbook`). Other keys are custom attributes, allowed by Sigma and ignored.
const KEYS: &[&str] = &[
    "title",
    "id",
    "name",
    "related",
    "status",
    "description",
    "references",
    "author",
    "date",
    "modified",
    "tags",
    "logsource",
    "detection",
    "correlation",
    "fields",
    "falsepositives",
    "level",
    "license",
    "taxonomy",
    "scope",
    "tests",
    "runbook",
];

/// Whether a file's documents are Sigma: a mapping with `detection` or `correlation`.
pub fn is_sigma(docs: &[Node]) -> bool {
    docs.iter().any(|d| {
        d.as_map().is_some_and(|m| {
            m.iter()
                .any(|(k, _)| matches!(k.text(), Some("detection" | "correlation")))
        })
    })
}

/// The rules of one Sigma file, and its correlations (resolved after every file is read).
#[derive(Default)]
pub struct Loaded {
    /// Each rule with its Sigma `name` and the position of its id.
    pub rules: Vec<(Rule, Option<String>, Pos)>,
    pub correlations: Vec<Pending>,
}

/// What the rule and correlation documents share.
#[derive(Debug, Clone)]
struct Meta {
    id: String,
    id_pos: Pos,
    name: Option<String>,
    title: String,
    severity: Severity,
    description: String,
    runbook: Option<String>,
    references: Vec<String>,
    tags: Vec<String>,
    falsepositives: Vec<String>,
    tests: Vec<RuleTest>,
}

/// Reads the documents of a Sigma file.
pub fn read(
    docs: &[Node],
    file: &str,
    lists: &Lists,
    samples: Option<&Samples>,
    diags: &mut Diags,
) -> Loaded {
    let mut out = Loaded::default();
    for doc in docs {
        let Some(entries) = doc.as_map() else {
            diags.error(
                doc.pos,
                format!(
                    "a Sigma document must be a mapping, found {}",
                    doc.kind_name()
                ),
            );
            continue;
        };
        let get = |key: &str| entries.iter().find(|(k, _)| k.text() == Some(key));
        for (k, _) in entries {
            let key = k.text().unwrap_or_default();
            let hint = did_you_mean(key, KEYS.iter().copied());
            if !KEYS.contains(&key) && !hint.is_empty() {
                diags.warn(
                    k.pos,
                    format!(
                        "unknown key '{key}' in a Sigma rule{hint} (ignored as a custom attribute)"
                    ),
                );
            }
        }
        if let Some((k, _)) = get("action") {
            diags.error(
                k.pos,
                "'action' (Sigma 1 rule collections) is not supported: write each rule out in full",
            );
            continue;
        }
        let before = diags.list.len();
        let reads_before = diags.reads.len();
        let is_rule = get("detection").is_some() && get("correlation").is_none();
        if is_rule && !cloudtrail(doc, get("logsource").map(|(_, v)| v), diags) {
            continue;
        }
        let meta = meta(doc, entries, lists, samples, diags);
        match (get("detection"), get("correlation")) {
            (Some(_), Some((k, _))) => diags.error(
                k.pos,
                "a document holds either a detection or a correlation, not both",
            ),
            (Some((_, det)), None) => {
                let cond = detection::compile(det, diags);
                let failed = diags.list[before..]
                    .iter()
                    .any(|d| d.level == super::Level::Error);
                if let (Some(meta), Some(cond), false) = (meta, cond, failed) {
                    let name = meta.name.clone();
                    let pos = meta.id_pos;
                    let rule = rule(meta, file, cond);
                    // With samples, the rule is being checked (`validate`, `test`).
                    let reads: Vec<_> = diags.reads.drain(reads_before..).collect();
                    if samples.is_some() {
                        super::aws_api::check_rule(&rule, &reads, diags);
                    }
                    out.rules.push((rule, name, pos));
                }
            }
            (None, Some((_, c))) => {
                if let (Some(p), Some(meta)) = (correlation::read(c, doc.pos, diags), meta) {
                    out.correlations.push(p.with(meta, file));
                }
            }
            (None, None) => diags.error(
                doc.pos,
                "a Sigma document needs a 'detection' (or a 'correlation')",
            ),
        }
    }
    out
}

/// Whether `logsource` is CloudTrail's; a warning (the rule is skipped) if not.
fn cloudtrail(doc: &Node, logsource: Option<&Node>, diags: &mut Diags) -> bool {
    let Some(ls) = logsource else {
        diags.error(
            doc.pos,
            "the rule is missing 'logsource' (for CloudTrail: {product: aws, service: cloudtrail})",
        );
        return false;
    };
    let field = |key: &str| {
        ls.as_map()
            .and_then(|m| m.iter().find(|(k, _)| k.text() == Some(key)))
            .and_then(|(_, v)| v.text())
            .map(str::to_ascii_lowercase)
    };
    let (product, service) = (field("product"), field("service"));
    if product.as_deref() == Some("aws") && service.as_deref() == Some("cloudtrail") {
        return true;
    }
    diags.warn(
        ls.pos,
        format!(
            "skipped: logsource is product {}, service {}; trailwatch runs rules for {{product: aws, service: cloudtrail}}",
            product.as_deref().unwrap_or("(none)"),
            service.as_deref().unwrap_or("(none)")
        ),
    );
    false
}

fn meta(
    doc: &Node,
    entries: &[(Node, Node)],
    lists: &Lists,
    samples: Option<&Samples>,
    diags: &mut Diags,
) -> Option<Meta> {
    let get = |key: &str| {
        entries
            .iter()
            .find(|(k, _)| k.text() == Some(key))
            .map(|(_, v)| v)
    };
    let title = match get("title") {
        Some(n) => spec::text(n, "title", diags),
        None => {
            diags.error(doc.pos, "the Sigma rule is missing required key 'title'");
            None
        }
    };
    let name = get("name").and_then(|n| spec::text(n, "name", diags));
    let id = match (get("id"), &name) {
        (Some(n), _) => spec::text(n, "id", diags).map(|id| (id, n.pos)),
        (None, Some(name)) => Some((name.clone(), doc.pos)),
        (None, None) => {
            diags.error(
                doc.pos,
                "the Sigma rule needs an 'id' (a UUID) or a 'name': alerts carry it as rule_id",
            );
            None
        }
    };
    let severity = match get("level") {
        None => {
            diags.warn(
                doc.pos,
                "no 'level': alerts from this rule have severity medium",
            );
            Some(Severity::Medium)
        }
        Some(n) => {
            let level = n.text().unwrap_or_default();
            let sev = match level {
                "informational" => Some(Severity::Info),
                l => Severity::parse(l),
            };
            if sev.is_none() {
                diags.error(
                    n.pos,
                    format!(
                        "unknown level '{level}'{}; Sigma levels are informational, low, medium, high and critical",
                        did_you_mean(level, ["informational", "low", "medium", "high", "critical"])
                    ),
                );
            }
            sev
        }
    };
    let list = |key: &str, diags: &mut Diags| {
        get(key)
            .filter(|n| n.scalar() != Some(Scalar::Null))
            .map(|n| spec::text_list(n, key, diags))
            .unwrap_or_default()
    };
    let references = list("references", diags);
    let tags = list("tags", diags);
    let falsepositives = list("falsepositives", diags);
    let description = get("description")
        .and_then(|n| spec::text(n, "description", diags))
        .unwrap_or_default();
    let runbook = get("runbook").and_then(|n| spec::text(n, "runbook", diags));
    let tests = match (get("tests"), samples) {
        (Some(n), Some(samples)) => spec::tests(n, lists, samples, diags),
        _ => Vec::new(),
    };
    for t in tests.iter().filter(|t| !t.lists.is_empty()) {
        diags.error(
            t.pos,
            "a Sigma rule's test cannot set lists (Sigma rules use none)",
        );
    }
    let (id, id_pos) = id?;
    Some(Meta {
        id,
        id_pos,
        name,
        title: title?,
        severity: severity?,
        description,
        runbook,
        references,
        tags,
        falsepositives,
        tests,
    })
}

fn rule(meta: Meta, file: &str, cond: super::matcher::Cond) -> Rule {
    let title = vec![Piece::Text(meta.title)];
    Rule {
        id: meta.id,
        file: file.to_string(),
        title_shows_outcome: spec::shows_outcome(&title),
        title,
        severity: meta.severity,
        description: meta.description,
        runbook: meta.runbook,
        references: meta.references,
        tags: meta.tags,
        falsepositives: meta.falsepositives,
        enabled: true,
        cond,
        on_failure: OnFailure::Alert,
        threshold: None,
        dedup: None,
        suppressions: Vec::new(),
        tests: meta.tests,
    }
}

#[cfg(test)]
mod tests;
