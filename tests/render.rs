//! What the on-call reads, pinned: every form of a few real alerts (the email text, the
//! Chatbot custom notification, the full alert JSON, `scan --format text`) as insta
//! snapshots in `tests/snapshots/`, rendered at a fixed `now` from the attack story in
//! `examples/attack-story` and a SigmaHQ rule of `tests/corpora`. A change to the wording
//! shows up as a snapshot diff to review (`cargo insta review`, or
//! `INSTA_UPDATE=always cargo test --test render` and `git diff`).
//!
//! Beyond the snapshots: every alert of every trail the repository holds, and alerts made
//! as long as records allow, must give a Chatbot message that passes the schema check and
//! an email whose prose lines fit on a phone; the README's samples must be what the code
//! renders.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use trailwatch::alert::Alert;
use trailwatch::event::parse_time;
use trailwatch::pipeline::{Pipeline, DEFAULT_HORIZON};
use trailwatch::render::{self, chatbot, email};
use trailwatch::rules::{self, RuleSet};
use trailwatch::sink::{self, Memory as Alerts, Sink};
use trailwatch::source::{decode, Limits};
use trailwatch::state::memory::Memory;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The alerts are rendered as if it were 10:00 UTC on the morning of the attack story.
fn now() -> i64 {
    parse_time("2024-11-05T10:00:00Z").unwrap()
}

const ALIASES: &str = "111122223333=prod-payments,444455556666=partner-backups";

/// The bundled rules (and lists) with `overrides`, plus the rules in `extra`.
fn rules_with(extra: &[&Path], overrides: &[(String, Vec<String>)]) -> RuleSet {
    let mut dir = rules::read_dir(&root().join("rules")).expect("rules/");
    for e in extra {
        dir.extend(rules::read_dir(e).expect("extra rules"));
    }
    let (set, diags) = RuleSet::compile_dir_to_run(&dir, overrides, now());
    set.unwrap_or_else(|| panic!("{diags:?}"))
}

fn aliases() -> Vec<(String, Vec<String>)> {
    vec![("account_aliases".into(), rules::split_list(ALIASES))]
}

/// CloudTrail files below `path` (those that decode), sorted.
fn inputs(path: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![path.to_path_buf()];
    while let Some(p) = stack.pop() {
        if p.is_dir() {
            for e in std::fs::read_dir(&p).unwrap() {
                stack.push(e.unwrap().path());
            }
        } else if p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.ends_with(".json") || n.ends_with(".json.gz"))
        {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The alerts of one scan of `files`, as `trailwatch scan` gives them.
fn scan(set: &RuleSet, files: &[PathBuf]) -> Vec<Alert> {
    let limits = Limits {
        keep: Some(Arc::new(set.keep())),
        ..Limits::default()
    };
    let mut pipeline = Pipeline::new(set, Memory::new(DEFAULT_HORIZON), DEFAULT_HORIZON);
    let mut sink = Alerts::default();
    for p in files {
        let f = BufReader::new(File::open(p).unwrap());
        // Files that are not CloudTrail (a dataset's metadata) are skipped, as scan does.
        let _ = decode(f, &limits, &mut |item| {
            pipeline
                .push(item, &mut sink, &mut |_, _| {})
                .expect("memory state and sink do not fail");
        });
        pipeline.flush(&mut sink).expect("memory sink");
    }
    sink.alerts
}

fn attack_story(set: &RuleSet) -> Vec<Alert> {
    scan(set, &inputs(&root().join("examples/attack-story")))
}

/// The one alert of `rule` whose title contains `title`.
fn pick<'a>(alerts: &'a [Alert], rule: &str, title: &str) -> &'a Alert {
    let found: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.rule_id == rule && a.title.contains(title))
        .collect();
    assert_eq!(found.len(), 1, "{rule} / {title}: {:#?}", alerts);
    found[0]
}

/// `scan --format text` of one alert.
fn scan_text(alert: &Alert) -> String {
    let mut out = Vec::new();
    sink::Writer::new(&mut out, sink::Format::Text)
        .publish(alert)
        .unwrap();
    String::from_utf8(out).unwrap()
}

fn chatbot_json(alert: &Alert) -> String {
    serde_json::to_string_pretty(&chatbot(alert, now())).unwrap()
}

