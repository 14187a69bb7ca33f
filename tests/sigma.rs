//! Sigma rules against the reference engine: pySigma converts each rule to SQLite SQL
//! (`scripts/sigma_reference.py`, pinned in requirements-dev.txt) and runs it over the
//! shared real trails; trailwatch evaluates the same rules on the same files through its
//! index. The matching eventIDs must be the same, rule by rule and trail by trail. A rule
//! pySigma cannot convert is listed in `REFERENCE_ERRORS` with the reason; a difference
//! that is a known, documented choice in `EXPLAINED`.

use serde_json::Value;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use trailwatch::rules::{self, Level, RuleSet, Verdict};
use trailwatch::source::{decode, Item, Limits};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The trails both engines read: every shared corpus of real CloudTrail records.
const TRAILS: &[&str] = &[
    "tests/corpora/awsdocs-examples/awsdocs_examples.Records.json",
    "tests/corpora/invictus-ir_aws_dataset/CloudTrail",
    "tests/corpora/stratus-red-team_detonation-logs/stratus_all.Records.json",
    "tests/corpora/OTRF_Security-Datasets/ec2_proxy_s3_exfiltration.Records.json",
];

/// Rules (file name) pySigma's SQLite backend cannot run, and why: their constructs are
/// checked against trailwatch's own expectations in the rules' `tests` instead.
const REFERENCE_ERRORS: &[(&str, &str)] = &[
    (
        "keywords.yml",
        "the SQLite backend has no full-text search for keywords",
    ),
    (
        "correlation_failed_logins.yml",
        "the reference runs single-event rules only",
    ),
];

/// Differences that are documented choices, (rule file, trail, why).
const EXPLAINED: &[(&str, &str, &str)] = &[];

/// `TRAILWATCH_PYTHON` when set (a copy of the tree without `.venv`, as cargo-mutants
/// makes), else the project's venv, else `python3`.
fn python() -> PathBuf {
    if let Some(p) = std::env::var_os("TRAILWATCH_PYTHON") {
        return p.into();
    }
    let venv = root().join(".venv/bin/python3");
    if venv.exists() {
        venv
    } else {
        "python3".into()
    }
}

/// pySigma's matches: rule file → trail → eventIDs.
fn reference(rules_dir: &str, trails: &[&str]) -> BTreeMap<String, Value> {
    let out = tempfile::NamedTempFile::new().unwrap();
    let run = Command::new(python())
        .current_dir(root())
        .arg("scripts/sigma_reference.py")
        .arg(rules_dir)
        .arg(out.path())
        .args(trails)
        .output()
        .expect("python3 (`make venv` installs pySigma into .venv)");
    assert!(
        run.status.success(),
        "the reference failed (`make venv` installs pysigma and pysigma-backend-sqlite):\n{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let v: Value = serde_json::from_reader(File::open(out.path()).unwrap()).unwrap();
    serde_json::from_value(v["rules"].clone()).unwrap()
}

fn files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    out
}

type Matches = BTreeMap<String, BTreeMap<String, Vec<String>>>;

/// trailwatch's matches through the index, as the pipeline evaluates: rule file → trail →
/// eventIDs. Also returns the compiled set.
fn ours(rules_dir: &str, trails: &[&str]) -> Matches {
    let dir = rules::read_dir(&root().join(rules_dir)).unwrap();
    let (set, diags) = RuleSet::compile_dir(&dir, &[], 1_795_478_400);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.level == Level::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let set = set.unwrap();
    let limits = Limits {
        keep: Some(Arc::new(set.keep())),
        ..Limits::default()
    };
    let prefix = format!("{}/", root().join(rules_dir).display());
    let mut out = Matches::new();
    for r in set.rules() {
        let file = r.file.strip_prefix(&prefix).unwrap_or(&r.file).to_string();
        let per = out.entry(file).or_default();
        for t in trails {
            per.insert(t.to_string(), Vec::new());
        }
    }
    for t in trails {
        for f in files(&root().join(t)) {
            let mut n = 0;
            let shown = f.strip_prefix(root()).unwrap().display().to_string();
            decode(
                BufReader::new(File::open(&f).unwrap()),
                &limits,
                &mut |item| {
                    let Item::Record(e) = item else { return };
                    let id = e
                        .event_id()
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("#{shown}:{n}"));
                    n += 1;
                    let mut hits = Vec::new();
                    set.evaluate(&e, &mut hits);
                    for (_, v) in hits {
                        let rule = match v {
                            Verdict::Hit(r) | Verdict::Suppressed(r, _) => r,
                        };
                        let file = rule.file.strip_prefix(&prefix).unwrap_or(&rule.file);
                        out.get_mut(file)
                            .unwrap()
                            .get_mut(*t)
                            .unwrap()
                            .push(id.clone());
                    }
                },
            )
            .unwrap();
        }
    }
    for per in out.values_mut() {
        for ids in per.values_mut() {
            ids.sort();
        }
    }
    out
}

