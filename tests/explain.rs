//! `trailwatch explain`: a compiled rule in readable form, and why records did or did not
//! make rules fire, through the real binary.

mod common;
use common::*;
use serde_json::{json, Value};
use std::path::Path;

/// An IAM user's console sign-in, successful, with MFA: a near miss for
/// `console-login-without-mfa`.
fn login_with_mfa(id: &str) -> Value {
    json!({"eventVersion":"1.08","eventTime":"2024-03-01T10:00:00Z","eventSource":"signin.amazonaws.com",
        "eventName":"ConsoleLogin","awsRegion":"us-east-1","sourceIPAddress":"198.51.100.7",
        "userIdentity":{"type":"IAMUser","arn":"arn:aws:iam::111122223333:user/alice","accountId":"111122223333","userName":"alice"},
        "responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"Yes"},
        "eventID":id,"recipientAccountId":"111122223333"})
}

fn root_path(rel: &str) -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(rel)
        .display()
        .to_string()
}

fn corpora() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpora")
}

#[test]
fn a_bundled_rule_shows_its_index_and_lists_by_name() {
    let run = trailwatch(&["explain", "cross-account-assume-role"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "rule:       cross-account-assume-role\n",
        "file:       rules/sts/cross-account-assume-role.yaml\n",
        "severity:   medium\n",
        "indexed on: eventName AssumeRole\n",
        "    eventSource: equals \"sts.amazonaws.com\"\n",
        "    userIdentity.type: not equals \"AWSService\"\n",
        "    userIdentity.accountId: not in list trusted_accounts (empty)\n",
        "dedup:      one alert per sharedEventID",
        "suppress:   none\n",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
    // A list as the rules see it after an override: its size and first values.
    let run = trailwatch(
        &[
            "explain",
            "cross-account-assume-role",
            "--list",
            "trusted_accounts=444455556666,111122223333",
        ],
        None,
    );
    assert!(
        run.stdout.contains(
            "userIdentity.accountId: not in list trusted_accounts (2 values: \"111122223333\", \"444455556666\")"
        ),
        "{}",
        run.stdout
    );
    // A threshold rule and a rule checked against every record.
    let run = trailwatch(&["explain", "console-login-failure-burst"], None);
    assert!(
        run.stdout
            .contains("threshold:  5 matches within 10m, per account_id, sourceIPAddress\n"),
        "{}",
        run.stdout
    );
    let run = trailwatch(&["explain", "root-activity"], None);
    assert!(
        run.stdout
            .contains("indexed on: nothing: checked against every record\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn an_unknown_rule_gets_a_suggestion() {
    let run = trailwatch(&["explain", "cross-acount-assume-role"], None);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains(
            "unknown rule 'cross-acount-assume-role' (did you mean 'cross-account-assume-role'?)"
        ),
        "{}",
        run.stderr
    );
    let run = trailwatch(&["explain", "zzzz"], None);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr
            .contains("unknown rule 'zzzz' (`trailwatch rules` lists them)"),
        "{}",
        run.stderr
    );
    let run = trailwatch(&["explain"], None);
    assert_eq!(run.code, 2);
    assert!(run.stderr.contains("give a RULE_ID"), "{}", run.stderr);
}

#[test]
fn a_near_miss_shows_the_failing_condition_and_the_value_found() {
    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "login.json",
        login_with_mfa("e1").to_string().as_bytes(),
    );
    let run = trailwatch(
        &["explain", "--event", &f, "console-login-without-mfa"],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "record 1: ConsoleLogin (signin.amazonaws.com) at 2024-03-01T10:00:00Z, eventID e1\n",
        "rule console-login-without-mfa: no match\n",
        "  index:      offered (indexed on eventName ConsoleLogin)\n",
        "  why:        additionalEventData.MFAUsed: found \"Yes\", expected not equals \"yes\" (ignoring case); the inner test held\n",
        "      ✓ userIdentity.type: found \"IAMUser\"; equals \"IAMUser\"\n",
        "      ✗ additionalEventData.MFAUsed: found \"Yes\"",
        "      ✓ additionalEventData.SamlProviderArn: found nothing; is absent or null\n",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }

    // Every rule: matches first, then a line for each other candidate, then the index.
    let run = trailwatch(&["explain", "--event", &f], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let out = &run.stdout;
    for line in [
        "  matches (1):\n    console-login-success-after-failures (high); step \"success\"",
        "    console-login-without-mfa: additionalEventData.MFAUsed: found \"Yes\", expected not equals \"yes\" (ignoring case); the inner test held\n",
        "    root-console-login-with-mfa: userIdentity.type: found \"IAMUser\", expected equals \"Root\"\n",
        "  the index skipped ",
    ] {
        assert!(out.contains(line), "{line}\n{out}");
    }
    let skipped: usize = out
        .split("the index skipped ")
        .nth(1)
        .and_then(|r| r.split(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    assert!(skipped > 40, "{out}");

    // A rule the index does not offer for this record says why.
    let run = trailwatch(
        &["explain", "--event", &f, "cross-account-assume-role"],
        None,
    );
    assert!(
        run.stdout.contains(
            "  index:      not offered: eventName \"ConsoleLogin\" is not one of [\"AssumeRole\"]\n"
        ),
        "{}",
        run.stdout
    );
}

const SUPPRESSED: &str = r#"id: trail-stopped
title: "Trail stopped by {userIdentity.arn}"
severity: critical
match:
  eventSource: cloudtrail.amazonaws.com
  eventName: StopLogging
suppress:
  - match: {userIdentity.arn: {suffix: ":role/trail-rotation"}}
    reason: the rotation job stops and starts the trail nightly (CHG-7)
    owner: platform@example.com
    expires: 2099-12-31
"#;

#[test]
fn a_suppression_that_applies_is_named_with_owner_and_expiry() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    write(&rules, "trail-stopped.yaml", SUPPRESSED.as_bytes());
    let rec = json!({"eventTime":"2024-03-01T02:00:00Z","eventSource":"cloudtrail.amazonaws.com",
        "eventName":"StopLogging","eventID":"s1",
        "userIdentity":{"type":"AssumedRole","arn":"arn:aws:iam::111122223333:role/trail-rotation"}});
    let f = write(dir.path(), "stop.json", &records(&[rec]));
    let r = rules.display().to_string();
    let run = trailwatch(
        &["explain", "--rules", &r, "--event", &f, "trail-stopped"],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "rule trail-stopped: match, suppressed\n",
        "  suppressed: the rotation job stops and starts the trail nightly (CHG-7) (owner platform@example.com, through 2099-12-31)\n",
        "  suppression:\n    ✓ userIdentity.arn: found \"arn:aws:iam::111122223333:role/trail-rotation\"; suffix \":role/trail-rotation\"\n",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
    let run = trailwatch(&["explain", "--rules", &r, "--event", &f], None);
    assert!(
        run.stdout.contains("    trail-stopped (critical): suppressed: the rotation job stops and starts the trail nightly (CHG-7) (owner platform@example.com, through 2099-12-31)\n"),
        "{}",
        run.stdout
    );
    // The rule itself lists the suppression.
    let run = trailwatch(&["explain", "--rules", &r, "trail-stopped"], None);
    assert!(
        run.stdout.contains(
            "suppress:\n  - the rotation job stops and starts the trail nightly (CHG-7) (owner platform@example.com, through 2099-12-31)\n    when:\n      userIdentity.arn: suffix \":role/trail-rotation\"\n"
        ),
        "{}",
        run.stdout
    );
}

#[test]
fn a_copy_in_the_same_input_is_named_and_inputs_decode_as_in_scan() {
    let dir = tempfile::tempdir().unwrap();
    let recs = [
        login_with_mfa("a"),
        login_with_mfa("b"),
        login_with_mfa("a"),
    ];
    let ndjson: String = recs.iter().map(|r| format!("{r}\n")).collect();
    let gz = write(dir.path(), "trail.json.gz", &gzip(&records(&recs)));
    for (path, stdin) in [(gz.as_str(), None), ("-", Some(ndjson.as_bytes()))] {
        let run = trailwatch(&["explain", "--event", path, "root-activity"], stdin);
        assert_eq!(run.code, 0, "{}", run.stderr);
        let out = &run.stdout;
        assert!(
            out.contains("record 3: ConsoleLogin (signin.amazonaws.com) at 2024-03-01T10:00:00Z, eventID a\n  a copy of record 1 (same eventID, eventTime, eventName and recipientAccountId): scan drops it before any rule sees it\n"),
            "{out}"
        );
        assert!(!out.contains("a copy of record 2"), "{out}");
        assert_eq!(out.matches("rule root-activity: no match").count(), 3);
    }
    // --event-id picks records; copies are still found in the whole input.
    let run = trailwatch(&["explain", "--event", &gz, "--event-id", "a"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(run.stdout.starts_with("record 1:"), "{}", run.stdout);
    assert!(run.stdout.contains("\nrecord 3:"), "{}", run.stdout);
    assert!(!run.stdout.contains("record 2:"), "{}", run.stdout);
    let run = trailwatch(&["explain", "--event", &gz, "--event-id", "zz"], None);
    assert_eq!(run.code, 2);
    assert!(
        run.stderr.contains("no record with eventID 'zz'"),
        "{}",
        run.stderr
    );
}

#[test]
fn secret_fields_are_redacted() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    write(
        &rules,
        "token.yaml",
        b"id: odd-token\ntitle: t\nseverity: low\nmatch:\n  eventName: AssumeRole\n  responseElements.credentials.sessionToken: {prefix: FQoG}\n",
    );
    let rec = json!({"eventTime":"2024-03-01T02:00:00Z","eventSource":"sts.amazonaws.com",
        "eventName":"AssumeRole","eventID":"t1",
        "responseElements":{"credentials":{"sessionToken":"IQoJb3JpZ2luSECRETTOKEN","accessKeyId":"ASIAEXAMPLE"}}});
    let f = write(dir.path(), "t.json", rec.to_string().as_bytes());
    let r = rules.display().to_string();
    for format in ["text", "json"] {
        let run = trailwatch(
            &[
                "explain",
                "--rules",
                &r,
                "--event",
                &f,
                "--format",
                format,
                "odd-token",
            ],
            None,
        );
        assert_eq!(run.code, 0, "{}", run.stderr);
        assert!(!run.stdout.contains("SECRET"), "{}", run.stdout);
        assert!(run.stdout.contains("[redacted]"), "{}", run.stdout);
    }
    let run = trailwatch(&["explain", "--rules", &r, "--event", &f], None);
    assert!(
        run.stdout.contains("odd-token: responseElements.credentials.sessionToken: found [redacted], expected prefix \"FQoG\"\n"),
        "{}",
        run.stdout
    );
}

#[test]
fn a_sigma_rule_is_explained_as_it_compiled() {
    let sigma = corpora()
        .join("sigmahq-cloudtrail-rules/aws_cloudtrail_disable_logging.yml")
        .display()
        .to_string();
    let id = "4db60cc0-36fb-42b7-9b58-a5b53019fb74";
    let run = trailwatch(&["explain", "--rules", &sigma, id], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for line in [
        "title:      AWS CloudTrail Important Change\n",
        "indexed on: eventName deletetrail, stoplogging, updatetrail (ignoring case)\n",
        "    eventSource: equals \"cloudtrail.amazonaws.com\" (ignoring case)\n",
        "    eventName: one of [\"deletetrail\", \"stoplogging\", \"updatetrail\"] (ignoring case)\n",
    ] {
        assert!(run.stdout.contains(line), "{line}\n{}", run.stdout);
    }
    let dir = tempfile::tempdir().unwrap();
    let rec = |name: &str, id: &str| {
        json!({"eventTime":"2024-03-01T02:00:00Z","eventSource":"cloudtrail.amazonaws.com",
            "eventName":name,"eventID":id,"requestParameters":{"name":"main"}})
    };
    let f = write(
        dir.path(),
        "t.json",
        &records(&[rec("StopLogging", "1"), rec("StartLogging", "2")]),
    );
    let run = trailwatch(&["explain", "--rules", &sigma, "--event", &f, id], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let (first, second) = run.stdout.split_once("\nrecord 2").unwrap();
    assert!(first.contains(&format!("rule {id}: match\n")), "{first}");
    // A Sigma wildcard becomes a case-insensitive pattern, and says so; a keyword search
    // does not print the record.
    let keywords = root_path("tests/sigma/constructs/keywords.yml");
    let rec = json!({"eventName":"GetObject","eventTime":"2024-01-01T00:00:00Z","requestParameters":{"bucketName":"evil_corp"}});
    let run = trailwatch(
        &["explain", "--rules", &keywords, "--event", "-"],
        Some(rec.to_string().as_bytes()),
    );
    assert!(
        run.stdout.contains(concat!(
            "0e0a0000-0000-4000-8000-00000000000e: none of 2 alternatives held: ",
            "(the record): found the record's JSON text (not shown), expected glob \"*pwn*ed*\" (ignoring case)"
        )),
        "{}",
        run.stdout
    );
    assert!(!run.stdout.contains("evil_corp"), "{}", run.stdout);
    for line in [
        &format!("rule {id}: no match\n"),
        "  index:      not offered: eventName \"StartLogging\" is not one of [\"deletetrail\", \"stoplogging\", \"updatetrail\"] (ignoring case)\n",
        "  why:        eventName: found \"StartLogging\", expected one of [\"deletetrail\", \"stoplogging\", \"updatetrail\"] (ignoring case)\n",
    ] {
        assert!(second.contains(line), "{line}\n{second}");
    }
}

#[test]
fn json_output_parses() {
    let run = trailwatch(
        &["explain", "--format", "json", "cross-account-assume-role"],
        None,
    );
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON");
    assert_eq!(v["id"], "cross-account-assume-role");
    assert_eq!(v["index"]["field"], "eventName");
    assert_eq!(v["index"]["values"], json!(["AssumeRole"]));
    let in_list = &v["condition"]["of"][3]["ops"][0]["inner"][0];
    assert_eq!(in_list["op"], "in_list", "{v:#}");
    assert_eq!(in_list["list"], "trusted_accounts");
    assert_eq!(in_list["total"], 0);

    let dir = tempfile::tempdir().unwrap();
    let f = write(
        dir.path(),
        "t.json",
        &records(&[login_with_mfa("x"), login_with_mfa("x")]),
    );
    let run = trailwatch(&["explain", "--event", &f, "--format", "json"], None);
    assert_eq!(run.code, 0, "{}", run.stderr);
    let v: Value = serde_json::from_str(&run.stdout).expect("JSON");
    let recs = v["records"].as_array().unwrap();
    assert_eq!(recs.len(), 2);
    assert_eq!(recs[1]["duplicate_of"], 1);
    assert!(recs[0].get("duplicate_of").is_none());
    let rules = recs[0]["rules"].as_array().unwrap();
    let miss = rules
        .iter()
        .find(|r| r["rule"] == "console-login-without-mfa")
        .unwrap();
    assert_eq!(miss["verdict"], "no_match");
    assert_eq!(miss["matches"], false);
    let mfa = miss["trace"]["of"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["field"] == "additionalEventData.MFAUsed")
        .unwrap();
    assert_eq!(mfa["holds"], false);
    assert_eq!(mfa["found"]["values"], json!(["Yes"]));
    assert!(recs[0]["skipped"].as_u64().unwrap() > 40);
}

/// Every Cond node of `c` (not those inside `where`, whose records are elements).
fn nodes<'a>(
    c: &'a trailwatch::rules::matcher::Cond,
    out: &mut Vec<&'a trailwatch::rules::matcher::Cond>,
) {
    use trailwatch::rules::matcher::Cond;
    out.push(c);
    match c {
        Cond::All(cs) | Cond::Any(cs) => cs.iter().for_each(|c| nodes(c, out)),
        Cond::Not(c) => nodes(c, out),
        Cond::Test(_) => {}
    }
}

/// The trace never disagrees with the matcher: over every record of the corpora, every
/// bundled and SigmaHQ rule (and each node of its condition, and each suppression) gets
/// the verdict `Rule::matches` gives; a rule the index does not offer never matches; and
/// the rules' own test events agree too.
#[test]
fn the_trace_agrees_with_the_matcher_on_every_corpus_record_and_rule() {
    use trailwatch::event::Event;
    use trailwatch::rules::explain::{record_trace, rule_trace, trace};
    use trailwatch::rules::{self, RuleSet};
    use trailwatch::source::{decode, Item, Limits};

    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut dir = rules::bundled();
    for extra in [
        "tests/corpora/sigmahq-cloudtrail-rules",
        "tests/sigma/constructs",
    ] {
        dir.extend(rules::read_dir(&root.join(extra)).unwrap());
    }
    let (set, diags) = RuleSet::compile_dir(&dir, &[], 1_767_225_600);
    let set = set.unwrap_or_else(|| panic!("{diags:?}"));
    assert!(set.rules().len() > 100, "{}", set.rules().len());

    let mut files = Vec::new();
    fn walk(d: &Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, out)
            } else if matches!(
                p.extension().and_then(|x| x.to_str()),
                Some("json" | "jsonl" | "ndjson" | "gz")
            ) {
                out.push(p)
            }
        }
    }
    walk(&root.join("tests/corpora"), &mut files);
    walk(&root.join("tests/sigma"), &mut files);
    files.sort();

    let mut events = Vec::new();
    for f in &files {
        let input = std::io::BufReader::new(std::fs::File::open(f).unwrap());
        // Files that are not CloudTrail input (indexes, peers' rule lists) are skipped.
        let _ = decode(input, &Limits::default(), &mut |i| {
            if let Item::Record(e) = i {
                events.push(e)
            }
        });
    }
    for r in set.rules() {
        for t in &r.tests {
            events.extend(t.events.iter().cloned().filter_map(Event::from_value));
        }
    }
    assert!(events.len() > 4000, "{} records", events.len());

    let (mut checked, mut matched) = (0usize, 0usize);
    for e in &events {
        let offered = set.candidates(e);
        for (i, rule) in set.rules().iter().enumerate() {
            let t = rule_trace(rule, e, offered.contains(&i));
            assert_eq!(t.matches, rule.matches(e), "{}: {}", rule.id, e.value());
            assert_eq!(
                t.verdict == "suppressed",
                t.matches && rule.suppressed_by(e).is_some()
            );
            if !t.offered {
                assert!(!t.matches, "the index skipped {} on a match", rule.id);
            }
            if t.matches {
                matched += 1;
            } else {
                assert!(
                    t.reason.is_some(),
                    "{}: no reason on {}",
                    rule.id,
                    e.value()
                );
            }
            // Each node on its own too, where the rule is offered (elsewhere the records
            // are mostly of the wrong eventName, which the top-level check covers).
            if t.offered {
                let mut all = Vec::new();
                nodes(&rule.cond, &mut all);
                for c in all {
                    assert_eq!(trace(c, e).holds, c.matches(e), "{}: {c:?}", rule.id);
                }
            }
            for s in &rule.suppressions {
                assert_eq!(trace(&s.cond, e).holds, s.cond.matches(e));
            }
            checked += 1;
        }
        // The record view holds exactly the candidates, matches first.
        let r = record_trace(&set, e, 1, None, None);
        assert_eq!(r.rules.len(), offered.len());
        assert!(r.rules.windows(2).all(|w| w[0].matches || !w[1].matches));
    }
    eprintln!(
        "{} events {matched} matches in {checked} checks",
        events.len()
    );
    assert!(matched > 500, "{matched} matches in {checked} checks");
}

/// The samples in rules/README.md's `explain` section are what `explain` prints: each
/// ```` ```sh ```` command followed by a ```` ```text ```` block is run (the section's
/// ```` ```json ```` record saved as the file the commands name) and compared.
#[test]
fn readme_explain_samples_show_the_real_output() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("rules/README.md")).unwrap();
    let start = readme
        .find("## `explain`: why a rule did or did not fire")
        .expect("the explain section");
    let end = readme[start + 3..]
        .find("\n## ")
        .map_or(readme.len(), |e| start + 3 + e);
    let section = &readme[start..end];
    // (fence info, text) of every fenced block, in order.
    let mut blocks: Vec<(&str, String)> = Vec::new();
    let mut lines = section.lines();
    while let Some(line) = lines.next() {
        if let Some(info) = line.strip_prefix("```") {
            let mut text = String::new();
            for l in lines.by_ref() {
                if l == "```" {
                    break;
                }
                text.push_str(l);
                text.push('\n');
            }
            blocks.push((info, text));
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let record = &blocks.iter().find(|(info, _)| *info == "json").unwrap().1;
    let file = write(dir.path(), "assume-role.json", record.as_bytes());
    let mut compared = 0;
    for pair in blocks.windows(2) {
        let [(first, cmd), (second, shown)] = pair else {
            continue;
        };
        if (*first, *second) != ("sh", "text") {
            continue;
        }
        let args: Vec<&str> = cmd
            .split_whitespace()
            .skip(1)
            .map(|a| if a == "assume-role.json" { &file } else { a })
            .collect();
        let run = trailwatch(&args, None);
        assert_eq!(run.code, 0, "{cmd}{}", run.stderr);
        assert_eq!(
            &run.stdout,
            shown,
            "rules/README.md: the output shown for `{}` differs from what it prints",
            cmd.trim()
        );
        compared += 1;
    }
    assert_eq!(compared, 3, "samples compared");
}