/// Snapshots of the four forms of `alert`, named `<case>_<form>`.
fn snapshot(case: &str, alert: &Alert) {
    let msg = chatbot(alert, now());
    assert_eq!(chatbot::check(&msg), Vec::<String>::new(), "{case}");
    insta::assert_snapshot!(format!("{case}_email"), email::text(alert, now()));
    insta::assert_snapshot!(format!("{case}_chatbot"), chatbot_json(alert));
    insta::assert_snapshot!(
        format!("{case}_full_json"),
        serde_json::to_string_pretty(alert).unwrap()
    );
    insta::assert_snapshot!(format!("{case}_scan_text"), scan_text(alert));
}

#[test]
fn a_single_event_rule() {
    let alerts = attack_story(&rules_with(&[], &[]));
    snapshot(
        "single_event",
        pick(&alerts, "admin-policy-attached", "svc-backup"),
    );
}

#[test]
fn a_threshold_rule_with_many_events() {
    let alerts = attack_story(&rules_with(&[], &[]));
    let a = pick(&alerts, "secrets-read-burst", "");
    assert_eq!(a.count, 10);
    snapshot("threshold", a);
}

#[test]
fn a_failed_call() {
    let alerts = attack_story(&rules_with(&[], &[]));
    let a = pick(&alerts, "cloudtrail-logging-stopped", "DeleteTrail");
    assert_eq!(a.outcome, "failure");
    snapshot("failed_call", a);
}

#[test]
fn a_hidden_user_name_stays_hidden() {
    let alerts = attack_story(&rules_with(&[], &[]));
    let a = pick(&alerts, "hidden-username-burst", "");
    snapshot("hidden_user_name", a);
    for form in [email::text(a, now()), chatbot_json(a), scan_text(a)] {
        assert!(!form.contains("user/"), "no user name is made up: {form}");
    }
}

#[test]
fn account_aliases_are_shown_beside_every_account_id() {
    let alerts = attack_story(&rules_with(&[], &aliases()));
    let a = pick(&alerts, "ebs-snapshot-shared", "444455556666");
    assert_eq!(a.account_alias.as_deref(), Some("prod-payments"));
    assert_eq!(
        a.account_aliases.get("444455556666").map(String::as_str),
        Some("partner-backups")
    );
    snapshot("account_alias", a);
    let text = email::text(a, now());
    assert!(text.contains("account 111122223333 (prod-payments), region eu-west-1"));
    assert!(text.contains("account 444455556666 (partner-backups)"));
    let chat = chatbot_json(a);
    assert!(chat.contains("`111122223333` (prod-payments)"), "{chat}");
}

#[test]
fn a_sigma_rule() {
    let sigma =
        root().join("tests/corpora/sigmahq-cloudtrail-rules/aws_cloudtrail_disable_logging.yml");
    let alerts = attack_story(&rules_with(&[&sigma], &[]));
    let a = alerts
        .iter()
        .find(|a| {
            a.rule_id == "4db60cc0-36fb-42b7-9b58-a5b53019fb74"
                && a.event_name.as_deref() == Some("StopLogging")
        })
        .expect("the Sigma rule sees StopLogging");
    snapshot("sigma", a);
}

/// Lines of prose at most 72 columns; only a single word longer than that (a link, an
/// ARN, a user agent) may stand alone on a longer line.
fn assert_fits_a_phone(text: &str) {
    for line in text.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        // Over the width only as one word alone, or one word after a label (`Who:`).
        let one_word = words.len() == 1 || (words.len() == 2 && words[0].ends_with(':'));
        assert!(
            line.chars().count() <= email::WIDTH || one_word,
            "line over {} columns: {line:?}\n{text}",
            email::WIDTH
        );
    }
}