/// Compares both engines on `rules_dir`; returns the table of counts per rule and trail.
fn differential(rules_dir: &str, trails: &[&str]) -> String {
    let theirs = reference(rules_dir, trails);
    let ours = ours(rules_dir, trails);
    let mut problems = Vec::new();
    let mut table = String::new();
    for (file, entry) in &theirs {
        let name = Path::new(file).file_name().unwrap().to_string_lossy();
        if entry.get("skipped").is_some_and(|s| !s.is_null()) {
            continue;
        }
        let error = entry["error"].as_str();
        let expected_error = REFERENCE_ERRORS.iter().find(|(f, _)| *f == name);
        match (error, expected_error) {
            (Some(_), Some(_)) => continue,
            (Some(e), None) => {
                problems.push(format!("{file}: the reference could not run it: {e}"));
                continue;
            }
            (None, Some((_, why))) => {
                problems.push(format!(
                    "{file}: listed as a reference error ({why}) but pySigma ran it: update REFERENCE_ERRORS"
                ));
            }
            (None, None) => {}
        }
        let Some(mine) = ours.get(file.as_str()) else {
            problems.push(format!("{file}: trailwatch did not load it"));
            continue;
        };
        let mut counts = Vec::new();
        for t in trails {
            let want: Vec<String> = entry["matches"][*t]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap().to_string())
                .collect();
            let got = &mine[*t];
            counts.push(format!("{:>4}", got.len()));
            if &want != got {
                let explained = EXPLAINED.iter().any(|(f, tr, _)| *f == name && tr == t);
                if !explained {
                    let only = |a: &[String], b: &[String]| -> Vec<String> {
                        a.iter()
                            .filter(|x| !b.contains(x))
                            .take(5)
                            .cloned()
                            .collect()
                    };
                    problems.push(format!(
                        "{file} on {t}: pySigma {} match(es), trailwatch {}; only pySigma: {:?}; only trailwatch: {:?}",
                        want.len(),
                        got.len(),
                        only(&want, got),
                        only(got, &want)
                    ));
                }
            }
        }
        table.push_str(&format!("{} {name}\n", counts.join(" ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    table
}

#[test]
fn sigmahq_cloudtrail_rules_match_what_pysigma_matches() {
    let table = differential("tests/corpora/sigmahq-cloudtrail-rules", TRAILS);
    assert_eq!(
        table.lines().count(),
        57,
        "every SigmaHQ CloudTrail rule is compared"
    );
    println!("awsdocs invictus stratus OTRF\n{table}");
    // The README shows the rules that match anything, with these counts.
    let mut md =
        String::from("| rule | awsdocs | invictus | stratus | OTRF |\n|---|---|---|---|---|\n");
    for line in table.lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        if cols[..4].iter().all(|c| *c == "0") {
            continue;
        }
        let name = cols[4].trim_end_matches(".yml");
        md.push_str(&format!("| {name} | {} |\n", cols[..4].join(" | ")));
    }
    let path = root().join("rules/README.md");
    let readme = std::fs::read_to_string(&path).unwrap();
    let start = readme
        .find("| rule | awsdocs |")
        .expect("the Sigma table in rules/README.md");
    let end = start + readme[start..].find("\n\n").unwrap() + 1;
    if std::env::var_os("TRAILWATCH_BLESS").is_some() {
        std::fs::write(&path, format!("{}{md}{}", &readme[..start], &readme[end..])).unwrap();
    } else {
        assert_eq!(
            readme[start..end],
            md,
            "rules/README.md's Sigma table is stale: TRAILWATCH_BLESS=1 cargo test --test sigma"
        );
    }
}

#[test]
fn every_construct_matches_what_pysigma_matches() {
    let table = differential(
        "tests/sigma/constructs",
        &["tests/sigma/constructs-events.json"],
    );
    println!("{table}");
}

#[test]
fn sigma_rule_tests_pass() {
    let mut dir = rules::RuleDir::default();
    for d in [
        "examples/sigma",
        "tests/sigma/correlations",
        "tests/sigma/constructs",
    ] {
        dir.extend(rules::read_dir(&root().join(d)).unwrap());
    }
    let (set, diags) = RuleSet::compile_dir(&dir, &[], 1_795_478_400);
    let set = set.unwrap_or_else(|| panic!("{diags:?}"));
    let results = trailwatch::testing::run_all(set.rules());
    let failed: Vec<String> = results
        .iter()
        .filter_map(|r| {
            r.failure
                .as_ref()
                .map(|f| format!("{}: {}: {f}", r.file, r.name))
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
    assert!(results.len() >= 16, "{} cases", results.len());
}

fn diagnostics(files: &[(&str, &str)]) -> Vec<String> {
    let files: Vec<rules::RuleFile> = files
        .iter()
        .map(|(p, t)| rules::RuleFile {
            path: p.to_string(),
            text: t.to_string(),
        })
        .collect();
    let (_, diags) = RuleSet::compile(&files, &[], &[], 0);
    diags.iter().map(ToString::to_string).collect()
}

const HEAD: &str =
    "title: t\nid: 11111111-0000-4000-8000-000000000001\nlogsource: {product: aws, service: cloudtrail}\n";

#[test]
fn constructs_outside_the_scope_are_errors_at_their_position() {
    let rule = format!(
        "{HEAD}detection:\n  sel:\n    userAgent|windash: x\n    eventName|equal: y\n    errorCode|startswith|re: z\n  condition: sel and not filtr\nlevel: urgent\n"
    );
    let d = diagnostics(&[("r.yml", &rule)]);
    let want = [
        "r.yml:6:5: modifier '|windash' is not supported for CloudTrail: it varies Windows command-line dashes",
        "r.yml:7:5: unknown modifier '|equal'",
        "r.yml:8:5: '|re' cannot be combined with other value modifiers here",
        "r.yml:9:26: unknown search identifier 'filtr'",
        "r.yml:10:8: unknown level 'urgent'",
    ];
    for w in want {
        assert!(d.iter().any(|x| x.starts_with(w)), "{w}\n{d:#?}");
    }
    let corr = "title: c\nid: c1\ncorrelation:\n  type: value_sum\n  rules: [x]\n  timespan: 5m\n  condition: {gte: 1}\n---\ntitle: d\nid: c2\ncorrelation:\n  type: event_count\n  rules: [nope]\n  timespan: 5m\n  aliases: {}\n  condition: {lt: 3}\n";
    let d = diagnostics(&[("c.yml", corr)]);
    let want = [
        "c.yml:4:9: correlation type 'value_sum' is not supported",
        "c.yml:15:3: correlation 'aliases'",
        "c.yml:16:15: condition 'lt' is not supported",
    ];
    for w in want {
        assert!(d.iter().any(|x| x.starts_with(w)), "{w}\n{d:#?}");
    }
    let unknown = "title: d\nid: c2\ncorrelation:\n  type: event_count\n  rules: [nope]\n  timespan: 5m\n  condition: {gte: 3}\n";
    let d = diagnostics(&[("u.yml", unknown)]);
    assert!(
        d.iter()
            .any(|x| x.starts_with("u.yml:5:11: unknown rule 'nope'")),
        "{d:#?}"
    );
}

#[test]
fn other_logsources_are_skipped_with_a_warning() {
    let win = "title: w\nid: w1\nlogsource: {product: windows, category: process_creation}\ndetection:\n  sel: {Image|endswith: '\\\\cmd.exe'}\n  condition: sel\n";
    let files = [rules::RuleFile {
        path: "w.yml".into(),
        text: win.into(),
    }];
    let (set, diags) = RuleSet::compile(&files, &[], &[], 0);
    assert_eq!(set.unwrap().rules().len(), 0);
    assert_eq!(diags.len(), 1, "{diags:?}");
    assert_eq!(diags[0].level, Level::Warning);
    assert!(diags[0]
        .message
        .starts_with("skipped: logsource is product windows"));
}

#[test]
fn an_alert_from_a_sigma_rule_carries_its_metadata() {
    let dir =
        root().join("tests/corpora/sigmahq-cloudtrail-rules/aws_cloudtrail_disable_logging.yml");
    let dir = rules::read_dir(&dir).unwrap();
    let (set, _) = RuleSet::compile_dir_to_run(&dir, &[], 0);
    let set = set.unwrap();
    let rule = &set.rules()[0];
    let e = trailwatch::event::Event::from_value(serde_json::json!({
        "eventName": "StopLogging", "eventSource": "cloudtrail.amazonaws.com",
        "eventTime": "2024-01-01T00:00:00Z", "eventID": "x"
    }))
    .unwrap();
    let alert = trailwatch::alert::Alert::new(rule, &e, 1, 1);
    let v = serde_json::to_value(&alert).unwrap();
    assert_eq!(v["rule_id"], "4db60cc0-36fb-42b7-9b58-a5b53019fb74");
    assert_eq!(v["title"], "AWS CloudTrail Important Change");
    assert_eq!(v["severity"], "medium");
    assert!(v["tags"]
        .as_array()
        .unwrap()
        .iter()
        .any(|t| t == "attack.t1685.002"));
    assert!(!v["references"].as_array().unwrap().is_empty());
    assert!(!v["falsepositives"].as_array().unwrap().is_empty());
    assert!(v["description"] == "Detects disabling, deleting and updating of a Trail");
}
