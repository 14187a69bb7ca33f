//! Every complete rule in `rules/README.md` (a fenced block tagged ```` ```yaml rule ````)
//! must compile without errors or warnings against `rules/lists.yaml`, and its `tests:`
//! must pass, so the documentation's examples work when copied. The `validate` example's
//! output shown in the README must be what `validate` prints for it.

use std::path::Path;
use trailwatch::rules::{self, Level, RuleFile, RuleSet};

/// The README has at least this many complete rules; fewer means the extraction broke.
const MIN_BLOCKS: usize = 5;

/// A fixed "now" (2026-11-24T00:00:00Z) so the suppression dates in the examples, which
/// are illustrations, do not turn this test red the day they pass.
const NOW: i64 = 1_795_478_400;

/// `(line of the opening fence, text)` of every ```` ```yaml rule ```` block.
fn rule_blocks(markdown: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut current: Option<(usize, String)> = None;
    for (i, line) in markdown.lines().enumerate() {
        match current.as_mut() {
            None => {
                if line.trim_end() == "```yaml rule" {
                    current = Some((i + 1, String::new()));
                } else {
                    assert!(
                        !line.trim_start().starts_with("```yaml rule"),
                        "rules/README.md:{}: a rule block must open with exactly ```yaml rule",
                        i + 1
                    );
                }
            }
            Some((_, text)) => {
                if line.trim_end() == "```" {
                    out.extend(current.take());
                } else {
                    text.push_str(line);
                    text.push('\n');
                }
            }
        }
    }
    assert!(
        current.is_none(),
        "rules/README.md: unclosed ```yaml rule block"
    );
    out
}

#[test]
fn readme_rule_examples_compile_and_their_tests_pass() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("rules/README.md")).expect("rules/README.md");
    let bundled = rules::read_dir(&root.join("rules")).expect("read rules/");
    assert!(!bundled.lists.is_empty(), "rules/lists.yaml not found");

    let blocks = rule_blocks(&readme);
    assert!(
        blocks.len() >= MIN_BLOCKS,
        "found {} ```yaml rule blocks in rules/README.md, expected at least {MIN_BLOCKS}",
        blocks.len()
    );

    let mut problems = Vec::new();
    let mut cases = 0;
    for (line, text) in &blocks {
        // Positions inside a block, shifted to lines of the README itself.
        let at = |block_line: usize| format!("rules/README.md:{}", line + block_line);
        // Each example alone, with the bundled lists and samples.
        let dir = rules::RuleDir {
            rules: vec![RuleFile {
                path: "rules/README.md".to_string(),
                text: text.clone(),
            }],
            lists: bundled.lists.clone(),
            samples: bundled.samples.clone(),
            problems: Vec::new(),
        };
        let (set, diags) = RuleSet::compile_dir(&dir, &[], NOW);
        // Warnings count too: an expired suppression means the example no longer works.
        for d in &diags {
            let level = if d.level == Level::Error {
                ""
            } else {
                "warning: "
            };
            problems.push(format!(
                "{}:{}: {level}{}",
                at(d.pos.line),
                d.pos.col,
                d.message
            ));
        }
        let Some(set) = set else {
            problems.push(format!("{}: the rule does not compile", at(1)));
            continue;
        };
        let rules = set.rules();
        if rules.len() != 1 {
            problems.push(format!(
                "{}: expected one enabled rule, got {}",
                at(1),
                rules.len()
            ));
            continue;
        }
        if rules[0].tests.is_empty() {
            problems.push(format!("{}: rule '{}' has no tests", at(1), rules[0].id));
        }
        for r in trailwatch::testing::run_all(rules) {
            cases += 1;
            if let Some(why) = r.failure {
                problems.push(format!(
                    "{}: {} :: {}: {why}",
                    at(r.line),
                    r.rule_id,
                    r.name
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "{} problem(s) in rules/README.md examples:\n{}",
        problems.len(),
        problems.join("\n")
    );
    assert!(cases >= MIN_BLOCKS, "only {cases} test cases ran");
}

#[test]
fn extraction_finds_exactly_the_tagged_blocks() {
    let md =
        "text\n```yaml\nnot: a rule\n```\n```yaml rule\nid: a\n```\n\n```yaml rule\nid: b\n```\n";
    let blocks = rule_blocks(md);
    assert_eq!(
        blocks,
        vec![(5, "id: a\n".to_string()), (9, "id: b\n".to_string())]
    );
}

/// The text of the first fenced block opened by `fence` after `from` in `markdown`.
fn block_after<'a>(markdown: &'a str, from: &str, fence: &str) -> &'a str {
    let start = markdown
        .find(from)
        .unwrap_or_else(|| panic!("{from:?} not found"));
    let rest = &markdown[start..];
    let open = rest
        .find(&format!("\n{fence}\n"))
        .unwrap_or_else(|| panic!("no {fence} block after {from:?}"))
        + fence.len()
        + 2;
    let close = rest[open..].find("\n```\n").expect("closing fence") + 1;
    &rest[open..open + close]
}

#[test]
fn readme_validate_example_shows_the_real_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("rules/README.md")).expect("rules/README.md");
    let lists = rules::read_dir(&root.join("rules"))
        .expect("read rules/")
        .lists;
    let section = "## `validate`";
    let rule = block_after(&readme, section, "```yaml");
    let shown = block_after(&readme, section, "```text");
    let file = RuleFile {
        path: "rules/signin/root-login.yaml".into(),
        text: rule.to_string(),
    };
    let (set, diags) = RuleSet::compile(&[file], &lists, &[], NOW);
    assert!(set.is_none(), "the validate example must have errors");
    let errors = diags.iter().filter(|d| d.level == Level::Error).count();
    let mut actual: String = diags.iter().map(|d| format!("{d}\n")).collect();
    actual.push_str(&format!(
        "{errors} error(s), {} warning(s)\n",
        diags.len() - errors
    ));
    assert_eq!(
        shown, actual,
        "rules/README.md: the `validate` output shown differs from what validate prints"
    );
}

#[test]
fn readme_request_parameters_example_shows_the_real_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("rules/README.md")).expect("rules/README.md");
    let section = "### `requestParameters` and the AWS APIs";
    let file = RuleFile {
        path: "rules/iam/access-key-for-admin.yaml".into(),
        text: block_after(&readme, section, "```yaml").to_string(),
    };
    let (set, diags) = RuleSet::compile(&[file], &[], &[], NOW);
    let set = set.expect("the example compiles: its problems are warnings");
    let mut actual: String = diags.iter().map(|d| format!("{d}\n")).collect();
    actual.push_str(&format!(
        "{} rule(s) OK, {} warning(s)\n",
        set.rules().len(),
        diags.len()
    ));
    assert_eq!(
        block_after(&readme, section, "```text"),
        actual,
        "rules/README.md: the request parameters example differs from what validate prints"
    );
}
