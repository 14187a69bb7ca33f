//! The bundled catalogue against real trails and its own promises.
//!
//! * Every rule carries what an on-call needs (description, runbook, references, an ATT&CK
//!   technique) and tests on both sides of its line (an alert and a near miss).
//! * Stratus Red Team: which of the 35 detonations raise an alert (each file scanned on its
//!   own, as its own account's trail), and with which titles.
//! * Noise: alerts per 1,000 events on every corpus, by severity.
//! * Peers: for each Panther, StreamAlert and fivexl rule whose meaning matches rules of ours
//!   (`tests/peers.yaml`), the peer's expected verdict on each of its test events against
//!   whether our rules match that event; every disagreement is explained in the mapping.
//!
//! The figures are written into `rules/README.md` between generated markers; this test fails
//! when they drift. `TRAILWATCH_BLESS=1 cargo test --test catalogue` (or `make docs`)
//! rewrites them.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trailwatch::alert::Alert;
use trailwatch::pipeline::{Pipeline, DEFAULT_HORIZON};
use trailwatch::rules::{self, listing, Level, RuleSet, Severity};
use trailwatch::sink::Memory as Alerts;
use trailwatch::source::{decode, Limits};
use trailwatch::state::memory::Memory;

/// At least this many Stratus techniques must raise an alert.
const MIN_STRATUS: usize = 28;
/// At most this many alerts per 1,000 events on the invictus trail.
const MAX_INVICTUS_PER_1000: f64 = 12.0;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn corpora() -> PathBuf {
    root().join("tests/corpora")
}

fn catalogue() -> RuleSet {
    let dir = rules::read_dir(&root().join("rules")).expect("read rules/");
    let (set, diags) = RuleSet::compile_dir(&dir, &[], 1_795_478_400);
    let errors: Vec<String> = diags
        .iter()
        .filter(|d| d.level == Level::Error)
        .map(ToString::to_string)
        .collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    set.expect("the catalogue compiles")
}