#[test]
fn every_alert_of_every_trail_renders_within_the_limits() {
    let sigma = root().join("tests/corpora/sigmahq-cloudtrail-rules");
    let set = rules_with(&[&sigma], &aliases());
    let mut files = inputs(&root().join("examples"));
    files.extend(inputs(&root().join("tests/corpora")));
    files.extend(inputs(&root().join("tests/fixtures")));
    let mut rendered = 0;
    for f in &files {
        for a in scan(&set, std::slice::from_ref(f)) {
            let msg = chatbot(&a, now());
            let problems = chatbot::check(&msg);
            assert!(
                problems.is_empty(),
                "{}: {}: {problems:?}\n{msg:#}",
                f.display(),
                a.rule_id
            );
            assert_fits_a_phone(&email::text(&a, now()));
            let sns = render::sns_message(&a, now());
            assert!(sns.size() <= render::SNS_MAX_BYTES);
            rendered += 1;
        }
    }
    eprintln!("{rendered} alerts of {} files rendered", files.len());
    assert!(
        rendered > 500,
        "only {rendered} alerts: the corpora were not found"
    );
}

/// Alerts as long as records can make them: every field long, multibyte, with markup.
#[test]
fn the_longest_alerts_are_cut_with_a_mark_and_still_pass() {
    let alerts = attack_story(&rules_with(&[], &aliases()));
    let base = pick(&alerts, "secrets-read-burst", "").clone();
    let long = |unit: &str, n: usize| unit.repeat(n);
    let mut a = base.clone();
    a.title = long("Ünïcödé <b>*bold*</b> & `tick` ", 400);
    a.description = long("ñ", 10_000);
    a.runbook = Some(long("1. Step with <https://evil.example|a link>. ", 300));
    a.user_agent = Some(long("Mozilla/5.0 <script>", 500));
    a.actor.arn = Some(format!(
        "arn:aws:iam::111122223333:user/{}",
        long("é", 3000)
    ));
    a.source_ips = (0..200).map(|i| format!("2001:db8::{i:x}")).collect();
    a.event_ids = (0..100).map(|i| format!("{i:0>36}")).collect();
    a.count = 100_000;
    a.group = (0..50)
        .map(|i| {
            (
                format!("field{i}"),
                format!("arn:aws:s3:::{}{i}", long("b", 500)),
            )
        })
        .collect();
    a.falsepositives = vec![long("fp ", 2000); 20];
    a.error_message = Some(long("😀", 300));
    a.outcome = "failure";
    a.rule_id = long("rule_id.", 40);
    let msg = chatbot(&a, now());
    assert_eq!(chatbot::check(&msg), Vec::<String>::new(), "{msg:#}");
    let c = &msg["content"];
    let title = c["title"].as_str().unwrap();
    assert!(title.ends_with("… [cut]"), "{title}");
    assert!(
        !title.contains("&amp… [cut]") && !title.contains("&am… [cut]"),
        "{title}"
    );
    assert!(
        c["description"].as_str().unwrap().contains("[cut"),
        "{msg:#}"
    );
    assert!(!msg.to_string().contains("<script>"));
    assert!(!c["nextSteps"].to_string().contains("<https://evil"));
    let text = email::text(&a, now());
    assert_fits_a_phone(&text);
    let sns = render::sns_message(&a, now());
    assert!(sns.size() <= render::SNS_MAX_BYTES);
    let forms: serde_json::Value = serde_json::from_str(&sns.message).unwrap();
    let https: serde_json::Value = serde_json::from_str(forms["https"].as_str().unwrap()).unwrap();
    assert_eq!(chatbot::check(&https), Vec::<String>::new());
}

/// The fenced block that follows `marker` in the README.
fn readme_block(readme: &str, marker: &str) -> String {
    let at = readme
        .find(marker)
        .unwrap_or_else(|| panic!("README.md has no {marker}"));
    let rest = &readme[at..];
    let open = rest.find("```").expect("a fenced block after the marker");
    let body = &rest[open..];
    let body = &body[body.find('\n').unwrap() + 1..];
    body[..body.find("\n```").expect("a closed block") + 1].to_string()
}

#[test]
fn the_readme_samples_are_what_the_code_renders() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let alerts = attack_story(&rules_with(&[], &aliases()));
    let a = pick(&alerts, "ebs-snapshot-shared", "444455556666");
    assert_eq!(
        readme_block(&readme, "<!-- sample: email -->"),
        email::text(a, now()),
        "README.md's sample email differs from what the code renders"
    );
    assert_eq!(
        readme_block(&readme, "<!-- sample: chatbot -->"),
        format!("{}\n", chatbot_json(a)),
        "README.md's sample Chatbot message differs from what the code renders"
    );
}