/// Files below `path`, sorted (or `path` itself).
fn files(path: &Path) -> Vec<PathBuf> {
    if path.is_file() {
        return vec![path.to_path_buf()];
    }
    let mut out: Vec<PathBuf> = std::fs::read_dir(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    out.sort();
    out
}

/// Events and alerts of one scan of `inputs` with one shared state, as `trailwatch scan`.
fn scan(set: &RuleSet, inputs: &[PathBuf]) -> (u64, Vec<Alert>) {
    let limits = Limits {
        keep: Some(Arc::new(set.keep())),
        ..Limits::default()
    };
    let mut pipeline = Pipeline::new(set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
    let mut sink = Alerts::default();
    for p in inputs {
        let f = BufReader::new(File::open(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())));
        decode(f, &limits, &mut |item| {
            pipeline
                .push(item, &mut sink, &mut |_, _| {})
                .expect("memory state and sink do not fail");
        })
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        pipeline
            .flush(&mut sink)
            .expect("memory state and sink do not fail");
    }
    (pipeline.report.events, sink.alerts)
}

#[test]
fn every_rule_is_documented_and_tested_on_both_sides() {
    let set = catalogue();
    let mut problems = Vec::new();
    for r in set.rules() {
        let mut missing = Vec::new();
        if r.description.trim().is_empty() {
            missing.push("a description");
        }
        if r.runbook.as_deref().is_none_or(|s| s.trim().is_empty()) {
            missing.push("a runbook");
        }
        if r.references.is_empty() {
            missing.push("references");
        }
        if r.attack_techniques().is_empty() {
            missing.push("an ATT&CK technique tag (attack.tNNNN)");
        }
        if !r.tests.iter().any(|t| t.expect > 0) {
            missing.push("a test that alerts");
        }
        if !r.tests.iter().any(|t| t.expect == 0) {
            missing.push("a near-miss test (expect: no_alert)");
        }
        if !missing.is_empty() {
            problems.push(format!(
                "{} ({}): lacks {}",
                r.id,
                r.file,
                missing.join(", ")
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    let failed: Vec<String> = trailwatch::testing::run_all(set.rules())
        .into_iter()
        .filter_map(|r| {
            r.failure
                .map(|f| format!("{}:{} {}: {f}", r.file, r.line, r.name))
        })
        .collect();
    assert!(failed.is_empty(), "{}", failed.join("\n"));
}

/// `(technique, alerts)` for every Stratus detonation, each file on its own.
fn stratus(set: &RuleSet) -> Vec<(String, Vec<Alert>)> {
    files(&corpora().join("stratus-red-team_detonation-logs/detonation-logs"))
        .into_iter()
        .map(|p| {
            let name = p.file_stem().unwrap().to_string_lossy().to_string();
            (name, scan(set, &[p]).1)
        })
        .collect()
}

/// Alerts per 1,000 events on each corpus, with counts by severity.
struct Noise {
    corpus: &'static str,
    events: u64,
    alerts: Vec<Alert>,
}

impl Noise {
    fn per_1000(&self) -> f64 {
        self.alerts.len() as f64 * 1000.0 / self.events.max(1) as f64
    }
    fn at_least(&self, s: Severity) -> usize {
        self.alerts.iter().filter(|a| a.severity >= s).count()
    }
}

fn noise(set: &RuleSet) -> Vec<Noise> {
    let c = corpora();
    let inputs: [(&'static str, PathBuf); 6] = [
        (
            "invictus (real attack simulation)",
            c.join("invictus-ir_aws_dataset/CloudTrail"),
        ),
        (
            "normal work (a made-up day: own key rotation, MFA and SSO sign-ins, services assuming roles, automation reading all day, an app's secrets, a scoped Lambda permission)",
            root().join("tests/fixtures/normal-work.json.gz"),
        ),
        (
            "stratus (35 detonations)",
            c.join("stratus-red-team_detonation-logs/stratus_all.Records.json"),
        ),
        (
            "awsdocs (AWS guide examples)",
            c.join("awsdocs-examples/awsdocs_examples.Records.json"),
        ),
        (
            "OTRF (S3 exfiltration)",
            c.join("OTRF_Security-Datasets/ec2_proxy_s3_exfiltration.Records.json"),
        ),
        (
            "panther scenarios",
            c.join("panther-analysis/test_scenarios"),
        ),
    ];
    inputs
        .into_iter()
        .map(|(corpus, path)| {
            let (events, alerts) = scan(set, &files(&path));
            Noise {
                corpus,
                events,
                alerts,
            }
        })
        .collect()
}

/// One peer test event compared with our rules.
struct PeerCase {
    peer: &'static str,
    rule: String,
    test: String,
    expected: bool,
    ours: bool,
    /// Why we differ, when we do and the mapping says so.
    explained: Option<String>,
}

const PEERS: [(&str, &str); 3] = [
    ("panther", "panther-analysis/panther_cloudtrail_tests.jsonl"),
    ("streamalert", "airbnb_streamalert/streamalert_tests.jsonl"),
    ("fivexl", "fivexl_cloudtrail-to-slack/fivexl_tests.jsonl"),
];

/// Every test event of every mapped peer rule.
fn peer_cases(set: &RuleSet) -> Vec<PeerCase> {
    let text = std::fs::read_to_string(root().join("tests/peers.yaml")).expect("tests/peers.yaml");
    let mapping = trailwatch::rules::yaml::parse(&text)
        .expect("tests/peers.yaml is YAML")
        .expect("tests/peers.yaml is not empty")
        .to_json();
    let keep = set.keep();
    let known: Vec<&str> = set.rules().iter().map(|r| r.id.as_str()).collect();
    let mut out = Vec::new();
    for (peer, file) in PEERS {
        let Some(rules) = mapping[peer].as_object() else {
            continue;
        };
        let lines = std::fs::read_to_string(corpora().join(file)).expect("peer tests");
        let tests: Vec<serde_json::Value> = lines
            .lines()
            .map(|l| serde_json::from_str(l).expect("JSON lines"))
            .collect();
        for (their, m) in rules {
            let ours: Vec<&str> = m["ours"]
                .as_array()
                .unwrap_or_else(|| panic!("peers.yaml {peer}/{their}: 'ours' is a list"))
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            for id in &ours {
                assert!(
                    known.contains(id),
                    "peers.yaml {peer}/{their}: no rule '{id}'"
                );
            }
            let mut found = false;
            for t in tests.iter().filter(|t| t["rule_id"] == their.as_str()) {
                found = true;
                let name = t["test_name"].as_str().unwrap_or("?").to_string();
                let event = keep
                    .parse(t["event"].to_string().as_bytes())
                    .ok()
                    .and_then(trailwatch::event::Event::from_value);
                let mut verdicts = Vec::new();
                if let Some(e) = &event {
                    set.evaluate(e, &mut verdicts);
                }
                let hit = verdicts.iter().any(
                    |(_, v)| matches!(v, rules::Verdict::Hit(r) if ours.contains(&r.id.as_str())),
                );
                out.push(PeerCase {
                    peer,
                    rule: their.clone(),
                    explained: m["explained"][&name].as_str().map(str::to_string),
                    test: name,
                    expected: t["expected"].as_bool().unwrap_or(false),
                    ours: hit,
                });
            }
            assert!(
                found,
                "peers.yaml {peer}/{their}: the peer has no such rule with tests"
            );
        }
    }
    out
}

#[test]
fn peers_agree_or_the_difference_is_explained() {
    let set = catalogue();
    let cases = peer_cases(&set);
    let mut problems = Vec::new();
    for c in &cases {
        match (c.expected == c.ours, &c.explained) {
            (false, None) => problems.push(format!(
                "{}/{} :: {}: peer expects {}, our rules say {} (fix the rule or explain in tests/peers.yaml)",
                c.peer, c.rule, c.test, c.expected, c.ours
            )),
            (true, Some(_)) => problems.push(format!(
                "{}/{} :: {}: we agree now; drop the explanation from tests/peers.yaml",
                c.peer, c.rule, c.test
            )),
            _ => {}
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn generated(set: &RuleSet) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{} rules ({} enabled). `trailwatch rules` prints this table for the rules you load.\n\n",
        set.rules().len(),
        set.rules().iter().filter(|r| r.enabled).count()
    ));
    s.push_str(&listing::markdown(set.rules()));

    let st = stratus(set);
    let caught = st.iter().filter(|(_, a)| !a.is_empty()).count();
    s.push_str(&format!(
        "\n### Stratus Red Team: {caught} of {} techniques raise an alert\n\n\
         Each detonation file of `tests/corpora/stratus-red-team_detonation-logs` scanned on its \
         own with the bundled rules (default lists). Titles of the alerts:\n\n\
         | technique | alerts | titles |\n|---|---:|---|\n",
        st.len()
    ));
    for (t, alerts) in &st {
        let mut titles: Vec<String> = alerts
            .iter()
            .map(|a| format!("{} ({})", a.title.replace('|', "\\|"), a.severity))
            .collect();
        titles.dedup();
        let shown = if titles.is_empty() {
            "**none**".to_string()
        } else {
            titles.join("<br>")
        };
        s.push_str(&format!("| `{t}` | {} | {shown} |\n", alerts.len()));
    }

    s.push_str(
        "\n### Noise: alerts per 1,000 events\n\n\
         Each corpus scanned as one input with the bundled rules (default lists).\n\n\
         | corpus | events | alerts | per 1,000 | medium or above | high or above |\n\
         |---|---:|---:|---:|---:|---:|\n",
    );
    for n in noise(set) {
        s.push_str(&format!(
            "| {} | {} | {} | {:.1} | {} | {} |\n",
            n.corpus,
            n.events,
            n.alerts.len(),
            n.per_1000(),
            n.at_least(Severity::Medium),
            n.at_least(Severity::High)
        ));
    }

    s.push_str(
        "\n### Peers: the same test events, the same verdicts\n\n\
         Every test event of the Panther, StreamAlert and fivexl rules whose meaning matches ours \
         (`tests/peers.yaml` maps them), with the peer's expected verdict against whether our \
         rules match the event (thresholds aside, as the peers' own tests). Each disagreement \
         is explained in `tests/peers.yaml`.\n\n\
         | peer | rules mapped | test events | agree | differ (explained) |\n|---|---:|---:|---:|---:|\n",
    );
    let cases = peer_cases(set);
    for (peer, _) in PEERS {
        let mine: Vec<&PeerCase> = cases.iter().filter(|c| c.peer == peer).collect();
        let mut rules: Vec<&str> = mine.iter().map(|c| c.rule.as_str()).collect();
        rules.dedup();
        let agree = mine.iter().filter(|c| c.expected == c.ours).count();
        s.push_str(&format!(
            "| {peer} | {} | {} | {agree} | {} |\n",
            rules.len(),
            mine.len(),
            mine.len() - agree
        ));
    }
    s
}

const START: &str = "<!-- generated by tests/catalogue.rs: do not edit; TRAILWATCH_BLESS=1 cargo test --test catalogue -->\n";
const END: &str = "<!-- end of generated catalogue -->\n";

#[test]
fn stratus_and_noise_figures_hold_and_match_the_docs() {
    let set = catalogue();
    let st = stratus(&set);
    let caught: Vec<&String> = st
        .iter()
        .filter(|(_, a)| !a.is_empty())
        .map(|(t, _)| t)
        .collect();
    let missed: Vec<&String> = st
        .iter()
        .filter(|(_, a)| a.is_empty())
        .map(|(t, _)| t)
        .collect();
    assert!(
        caught.len() >= MIN_STRATUS,
        "{} Stratus techniques raise an alert, expected at least {MIN_STRATUS}; missed: {missed:?}",
        caught.len()
    );
    for (t, alerts) in &st {
        for a in alerts {
            assert!(
                !a.title.contains('?'),
                "{t}: title with a missing field: {}",
                a.title
            );
        }
    }
    let noise = noise(&set);
    let invictus = &noise[0];
    assert!(
        invictus.per_1000() <= MAX_INVICTUS_PER_1000,
        "invictus: {:.1} alerts per 1,000 events (limit {MAX_INVICTUS_PER_1000}): {:#?}",
        invictus.per_1000(),
        invictus
            .alerts
            .iter()
            .fold(BTreeMap::<&str, usize>::new(), |mut m, a| {
                *m.entry(a.rule_id.as_str()).or_default() += 1;
                m
            })
    );

    let normal = &noise[1];
    assert_eq!(
        normal.at_least(Severity::Medium),
        0,
        "normal work raised: {:#?}",
        normal.alerts.iter().map(|a| &a.title).collect::<Vec<_>>()
    );

    let path = root().join("rules/README.md");
    let readme = std::fs::read_to_string(&path).expect("rules/README.md");
    let (Some(a), Some(b)) = (readme.find(START), readme.find(END)) else {
        panic!("rules/README.md lacks the generated-section markers:\n{START}{END}");
    };
    let current = &readme[a + START.len()..b];
    let fresh = generated(&set);
    if current == fresh {
        return;
    }
    if std::env::var_os("TRAILWATCH_BLESS").is_some() {
        let updated = format!("{}{START}{fresh}{}", &readme[..a], &readme[b..]);
        std::fs::write(&path, updated).expect("write rules/README.md");
        return;
    }
    panic!(
        "the catalogue section of rules/README.md is out of date; run `make docs` \
         (TRAILWATCH_BLESS=1 cargo test --test catalogue) and commit it"
    );
}
